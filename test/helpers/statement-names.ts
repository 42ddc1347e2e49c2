/**
 * The jobq statement a query config is, by its name or, when it was sent unnamed (behind PgBouncer:
 * src/queue/pooling.ts), by its text: tests that watch which statements run work in both passes.
 */
import { readdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const byText = new Map<string, string>();
// The row store's statements, and the log store's (its statements and its sweep's).
const files = [
  ...readdirSync(path.join(here, '../../src/queue/statements')).filter((f) => f.endsWith('.ts')).map((f) => path.join(here, '../../src/queue/statements', f)),
  ...['statements.ts', 'sweep.ts', 'reads.ts', 'retention.ts'].map((f) => path.join(here, '../../src/queue/log', f)),
];
for (const file of files) {
  const mod = (await import(file)) as Record<string, unknown>;
  for (const v of Object.values(mod)) {
    const s = v as { name?: unknown; text?: unknown };
    if (typeof v === 'function' && typeof s.text === 'string' && typeof s.name === 'string') byText.set(s.text, s.name);
  }
}

/** `jobq_<name>` of the statement `config` runs, or undefined (not a jobq statement, or a plain string). */
export function statementName(config: unknown): string | undefined {
  if (typeof config !== 'object' || config === null) return undefined;
  const c = config as { name?: string; text?: string };
  return c.name ?? (c.text === undefined ? undefined : byText.get(c.text));
}

/** The `$n` text of every statement of src/queue/statements/ and of the log store's. */
export function statementTexts(): string[] {
  return [...byText.keys()];
}
