/**
 * Smoke and property tests for the recipes of part B (evaluation 3 on Moby-Dick, the demo,
 * evaluation 4 on nsfwjs's MobileNetV2, the three quantization templates): each recipe's
 * main(['--quick', '--out', tmp]) runs tiny, writes its files and returns numbers that must make
 * sense; plus the data and model helpers they share.
 */
import test from 'ava';
import * as tf from '@tensorflow/tfjs-core';
import {existsSync, mkdtempSync, readFileSync, rmSync} from 'node:fs';
import {tmpdir} from 'node:os';
import {join} from 'node:path';
import {selectBackend} from '../../adapters/backend/select_backend.ts';
import {VOCABULARY, decode, encode, loadMobyDick, normalizeText, splitOfChapter} from '../../recipes/lib/data/moby_dick.ts';
import {CALIBRATION_PHOTOS, EVALUATION_PHOTOS, PHOTOS, loadPhoto, photoViews} from '../../recipes/lib/data/images.ts';
import {nsfwjsArtifacts} from '../../recipes/lib/data/nsfwjs_model.ts';
import {buildCharLM, evaluationWindows, meanNll, windowsAt} from '../../recipes/lib/char_lm.ts';
import {main as evalCharLm} from '../../recipes/eval_char_lm.ts';
import {main as demo} from '../../recipes/demo.ts';
import {compareOutputs, main as evalMobilenet} from '../../recipes/eval_mobilenet.ts';
import {main as trainEndTemplate} from '../../recipes/template_quantize_on_train_end.ts';
import {main as loadedTemplate} from '../../recipes/template_quantize_loaded_model.ts';
import {main as cliTemplate} from '../../recipes/template_cli.ts';
import {Rng} from '../../recipes/lib/rng.ts';
import {assertPng} from './helpers.ts';

let root = '';


/** For every method label: bytes(3-bit) < bytes(4-bit) < float bytes. */
function assertBytesOrder(t: import('ava').ExecutionContext, rows: Array<{label: string; bits: number; bytes: number}>, floatBytes: number): void {
  for (const label of new Set(rows.map((r) => r.label))) {
    const b3 = rows.find((r) => r.label === label && r.bits === 3)!.bytes;
    const b4 = rows.find((r) => r.label === label && r.bits === 4)!.bytes;
    t.true(b3 < b4 && b4 < floatBytes, `${label}: ${b3} < ${b4} < ${floatBytes}`);
  }
}

test.before(async () => {
  process.env.TFJS_SAM_QUANTEASE_BACKEND = 'wasm';
  process.env.NO_PROGRESS = '1';
  await selectBackend({prefer: 'wasm', quiet: true});
  root = mkdtempSync(join(tmpdir(), 'recipes-b-'));
});

test.after.always(() => {
  if (root) rmSync(root, {recursive: true, force: true});
});

// --- data and model helpers ---

test.serial('moby_dick: normalization, vocabulary round trip and the chapter split rule', (t) => {
  // Em dash -> '-', whitespace runs -> one space, digits and '*' dropped, lower case.
  t.is(normalizeText('  CHAPTER 1. Loomings.\n\nCall me\u2014Ishmael *'), 'chapter . loomings. call me-ishmael');
  t.is(VOCABULARY.length, 36);
  t.is(decode(encode('call me ishmael.')), 'call me ishmael.');
  t.throws(() => encode('#'));
  t.deepEqual([1, 8, 9, 10, 18, 19, 135].map(splitOfChapter), ['train', 'validation', 'test', 'train', 'validation', 'test', 'train']);
  const c = loadMobyDick({chapters: 20});
  t.deepEqual(c.chapters.validation, [8, 18]);
  t.deepEqual(c.chapters.test, [9, 19]);
  t.is(c.chapters.train.length, 16);
  t.true(decode(c.validation.subarray(0, 10)).startsWith('chapter'));
  t.throws(() => loadMobyDick({chapters: 3}), {message: /chapters/});
});

test.serial('images: deterministic split and views in [0, 1], view 0 is the centred crop', (t) => {
  t.is(CALIBRATION_PHOTOS.length + EVALUATION_PHOTOS.length, PHOTOS.length);
  t.false(CALIBRATION_PHOTOS.some((p) => EVALUATION_PHOTOS.includes(p)));
  const before = tf.memory().numTensors;
  const photo = loadPhoto(EVALUATION_PHOTOS[0]);
  t.true(photo.width >= 224 && photo.height >= 224);
  const rng = new Rng(3);
  const a = photoViews(photo, {count: 3, random: () => rng.uniform(), size: 32});
  const rng2 = new Rng(3);
  const b = photoViews(photo, {count: 3, random: () => rng2.uniform(), size: 32});
  const centre = photoViews(photo, {count: 1, size: 32});
  t.deepEqual(a.shape, [3, 32, 32, 3]);
  const [va, vb, vc] = [a.dataSync(), b.dataSync(), centre.dataSync()];
  t.deepEqual(Array.from(va), Array.from(vb), 'same seed, same views');
  t.deepEqual(Array.from(va.subarray(0, vc.length)), Array.from(vc), 'view 0 is the centred crop');
  t.true(va.every((v) => v >= 0 && v <= 1));
  tf.dispose([a, b, centre]);
  t.is(tf.memory().numTensors, before);
});

test.serial('nsfwjs artifacts: uint8-quantized manifest and shard bytes that match it', (t) => {
  const a = nsfwjsArtifacts();
  const specs = a.weightSpecs!;
  t.true(specs.length > 200);
  t.true(specs.every((s) => s.quantization?.dtype === 'uint8'));
  const expected = specs.reduce((n, s) => n + s.shape.reduce((x, y) => x * y, 1), 0);  // one byte per weight
  t.is((a.weightData as ArrayBuffer).byteLength, expected);
});

test.serial('char_lm: windows and perplexity against a hand computation', async (t) => {
  const before = tf.memory().numTensors;
  const ids = encode('abcabcabca');
  const w = windowsAt(ids, 3, [3, 9]);
  t.deepEqual(Array.from(w.x.dataSync()), [1, 2, 3, 1, 2, 3]);  // 'abc', 'abc' (a=1, b=2, c=3)
  t.deepEqual(Array.from(w.y.dataSync()), [1, 1]);  // next: 'a', 'a'
  const all = evaluationWindows(ids, 3);
  t.is(all.x.shape[0], 7);  // every position 3..9
  // An untrained model with a zeroed output layer predicts uniformly: mean NLL = log V exactly.
  const model = buildCharLM({vocabSize: 36, context: 3, convFilters: 4, convKernel: 2, hidden: 8, seed: 1});
  const out = model.getLayer('next_char');
  const zeros = out.getWeights().map((v) => tf.zerosLike(v));
  out.setWeights(zeros);
  t.true(Math.abs((await meanNll(model, w)) - Math.log(36)) < 1e-5);
  tf.dispose([w.x, w.y, all.x, all.y, ...zeros]);
  model.dispose();
  t.is(tf.memory().numTensors, before);
});

test.serial('compareOutputs: top-1 agreement and KL(p || q) by hand', (t) => {
  // Row 1: p = q -> KL 0, agree. Row 2: p = [0.5, 0.5], q = [0.25, 0.75]: argmax 0 vs 1 (disagree),
  // KL = 0.5 ln(0.5/0.25) + 0.5 ln(0.5/0.75) = 0.5 ln 2 + 0.5 ln(2/3).
  const p = new Float32Array([0.9, 0.1, 0.5, 0.5]);
  const q = new Float32Array([0.9, 0.1, 0.25, 0.75]);
  const {agreement, kl} = compareOutputs(p, q, 2);
  t.is(agreement, 0.5);
  t.true(Math.abs(kl - (0.5 * Math.log(2) + 0.5 * Math.log(2 / 3)) / 2) < 1e-7);
});

// --- recipes, tiny ---

test.serial('eval_char_lm --quick: report, plots, perplexities below the vocabulary size, bytes ordering', async (t) => {
  const out = join(root, 'eval_char_lm');
  const before = tf.memory().numTensors;
  const r = await evalCharLm(['--quick', '--out', out]);
  t.is(tf.memory().numTensors, before, 'no tensor leaks');
  const report = readFileSync(join(out, 'report.md'), 'utf8');
  t.true(report.includes('Seed: 0') && report.includes('QuantEase + 1% outliers'));
  for (const f of ['training_curves', 'train_loss', 'perplexity_vs_bytes']) assertPng(t, join(out, `${f}.png`));
  t.deepEqual(r.optimizers.map((o) => o.name), ['Adam', 'SAM', 'mSAM(4)']);
  for (const o of r.optimizers) {
    t.deepEqual(o.validationEpochs, [0, 1, 2]);  // quick: one point per epoch
    t.is(o.validationPerplexity.length, 3);
    t.true(o.validationPerplexity.every((p) => Number.isFinite(p) && p > 1 && p < r.vocabSize), `${o.name}`);
    t.true(o.finalValidationPerplexity < o.validationPerplexity[0], `${o.name} learned something`);
  }
  t.true(r.float.testPerplexity > 1 && r.float.testPerplexity < r.vocabSize);
  t.is(r.quantized.length, 8);
  for (const q of r.quantized) t.true(Number.isFinite(q.testPerplexity) && q.testPerplexity > 1 && q.testPerplexity < r.vocabSize);
  assertBytesOrder(t, r.quantized, r.float.bytes);
  // Outliers cost bytes; per layer QuantEase never does worse than RTN on the calibration objective.
  const qe4 = r.quantized.find((q) => q.label === 'QuantEase' && q.bits === 4)!;
  t.true(r.quantized.find((q) => q.label === 'QuantEase + 1% outliers' && q.bits === 4)!.bytes > qe4.bytes);
  for (const l of qe4.layers) t.true(l.relativeError <= l.rtnRelativeError * (1 + 1e-6), l.name);
});

test.serial('demo --quick: the MNIST pipeline at the quick budget, returns the tables\' numbers', async (t) => {
  const out = join(root, 'demo');
  const r = await demo(['--quick', '--out', out]);
  t.true(existsSync(join(out, 'report.md')));
  t.true(r.record.complete);
  // Adam, SAM, mSAM(2) at 0% and 40% noise, one seed; every model quantized 2 ways at 2 widths.
  t.is(r.record.models.length, 6);
  for (const m of r.record.models) {
    t.is(m.quantized.length, 4);
    for (const q of m.quantized) t.true(Math.abs(m.testAccuracy - q.testAccuracy - q.drop) < 1e-12);
  }
});

test.serial('eval_mobilenet --quick: agreement, KL, per-layer errors and bytes', async (t) => {
  const out = join(root, 'eval_mobilenet');
  const before = tf.memory().numTensors;
  const r = await evalMobilenet(['--quick', '--out', out]);
  t.is(tf.memory().numTensors, before, 'no tensor leaks');
  t.true(readFileSync(join(out, 'report.md'), 'utf8').includes('top-1 agreement'));
  for (const f of ['agreement', 'kl', 'layer_error_4bit', 'layer_error_3bit']) assertPng(t, join(out, `${f}.png`));
  t.is(r.quantized.length, 8);
  for (const q of r.quantized) {
    t.is(q.quantizedLayers, 4);  // Conv_1 + dense_1..3
    t.true(q.top1Agreement >= 0 && q.top1Agreement <= 1);
    t.true(Number.isFinite(q.klDivergence) && q.klDivergence >= 0);
    t.true(q.layers.every((l) => l.relativeError >= 0 && l.relativeError < 1), JSON.stringify(q.layers));
  }
  assertBytesOrder(t, r.quantized, r.float.bytes);
});

test.serial('template_quantize_on_train_end --quick: callback quantizes, save + reload reproduces the model', async (t) => {
  const before = tf.memory().numTensors;
  const r = await trainEndTemplate(['--quick', '--out', join(root, 't_train_end')]);
  t.is(tf.memory().numTensors, before, 'no tensor leaks');
  t.true(r.quantizedPerplexity < r.vocabSize);
  t.true(Math.abs(r.reloadedPerplexity - r.quantizedPerplexity) < 1e-6 * r.quantizedPerplexity);
  t.true(r.maxOutputDifference < 1e-5);
  t.true(r.packedBytes < r.floatBytes);
});

test.serial('template_quantize_loaded_model --quick: quantize nsfwjs MobileNetV2 head, save, reload, compare', async (t) => {
  const r = await loadedTemplate(['--quick', '--out', join(root, 't_loaded')]);
  t.is(r.quantizedLayers, 3);
  t.true(r.maxReloadDifference < 1e-5);
  t.true(r.top1Agreement >= 0 && r.top1Agreement <= 1);
  t.true(r.maxFloatDifference > 0, 'quantization changed something');
  t.true(r.packedBytes < r.floatBytes);
});

test.serial('template_cli --quick: the command line quantizes a saved model', async (t) => {
  const r = await cliTemplate(['--quick', '--out', join(root, 't_cli')]);
  t.true(r.stdout.includes('layer(s) quantized'));
  t.true(r.floatPerplexity < 36 && r.quantizedPerplexity < 36);
  t.true(Math.abs(r.quantizedPerplexity - r.floatPerplexity) < 0.1 * r.floatPerplexity, '4-bit stays close to float');
  t.true(r.packedBytes < r.floatBytes / 3);
});
