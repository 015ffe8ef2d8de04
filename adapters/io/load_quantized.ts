/**
 * loadQuantized: a packed model (adapters/io/format.ts) -> an ordinary tfjs-layers LayersModel
 * with dequantized float32 weights. No Node API at module level (browsers are a target): URLs are
 * fetched; in Node, file paths and file:// URLs are read through a run-time import (read_node.ts).
 */
import type * as tfl from '@tensorflow/tfjs-layers';
import { InputError, describeValue } from '../../plugins/core/errors.ts';
import { rejectUnknownKeys } from '../../plugins/core/validate.ts';
import { buildModel } from './artifacts.ts';
import { decodePacked } from './decode.ts';
import { validatePackedJSON } from './format.ts';
import { MAX_MODEL_JSON_BYTES, checkLoadOptions, readBounded } from './read_bounded.ts';

export interface LoadQuantizedOptions {
  /** Called with the fraction done (0..1) and the stage. Default: none. */
  onProgress?: (fraction: number, stage: string) => void;
  /** fetch to use for URLs (default: globalThis.fetch). */
  fetch?: typeof fetch;
  /** Aborts the load (files and URLs); the signal's reason is thrown. Default: none. */
  signal?: AbortSignal;
  /** URLs: abort when the server sends nothing for this many ms. Default 60000. */
  timeoutMs?: number;
}

function isUrl(s: string): boolean {
  return /^[a-z][a-z0-9+.-]*:\/\//i.test(s) && !/^file:/i.test(s);
}

/** model.json location -> the weights file location beside it. */
function sibling(jsonPath: string, file: string): string {
  if (isUrl(jsonPath) || /^file:/i.test(jsonPath)) return new URL(file, jsonPath).toString();
  const cut = Math.max(jsonPath.lastIndexOf('/'), jsonPath.lastIndexOf('\\'));
  return cut < 0 ? file : jsonPath.slice(0, cut + 1) + file;
}

/** Bounded read (read_bounded.ts): regular files only, at most `maxBytes` or exactly `expectedBytes`. */
function read(where: string, options: LoadQuantizedOptions, limit: { maxBytes?: number; expectedBytes?: number }): Promise<Uint8Array> {
  const { fetch, signal, timeoutMs } = options;
  return readBounded(where, { ...limit, ...(fetch ? { fetch } : {}), ...(signal ? { signal } : {}), ...(timeoutMs !== undefined ? { timeoutMs } : {}) });
}

/**
 * Loads a packed model from a directory, a model.json path, or a URL.
 * Everything is validated before the model is built: an unknown version, missing keys, sizes that
 * do not match, outlier indices out of range, a truncated or corrupted weights file -> InputError.
 * model.json is validated in full before weights.bin is fetched.
 * @example const model = await loadQuantized('out/model.json');
 */
export async function loadQuantized(pathOrUrl: string, options: LoadQuantizedOptions = {}): Promise<tfl.LayersModel> {
  if (typeof pathOrUrl !== 'string' || pathOrUrl === '') {
    throw new InputError(`\`pathOrUrl\` must be a non-empty string. Received: ${describeValue(pathOrUrl)}.`);
  }
  rejectUnknownKeys(options, ['onProgress', 'fetch', 'signal', 'timeoutMs'], 'loadQuantized');
  checkLoadOptions(options, 'loadQuantized');
  const progress = options.onProgress ?? (() => {});
  const jsonPath = /\.json$/i.test(pathOrUrl.split(/[?#]/)[0]) ? pathOrUrl : sibling(pathOrUrl.replace(/[\\/]?$/, '/'), 'model.json');
  progress(0, 'model.json');
  const jsonBytes = await read(jsonPath, options, { maxBytes: MAX_MODEL_JSON_BYTES });
  let json: unknown;
  try {
    json = JSON.parse(new TextDecoder().decode(jsonBytes));
  } catch (err) {
    throw new InputError(`Malformed packed model: ${jsonPath} is not valid JSON (${(err as Error).message}).`);
  }
  // The whole manifest (version, keys, declared sizes) is validated before weights.bin is
  // requested: a file this loader cannot read costs one small request, not the whole download.
  const manifest = validatePackedJSON(json);
  progress(0.1, 'weights');
  const bin = await read(sibling(jsonPath, manifest.weightsFile), options, { expectedBytes: manifest.weightsByteLength });
  progress(0.6, 'decode');
  const { artifacts } = decodePacked(json, bin);
  progress(0.8, 'build');
  let model: tfl.LayersModel;
  try {
    model = await buildModel(artifacts.modelTopology as object, artifacts.weightSpecs!, artifacts.weightData as ArrayBuffer);
  } catch (err) {
    if (err instanceof InputError) throw new InputError(`Malformed packed model: ${err.message}`);
    throw new InputError(`Malformed packed model: the topology and weights do not build a model (${(err as Error).message}).`);
  }
  progress(1, 'done');
  return model;
}
