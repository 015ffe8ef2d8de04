/**
 * Benchmark of quantizeModel's cost against depth and threads (a script, not a test).
 *
 *   npm run bench:quantize-model               # MLP L = 4, 8, 16, 32; Conv2D stack; one wide layer
 *   npm run bench:quantize-model -- --quick    # small sizes: a few seconds
 *   npm run bench:quantize-model -- --mobilenet   # also MobileNetV2 (nsfwjs), 64 images, 4-bit QuantEase
 *   npm run bench:quantize-model -- --no-old   # skip the old (per-layer sub-model) capture
 *
 * Prints markdown tables: for each model, the wall time and the number of layer forwards of the
 * old capture (a sub-model per layer: layer k costs k forwards per batch) and the new one (one
 * propagation: one forward per layer per batch, plus checkpoint recomputation), with the peak
 * activation bytes and the process's peak RSS; then QuantEase on one wide layer with 1 worker and
 * with all cores. Wall times on a shared machine are noisy: compare rows of one run.
 */
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { cpus } from 'node:os';
import { runQuantizeModel, type CaptureStrategy } from '../adapters/quantize/run_quantize.ts';
import { quantizeModel, type QuantizeModelOptions } from 'tfjs-sam-quantease/quantize';
import { quantizeLayer, CovarianceAccumulator } from 'tfjs-sam-quantease/quantease';

// ---- constants (one-line guidance) ----
const MLP_WIDTH = 256;           // Dense units per layer (issue 11's measurement)
const MLP_ROWS = 4096;           // calibration rows
const MLP_DEPTHS = [4, 8, 16, 32];
const CONV_DEPTH = 16;           // Conv2D 3x3 layers in the deep stack
const CONV_CHANNELS = 16;
const CONV_IMAGES = 64;          // 16 x 16 x CONV_CHANNELS images (patch Gram matrices dominate: keep small)
const WIDE = 512;                // in = out of the one wide layer for the worker comparison
const WIDE_ROWS = 4096;
const MOBILENET_IMAGES = 64;

export interface WorkerRow {
  workers: number;
  reported: number;
  seconds: number;
  cpuSeconds: number;
  firstLayer: number;
  secondLayer: number;
}

/** CPU seconds of this process, all threads (user + system). */
const cpuSeconds = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
};

export interface BenchModelRow {
  model: string;
  capture: CaptureStrategy;
  seconds: number;
  cpuSeconds: number;
  forwards: number;
  recomputed: number;
  peakActivationMiB: number;
  maxRssMiB: number;
}

function mlp(depth: number, width: number): tfl.LayersModel {
  const layers: tfl.layers.Layer[] = [];
  for (let i = 0; i < depth; i++) {
    layers.push(tfl.layers.dense({
      ...(i === 0 ? { inputShape: [width] } : {}),
      units: width, activation: i < depth - 1 ? 'relu' : 'linear',
      kernelInitializer: tfl.initializers.heNormal({ seed: 10 + i }),
    }));
  }
  return tfl.sequential({ layers });
}

function convStack(depth: number, channels: number): tfl.LayersModel {
  const layers: tfl.layers.Layer[] = [];
  for (let i = 0; i < depth; i++) {
    layers.push(tfl.layers.conv2d({
      ...(i === 0 ? { inputShape: [16, 16, channels] } : {}),
      filters: channels, kernelSize: 3, padding: 'same', activation: 'relu',
      kernelInitializer: tfl.initializers.heNormal({ seed: 50 + i }),
    }));
  }
  return tfl.sequential({ layers });
}

const maxRssMiB = () => process.resourceUsage().maxRSS / 1024;

async function timeCapture(name: string, model: tfl.LayersModel, calib: tf.Tensor, capture: CaptureStrategy, options: QuantizeModelOptions): Promise<BenchModelRow> {
  const t0 = performance.now();
  const c0 = cpuSeconds();
  const { model: q, report } = await runQuantizeModel(model, calib, options, quantizeLayer, (w) => new CovarianceAccumulator(w), capture);
  const seconds = (performance.now() - t0) / 1000;
  q.dispose();
  return {
    model: name, capture, seconds, cpuSeconds: cpuSeconds() - c0,
    forwards: report.totals.forwards ?? 0,
    recomputed: report.totals.recomputedForwards ?? 0,
    peakActivationMiB: (report.totals.peakActivationBytes ?? 0) / 2 ** 20,
    maxRssMiB: maxRssMiB(),
  };
}

function table(rows: BenchModelRow[]): string {
  const head = '| model | capture | wall s | CPU s | layer forwards | recomputed | peak activations MiB | process peak RSS MiB |\n| --- | --- | --- | --- | --- | --- | --- | --- |';
  return head + '\n' + rows.map((r) =>
    `| ${r.model} | ${r.capture === 'submodel' ? 'old (sub-model per layer)' : 'new (one propagation)'} | ${r.seconds.toFixed(2)} | ${r.cpuSeconds.toFixed(2)} | ${r.forwards} | ${r.recomputed} | ${r.peakActivationMiB.toFixed(1)} | ${r.maxRssMiB.toFixed(0)} |`).join('\n');
}

function parseArgs(argv: string[]) {
  const known = ['--quick', '--mobilenet', '--no-old'];
  for (const a of argv) if (!known.includes(a)) throw new Error(`Unknown flag ${a}. Allowed: ${known.join(', ')}.`);
  return { quick: argv.includes('--quick'), mobilenet: argv.includes('--mobilenet'), old: !argv.includes('--no-old') };
}

export async function main(argv = process.argv.slice(2)): Promise<{ depth: BenchModelRow[]; workers: WorkerRow[] }> {
  const args = parseArgs(argv);
  const { selectBackend } = await import('tfjs-sam-quantease/backend');
  const backend = (await selectBackend({ quiet: true })).name;
  const load = (await import('node:os')).loadavg()[0];
  console.log(`backend ${backend}; ${cpus().length} cores; load average ${load.toFixed(1)} at start${args.quick ? '; --quick' : ''}\n`);

  // 1. Depth: Dense MLPs and a deep Conv2D stack, RTN (the capture dominates), old vs new.
  const depthRows: BenchModelRow[] = [];
  const width = args.quick ? 64 : MLP_WIDTH;
  const rows = args.quick ? 512 : MLP_ROWS;
  const rtn: QuantizeModelOptions = { method: 'rtn', bits: 4, compareRtn: false, workers: 1 };
  const xMlp = tf.randomNormal([rows, width], 0, 1, 'float32', 1);
  for (const depth of args.quick ? [4, 8] : MLP_DEPTHS) {
    const model = mlp(depth, width);
    const name = `MLP L=${depth}, ${width} wide, ${rows} rows`;
    if (args.old) depthRows.push(await timeCapture(name, model, xMlp, 'submodel', rtn));
    depthRows.push(await timeCapture(name, model, xMlp, 'propagate', rtn));
    model.dispose();
  }
  xMlp.dispose();
  const convDepth = args.quick ? 4 : CONV_DEPTH;
  const convImages = args.quick ? 32 : CONV_IMAGES;
  const conv = convStack(convDepth, CONV_CHANNELS);
  const xConv = tf.randomNormal([convImages, 16, 16, CONV_CHANNELS], 0, 1, 'float32', 2);
  const convName = `Conv2D 3x3 x${convDepth}, ${CONV_CHANNELS} ch, ${convImages} images 16x16`;
  if (args.old) depthRows.push(await timeCapture(convName, conv, xConv, 'submodel', rtn));
  depthRows.push(await timeCapture(convName, conv, xConv, 'propagate', rtn));
  conv.dispose();
  xConv.dispose();
  console.log('quantizeModel (rtn, 4 bits, batchSize 128) against depth:\n');
  console.log(table(depthRows) + '\n');

  // 2. Threads: QuantEase on wide layers, 1 worker vs all cores. Two equal layers: the first
  // pays the workers' start-up, the second shows the steady state.
  const wide = args.quick ? 128 : WIDE;
  const wideRows = args.quick ? 512 : WIDE_ROWS;
  const two = mlp(2, wide);
  const xWide = tf.randomNormal([wideRows, wide], 0, 1, 'float32', 3);
  const workerRows: WorkerRow[] = [];
  for (const workers of [1, cpus().length]) {
    const t0 = performance.now();
    const c0 = cpuSeconds();
    const { model: q, report } = await quantizeModel(two, xWide, { method: 'quantease', bits: 3, compareRtn: false, workers });
    workerRows.push({
      workers, reported: report.totals.workers ?? 1, seconds: (performance.now() - t0) / 1000, cpuSeconds: cpuSeconds() - c0,
      firstLayer: report.layers[0].milliseconds / 1000, secondLayer: report.layers[1].milliseconds / 1000,
    });
    q.dispose();
  }
  two.dispose();
  xWide.dispose();
  console.log(`QuantEase (30 sweeps, 3 bits) on two Dense ${wide} x ${wide} layers, ${wideRows} rows (layer 1 includes the workers' start-up):\n`);
  console.log('| workers asked | workers that ran | layer 1 s | layer 2 s | total wall s | process CPU s |\n| --- | --- | --- | --- | --- | --- |');
  for (const r of workerRows) console.log(`| ${r.workers} | ${r.reported} | ${r.firstLayer.toFixed(2)} | ${r.secondLayer.toFixed(2)} | ${r.seconds.toFixed(2)} | ${r.cpuSeconds.toFixed(2)} |`);
  console.log('');

  // 3. MobileNetV2 (nsfwjs) end to end, 4-bit QuantEase, 64 calibration images.
  if (args.mobilenet) {
    const { loadNsfwjsMobileNetV2 } = await import('./lib/data/nsfwjs_model.ts');
    const { CALIBRATION_PHOTOS, viewsOf } = await import('./lib/data/images.ts');
    const { Rng } = await import('./lib/rng.ts');
    const rng = new Rng(0);
    const model = await loadNsfwjsMobileNetV2();
    const count = Math.ceil(MOBILENET_IMAGES / CALIBRATION_PHOTOS.length);
    const all = viewsOf(CALIBRATION_PHOTOS, { count, random: () => rng.uniform() });
    const calib = tf.slice(all, 0, Math.min(MOBILENET_IMAGES, all.shape[0]));
    all.dispose();
    const t0 = performance.now();
    const c0 = cpuSeconds();
    const { model: q, report } = await quantizeModel(model, calib, { method: 'quantease', bits: 4, batchSize: 16, progress: true });
    const seconds = (performance.now() - t0) / 1000;
    const cpu = cpuSeconds() - c0;
    const t = report.totals;
    console.log(`MobileNetV2 (nsfwjs), ${calib.shape[0]} calibration images, 4-bit QuantEase, end to end: ${seconds.toFixed(1)} s wall, ${cpu.toFixed(1)} s CPU; ` +
      `${t.quantizedLayers} layers, ${t.forwards} forwards (${t.recomputedForwards} recomputed), peak activations ` +
      `${((t.peakActivationBytes ?? 0) / 2 ** 20).toFixed(0)} MiB, ${t.workers} worker(s); process peak RSS ${maxRssMiB().toFixed(0)} MiB`);
    q.dispose();
    model.dispose();
    calib.dispose();
  }
  console.log(`load average ${(await import('node:os')).loadavg()[0].toFixed(1)} at the end`);
  return { depth: depthRows, workers: workerRows };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  await main();
}
