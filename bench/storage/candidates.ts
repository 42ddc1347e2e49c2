/**
 * Every storage candidate of the study, by name (the bench's `jobq-<name>` systems and `npm run bench:storage`).
 * `graphile` is graphile-worker's own storage, the peer baseline: pgbench only (no jobq Queue).
 */
import type { StorageCandidate } from './candidate.ts';
import { candidate as graphile } from './graphile/index.ts';
import { candidate as lease } from './lease/index.ts';
import { candidate as log } from './log/index.ts';
import { candidate as ring } from './ring/index.ts';
import { candidate as split } from './split/index.ts';
import { candidate as today } from './today/index.ts';

export const CANDIDATES: Record<string, StorageCandidate> = { today, graphile, split, lease, log, ring };
