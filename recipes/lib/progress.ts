/**
 * Progress bars on stderr for recipes: drawn only when stderr is a TTY, silent otherwise (CI, tests,
 * pipes), so recipe output stays clean where it is recorded.
 *
 * API (stable):
 *   new ProgressBar(label: string, total: number, opts?: {enabled?: boolean, stream?})
 *     .tick(n = 1, note?)   .update(done, note?)   .finish(note?)
 *   fitProgress(label: string, opts?): tfl.Callback   a model.fit callback: one bar over epochs x batches
 *   isInteractive(): boolean                            whether bars are drawn by default
 *
 * @example
 *   const bar = new ProgressBar('SAM seeds', 3);
 *   for (...) { ...; bar.tick(1, `acc=${acc.toFixed(3)}`); }
 *   bar.finish();
 *   await model.fit(x, y, {epochs: 5, batchSize: 64, callbacks: [fitProgress('Adam')]});
 */
import * as tfl from '@tensorflow/tfjs-layers';

export interface ProgressOptions {
  /** Force drawing on or off (default: stderr is a TTY and the env var NO_PROGRESS is unset). */
  enabled?: boolean;
  /** Stream to draw on (default process.stderr). */
  stream?: NodeJS.WriteStream;
}

/** True when bars are drawn by default. */
export function isInteractive(): boolean {
  return Boolean(process.stderr.isTTY) && process.env.NO_PROGRESS === undefined;
}

const WIDTH = 28;
const MIN_REDRAW_MS = 100;

export class ProgressBar {
  private done = 0;
  private lastDraw = 0;
  private readonly start = Date.now();
  private readonly enabled: boolean;
  private readonly stream: NodeJS.WriteStream;

  constructor(readonly label: string, public total: number, opts: ProgressOptions = {}) {
    this.stream = opts.stream ?? process.stderr;
    this.enabled = opts.enabled ?? isInteractive();
  }

  /** Advances by n steps. */
  tick(n = 1, note?: string): void {
    this.update(this.done + n, note);
  }

  /** Sets the number of finished steps. */
  update(done: number, note?: string): void {
    this.done = Math.min(done, this.total);
    const now = Date.now();
    if (now - this.lastDraw >= MIN_REDRAW_MS || this.done >= this.total) {
      this.lastDraw = now;
      this.draw(note);
    }
  }

  /** Completes the bar and moves to a new line. */
  finish(note?: string): void {
    this.done = this.total;
    this.draw(note);
    if (this.enabled) this.stream.write('\n');
  }

  private draw(note?: string): void {
    if (!this.enabled) return;
    const frac = this.total > 0 ? this.done / this.total : 1;
    const filled = Math.round(frac * WIDTH);
    const elapsed = (Date.now() - this.start) / 1000;
    const eta = frac > 0 && frac < 1 ? ` eta ${Math.round(elapsed / frac - elapsed)}s` : '';
    const line = `${this.label} [${'#'.repeat(filled)}${'.'.repeat(WIDTH - filled)}] ` +
        `${this.done}/${this.total} ${elapsed.toFixed(0)}s${eta}${note ? ` ${note}` : ''}`;
    const cols = this.stream.columns ?? 120;
    this.stream.write(`\r${line.slice(0, cols - 1).padEnd(Math.min(cols - 1, line.length + 8))}`);
  }
}

/** A model.fit callback drawing one bar over all batches of all epochs, with the latest loss. */
class FitProgress extends tfl.Callback {
  private bar: ProgressBar | undefined;
  private stepsPerEpoch = 1;
  private epoch = 0;

  constructor(private readonly label: string, private readonly opts: ProgressOptions) {
    super();
  }

  override async onTrainBegin(): Promise<void> {
    const p = this.params as {epochs?: number; samples?: number; batchSize?: number; steps?: number};
    const epochs = p.epochs ?? 1;
    this.stepsPerEpoch = p.steps ?? Math.max(1, Math.ceil((p.samples ?? 1) / (p.batchSize ?? 32)));
    this.bar = new ProgressBar(this.label, epochs * this.stepsPerEpoch, this.opts);
  }

  override async onEpochBegin(epoch: number): Promise<void> {
    this.epoch = epoch;
  }

  override async onBatchEnd(batch: number, logs?: tfl.Logs): Promise<void> {
    const loss = logs?.loss;
    this.bar?.update(this.epoch * this.stepsPerEpoch + batch + 1,
        typeof loss === 'number' ? `loss ${loss.toFixed(4)}` : undefined);
  }

  override async onTrainEnd(): Promise<void> {
    this.bar?.finish();
  }
}

/** A tfjs-layers callback for model.fit: `callbacks: [fitProgress('SAM')]`. Silent when not a TTY. */
export function fitProgress(label: string, opts: ProgressOptions = {}): tfl.Callback {
  return new FitProgress(label, opts);
}
