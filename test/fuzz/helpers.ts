/**
 * Shared pieces of the fuzz and fault suite: the tally every case reports to, a watchdog that
 * turns a hang into a counted outcome instead of a stuck test, and a small quantized model.
 *
 * Outcomes: "clear" = the expected error class with a message; "same" = the input loaded and
 * gives exactly the original model (a harmless mutation, e.g. inside the informative report);
 * "crash" = any other error class; "hang" = no answer within the watchdog; "silent" = loaded
 * without error but a different model; "lost" = a saved model could no longer be loaded;
 * "leak" = tensors left behind; "changed" = a file on disk changed by a read.
 */
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import type { ExecutionContext } from 'ava';
import { mulberry32 } from '../../plugins/core/random.ts';

export { mulberry32 };

/** FUZZ_LONG=1 runs the long mode (about 10x the cases). */
export const LONG = process.env.FUZZ_LONG === '1';

export type Outcome = 'clear' | 'same' | 'crash' | 'hang' | 'silent' | 'lost' | 'leak' | 'changed';

export class Tally {
  readonly counts: Record<Outcome, number> = { clear: 0, same: 0, crash: 0, hang: 0, silent: 0, lost: 0, leak: 0, changed: 0 };
  readonly notes: string[] = [];
  tried = 0;

  add(outcome: Outcome, label: string, detail = ''): void {
    this.tried++;
    this.counts[outcome]++;
    if (!['clear', 'same'].includes(outcome) && this.notes.length < 12) this.notes.push(`${outcome}: ${label} ${detail}`.trim());
  }

  /** One line for t.log and the report. */
  line(name: string): string {
    const c = this.counts;
    return `${name}: inputs tried ${this.tried}, clear errors ${c.clear}, loaded unchanged ${c.same}, crashes ${c.crash}, hangs ${c.hang}, ` +
      `silent wrong results ${c.silent}, data lost ${c.lost}, leaks ${c.leak}, files changed ${c.changed}`;
  }

  /** Logs the counts and asserts that every bad outcome is 0. */
  check(t: ExecutionContext, name: string, knownV1Defects = false): void {
    t.log(this.line(name));
    for (const n of this.notes) t.log('  ' + n);
    const c = this.counts;
    t.true(this.tried > 0, 'no inputs were tried');
    t.is(c.crash, 0, 'crashes');
    t.is(c.hang, 0, 'hangs');
    if (!knownV1Defects) t.is(c.silent, 0, 'silent wrong results');
    t.is(c.lost, 0, 'data lost');
    if (!knownV1Defects) t.is(c.leak, 0, 'leaks');
    t.is(c.changed, 0, 'files changed by a read');
  }
}

/** Resolves to the promise's value, or to HANG after `ms` (a watchdog, not a timing assertion). */
export const HANG = Symbol('hang');
export function watchdog<T>(p: Promise<T>, ms: number): Promise<T | typeof HANG> {
  let timer: ReturnType<typeof setTimeout>;
  return Promise.race([p, new Promise<typeof HANG>((r) => (timer = setTimeout(() => r(HANG), ms)))]).finally(() => clearTimeout(timer));
}

/** A small Dense model (8 -> 6 relu -> 3), seeded. */
export function smallModel(seed: number): tfl.Sequential {
  return tfl.sequential({ layers: [
    tfl.layers.dense({ inputShape: [8], units: 6, activation: 'relu', kernelInitializer: tfl.initializers.glorotNormal({ seed }), biasInitializer: tfl.initializers.randomNormal({ seed: seed + 1, stddev: 0.1 }) }),
    tfl.layers.dense({ units: 3, kernelInitializer: tfl.initializers.glorotNormal({ seed: seed + 2 }) }),
  ] });
}

/** Everything that defines a model's behaviour: topology (minus the model name) and weights, as one string. */
export function fingerprint(m: tfl.LayersModel): string {
  const topo = m.toJSON(null, false) as { config?: { name?: string } };
  if (topo.config) delete topo.config.name;
  const weights = m.weights.map((w) => `${w.originalName}:${w.shape}:${Array.from(w.read().dataSync()).join(',')}`);
  return JSON.stringify(topo) + '|' + weights.join('|');
}
