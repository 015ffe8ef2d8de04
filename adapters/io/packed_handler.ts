/**
 * packedModel(): a tf.io.IOHandler for the packed format (format.ts), so a packed model loads
 * where tfjs users already load models:
 *
 *   const model = await tf.loadLayersModel(packedModel('https://host/q4/model.json?token=abc'));
 *
 * load() reads model.json (bounded), validates all of it, reads the weights file (exactly the
 * declared size), checks both checksums, dequantizes, and returns float32 ModelArtifacts; tfjs then
 * builds the model without running initializers (weights are given) and sets the weights.
 * Browser-safe: URLs are fetched; in Node, paths and file:// URLs are read through a run-time
 * import of node:fs (read_node.ts). Saving writes files, so this handler has no save(); the Node
 * handler of the same name (packed_node.ts) adds it.
 *
 * Note: tf.loadLayersModel re-applies weight constraints (e.g. maxNorm) to loaded weights, which
 * can move a constrained kernel off its quantization grid; loadQuantized() (load_quantized.ts)
 * sets the weights exactly.
 */
import * as tf from '@tensorflow/tfjs-core';
import { InputError, OptionError, describeValue } from '../../plugins/core/errors.ts';
import { rejectUnknownKeys } from '../../plugins/core/validate.ts';
import { decodePacked } from './decode.ts';
import { validatePackedJSON } from './validate_packed.ts';
import { MAX_MODEL_JSON_BYTES, readBounded } from './read_bounded.ts';
import { isRemoteUrl, modelJsonLocation, siblingLocation } from './urls.ts';
import type { QuantizedPayload } from './format.ts';

export interface PackedLoadOptions {
  /** Called with the fraction done (0..1) and the stage. Default: none. */
  onProgress?: (fraction: number, stage: string) => void;
  /** fetch to use for URLs (default: globalThis.fetch). With it, a relative path is fetched too. */
  fetch?: typeof fetch;
  /** Aborts the load; the signal's reason is thrown. Default: none. */
  signal?: AbortSignal;
  /** URLs: give up when the server sends nothing for this many ms. Default 60000. */
  timeoutMs?: number;
}

export interface PackedSaveOptions {
  /** quantizeModel's payload: the codes of the quantized kernels (required to save). */
  payload?: QuantizedPayload;
  /** quantizeModel's report, stored in model.json as information. Default: none. */
  report?: unknown;
  /** Save into a folder that holds other files (they are kept). Default false. */
  overwrite?: boolean;
  /** Ignored: quantizeModel's whole result {model, payload, report} may be passed as the options. */
  model?: unknown;
}

export type PackedModelOptions = PackedLoadOptions & PackedSaveOptions;

export const LOAD_KEYS = ['onProgress', 'fetch', 'signal', 'timeoutMs'] as const;
export const SAVE_KEYS = ['payload', 'report', 'overwrite', 'model'] as const;

/** Checks the options once, at construction (names the option, the value and what is allowed). */
export function checkPackedOptions(options: PackedModelOptions, where: string): void {
  rejectUnknownKeys(options, [...LOAD_KEYS, ...SAVE_KEYS], where);
  const o = options;
  if (o.onProgress !== undefined && typeof o.onProgress !== 'function') throw new OptionError(`\`onProgress\` must be a function. Received: onProgress=${describeValue(o.onProgress)}.`);
  if (o.fetch !== undefined && typeof o.fetch !== 'function') throw new OptionError(`\`fetch\` must be a function. Received: fetch=${describeValue(o.fetch)}.`);
  if (o.signal !== undefined && (typeof o.signal !== 'object' || o.signal === null || typeof (o.signal as AbortSignal).aborted !== 'boolean')) {
    throw new OptionError(`\`signal\` must be an AbortSignal. Received: signal=${describeValue(o.signal)}.`);
  }
  if (o.timeoutMs !== undefined && (typeof o.timeoutMs !== 'number' || !(o.timeoutMs > 0))) {
    throw new OptionError(`\`timeoutMs\` must be a number > 0. Received: timeoutMs=${describeValue(o.timeoutMs)}.`);
  }
  if (o.payload !== undefined && !(o.payload instanceof Map)) {
    throw new OptionError(`\`payload\` must be the payload returned by quantizeModel (a Map). Received: payload=${describeValue(o.payload)}.`);
  }
  if (o.overwrite !== undefined && typeof o.overwrite !== 'boolean') throw new OptionError(`\`overwrite\` must be a boolean. Received: overwrite=${describeValue(o.overwrite)}.`);
}

/** Bounded read (read_bounded.ts): regular files only, at most `maxBytes` or exactly `expectedBytes`, idle timeout on URLs. */
function readSource(where: string, o: PackedLoadOptions, limit: { maxBytes?: number; expectedBytes?: number }): Promise<Uint8Array> {
  return readBounded(where, {
    ...limit, ...(o.fetch ? { fetch: o.fetch } : {}), ...(o.signal ? { signal: o.signal } : {}), ...(o.timeoutMs !== undefined ? { timeoutMs: o.timeoutMs } : {}),
  });
}

/**
 * Reads and decodes a packed model: model.json validated in full before the weights file is
 * requested, then both checksums and every weight checked. Returns float32 ModelArtifacts.
 */
export async function loadPackedArtifacts(pathOrUrl: string, options: PackedLoadOptions = {}): Promise<tf.io.ModelArtifacts> {
  const progress = options.onProgress ?? (() => {});
  const jsonPath = modelJsonLocation(pathOrUrl);
  progress(0, 'model.json');
  const jsonBytes = await readSource(jsonPath, options, { maxBytes: MAX_MODEL_JSON_BYTES });
  let json: unknown;
  try {
    json = JSON.parse(new TextDecoder().decode(jsonBytes));
  } catch (err) {
    throw new InputError(`Malformed packed model: ${jsonPath} is not valid JSON (${(err as Error).message}).`);
  }
  // A file this loader cannot read costs one small request, not the whole download.
  const manifest = validatePackedJSON(json);
  progress(0.1, 'weights');
  const bin = await readSource(siblingLocation(jsonPath, manifest.weightsFile), options, { expectedBytes: manifest.weightsByteLength });
  progress(0.6, 'decode');
  const { artifacts } = decodePacked(json, bin);
  progress(0.8, 'build');
  return artifacts;
}

export function checkSource(pathOrUrl: unknown, where: string): asserts pathOrUrl is string {
  if (typeof pathOrUrl !== 'string' || pathOrUrl === '') {
    throw new InputError(`${where}: \`pathOrUrl\` must be a non-empty string (a folder or a model.json, as a path or a URL). Received: ${describeValue(pathOrUrl)}.`);
  }
}

/**
 * An IOHandler that loads a packed model: tf.loadLayersModel(packedModel(urlOrPath)).
 * In a browser it only loads; in Node, the handler of the same name from the package's Node entry
 * also saves (model.save(packedModel(dir, {payload, report}))).
 * @example const model = await tf.loadLayersModel(packedModel('https://host/models/q4/'));
 */
export function packedModel(pathOrUrl: string, options: PackedModelOptions = {}): tf.io.IOHandler {
  checkSource(pathOrUrl, 'packedModel');
  checkPackedOptions(options, 'packedModel');
  return {
    load: () => loadPackedArtifacts(pathOrUrl, options),
    save: async () => {
      throw new InputError(
        'Saving a packed model writes files, which needs Node: use packedModel from the package\'s Node entry ' +
          "('tfjs-sam-quantease/io' under Node, adapters/io/packed_node.ts), or encodePacked() and upload the two files yourself.",
      );
    },
  };
}

/** URL prefix the optional load router answers: packed+https://host/q4/, packed+file:///srv/q4/, packed+out/q4. */
export const PACKED_URL_PREFIX = 'packed+';
let routerRegistered = false;

/**
 * Registers a tf.io load router so tf.loadLayersModel('packed+https://host/q4/model.json') loads a
 * packed model (the prefix is removed; the rest is what packedModel takes). Explicit, never at
 * import; calling it again does nothing. There is no save router: saving needs the payload.
 * @example registerPackedRouter(); const m = await tf.loadLayersModel('packed+https://host/q4/');
 */
export function registerPackedRouter(): void {
  if (routerRegistered) return;
  // tfjs's IORouter type says IOHandler, but its registry skips a router that returns null.
  tf.io.registerLoadRouter(((url: string | string[]) =>
    typeof url === 'string' && url.startsWith(PACKED_URL_PREFIX) ? packedModel(url.slice(PACKED_URL_PREFIX.length)) : null) as Parameters<typeof tf.io.registerLoadRouter>[0]);
  routerRegistered = true;
}
