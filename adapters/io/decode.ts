/**
 * Decoding of a packed model (adapters/io/format.ts) into tfjs weight specs and float32 weight
 * data. Pure: no tensors, no I/O, so it runs anywhere and fails before anything is built.
 */
import type * as tf from '@tensorflow/tfjs-core';
import { InputError } from '../../plugins/core/errors.ts';
import { unpackCodes } from '../../plugins/quantease/packing.ts';
import { dequantize } from '../../plugins/quantease/dequantize.ts';
import { problemDataToKernelData } from './layout.ts';
import { checksum, type AffineEntry, type PackedModelJSON, type QuantizedWeight, type Section } from './format.ts';
import { validatePackedJSON } from './validate_packed.ts';
import { decodeSupport } from './support.ts';

function bytes(bin: Uint8Array, s: Section): Uint8Array {
  // A copy: aligned, and detached from the file buffer (Buffer.slice would share Node's pool).
  const out = new Uint8Array(s.byteLength);
  out.set(bin.subarray(s.offset, s.offset + s.byteLength));
  return out;
}

function float32s(bin: Uint8Array, s: Section): Float32Array {
  return new Float32Array(bytes(bin, s).buffer);
}

function checkFinite(name: string, what: string, a: Float32Array): void {
  for (let i = 0; i < a.length; i++) {
    if (!Number.isFinite(a[i])) throw new InputError(`Malformed packed model: ${what} of ${name} has a non-finite value at ${i}.`);
  }
}

/** Reads one quantized kernel's payload, validating grid values and outlier indices. */
export function readAffine(e: AffineEntry, bin: Uint8Array): QuantizedWeight {
  const scale = float32s(bin, e.scale);
  const zero = float32s(bin, e.zero);
  checkFinite(e.name, 'scale', scale);
  checkFinite(e.name, 'zero', zero);
  let codes: Uint8Array;
  let mask: Uint8Array | undefined;
  if (e.support) {
    // Pruned kernel: only the kept codes are stored; pruned weights get the zero point's code
    // here and are set to exactly 0 after dequantization (dequantizeEntry).
    const size = e.rows * e.cols;
    mask = decodeSupport(e.name, e.support.encoding, e.support.count, bytes(bin, e.support.data), e.rows, e.cols);
    const kept = unpackCodes(bytes(bin, e.codes), e.bits, e.support.count);
    codes = new Uint8Array(size);
    for (let i = 0, k = 0; i < size; i++) if (mask[i]) codes[i] = kept[k++];
  } else {
    codes = unpackCodes(bytes(bin, e.codes), e.bits, e.rows * e.cols);
  }
  let outliers: QuantizedWeight['outliers'];
  if (e.outliers && e.outliers.count > 0) {
    const indices = new Int32Array(bytes(bin, e.outliers.indices).buffer);
    const values = float32s(bin, e.outliers.values);
    const size = e.rows * e.cols;
    for (let k = 0; k < indices.length; k++) {
      if (indices[k] < 0 || indices[k] >= size) {
        throw new InputError(`Malformed packed model: outlier index ${indices[k]} of ${e.name} is out of range [0, ${size}).`);
      }
      if (k > 0 && indices[k] <= indices[k - 1]) {
        throw new InputError(`Malformed packed model: outlier indices of ${e.name} are not strictly ascending at position ${k}.`);
      }
    }
    checkFinite(e.name, 'outlier values', values);
    outliers = { indices, values };
  }
  const q: QuantizedWeight = {
    shape: e.shape,
    layout: e.layout,
    codes,
    grid: { bits: e.bits, groupSize: e.groupSize, scale, zero, rows: e.rows, groups: e.groups },
    outliers,
  };
  if (mask) q.mask = mask;
  return q;
}

/** W [rows, cols] of a decoded kernel: dequantized, and exactly 0 off its support when pruned. */
export function dequantizeEntry(q: QuantizedWeight): Float32Array {
  const w = dequantize(q);
  if (q.mask) for (let i = 0; i < w.length; i++) if (!q.mask[i]) w[i] = 0;
  return w;
}

export interface DecodedModel {
  json: PackedModelJSON;
  /** tfjs ModelArtifacts, ready for tf.io.fromMemory. */
  artifacts: tf.io.ModelArtifacts;
}

/**
 * Validates model.json (already parsed) and weights.bin and decodes them into tfjs artifacts with
 * dequantized float32 weights. Throws InputError on any inconsistency.
 */
export function decodePacked(jsonValue: unknown, bin: Uint8Array): DecodedModel {
  const json = validatePackedJSON(jsonValue, bin.byteLength);
  const sum = checksum(bin);
  if (sum !== json.weightsChecksum) {
    throw new InputError(`The weights file checksum ${sum} does not match model.json (${json.weightsChecksum}): the file is corrupted or belongs to another model.json.`);
  }
  const entries = json.quantization.weights;
  // Every section was checked against the declared size, and the declared size against bin: the
  // total below is bounded by 8 floats per byte of the weights file.
  const total = entries.reduce((a, e) => a + e.shape.reduce((x, y) => x * y, 1), 0);
  const data = new Float32Array(total);
  const weightSpecs: tf.io.WeightsManifestEntry[] = [];
  let at = 0;
  for (const e of entries) {
    const size = e.shape.reduce((x, y) => x * y, 1);
    const values = e.encoding === 'float32'
      ? float32s(bin, e.data)
      : problemDataToKernelData(dequantizeEntry(readAffine(e, bin)), e.shape, e.layout); // W [rows, cols] -> kernel
    // Every weight finite: NaN/Inf stored as float32, and huge finite scales whose products overflow.
    for (let i = 0; i < values.length; i++) {
      if (!Number.isFinite(values[i])) {
        throw new InputError(`Malformed packed model: weight ${e.name} decodes to ${values[i]} at flat index ${i}; every weight must be finite.`);
      }
    }
    data.set(values, at);
    at += size;
    weightSpecs.push({ name: e.name, shape: e.shape, dtype: 'float32' });
  }
  return {
    json,
    artifacts: { modelTopology: json.packedTopology, weightSpecs, weightData: data.buffer, format: 'layers-model' },
  };
}
