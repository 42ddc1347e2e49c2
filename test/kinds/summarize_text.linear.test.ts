/**
 * `summarize_text` is linear in its input: a 1 MiB text of every adversarial shape we could think of
 * (runs of terminators, closing marks, whitespace, abbreviations, initials, list items, long words,
 * no terminators, unicode) is summarised, and the output on small generated texts is identical to the
 * implementation it replaced (kept below as the reference, which is quadratic but fine on small input).
 */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { Worker } from 'node:worker_threads';
import fc from 'fast-check';
import { splitSentences, summarize } from '../../src/kinds/summarize_text.ts';

const MIB = 1 << 20;
/** A hang guard only: each shape takes well under a second; 7a89850 took over an hour on some. */
const HANG_GUARD_MS = 20_000;
const fill = (unit: string, tail = '') => unit.repeat(Math.floor((MIB - tail.length) / unit.length)) + tail;

/** Each shape is 1 MiB (give or take a unit); the first four took over an hour each on 7a89850. */
const SHAPES: Record<string, () => string> = {
  'a run of full stops not followed by a space': () => fill('.', 'a'),
  'a run of ! and ? not followed by a space': () => fill('!?', 'a'),
  'a run of ellipses not followed by a space': () => fill('…', 'a'),
  'full stops then closing quotes not followed by a space': () => '.'.repeat(MIB / 2) + '"'.repeat(MIB / 2 - 1) + 'a',
  'full stops and closing marks alternating': () => fill('."', 'a'),
  'terminators each followed by a space': () => fill('. '),
  'one sentence per terminator': () => fill('Queue workers run. '),
  'whitespace only, then a word': () => fill(' ', 'a'),
  'newlines only, then a word': () => fill('\n', 'a'),
  'one newline, then spaces': () => '\n' + ' '.repeat(MIB - 2) + 'x',
  'newlines with spaces and tabs': () => fill('\n \t ', 'x'),
  'newlines then digits (almost list items)': () => fill('\n 1234'),
  'list items': () => fill('\n- a'),
  'numbered list items': () => fill('\n1. a'),
  'titles': () => fill('Mr. '),
  'abbreviations with inner stops': () => fill('e.g. '),
  'initials': () => fill('J. '),
  'one long run of initials': () => fill('a.b.', ' x. Y'),
  'abbreviations before numbers': () => fill('No. 5 '),
  'maybe-ending abbreviations': () => fill('etc. and '),
  'opening quotes before a title': () => '"'.repeat(MIB - 10) + 'Mr. x y',
  'one long word': () => fill('a'),
  'one long word then a stop': () => fill('a', '. B'),
  'stops inside one long word': () => fill('a.b'),
  'no terminators at all': () => fill('queue worker '),
  'apostrophes inside a word': () => fill("a'"),
  'accented letters': () => fill('é'),
  'letters that grow when lower-cased': () => fill('İ. '),
  'astral characters': () => fill('😀. '),
  'unicode whitespace after stops': () => fill('.\u00a0\u2028'),
  'closing brackets after stops': () => fill('.) '),
};

/**
 * Summarises in a worker thread, because a synchronous hang would block the test runner's own timeout;
 * a worker that has not answered within `HANG_GUARD_MS` is terminated (the next call starts another).
 */
let worker: Worker | undefined;
async function summarizeOffThread(text: string, max: number): Promise<{ characters: number; sentences: number }> {
  // Node 20 workers do not inherit tsx's loader: the worker registers it, then imports the TypeScript file.
  const api = JSON.stringify(import.meta.resolve('tsx/esm/api'));
  const file = JSON.stringify(new URL('./summarize_text.worker.ts', import.meta.url).href);
  const w = (worker ??= new Worker(`import(${api}).then(({ tsImport }) => tsImport(${file}, 'file:///'))`, { eval: true }));
  let timer: NodeJS.Timeout | undefined;
  let onMessage: ((r: { characters: number; sentences: number }) => void) | undefined;
  let onError: ((e: Error) => void) | undefined;
  try {
    return await new Promise((resolve, reject) => {
      w.once('message', (onMessage = resolve)).once('error', (onError = reject));
      timer = setTimeout(
        () => reject(new Error(`still running after ${HANG_GUARD_MS} ms (7a89850 took over an hour on such input)`)),
        HANG_GUARD_MS,
      );
      w.postMessage({ text, max });
    });
  } catch (e) {
    worker = undefined;
    await w.terminate();
    throw e;
  } finally {
    clearTimeout(timer);
    if (onMessage) w.off('message', onMessage);
    if (onError) w.off('error', onError);
  }
}
after(() => worker?.terminate());

describe('summarize_text on 1 MiB adversarial texts', () => {
  for (const [shape, make] of Object.entries(SHAPES)) {
    it(shape, { timeout: HANG_GUARD_MS * 2 }, async () => {
      const text = make();
      assert.ok(text.length > MIB - 16, `${text.length} characters`);
      const result = await summarizeOffThread(text, 50);
      assert.equal(result.characters, text.length);
      assert.ok(result.sentences >= 0 && result.sentences <= 50);
    });
  }
});

// ---- the reference: splitSentences as of 7a89850, verbatim apart from names

const NEVER_END = new Set(
  `mr mrs ms mx dr prof sr jr st mt rev hon gen col capt lt sgt gov pres vs e.g i.e cf viz approx ca al dept est
  jan feb mar apr jun jul aug sep sept oct nov dec`.split(/\s+/),
);
const MAYBE_END = new Set(['etc', 'inc', 'ltd', 'co', 'corp', 'llc', 'a.m', 'p.m', 'u.s', 'u.k', 'ph.d']);
const BEFORE_NUMBER = new Set(['no', 'nos', 'fig', 'figs', 'vol', 'p', 'pp', 'ch', 'sec', 'art', 'op', 'nr']);
const BLOCK_SPLIT = /\n[ \t]*(?:\n\s*)+|\n(?=[ \t]*(?:[-*•‣▪]|\d{1,3}[.)])[ \t])/;
const BULLET = /^(?:[-*•‣▪]|\d{1,3}[.)])\s+/;
const TERMINATOR = /[.!?…]+["'”’»)\]]*(?=\s|$)/gu;
const NON_SPACE = /\S/g;
const UPPER = /^\p{Lu}$/u;
const LOWER = /^\p{Ll}$/u;

function referenceIsBoundary(block: string, start: number, end: number): boolean {
  NON_SPACE.lastIndex = end;
  const next = NON_SPACE.exec(block);
  if (!next) return true;
  const c = next[0];
  const punct = block.slice(start, end).replace(/["'”’»)\]]+$/, '');
  if (/[!?]/.test(punct)) return !LOWER.test(c);
  if (punct.length > 1 || punct === '…') return UPPER.test(c);
  let wordStart = start;
  while (wordStart > 0 && !/\s/.test(block[wordStart - 1] ?? ' ')) wordStart--;
  const word = block.slice(wordStart, start).replace(/^["'“‘«(\[]+/, '');
  const lw = word.toLowerCase();
  if (NEVER_END.has(lw) || UPPER.test(word)) return false;
  if (BEFORE_NUMBER.has(lw) && /\d/.test(c)) return false;
  if (MAYBE_END.has(lw) || /^(?:\p{L}\.)+\p{L}$/u.test(word)) return UPPER.test(c);
  return !LOWER.test(c);
}

function referenceSplit(text: string): string[] {
  const out: string[] = [];
  const push = (s: string) => {
    const clean = s.replace(/\s+/g, ' ').trim();
    if (/[\p{L}\p{N}]/u.test(clean)) out.push(clean);
  };
  for (const rawBlock of text.split(BLOCK_SPLIT)) {
    const block = rawBlock.trim().replace(BULLET, '');
    let from = 0;
    TERMINATOR.lastIndex = 0;
    for (let m = TERMINATOR.exec(block); m; m = TERMINATOR.exec(block)) {
      const end = m.index + m[0].length;
      if (referenceIsBoundary(block, m.index, end)) {
        push(block.slice(from, end));
        from = end;
      }
    }
    push(block.slice(from));
  }
  return out;
}

/** Texts built from the pieces the splitter cares about, so that boundaries are dense. */
const PIECES = [
  '.', '.', '!', '?', '…', '"', '”', '’', "'", ')', ']', '«', '(', ' ', ' ', ' ', '\n', '\n', '\t', '\u00a0',
  'a', 'b', 'The', 'queue', 'Worker', 'Mr', 'e.g', 'etc', 'No', 'p', 'J', 'U.S', '5', '12', '- ', '* ', '1. ',
  '2) ', 'é', 'İ', 'Ünder', '😀', 'don’t', "it's",
];
const textArb = fc.array(fc.constantFrom(...PIECES), { maxLength: 60 }).map((parts) => parts.join(''));

describe('summarize_text matches the implementation it replaced', () => {
  it('splits generated texts into the same sentences', () => {
    fc.assert(
      fc.property(textArb, (text) => {
        assert.deepEqual(splitSentences(text), referenceSplit(text));
      }),
      { numRuns: 5000 },
    );
  });

  it('splits generated texts of arbitrary characters into the same sentences', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'grapheme', maxLength: 80 }), (text) => {
        assert.deepEqual(splitSentences(text), referenceSplit(text));
      }),
      { numRuns: 2000 },
    );
  });
});
