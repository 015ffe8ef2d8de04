/**
 * The packed model format, version 2.
 *
 * A directory with two files: model.json and a weights file (weights.bin). model.json:
 *
 *   {
 *     "format": "tfjs-sam-quantease/packed",
 *     "formatVersion": 2,
 *     "modelTopology": STOCK_LOADER_TRAP,      // what stock tfjs loaders read: a layer class that
 *     "weightsManifest": [],                   //   does not exist, whose name is the error message
 *     "packedTopology": { ...the tfjs-layers topology, exactly as model.save writes it... },
 *     "weightsFile": "weights.bin",            // a plain file name beside model.json
 *     "weightsByteLength": 12345,               // exact size of the weights file
 *     "weightsChecksum": "fnv1a32:0123abcd",    // FNV-1a 32 of the weights file
 *     "quantization": { "version": 1, "weights": [ entry, ... ] },  // one per weight, tfjs order
 *     "manifestChecksum": "fnv1a32:...",        // FNV-1a 32 of manifestText(json) (below)
 *     "report": { ... }                          // optional, informative only, not covered
 *   }
 *
 * Why the trap: a model.json with a topology and no weights is, to tf.loadLayersModel, a model to
 * initialize at random (version 1 was silently loaded that way). Every stock path (http/browser
 * fetch, tf.io.fromMemory, tfjs-node's file://) hands `modelTopology` to the layer deserializer,
 * which throws "Unknown layer: <class name>" before it creates anything; the class name says what
 * the file is and how to load it. The empty `weightsManifest` makes the streaming http path reach
 * the same error instead of a TypeError.
 *
 * The manifest checksum covers formatVersion, packedTopology, the weights file's size and checksum
 * and every entry, so an edited activation, offset or shape fails loudly. Not covered: the weights
 * file's name (a wrong name finds no file, or a file whose checksum differs), the constants checked
 * by equality, and the report.
 *
 *   entry, unquantized: { "name", "dtype": "float32", "shape", "encoding": "float32", "data": section }
 *   entry, quantized kernel (version 1 of the "affine" encoding):
 *     { "name", "dtype": "float32", "shape": [..., out], "encoding": "affine", "encodingVersion": 1,
 *       "layout": "out_in" | "depthwise" | "table",   // how W [rows, cols] maps to the kernel (adapters/io/layout.ts):
 *                 out_in: reshape(kernel, [prod(shape[:-1]), shape[-1]])^T; depthwise: reshape(kernel [kh, kw, cin, mult],
 *                 [kh*kw, cin*mult])^T; table: the kernel itself (Embedding)
 *       "rows", "cols", "bits" (2..8), "groupSize", "groups" = ceil(cols / groupSize),
 *       "codes": section of ceil(rows*cols*bits/8) bytes (packing.ts bit stream, row-major W),
 *       "scale", "zero": sections of rows*groups float32,
 *       "outliers": { "count": k >= 1, "indices": k int32 (flat r*cols+c, ascending), "values": k float32 },
 *       "support": { "encoding": "bitmask" | "delta" | "columns", "count": k, "data": section } }  // optional:
 *         a pruned kernel (adapters/io/support.ts); never with "outliers"; "codes" then holds only the k
 *         kept codes (ceil(k*bits/8) bytes, flat order) and every weight off the support is exactly 0
 *   section: { "offset", "byteLength" }; the sections, in manifest order, tile the weights file:
 *     each starts where the previous one ends, the first at 0, the last ends at weightsByteLength.
 *
 * Dequantization (plugins/quantease/dequantize.ts, float32):
 *   W[r, c] = fround((q[r, c] - zero[r, g]) * scale[r, g]),  g = floor(c / groupSize)
 *   W[r, c] = fround(W[r, c] + value)                        at each outlier (r*cols + c, value)
 * Every decoded weight must be finite. All numbers are little-endian.
 */
import type { QuantizedMatrix } from '../../plugins/quantease/dequantize.ts';
import { packedByteLength } from '../../plugins/quantease/packing.ts';
import { type KernelLayout } from './layout.ts';
import type { SupportEncoding } from './support.ts';

export const FORMAT_NAME = 'tfjs-sam-quantease/packed';
export const FORMAT_VERSION = 2;
export const QUANTIZATION_VERSION = 1;
export const AFFINE_ENCODING_VERSION = 1;

/**
 * The `modelTopology` of every packed model.json. Its class name is the message a stock loader
 * shows ("Unknown layer: ..."); no underscore, so tfjs's snake_case conversion leaves it intact.
 */
export const STOCK_LOADER_TRAP = Object.freeze({
  class_name:
    'TfjsSamQuanteasePackedModel. This model.json is a packed (quantized) model of tfjs-sam-quantease; ' +
    'tf.loadLayersModel cannot read it directly. Load it with tf.loadLayersModel(packedModel(url)) or ' +
    "loadQuantized(url), both from 'tfjs-sam-quantease/io'",
  config: Object.freeze({}),
});

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
  layout: KernelLayout;
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
  format: typeof FORMAT_NAME;
  formatVersion: number;
  modelTopology: typeof STOCK_LOADER_TRAP;
  weightsManifest: [];
  packedTopology: object;
  weightsFile: string;
  weightsByteLength: number;
  weightsChecksum: string;
  quantization: { version: number; weights: WeightEntry[] };
  manifestChecksum: string;
  report?: unknown;
}

/**
 * A quantized kernel as the hook produces it and the format stores it: kernel shape, codes of the
 * problem layout W [rows = out, cols = in] (unpacked, one per byte), the grid and the outliers.
 */
export interface QuantizedWeight extends QuantizedMatrix {
  /** Kernel shape [..., out]. */
  shape: number[];
  /** How W's rows and columns map to the kernel's axes; default 'out_in'. */
  layout?: KernelLayout;
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

/** FNV-1a 32-bit checksum, as "fnv1a32:xxxxxxxx". Detects damage, not tampering. */
export function checksum(bytes: Uint8Array): string {
  let h = 0x811c9dc5;
  for (let i = 0; i < bytes.length; i++) {
    h ^= bytes[i];
    h = Math.imul(h, 0x01000193);
  }
  return 'fnv1a32:' + (h >>> 0).toString(16).padStart(8, '0');
}

/** The text the manifest checksum covers (key order as written; whitespace of the file does not matter). */
export function manifestText(json: Pick<PackedModelJSON, 'formatVersion' | 'packedTopology' | 'weightsByteLength' | 'weightsChecksum' | 'quantization'>): string {
  return JSON.stringify([json.formatVersion, json.packedTopology, json.weightsByteLength, json.weightsChecksum, json.quantization]);
}

/** The manifest checksum of a model.json. */
export function manifestChecksum(json: Parameters<typeof manifestText>[0]): string {
  return checksum(new TextEncoder().encode(manifestText(json)));
}
