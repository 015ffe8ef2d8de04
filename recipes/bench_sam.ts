/**
 * Step cost of SAM and mSAM under model.fit, against the base optimizer (adam), on the default
 * backend (selectBackend()); and the speed-up of the fixed wasm backend over stock wasm and cpu.
 *
 *   npm run bench:sam              full run (~2-4 minutes on 2 cores)
 *   npm run bench:sam -- --quick   smoke run (seconds)
 *
 * Method: three identical models (same seeded weights) compiled with adam, sam(adam) and
 * sam(adam, {microBatches: 4, model}); repetitions interleaved (base, SAM, mSAM, base, ...) so that
 * machine noise hits all three alike; the time of every step is taken between fit's onBatchBegin
 * and onBatchEnd callbacks; the first repetition is a warm-up; medians are reported.
 * Targets (SAM computes two gradients): SAM/base <= 2.0, mSAM(4)/base <= 2.2.
 */
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { selectBackend } from 'tfjs-sam-quantease/backend';
import { sam } from 'tfjs-sam-quantease/sam';
import { isMain, parseArgs, runMain } from './lib/args.ts';

// ---- constants ----------------------------------------------------------------------------
/** Steps per fit call (one repetition), full and quick. */
const STEPS = { full: 4, quick: 2 };
/** Repetitions per variant (the first is a warm-up), full and quick. */
const REPS = { full: 7, quick: 2 };
/** Steps timed per backend for the backend comparison (cpu is ~50x slower: keep it short). */
const BACKEND_STEPS = { full: 5, quick: 2 };
const TARGET_SAM = 2.0;
const TARGET_MSAM = 2.2;

type Variant = 'base' | 'SAM' | 'mSAM(4)';
const VARIANTS: Variant[] = ['base', 'SAM', 'mSAM(4)'];

export interface ModelRow {
  model: string;
  batch: number;
  /** Median wall-clock ms per step. */
  baseMs: number;
  samMs: number;
  msamMs: number;
  samRatio: number;
  msamRatio: number;
  samPass: boolean;
  msamPass: boolean;
  /** Median process-CPU ms per step (the wasm backend is single-threaded: CPU time = compute). */
  baseCpuMs: number;
  samCpuMs: number;
  msamCpuMs: number;
}

export interface BackendRow {
  backend: string;
  msPerStep: number;
  fixedWasmSpeedup: number;
}

export interface BenchSamResult {
  backend: string;
  rows: ModelRow[];
  backends: BackendRow[];
}

// ---- models and data ----------------------------------------------------------------------
function mlp(): tfl.LayersModel {
  const m = tfl.sequential();
  m.add(tfl.layers.dense({ inputShape: [784], units: 256, activation: 'relu', kernelInitializer: tfl.initializers.glorotUniform({ seed: 1 }) }));
  m.add(tfl.layers.dense({ units: 256, activation: 'relu', kernelInitializer: tfl.initializers.glorotUniform({ seed: 2 }) }));
  m.add(tfl.layers.dense({ units: 10, activation: 'softmax', kernelInitializer: tfl.initializers.glorotUniform({ seed: 3 }) }));
  return m;
}

function cnn(): tfl.LayersModel {
  const m = tfl.sequential();
  m.add(tfl.layers.conv2d({ inputShape: [28, 28, 1], filters: 8, kernelSize: 3, kernelInitializer: tfl.initializers.glorotUniform({ seed: 4 }) }));
  m.add(tfl.layers.batchNormalization());
  m.add(tfl.layers.activation({ activation: 'relu' }));
  m.add(tfl.layers.maxPooling2d({ poolSize: 2 }));
  m.add(tfl.layers.conv2d({ filters: 16, kernelSize: 3, kernelInitializer: tfl.initializers.glorotUniform({ seed: 5 }) }));
  m.add(tfl.layers.batchNormalization());
  m.add(tfl.layers.activation({ activation: 'relu' }));
  m.add(tfl.layers.maxPooling2d({ poolSize: 2 }));
  m.add(tfl.layers.flatten());
  m.add(tfl.layers.dense({ units: 10, activation: 'softmax', kernelInitializer: tfl.initializers.glorotUniform({ seed: 6 }) }));
  return m;
}

/** Seeded synthetic inputs and one-hot labels for `steps` batches. */
function data(shape: number[], batch: number, steps: number, seed: number): { x: tf.Tensor; y: tf.Tensor } {
  const n = batch * steps;
  return tf.tidy(() => {
    const x = tf.randomNormal([n, ...shape], 0, 1, 'float32', seed);
    const labels = tf.randomUniform([n], 0, 10, 'int32', seed + 1);
    return { x, y: tf.cast(tf.oneHot(labels as tf.Tensor1D, 10), 'float32') };
  });
}

function compile(model: tfl.LayersModel, variant: Variant): void {
  const base = tf.train.adam(1e-3);
  const optimizer = variant === 'base' ? base : variant === 'SAM' ? sam(base, { rho: 0.05 }) : sam(base, { rho: 0.05, microBatches: 4, model });
  model.compile({ optimizer, loss: 'categoricalCrossentropy', metrics: ['accuracy'] });
}

/** Process CPU time in ms (user + system): robust to other processes sharing the cores. */
function cpuMs(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
}

interface StepTimes {
  wall: number[];
  cpu: number[];
}

/** Runs one fit epoch over x / y and returns the wall and CPU time of every step (ms). */
async function timedFit(model: tfl.LayersModel, x: tf.Tensor, y: tf.Tensor, batch: number): Promise<StepTimes> {
  const times: StepTimes = { wall: [], cpu: [] };
  let t0 = 0;
  let c0 = 0;
  await model.fit(x, y, {
    batchSize: batch,
    epochs: 1,
    shuffle: false,
    verbose: 0,
    yieldEvery: 'never',
    callbacks: {
      onBatchBegin: async () => {
        t0 = performance.now();
        c0 = cpuMs();
      },
      onBatchEnd: async () => {
        times.wall.push(performance.now() - t0);
        times.cpu.push(cpuMs() - c0);
      },
    },
  });
  return times;
}

const median = (v: number[]): number => {
  const s = [...v].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

/** Base, SAM and mSAM side by side on one architecture. */
async function benchModel(name: string, build: () => tfl.LayersModel, shape: number[], batch: number, quick: boolean): Promise<ModelRow> {
  const steps = quick ? STEPS.quick : STEPS.full;
  const reps = quick ? REPS.quick : REPS.full;
  const models = VARIANTS.map(() => build());
  const w0 = models[0].getWeights();
  models.slice(1).forEach((m) => m.setWeights(w0));
  models.forEach((m, i) => compile(m, VARIANTS[i]));
  const { x, y } = data(shape, batch, steps, 42);
  const times: Record<Variant, StepTimes> = { base: { wall: [], cpu: [] }, SAM: { wall: [], cpu: [] }, 'mSAM(4)': { wall: [], cpu: [] } };
  for (let r = 0; r < reps; r++) {
    // Rotate the order each repetition so no variant always runs first.
    for (let k = 0; k < VARIANTS.length; k++) {
      const i = (k + r) % VARIANTS.length;
      const t = await timedFit(models[i], x, y, batch);
      if (r > 0) {
        times[VARIANTS[i]].wall.push(...t.wall);
        times[VARIANTS[i]].cpu.push(...t.cpu);
      }
    }
  }
  tf.dispose([x, y]);
  models.forEach((m) => m.dispose());
  const baseMs = median(times.base.wall);
  const samMs = median(times.SAM.wall);
  const msamMs = median(times['mSAM(4)'].wall);
  return {
    model: name, batch, baseMs, samMs, msamMs,
    samRatio: samMs / baseMs, msamRatio: msamMs / baseMs,
    samPass: samMs / baseMs <= TARGET_SAM, msamPass: msamMs / baseMs <= TARGET_MSAM,
    baseCpuMs: median(times.base.cpu), samCpuMs: median(times.SAM.cpu), msamCpuMs: median(times['mSAM(4)'].cpu),
  };
}

/** Median ms per base (adam) MLP step under fit on the current backend. */
async function mlpStepMs(steps: number): Promise<number> {
  const model = mlp();
  compile(model, 'base');
  const { x, y } = data([784], 128, steps + 1, 7);
  const times = await timedFit(model, x, y, 128);
  tf.dispose([x, y]);
  model.dispose();
  return median(times.cpu.slice(1)); // CPU ms; the first step builds slots and warms up
}

/** Fixed wasm vs stock wasm vs cpu on the MLP step. */
async function benchBackends(quick: boolean): Promise<BackendRow[]> {
  const steps = quick ? BACKEND_STEPS.quick : BACKEND_STEPS.full;
  const ms: Record<string, number> = {};
  for (const prefer of ['wasm', 'wasm-stock', 'cpu', 'wasm']) {
    try {
      await selectBackend({ prefer, quiet: true });
    } catch {
      continue; // a backend that does not load is left out of the table
    }
    const key = prefer;
    const t = await mlpStepMs(prefer === 'cpu' ? Math.min(steps, 3) : steps);
    ms[key] = ms[key] === undefined ? t : Math.min(ms[key], t);
  }
  const fixed = ms.wasm;
  return Object.entries(ms).map(([backend, v]) => ({
    backend: backend === 'wasm' ? 'wasm (fixed kernels)' : backend === 'wasm-stock' ? 'wasm (stock)' : backend,
    msPerStep: v,
    fixedWasmSpeedup: fixed === undefined ? NaN : v / fixed,
  }));
}

// ---- main ---------------------------------------------------------------------------------
export async function main(argv: string[] = process.argv.slice(2)): Promise<BenchSamResult> {
  const args = parseArgs(argv, { name: 'bench_sam' });
  const chosen = await selectBackend();
  const rows = [
    await benchModel('MLP 784-256-256-10', mlp, [784], 128, args.quick),
    await benchModel('CNN + BatchNorm 28x28x1', cnn, [28, 28, 1], 64, args.quick),
  ];
  const backends = await benchBackends(args.quick);
  // Leave the default backend current again.
  await selectBackend({ prefer: chosen.name, quiet: true });

  const f = (v: number, d = 1) => v.toFixed(d);
  console.log(`\nSAM / mSAM step cost under model.fit, backend ${chosen.name}, base optimizer adam, median ms per step (wall; CPU in brackets)`);
  console.table(rows.map((r) => ({
    model: r.model, batch: r.batch,
    base: `${f(r.baseMs)} [${f(r.baseCpuMs)}]`, SAM: `${f(r.samMs)} [${f(r.samCpuMs)}]`, 'mSAM(4)': `${f(r.msamMs)} [${f(r.msamCpuMs)}]`,
    'SAM/base': `${f(r.samRatio, 2)} [${f(r.samCpuMs / r.baseCpuMs, 2)}] ${r.samPass ? 'PASS' : 'MISS'} (<= ${TARGET_SAM})`,
    'mSAM/base': `${f(r.msamRatio, 2)} [${f(r.msamCpuMs / r.baseCpuMs, 2)}] ${r.msamPass ? 'PASS' : 'MISS'} (<= ${TARGET_MSAM})`,
  })));
  console.log('MLP step (adam, batch 128, under fit) by backend, median CPU ms per step');
  console.table(backends.map((b) => ({ backend: b.backend, 'ms/step': f(b.msPerStep), 'x fixed wasm': f(b.fixedWasmSpeedup, 2) })));
  return { backend: chosen.name, rows, backends };
}

if (isMain(import.meta.url)) runMain(main);
