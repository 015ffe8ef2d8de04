/**
 * Benchmark of the layer quantizers on LLM-like layer problems (a script, not a test).
 *
 *   npm run bench:quant            # in = out = 512, 1024, 2048; n = 4096; 3 and 4 bits
 *   npm run bench:quant -- --quick # in = out = 128, n = 512: a few seconds
 *   npm run bench:quant -- --sizes 512,1024 --bits 3
 *   npm run bench:quant -- --no-speed # without the kernel-vs-JS speed table (bench_quantease_speed.ts)
 *
 * Problems: X = G diag-scaled-mix [n, in] with a power-law spectrum (row scales k^-alpha of a
 * random mixing matrix) and a few outlier channels 10-100x larger; W heavy-tailed (Gaussian with
 * log-normal scales). Prints a markdown table: relative error tr(D S D^T) / tr(W S W^T) and
 * seconds per method, and for QuantEase the achieved GFLOP/s (2 out in^2 per sweep) next to the
 * backend's own plain matMul GFLOP/s measured in the same run at in x in x out.
 */
import * as tf from '@tensorflow/tfjs-core';
import { quantizeLayer, CovarianceAccumulator, type QuantizeLayerOptions } from 'tfjs-sam-quantease/quantease';
import { cpuSeconds, matMulRate, quantEaseSpeed, speedTable, type SpeedRow } from './bench_quantease_speed.ts';

export { cpuSeconds, matMulRate };

// ---- constants (one-line guidance) ----
const SPECTRUM_ALPHA = 0.75;    // power-law decay of the feature mixing scales (higher = more correlated)
const OUTLIER_CHANNELS = 4;     // per 512 inputs; each 10-100x larger
const CALIBRATION_BATCH = 1024; // rows per CovarianceAccumulator.add

export interface BenchRow {
  size: number;
  bits: number;
  method: string;
  relativeError: number;
  seconds: number;
  /** QuantEase sweeps: 2 out in^2 per sweep / CPU seconds of the sweeps. */
  gflops?: number;
  /** Plain matMul [in, in] x [in, out] GFLOP/s (CPU time) measured just before. */
  matMulGflops?: number;
}

/** A seeded LLM-like layer problem {weight [out, in], sigma [in, in]}. Caller disposes. */
export function makeLayerProblem(inputs: number, outputs: number, rows: number, seed: number): { weight: tf.Tensor2D; sigma: tf.Tensor2D } {
  const mix = tf.tidy(() => {
    const scales = tf.reshape(tf.pow(tf.range(1, inputs + 1), -SPECTRUM_ALPHA), [inputs, 1]);
    const m = tf.mul(tf.randomNormal([inputs, inputs], 0, 1 / Math.sqrt(inputs), 'float32', seed), scales);
    // outlier channels: columns of X (after mixing) scaled by 10..100
    const colScale = new Float32Array(inputs).fill(1);
    const count = Math.max(2, Math.round((OUTLIER_CHANNELS * inputs) / 512));
    let state = seed * 7919 + 17;
    for (let i = 0; i < count; i++) {
      state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
      const c = state % inputs;
      state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
      colScale[c] = 10 + 90 * (state / 2 ** 32);
    }
    return tf.mul(m, tf.tensor2d(colScale, [1, inputs])) as tf.Tensor2D;
  });
  const acc = new CovarianceAccumulator(inputs);
  for (let done = 0, b = 0; done < rows; done += CALIBRATION_BATCH, b++) {
    const n = Math.min(CALIBRATION_BATCH, rows - done);
    const x = tf.tidy(() => tf.matMul(tf.randomNormal([n, inputs], 0, 1, 'float32', seed * 1000 + b + 1), mix)) as tf.Tensor2D;
    acc.add(x);
    x.dispose();
  }
  const sigma = acc.sigma();
  acc.dispose();
  mix.dispose();
  const weight = tf.tidy(() =>
    tf.mul(
      tf.randomNormal([outputs, inputs], 0, 1 / Math.sqrt(inputs), 'float32', seed + 101),
      tf.exp(tf.mul(0.6, tf.randomNormal([outputs, inputs], 0, 1, 'float32', seed + 202))),
    ),
  ) as tf.Tensor2D;
  return { weight, sigma };
}

const METHODS: { name: string; options: QuantizeLayerOptions; sweepsFlops?: boolean }[] = [
  { name: 'RTN', options: { method: 'rtn' } },
  { name: 'GPTQ', options: { method: 'gptq' } },
  { name: 'GPTQ act-order', options: { method: 'gptq', actOrder: true } },
  { name: 'QuantEase', options: { method: 'quantease' }, sweepsFlops: true },
  { name: 'QuantEase from GPTQ act-order', options: { method: 'quantease', init: 'gptq', actOrder: true } },
  { name: 'QuantEase from GPTQ act-order, all sweeps rounded', options: { method: 'quantease', init: 'gptq', actOrder: true, unroundedSweepEvery: 0 } },
  { name: 'QuantEase + 1% outliers', options: { method: 'quantease', outliers: { fraction: 0.01 } } },
  { name: 'QuantEase, all sweeps rounded', options: { method: 'quantease', unroundedSweepEvery: 0 } },
];

function parseArgs(argv: string[]) {
  const quick = argv.includes('--quick');
  const get = (flag: string) => {
    const i = argv.indexOf(flag);
    return i >= 0 ? argv[i + 1] : undefined;
  };
  const sizes = (get('--sizes') ?? (quick ? '128' : '512,1024,2048')).split(',').map(Number);
  const bits = (get('--bits') ?? '3,4').split(',').map(Number);
  const rows = Number(get('--rows') ?? (quick ? 512 : 4096));
  const methods = get('--methods')?.split(',');
  const extra = get('--options') ? (JSON.parse(get('--options')!) as QuantizeLayerOptions) : {};
  const speed = !argv.includes('--no-speed') && (!methods || methods.includes('QuantEase'));
  return { quick, sizes, bits, rows, methods, extra, speed };
}

export async function main(argv = process.argv.slice(2)): Promise<BenchRow[]> {
  const args = parseArgs(argv);
  // ---- configure: the backend ----
  let backendNote: string;
  try {
    const { selectBackend } = await import('tfjs-sam-quantease/backend');
    backendNote = (await selectBackend({ quiet: true })).name;
  } catch {
    await import('@tensorflow/tfjs-backend-wasm');
    await tf.setBackend('wasm');
    backendNote = 'wasm';
  }
  console.log(`backend: ${tf.getBackend()} (${backendNote}); n = ${args.rows}`);
  const rows: BenchRow[] = [];
  const speedRows: SpeedRow[] = [];
  const lines = [
    '| in = out | bits | method | rel. error | seconds (wall) | seconds (CPU) | sweep GFLOP/s (plain matMul) |',
    '| --- | --- | --- | --- | --- | --- | --- |',
  ];
  for (const size of args.sizes) {
    console.error(`generating in = out = ${size}, n = ${args.rows}`);
    // ---- generate ----
    const problem = makeLayerProblem(size, size, args.rows, size);
    for (const bits of args.bits) {
      for (const m of METHODS) {
        if (args.methods && !args.methods.includes(m.name)) continue;
        // ---- quantize ----
        // sweep-only CPU time: from the end of the first sweep to the end of the last
        let first = 0;
        let last = 0;
        const onProgress = (p: { done: number }) => {
          if (p.done === 1) first = cpuSeconds();
          last = cpuSeconds();
        };
        const options: QuantizeLayerOptions = { ...m.options, bits, ...args.extra, ...(m.sweepsFlops ? { onProgress } : {}) };
        const mm = m.sweepsFlops ? matMulRate(size, size, size) : 0; // measured right before, same load
        const t0 = performance.now();
        const c0 = cpuSeconds();
        const res = await quantizeLayer(problem, options);
        const seconds = (performance.now() - t0) / 1000;
        const cpu = cpuSeconds() - c0;
        res.weight.dispose();
        const row: BenchRow = { size, bits, method: m.name, relativeError: res.stats.relativeError, seconds };
        if (m.sweepsFlops && res.stats.iterations > 1) {
          row.gflops = (2 * size * size * size * (res.stats.iterations - 1)) / (last - first) / 1e9;
          row.matMulGflops = mm;
        }
        rows.push(row);
        const line = `| ${size} | ${bits} | ${m.name} | ${row.relativeError.toPrecision(3)} | ${seconds.toFixed(2)} | ${cpu.toFixed(2)} | ${
          row.gflops !== undefined ? `${row.gflops.toFixed(1)} (${mm.toFixed(1)})` : ''
        } |`;
        lines.push(line);
        console.error(line);
      }
    }
    // ---- speed: QuantEase with the wasm in-block kernel vs its JS fallback, next to plain matMul ----
    if (args.speed) speedRows.push(...(await quantEaseSpeed(problem, size, args.bits[0])));
    problem.weight.dispose();
    problem.sigma.dispose();
  }
  // ---- report ----
  console.log(lines.join('\n'));
  if (speedRows.length > 0) console.log(`\nQuantEase speed, ${args.bits[0]} bits, defaults (30 sweeps):\n${speedTable(speedRows)}`);
  return rows;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  await main();
}
