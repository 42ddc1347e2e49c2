/** What a Worker reports on `Worker.events`: metrics and tests listen. */
import type { ClaimedJob } from '../queue/types.ts';

export type FinishOutcome = 'succeeded' | 'retried' | 'failed_permanent' | 'cancelled' | 'timed_out' | 'released' | 'lost';

export interface WorkerEvents {
  /** waitMs: from the moment the job became runnable (run_at) to its start. */
  'job:start': [{ job: ClaimedJob; waitMs: number }];
  'job:finish': [{ job: ClaimedJob; outcome: FinishOutcome; durationMs: number }];
  claim: [{ requested: number; claimed: number }];
  /** A claim of a queue with a policy left `jobs` runnable jobs waiting because of it (at most the room it had). */
  throttled: [{ queue: string; reason: 'paused' | 'concurrency' | 'rate' | 'group'; jobs: number }];
  recovered: [{ count: number }];
  'listener:reconnect': [];
}
