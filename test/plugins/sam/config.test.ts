/**
 * The table of bad configurations, each with its expected message; defaults; getConfig.
 */
import test from 'ava';
import * as tf from '@tensorflow/tfjs-core';
import { sam, SAMOptimizer, SAM_DEFAULTS } from '../../../plugins/sam/index.ts';
import { OptionError } from '../../../plugins/core/errors.ts';
import { useCpu } from './helpers.ts';

test.before(useCpu);

const BAD: ReadonlyArray<[string, unknown, unknown, string]> = [
  // [label, base, config, expected message]
  ['rho negative', 'sgd', { rho: -1 }, '`rho` must be a finite number >= 0. Received: rho=-1.'],
  ['rho NaN', 'sgd', { rho: NaN }, '`rho` must be a finite number >= 0. Received: rho=NaN.'],
  ['rho Infinity', 'sgd', { rho: Infinity }, '`rho` must be a finite number >= 0. Received: rho=Infinity.'],
  ['rho a string', 'sgd', { rho: '0.05' }, '`rho` must be a finite number >= 0. Received: rho="0.05".'],
  ['microBatches 0', 'sgd', { microBatches: 0 }, '`microBatches` must be an integer >= 1. Received: microBatches=0.'],
  ['microBatches 1.5', 'sgd', { microBatches: 1.5 }, '`microBatches` must be an integer >= 1. Received: microBatches=1.5.'],
  ['interval 0', 'sgd', { interval: 0 }, '`interval` must be an integer >= 1. Received: interval=0.'],
  ['eta negative', 'sgd', { eta: -0.1 }, '`eta` must be a finite number >= 0. Received: eta=-0.1.'],
  ['epsilon NaN', 'sgd', { epsilon: NaN }, '`epsilon` must be a finite number >= 0. Received: epsilon=NaN.'],
  ['clipNorm 0', 'sgd', { clipNorm: 0 }, '`clipNorm` must be a finite number > 0. Received: clipNorm=0.'],
  ['adaptive not boolean', 'sgd', { adaptive: 1 }, '`adaptive` must be true or false. Received: adaptive=1.'],
  ['batchNormStatistics unknown', 'sgd', { batchNormStatistics: 'last' }, "`batchNormStatistics` must be one of 'first', 'both'. Received: batchNormStatistics=\"last\"."],
  ['model is not an option of the pure optimizer', 'sgd', { model: {} }, 'Unknown option `model` for sam(). Allowed options: rho, adaptive, eta, epsilon, microBatches, interval, clipNorm, batchNormStatistics.'],
  ['unknown key', 'sgd', { lr: 0.1 }, 'Unknown option `lr` for sam(). Allowed options: rho, adaptive, eta, epsilon, microBatches, interval, clipNorm, batchNormStatistics.'],
  ['config not an object', 'sgd', 0.05, 'sam() options must be an object. Received: 0.05.'],
  ['base missing', undefined, {}, '`base` must be a tf.Optimizer, e.g. tf.train.adam(1e-3). Received: base=undefined.'],
  ['base a string', 'adam-string', {}, '`base` must be a tf.Optimizer, e.g. tf.train.adam(1e-3). Received: base="adam".'],
  ['base a plain object', {}, {}, '`base` must be a tf.Optimizer, e.g. tf.train.adam(1e-3). Received: base={}.'],
  ['base a SAMOptimizer', 'sam', {}, '`base` must not be a SAMOptimizer: SAM wraps a plain optimizer. Received: base=a SAMOptimizer.'],
];

function resolveBase(base: unknown): unknown {
  if (base === 'sgd') return tf.train.sgd(0.1);
  if (base === 'adam-string') return 'adam';
  if (base === 'sam') return sam(tf.train.sgd(0.1));
  return base;
}

for (const [label, base, config, message] of BAD) {
  test(`bad configuration: ${label}`, (t) => {
    const err = t.throws(() => sam(resolveBase(base) as tf.Optimizer, config as object), { instanceOf: OptionError });
    t.is(err?.message, message);
  });
}

test('applyGradients called directly is refused with a clear message', (t) => {
  const opt = sam(tf.train.sgd(0.1));
  const v = tf.variable(tf.ones([2]), true, 'direct_v');
  const g = tf.ones([2]);
  t.throws(() => opt.applyGradients({ direct_v: g }), {
    message: /^SAMOptimizer.applyGradients cannot be called directly: SAM needs the loss closure/,
  });
  t.deepEqual(Array.from(v.dataSync()), [1, 1], 'nothing was updated');
  tf.dispose([v, g]);
});

test('minimize with microBatches > 1 and no batch refuses instead of silently doing plain SAM', (t) => {
  const opt = sam(tf.train.sgd(0.1), { microBatches: 4 });
  const v = tf.variable(tf.ones([2]), true, 'mb_v');
  const before = tf.memory().numTensors;
  t.throws(() => opt.minimize(() => tf.sum(tf.square(v)) as tf.Scalar), {
    message: /cannot split the batch \(microBatches=4\).*sam\(base, \{microBatches, model\}\).*installSamFit\(model\).*minimizeOnBatch/,
  });
  t.is(tf.memory().numTensors, before);
  v.dispose();
});

test('defaults, and getConfig carries every option and the base', (t) => {
  t.deepEqual({ ...SAM_DEFAULTS }, {
    rho: 0.05, adaptive: false, eta: 0.01, epsilon: 1e-12, microBatches: 1, interval: 1, clipNorm: null, batchNormStatistics: 'first',
  });
  const opt = sam(tf.train.momentum(0.1, 0.9));
  t.deepEqual(opt.getConfig(), {
    ...SAM_DEFAULTS,
    base: { className: 'Momentum', config: { learningRate: 0.1, momentum: 0.9, useNesterov: false } },
  });
  t.is(opt.getClassName(), 'SAMOptimizer');
  t.truthy(tf.serialization.SerializationMap.getMap().classNameMap.SAMOptimizer, 'registered at import');
  const custom = { rho: 0.3, adaptive: true, eta: 0.1, epsilon: 1e-8, microBatches: 3, interval: 4, clipNorm: 2, batchNormStatistics: 'both' as const };
  const rebuilt = SAMOptimizer.fromConfig(SAMOptimizer, sam(tf.train.rmsprop(0.01), custom).getConfig()) as SAMOptimizer;
  t.like(rebuilt.getConfig(), custom);
  t.is(rebuilt.base.getClassName(), 'RMSProp');
});

test('fromConfig rejects an unregistered base class with a clear message', (t) => {
  const err = t.throws(() => SAMOptimizer.fromConfig(SAMOptimizer, { rho: 0.1, base: { className: 'NoSuchOpt', config: {} } }));
  t.is(err?.message, '`base.className` must name a registered tf.Optimizer class. Received: base.className="NoSuchOpt". Register custom optimizers with tf.serialization.registerClass before loading.');
});
