/**
 * Ablation of the default quantizer (issue 12): each step's relative error divided by act-order
 * GPTQ's (min/max grid, as others ship it) on the same layer problem, at 2, 3 and 4 bits, per row
 * and with groups of 128, and CPU seconds per method beside it.
 *
 *   npm run bench:quant -- --ablation                      # everything below (slow: tens of minutes)
 *   npm run bench:quant -- --ablation --bits 3 --groups 0  # a subset
 *   npm run bench:quant -- --ablation --only synthetic     # or: --only real
 *   npm run bench:quant -- --ablation --quick              # 128-wide synthetic problems only
 *
 * Problems:
 *   A  recipes/bench_quant.ts makeLayerProblem (power-law row scales of a random mix, outlier
 *      channels, log-normal-scaled Gaussian W), in = out = 512 and 1024, n = 4096;
 *   B  shared/FINDINGS.md's kind, built differently: features with an exact power-law spectrum
 *      lambda_k ~ k^-SPECTRUM_B rotated by Householder reflections, a common offset (activations
 *      with nonzero mean), a few outlier channels, Student-t-like W; same sizes;
 *   real  Conv2D / Dense layers of the nsfwjs MobileNetV2 on calibration photo views, and the
 *      Conv1D / Dense layers of the demo's character LM after a short training on Moby-Dick,
 *      each captured with adapters/quantize/capture.ts captureCovariance on the float model.
 */
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { quantizeLayer, CovarianceAccumulator, type AnyQuantizeOptions, type QuantizeLayerOptions } from 'tfjs-sam-quantease/quantease';
import { makeLayerProblem, makeSpectralProblem, cpuSeconds } from './lib/quant_problems.ts';

// ---- constants (one-line guidance) ----
const ROWS = 4096;            // calibration rows of the synthetic problems
const MOBILENET_LAYERS = 6;   // real layers taken from MobileNetV2, evenly spread through the network
const CHAR_LM_STEPS = 120;    // Adam steps of batch 128 before the char LM's layers are captured

type Problem = { name: string; weight: tf.Tensor2D; sigma: tf.Tensor2D };

/** The ablation steps, each adding one thing to the previous; the last is the default. */
export const STEPS: { name: string; options: AnyQuantizeOptions }[] = [
  { name: 'GPTQ act-order (reference)', options: { method: 'gptq', actOrder: true } },
  { name: 'GPTQ act-order + clip search', options: { method: 'gptq', actOrder: true, clip: {} } },
  { name: 'QuantEase 30 sweeps (first release)', options: { method: 'quantease', init: 'weights', actOrder: false, clip: false, refit: 0, tolerance: 0 } },
  { name: '+ start from act-order GPTQ', options: { method: 'quantease', init: 'gptq', actOrder: true, clip: false, refit: 0, tolerance: 0 } },
  { name: '+ clip search (diag S)', options: { method: 'quantease', init: 'gptq', actOrder: true, clip: {}, refit: 0, tolerance: 0 } },
  { name: '+ scale refit x2 (3 sweeps each)', options: { method: 'quantease', init: 'gptq', actOrder: true, clip: {}, refit: 2, tolerance: 0 } },
  { name: '+ tolerance 1e-4 = default', options: {} },
];

function lcg(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32);
}

/** Captures {W [out, in], S [in, in]} of the given layers on `calibration`. */
async function captureLayers(model: tfl.LayersModel, names: string[], calibration: tf.Tensor, prefix: string): Promise<Problem[]> {
  const { calibrationSource } = await import('../adapters/quantize/calibration.ts');
  const { captureCovariance } = await import('../adapters/quantize/capture.ts');
  const { kernelToProblem } = await import('../adapters/quantize/layer_problems.ts');
  const source = calibrationSource(calibration, model, 16);
  const out: Problem[] = [];
  for (const name of names) {
    const layer = model.getLayer(name);
    const kernel = layer.getWeights()[0];
    const acc = new CovarianceAccumulator(kernelToProblem(kernel).shape[1]);
    await captureCovariance(model, layer, source, acc);
    const weight = kernelToProblem(kernel);
    out.push({ name: `${prefix} ${name} [${weight.shape.join('x')}]`, weight, sigma: acc.sigma() });
    acc.dispose();
  }
  return out;
}

async function mobilenetProblems(): Promise<Problem[]> {
  const { loadNsfwjsMobileNetV2 } = await import('./lib/data/nsfwjs_model.ts');
  const { CALIBRATION_PHOTOS, viewsOf } = await import('./lib/data/images.ts');
  const { isQuantizable } = await import('../adapters/quantize/layer_problems.ts');
  const model = await loadNsfwjsMobileNetV2();
  const layers = model.layers.filter((l) => isQuantizable(l) && l.getWeights().length > 0);
  const picks = Array.from({ length: MOBILENET_LAYERS }, (_, i) => layers[Math.round((i * (layers.length - 1)) / (MOBILENET_LAYERS - 1))].name);
  let seed = 1;
  const calibration = viewsOf(CALIBRATION_PHOTOS, { count: 2, random: () => ((seed = (seed * 16807) % 2147483647) / 2147483647) });
  const problems = await captureLayers(model, [...new Set(picks)], calibration, 'MobileNetV2');
  calibration.dispose();
  model.dispose();
  return problems;
}

async function charLmProblems(): Promise<Problem[]> {
  const { loadMobyDick } = await import('./lib/data/moby_dick.ts');
  const { buildCharLM, sampleWindows, disposeWindows } = await import('./lib/char_lm.ts');
  const corpus = loadMobyDick();
  const model = buildCharLM({ vocabSize: corpus.vocabulary.length, seed: 0 });
  model.compile({ optimizer: tf.train.adam(2e-3), loss: 'sparseCategoricalCrossentropy' });
  const rand = lcg(11);
  const train = sampleWindows(corpus.train, 32, CHAR_LM_STEPS * 128, rand);
  await model.fit(train.x, train.y, { epochs: 1, batchSize: 128, shuffle: false, verbose: 0 });
  disposeWindows(train);
  const calib = sampleWindows(corpus.train, 32, 2048, rand);
  const names = model.layers.filter((l) => ['Dense', 'Conv1D'].includes(l.getClassName())).map((l) => l.name);
  const problems = await captureLayers(model, names, calib.x, 'char LM');
  disposeWindows(calib);
  model.dispose();
  return problems;
}

interface Cell { rel: number; cpu: number }

async function runProblem(p: Problem, bits: number, groupSize: number): Promise<Cell[]> {
  const cells: Cell[] = [];
  for (const step of STEPS) {
    const c0 = cpuSeconds();
    const r = await quantizeLayer({ weight: p.weight, sigma: p.sigma }, { ...step.options, bits, groupSize } as QuantizeLayerOptions);
    cells.push({ rel: r.stats.relativeError, cpu: cpuSeconds() - c0 });
    r.weight.dispose();
  }
  return cells;
}

/** Runs the ablation; prints each line as it is measured through `log`; returns the markdown table. */
export async function ablation(argv: string[], log: (line: string) => void = console.error): Promise<string> {
  const get = (flag: string) => (argv.includes(flag) ? argv[argv.indexOf(flag) + 1] : undefined);
  const quick = argv.includes('--quick');
  const bitsList = (get('--bits') ?? '2,3,4').split(',').map(Number);
  const groups = (get('--groups') ?? '0,128').split(',').map(Number);
  const sizes = (get('--sizes') ?? (quick ? '128' : '512,1024')).split(',').map(Number);
  const only = get('--only');
  const problems: Problem[] = [];
  if (only !== 'real') {
    for (const size of sizes) {
      problems.push({ name: `A ${size}`, ...makeLayerProblem(size, size, quick ? 512 : ROWS, size) });
      problems.push({ name: `B ${size}`, ...makeSpectralProblem(size, size, quick ? 512 : ROWS, size) });
    }
  }
  if (only !== 'synthetic' && !quick) {
    problems.push(...(await mobilenetProblems()));
    problems.push(...(await charLmProblems()));
  }
  const head = `| problem | bits | group | ${STEPS.map((s) => s.name).join(' | ')} |`;
  const lines = [head, `|${' --- |'.repeat(3 + STEPS.length)}`];
  log(head);
  for (const p of problems) {
    for (const bits of bitsList) {
      for (const g of groups) {
        if (g > 0 && g >= p.weight.shape[1]) continue; // one group per row: same as per-row
        const cells = await runProblem(p, bits, g);
        const ref = cells[0].rel;
        const fmt = (c: Cell, i: number) => `${i === 0 ? c.rel.toPrecision(3) : ref > 0 ? (c.rel / ref).toFixed(3) : '-'} (${c.cpu.toFixed(1)} s)`;
        const line = `| ${p.name} | ${bits} | ${g || 'row'} | ${cells.map(fmt).join(' | ')} |`;
        lines.push(line);
        log(line);
      }
    }
    p.weight.dispose();
    p.sigma.dispose();
  }
  lines.push('', 'First column: act-order GPTQ relative error ||(W - What) X^T||^2 / ||W X^T||^2; others: relative error / that, (CPU seconds of the call).');
  return lines.join('\n');
}
