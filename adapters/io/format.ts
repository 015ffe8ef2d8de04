/**
 * The packed model format, version 1.
 *
 * A directory with two files:
 *
 *   model.json
 *     {
 *       "format": "tfjs-sam-quantease/packed",
 *       "formatVersion": 1,
 *       "modelTopology": { ...exactly as in a tfjs-layers model.json... },
 *       "weightsFile": "weights.bin",            // a plain file name beside model.json
 *       "weightsByteLength": 12345,               // exact size of weights.bin
 *       "weightsChecksum": "fnv1a32:0123abcd",    // FNV-1a 32 of weights.bin
 *       "quantization": {
 *         "version": 1,
 *         "weights": [ entry, ... ]               // one per model weight, in tfjs weight order
 *       },
 *       "report": { ... }                          // optional, informative only
 *     }
 *
 *   entry, unquantized (biases, other layers):
 *     { "name": "dense_1/bias", "dtype": "float32", "shape": [8], "encoding": "float32",
 *       "data": { "offset": 0, "byteLength": 32 } }
 *
 *   entry, quantized kernel (version 1 of the "affine" encoding):
 *     { "name": "conv2d_1/kernel", "dtype": "float32", "shape": [3, 3, 2, 8],
 *       "encoding": "affine", "encodingVersion": 1,
 *       "layout": "out_in",      // W [rows, cols] = reshape(kernel, [prod(shape[:-1]), shape[-1]])^T
 *       "rows": 8, "cols": 18, "bits": 4, "groupSize": 18, "groups": 1,
 *       "codes": { "offset": ..., "byteLength": ceil(rows*cols*bits/8) },  // packing.ts bit stream, row-major W
 *       "scale": { "offset": ..., "byteLength": rows*groups*4 },           // float32 [rows, groups]
 *       "zero":  { "offset": ..., "byteLength": rows*groups*4 },           // float32 [rows, groups]
 *       "outliers": { "count": k,
 *                     "indices": { "offset": ..., "byteLength": 4k },       // int32, flat r*cols+c, ascending
 *                     "values":  { "offset": ..., "byteLength": 4k } },     // float32
 *       "support": { "encoding": "bitmask" | "delta" | "columns", "count": k,   // optional: pruned kernel
 *                    "data": { "offset": ..., "byteLength": ... } } }  // adapters/io/support.ts
 *
 *   With "support" (never together with "outliers"), "codes" holds only the k kept codes
 *   (ceil(k*bits/8) bytes, in flat order) and every weight off the support is exactly 0.
 *
 * Dequantization (one formula, used by both the hook and the loader, in float32):
 *   W[r, c] = fround((q[r, c] - zero[r, g]) * scale[r, g]),  g = floor(c / groupSize)
 *   W[r, c] = fround(W[r, c] + value)                        at each outlier (r*cols + c, value)
 * All numbers are little-endian. Offsets are byte offsets into weights.bin.
 */
import { InputError } from '../../plugins/core/errors.ts';
import type { QuantizedMatrix } from '../../plugins/quantease/dequantize.ts';
import { packedByteLength } from '../../plugins/quantease/packing.ts';
import { SUPPORT_ENCODINGS, fixedSupportByteLength, type SupportEncoding } from './support.ts';

export const FORMAT_NAME = 'tfjs-sam-quantease/packed';
export const FORMAT_VERSION = 1;
export const QUANTIZATION_VERSION = 1;
export const AFFINE_ENCODING_VERSION = 1;

export interface Section {
  offset: number;
  byteLength: number;
}

export interface RawEntry {
  name: string;
  dtype: 'float32';
  shape: number[];
  encoding: 'float32';
  data: Section;
}

export interface AffineEntry {
  name: string;
  dtype: 'float32';
  shape: number[];
  encoding: 'affine';
  encodingVersion: number;
  layout: 'out_in';
  rows: number;
  cols: number;
  bits: number;
  groupSize: number;
  groups: number;
  codes: Section;
  scale: Section;
  zero: Section;
  outliers?: { count: number; indices: Section; values: Section };
  /** Pruned kernel: which weights are kept (adapters/io/support.ts); `codes` then holds only theirs. */
  support?: { encoding: SupportEncoding; count: number; data: Section };
}

export type WeightEntry = RawEntry | AffineEntry;

export interface PackedModelJSON {
  format: string;
  formatVersion: number;
  modelTopology: object;
  weightsFile: string;
  weightsByteLength: number;
  weightsChecksum: string;
  quantization: { version: number; weights: WeightEntry[] };
  report?: unknown;
}

/**
 * A quantized kernel as the hook produces it and the format stores it: kernel shape, codes of the
 * problem layout W [rows = out, cols = in] (unpacked, one per byte), the grid and the outliers.
 */
export interface QuantizedWeight extends QuantizedMatrix {
  /** Kernel shape [..., out]. */
  shape: number[];
  /** Pruned kernel: 1 where a weight of W [rows, cols] is kept; the others are exactly 0. */
  mask?: Uint8Array;
}

/**
 * What quantizeModel returns beside the model: the codes of every quantized kernel, keyed by the
 * weight's name (e.g. "dense_1/kernel"). The encoder packs it; it is not JSON.
 */
export type QuantizedPayload = ReadonlyMap<string, QuantizedWeight>;

/** Bytes of one quantized kernel in weights.bin. */
export function affineByteLength(rows: number, cols: number, bits: number, groups: number, outliers: number): number {
  return packedByteLength(rows * cols, bits) + 2 * rows * groups * 4 + outliers * 8;
}

/** FNV-1a 32-bit checksum, as "fnv1a32:xxxxxxxx". */
export function checksum(bytes: Uint8Array): string {
  let h = 0x811c9dc5;
  for (let i = 0; i < bytes.length; i++) {
    h ^= bytes[i];
    h = Math.imul(h, 0x01000193);
  }
  return 'fnv1a32:' + (h >>> 0).toString(16).padStart(8, '0');
}

// ---------------------------------------------------------------- validation of a parsed model.json

function bad(msg: string): never {
  throw new InputError(`Malformed packed model: ${msg}`);
}

function isObj(x: unknown): x is Record<string, unknown> {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}

function int(where: string, v: unknown, min = 0): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min) bad(`${where} must be an integer >= ${min}, got ${JSON.stringify(v)}.`);
  return v;
}

function section(where: string, v: unknown, expected: number, binLength: number): Section {
  if (!isObj(v)) bad(`${where} is missing.`);
  const offset = int(`${where}.offset`, v.offset);
  const byteLength = int(`${where}.byteLength`, v.byteLength);
  if (byteLength !== expected) bad(`${where}.byteLength is ${byteLength} but ${expected} bytes are expected.`);
  if (offset + byteLength > binLength) {
    bad(`${where} [${offset}, ${offset + byteLength}) lies beyond the end of the weights file (${binLength} bytes): the file is truncated.`);
  }
  return { offset, byteLength };
}

/**
 * Validates a parsed model.json; returns it typed. Throws InputError.
 * Sections are checked against the declared "weightsByteLength", so the whole manifest can be
 * validated before weights.bin is fetched (`binLength` omitted); with `binLength` (the actual size
 * of weights.bin) the file must also have exactly the declared size.
 */
export function validatePackedJSON(json: unknown, binLength?: number): PackedModelJSON {
  if (!isObj(json)) bad('model.json is not a JSON object.');
  if (json.format !== FORMAT_NAME) bad(`"format" is ${JSON.stringify(json.format)}, expected "${FORMAT_NAME}".`);
  if (json.formatVersion !== FORMAT_VERSION) {
    throw new InputError(`Unsupported packed model version ${JSON.stringify(json.formatVersion)}: this loader reads version ${FORMAT_VERSION}.`);
  }
  if (!isObj(json.modelTopology)) bad('"modelTopology" is missing.');
  if (typeof json.weightsFile !== 'string' || !/^[\w.-]+$/.test(json.weightsFile) || json.weightsFile.startsWith('.')) {
    bad(`"weightsFile" must be a plain file name, got ${JSON.stringify(json.weightsFile)}.`);
  }
  const total = int('"weightsByteLength"', json.weightsByteLength);
  if (binLength !== undefined && binLength !== total) {
    throw new InputError(`The weights file has ${binLength} bytes but model.json expects ${total}: the file is truncated or does not belong to this model.json.`);
  }
  if (typeof json.weightsChecksum !== 'string') bad('"weightsChecksum" is missing.');
  const qz = json.quantization;
  if (!isObj(qz)) bad('"quantization" is missing.');
  if (qz.version !== QUANTIZATION_VERSION) {
    throw new InputError(`Unsupported quantization manifest version ${JSON.stringify(qz.version)}: this loader reads version ${QUANTIZATION_VERSION}.`);
  }
  if (!Array.isArray(qz.weights)) bad('"quantization.weights" must be an array.');
  const names = new Set<string>();
  qz.weights.forEach((e: unknown, i: number) => {
    const where = `quantization.weights[${i}]`;
    if (!isObj(e)) bad(`${where} is not an object.`);
    if (typeof e.name !== 'string' || e.name === '') bad(`${where}.name is missing.`);
    if (names.has(e.name)) bad(`${where}.name "${e.name}" is repeated.`);
    names.add(e.name);
    if (e.dtype !== 'float32') bad(`${where}.dtype must be "float32", got ${JSON.stringify(e.dtype)}.`);
    if (!Array.isArray(e.shape)) bad(`${where}.shape is missing.`);
    const shape = e.shape.map((d: unknown, k: number) => int(`${where}.shape[${k}]`, d));
    const size = shape.reduce((a: number, b: number) => a * b, 1);
    if (e.encoding === 'float32') {
      section(`${where}.data`, e.data, size * 4, total);
    } else if (e.encoding === 'affine') {
      if (e.encodingVersion !== AFFINE_ENCODING_VERSION) {
        throw new InputError(`Unsupported encoding version ${JSON.stringify(e.encodingVersion)} for ${where} (${e.name}): this loader reads ${AFFINE_ENCODING_VERSION}.`);
      }
      if (e.layout !== 'out_in') bad(`${where}.layout must be "out_in", got ${JSON.stringify(e.layout)}.`);
      if (shape.length < 2) bad(`${where}.shape must have rank >= 2 for a quantized kernel.`);
      const rows = int(`${where}.rows`, e.rows, 1);
      const cols = int(`${where}.cols`, e.cols, 1);
      if (rows !== shape[shape.length - 1] || rows * cols !== size) bad(`${where}: rows x cols = ${rows} x ${cols} does not match shape [${shape}].`);
      const bits = int(`${where}.bits`, e.bits, 2);
      if (bits > 8) bad(`${where}.bits must be in 2..8, got ${bits}.`);
      const groupSize = int(`${where}.groupSize`, e.groupSize, 1);
      const groups = int(`${where}.groups`, e.groups, 1);
      if (groups !== Math.ceil(cols / groupSize)) bad(`${where}.groups is ${groups} but ceil(cols / groupSize) = ${Math.ceil(cols / groupSize)}.`);
      let coded = rows * cols;
      if (e.support !== undefined) {
        if (!isObj(e.support)) bad(`${where}.support must be an object.`);
        if (e.outliers !== undefined) bad(`${where} has both "support" and "outliers"; a pruned kernel has no outliers.`);
        if (!(SUPPORT_ENCODINGS as readonly unknown[]).includes(e.support.encoding)) {
          bad(`${where}.support.encoding must be one of ${SUPPORT_ENCODINGS.join(', ')}, got ${JSON.stringify(e.support.encoding)}.`);
        }
        coded = int(`${where}.support.count`, e.support.count);
        if (coded > rows * cols) bad(`${where}.support.count ${coded} exceeds rows x cols = ${rows * cols}.`);
        const d = e.support.data;
        if (!isObj(d)) bad(`${where}.support.data is missing.`);
        // bitmask: fixed size; delta: one varint of 1..5 bytes per kept weight
        const expected = fixedSupportByteLength(e.support.encoding as SupportEncoding, rows, cols) ?? int(`${where}.support.data.byteLength`, d.byteLength, coded);
        if (e.support.encoding === 'delta' && expected > 5 * coded) bad(`${where}.support.data.byteLength ${expected} is more than 5 bytes per kept weight (${coded}).`);
        section(`${where}.support.data`, d, expected, total);
      }
      section(`${where}.codes`, e.codes, packedByteLength(coded, bits), total);
      section(`${where}.scale`, e.scale, rows * groups * 4, total);
      section(`${where}.zero`, e.zero, rows * groups * 4, total);
      if (e.outliers !== undefined) {
        if (!isObj(e.outliers)) bad(`${where}.outliers must be an object.`);
        const k = int(`${where}.outliers.count`, e.outliers.count);
        section(`${where}.outliers.indices`, e.outliers.indices, 4 * k, total);
        section(`${where}.outliers.values`, e.outliers.values, 4 * k, total);
      }
    } else {
      bad(`${where}.encoding must be "float32" or "affine", got ${JSON.stringify(e.encoding)}.`);
    }
  });
  return json as unknown as PackedModelJSON;
}
