/**
 * Building a model from its artifacts (adapters/io/artifacts.ts buildModel, used by loadQuantized,
 * quantizeModel's working copy and the CLI): no initializer runs, the topology round-trips exactly
 * as stock tf.loadLayersModel builds it, and a failed build leaves nothing allocated.
 */
import test from 'ava';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import * as tfl from '@tensorflow/tfjs-layers';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { buildModel, modelArtifacts } from '../../../adapters/io/artifacts.ts';
import { main } from '../../../adapters/cli/cli.ts';
import { loadQuantized } from '../../../adapters/io/load_quantized.ts';
import { InputError } from '../../../plugins/core/errors.ts';

/** tfjs-layers' Initializer base class (not exported by name): the parent of Zeros. */
const InitializerBase = Object.getPrototypeOf(tfl.initializers.zeros().constructor) as new () => tf.serialization.Serializable;

/** An initializer that counts its calls: the build must never call it. */
class CountingInit extends InitializerBase {
  static calls = 0;
  static get className() {
    return 'CountingInitForTest';
  }
  apply(shape: number[]): tf.Tensor {
    CountingInit.calls++;
    return tf.ones(shape);
  }
  getConfig() {
    return {};
  }
}
tf.serialization.registerClass(CountingInit as unknown as tf.serialization.SerializableConstructor<tf.serialization.Serializable>);

const seeded = (seed: number) => tfl.initializers.glorotNormal({ seed });

test.before(async () => {
  await tf.setBackend('cpu');
});

const variableCount = () => Object.keys(tf.engine().state.registeredVariables).length;

test.serial('no initializer runs while building (an initializer that counts its calls)', async (t) => {
  const m = tfl.sequential({ layers: [tfl.layers.dense({ inputShape: [5], units: 3, kernelInitializer: new CountingInit() as never, biasInitializer: new CountingInit() as never })] });
  t.is(CountingInit.calls, 2); // building the original calls it once per weight
  const a = await modelArtifacts(m);
  const built = await buildModel(a.modelTopology as object, a.weightSpecs!, a.weightData);
  t.is(CountingInit.calls, 2, 'buildModel ran an initializer');
  // Weights come from the artifacts (ones), the config still names the initializer.
  t.deepEqual(Array.from(built.getWeights()[0].dataSync()), new Array(15).fill(1));
  t.is((built.layers[0].getConfig().kernelInitializer as { className: string }).className, 'CountingInitForTest');
  built.dispose();
  m.dispose();
});

/**
 * The saved topology with every recurrent initializer and every Dense kernel initializer set to
 * Orthogonal (tfjs's default for LSTM/GRU recurrent kernels). Orthogonal cannot even run here:
 * tfjs-layers 4.22 calls the chained op rMat.flatten(), which exists only when the whole
 * @tensorflow/tfjs bundle is imported, so an LSTM model failed to load in the CLI.
 */
function withOrthogonal(topology: unknown): unknown {
  return JSON.parse(JSON.stringify(topology), (key, value) =>
    (key === 'recurrent_initializer' || key === 'kernel_initializer') && value && value.class_name ? { class_name: 'Orthogonal', config: { gain: 1, seed: 5 } } : value);
}

/** Models covering every kind of config the pythonic -> TypeScript conversion meets. */
function zoo(): Array<[string, tfl.LayersModel]> {
  const seq = (layers: tfl.layers.Layer[]) => tfl.sequential({ layers });
  const input = tfl.input({ shape: [6, 4], name: 'in_put' });
  const a = tfl.layers.lstm({ units: 5, returnSequences: true, name: 'lstm_a', kernelInitializer: seeded(3), recurrentInitializer: seeded(4) }).apply(input) as tfl.SymbolicTensor;
  const b = tfl.layers.timeDistributed({ layer: tfl.layers.dense({ units: 5, kernelInitializer: seeded(5) }), name: 'time_dist' }).apply(input) as tfl.SymbolicTensor;
  const c = tfl.layers.add({ name: 'add_1x' }).apply([a, b]) as tfl.SymbolicTensor;
  const d = tfl.layers.concatenate({ name: 'concat_2' }).apply([c, input]) as tfl.SymbolicTensor;
  const out = tfl.layers.globalAveragePooling1d({}).apply(d) as tfl.SymbolicTensor;
  return [
    ['dense with hard_sigmoid', seq([tfl.layers.dense({ inputShape: [8], units: 8, activation: 'hardSigmoid', kernelInitializer: seeded(1) })])],
    ['conv2d + batchnorm + depthwise + maxpool', seq([
      tfl.layers.conv2d({ inputShape: [8, 8, 2], filters: 3, kernelSize: 3, padding: 'same', kernelInitializer: seeded(1) }),
      tfl.layers.batchNormalization({}),
      tfl.layers.depthwiseConv2d({ kernelSize: 3, depthwiseInitializer: seeded(2) }),
      tfl.layers.maxPooling2d({ poolSize: 2 }),
      tfl.layers.flatten(),
      tfl.layers.dense({ units: 2, kernelInitializer: seeded(3), kernelConstraint: tfl.constraints.maxNorm({ maxValue: 2 }) }),
    ])],
    ['embedding + bidirectional GRU + simpleRNN', seq([
      tfl.layers.embedding({ inputDim: 11, outputDim: 4, inputLength: 5, embeddingsInitializer: seeded(6) }),
      tfl.layers.bidirectional({ layer: tfl.layers.gru({ units: 3, returnSequences: true, kernelInitializer: seeded(7), recurrentInitializer: seeded(8) }) as tfl.RNN, mergeMode: 'concat' }),
      tfl.layers.simpleRNN({ units: 2, kernelInitializer: seeded(9), recurrentInitializer: seeded(10) }),
    ])],
    ['functional: LSTM, TimeDistributed, Add, Concatenate (layer names with underscores)', tfl.model({ inputs: input, outputs: out, name: 'func_model' })],
  ];
}

test.serial('the built model equals stock tf.loadLayersModel: config, weights and predictions', async (t) => {
  for (const [label, m] of zoo()) {
    const a = await modelArtifacts(m);
    const ours = await buildModel(a.modelTopology as object, a.weightSpecs!, a.weightData);
    const stockPlain = await tfl.loadLayersModel(tf.io.fromMemory({ modelTopology: a.modelTopology, weightSpecs: a.weightSpecs, weightData: a.weightData }));
    t.deepEqual(ours.toJSON(null, false), stockPlain.toJSON(null, false), `${label}: same topology as stock tf.loadLayersModel`);
    stockPlain.dispose();
    const ortho = withOrthogonal(a.modelTopology) as object;
    const oursOrtho = await buildModel(ortho, a.weightSpecs!, a.weightData);
    const stock = await tfl.loadLayersModel(tf.io.fromMemory({ modelTopology: ortho, weightSpecs: a.weightSpecs, weightData: a.weightData }));
    t.deepEqual(oursOrtho.toJSON(null, false), stock.toJSON(null, false), `${label}: same model as stock tf.loadLayersModel`);
    t.true(JSON.stringify(oursOrtho.toJSON(null, false)).includes('Orthogonal'));
    oursOrtho.dispose();
    const shape = (m.inputs[0].shape as number[]).map((d) => d ?? 3);
    const x = m.layers[0].getClassName() === 'Embedding' ? tf.tensor2d([[1, 2, 3, 4, 5], [6, 7, 8, 9, 10], [0, 1, 0, 1, 0]], undefined, 'float32') : tf.randomNormal(shape, 0, 1, 'float32', 7);
    const p = (mm: tfl.LayersModel) => tf.tidy(() => Array.from((mm.predict(x) as tf.Tensor).dataSync()));
    t.deepEqual(p(ours), p(m), label);
    x.dispose();
    for (const mm of [ours, stock, m]) mm.dispose();
  }
});

test.serial('50 failed builds leak no tensor and no variable', async (t) => {
  const m = tfl.sequential({ layers: [
    tfl.layers.dense({ inputShape: [4], units: 6, kernelInitializer: seeded(1) }),
    tfl.layers.dense({ units: 3, kernelInitializer: seeded(2) }),
  ] });
  const a = await modelArtifacts(m);
  const topo = a.modelTopology as { config: { layers: Array<{ class_name: string; config: Record<string, unknown> }> } };
  const clone = () => JSON.parse(JSON.stringify(topo)) as typeof topo;
  const unknownSecond = clone();
  unknownSecond.config.layers[1].class_name = 'NoSuchLayer'; // fails after the first layer was built
  const badConfig = clone();
  badConfig.config.layers[1].config.units = -3;
  const wider = clone();
  wider.config.layers[1].config.units = 4; // builds, then the weights do not fit
  const cases: Array<[string, () => Promise<unknown>, RegExp]> = [
    ['unknown layer class', () => buildModel(unknownSecond, a.weightSpecs!, a.weightData), /does not build a model: Unknown layer: NoSuchLayer/],
    ['invalid layer config', () => buildModel(badConfig, a.weightSpecs!, a.weightData), /does not build a model/],
    ['weights of another shape', () => buildModel(wider, a.weightSpecs!, a.weightData), /has shape \[6,3\] but the topology needs \[6,4\]/],
    ['a weight missing', () => buildModel(topo, a.weightSpecs!.slice(0, 3), (a.weightData as ArrayBuffer).slice(0, (a.weightData as ArrayBuffer).byteLength - 12)), /missing: .*bias/],
    ['not a model class', () => buildModel({ class_name: 'Dense', config: {} }, [], new ArrayBuffer(0)), /not a tfjs-layers model class/],
  ];
  const tensors = tf.memory().numTensors;
  const variables = variableCount();
  for (let i = 0; i < 50; i++) {
    const [label, run, message] = cases[i % cases.length];
    await t.throwsAsync(run, { instanceOf: InputError, message }, label);
  }
  t.is(tf.memory().numTensors, tensors);
  t.is(variableCount(), variables);
  m.dispose();
});

test.serial('the CLI quantizes a model with an LSTM (no initializer runs on load)', async (t) => {
  const dir = await mkdtemp(path.join(tmpdir(), 'lstm-cli-'));
  try {
    const m = tfl.sequential({ layers: [
      tfl.layers.lstm({ inputShape: [5, 3], units: 8, kernelInitializer: seeded(1), recurrentInitializer: seeded(2) }),
      tfl.layers.dense({ units: 4, kernelInitializer: seeded(3) }),
    ] });
    const a = await modelArtifacts(m);
    a.modelTopology = withOrthogonal(a.modelTopology) as object; // as an LSTM saved with tfjs's defaults
    await writeFile(path.join(dir, 'weights.bin'), new Uint8Array(a.weightData));
    await writeFile(path.join(dir, 'model.json'), JSON.stringify({ format: 'layers-model', modelTopology: a.modelTopology, weightsManifest: [{ paths: ['weights.bin'], weights: a.weightSpecs }] }));
    const x = tf.randomNormal([40, 5, 3], 0, 1, 'float32', 4);
    const raw = new Uint8Array((x.dataSync() as Float32Array).slice().buffer);
    await writeFile(path.join(dir, 'calib.f32'), raw);
    // .npy v1.0 by hand (see cli.test.ts): magic, version, header length, header padded to 64 bytes.
    let header = `{'descr': '<f4', 'fortran_order': False, 'shape': (40, 5, 3), }`;
    header += ' '.repeat(64 - ((10 + header.length + 1) % 64)) + '\n';
    const npy = new Uint8Array(10 + header.length + raw.byteLength);
    npy.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0]);
    new DataView(npy.buffer).setUint16(8, header.length, true);
    npy.set(new TextEncoder().encode(header), 10);
    npy.set(raw, 10 + header.length);
    await writeFile(path.join(dir, 'calib.npy'), npy);
    let stderr = '';
    const code = await main(['quantize', path.join(dir, 'model.json'), '--calibration', path.join(dir, 'calib.npy'), '--method', 'rtn', '--bits', '4', '--out', path.join(dir, 'q'), '--backend', 'cpu'], { stdout: () => {}, stderr: (s) => (stderr += s) });
    t.is(code, 0, stderr);
    const q = await loadQuantized(path.join(dir, 'q'));
    t.is(q.layers[0].getClassName(), 'LSTM');
    // The LSTM's kernels are quantized (4-bit RTN: at most 16 distinct values per row of W), its bias
    // loads bit for bit, and the reloaded model predicts close to the float one.
    const [kernel, , bias] = q.getWeights();
    t.deepEqual(Array.from(bias.dataSync()), Array.from(m.getWeights()[2].dataSync()));
    const k = kernel.arraySync() as number[][]; // [in, 4 units]: row r of W is column r here
    for (let r = 0; r < k[0].length; r++) t.true(new Set(k.map((row) => row[r])).size <= 16);
    const err = tf.tidy(() => tf.max(tf.abs(tf.sub(q.predict(x) as tf.Tensor, m.predict(x) as tf.Tensor))).dataSync()[0]);
    t.true(err < 0.2, `max |difference| ${err}`);
    q.dispose();
    m.dispose();
    x.dispose();
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
