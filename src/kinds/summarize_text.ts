/**
 * `summarize_text`: an extractive summary. The text is split into sentences, each word that is not
 * a stop word is scored by its frequency in the whole text divided by the highest such frequency,
 * a sentence scores the sum of its words' scores divided by the square root of its word count (so
 * neither long nor one-word sentences win by length alone), and the top N sentences are returned in
 * their original order. `summarize` is pure; the handler only wraps it. Every step is linear in the
 * text's length, whatever its shape (a regex here must not rescan what an earlier attempt scanned).
 */
import { type Static, Type } from '@sinclair/typebox';
import type { HandlerContext, KindDefinition } from './registry.ts';

export const SummarizeTextPayload = Type.Object(
  {
    text: Type.String({ minLength: 1, maxLength: 1_000_000, description: 'The text to summarise.' }),
    max_sentences: Type.Optional(
      Type.Integer({ minimum: 1, maximum: 50, description: 'How many sentences to keep. Default 3.' }),
    ),
  },
  { additionalProperties: false },
);
export type SummarizeTextPayload = Static<typeof SummarizeTextPayload>;

export interface SummaryResult {
  summary: string;
  sentences: string[];
  stats: { characters: number; words: number; sentences: number; summary_sentences: number };
}

export const DEFAULT_MAX_SENTENCES = 3;

const STOP_WORDS = new Set(
  `a about above after again against all also am an and any are aren't as at be because been before being below
  between both but by can can't cannot could couldn't did didn't do does doesn't doing don't down during each few
  for from further had hadn't has hasn't have haven't having he he'd he'll he's her here here's hers herself him
  himself his how how's i i'd i'll i'm i've if in into is isn't it it's its itself just let's me more most mustn't
  my myself no nor not now of off on once only or other ought our ours ourselves out over own same shan't she
  she'd she'll she's should shouldn't so some such than that that's the their theirs them themselves then there
  there's these they they'd they'll they're they've this those through to too under until up upon us very was
  wasn't we we'd we'll we're we've were weren't what what's when when's where where's which while who who's whom
  why why's will with won't would wouldn't yet you you'd you'll you're you've your yours yourself yourselves`
    .split(/\s+/)
    .filter(Boolean),
);

/** Abbreviations after which a full stop never ends a sentence. */
const NEVER_END = new Set(
  `mr mrs ms mx dr prof sr jr st mt rev hon gen col capt lt sgt gov pres vs e.g i.e cf viz approx ca al dept est
  jan feb mar apr jun jul aug sep sept oct nov dec`.split(/\s+/),
);
/** Abbreviations that may also end a sentence: a boundary only when a capitalised word follows. */
const MAYBE_END = new Set(['etc', 'inc', 'ltd', 'co', 'corp', 'llc', 'a.m', 'p.m', 'u.s', 'u.k', 'ph.d']);
/** Abbreviations used before a number ("No. 5", "p. 12"): not a boundary when a digit follows. */
const BEFORE_NUMBER = new Set(['no', 'nos', 'fig', 'figs', 'vol', 'p', 'pp', 'ch', 'sec', 'art', 'op', 'nr']);

const BLOCK_SPLIT = /\n[ \t]*(?:\n\s*)+|\n(?=[ \t]*(?:[-*•‣▪]|\d{1,3}[.)])[ \t])/;
const BULLET = /^(?:[-*•‣▪]|\d{1,3}[.)])\s+/;
/**
 * A run of terminators and closing marks followed by whitespace or the end. The lookbehind lets a
 * match start only where a run starts: without it, each position inside a long run that is not
 * followed by whitespace (`'.'.repeat(n) + 'a'`) rescanned the rest of the run, which was quadratic.
 * No match was ever lost by it, since every position of a run ends where the run ends.
 */
const TERMINATOR = /(?<![.!?…])[.!?…]+["'”’»)\]]*(?=\s|$)/gu;
const NON_SPACE = /\S/g;
const WORD = /[\p{L}\p{N}]+(?:['’][\p{L}\p{N}]+)*/gu;
const UPPER = /^\p{Lu}$/u;
const LOWER = /^\p{Ll}$/u;

function isBoundary(block: string, start: number, end: number): boolean {
  NON_SPACE.lastIndex = end;
  const next = NON_SPACE.exec(block);
  if (!next) return true;
  const c = next[0];
  const punct = block.slice(start, end).replace(/["'”’»)\]]+$/, '');
  if (/[!?]/.test(punct)) return !LOWER.test(c);
  if (punct.length > 1 || punct === '…') return UPPER.test(c); // an ellipsis ends a sentence before a capital
  let wordStart = start;
  while (wordStart > 0 && !/\s/.test(block[wordStart - 1] ?? ' ')) wordStart--;
  const word = block.slice(wordStart, start).replace(/^["'“‘«(\[]+/, '');
  const lw = word.toLowerCase();
  if (NEVER_END.has(lw) || UPPER.test(word)) return false; // a title, or an initial such as "J."
  if (BEFORE_NUMBER.has(lw) && /\d/.test(c)) return false;
  if (MAYBE_END.has(lw) || /^(?:\p{L}\.)+\p{L}$/u.test(word)) return UPPER.test(c);
  return !LOWER.test(c);
}

/** Splits text into sentences, with whitespace collapsed. Blank lines and list items always split. */
export function splitSentences(text: string): string[] {
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
      if (isBoundary(block, m.index, end)) {
        push(block.slice(from, end));
        from = end;
      }
    }
    push(block.slice(from));
  }
  return out;
}

function words(s: string): string[] {
  return (s.toLowerCase().match(WORD) ?? []).map((w) => w.replace(/’/g, "'"));
}

const isContent = (w: string) => w.length > 1 && !STOP_WORDS.has(w);

/** The `max_sentences` highest-scoring sentences of `text`, in their original order. */
export function summarize(text: string, maxSentences: number = DEFAULT_MAX_SENTENCES): SummaryResult {
  const sentences = splitSentences(text);
  const tokens = sentences.map((s) => words(s));
  const freq = new Map<string, number>();
  let maxFreq = 0;
  for (const list of tokens) {
    for (const w of list) {
      if (!isContent(w)) continue;
      const n = (freq.get(w) ?? 0) + 1;
      freq.set(w, n);
      if (n > maxFreq) maxFreq = n;
    }
  }
  const scored = tokens.map((list, index) => {
    const content = list.filter(isContent);
    const total = content.reduce((sum, w) => sum + (freq.get(w) ?? 0) / maxFreq, 0);
    return { index, score: content.length ? total / Math.sqrt(content.length) : 0 };
  });
  const keep = Math.max(1, Math.floor(maxSentences));
  const chosen = scored
    .sort((a, b) => b.score - a.score || a.index - b.index)
    .slice(0, keep)
    .map((s) => s.index)
    .sort((a, b) => a - b)
    .map((i) => sentences[i] as string);
  return {
    summary: chosen.join(' '),
    sentences: chosen,
    stats: {
      characters: text.length,
      words: tokens.reduce((n, list) => n + list.length, 0),
      sentences: sentences.length,
      summary_sentences: chosen.length,
    },
  };
}

async function summarizeHandler(payload: SummarizeTextPayload, ctx: HandlerContext): Promise<SummaryResult> {
  if (ctx.signal.aborted) throw ctx.signal.reason;
  const result = summarize(payload.text, payload.max_sentences ?? DEFAULT_MAX_SENTENCES);
  if (ctx.signal.aborted) throw ctx.signal.reason;
  return result;
}

export const summarizeTextKind: KindDefinition<typeof SummarizeTextPayload> = {
  name: 'summarize_text',
  description: 'Extractive summary: the highest-scoring sentences of a text by word frequency, in original order.',
  payloadSchema: SummarizeTextPayload,
  defaultMaxAttempts: 3,
  timeoutMs: 30_000,
  handler: summarizeHandler,
};
