// `node --import ./trace.mjs app.mjs`: every module the app resolves (packages, node: modules, files) is
// appended to the file named by JOBQ_TRACE_FILE. What this file imports itself comes before, untraced.
import { register } from 'node:module';

register('./trace-hooks.mjs', import.meta.url, { data: { file: process.env.JOBQ_TRACE_FILE } });
