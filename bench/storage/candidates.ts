/** Every storage candidate of the study, by name (the bench's `jobq-<name>` systems and `npm run bench:storage`). */
import type { StorageCandidate } from './candidate.ts';
import { candidate as today } from './today/index.ts';

export const CANDIDATES: Record<string, StorageCandidate> = { today };
