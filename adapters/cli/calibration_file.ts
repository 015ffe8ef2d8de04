/**
 * Calibration files for the command line (documented in adapters/cli/README.md):
 *
 *   .npy   NumPy array, dtype '<f4' (float32) or '<f8' (float64, converted), C order,
 *          shape [n, ...inputShape]  (np.save('calib.npy', x.astype('float32')))
 *   .json  {"shape": [n, ...inputShape], "data": [flat row-major numbers]}
 */
import { readFile } from 'node:fs/promises';
import * as tf from '@tensorflow/tfjs-core';
import { InputError } from '../../plugins/core/errors.ts';

export interface CalibrationArray {
  shape: number[];
  data: Float32Array;
}

function checkShape(file: string, shape: unknown, count: number): number[] {
  if (!Array.isArray(shape) || shape.length < 2 || !shape.every((d) => Number.isInteger(d) && d >= 0)) {
    throw new InputError(`${file}: "shape" must be [n, ...inputShape] with non-negative integers (rank >= 2). Received: ${JSON.stringify(shape)}.`);
  }
  const size = shape.reduce((a: number, b: number) => a * b, 1);
  if (size !== count) throw new InputError(`${file}: shape [${shape}] needs ${size} values but the file has ${count}.`);
  return shape;
}

/** Parses a .npy file (format versions 1.0, 2.0, 3.0). */
export function parseNpy(bytes: Uint8Array, file = 'calibration.npy'): CalibrationArray {
  const magic = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]; // \x93NUMPY
  if (bytes.length < 10 || !magic.every((b, i) => bytes[i] === b)) throw new InputError(`${file}: not a .npy file (bad magic bytes).`);
  const major = bytes[6];
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerLen = major === 1 ? view.getUint16(8, true) : view.getUint32(8, true);
  const start = major === 1 ? 10 : 12;
  if (start + headerLen > bytes.length) throw new InputError(`${file}: truncated .npy header.`);
  const header = new TextDecoder('latin1').decode(bytes.subarray(start, start + headerLen));
  const descr = /'descr'\s*:\s*'([^']+)'/.exec(header)?.[1];
  const fortran = /'fortran_order'\s*:\s*(True|False)/.exec(header)?.[1];
  const shapeText = /'shape'\s*:\s*\(([^)]*)\)/.exec(header)?.[1];
  if (!descr || !fortran || shapeText === undefined) throw new InputError(`${file}: malformed .npy header: ${header.trim()}`);
  if (fortran === 'True') throw new InputError(`${file}: Fortran-ordered arrays are not supported; save with np.ascontiguousarray.`);
  const shape = shapeText.split(',').map((s) => s.trim()).filter((s) => s !== '').map(Number);
  const body = bytes.subarray(start + headerLen);
  const count = shape.reduce((a, b) => a * b, 1);
  let data: Float32Array;
  if (descr === '<f4') {
    if (body.length < count * 4) throw new InputError(`${file}: truncated data (${body.length} bytes for ${count} float32 values).`);
    data = new Float32Array(Uint8Array.prototype.slice.call(body, 0, count * 4).buffer);
  } else if (descr === '<f8') {
    if (body.length < count * 8) throw new InputError(`${file}: truncated data (${body.length} bytes for ${count} float64 values).`);
    data = Float32Array.from(new Float64Array(Uint8Array.prototype.slice.call(body, 0, count * 8).buffer));
  } else {
    throw new InputError(`${file}: dtype '${descr}' is not supported; use float32 ('<f4') or float64 ('<f8').`);
  }
  return { shape: checkShape(file, shape, data.length), data };
}

/** Parses the JSON form {shape, data}. */
export function parseCalibrationJson(text: string, file = 'calibration.json'): CalibrationArray {
  let v: { shape?: unknown; data?: unknown };
  try {
    v = JSON.parse(text);
  } catch (err) {
    throw new InputError(`${file}: not valid JSON (${(err as Error).message}).`);
  }
  if (!Array.isArray(v?.data) || !v.data.every((x) => typeof x === 'number')) {
    throw new InputError(`${file}: "data" must be a flat array of numbers.`);
  }
  const data = Float32Array.from(v.data as number[]);
  return { shape: checkShape(file, v.shape, data.length), data };
}

/** Reads a calibration file (.npy or .json) into a tensor [n, ...inputShape]. */
export async function readCalibration(file: string): Promise<tf.Tensor> {
  let bytes: Uint8Array;
  try {
    bytes = new Uint8Array(await readFile(file)); // a copy: Buffer.slice would share Node's pool
  } catch (err) {
    throw new InputError(`Cannot read calibration file ${file}: ${(err as Error).message}`);
  }
  const lower = file.toLowerCase();
  const arr = lower.endsWith('.npy')
    ? parseNpy(bytes, file)
    : lower.endsWith('.json')
      ? parseCalibrationJson(new TextDecoder().decode(bytes), file)
      : (() => { throw new InputError(`Calibration file ${file} must end in .npy or .json (see adapters/cli/README.md).`); })();
  return tf.tensor(arr.data, arr.shape, 'float32');
}
