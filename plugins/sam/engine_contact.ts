/**
 * Every place SAM touches tfjs-core's engine beyond its public API, in one file, checked once.
 *
 * SAM needs two things tfjs exposes no public function for:
 * 1. Disposing the tensors a loss closure `tf.keep`s on a pass whose results are thrown away
 *    (tfjs-layers' train function keeps one scalar per metric on every call). tf.keep has no
 *    inverse; a kept tensor stays in the `track` list of the scope it was created in
 *    (Engine.endScope skips kept tensors), so we open a scope with `startScope`, read
 *    `state.activeScope.track` and dispose the kept ones before `endScope`.
 * 2. Finding variables by name: `tf.variableGrads` without a varList names its gradients after
 *    the registered trainable variables (`Engine.registeredVariables`), and custom loops that give
 *    no list of variables to restore fall back to scanning that registry.
 * 3. Not leaking when a loss closure throws: tf.variableGrads records a tape whose nodes hold kept
 *    copies of the tensors backprop needs (`node.saved`); it disposes them after backprop, but when
 *    the forward pass throws they stay alive for good (tfjs-core 4.22: 3 tensors for
 *    `tf.variableGrads(() => { tf.square(v); throw ... })`). `variableGrads` here disposes them.
 *
 * `engineInternals()` verifies these once per engine (functions present, and a kept tensor really
 * shows up in the active scope's track) and throws a TfjsInternalsError naming tfjs-core's version
 * otherwise, instead of leaking tensors silently.
 */
import * as tf from '@tensorflow/tfjs-core';

/** The engine members SAM relies on (tfjs-core 4.22's Engine). */
export interface EngineInternals {
  startScope(name?: string): void;
  endScope(result?: tf.TensorContainer): void;
  state: {
    activeScope: { track: tf.Tensor[] } | null;
    gradientDepth: number;
    activeTape: Array<{ saved?: tf.Tensor[] }> | null;
  };
  registeredVariables: Record<string, tf.Variable>;
}

/** A tfjs internal this package relies on is missing or behaves differently in the installed tfjs. */
export class TfjsInternalsError extends Error {
  constructor(what: string) {
    super(
      `tfjs-sam-quantease relies on a tfjs internal that the installed tfjs does not provide: ${what}. ` +
        `Installed: tfjs-core ${tf.version_core} (tf.version['tfjs-core']); tested with 4.22. ` +
        'Install @tensorflow/tfjs-core and @tensorflow/tfjs-layers 4.22.x, or report the version.',
    );
    this.name = 'TfjsInternalsError';
  }
}

const verified = new WeakSet<object>();

/** The engine's internals, after checking (once per engine) that they behave as SAM assumes. */
export function engineInternals(engine: unknown = tf.engine()): EngineInternals {
  if (engine !== null && typeof engine === 'object' && verified.has(engine)) return engine as EngineInternals;
  const problem = probe(engine);
  if (problem !== null) throw new TfjsInternalsError(problem);
  verified.add(engine as object);
  return engine as EngineInternals;
}

/** Why `engine` does not behave as SAM assumes, or null when it does. */
function probe(engine: unknown): string | null {
  if (engine === null || typeof engine !== 'object') return 'tf.engine() is not an object';
  const e = engine as Partial<EngineInternals>;
  if (typeof e.startScope !== 'function' || typeof e.endScope !== 'function') return 'Engine.startScope / Engine.endScope';
  if (e.registeredVariables === null || typeof e.registeredVariables !== 'object') return 'Engine.registeredVariables';
  e.startScope('samEngineProbe');
  let kept: tf.Tensor | null = null;
  try {
    const scope = e.state?.activeScope;
    if (!scope || !Array.isArray(scope.track)) return 'Engine.state.activeScope.track (the tensors of the open scope)';
    kept = tf.keep(tf.scalar(0));
    if (!e.state!.activeScope!.track.includes(kept)) return 'kept tensors listed in Engine.state.activeScope.track';
  } finally {
    e.endScope();
    kept?.dispose();
  }
  return probeTape(e);
}

/** A forward pass that throws must leave its tape in Engine.state.activeTape, with `saved` tensors. */
function probeTape(e: Partial<EngineInternals>): string | null {
  if (typeof e.state?.gradientDepth !== 'number') return 'Engine.state.gradientDepth';
  if (e !== (tf.engine() as unknown)) return 'Engine.state.activeTape (a fake engine records no tape)';
  const v = tf.tidy(() => tf.variable(tf.ones([2]), true, `samEngineProbe_${probeCount++}`));
  const before = tf.memory().numTensors;
  const failure = new Error('probe');
  try {
    tf.variableGrads(() => {
      tf.square(v);
      throw failure;
    });
  } catch (err) {
    if (err !== failure) throw err;
  }
  const tape = e.state.activeTape;
  const saved = Array.isArray(tape) ? tape.flatMap((node) => node.saved ?? []) : [];
  tf.dispose(saved);
  const ok = saved.length > 0 && tf.memory().numTensors === before;
  v.dispose();
  return ok ? null : 'Engine.state.activeTape nodes holding the tensors saved for backprop (`saved`)';
}
let probeCount = 0;

/**
 * tf.variableGrads(f, varList), and when f throws, the kept tensors its tape saved are disposed
 * (see 3. above) before the error goes on.
 */
export function variableGrads(f: () => tf.Scalar, varList?: tf.Variable[], engine: EngineInternals = engineInternals()): { value: tf.Scalar; grads: tf.NamedTensorMap } {
  const outer = engine.state.gradientDepth > 0;
  const from = outer ? engine.state.activeTape?.length ?? 0 : 0;
  try {
    return tf.variableGrads(f, varList);
  } catch (err) {
    // An outermost call started a fresh tape: all of it is ours. A nested one shares its parent's.
    const nodes = (engine.state.activeTape ?? []).slice(from);
    for (const node of nodes) tf.dispose(node.saved ?? []);
    throw err;
  }
}

/**
 * Runs f in its own engine scope and disposes the tensors f `keep`s there, except f's result.
 * With `collect`, the kept tensors are pushed there instead of disposed (the caller decides).
 */
export function runDisposingKept<T extends tf.TensorContainer>(f: () => T, collect?: tf.Tensor[], engine: EngineInternals = engineInternals()): T {
  engine.startScope('samScope');
  let result: T | undefined;
  try {
    result = f();
    return result;
  } finally {
    const own = new Set<tf.Tensor>(result === undefined ? [] : tensorsIn(result));
    for (const t of engine.state.activeScope?.track ?? []) {
      if (!t.kept || own.has(t) || t.isDisposed) continue;
      if (collect) collect.push(t);
      else t.dispose();
    }
    engine.endScope(result);
  }
}

/** The registered variable called `name` (throws when there is none). */
export function registeredVariable(name: string, engine: EngineInternals = engineInternals()): tf.Variable {
  const v = engine.registeredVariables[name];
  if (v === undefined) throw new Error(`SAM: no registered variable is called "${name}".`);
  return v;
}

/**
 * Every registered variable that is not optimized (not in varList, or not trainable when varList is
 * absent): what a loss closure might write as a side effect. The custom-loop fallback only.
 */
export function unoptimizedVariables(varList: readonly tf.Variable[] | undefined, engine: EngineInternals = engineInternals()): tf.Variable[] {
  const optimized = varList ? new Set(varList.map((v) => v.name)) : null;
  return Object.values(engine.registeredVariables).filter((v) => (optimized ? !optimized.has(v.name) : !v.trainable));
}

function tensorsIn(container: tf.TensorContainer): tf.Tensor[] {
  if (container instanceof tf.Tensor) return [container];
  if (Array.isArray(container)) return container.flatMap((c) => tensorsIn(c));
  if (container !== null && typeof container === 'object') return Object.values(container).flatMap((c) => tensorsIn(c as tf.TensorContainer));
  return [];
}
