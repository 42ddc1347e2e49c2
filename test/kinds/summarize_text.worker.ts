/** Runs `summarize` off the test's thread, so that a hang can be cut short (see summarize_text.linear.test.ts). */
import { parentPort } from 'node:worker_threads';
import { summarize } from '../../src/kinds/summarize_text.ts';

parentPort?.on('message', ({ text, max }: { text: string; max: number }) => {
  const result = summarize(text, max);
  parentPort?.postMessage({ characters: result.stats.characters, sentences: result.sentences.length });
});
