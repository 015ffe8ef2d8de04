/**
 * The pretrained MobileNetV2 (224 x 224 RGB in [0, 1] -> 5-class softmax) shipped by the dev
 * dependency `nsfwjs`, loaded without any network access.
 *
 * nsfwjs bundles its tfjs LayersModel as two browserify/UMD scripts in
 * node_modules/nsfwjs/dist/models/mobilenet_v2/:
 *   - model.min.js exports the parsed model.json: {modelTopology, weightsManifest};
 *   - group1-shard1of1.min.js exports the weight shard as one base64 string.
 * The manifest stores every weight as per-tensor affine uint8 (`quantization: {min, scale,
 * dtype: 'uint8'}`); tf.io.decodeWeights dequantizes them to float32 as w = min + scale * q.
 * Those dequantized floats are the float model every experiment here compares against.
 */
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import {createRequire} from 'node:module';
import {dirname, join} from 'node:path';

/** Output classes, in order. */
export const NSFW_CLASSES = ['Drawing', 'Hentai', 'Neutral', 'Porn', 'Sexy'] as const;

interface BundledModel {
  modelTopology: object;
  weightsManifest: Array<{paths: string[]; weights: tf.io.WeightsManifestEntry[]}>;
}

/** Folder holding the two bundles. */
export function nsfwjsModelDir(name = 'mobilenet_v2'): string {
  const require = createRequire(import.meta.url);
  // nsfwjs's package.json has an `exports` map; resolve its main entry and walk up to dist/.
  const main = require.resolve('nsfwjs');
  let dir = dirname(main);
  while (!dir.endsWith('dist') && dirname(dir) !== dir) dir = dirname(dir);
  return join(dir, 'models', name);
}

/** model.json and the weight bytes, as tfjs ModelArtifacts (weights still uint8-quantized in the manifest). */
export function nsfwjsArtifacts(name = 'mobilenet_v2'): tf.io.ModelArtifacts {
  const require = createRequire(import.meta.url);
  const dir = nsfwjsModelDir(name);
  const model = require(join(dir, 'model.min.js')) as BundledModel;
  const shards = model.weightsManifest.flatMap((g) => g.paths);
  const buffers = shards.map((path) => {
    const base64 = require(join(dir, `${path}.min.js`)) as string;
    const bytes = Buffer.from(base64, 'base64');
    return bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer;
  });
  const total = buffers.reduce((n, b) => n + b.byteLength, 0);
  const weightData = new Uint8Array(total);
  let offset = 0;
  for (const b of buffers) {
    weightData.set(new Uint8Array(b), offset);
    offset += b.byteLength;
  }
  return {
    modelTopology: model.modelTopology,
    weightSpecs: model.weightsManifest.flatMap((g) => g.weights),
    weightData: weightData.buffer,
  };
}

/** Loads nsfwjs's MobileNetV2 as a tfjs LayersModel with float32 (dequantized) weights. */
export async function loadNsfwjsMobileNetV2(): Promise<tfl.LayersModel> {
  return tfl.loadLayersModel(tf.io.fromMemory(nsfwjsArtifacts('mobilenet_v2')));
}
