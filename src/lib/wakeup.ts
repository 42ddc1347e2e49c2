/**
 * A sleep that a wake-up cuts short. A wake-up that comes while nobody sleeps is kept for the next
 * sleep, so one that arrives between looking for work and going to sleep is not lost.
 */
export class Wakeup {
  #woken = false;
  #wakeup: (() => void) | undefined;

  wake(): void {
    this.#woken = true;
    this.#wakeup?.();
  }

  /** Resolves when woken, or after `ms` (not finite: only when woken). */
  async sleep(ms: number): Promise<void> {
    if (this.#woken) {
      this.#woken = false;
      return;
    }
    await new Promise<void>((resolve) => {
      const timer = Number.isFinite(ms) ? setTimeout(resolve, ms) : undefined;
      this.#wakeup = () => {
        clearTimeout(timer);
        resolve();
      };
    });
    this.#wakeup = undefined;
    this.#woken = false;
  }
}
