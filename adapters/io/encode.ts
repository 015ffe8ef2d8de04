/**
 * Encoding into the packed format (format.ts): model.json content and the bytes of the weights
 * file, from tfjs model artifacts (topology + float32 weights) and quantizeModel's payload (the
 * codes of the quantized kernels). Pure: no file I/O, no tensors beyond model.save's own.
 *
 * The payload is packed as given; the quantized kernels are not dequantized again. One cheap
 * check stays (O(rows) per kernel, not O(rows x cols)): a few rows of each kernel are dequantized
 * and compared bit for bit with the model's weights, so a payload from another model, or from
 * another quantizeModel call on the same architecture, is refused instead of silently shipping
 * codes that disagree with the model the caller tested.
 */
import type * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import { InputError } from '../../plugins/core/errors.ts';
import { dequantize } from '../../plugins/quantease/dequantize.ts';
import { packCodes } from '../../plugins/quantease/packing.ts';
import { modelArtifacts } from './artifacts.ts';
import { problemShape, type KernelLayout } from './layout.ts';
import { encodeSupport, keptCodes } from './support.ts';
import {
  AFFINE_ENCODING_VERSION, FORMAT_NAME, FORMAT_VERSION, QUANTIZATION_VERSION, STOCK_LOADER_TRAP, checksum, manifestChecksum,
  type PackedModelJSON, type QuantizedPayload, type QuantizedWeight, type Section, type WeightEntry,
} from './format.ts';

export const WEIGHTS_FILE = 'weights.bin';

/** Rows of each quantized kernel compared with the model's weights (first, last and between). */
const CHECKED_ROWS = 4;

function asBytes(a: ArrayBufferView): Uint8Array {
  return new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
}

/** What quantizeModel returns: the model, the codes of its quantized kernels, and (optionally) the report. */
export interface QuantizedModel {
  model: tfl.LayersModel;
  payload: QuantizedPayload;
  /** quantizeModel's report (plain JSON); stored in model.json as information only. */
  report?: unknown;
}

export interface EncodedPacked {
  /** model.json content, naming the weights file "weights.bin". */
  json: PackedModelJSON;
  /** The weights file. */
  bin: Uint8Array;
  /** model.json text naming another weights file (the writer may choose a fresh name). */
  jsonText: (weightsFile: string) => string;
}

/** Row r of q as a one-row quantized matrix (views, no copy of the codes). */
function row(q: QuantizedWeight, r: number, cols: number): Float32Array {
  const { groups } = q.grid;
  const lo = r * cols;
  let outliers: QuantizedWeight['outliers'];
  if (q.outliers) {
    const idx: number[] = [];
    const val: number[] = [];
    q.outliers.indices.forEach((i, k) => {
      if (i >= lo && i < lo + cols) {
        idx.push(i - lo);
        val.push(q.outliers!.values[k]);
      }
    });
    outliers = { indices: Int32Array.from(idx), values: Float32Array.from(val) };
  }
  return dequantize({
    codes: q.codes.subarray(lo, lo + cols),
    grid: { ...q.grid, rows: 1, scale: q.grid.scale.subarray(r * groups, (r + 1) * groups), zero: q.grid.zero.subarray(r * groups, (r + 1) * groups) },
    outliers,
  });
}

/** Throws unless a few rows of q dequantize to exactly the model's kernel `raw` ([..., out] float32 bytes). */
function checkAgainstModel(name: string, q: QuantizedWeight, raw: Uint8Array, shape: number[], layout: KernelLayout): void {
  const [rows, cols] = problemShape(shape, layout);
  const mismatch = () => new InputError(`Weight ${name} does not match the payload's codes: pass the model and the payload returned by the same quantizeModel call.`);
  if (q.shape.join() !== shape.join() || q.codes.length !== rows * cols || q.grid.rows !== rows) throw mismatch();
  const kernel = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
  const picks = new Set(Array.from({ length: Math.min(CHECKED_ROWS, rows) }, (_, i) => Math.round((i * (rows - 1)) / Math.max(1, CHECKED_ROWS - 1))));
  for (const r of picks) {
    const w = new Uint32Array(row(q, r, cols).buffer); // the row's float32 bits
    for (let c = 0; c < cols; c++) {
      // W[r, c] is kernel element (c, r) of the [cols, rows] row-major layout ('table': (r, c)).
      const at = layout === 'table' ? r * cols + c : c * rows + r;
      if (kernel.getUint32(at * 4, true) !== w[c]) throw mismatch();
    }
  }
}

/**
 * tfjs artifacts (modelTopology + float32 weightSpecs/weightData) and the payload -> {json, bin}.
 * Every payload name must be a weight of the artifacts; other weights are stored as float32.
 */
export function encodeArtifacts(artifacts: tf.io.ModelArtifacts, payload: QuantizedPayload, report?: unknown): EncodedPacked {
  if (!(payload instanceof Map)) {
    throw new InputError('`payload` must be the payload returned by quantizeModel (it carries the codes to pack): pass the whole result {model, payload, report}.');
  }
  if (typeof artifacts.modelTopology !== 'object' || artifacts.modelTopology === null || artifacts.modelTopology instanceof ArrayBuffer) {
    throw new InputError('The model artifacts have no JSON topology: only tfjs-layers models can be packed.');
  }
  const wd = artifacts.weightData;
  const joined = wd === undefined ? new ArrayBuffer(0) : Array.isArray(wd) ? concat(wd) : wd;
  const data = new Uint8Array(joined);
  const chunks: Uint8Array[] = [];
  let at = 0;
  const put = (bytes: Uint8Array): Section => {
    chunks.push(bytes);
    const s = { offset: at, byteLength: bytes.byteLength };
    at += bytes.byteLength;
    return s;
  };
  const entries: WeightEntry[] = [];
  const used = new Set<string>();
  let read = 0;
  for (const spec of artifacts.weightSpecs ?? []) {
    const size = spec.shape.reduce((x, y) => x * y, 1);
    if (spec.dtype !== 'float32' || spec.quantization) {
      throw new InputError(`Weight ${spec.name} has dtype ${spec.dtype}${spec.quantization ? ' (tfjs-quantized)' : ''}; only float32 weights can be packed.`);
    }
    if (spec.group === 'optimizer') throw new InputError(`Weight ${spec.name} is optimizer state; save the model without includeOptimizer.`);
    const raw = data.subarray(read, read + size * 4);
    if (raw.byteLength !== size * 4) throw new InputError(`The model artifacts' weight data is too short for weight ${spec.name}.`);
    read += size * 4;
    const q = payload.get(spec.name);
    if (!q) {
      entries.push({ name: spec.name, dtype: 'float32', shape: spec.shape, encoding: 'float32', data: put(raw) });
      continue;
    }
    used.add(spec.name);
    const layout = q.layout ?? 'out_in';
    checkAgainstModel(spec.name, q, raw, spec.shape, layout);
    const [rows, cols] = problemShape(spec.shape, layout);
    const k = q.outliers?.indices.length ?? 0;
    let support: ReturnType<typeof encodeSupport> | undefined;
    if (q.mask) {
      if (!(q.mask instanceof Uint8Array) || q.mask.length !== rows * cols) {
        throw new InputError(`The payload's mask for ${spec.name} must be a Uint8Array of rows x cols = ${rows * cols} entries.`);
      }
      if (k > 0) throw new InputError(`The payload for ${spec.name} has both a sparsity mask and outliers; a pruned kernel has no outliers.`);
      const dense = dequantize(q);
      for (let i = 0; i < dense.length; i++) {
        if (!q.mask[i] && dense[i] !== 0) {
          throw new InputError(`Weight ${spec.name} is ${dense[i]} at pruned position ${i}: a pruned weight must be exactly 0 to be stored by its support.`);
        }
      }
      support = encodeSupport(q.mask, rows, cols);
    }
    entries.push({
      name: spec.name, dtype: 'float32', shape: spec.shape,
      encoding: 'affine', encodingVersion: AFFINE_ENCODING_VERSION, layout,
      rows, cols, bits: q.grid.bits, groupSize: q.grid.groupSize, groups: q.grid.groups,
      codes: put(packCodes(support ? keptCodes(q.codes, q.mask!) : q.codes, q.grid.bits)),
      scale: put(asBytes(Float32Array.from(q.grid.scale))),
      zero: put(asBytes(Float32Array.from(q.grid.zero))),
      ...(k > 0 ? {
        outliers: {
          count: k,
          indices: put(asBytes(Int32Array.from(q.outliers!.indices))),
          values: put(asBytes(Float32Array.from(q.outliers!.values))),
        },
      } : {}),
      ...(support ? { support: { encoding: support.encoding, count: support.count, data: put(support.bytes) } } : {}),
    });
  }
  for (const name of payload.keys()) {
    if (!used.has(name)) throw new InputError(`The payload has codes for ${name}, which is not a weight of this model.`);
  }
  const bin = concatBytes(chunks, at);
  const head = {
    formatVersion: FORMAT_VERSION,
    packedTopology: artifacts.modelTopology as object,
    weightsByteLength: bin.byteLength,
    weightsChecksum: checksum(bin),
    quantization: { version: QUANTIZATION_VERSION, weights: entries },
  };
  const jsonFor = (weightsFile: string): PackedModelJSON => ({
    format: FORMAT_NAME,
    formatVersion: FORMAT_VERSION,
    modelTopology: STOCK_LOADER_TRAP,
    weightsManifest: [],
    packedTopology: head.packedTopology,
    weightsFile,
    weightsByteLength: head.weightsByteLength,
    weightsChecksum: head.weightsChecksum,
    quantization: head.quantization,
    manifestChecksum: manifestChecksum(head),
    ...(report !== undefined ? { report } : {}),
  });
  return { json: jsonFor(WEIGHTS_FILE), bin, jsonText: (weightsFile) => JSON.stringify(jsonFor(weightsFile)) };
}

function concatBytes(chunks: Uint8Array[], total: number): Uint8Array {
  const out = new Uint8Array(total);
  let o = 0;
  for (const c of chunks) {
    out.set(c, o);
    o += c.byteLength;
  }
  return out;
}

function concat(buffers: ArrayBuffer[]): ArrayBuffer {
  const parts = buffers.map((b) => new Uint8Array(b));
  return concatBytes(parts, parts.reduce((a, p) => a + p.byteLength, 0)).buffer as ArrayBuffer;
}

/**
 * {model, payload, report} (as quantizeModel returns them) -> {json, bin, jsonText}. The model's
 * weights are read once through model.save (tfjs's own serialization).
 */
export async function encodePacked(quantized: QuantizedModel): Promise<EncodedPacked> {
  const { model, payload, report } = quantized ?? ({} as QuantizedModel);
  if (!(payload instanceof Map)) {
    throw new InputError('`payload` must be the payload returned by quantizeModel (it carries the codes to pack): pass the whole result {model, payload, report}.');
  }
  return encodeArtifacts(await modelArtifacts(model), payload, report);
}
