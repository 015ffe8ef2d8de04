/**
 * selectBackend: forced choices, clear errors, and the default order. The expectations branch on
 * whether @tensorflow/tfjs-node(-gpu) resolve here (they cannot install on our CI machines, where
 * the default is wasm with the training kernels; a developer may have them).
 */
import test from 'ava';
import { createRequire } from 'node:module';
import * as tf from '@tensorflow/tfjs-core';
import { OptionError } from '../../../plugins/core/errors.ts';
import { BACKEND_ENV_VAR, selectBackend } from '../../../adapters/backend/select_backend.ts';
import { WASM_TRAINING_KERNELS } from '../../../adapters/backend/wasm_training/index.ts';

function resolves(name: string): boolean {
  try {
    createRequire(import.meta.url).resolve(name);
    return true;
  } catch {
    return false;
  }
}
const HAS_NODE = resolves('@tensorflow/tfjs-node');
const HAS_NODE_GPU = resolves('@tensorflow/tfjs-node-gpu');

const ENV_BEFORE = process.env[BACKEND_ENV_VAR];
test.afterEach.always(() => {
  if (ENV_BEFORE === undefined) delete process.env[BACKEND_ENV_VAR];
  else process.env[BACKEND_ENV_VAR] = ENV_BEFORE;
});
test.beforeEach(() => {
  delete process.env[BACKEND_ENV_VAR];
});

test.serial('prefer: cpu activates the cpu backend', async (t) => {
  const result = await selectBackend({ prefer: 'cpu', quiet: true });
  t.is(result.name, 'cpu');
  t.regex(result.reason, /prefer=cpu/);
  t.is(tf.getBackend(), 'cpu');
});

test.serial('the environment variable forces a backend too', async (t) => {
  process.env[BACKEND_ENV_VAR] = 'cpu';
  const result = await selectBackend({ quiet: true });
  t.is(result.name, 'cpu');
  t.regex(result.reason, new RegExp(`${BACKEND_ENV_VAR}=cpu`));
});

test.serial('an unknown name is an OptionError naming the source and the value', async (t) => {
  const fromOption = await t.throwsAsync(selectBackend({ prefer: 'gpu', quiet: true }), { instanceOf: OptionError });
  t.regex(fromOption!.message, /`prefer` must be one of 'node-gpu', 'node', 'wasm', 'wasm-stock', 'cpu'\. Received: prefer="gpu"/);
  process.env[BACKEND_ENV_VAR] = 'tpu';
  const fromEnv = await t.throwsAsync(selectBackend({ quiet: true }), { instanceOf: OptionError });
  t.regex(fromEnv!.message, new RegExp(`${BACKEND_ENV_VAR}=\\"tpu\\"`));
});

test.serial('a forced backend that cannot load is an error naming the variable and value', async (t) => {
  if (HAS_NODE) {
    // Installed here: forcing it loads it.
    process.env[BACKEND_ENV_VAR] = 'node';
    t.is((await selectBackend({ quiet: true })).name, 'node');
    return;
  }
  process.env[BACKEND_ENV_VAR] = 'node';
  const error = await t.throwsAsync(selectBackend({ quiet: true }));
  t.regex(error!.message, new RegExp(`${BACKEND_ENV_VAR}=node`));
  t.regex(error!.message, /@tensorflow\/tfjs-node failed to load/);
});

test.serial('options are validated', async (t) => {
  await t.throwsAsync(selectBackend({ prefered: 'cpu' } as never), { instanceOf: OptionError, message: /Unknown option `prefered`/ });
  await t.throwsAsync(selectBackend({ quiet: 'yes' } as never), { instanceOf: OptionError, message: /`quiet` must be true or false/ });
});

test.serial('the default is the first that loads (here wasm with the training kernels); wasm-stock removes them', async (t) => {
  if (HAS_NODE_GPU || HAS_NODE) {
    t.is((await selectBackend({ quiet: true })).name, HAS_NODE_GPU ? 'node-gpu' : 'node');
    await selectBackend({ prefer: 'wasm', quiet: true });
  }
  const result = await selectBackend(HAS_NODE_GPU || HAS_NODE ? { prefer: 'wasm', quiet: true } : { quiet: true });
  t.is(result.name, 'wasm');
  t.is(tf.getBackend(), 'wasm');
  if (!HAS_NODE_GPU && !HAS_NODE) t.regex(result.reason, /tfjs-node-gpu unavailable/);
  for (const name of WASM_TRAINING_KERNELS) t.true(result.reason.includes(name), name);
  t.truthy(tf.getKernel('Conv2DBackpropFilter', 'wasm'));

  const stock = await selectBackend({ prefer: 'wasm-stock', quiet: true });
  t.is(stock.name, 'wasm-stock');
  t.is(tf.getKernel('Conv2DBackpropFilter', 'wasm') as unknown, undefined);
  // The stock kernels still compute (their setup ran while ours were registered).
  const y = tf.matMul(tf.ones([2, 3]), tf.ones([2, 3]), false, true);
  t.deepEqual(Array.from(y.dataSync()), [3, 3, 3, 3]);
  y.dispose();
});

test.serial('not quiet: one line on stderr', async (t) => {
  const write = process.stderr.write.bind(process.stderr);
  const lines: string[] = [];
  process.stderr.write = ((chunk: string) => {
    lines.push(String(chunk));
    return true;
  }) as typeof process.stderr.write;
  try {
    await selectBackend({ prefer: 'cpu' });
  } finally {
    process.stderr.write = write;
  }
  t.is(lines.length, 1);
  t.regex(lines[0], /^\[tfjs-sam-quantease\] backend: cpu \(forced by prefer=cpu\)\n$/);
});
