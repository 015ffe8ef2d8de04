/**
 * Backend benchmark: what the wasm training kernels buy.
 *
 *   npx tsx recipes/bench_backend.ts
 *
 * Prints (1) GFLOP/s of a 1024 x 1024 matMul, plain and with transposeA / transposeB, on cpu,
 * stock wasm and wasm with our kernels, and (2) ms per `model.fit` step of an MLP
 * 784-256-256-10 at batch 128 with SGD on the same three, medians of repeated runs, with the
 * speed-ups; with `--cnn` also a small CNN step on cpu and wasm. `measureMlpStep`,
 * `measureCnnStep`, `measureFitStep` and `measureMatMul` are exported for other benchmarks
 * (e.g. the SAM one: pass `makeOptimizer`).
 */
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { pathToFileURL } from 'node:url';
import { selectBackend } from 'tfjs-sam-quantease/backend';

// ---- constants -------------------------------------------------------------------------------
/** Side of the square matrices (the cpu backend needs ~6 s per product at 1024: keep CPU_REPS low). */
const MATMUL_SIZE = 1024;
/** Timed products per wasm variant and round; one untimed warm-up precedes them (stock
 * transposed products take 5-25 s each on a loaded 2-core machine: keep this at 1). */
const WASM_REPS = 1;
/** Timed products per cpu variant. */
const CPU_REPS = 1;
/** Rounds that alternate stock and fixed wasm (medians over rounds): fair under varying load. */
const ROUNDS = 3;
/** MLP layer widths and batch (the FINDINGS reference point). */
const MLP_BATCH = 128;
/** `model.fit` runs per call of measureMlpStep (median taken) and steps per run. */
const MLP_RUNS = 5;
const MLP_STEPS_PER_RUN = 4;

export type BenchBackend = 'cpu' | 'wasm-stock' | 'wasm';
export type MatMulVariant = 'plain' | 'transposeA' | 'transposeB';

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

/** Activates `backend` ('wasm' with our kernels, 'wasm-stock' without) without printing. */
export async function useBackend(backend: BenchBackend): Promise<void> {
  await selectBackend({ prefer: backend, quiet: true });
}

/**
 * GFLOP/s (2 n^3 / time) of an n x n float32 matMul on `backend`, median of `reps` timed runs.
 * @param options.size n, default 1024. @param options.reps timed runs, default 5.
 */
export async function measureMatMul(
  backend: BenchBackend,
  variant: MatMulVariant,
  options: { size?: number; reps?: number } = {},
): Promise<{ gflops: number; msMedian: number }> {
  const size = options.size ?? MATMUL_SIZE;
  const reps = options.reps ?? 5;
  await useBackend(backend);
  const a = tf.randomNormal([size, size], 0, 1, 'float32', 1);
  const b = tf.randomNormal([size, size], 0, 1, 'float32', 2);
  const run = () => {
    const t0 = performance.now();
    const c = tf.matMul(a, b, variant === 'transposeA', variant === 'transposeB');
    c.dataSync();
    const ms = performance.now() - t0;
    c.dispose();
    return ms;
  };
  if (backend !== 'cpu') run(); // warm-up (XNNPACK operator creation)
  const times = Array.from({ length: reps }, run);
  tf.dispose([a, b]);
  const msMedian = median(times);
  return { gflops: (2 * size ** 3) / (msMedian * 1e6), msMedian };
}

export interface MlpStepOptions {
  /** Batch size; default 128. */
  batchSize?: number;
  /** Hidden widths; default [256, 256] (input 784, output 10). */
  hidden?: number[];
  /** Timed `model.fit` runs, median taken; default 5. */
  runs?: number;
  /** Optimizer steps per run; default 4. */
  stepsPerRun?: number;
  /** Optimizer factory (e.g. a SAM wrapper); default `tf.train.sgd(0.01)`. */
  makeOptimizer?: () => tf.Optimizer;
}

/**
 * Milliseconds per `model.fit` step of `build()` (compiled here with categorical cross-entropy
 * over 10 classes) on `backend`: median over runs of (run time / steps), after one untimed run.
 */
export async function measureFitStep(
  backend: BenchBackend,
  build: () => tfl.Sequential,
  inputShape: number[],
  options: Omit<MlpStepOptions, 'hidden'> = {},
): Promise<{ msPerStep: number; samples: number[] }> {
  const batchSize = options.batchSize ?? MLP_BATCH;
  const runs = options.runs ?? MLP_RUNS;
  const steps = options.stepsPerRun ?? MLP_STEPS_PER_RUN;
  await useBackend(backend);
  const model = build();
  model.compile({ optimizer: options.makeOptimizer?.() ?? tf.train.sgd(0.01), loss: 'categoricalCrossentropy' });
  const n = batchSize * steps;
  const x = tf.randomNormal([n, ...inputShape], 0, 1, 'float32', 3);
  const labels = tf.tidy(() => tf.oneHot(tf.cast(tf.floor(tf.randomUniform([n], 0, 10, 'float32', 4)), 'int32'), 10));
  const fitOnce = async () => {
    const t0 = performance.now();
    await model.fit(x, labels, { batchSize, epochs: 1, shuffle: false, verbose: 0 });
    return (performance.now() - t0) / steps;
  };
  await fitOnce(); // warm-up
  const samples: number[] = [];
  for (let r = 0; r < runs; r++) samples.push(await fitOnce());
  tf.dispose([x, labels]);
  model.dispose();
  return { msPerStep: median(samples), samples };
}

/**
 * Milliseconds per `model.fit` step of an MLP 784-hidden-10 (relu, softmax, categorical
 * cross-entropy) on `backend`: median over runs of (run time / steps), after one untimed run.
 */
export async function measureMlpStep(
  backend: BenchBackend,
  options: MlpStepOptions = {},
): Promise<{ msPerStep: number; samples: number[] }> {
  const hidden = options.hidden ?? [256, 256];
  const build = () => {
    const model = tfl.sequential();
    hidden.forEach((units, i) =>
      model.add(tfl.layers.dense({ units, activation: 'relu', ...(i === 0 ? { inputShape: [784] } : {}) })),
    );
    model.add(tfl.layers.dense({ units: 10, activation: 'softmax' }));
    return model;
  };
  return measureFitStep(backend, build, [784], options);
}

/**
 * Milliseconds per `model.fit` step of a small CNN on 28x28x1 (conv 16 3x3 stride 2, depthwise
 * 3x3, conv 32 3x3 stride 2, dense 10), default batch 32. Stock wasm cannot train it (no
 * Conv2DBackpropFilter), so compare 'wasm' with 'cpu'.
 */
export async function measureCnnStep(
  backend: BenchBackend,
  options: Omit<MlpStepOptions, 'hidden'> = {},
): Promise<{ msPerStep: number; samples: number[] }> {
  const build = () => {
    const model = tfl.sequential();
    model.add(tfl.layers.conv2d({ inputShape: [28, 28, 1], filters: 16, kernelSize: 3, strides: 2, padding: 'same', activation: 'relu' }));
    model.add(tfl.layers.depthwiseConv2d({ kernelSize: 3, padding: 'same', activation: 'relu' }));
    model.add(tfl.layers.conv2d({ filters: 32, kernelSize: 3, strides: 2, padding: 'same', activation: 'relu' }));
    model.add(tfl.layers.flatten());
    model.add(tfl.layers.dense({ units: 10, activation: 'softmax' }));
    return model;
  };
  return measureFitStep(backend, build, [28, 28, 1], { batchSize: 32, ...options });
}

export async function main(): Promise<void> {
  const backends: BenchBackend[] = ['cpu', 'wasm-stock', 'wasm'];
  const variants: MatMulVariant[] = ['plain', 'transposeA', 'transposeB'];
  const progress = (line: string) => process.stderr.write(`${line}\n`);

  // ---- matMul: cpu once, then rounds alternating stock and fixed wasm ------------------------
  const gflopSamples: Record<string, Record<string, number[]>> = {};
  for (const b of backends) gflopSamples[b] = Object.fromEntries(variants.map((v) => [v, [] as number[]]));
  for (const variant of variants) {
    gflopSamples.cpu[variant].push((await measureMatMul('cpu', variant, { reps: CPU_REPS })).gflops);
    progress(`cpu matMul ${variant}: ${gflopSamples.cpu[variant][0].toFixed(2)} GFLOP/s`);
  }
  for (let r = 0; r < ROUNDS; r++) {
    for (const backend of ['wasm-stock', 'wasm'] as const) {
      for (const variant of variants) {
        gflopSamples[backend][variant].push((await measureMatMul(backend, variant, { reps: WASM_REPS })).gflops);
      }
    }
    progress(`matMul round ${r + 1}/${ROUNDS} done`);
  }
  const gflops: Record<string, Record<string, number>> = {};
  for (const b of backends) gflops[b] = Object.fromEntries(variants.map((v) => [v, median(gflopSamples[b][v])]));

  // ---- MLP model.fit step: cpu once, then alternating rounds ---------------------------------
  const mlpSamples: Record<string, number[]> = { cpu: [], 'wasm-stock': [], wasm: [] };
  mlpSamples.cpu.push((await measureMlpStep('cpu', { runs: 1 })).msPerStep);
  progress(`cpu MLP step: ${mlpSamples.cpu[0].toFixed(1)} ms`);
  for (let r = 0; r < ROUNDS; r++) {
    for (const backend of ['wasm-stock', 'wasm'] as const) {
      mlpSamples[backend].push((await measureMlpStep(backend, { runs: 1 })).msPerStep);
    }
    progress(`MLP round ${r + 1}/${ROUNDS}: stock ${mlpSamples['wasm-stock'][r].toFixed(1)} ms, fixed ${mlpSamples.wasm[r].toFixed(1)} ms`);
  }
  const mlp: Record<string, number> = Object.fromEntries(backends.map((b) => [b, median(mlpSamples[b])]));

  // ---- optional: small CNN (--cnn), cpu against fixed wasm ----------------------------------
  const cnn = process.argv.includes('--cnn')
    ? { cpu: (await measureCnnStep('cpu', { runs: 1 })).msPerStep, wasm: (await measureCnnStep('wasm')).msPerStep }
    : null;

  // ---- table ---------------------------------------------------------------------------------
  const f = (v: number) => v.toFixed(2).padStart(10);
  console.log(`matMul ${MATMUL_SIZE}^2, GFLOP/s (cpu: ${CPU_REPS} run; wasm: median over ${ROUNDS} alternating stock/fixed rounds)`);
  console.log(`${'variant'.padEnd(12)}${'cpu'.padStart(10)}${'wasm-stock'.padStart(12)}${'wasm'.padStart(10)}${'wasm/stock'.padStart(12)}`);
  for (const v of variants) {
    const g = (b: string) => gflops[b][v];
    console.log(`${v.padEnd(12)}${f(g('cpu'))}${f(g('wasm-stock')).padStart(12)}${f(g('wasm'))}${(g('wasm') / g('wasm-stock')).toFixed(1).padStart(11)}x`);
  }
  console.log(`\nMLP 784-256-256-10, batch ${MLP_BATCH}, model.fit with sgd, ms per step (cpu: 1 run; wasm: median of ${ROUNDS} alternating rounds)`);
  for (const b of backends) console.log(`${b.padEnd(12)}${f(mlp[b])}`);
  console.log(
    `speed-up: wasm vs wasm-stock ${(mlp['wasm-stock'] / mlp.wasm).toFixed(1)}x, wasm vs cpu ${(mlp.cpu / mlp.wasm).toFixed(1)}x`,
  );
  if (cnn) {
    console.log(`\nCNN 28x28x1 (conv, depthwise, conv, dense), batch 32, ms per step: cpu ${cnn.cpu.toFixed(1)}, wasm ${cnn.wasm.toFixed(1)}` +
      ` (${(cnn.cpu / cnn.wasm).toFixed(1)}x; stock wasm cannot train it)`);
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  await main();
}
