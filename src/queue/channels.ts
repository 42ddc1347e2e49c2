/** NOTIFY channels. The payload of `JOBS_CHANNEL` is the queue name; of `CANCEL_CHANNEL` the job id. */
export const JOBS_CHANNEL = 'jobq_jobs';
export const CANCEL_CHANNEL = 'jobq_cancel';
