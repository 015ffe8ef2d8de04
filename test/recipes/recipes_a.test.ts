/**
 * Smoke and property tests for the recipes of part A: each recipe's main(['--quick', '--out', tmp]) runs
 * tiny, writes its files, and returns numbers that must make sense; plus the shared recipe helpers.
 */
import test from 'ava';
import * as tf from '@tensorflow/tfjs-core';
import {mkdtempSync, readFileSync, rmSync} from 'node:fs';
import {tmpdir} from 'node:os';
import {join} from 'node:path';
import {selectBackend} from '../../adapters/backend/select_backend.ts';
import {parseArgs} from '../../recipes/lib/args.ts';
import {Rng, mulberry32} from '../../recipes/lib/rng.ts';
import {barPlot, linePlot, writePlot} from '../../recipes/lib/plot.ts';
import {Report, formatNumber} from '../../recipes/lib/report_writer.ts';
import {hashedBagOfWords, tokenize} from '../../recipes/lib/data/bag_of_words.ts';
import {splitIndices, subjectAndBody} from '../../recipes/lib/data/spam_assassin.ts';
import {closedFormCurves, main as leastSquares} from '../../recipes/eval_sam_least_squares.ts';
import {main as labelNoise} from '../../recipes/eval_label_noise.ts';
import {main as fitTemplate} from '../../recipes/template_fit_sam.ts';
import {main as loopTemplate} from '../../recipes/template_custom_loop_msam.ts';
import {assertPng} from './helpers.ts';

let root = '';


test.before(async () => {
  process.env.TFJS_SAM_QUANTEASE_BACKEND = 'wasm';
  process.env.NO_PROGRESS = '1';
  await selectBackend({prefer: 'wasm', quiet: true});
  root = mkdtempSync(join(tmpdir(), 'recipes-a-'));
});

test.after.always(() => {
  if (root) rmSync(root, {recursive: true, force: true});
});

// ---- helpers ----
test('parseArgs: defaults, both flag forms, clear errors on unknown flags and bad values', (t) => {
  t.deepEqual({...parseArgs([], {name: 'x', epochs: 5}), explicit: []},
      {quick: false, out: 'out/x', seed: 0, epochs: 5, explicit: []});
  const a = parseArgs(['--quick', '--out=o/d', '--seed', '7', '--epochs', '3'], {name: 'x'});
  t.is(a.out, 'o/d');
  t.is(a.seed, 7);
  t.is(a.epochs, 3);
  t.true(a.quick && a.explicit.has('epochs') && a.explicit.has('seed'));
  t.throws(() => parseArgs(['--fast'], {name: 'x'}), {message: /Unknown flag '--fast'/});
  t.throws(() => parseArgs(['--epochs', '0'], {name: 'x'}), {message: /`--epochs` must be an integer >= 1. Received: --epochs 0/});
  t.throws(() => parseArgs(['--seed'], {name: 'x'}), {message: /`--seed` needs a value/});
  t.throws(() => parseArgs(['--out', '--quick'], {name: 'x'}), {message: /`--out` needs a folder/});
});

test('Rng: deterministic per seed, different across seeds, sane normal moments, valid permutations', (t) => {
  const a = new Rng(3);
  const b = new Rng(3);
  const xs = Array.from({length: 5}, () => a.uniform());
  t.deepEqual(xs, Array.from({length: 5}, () => b.uniform()));
  t.notDeepEqual(xs, Array.from({length: 5}, () => new Rng(4).uniform()));
  const u = mulberry32(1);
  for (let i = 0; i < 1000; i++) {
    const v = u();
    t.true(v >= 0 && v < 1);
  }
  const r = new Rng(11);
  const zs = Array.from({length: 20000}, () => r.normal());
  const mean = zs.reduce((s, z) => s + z, 0) / zs.length;
  const variance = zs.reduce((s, z) => s + (z - mean) ** 2, 0) / zs.length;
  // Standard errors: 1/sqrt(20000) = 0.007 for the mean, sqrt(2/20000) = 0.01 for the variance.
  t.true(Math.abs(mean) < 0.03, `mean ${mean}`);
  t.true(Math.abs(variance - 1) < 0.05, `variance ${variance}`);
  t.deepEqual([...r.permutation(50)].sort((x, y) => x - y), Array.from({length: 50}, (_, i) => i));
});

test('Report: markdown tables, images, machine line; written atomically', (t) => {
  const r = new Report('T');
  r.machine({backend: 'wasm', seed: 1});
  r.table(['a', 'b'], [['x|y', 0.123456], ['z', 3]]);
  r.image('plot', 'p.png');
  const md = r.toMarkdown();
  t.true(md.startsWith('# T\n'));
  t.regex(md, /Backend: wasm \| Seed: 1/);
  t.regex(md, /\| x\\\|y \| 0\.1235 \|/);
  t.regex(md, /!\[plot\]\(p\.png\)/);
  t.throws(() => r.table(['a'], [[1, 2]]), {message: /2 cells but there are 1 headers/});
  const path = r.write(join(root, 'report_test'));
  t.is(readFileSync(path, 'utf8'), md);
  t.is(formatNumber(NaN), 'n/a');
  t.is(formatNumber(2e-5), '2.000e-5');
});

test('plots: line and bar specs render to SVG and PNG', async (t) => {
  const line = await writePlot(linePlot({title: 't', xLabel: 'x', yLabel: 'y', logX: true,
    series: [{name: 'a', x: [1, 2, 3], y: [3, 1, 2], band: {lo: [2, 0.5, 1], hi: [4, 2, 3]}}]}), join(root, 'p', 'line'));
  const bar = await writePlot(barPlot({title: 't', xLabel: 'g', yLabel: 'v',
    data: [{group: 'g1', series: 's1', value: 0.5, lo: 0.4, hi: 0.6}, {group: 'g1', series: 's2', value: 0.7}]}),
  join(root, 'p', 'bar'));
  for (const f of [line, bar]) {
    assertPng(t, f.png);
    t.regex(readFileSync(f.svg, 'utf8'), /^<svg/);
  }
  t.throws(() => linePlot({title: 't', xLabel: 'x', yLabel: 'y', series: [{name: 'a', x: [1], y: []}]}),
      {message: /1 x values and 0 y values/});
});

test('bag of words: tokens, hashing, unit rows; split is deterministic and disjoint', (t) => {
  t.deepEqual(tokenize('Win $$$ NOW!!! at 5pm'), ['win', '$$$', 'now', '!!!', 'at', '5', 'pm']);
  const {data, dim} = hashedBagOfWords(['free money free', 'meeting notes', ''], {dim: 64, ngrams: 2});
  t.is(dim, 64);
  for (const r of [0, 1]) {
    const norm = Math.hypot(...data.subarray(r * 64, (r + 1) * 64));
    t.true(Math.abs(norm - 1) < 1e-5);
  }
  t.is(data.subarray(128, 192).reduce((s, v) => s + v, 0), 0); // empty text -> zero row
  // 'free money free': 3 unigrams (free twice) + 2 bigrams -> at most 4 distinct buckets.
  t.true(data.subarray(0, 64).filter((v) => v > 0).length <= 4);
  t.is(subjectAndBody('From: a\nSubject: Hello there\nX: y\n\nBody text'), 'Hello there\nBody text');
  const ids = Array.from({length: 500}, (_, i) => `g/${i}.txt`);
  const s1 = splitIndices(ids);
  const s2 = splitIndices([...ids].reverse());
  t.deepEqual(s1.test.map((i) => ids[i]).sort(), s2.test.map((i) => [...ids].reverse()[i]).sort());
  t.is(new Set([...s1.train, ...s1.val, ...s1.test]).size, 500);
  t.true(s1.train.length > 300 && s1.val.length > 40 && s1.test.length > 40);
});

// ---- recipes ----
test.serial('eval_sam_least_squares: closed form matches Monte-Carlo; SAM lower bias, higher variance', async (t) => {
  const out = join(root, 'ls');
  const r = await leastSquares(['--quick', '--out', out]);
  // Monte-Carlo over 120 noise draws: the relative standard error of the variance term is a few percent.
  for (const m of ['gd', 'sam'] as const) {
    t.true(r.agreement[m].risk < 0.1, `${m} risk agreement ${r.agreement[m].risk}`);
    t.true(r.agreement[m].variance < 0.1, `${m} variance agreement ${r.agreement[m].variance}`);
  }
  const cf = r.closedForm;
  for (let k = 1; k < cf.gd.risk.length; k++) {
    t.true(cf.sam.bias[k] <= cf.gd.bias[k] + 1e-12 && cf.sam.variance[k] >= cf.gd.variance[k] - 1e-12);
  }
  // k = 0: w = 0, so the risk is w*'H w* for both and the variance is 0.
  t.is(cf.gd.risk[0], cf.sam.risk[0]);
  t.is(cf.gd.variance[0], 0);
  // k -> infinity: both tend to sigma^2 d / n.
  const {sigma, d, n} = r.config;
  const limit = closedFormCurves([1, 0.5], [1, 1], [0.5, 0.25], sigma, n, 400);
  t.true(Math.abs(limit.risk[400] - (sigma ** 2 * 2) / n) < 1e-9);
  t.true(r.summary.every((s) => Number.isFinite(s.bestRisk) && s.bestRisk > 0));
  t.true(cf.gd.risk[cf.gd.risk.length - 1] > 0 && d > 0);
  for (const f of ['risk', 'bias_variance', 'larger_step']) assertPng(t, join(out, `${f}.png`));
  const md = readFileSync(join(out, 'report.md'), 'utf8');
  t.regex(md, /Monte-Carlo check of the closed form/);
  t.regex(md, /!\[Risk over iterations\]\(risk\.png\)/);
  t.regex(md, /Seed: 0/);
});

test.serial('eval_label_noise: accuracies in [0, 1], every cell present, plots and report written', async (t) => {
  const out = join(root, 'ln');
  const before = tf.memory().numTensors;
  const r = await labelNoise(['--quick', '--out', out]);
  t.is(tf.memory().numTensors, before, 'no tensor leaks');
  t.is(r.runs.length, 9); // 3 noise levels x 3 methods x 1 seed
  t.is(r.summary.length, 9);
  for (const run of r.runs) {
    t.true(run.testAccuracy >= 0 && run.testAccuracy <= 1);
    t.true(run.valAccuracy >= 0 && run.valAccuracy <= 1);
    t.true(run.trainNoisyFit >= 0 && run.trainNoisyFit <= 1);
    t.is(run.testAccuracyByEpoch.length, 3);
  }
  t.deepEqual(r.seeds, [0]);
  t.true(r.split.train > r.split.test && r.split.test > 0);
  for (const f of ['accuracy', 'accuracy_per_epoch']) assertPng(t, join(out, `${f}.png`));
  const md = readFileSync(join(out, 'report.md'), 'utf8');
  t.regex(md, /\| label noise \| method \| test acc\. mean/);
  t.regex(md, /quick run/);
});

test.serial('template_fit_sam: Adam, SAM and mSAM each train under model.fit', async (t) => {
  const before = tf.memory().numTensors;
  const rows = await fitTemplate(['--quick']);
  t.is(tf.memory().numTensors, before, 'no tensor leaks');
  t.deepEqual(rows.map((r) => r.method), ['Adam', 'SAM', 'mSAM']);
  for (const r of rows) {
    t.true(Number.isFinite(r.trainLoss) && r.trainLoss > 0);
    t.true(r.valAccuracy >= 0 && r.valAccuracy <= 1);
  }
});

test.serial('template_custom_loop_msam: minimizeOnBatch lowers the training loss', async (t) => {
  const before = tf.memory().numTensors;
  const r = await loopTemplate(['--quick', '--epochs', '3']);
  t.is(tf.memory().numTensors, before, 'no tensor leaks');
  t.is(r.lossByEpoch.length, 3);
  t.true(r.lossByEpoch.every(Number.isFinite));
  t.true(r.lossByEpoch[2] < r.lossByEpoch[0], `loss ${r.lossByEpoch.join(' -> ')}`);
  t.true(Number.isFinite(r.valMse) && r.valTargetVariance > 0);
});
