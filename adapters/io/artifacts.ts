/**
 * In-memory model artifacts (topology + weight specs + weight bytes) of a LayersModel, through
 * tfjs's own serialization, and a model built from them with exactly those weights.
 */
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { InputError } from '../../plugins/core/errors.ts';
import { pythonicToTs } from './keras_config.ts';

/** The model's tfjs artifacts, with weightData joined into one ArrayBuffer. */
export async function modelArtifacts(model: tfl.LayersModel): Promise<tf.io.ModelArtifacts & { weightData: ArrayBuffer }> {
  let artifacts: tf.io.ModelArtifacts | undefined;
  await model.save(
    tf.io.withSaveHandler(async (a) => {
      artifacts = a;
      return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
    }),
  );
  const a = artifacts!;
  const data = a.weightData;
  const joined = data === undefined ? new ArrayBuffer(0) : Array.isArray(data) ? tf.io.concatenateArrayBuffers(data) : data;
  return { ...a, weightData: joined };
}

function isObj(x: unknown): x is Record<string, unknown> {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}

/**
 * The engine's variable registry (tf.engine().state, public in tfjs-core's types), checked once
 * per use so a tfjs that renames it fails loudly instead of leaking silently.
 */
function registeredVariables(): Record<string, tf.Variable> {
  const vars = (tf.engine() as { state?: { registeredVariables?: unknown } }).state?.registeredVariables;
  if (typeof vars !== 'object' || vars === null) {
    throw new Error(`tfjs-sam-quantease needs tf.engine().state.registeredVariables, which @tensorflow/tfjs-core ${tf.version_core} does not have.`);
  }
  return vars as Record<string, tf.Variable>;
}

/**
 * Deserializes a topology with every initializer skipped: the weights start as zeros, as in
 * tf.loadLayersModel when weights will be set (public static fromConfig with fastWeightInit), so an
 * Orthogonal Dense 512 or an LSTM costs no QR and a giant layer costs no random numbers. On failure
 * the variables created so far are disposed (the build is synchronous, so every variable created
 * between the two snapshots is this build's own).
 */
function deserializeWithoutInit(modelTopology: object): tfl.LayersModel {
  const outer = modelTopology as { model_config?: unknown };
  const topology = pythonicToTs(outer.model_config ?? modelTopology);
  if (!isObj(topology) || typeof topology.className !== 'string' || !isObj(topology.config)) {
    throw new InputError('The topology must be an object {class_name, config} as tfjs-layers saves it.');
  }
  const entry = tf.serialization.SerializationMap.getMap().classNameMap[topology.className] as
    | [tf.serialization.SerializableConstructor<tf.serialization.Serializable>, (cls: unknown, config: unknown, custom: object, fast: boolean) => unknown]
    | undefined;
  if (!entry || !(entry[0] === (tfl.LayersModel as unknown) || entry[0].prototype instanceof tfl.LayersModel)) {
    throw new InputError(`The topology's class ${JSON.stringify(topology.className)} is not a tfjs-layers model class (Sequential, Model, Functional).`);
  }
  const before = new Set(Object.keys(registeredVariables()));
  try {
    return entry[1](entry[0], topology.config, {}, true) as tfl.LayersModel;
  } catch (err) {
    const vars = registeredVariables();
    for (const name of Object.keys(vars)) if (!before.has(name)) vars[name].dispose();
    throw new InputError(`The topology does not build a model: ${(err as Error).message}`);
  }
}

/**
 * Builds a model from a topology and float32 weights, setting every variable to exactly the given
 * values. No initializer runs (deserializeWithoutInit). Unlike tf.loadLayersModel this does not
 * re-apply kernel constraints (which would move quantized weights off their grid, and leaks a
 * tensor per constrained weight in tfjs 4.22). Throws InputError when the weights do not match the
 * topology; nothing is left allocated then.
 */
export async function buildModel(
  modelTopology: object,
  weightSpecs: tf.io.WeightsManifestEntry[],
  weightData: ArrayBuffer,
): Promise<tfl.LayersModel> {
  const values = new Map<string, { shape: number[]; data: Float32Array }>();
  let at = 0;
  for (const spec of weightSpecs) {
    if (spec.dtype !== undefined && spec.dtype !== 'float32') throw new InputError(`Weight ${spec.name} has dtype ${spec.dtype}; only float32 is supported.`);
    if (spec.quantization) throw new InputError(`Weight ${spec.name} is tfjs-quantized; only float32 is supported.`);
    if (values.has(spec.name)) throw new InputError(`Weight ${spec.name} appears twice in the weight specs.`);
    const size = spec.shape.reduce((a, b) => a * b, 1);
    if ((at + size) * 4 > weightData.byteLength) throw new InputError(`Weight data is too short for weight ${spec.name}.`);
    values.set(spec.name, { shape: spec.shape, data: new Float32Array(weightData, at * 4, size) });
    at += size;
  }
  if (at * 4 !== weightData.byteLength) throw new InputError(`Weight data has ${weightData.byteLength - at * 4} bytes beyond the last weight spec.`);
  const model = deserializeWithoutInit(modelTopology);
  try {
    const names = model.weights.map((w) => w.originalName);
    const missing = names.filter((n) => !values.has(n));
    const extra = [...values.keys()].filter((n) => !names.includes(n));
    if (missing.length || extra.length) {
      throw new InputError(
        `The weights do not match the model topology` +
          (missing.length ? `; missing: ${missing.join(', ')}` : '') + (extra.length ? `; unexpected: ${extra.join(', ')}` : '') + '.',
      );
    }
    for (const w of model.weights) {
      const v = values.get(w.originalName)!;
      if (v.shape.join() !== w.shape.join()) throw new InputError(`Weight ${w.originalName} has shape [${v.shape}] but the topology needs [${w.shape}].`);
    }
    for (const w of model.weights) {
      const v = values.get(w.originalName)!;
      const t = tf.tensor(v.data, v.shape, 'float32');
      (w.read() as tf.Variable).assign(t); // no constraint applied
      t.dispose();
    }
  } catch (err) {
    model.dispose();
    throw err;
  }
  return model;
}

/** A copy of `model` built from its serialization: same topology and weights, new variables. */
export async function cloneModel(model: tfl.LayersModel): Promise<tfl.LayersModel> {
  const a = await modelArtifacts(model);
  return buildModel(a.modelTopology as object, a.weightSpecs ?? [], a.weightData);
}
