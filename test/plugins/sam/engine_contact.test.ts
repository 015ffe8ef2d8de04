/**
 * The engine-contact guard: every tfjs-core internal SAM relies on is checked once, and a missing
 * or changed one throws a TfjsInternalsError naming tfjs-core's version instead of leaking silently.
 */
import test from 'ava';
import * as tf from '@tensorflow/tfjs-core';
import { TfjsInternalsError, engineInternals, runDisposingKept, unoptimizedVariables, variableGrads } from '../../../plugins/sam/engine_contact.ts';
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

/** A fake whose scopes really track (it delegates to the real engine) but that is not tf.engine(). */
function delegatingEngine() {
  const real = tf.engine() as unknown as Record<string, (...a: unknown[]) => unknown> & { state: unknown; registeredVariables: unknown };
  return {
    startScope: (n?: string) => real.startScope(n),
    endScope: (r?: unknown) => real.endScope(r),
    get state() { return real.state; },
    registeredVariables: real.registeredVariables,
  };
}

const BROKEN: ReadonlyArray<[string, unknown, RegExp]> = [
  ['not an object', undefined, /tf\.engine\(\) is not an object/],
  ['no startScope / endScope', fakeEngine({ scopes: false }), /Engine\.startScope \/ Engine\.endScope/],
  ['no registeredVariables', fakeEngine({ registry: false }), /Engine\.registeredVariables/],
  ['activeScope without a track list', fakeEngine({ track: 'missing' }), /Engine\.state\.activeScope\.track/],
  ['kept tensors not in the track list', fakeEngine({ track: 'not-tracking' }), /kept tensors listed in Engine\.state\.activeScope\.track/],
  ['a tape that cannot be checked', delegatingEngine(), /Engine\.state\.activeTape/],
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

test('runDisposingKept disposes what f keeps, never its result; with a list, collects instead', (t) => {
  const before = tf.memory().numTensors;
  let kept: tf.Tensor | null = null;
  const r = runDisposingKept(() => {
    kept = tf.keep(tf.scalar(1));
    tf.zeros([2]); // neither kept nor returned: disposed by the scope
    return tf.keep(tf.scalar(2));
  });
  t.true(kept!.isDisposed, 'kept tensor disposed');
  t.false(r.isDisposed, 'result survives even though it is kept');
  r.dispose();
  const sink: tf.Tensor[] = [];
  const r2 = runDisposingKept(() => {
    kept = tf.keep(tf.scalar(1));
    return tf.scalar(2);
  }, sink);
  t.deepEqual(sink, [kept!]);
  t.false(kept!.isDisposed);
  tf.dispose([kept!, r2]);
  t.is(tf.memory().numTensors, before);
  t.throws(() => runDisposingKept(() => {
    tf.keep(tf.ones([3]));
    tf.zeros([2]);
    throw new Error('boom');
  }), { message: 'boom' });
  t.is(tf.memory().numTensors, before, 'nothing left after a failure');
});

test('variableGrads: a loss that throws mid-forward leaks nothing (tf.variableGrads alone leaks the tape)', (t) => {
  const v = tf.variable(tf.ones([3]), true, 'vg_throw');
  const f = () => {
    tf.square(tf.mul(v, 2));
    throw new Error('forward failed');
  };
  let before = tf.memory().numTensors;
  t.throws(() => tf.variableGrads(f as () => tf.Scalar), { message: 'forward failed' });
  const stockLeak = tf.memory().numTensors - before;
  t.true(stockLeak > 0, `tfjs-core's own variableGrads leaks ${stockLeak} tensors here (if 0, this cleanup is no longer needed)`);
  tf.dispose((tf.engine() as unknown as { state: { activeTape: Array<{ saved?: tf.Tensor[] }> } }).state.activeTape.flatMap((n) => n.saved ?? []));
  before = tf.memory().numTensors;
  t.throws(() => variableGrads(f as () => tf.Scalar), { message: 'forward failed' });
  t.is(tf.memory().numTensors, before);
  // Nested inside an outer gradient computation: only the inner call's nodes are disposed.
  const outer = tf.variableGrads(() => {
    const kept = tf.square(v);
    t.throws(() => variableGrads(f as () => tf.Scalar), { message: 'forward failed' });
    return tf.sum(kept) as tf.Scalar;
  });
  t.deepEqual(Array.from(outer.grads[v.name].dataSync()), [2, 2, 2], 'the outer gradient still works');
  tf.dispose([outer.value, outer.grads[v.name]]);
  t.is(tf.memory().numTensors, before);
  v.dispose();
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
