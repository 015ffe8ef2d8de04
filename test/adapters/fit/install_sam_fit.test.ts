/**
 * The fit integration's installer in a fresh process: a model loaded with tf.loadLayersModel and
 * a compiled mSAM optimizer needs one explicit, idempotent `installSamFit` call (nothing is patched
 * at import); bad models and a tfjs without `makeTrainFunction` get clear errors.
 */
import test from 'ava';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { installSamFit, isSamFitInstalled, sam, SAMOptimizer, TfjsInternalsError } from '../../../adapters/fit/index.ts';
import { OptionError } from '../../../plugins/core/errors.ts';
import { close, randomArray, useCpu } from '../../plugins/sam/helpers.ts';

test.before(useCpu);

const VERSION = new RegExp(`tfjs-core ${tf.version_core.replace(/\./g, '\\.')} \\(tf\\.version\\['tfjs-core'\\]\\)`);

function mlp(seed: number): tfl.LayersModel {
  const m = tfl.sequential();
  m.add(tfl.layers.dense({ inputShape: [4], units: 5, activation: 'tanh', kernelInitializer: tfl.initializers.glorotUniform({ seed }) }));
  m.add(tfl.layers.dense({ units: 1, kernelInitializer: tfl.initializers.glorotUniform({ seed: seed + 1 }) }));
  return m;
}

async function roundTrip(model: tfl.LayersModel): Promise<tfl.LayersModel> {
  let artifacts: tf.io.ModelArtifacts | undefined;
  await model.save(tf.io.withSaveHandler(async (a) => {
    artifacts = a;
    return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
  }), { includeOptimizer: true });
  return tfl.loadLayersModel(tf.io.fromMemory(artifacts!));
}

test.serial('nothing is patched at import; a loaded mSAM model asks for installSamFit, then trains like the original', async (t) => {
  const x = tf.tensor2d(randomArray(8 * 4, 61), [8, 4]);
  const y = tf.tensor2d(randomArray(8, 62), [8, 1]);
  // Built and compiled with the pure optimizer (no `model`): nothing installed yet.
  const original = mlp(3);
  original.compile({ optimizer: sam(tf.train.adam(0.01), { rho: 0.1, microBatches: 4 }), loss: 'meanSquaredError' });
  t.false(isSamFitInstalled(original), 'importing the package patched nothing');
  const loaded = await roundTrip(original);
  t.true(loaded.optimizer instanceof SAMOptimizer);
  t.false(tf.train.adam(0.1) instanceof SAMOptimizer, 'instanceof is a real class check, not tf.Optimizer duck typing');
  await t.throwsAsync(() => loaded.fit(x, y, { batchSize: 8, epochs: 1, verbose: 0 }), {
    message: /cannot split the batch \(microBatches=4\).*installSamFit\(model\) once/,
  });
  // One explicit call; a second one changes nothing.
  installSamFit(loaded);
  const wrapped = Object.getPrototypeOf(Object.getPrototypeOf(loaded)).makeTrainFunction;
  installSamFit(loaded);
  installSamFit(original);
  t.is(Object.getPrototypeOf(Object.getPrototypeOf(loaded)).makeTrainFunction, wrapped, 'idempotent');
  t.true(isSamFitInstalled(original), 'one call covers every model of this tfjs-layers copy');
  // Both now train with mSAM and stay identical (same weights, same optimizer state: fresh adam).
  await original.fit(x, y, { batchSize: 8, epochs: 2, shuffle: false, verbose: 0 });
  await loaded.fit(x, y, { batchSize: 8, epochs: 2, shuffle: false, verbose: 0 });
  const a = original.getWeights().map((w) => Array.from(w.dataSync()));
  const b = loaded.getWeights().map((w) => Array.from(w.dataSync()));
  a.forEach((v, i) => close(t, b[i], v, 1e-6, 1e-5, `weight ${i}`));
  t.is((loaded.optimizer as SAMOptimizer).iterations, 2);
  original.dispose();
  loaded.dispose();
  tf.dispose([x, y]);
});

test.serial('bad models: an OptionError naming `model`; a model without makeTrainFunction: TfjsInternalsError naming the version', (t) => {
  for (const [model, shown] of [[5, '5'], [{}, '{}'], ['m', '"m"']] as const) {
    const err = t.throws(() => sam(tf.train.sgd(0.1), { microBatches: 2, model: model as object }), { instanceOf: OptionError });
    t.is(err!.message, `\`model\` must be a tfjs-layers LayersModel or Sequential. Received: model=${shown}.`);
  }
  class FutureLayersModel {
    fit(): void {}
  }
  const err = t.throws(() => installSamFit(new FutureLayersModel()), { instanceOf: TfjsInternalsError });
  t.regex(err!.message, /LayersModel\.makeTrainFunction/);
  t.regex(err!.message, VERSION);
  const notAFunction = Object.assign(Object.create({ makeTrainFunction: 3 }), { fit() {} });
  t.throws(() => installSamFit(notAFunction), { instanceOf: TfjsInternalsError });
  t.throws(() => sam(tf.train.sgd(0.1), { rho: -1, model: new FutureLayersModel() }), { instanceOf: OptionError, message: /`rho` must be/ }, 'options are checked before anything is installed');
});

test.serial('the entry sam() rejects unknown keys listing every option, model included', (t) => {
  const err = t.throws(() => sam(tf.train.sgd(0.1), { lr: 0.1 } as object), { instanceOf: OptionError });
  t.is(err!.message, 'Unknown option `lr` for sam(). Allowed options: rho, adaptive, eta, epsilon, microBatches, interval, clipNorm, batchNormStatistics, model.');
});
