/**
 * The speed part of `npm run bench:quant`: QuantEase's achieved GFLOP/s next to the backend's own
 * plain matMul GFLOP/s measured in the same run, and wall time with the WebAssembly in-block
 * kernel against its JS fallback (same results; the fallback forced with TFJS_SAM_QUANTEASE_KERNEL).
 *
 *   npm run bench:quant -- --sizes 512,1024 --bits 3 --methods QuantEase   # main table + this one
 *   npx tsx recipes/bench_quantease_speed.ts --sizes 1024 --bits 3          # this table only
 *
 * A sweep costs 2 out in^2 flops, almost all in the tfjs matMul P^T += S[:, B] dD_B^T; the sweep
 * rate is counted over the CPU time of sweeps 2..N (this process only: robust to other jobs on
 * the machine), the matMul rate is the median of `MATMUL_REPEATS` products [in, in] x [in, out].
 */
import * as tf from '@tensorflow/tfjs-core';
import { quantizeLayer, type LayerProblem } from 'tfjs-sam-quantease/quantease';
import { KERNEL_ENV_VAR } from '../plugins/quantease/kernels/inner_sweep.ts';

const MATMUL_REPEATS = 7; // median of this many plain matMuls (odd)

/** CPU seconds of this process (user + system): robust to other processes sharing the cores. */
export function cpuSeconds(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[s.length >> 1] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

/** Plain matMul GFLOP/s of the current backend at [m, k] x [k, n]: median of `reps`, CPU time. */
export function matMulRate(m: number, k: number, n: number, reps = MATMUL_REPEATS): number {
  const a = tf.randomNormal([m, k], 0, 1, 'float32', 1) as tf.Tensor2D;
  const b = tf.randomNormal([k, n], 0, 1, 'float32', 2) as tf.Tensor2D;
  tf.matMul(a, b).dispose(); // warm up
  const times: number[] = [];
  for (let i = 0; i < reps; i++) {
    const t0 = cpuSeconds();
    const c = tf.matMul(a, b);
    c.dataSync();
    times.push(cpuSeconds() - t0);
    c.dispose();
  }
  a.dispose();
  b.dispose();
  return (2 * m * k * n) / median(times) / 1e9;
}

export interface SpeedRow {
  size: number;
  bits: number;
  kernel: 'wasm' | 'js';
  relativeError: number;
  /** Whole quantizeLayer call. */
  wallSeconds: number;
  cpuSeconds: number;
  /** Sweeps 2..N: 2 out in^2 flops each over their CPU seconds. */
  sweepGflops: number;
  /** Median plain matMul [in, in] x [in, out] GFLOP/s measured just before. */
  matMulGflops: number;
}

/** Plain QuantEase (30 sweeps from W, min/max grid) on `problem` [size, size] with the kernel, then with the JS fallback. */
export async function quantEaseSpeed(problem: LayerProblem, size: number, bits: number): Promise<SpeedRow[]> {
  const rows: SpeedRow[] = [];
  const saved = process.env[KERNEL_ENV_VAR];
  try {
    for (const kernel of ['wasm', 'js'] as const) {
      process.env[KERNEL_ENV_VAR] = kernel;
      const matMulGflops = matMulRate(size, size, size);
      let first = 0;
      let last = 0;
      let sweeps = 0;
      const onProgress = (p: { done: number; stage?: string }) => {
        if (p.stage !== 'quantease') return; // the sweeps only
        if (p.done === 1) first = cpuSeconds();
        last = cpuSeconds();
        sweeps = p.done;
      };
      const t0 = performance.now();
      const c0 = cpuSeconds();
      // Plain QuantEase (the first release's 30 sweeps): the sweep speed, not the default's GPTQ start, clip search and refits.
      const res = await quantizeLayer(problem, { method: 'quantease', bits, init: 'weights', actOrder: false, clip: false, refit: 0, tolerance: 0, onProgress });
      const wallSeconds = (performance.now() - t0) / 1000;
      const cpu = cpuSeconds() - c0;
      res.weight.dispose();
      const sweepGflops = sweeps > 1 ? (2 * size * size * size * (sweeps - 1)) / (last - first) / 1e9 : NaN;
      rows.push({ size, bits, kernel, relativeError: res.stats.relativeError, wallSeconds, cpuSeconds: cpu, sweepGflops, matMulGflops });
    }
  } finally {
    if (saved === undefined) delete process.env[KERNEL_ENV_VAR];
    else process.env[KERNEL_ENV_VAR] = saved;
  }
  return rows;
}

/** The markdown table of speed rows. */
export function speedTable(rows: SpeedRow[]): string {
  const lines = [
    '| in = out | bits | in-block kernel | rel. error | seconds (wall) | seconds (CPU) | sweep GFLOP/s | plain matMul GFLOP/s (median) | sweep / matMul |',
    '| --- | --- | --- | --- | --- | --- | --- | --- | --- |',
  ];
  for (const r of rows) {
    lines.push(`| ${r.size} | ${r.bits} | ${r.kernel === 'wasm' ? 'WebAssembly SIMD' : 'JS fallback'} | ${r.relativeError.toPrecision(3)} | ${r.wallSeconds.toFixed(2)} | ${r.cpuSeconds.toFixed(2)} | ${r.sweepGflops.toFixed(1)} | ${r.matMulGflops.toFixed(1)} | ${((100 * r.sweepGflops) / r.matMulGflops).toFixed(0)}% |`);
  }
  return lines.join('\n');
}

export async function main(argv = process.argv.slice(2)): Promise<SpeedRow[]> {
  const get = (flag: string) => {
    const i = argv.indexOf(flag);
    return i >= 0 ? argv[i + 1] : undefined;
  };
  const sizes = (get('--sizes') ?? '512,1024').split(',').map(Number);
  const bits = Number((get('--bits') ?? '3').split(',')[0]);
  const n = Number(get('--rows') ?? 4096);
  const { selectBackend } = await import('tfjs-sam-quantease/backend');
  const backend = await selectBackend({ quiet: true });
  const { makeLayerProblem } = await import('./bench_quant.ts');
  console.log(`backend: ${tf.getBackend()} (${backend.name}); n = ${n}`);
  const rows: SpeedRow[] = [];
  for (const size of sizes) {
    const problem = makeLayerProblem(size, size, n, size);
    rows.push(...(await quantEaseSpeed(problem, size, bits)));
    problem.weight.dispose();
    problem.sigma.dispose();
  }
  console.log(speedTable(rows));
  return rows;
}

// No top-level await here: main() imports bench_quant.ts, which imports this module.
if (import.meta.url === `file://${process.argv[1]}`) {
  main().catch((e: unknown) => {
    console.error(e);
    process.exitCode = 1;
  });
}
