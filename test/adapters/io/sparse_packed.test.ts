/**
 * Sparse + quantized models end to end: quantizeModel's `sparsity` option, the packed format's
 * support encodings (adapters/io/support.ts) and the loader restoring dense float32 weights, the
 * file sizes against the dense 4-bit file, and damaged supports failing loudly.
 */
import test from 'ava';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import * as tfl from '@tensorflow/tfjs-layers';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { quantizeModel } from '../../../adapters/quantize/quantize_model.ts';
import { saveQuantized } from '../../../adapters/io/save_quantized.ts';
import { loadQuantized } from '../../../adapters/io/load_quantized.ts';
import { decodePacked } from '../../../adapters/io/decode.ts';
import { encodePacked } from '../../../adapters/io/encode.ts';
import { checksum, manifestChecksum, type AffineEntry, type PackedModelJSON } from '../../../adapters/io/format.ts';
import { bitmaskByteLength, decodeSupport, deltaByteLength, encodeSupport, supportSizes, type SupportEncoding } from '../../../adapters/io/support.ts';
import { InputError, OptionError } from '../../../plugins/core/errors.ts';
import { convDenseModel, correlatedImages, weightValues } from '../quantize/models.ts';

let dir: string;
let calib: tf.Tensor4D;

test.before(async () => {
  await tf.setBackend('cpu');
  dir = await mkdtemp(path.join(tmpdir(), 'qsparse-'));
  calib = correlatedImages(64, 3);
});

test.after.always(async () => {
  calib.dispose();
  await rm(dir, { recursive: true, force: true });
});

/** A seeded mask [rows, cols]: 'random' keeps each entry with probability `keep`, 'nm' 2 of every 4, 'columns' the same columns in every row. */
function makeMask(kind: 'random' | 'nm' | 'columns', rows: number, cols: number, keep: number, seed: number): Uint8Array {
  let x = seed >>> 0;
  const next = () => ((x = (Math.imul(x, 1664525) + 1013904223) >>> 0) / 2 ** 32);
  const m = new Uint8Array(rows * cols);
  const colKeep = Array.from({ length: cols }, () => (next() < keep ? 1 : 0));
  for (let r = 0; r < rows; r++) {
    for (let c0 = 0; c0 < cols; c0 += 4) {
      const a = Math.floor(next() * 4);
      const b = (a + 1 + Math.floor(next() * 3)) % 4;
      for (let c = c0; c < Math.min(cols, c0 + 4); c++) {
        const i = r * cols + c;
        if (kind === 'random') m[i] = next() < keep ? 1 : 0;
        else if (kind === 'nm') m[i] = c - c0 === a || c - c0 === b ? 1 : 0;
        else m[i] = colKeep[c];
      }
    }
  }
  return m;
}

test('support codecs round-trip, and the smallest encoding is the one stored', (t) => {
  const cases: Array<[string, Uint8Array, number, number, SupportEncoding]> = [
    ['50% unstructured', makeMask('random', 64, 200, 0.5, 1), 64, 200, 'bitmask'],
    ['2:4', makeMask('nm', 64, 200, 0.5, 2), 64, 200, 'bitmask'],
    ['95% unstructured', makeMask('random', 64, 200, 0.05, 3), 64, 200, 'delta'],
    ['columns 50%', makeMask('columns', 64, 200, 0.5, 4), 64, 200, 'columns'],
    ['empty', new Uint8Array(30), 3, 10, 'delta'],
    ['full, odd size', new Uint8Array(21).fill(1), 3, 7, 'columns'],
  ];
  for (const [label, mask, rows, cols, expected] of cases) {
    const enc = encodeSupport(mask, rows, cols);
    const sizes = supportSizes(mask, rows, cols);
    t.log(`${label}: ${JSON.stringify(sizes)} bytes -> ${enc.encoding}`);
    t.is(enc.encoding, expected, label);
    t.is(enc.bytes.length, sizes[enc.encoding]!);
    t.deepEqual(decodeSupport('w', enc.encoding, enc.count, enc.bytes, rows, cols), mask, label);
    t.is(enc.count, mask.reduce((a, b) => a + b, 0));
  }
  // at 50% (random or 2:4) the bitmask is 1/8 byte per weight; delta close to 1 byte per kept weight
  const half = makeMask('random', 64, 200, 0.5, 1);
  t.is(bitmaskByteLength(half.length), 1600);
  t.true(deltaByteLength(half) >= 0.45 * half.length && deltaByteLength(half) <= 0.55 * half.length);
  // a gap of 128 or more takes two varint bytes
  const far = new Uint8Array(300);
  far[0] = far[200] = 1;
  t.is(deltaByteLength(far), 3);
  t.deepEqual(decodeSupport('w', 'delta', 2, encodeSupport(far, 1, 300).bytes, 1, 300), far);
});

test('damaged supports fail loudly, naming the weight', (t) => {
  const mask = makeMask('random', 4, 13, 0.5, 9);
  const bm = encodeSupport(mask, 4, 13);
  const count = bm.count;
  const flipped = bm.bytes.slice();
  flipped[2] ^= 4;
  t.throws(() => decodeSupport('dense/kernel', 'bitmask', count, flipped, 4, 13), { instanceOf: InputError, message: /support of dense\/kernel keeps/ });
  const stray = bm.bytes.slice();
  stray[stray.length - 1] |= 0x80; // 52 entries: bits 4..7 of the last byte are padding
  t.throws(() => decodeSupport('w', 'bitmask', count, stray, 4, 13), { message: /past its last entry|keeps/ });
  t.throws(() => decodeSupport('w', 'bitmask', count, bm.bytes.subarray(1), 4, 13), { message: /bytes/ });
  const sparse = new Uint8Array(52);
  sparse[3] = sparse[40] = 1;
  const d = encodeSupport(sparse, 4, 13);
  t.is(d.encoding, 'delta');
  t.throws(() => decodeSupport('w', 'delta', 2, Uint8Array.of(3, 0x80), 4, 13), { message: /inside a varint/ });
  t.throws(() => decodeSupport('w', 'delta', 2, Uint8Array.of(3, 60), 4, 13), { message: /past the end/ });
  t.throws(() => decodeSupport('w', 'delta', 3, d.bytes, 4, 13), { message: /keeps 2 weights but its count says 3/ });
  t.notThrows(() => decodeSupport('w', 'columns', 4, Uint8Array.of(1, 0), 4, 13)); // 1 column x 4 rows
  t.throws(() => decodeSupport('w', 'columns', 1, Uint8Array.of(1, 0), 4, 13), { message: /keeps 4 weights but its count says 1/ });
  t.throws(() => decodeSupport('w', 'columns', 4, Uint8Array.of(1, 0x20), 4, 13), { message: /past its last entry/ });
});

test.serial('quantizeModel with sparsity: zeros exact, report per layer, save -> load restores dense float32 weights bit for bit', async (t) => {
  const model = convDenseModel(3);
  const before = tf.memory().numTensors;
  const quantized = await quantizeModel(model, calib, {
    method: 'quantease', bits: 4, sweeps: 6, sparsity: { method: 'l0', pattern: { kind: 'unstructured', fraction: 0.5 } },
  });
  const { model: q, report } = quantized;
  for (const l of report.layers.filter((x) => x.status === 'quantized')) {
    const kernel = q.getLayer(l.name).getWeights()[0].dataSync() as Float32Array;
    let zeros = 0;
    for (const v of kernel) if (v === 0) zeros++;
    t.true(zeros / kernel.length >= 0.5 - 1 / l.shape![l.shape!.length - 1], `${l.name}: ${zeros} zeros of ${kernel.length}`);
    t.true(l.sparsity! >= 0.45, `${l.name} sparsity ${l.sparsity}`);
    t.is(l.pruneMethod, 'l0');
    t.true(l.pruneGap! >= 0 && l.pruneGap! <= 1);
    // no quantized layer can beat the best pruned layer, so not its certified bound either
    t.true(l.relativeError! >= l.pruneLowerBound! * (1 - 1e-6), `${l.name}: ${l.relativeError} < bound ${l.pruneLowerBound}`);
    t.true(l.relativeError! <= l.rtnRelativeError! * (1 + 1e-6), `${l.name}: ${l.relativeError} > RTN on the support ${l.rtnRelativeError}`);
  }
  const out = path.join(dir, 'sparse');
  const saved = await saveQuantized(quantized, out);
  t.is(saved.weightsBytes, report.totals.packedBytes);
  const loaded = await loadQuantized(out);
  t.deepEqual(weightValues(loaded), weightValues(q));
  loaded.dispose();
  q.dispose();
  t.is(tf.memory().numTensors, before, 'tensor leak');
  model.dispose();
});

test.serial('sizes: 50% sparse + 4-bit against 4-bit dense (measured), damaged support in a file fails', async (t) => {
  const big = tfl.sequential({ layers: [
    tfl.layers.dense({ inputShape: [256], units: 256, kernelInitializer: tfl.initializers.glorotNormal({ seed: 4 }), activation: 'relu' }),
    tfl.layers.dense({ units: 256, kernelInitializer: tfl.initializers.glorotNormal({ seed: 5 }) }),
  ] });
  const x = tf.randomNormal([64, 256], 0, 1, 'float32', 6);
  const sizeOf = async (sparsity?: object) => {
    const r = await quantizeModel(big, x, { method: 'rtn', bits: 4, compareRtn: false, ...(sparsity ? { sparsity } : {}) });
    const { json, bin } = await encodePacked(r);
    t.is(bin.byteLength, r.report.totals.packedBytes);
    r.model.dispose();
    return { json, bin, bytes: bin.byteLength };
  };
  const dense = await sizeOf();
  const unstructured = await sizeOf({ method: 'wanda', pattern: { kind: 'unstructured', fraction: 0.5 } });
  const nm = await sizeOf({ method: 'wanda', pattern: { kind: 'nm', n: 2, m: 4 } });
  const columns = await sizeOf({ method: 'wanda', pattern: { kind: 'columns', fraction: 0.5 } });
  const ratio = (b: number) => dense.bytes / b;
  t.log(`4-bit dense ${dense.bytes} B; 50% + 4-bit ${unstructured.bytes} B (${ratio(unstructured.bytes).toFixed(2)}x); ` +
    `2:4 + 4-bit ${nm.bytes} B (${ratio(nm.bytes).toFixed(2)}x); columns 50% + 4-bit ${columns.bytes} B (${ratio(columns.bytes).toFixed(2)}x)`);
  const enc = (j: PackedModelJSON) => j.quantization.weights.filter((e): e is AffineEntry => e.encoding === 'affine').map((e) => e.support?.encoding);
  t.deepEqual(enc(unstructured.json), ['bitmask', 'bitmask']);
  t.deepEqual(enc(nm.json), ['bitmask', 'bitmask']);
  t.deepEqual(enc(columns.json), ['columns', 'columns']);
  // 4 bits per kept weight + 1 bit of support per weight: 3 of 4 bits (plus grids and biases)
  t.true(ratio(unstructured.bytes) > 1.28 && ratio(unstructured.bytes) < 1.34);
  t.true(ratio(columns.bytes) > 1.6); // the support is one bit per input column
  // Damage the support of a real file (checksum recomputed so only the support is wrong).
  const e0 = enc(unstructured.json) && (unstructured.json.quantization.weights.find((e) => e.encoding === 'affine') as AffineEntry);
  const bad = unstructured.bin.slice();
  bad[e0.support!.data.offset + 5] ^= 0x10;
  // Each damaged manifest is resealed (manifestChecksum recomputed) so that only the damage is wrong.
  const reseal = <T,>(j: T): T => {
    const m = j as unknown as PackedModelJSON;
    m.manifestChecksum = manifestChecksum(m);
    return j;
  };
  const json = structuredClone(unstructured.json);
  json.weightsChecksum = checksum(bad);
  reseal(json);
  t.throws(() => decodePacked(json, bad), { instanceOf: InputError, message: /support of .*kernel keeps/ });
  const badCount = structuredClone(unstructured.json) as unknown as { quantization: { weights: Array<Record<string, any>> } };
  badCount.quantization.weights.find((e) => e.encoding === 'affine')!.support.count += 1;
  t.throws(() => decodePacked(reseal(badCount), unstructured.bin), { instanceOf: InputError, message: /codes/ });
  const badEnc = structuredClone(unstructured.json) as unknown as { quantization: { weights: Array<Record<string, any>> } };
  badEnc.quantization.weights.find((e) => e.encoding === 'affine')!.support.encoding = 'rle';
  t.throws(() => decodePacked(reseal(badEnc), unstructured.bin), { instanceOf: InputError, message: /support\.encoding/ });
  const both = structuredClone(unstructured.json) as unknown as { quantization: { weights: Array<Record<string, any>> } };
  const a = both.quantization.weights.find((e) => e.encoding === 'affine')!;
  a.outliers = { count: 0, indices: { offset: 0, byteLength: 0 }, values: { offset: 0, byteLength: 0 } };
  t.throws(() => decodePacked(reseal(both), unstructured.bin), { instanceOf: InputError, message: /both "support" and "outliers"/ });
  x.dispose();
  big.dispose();
});

test('sparsity options are checked up front, naming the argument', async (t) => {
  const model = convDenseModel(1);
  const w = weightValues(model);
  await t.throwsAsync(quantizeModel(model, calib, { sparsity: 0.5 as never }), { instanceOf: OptionError, message: /sparsity/ });
  await t.throwsAsync(quantizeModel(model, calib, { sparsity: { pattern: { kind: 'diagonal' } } as never }), { instanceOf: OptionError, message: /`sparsity`.*pattern\.kind/ });
  await t.throwsAsync(quantizeModel(model, calib, { sparsity: { fraction: 0.5 } as never }), { instanceOf: OptionError, message: /sparsity.*fraction/ });
  await t.throwsAsync(quantizeModel(model, calib, { sparsity: {}, outliers: { fraction: 0.01 } }), { instanceOf: OptionError, message: /sparsity.*outliers/ });
  t.deepEqual(weightValues(model), w);
  model.dispose();
});
