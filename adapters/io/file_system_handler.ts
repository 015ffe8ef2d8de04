/**
 * fileSystem(path) (Node): a tf.io IOHandler that saves and loads ordinary tfjs LayersModels as
 * files, in the shape of tfjs-node's tf.io.fileSystem, without tfjs-node.
 *
 *   await model.save(fileSystem('out/m'));                       // out/m/model.json + weights file
 *   const m = await tf.loadLayersModel(fileSystem('out/m/model.json'));
 *   registerFileSystemRouter();                                  // then 'file://out/m' works too
 *
 * Saving: model.json with a weightsManifest and weights.bin, written atomically for the whole model
 * (write_model_dir.ts: the previous model stays loadable until the new one is complete). Loading: model.json and its shards are read with readBounded: regular
 * files only, model.json at most MAX_MODEL_JSON_BYTES, shard paths kept inside the model's folder,
 * shards capped at the byte size their manifest group declares; a truncated or padded shard, bad
 * JSON or a malformed manifest is an InputError, before any tensor exists.
 */
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs-core';
import { InputError, OptionError, describeValue } from '../../plugins/core/errors.ts';
import { rejectUnknownKeys } from '../../plugins/core/validate.ts';
import { MAX_MODEL_JSON_BYTES, DEFAULT_MAX_BYTES, checkLoadOptions, readBounded } from './read_bounded.ts';
import { MODEL_JSON, writeModelDirAtomic } from './write_model_dir.ts';

export interface FileSystemOptions {
  /** Save: write even into a folder holding files that are not part of a saved model (they are kept). Default false. */
  overwrite?: boolean;
  /** Load: abort reading; the signal's reason is thrown. */
  signal?: AbortSignal;
}

const BYTES: Record<string, number> = { float32: 4, int32: 4, bool: 1, complex64: 8, uint8: 1, uint16: 2, float16: 2 };

function bad(where: string, msg: string): never {
  throw new InputError(`Malformed model ${where}: ${msg}`);
}

function toPath(p: string): string {
  if (/^file:\/\/\//i.test(p)) return fileURLToPath(p);
  return p.replace(/^file:\/\//i, ''); // tfjs style: file://relative/dir
}

/** Bytes one manifest entry takes in the weight data, or undefined for strings (variable length). */
function entryBytes(where: string, e: unknown, i: number): number | undefined {
  const spec = e as Partial<tf.io.WeightsManifestEntry> | null;
  if (typeof spec !== 'object' || spec === null || typeof spec.name !== 'string') bad(where, `weights[${i}] needs a "name".`);
  if (!Array.isArray(spec.shape) || !spec.shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
    bad(where, `weights[${i}] (${spec.name}) has shape ${describeValue(spec.shape)}; it must be an array of integers >= 0.`);
  }
  const size = spec.shape.reduce((a, b) => a * b, 1);
  if (!Number.isSafeInteger(size)) bad(where, `weights[${i}] (${spec.name}) is too large.`);
  if (spec.dtype === 'string') return undefined;
  const stored = spec.quantization?.dtype ?? spec.dtype;
  const per = BYTES[stored as string];
  if (per === undefined) bad(where, `weights[${i}] (${spec.name}) has dtype ${describeValue(stored)}.`);
  return size * per;
}

async function save(dir: string, artifacts: tf.io.ModelArtifacts, overwrite: boolean): Promise<tf.io.SaveResult> {
  if (artifacts.modelTopology instanceof ArrayBuffer) {
    throw new InputError('fileSystem() saves models whose topology is JSON (LayersModel); this one is binary.');
  }
  const data = artifacts.weightData;
  const weights = new Uint8Array(data === undefined ? new ArrayBuffer(0) : tf.io.concatenateArrayBuffers(data as ArrayBuffer[] | ArrayBuffer));
  const modelJson = (weightsFile: string): string => {
    const json: Record<string, unknown> = {
      modelTopology: artifacts.modelTopology,
      format: artifacts.format ?? 'layers-model',
      generatedBy: artifacts.generatedBy,
      convertedBy: artifacts.convertedBy ?? null,
      weightsManifest: [{ paths: [weightsFile], weights: artifacts.weightSpecs ?? [] }],
    };
    for (const k of ['trainingConfig', 'signature', 'userDefinedMetadata', 'modelInitializer', 'initializerSignature'] as const) {
      if (artifacts[k] !== undefined) json[k] = artifacts[k];
    }
    return JSON.stringify(json);
  };
  await writeModelDirAtomic(dir, { weights, modelJson }, { overwrite });
  return { modelArtifactsInfo: tf.io.getModelArtifactsInfoForJSON(artifacts) };
}

async function load(jsonPath: string, signal: AbortSignal | undefined): Promise<tf.io.ModelArtifacts> {
  const where = jsonPath;
  const sig = signal ? { signal } : {};
  const text = new TextDecoder().decode(await readBounded(jsonPath, { maxBytes: MAX_MODEL_JSON_BYTES, what: jsonPath, ...sig }));
  let json: tf.io.ModelJSON;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new InputError(`Malformed model ${where}: not valid JSON (${(err as Error).message}).`);
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) bad(where, 'model.json is not a JSON object.');
  const format = (json as { format?: unknown }).format;
  if (typeof format === 'string' && format.startsWith('tfjs-sam-quantease/')) {
    throw new InputError(`${where} is a packed quantized model; load it with loadQuantized() (tfjs-sam-quantease/io), not fileSystem().`);
  }
  if (typeof json.modelTopology !== 'object' || json.modelTopology === null) bad(where, '"modelTopology" is missing.');
  if (!Array.isArray(json.weightsManifest)) {
    bad(where, '"weightsManifest" is missing: without it tfjs would build the model with fresh random weights.');
  }
  const dir = path.dirname(jsonPath);
  const groups = json.weightsManifest.map((g, gi) => {
    if (typeof g !== 'object' || g === null || !Array.isArray(g.paths) || !Array.isArray(g.weights)) {
      bad(where, `weightsManifest[${gi}] needs "paths" and "weights" arrays.`);
    }
    if (!g.paths.every((p) => typeof p === 'string')) bad(where, `weightsManifest[${gi}].paths must be strings.`);
    const sizes = g.weights.map((e, i) => entryBytes(`${where} weightsManifest[${gi}]`, e, i));
    const bytes = sizes.some((s) => s === undefined) ? undefined : (sizes as number[]).reduce((a, b) => a + b, 0);
    return { paths: g.paths, bytes, gi };
  });
  return tf.io.getModelArtifactsForJSON(json, async (manifest) => {
    const buffers: ArrayBuffer[] = [];
    for (const { paths, bytes, gi } of groups) {
      let read = 0;
      for (const p of paths) {
        // The shard must fit in what the group declares (strings: only the general cap).
        const room = bytes === undefined ? DEFAULT_MAX_BYTES : bytes - read;
        const b = await readBounded(p, { baseDir: dir, maxBytes: room, what: `weight shard ${JSON.stringify(p)} of ${where}`, ...sig });
        read += b.byteLength;
        buffers.push(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength) as ArrayBuffer);
      }
      if (bytes !== undefined && read !== bytes) {
        throw new InputError(`Malformed model ${where}: the shards of weightsManifest[${gi}] hold ${read} bytes but its weights need ${bytes} (a shard is truncated or missing).`);
      }
    }
    return [tf.io.getWeightSpecs(manifest), tf.io.concatenateArrayBuffers(buffers)];
  });
}

/**
 * A tf.io IOHandler for files in Node. `path`: for saving, the folder (created if missing; a path
 * ending in model.json means its folder); for loading, the model.json file or its folder. A
 * file:// URL is accepted for both.
 * @example await model.save(fileSystem('out/m')); const m = await tf.loadLayersModel(fileSystem('out/m/model.json'));
 */
export function fileSystem(pathOrUrl: string, options: FileSystemOptions = {}): tf.io.IOHandler {
  if (typeof pathOrUrl !== 'string' || pathOrUrl === '') {
    throw new OptionError(`\`path\` must be a non-empty string (a folder or a model.json). Received: path=${describeValue(pathOrUrl)}.`);
  }
  rejectUnknownKeys(options, ['overwrite', 'signal'], 'fileSystem');
  if (options.overwrite !== undefined && typeof options.overwrite !== 'boolean') {
    throw new OptionError(`\`overwrite\` must be true or false. Received: overwrite=${describeValue(options.overwrite)}.`);
  }
  checkLoadOptions(options, 'fileSystem');
  const p = toPath(pathOrUrl);
  const isJson = path.basename(p) === MODEL_JSON || /\.json$/i.test(p);
  return {
    save: (artifacts) => save(isJson ? path.dirname(p) : p, artifacts, options.overwrite ?? false),
    load: () => load(isJson ? p : path.join(p, MODEL_JSON), options.signal),
  };
}

let registered = false;

/**
 * Routes `file://` URLs of model.save / tf.loadLayersModel to fileSystem(). Only through this
 * call, never at import. Returns false (and registers nothing) when another file:// handler is
 * already there (tfjs-node registers its own); calling it twice registers once.
 * @example registerFileSystemRouter(); await model.save('file://out/m');
 */
export function registerFileSystemRouter(): boolean {
  if (registered) return true;
  const probe = 'file:///tmp/tfjs-sam-quantease-probe';
  if (tf.io.getSaveHandlers(probe).length > 0 || tf.io.getLoadHandlers(probe).length > 0) return false;
  // tfjs routers return null for URLs they do not handle (its IORouter type omits the null).
  const route = (url: string | string[]) => (typeof url === 'string' && /^file:\/\//i.test(url) ? fileSystem(url) : null) as tf.io.IOHandler;
  tf.io.registerSaveRouter(route);
  tf.io.registerLoadRouter(route);
  registered = true;
  return true;
}
