/**
 * Load cost of packed models whose topologies declare expensive initializers, against stock
 * tf.loadLayersModel (both skip initializers now), and the cost of a hostile model.json that
 * declares two Dense(16384) layers. Run: npx tsx recipes/bench_load.ts
 */
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import * as tfl from '@tensorflow/tfjs-layers';
import { buildModel, modelArtifacts } from '../adapters/io/artifacts.ts';
import { loadQuantized, encodeArtifacts } from 'tfjs-sam-quantease/io';
import {isMain, runMain} from './lib/args.ts';

export async function main(): Promise<void> {
await tf.setBackend('cpu');
const ortho = (topo: unknown) => JSON.parse(JSON.stringify(topo), (k, v) => (k === 'kernel_initializer' || k === 'recurrent_initializer') && v?.class_name ? { class_name: 'Orthogonal', config: { gain: 1, seed: null } } : v);
for (const [label, m] of [
  ['Dense 512 -> 512, Orthogonal', tfl.sequential({ layers: [tfl.layers.dense({ inputShape: [512], units: 512, kernelInitializer: 'zeros' })] })],
  ['LSTM(128) on [20, 64], Orthogonal recurrent', tfl.sequential({ layers: [tfl.layers.lstm({ inputShape: [20, 64], units: 128, kernelInitializer: 'zeros', recurrentInitializer: 'zeros' })] })],
] as const) {
  const a = await modelArtifacts(m);
  const topo = ortho(a.modelTopology);
  const { json, bin } = encodeArtifacts({ ...a, modelTopology: topo }, new Map());
  const fetchFn = (async (u: string) => new Response(u.endsWith('model.json') ? JSON.stringify(json) : bin.slice())) as unknown as typeof fetch;
  (await loadQuantized('https://x.test/m/', { fetch: fetchFn })).dispose(); // warm-up
  let t0 = performance.now();
  const q = await loadQuantized('https://x.test/m/', { fetch: fetchFn });
  const ours = performance.now() - t0;
  t0 = performance.now();
  const s = await tfl.loadLayersModel(tf.io.fromMemory({ modelTopology: topo, weightSpecs: a.weightSpecs, weightData: a.weightData }));
  const stock = performance.now() - t0;
  console.log(`${label}: loadQuantized ${ours.toFixed(0)} ms, stock tf.loadLayersModel ${stock.toFixed(0)} ms`);
  q.dispose(); s.dispose(); m.dispose();
}
// The hostile file: a small model.json whose topology declares two Dense(16384) layers.
const small = tfl.sequential({ layers: [tfl.layers.dense({ inputShape: [4], units: 2 })] });
const a = await modelArtifacts(small);
const { json, bin } = encodeArtifacts(a, new Map());
const big = JSON.parse(JSON.stringify(json));
big.packedTopology.config.layers = [
  { class_name: 'Dense', config: { units: 16384, batch_input_shape: [null, 16384], name: 'h1' } },
  { class_name: 'Dense', config: { units: 16384, name: 'h2' } },
];
const text = JSON.stringify(big);
const fetchFn = (async (u: string) => new Response(u.endsWith('model.json') ? text : bin.slice())) as unknown as typeof fetch;
const rss0 = process.memoryUsage().rss;
let t0 = performance.now();
const err = await loadQuantized('https://x.test/big/', { fetch: fetchFn }).catch((e) => e);
console.log(`hostile ${text.length}-byte model.json declaring 2 x Dense(16384): ${(performance.now() - t0).toFixed(0)} ms, rss +${((process.memoryUsage().rss - rss0) / 2 ** 20).toFixed(0)} MiB: ${err.message.slice(0, 90)}`);
// Forged with a recomputed checksum (FNV is not a signature): it reaches the build, which allocates zeros only.
const { manifestChecksum } = await import('tfjs-sam-quantease/io');
big.manifestChecksum = manifestChecksum(big);
const forged = JSON.stringify(big);
const fetch2 = (async (u: string) => new Response(u.endsWith('model.json') ? forged : bin.slice())) as unknown as typeof fetch;
t0 = performance.now();
const err2 = await loadQuantized('https://x.test/big/', { fetch: fetch2 }).catch((e) => e);
console.log(`same, checksum forged: ${(performance.now() - t0).toFixed(0)} ms, numTensors after ${tf.memory().numTensors}: ${err2.message.slice(0, 120)}`);
small.dispose();
}

if (isMain(import.meta.url)) runMain(main);
