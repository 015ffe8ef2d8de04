/**
 * In-memory model artifacts (topology + weight specs + weight bytes) of a LayersModel, through
 * tfjs's own serialization, and a model built from them with exactly those weights.
 */
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { InputError } from '../../plugins/core/errors.ts';

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

/**
 * Builds a model from a topology and float32 weights, setting every variable to exactly the given
 * values. Unlike tfl.loadLayersModel this does not re-apply kernel constraints (which would move
 * quantized weights off their grid, and leaks a tensor per constrained weight in tfjs 4.22).
 * Throws InputError when the weights do not match the topology; nothing is left allocated then.
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
    const size = spec.shape.reduce((a, b) => a * b, 1);
    if ((at + size) * 4 > weightData.byteLength) throw new InputError(`Weight data is too short for weight ${spec.name}.`);
    values.set(spec.name, { shape: spec.shape, data: new Float32Array(weightData, at * 4, size) });
    at += size;
  }
  const topology = modelTopology as { model_config?: object };
  const model = await tfl.models.modelFromJSON({ modelTopology: topology.model_config ?? modelTopology } as tfl.ModelAndWeightsConfig);
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
