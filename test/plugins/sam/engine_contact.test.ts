/**
 * The engine-contact guard: every tfjs-core internal SAM relies on is checked once, and a missing
 * or changed one throws a TfjsInternalsError naming tfjs-core's version instead of leaking silently.
 */
import test from 'ava';
import * as tf from '@tensorflow/tfjs-core';
import { TfjsInternalsError, engineInternals, runScoped, unoptimizedVariables } from '../../../plugins/sam/engine_contact.ts';
import { useCpu } from './helpers.ts';

test.before(useCpu);

const VERSION = new RegExp(`tfjs-core ${tf.version_core.replace(/\./g, '\\.')} \\(tf\\.version\\['tfjs-core'\\]\\)`);

/** A fake engine: scopes are recorded; `track` is what activeScope reports. */
function fakeEngine(opts: { scopes?: boolean; track?: 'missing' | 'not-tracking'; registry?: boolean }) {
  const e: Record<string, unknown> = { state: { activeScope: null } };
  if (opts.scopes !== false) {
    e.startScope = () => {
      (e.state as { activeScope: unknown }).activeScope = opts.track === 'missing' ? {} : { track: [] };
    };
    e.endScope = () => {
      (e.state as { activeScope: unknown }).activeScope = null;
    };
  }
  if (opts.registry !== false) e.registeredVariables = {};
  return e;
}

const BROKEN: ReadonlyArray<[string, unknown, RegExp]> = [
  ['not an object', undefined, /tf\.engine\(\) is not an object/],
  ['no startScope / endScope', fakeEngine({ scopes: false }), /Engine\.startScope \/ Engine\.endScope/],
  ['no registeredVariables', fakeEngine({ registry: false }), /Engine\.registeredVariables/],
  ['activeScope without a track list', fakeEngine({ track: 'missing' }), /Engine\.state\.activeScope\.track/],
  ['kept tensors not in the track list', fakeEngine({ track: 'not-tracking' }), /kept tensors listed in Engine\.state\.activeScope\.track/],
];

for (const [label, engine, what] of BROKEN) {
  test(`guard: ${label} -> TfjsInternalsError naming tfjs-core's version, nothing leaked`, (t) => {
    const before = tf.memory().numTensors;
    const err = t.throws(() => engineInternals(engine ?? 42), { instanceOf: TfjsInternalsError });
    t.regex(err!.message, what);
    t.regex(err!.message, VERSION);
    t.regex(err!.message, /tested with 4\.22/);
    t.is(tf.memory().numTensors, before);
  });
}

test('guard: the real engine passes, once (the same object comes back)', (t) => {
  const before = tf.memory().numTensors;
  const e = engineInternals();
  t.is(e as unknown, tf.engine() as unknown);
  t.is(engineInternals() as unknown, e as unknown);
  t.is(tf.memory().numTensors, before);
});

test("runScoped 'always' disposes what f keeps, never f's result; 'onError' only when f throws", (t) => {
  const before = tf.memory().numTensors;
  let kept: tf.Tensor | null = null;
  const r = runScoped(() => {
    kept = tf.keep(tf.scalar(1));
    return tf.keep(tf.scalar(2));
  }, 'always');
  t.true(kept!.isDisposed, 'kept tensor disposed');
  t.false(r.isDisposed, 'result survives even though it is kept');
  r.dispose();
  const r2 = runScoped(() => {
    kept = tf.keep(tf.scalar(1));
    return tf.scalar(2);
  }, 'onError');
  t.false(kept!.isDisposed, "'onError' keeps what f kept when it succeeds");
  tf.dispose([kept!, r2]);
  t.is(tf.memory().numTensors, before);
  t.throws(() => runScoped(() => {
    tf.keep(tf.ones([3]));
    tf.zeros([2]);
    throw new Error('boom');
  }, 'onError'), { message: 'boom' });
  t.is(tf.memory().numTensors, before, 'nothing left after a failure');
});

test('unoptimizedVariables: outside varList, or not trainable when varList is absent', (t) => {
  const a = tf.variable(tf.ones([1]), true, 'uv_a');
  const b = tf.variable(tf.ones([1]), false, 'uv_b');
  const names = (vs: tf.Variable[]) => vs.map((v) => v.name).filter((n) => n.startsWith('uv_')).sort();
  t.deepEqual(names(unoptimizedVariables([a])), ['uv_b']);
  t.deepEqual(names(unoptimizedVariables([b])), ['uv_a']);
  t.deepEqual(names(unoptimizedVariables(undefined)), ['uv_b']);
  tf.dispose([a, b]);
});
