/**
 * Bounded label values for names that callers choose (issue #14, item 6).
 *
 * A queue's name is whatever the enqueuing caller sends, and every distinct label value is a series
 * that prom-client keeps for the life of the process: 100,000 invented queue names would make
 * 100,000 series per metric, and memory that never shrinks. So a metric labelled by queue uses at most
 * `known.size + max + 1` values:
 * - the known queues (configured: `--metrics-queues`, the worker's `--queues`, and `default`) always
 *   keep their own label;
 * - the first `max` other names seen (`--metrics-max-queues`) get their own label too, for the life
 *   of the process;
 * - every later one is counted under OTHER_LABEL, which no queue can be named (queue names are
 *   letters, digits and `_ . : -`), so it never mixes with a real queue's series.
 */
export const OTHER_LABEL = '(other)';
export const DEFAULT_MAX_LABELS = 100;

export class BoundedLabels {
  readonly #known: Set<string>;
  readonly #seen = new Set<string>();
  readonly #max: number;

  constructor(known: Iterable<string> = [], max = DEFAULT_MAX_LABELS) {
    this.#known = new Set(known);
    this.#max = max;
  }

  /** The label value for `name`: the name itself while there is room for it, else OTHER_LABEL. */
  of(name: string): string {
    if (this.#known.has(name) || this.#seen.has(name)) return name;
    if (this.#seen.size >= this.#max) return OTHER_LABEL;
    this.#seen.add(name);
    return name;
  }
}
