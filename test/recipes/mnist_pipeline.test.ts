/**
 * The MNIST train-then-compress recipe: the data loader against the package's known counts, the fixed
 * split and the label noise as invariants, and `--quick` end to end (numbers that must hold, plots, no leak,
 * the report rebuilt from results.json).
 */
import test from 'ava';
import * as tf from '@tensorflow/tfjs-core';
import {mkdtempSync, readFileSync, rmSync} from 'node:fs';
import {tmpdir} from 'node:os';
import {join} from 'node:path';
import {selectBackend} from '../../adapters/backend/select_backend.ts';
import {loadMnist, splitMnist} from '../../recipes/lib/data/mnist.ts';
import {noisyLabels} from '../../recipes/mnist_pipeline/run.ts';
import {Rng} from '../../recipes/lib/rng.ts';
import {main} from '../../recipes/eval_mnist_pipeline.ts';
import {summarize, withinNoise, pearson} from '../../recipes/mnist_pipeline/stats.ts';
import {assertPng} from './helpers.ts';

let root = '';

test.before(async () => {
  process.env.TFJS_SAM_QUANTEASE_BACKEND = 'wasm';
  process.env.NO_PROGRESS = '1';
  await selectBackend({prefer: 'wasm', quiet: true});
  root = mkdtempSync(join(tmpdir(), 'mnist-pipeline-'));
});

test.after.always(() => {
  if (root) rmSync(root, {recursive: true, force: true});
});

test('loadMnist: the package holds 10,000 digits with these per-class counts, grey levels in [0, 1]', (t) => {
  const d = loadMnist();
  t.is(d.count, 10000);
  const counts = new Array(10).fill(0);
  for (const l of d.labels) counts[l]++;
  t.deepEqual(counts, [1001, 1127, 991, 1032, 980, 863, 1014, 1070, 944, 978]);
  let lo = Infinity;
  let hi = -Infinity;
  for (const v of d.images) {
    lo = Math.min(lo, v);
    hi = Math.max(hi, v);
  }
  t.is(lo, 0);
  t.is(hi, 1);
});

test('splitMnist is fixed by its seed, disjoint and complete; noisyLabels flips exactly round(p n) labels to other classes', (t) => {
  const a = splitMnist(10000, 8000, 13);
  t.deepEqual(a, splitMnist(10000, 8000, 13));
  t.is(a.train.length, 8000);
  t.is(a.test.length, 2000);
  t.is(new Set([...a.train, ...a.test]).size, 10000);
  const labels = Int32Array.from({length: 1000}, (_, i) => i % 10);
  const noisy = noisyLabels(labels, 0.4, new Rng(5));
  let changed = 0;
  for (let i = 0; i < labels.length; i++) if (noisy[i] !== labels[i]) changed++;
  t.is(changed, 400);
  t.true(noisy.every((v) => v >= 0 && v < 10));
  t.deepEqual(noisyLabels(labels, 0, new Rng(5)), labels);
});

test('stats: within-noise rule and correlation', (t) => {
  const a = summarize([0.9, 0.91, 0.92]);
  t.true(Math.abs(a.mean - 0.91) < 1e-12);
  t.true(Math.abs(a.std - 0.01) < 1e-12);
  t.true(withinNoise(a, summarize([0.905, 0.915, 0.925])));
  t.false(withinNoise(a, summarize([0.80, 0.81, 0.82])));
  t.is(pearson([1, 2, 3, 4], [2, 4, 6, 8]), 1);
});

test.serial('eval_mnist_pipeline --quick: trains, measures sharpness, quantizes; consistent numbers, plots, no leak', async (t) => {
  const out = join(root, 'quick');
  const before = tf.memory().numTensors;
  const r = await main(['--quick', '--out', out]);
  t.is(tf.memory().numTensors, before, 'no tensor leak');
  const rec = r.record;
  t.true(rec.complete);
  t.deepEqual(rec.split, {total: 10000, train: 512, test: 256});
  t.is(rec.sweep.length, 2);
  t.is(rec.chosenRho['0'], rec.sweep.reduce((x, y) => (y.valAccuracy > x.valAccuracy ? y : x)).rho);
  t.is(rec.models.length, 6);
  for (const m of rec.models) {
    t.true(m.testAccuracy > 0.15 && m.testAccuracy <= 1, `${m.optimizer}: ${m.testAccuracy}`);  // chance is 0.1
    t.is(m.rho, m.optimizer === 'Adam' ? 0 : rec.chosenRho[String(m.noise)]);
    t.true(m.mSharpness >= 0 && Number.isFinite(m.hessianEigenvalue));
    t.is(m.hvp, 'finite-difference');  // Conv2D has no second derivative in tfjs
    t.is(m.quantized.length, 4);
    for (const q of m.quantized) {
      t.true(q.testAccuracy >= 0 && q.testAccuracy <= 1);
      t.true(Math.abs(m.testAccuracy - q.testAccuracy - q.drop) < 1e-12);
      t.true(q.packedBytes > 0);
    }
    // Fewer bits never take more bytes.
    const rtn = (b: number) => m.quantized.find((q) => q.label === 'RTN' && q.bits === b)!.packedBytes;
    t.true(rtn(2) < rtn(4));
  }
  const md = readFileSync(join(out, 'report.md'), 'utf8');
  for (const s of ['rho sweep', 'Float models', 'Quantized models', 'Do flatter models lose less', 'Findings']) t.true(md.includes(s), s);
  for (const f of ['accuracy_vs_bits_quantease_noise0', 'drop_vs_hessian_rtn_4bit', 'drop_vs_msharpness_quantease_2bit',
    'training_curves_noise40']) assertPng(t, join(out, `${f}.png`));
  // The report can be rebuilt from results.json alone, with the same tables.
  const again = await main(['--from-results', join(out, 'results.json'), '--out', join(root, 'rebuilt')]);
  t.is(again.floatTable, r.floatTable);
  t.is(again.quantTable, r.quantTable);
});
