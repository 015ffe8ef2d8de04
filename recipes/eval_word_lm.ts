/**
 * Evaluation: a word-level language model on Moby-Dick, quantized whole at 4 bits.
 *
 *   1. Words of the book (recipes/lib/data/moby_dick.ts, split by chapter): runs of letters and
 *      apostrophes, and each punctuation mark, as tokens; the `vocab - 1` most frequent training
 *      words keep their id, every other word is <unk> (id 0).
 *   2. Train Embedding(vocab, embed) -> LSTM(lstm) -> GRU(gru) -> Dense(vocab, softmax) briefly
 *      with Adam on next-word windows.
 *   3. Quantize every layer (Embedding, LSTM, GRU, Dense) with RTN, GPTQ and QuantEase, calibrated
 *      on training windows: packed size against float32 and test perplexity against float's, and
 *      each layer kind's relative error per method.
 *
 * Run: npx tsx recipes/eval_word_lm.ts [--quick] [--seed 0] [--epochs 2]
 */
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { selectBackend } from 'tfjs-sam-quantease/backend';
import { quantizeModel } from 'tfjs-sam-quantease/quantize';
import type { QuantMethod } from 'tfjs-sam-quantease/quantease';
import { parseArgs, isMain, runMain } from './lib/args.ts';
import { perplexity, type Windows } from './lib/char_lm.ts';
import { CHAPTERS, readChapter, splitOfChapter, mobyDickDir, type Split } from './lib/data/moby_dick.ts';
import { Rng } from './lib/rng.ts';

export interface WordLmConfig {
  /** Chapters read from chapter 1 (>= 9 so every split has one). */
  chapters: number;
  /** Vocabulary size, <unk> included (the model: 5000). */
  vocab: number;
  embed: number;
  lstm: number;
  gru: number;
  /** Words of context per window. */
  context: number;
  /** Training windows drawn afresh each epoch. */
  trainWindows: number;
  epochs: number;
  batchSize: number;
  learningRate: number;
  calibrationWindows: number;
  testWindows: number;
  bits: number;
  methods: QuantMethod[];
}

export const FULL: WordLmConfig = {
  chapters: CHAPTERS, vocab: 5000, embed: 64, lstm: 128, gru: 64, context: 12, trainWindows: 16384, epochs: 2,
  batchSize: 128, learningRate: 3e-3, calibrationWindows: 512, testWindows: 4096, bits: 4, methods: ['rtn', 'gptq', 'quantease'],
};
export const QUICK: WordLmConfig = {
  chapters: 9, vocab: 200, embed: 8, lstm: 12, gru: 8, context: 6, trainWindows: 256, epochs: 1,
  batchSize: 64, learningRate: 3e-3, calibrationWindows: 64, testWindows: 128, bits: 4, methods: ['rtn', 'quantease'],
};

/** Words and punctuation marks of a normalized chapter. */
export function words(text: string): string[] {
  return text.match(/[a-z']+|[.,;:!?"-]/g) ?? [];
}

/** Token ids of every split, with the vocabulary of the training split's most frequent words. */
export function loadWords(chapters: number, vocab: number): { ids: Record<Split, Int32Array>; vocabulary: string[] } {
  const dir = mobyDickDir();
  const parts: Record<Split, string[]> = { train: [], validation: [], test: [] };
  for (let n = 1; n <= chapters; n++) parts[splitOfChapter(n)].push(...words(readChapter(n, dir)));
  const counts = new Map<string, number>();
  for (const w of parts.train) counts.set(w, (counts.get(w) ?? 0) + 1);
  const vocabulary = ['<unk>', ...[...counts].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1)).slice(0, vocab - 1).map(([w]) => w)];
  const index = new Map(vocabulary.map((w, i) => [w, i]));
  const toIds = (ws: string[]) => Int32Array.from(ws, (w) => index.get(w) ?? 0);
  return { ids: { train: toIds(parts.train), validation: toIds(parts.validation), test: toIds(parts.test) }, vocabulary };
}

/** Windows ending at `positions`: x = ids[p-T..p-1] [n, T], y = ids[p] [n, 1]. */
function windowsAt(ids: Int32Array, context: number, positions: ArrayLike<number>): Windows {
  const n = positions.length;
  const x = new Int32Array(n * context);
  const y = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const p = positions[i];
    x.set(ids.subarray(p - context, p), i * context);
    y[i] = ids[p];
  }
  return { x: tf.tensor2d(x, [n, context], 'int32'), y: tf.tensor2d(y, [n, 1]) };
}

function randomWindows(ids: Int32Array, context: number, count: number, rng: Rng): Windows {
  return windowsAt(ids, context, Array.from({ length: count }, () => context + rng.int(ids.length - context)));
}

function spreadWindows(ids: Int32Array, context: number, count: number): Windows {
  const span = ids.length - context;
  const n = Math.min(span, count);
  return windowsAt(ids, context, Array.from({ length: n }, (_, i) => context + Math.floor((i * span) / n)));
}

export function buildWordLm(c: WordLmConfig, seed: number): tfl.Sequential {
  const init = (k: number) => tfl.initializers.glorotUniform({ seed: seed * 100 + k });
  return tfl.sequential({
    layers: [
      tfl.layers.embedding({ inputDim: c.vocab, outputDim: c.embed, inputLength: c.context, embeddingsInitializer: tfl.initializers.randomUniform({ minval: -0.05, maxval: 0.05, seed: seed * 100 }), name: 'embedding' }),
      tfl.layers.lstm({ units: c.lstm, returnSequences: true, kernelInitializer: init(1), recurrentInitializer: init(2), name: 'lstm' }),
      tfl.layers.gru({ units: c.gru, kernelInitializer: init(3), recurrentInitializer: init(4), name: 'gru' }),
      tfl.layers.dense({ units: c.vocab, activation: 'softmax', kernelInitializer: init(5), name: 'output' }),
    ],
  });
}

export interface WordLmRow {
  method: QuantMethod | 'float32';
  perplexity: number;
  bytes: number;
  /** float32 bytes / bytes */
  ratio: number;
  /** Relative error per layer (name -> tr(D S D^T) / tr(W S W^T)). */
  layers: Record<string, number>;
}

export async function main(argv: string[]): Promise<WordLmRow[]> {
  const args = parseArgs(argv, { name: 'eval_word_lm' });
  const c: WordLmConfig = { ...(args.quick ? QUICK : FULL), ...(args.epochs !== undefined ? { epochs: args.epochs } : {}) };
  await selectBackend();
  const rng = new Rng(args.seed);
  const { ids } = loadWords(c.chapters, c.vocab);
  const model = buildWordLm(c, args.seed);
  model.compile({ optimizer: tf.train.adam(c.learningRate), loss: 'sparseCategoricalCrossentropy' });
  for (let e = 0; e < c.epochs; e++) {
    const w = randomWindows(ids.train, c.context, c.trainWindows, rng);
    await model.fit(w.x, w.y, { epochs: 1, batchSize: c.batchSize, verbose: 0, shuffle: false });
    tf.dispose([w.x, w.y]);
  }
  const test = spreadWindows(ids.test, c.context, c.testWindows);
  const calib = randomWindows(ids.train, c.context, c.calibrationWindows, rng);
  const rows: WordLmRow[] = [];
  const floatBytes = model.countParams() * 4;
  rows.push({ method: 'float32', perplexity: await perplexity(model, test, 512), bytes: floatBytes, ratio: 1, layers: {} });
  for (const method of c.methods) {
    const { model: q, report } = await quantizeModel(model, calib.x, { method, bits: c.bits });
    rows.push({
      method,
      perplexity: await perplexity(q, test, 512),
      bytes: report.totals.packedBytes,
      ratio: report.totals.float32Bytes / report.totals.packedBytes,
      layers: Object.fromEntries(report.layers.filter((l) => l.status === 'quantized').map((l) => [`${l.name} (${l.className})`, l.relativeError ?? NaN])),
    });
    q.dispose();
  }
  tf.dispose([test.x, test.y, calib.x, calib.y]);
  model.dispose();
  return rows;
}

/** The rows as two markdown tables: totals, then relative error per layer and method. */
export function formatWordLm(rows: WordLmRow[]): string {
  const f = rows[0];
  const head = ['| model | perplexity | vs float | bytes | x smaller |', '| --- | --- | --- | --- | --- |',
    ...rows.map((r) => `| ${r.method} | ${r.perplexity.toFixed(2)} | ${((r.perplexity / f.perplexity - 1) * 100).toFixed(2)}% | ${r.bytes} | ${r.ratio.toFixed(2)} |`)];
  const q = rows.slice(1);
  const layers = Object.keys(q[0]?.layers ?? {});
  const per = [`| layer | ${q.map((r) => r.method).join(' | ')} |`, `| --- | ${q.map(() => '---').join(' | ')} |`,
    ...layers.map((l) => `| ${l} | ${q.map((r) => r.layers[l].toExponential(3)).join(' | ')} |`)];
  return head.join('\n') + '\n\n' + per.join('\n');
}

if (isMain(import.meta.url)) runMain(async (argv) => console.log(formatWordLm(await main(argv))));
