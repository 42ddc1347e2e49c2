/**
 * Tests of the `summarize_text` kind: sentence splitting (abbreviations, ellipses, newlines),
 * selection of the highest-scoring sentences in original order, stats, validation and the handler.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { builtinKinds } from '../../src/kinds/index.ts';
import { KindRegistry } from '../../src/kinds/registry.ts';
import { splitSentences, summarize, summarizeTextKind } from '../../src/kinds/summarize_text.ts';
import { isJobqError } from '../../src/errors.ts';
import { fakeCtx } from '../helpers/fixtures.ts';

const TEXT = [
  'The weather was mild on Tuesday.', // 0: off topic
  'Queues let workers process jobs in the background.', // 1
  'A good queue retries failed jobs with backoff, so workers never lose jobs.', // 2
  'Lunch was served at noon.', // 3: off topic
  'Workers lock jobs in the queue with SKIP LOCKED, so two workers never run the same jobs.', // 4
  'Nobody remembered the umbrella.', // 5: off topic
].join(' ');

describe('splitSentences', () => {
  it('splits on . ! and ? but not after abbreviations, initials or inside numbers', () => {
    assert.deepEqual(
      splitSentences('Dr. Smith paid $3.50 for tea, e.g. green tea! Was it good? Mr. J. R. Jones thinks so. See No. 5.'),
      ['Dr. Smith paid $3.50 for tea, e.g. green tea!', 'Was it good?', 'Mr. J. R. Jones thinks so.', 'See No. 5.'],
    );
  });

  it('treats an ellipsis as a boundary only before a capital letter', () => {
    assert.deepEqual(splitSentences('Wait… and then nothing... Then it rained. Well... fine.'), [
      'Wait… and then nothing...',
      'Then it rained.',
      'Well... fine.',
    ]);
  });

  it('lets "etc." end a sentence only before a capitalised word', () => {
    assert.deepEqual(splitSentences('We sold apples, pears, etc. and more. We also sold plums etc. The end.'), [
      'We sold apples, pears, etc. and more.',
      'We also sold plums etc.',
      'The end.',
    ]);
  });

  it('splits at blank lines and list items, joins hard-wrapped lines, keeps closing quotes', () => {
    const text = 'A heading without a stop\n\nThis line is\nwrapped by hand. "Quoted one." Next\n- first item\n- second item';
    assert.deepEqual(splitSentences(text), [
      'A heading without a stop',
      'This line is wrapped by hand.',
      '"Quoted one."',
      'Next',
      'first item',
      'second item',
    ]);
  });

  it('ignores pieces with no words', () => {
    assert.deepEqual(splitSentences('...   !!! \n\n Hello there.'), ['Hello there.']);
  });
});

describe('summarize', () => {
  it('picks the highest-scoring sentences and returns them in original order', () => {
    const result = summarize(TEXT, 3);
    const sentences = splitSentences(TEXT);
    assert.deepEqual(result.sentences, [sentences[1], sentences[2], sentences[4]]);
    assert.equal(result.summary, [sentences[1], sentences[2], sentences[4]].join(' '));
  });

  it('respects max_sentences', () => {
    const two = summarize(TEXT, 2);
    assert.equal(two.sentences.length, 2);
    assert.deepEqual(two.sentences, [splitSentences(TEXT)[2], splitSentences(TEXT)[4]]);
    assert.equal(summarize(TEXT, 1).sentences.length, 1);
    assert.equal(summarize(TEXT, 50).sentences.length, 6);
  });

  it('returns short text whole', () => {
    const result = summarize('Just one sentence here.', 3);
    assert.deepEqual(result.sentences, ['Just one sentence here.']);
    assert.equal(result.summary, 'Just one sentence here.');
    assert.deepEqual(result.stats, { characters: 23, words: 4, sentences: 1, summary_sentences: 1 });
    assert.deepEqual(summarize('ok', 3).sentences, ['ok']);
  });

  it('does not split at abbreviations when scoring', () => {
    const text =
      'Dr. Smith studies queues. Prof. Jones studies queues too, e.g. job queues. The cafeteria sells soup. Queues matter.';
    const result = summarize(text, 2);
    assert.equal(result.stats.sentences, 4);
    assert.deepEqual(result.sentences, ['Dr. Smith studies queues.', 'Prof. Jones studies queues too, e.g. job queues.']);
  });

  it('reports stats', () => {
    const result = summarize(TEXT, 3);
    assert.equal(result.stats.characters, TEXT.length);
    assert.equal(result.stats.sentences, 6);
    assert.equal(result.stats.summary_sentences, 3);
    assert.equal(result.stats.words, TEXT.split(/\s+/).length);
  });

  it('handles text without any content words', () => {
    const result = summarize('It is. Was it? It was.', 2);
    assert.deepEqual(result.sentences, ['It is.', 'Was it?']);
  });
});

describe('summarize_text kind', () => {
  const registry = new KindRegistry(builtinKinds({ outboxDir: '/nonexistent', httpAllowHosts: [] }));

  it('validates its payload', () => {
    registry.validate('summarize_text', { text: 'x' });
    registry.validate('summarize_text', { text: 'x', max_sentences: 50 });
    const cases: [unknown, string][] = [
      [{}, '/payload/text'],
      [{ text: '' }, '/payload/text'],
      [{ text: 'x'.repeat(1_000_001) }, '/payload/text'],
      [{ text: 'x', max_sentences: 0 }, '/payload/max_sentences'],
      [{ text: 'x', max_sentences: 51 }, '/payload/max_sentences'],
      [{ text: 'x', max_sentences: 2.5 }, '/payload/max_sentences'],
      [{ text: 'x', extra: 1 }, '/payload/extra'],
    ];
    for (const [payload, path] of cases) {
      assert.throws(
        () => registry.validate('summarize_text', payload),
        (e) => isJobqError(e, 'payload_invalid') && e.details?.some((d) => d.path === path) === true,
        path,
      );
    }
  });

  it('runs the summary with a default of 3 sentences', async () => {
    const result = await summarizeTextKind.handler({ text: TEXT }, fakeCtx());
    assert.deepEqual(result, summarize(TEXT, 3));
  });

  it('rejects with the abort reason when aborted', async () => {
    const controller = new AbortController();
    controller.abort('cancelled');
    await assert.rejects(async () => summarizeTextKind.handler({ text: TEXT }, fakeCtx({ controller })), (e) => e === 'cancelled');
  });
});
