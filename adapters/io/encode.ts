/**
 * Encoding of a quantized model into the packed format (adapters/io/format.ts): model.json
 * content and the bytes of weights.bin. Pure (no file I/O).
 */
import type * as tfl from '@tensorflow/tfjs-layers';
import { InputError } from '../../plugins/core/errors.ts';
import { dequantize } from '../../plugins/quantease/dequantize.ts';
import { packCodes } from '../../plugins/quantease/packing.ts';
import { modelArtifacts } from './artifacts.ts';
import { problemDataToKernelData, problemShape } from './layout.ts';
import { encodeSupport, keptCodes } from './support.ts';
import {
  AFFINE_ENCODING_VERSION, FORMAT_NAME, FORMAT_VERSION, QUANTIZATION_VERSION, checksum,
  type PackedModelJSON, type QuantizedPayload, type Section, type WeightEntry,
} from './format.ts';

export const WEIGHTS_FILE = 'weights.bin';

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

/**
 * {model, payload, report} (as quantizeModel returns them) -> {json, bin}. Each quantized kernel
 * of the model must equal the dequantization of the payload's codes bit for bit; otherwise the
 * payload belongs to another model and InputError is thrown.
 */
export async function encodePacked(quantized: QuantizedModel): Promise<{ json: PackedModelJSON; bin: Uint8Array }> {
  const { model, payload, report } = quantized ?? ({} as QuantizedModel);
  if (!(payload instanceof Map)) {
    throw new InputError('`payload` must be the payload returned by quantizeModel (it carries the codes to pack): pass the whole result {model, payload, report}.');
  }
  const a = await modelArtifacts(model);
  const data = new Uint8Array(a.weightData);
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
  for (const spec of a.weightSpecs ?? []) {
    const size = spec.shape.reduce((x, y) => x * y, 1);
    if (spec.dtype !== 'float32' || spec.quantization) {
      throw new InputError(`Weight ${spec.name} has dtype ${spec.dtype}${spec.quantization ? ' (tfjs-quantized)' : ''}; only float32 weights can be packed.`);
    }
    const raw = data.slice(read, read + size * 4);
    read += size * 4;
    const q = payload.get(spec.name);
    if (!q) {
      entries.push({ name: spec.name, dtype: 'float32', shape: spec.shape, encoding: 'float32', data: put(raw) });
      continue;
    }
    used.add(spec.name);
    const [rows, cols] = problemShape(spec.shape);
    const expected = problemDataToKernelData(dequantize(q), spec.shape);
    const actual = new Uint32Array(raw.buffer);
    const want = new Uint32Array(expected.buffer);
    if (q.shape.join() !== spec.shape.join() || actual.length !== want.length || actual.some((v, i) => v !== want[i])) {
      throw new InputError(`Weight ${spec.name} does not match the payload's codes: pass the model and the payload returned by the same quantizeModel call.`);
    }
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
      encoding: 'affine', encodingVersion: AFFINE_ENCODING_VERSION, layout: 'out_in',
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
  const bin = new Uint8Array(at);
  let o = 0;
  for (const c of chunks) {
    bin.set(c, o);
    o += c.byteLength;
  }
  const json: PackedModelJSON = {
    format: FORMAT_NAME,
    formatVersion: FORMAT_VERSION,
    modelTopology: a.modelTopology as object,
    weightsFile: WEIGHTS_FILE,
    weightsByteLength: bin.byteLength,
    weightsChecksum: checksum(bin),
    quantization: { version: QUANTIZATION_VERSION, weights: entries },
    ...(report !== undefined ? { report } : {}),
  };
  return { json, bin };
}
