/**
 * Benchmark of the layer quantizers on LLM-like layer problems (a script, not a test).
 *
 *   npm run bench:quant            # in = out = 512, 1024, 2048; n = 4096; 3 and 4 bits
 *   npm run bench:quant -- --quick # in = out = 128, n = 512: a few seconds
 *   npm run bench:quant -- --sizes 512,1024 --bits 3
 *   npm run bench:quant -- --no-speed # without the kernel-vs-JS speed table (bench_quantease_speed.ts)
 *   npm run bench:quant -- --ablation  # issue 12's ablation of the default (bench_quant_ablation.ts)
 *
 * Problems: X = G diag-scaled-mix [n, in] with a power-law spectrum (row scales k^-alpha of a
 * random mixing matrix) and a few outlier channels 10-100x larger; W heavy-tailed (Gaussian with
 * log-normal scales). Prints a markdown table: relative error tr(D S D^T) / tr(W S W^T) and
 * seconds per method, and for QuantEase the achieved GFLOP/s (2 out in^2 per sweep) next to the
 * backend's own plain matMul GFLOP/s measured in the same run at in x in x out.
 */
import * as tf from '@tensorflow/tfjs-core';
import { quantizeLayer, type QuantizeLayerOptions } from 'tfjs-sam-quantease/quantease';
import { makeLayerProblem } from './lib/quant_problems.ts';
import { cpuSeconds, matMulRate, quantEaseSpeed, speedTable, type SpeedRow } from './bench_quantease_speed.ts';

export { makeLayerProblem, makeSpectralProblem } from './lib/quant_problems.ts';
export { cpuSeconds, matMulRate };


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

/** The first release's plain QuantEase (the default now adds a clipped grid, a GPTQ start and refits). */
const PLAIN: QuantizeLayerOptions = { method: 'quantease', init: 'weights', actOrder: false, clip: false, refit: 0, tolerance: 0 };

const METHODS: { name: string; options: QuantizeLayerOptions; sweepsFlops?: boolean }[] = [
  { name: 'RTN', options: { method: 'rtn' } },
  { name: 'GPTQ', options: { method: 'gptq' } },
  { name: 'GPTQ act-order', options: { method: 'gptq', actOrder: true } },
  { name: 'QuantEase', options: PLAIN, sweepsFlops: true },
  { name: 'QuantEase from GPTQ act-order', options: { ...PLAIN, init: 'gptq', actOrder: true } },
  { name: 'QuantEase from GPTQ act-order, all sweeps rounded', options: { ...PLAIN, init: 'gptq', actOrder: true, unroundedSweepEvery: 0 } },
  { name: 'QuantEase + 1% outliers', options: { ...PLAIN, outliers: { fraction: 0.01 } } },
  { name: 'QuantEase, all sweeps rounded', options: { ...PLAIN, unroundedSweepEvery: 0 } },
  { name: 'default (method left out)', options: {} },
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
  if (argv.includes('--ablation')) {
    const { ablation } = await import('./bench_quant_ablation.ts');
    console.log(await ablation(argv));
    return [];
  }
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
