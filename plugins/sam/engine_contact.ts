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
  state: { activeScope: { track: tf.Tensor[] } | null };
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
    return null;
  } finally {
    e.endScope();
    kept?.dispose();
  }
}

/**
 * Runs f in its own engine scope. Tensors f `keep`s are disposed when it returns when
 * `discard` is 'always', and only when it throws when 'onError'; f's result is never disposed.
 */
export function runScoped<T extends tf.TensorContainer>(f: () => T, discard: 'always' | 'onError', engine: EngineInternals = engineInternals()): T {
  engine.startScope('samScope');
  let result: T | undefined;
  let failed = true;
  try {
    result = f();
    failed = false;
    return result;
  } finally {
    if (discard === 'always' || failed) {
      const keep = new Set<tf.Tensor>(result === undefined ? [] : tensorsIn(result));
      for (const t of engine.state.activeScope?.track ?? []) if (t.kept && !keep.has(t) && !t.isDisposed) t.dispose();
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
