/** The word-level LM evaluation (recipes/eval_word_lm.ts): tokenization, and a tiny run end to end. */
import test from 'ava';
import { selectBackend } from '../../adapters/backend/select_backend.ts';
import { formatWordLm, loadWords, main, words } from '../../recipes/eval_word_lm.ts';

test.before(async () => {
  process.env.TFJS_SAM_QUANTEASE_BACKEND = 'wasm';
  await selectBackend({ prefer: 'wasm', quiet: true });
});

test.serial('words: letters and apostrophes make a word, each punctuation mark is its own token', (t) => {
  t.deepEqual(words("call me ishmael. some years ago-never mind how long;"), ['call', 'me', 'ishmael', '.', 'some', 'years', 'ago', '-', 'never', 'mind', 'how', 'long', ';']);
  const { ids, vocabulary } = loadWords(9, 50);
  t.is(vocabulary.length, 50);
  t.is(vocabulary[0], '<unk>');
  for (const split of ['train', 'validation', 'test'] as const) t.true(ids[split].every((i) => i >= 0 && i < 50));
  t.true(ids.test.some((i) => i === 0)); // rare words map to <unk>
});

test.serial('eval_word_lm --quick: every layer quantized, smaller file, perplexity close to float, Embedding identical across methods', async (t) => {
  const rows = await main(['--quick']);
  t.deepEqual(rows.map((r) => r.method), ['float32', 'rtn', 'quantease']);
  const [f, rtn, qe] = rows;
  for (const r of [rtn, qe]) {
    t.deepEqual(Object.keys(r.layers), ['embedding (Embedding)', 'lstm (LSTM)', 'gru (GRU)', 'output (Dense)']);
    t.true(r.bytes < f.bytes / 2, `${r.method}: ${r.bytes} vs ${f.bytes}`);
    t.true(Number.isFinite(r.perplexity) && Math.abs(r.perplexity / f.perplexity - 1) < 0.1, `${r.method}: ${r.perplexity} vs ${f.perplexity}`);
  }
  // The Embedding's rows are independent (diagonal S): every method rounds them; the default
  // QuantEase rounds on a clipped grid fitted per row, never worse than RTN's min/max grid.
  t.true(qe.layers['embedding (Embedding)'] <= rtn.layers['embedding (Embedding)'] * (1 + 1e-9));
  t.true(formatWordLm(rows).includes('| quantease |'));
});
