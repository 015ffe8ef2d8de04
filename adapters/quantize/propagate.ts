/**
 * Linear-cost propagation of the calibration set through a model's graph (graph_plan.ts).
 *
 * Sequential quantization needs, for target k, its input on every calibration batch computed
 * through the layers before it *after* they were quantized. Instead of a sub-model per target
 * (target k costs k layer forwards per batch: quadratic in depth), the propagator keeps the live
 * frontier of every batch (the activations later nodes still read, graph_plan.ts `lastUse`) and
 * advances it from one target's position to the next: every node runs once per batch.
 *
 * Memory: the stored frontier (all batches) is kept only while it fits `budgetBytes`. When the
 * frontier at a target would exceed it, the propagator keeps the last frontier that fitted (a
 * checkpoint; at worst the calibration source itself, position 0) and recomputes from there for
 * each later target until a frontier fits again. Forwards run again that way are counted in
 * `recomputedForwards`; the quadratic sub-model path is never used.
 *
 * `visitAll` is the one-pass form for `sequential: false`: every target sees the float model's
 * activations, one batch at a time, nothing stored.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { CalibrationSource } from './calibration.ts';
import { yieldToEventLoop } from './calibration.ts';
import type { GraphPlan, PlanTarget } from './graph_plan.ts';

interface Entry {
  tensor: tf.Tensor;
  mask: tf.Tensor | null;
}
type Frontier = Map<number, Entry>;

export interface PropagationStats {
  /** Layer forwards run (one node on one calibration batch), recomputations included. */
  forwards: number;
  /** Of those, forwards of a (node, batch) that had already run: checkpoint recomputation. */
  recomputedForwards: number;
  /** Largest number of activation bytes held at once (stored frontier + the batch in flight). */
  peakActivationBytes: number;
}

function tensorsOf(f: Frontier): Set<tf.Tensor> {
  const s = new Set<tf.Tensor>();
  for (const e of f.values()) {
    s.add(e.tensor);
    if (e.mask) s.add(e.mask);
  }
  return s;
}

function bytesOf(tensors: Iterable<tf.Tensor>): number {
  let b = 0;
  for (const t of tensors) b += t.size * (t.dtype === 'bool' ? 1 : 4);
  return b;
}

/** Disposes the tensors of `f` that are neither in `keep` nor owned by someone else (`protect`). */
function disposeFrontier(f: Frontier, protect: Set<tf.Tensor>, keep: Set<tf.Tensor> = new Set()): void {
  for (const t of tensorsOf(f)) if (!protect.has(t) && !keep.has(t) && !t.isDisposed) t.dispose();
}

export class Propagator {
  readonly stats: PropagationStats = { forwards: 0, recomputedForwards: 0, peakActivationBytes: 0 };
  /** Checkpoint: the frontier of every batch at position `storedAt`; null = the source (position 0). */
  private stored: Frontier[] | null = null;
  private storedAt = 0;
  private storedBytes = 0;
  /** Every batch has been advanced at least this far once (for counting recomputation). */
  private reached = 0;
  private totalRows: number | null = null;

  constructor(
    private readonly plan: GraphPlan,
    private readonly source: CalibrationSource,
    private readonly budgetBytes: number,
  ) {}

  /** Runs the needed nodes at positions [from, to) on `f`, dropping activations no longer read. */
  private advance(f: Frontier, from: number, to: number, protect: Set<tf.Tensor>): void {
    for (let i = from; i < to; i++) {
      const node = this.plan.nodes[i];
      if (!node.needed) continue;
      const values = node.inputs.map((id) => f.get(id)!);
      const xs = values.map((v) => v.tensor);
      const masks = values.map((v) => v.mask);
      // As LayersModel.execute (what predict runs) calls a layer: inputs as a list, inference mode.
      const kwargs: Record<string, unknown> = { training: false };
      if (masks.some((m) => m)) kwargs.mask = masks[0];
      const { outs, outMask } = tf.tidy(() => {
        const o = node.layer.apply(xs, kwargs) as tf.Tensor | tf.Tensor[];
        const m = node.layer.supportsMasking ? (node.layer.computeMask(xs, masks as tf.Tensor[]) as tf.Tensor | tf.Tensor[] | null) : null;
        const mask = (Array.isArray(m) ? m[0] : m) ?? undefined;
        return { outs: Array.isArray(o) ? o : [o], outMask: mask } as unknown as tf.TensorContainerObject;
      }) as unknown as { outs: tf.Tensor[]; outMask?: tf.Tensor };
      node.outputs.forEach((id, k) => f.set(id, { tensor: outs[k], mask: outMask ?? null }));
      this.stats.forwards++;
      if (i < this.reached) this.stats.recomputedForwards++;
      this.release(f, i + 1, protect);
    }
    this.release(f, to, protect);
  }

  /** Drops the entries no longer read at position `pos`; disposes them unless still referenced. */
  private release(f: Frontier, pos: number, protect: Set<tf.Tensor>): void {
    const dead: Entry[] = [];
    for (const [id, e] of f) {
      if ((this.plan.lastUse.get(id) ?? -1) < pos) {
        dead.push(e);
        f.delete(id);
      }
    }
    if (dead.length === 0) return;
    const alive = tensorsOf(f);
    for (const e of dead) {
      for (const t of [e.tensor, e.mask]) if (t && !alive.has(t) && !protect.has(t) && !t.isDisposed) t.dispose();
    }
  }

  private inputsFrontier(batch: tf.Tensor[]): Frontier {
    return new Map(this.plan.inputIds.map((id, i) => [id, { tensor: batch[i], mask: null }]));
  }

  private notePeak(inFlight: number): void {
    this.stats.peakActivationBytes = Math.max(this.stats.peakActivationBytes, this.storedBytes + inFlight);
  }

  /**
   * Calls `fn` with the target's input on every calibration batch, computed through the model's
   * current weights (so the targets before it are seen quantized).
   */
  async visit(target: PlanTarget, fn: (x: tf.Tensor) => void): Promise<void> {
    const p = target.position;
    if (this.stored === null) await this.visitFromSource(target, fn);
    else await this.visitFromStored(target, fn);
    this.reached = Math.max(this.reached, p);
  }

  private async visitFromStored(target: PlanTarget, fn: (x: tf.Tensor) => void): Promise<void> {
    const p = target.position;
    const old = this.stored!;
    const rows = this.totalRows!;
    const next: Frontier[] = [];
    let keep = false;
    let nextBytes = 0;
    for (let b = 0; b < old.length; b++) {
      const from = old[b];
      const protect = tensorsOf(from);
      const f: Frontier = new Map(from);
      try {
        this.advance(f, this.storedAt, p, protect);
        fn(f.get(target.input)!.tensor);
      } catch (err) {
        disposeFrontier(f, protect);
        tf.dispose(next.flatMap((n) => [...tensorsOf(n)]).filter((t) => !protect.has(t)));
        throw err;
      }
      const fb = bytesOf(tensorsOf(f));
      this.notePeak(nextBytes + fb);
      if (b === 0) {
        // Decide once, from the first batch: its bytes per row times all rows.
        const batchRows = f.get(target.input)!.tensor.shape[0] || 1;
        keep = (fb / batchRows) * rows <= this.budgetBytes;
      }
      if (keep) {
        const fresh = tensorsOf(f);
        disposeFrontier(from, new Set(), fresh); // the old checkpoint of this batch, minus what carries over
        next.push(f);
        nextBytes += fb;
      } else {
        disposeFrontier(f, protect);
      }
      await yieldToEventLoop();
    }
    if (keep) {
      this.stored = next;
      this.storedAt = p;
      this.storedBytes = nextBytes;
    }
  }

  private async visitFromSource(target: PlanTarget, fn: (x: tf.Tensor) => void): Promise<void> {
    const p = target.position;
    let kept: Frontier[] | null = [];
    let keptBytes = 0;
    const drop = () => {
      for (const k of kept ?? []) disposeFrontier(k, new Set());
      kept = null;
      keptBytes = 0;
    };
    try {
      this.totalRows = await this.source.forEachBatch((batch) => {
        const protect = new Set(batch);
        const f = this.inputsFrontier(batch);
        try {
          this.advance(f, 0, p, protect);
          fn(f.get(target.input)!.tensor);
        } catch (err) {
          disposeFrontier(f, protect);
          throw err;
        }
        const fb = bytesOf(tensorsOf(f));
        this.notePeak(keptBytes + fb);
        if (kept !== null && keptBytes + fb <= this.budgetBytes) {
          // The batch's own tensors are the source's (disposed after this call): keep copies.
          for (const [id, e] of f) {
            f.set(id, { tensor: protect.has(e.tensor) ? e.tensor.clone() : e.tensor, mask: e.mask && protect.has(e.mask) ? e.mask.clone() : e.mask });
          }
          kept.push(f);
          keptBytes += fb;
        } else {
          disposeFrontier(f, protect);
          drop(); // the frontier does not fit: nothing is stored, the source stays the checkpoint
        }
      });
    } catch (err) {
      drop();
      throw err;
    }
    if (kept !== null) {
      this.stored = kept;
      this.storedAt = p;
      this.storedBytes = keptBytes;
    }
  }

  /**
   * One pass for `sequential: false`: for every batch, advances through all targets in order and
   * calls `fn(k, x)` with target k's input. Nothing is stored between batches.
   */
  async visitAll(fn: (k: number, x: tf.Tensor) => void): Promise<number> {
    const targets = this.plan.targets;
    const rows = await this.source.forEachBatch((batch) => {
      const protect = new Set(batch);
      const f = this.inputsFrontier(batch);
      try {
        let pos = 0;
        targets.forEach((t, k) => {
          this.advance(f, pos, t.position, protect);
          pos = t.position;
          this.notePeak(bytesOf(tensorsOf(f)));
          fn(k, f.get(t.input)!.tensor);
        });
      } finally {
        disposeFrontier(f, protect);
      }
    });
    this.reached = targets.length ? targets[targets.length - 1].position : 0;
    return rows;
  }

  /** Disposes the stored checkpoint. */
  dispose(): void {
    for (const f of this.stored ?? []) disposeFrontier(f, new Set());
    this.stored = null;
    this.storedBytes = 0;
  }
}
