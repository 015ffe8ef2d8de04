/**
 * A one-line progress bar on stderr when stderr is a terminal; silent otherwise (pipes, CI, tests,
 * browsers). The only place in adapters/quantize that writes anything.
 */
export interface ProgressEvent {
  /** Layers done so far. */
  done: number;
  /** Layers to quantize. */
  total: number;
  layer: string;
  stage: string;
}

interface Stream {
  isTTY?: boolean;
  columns?: number;
  write(s: string): boolean;
}

function stderr(): Stream | undefined {
  const p = (globalThis as { process?: { stderr?: Stream } }).process;
  return p?.stderr;
}

/** Returns an onProgress handler drawing a bar, or a no-op when `stream` is not a TTY. */
export function progressBar(stream: Stream | undefined = stderr()): (e: ProgressEvent) => void {
  if (!stream?.isTTY) return () => {};
  return (e) => {
    const width = 24;
    const filled = e.total === 0 ? width : Math.round((width * e.done) / e.total);
    const line = `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${e.done}/${e.total} ${e.stage} ${e.layer}`;
    const cols = stream.columns ?? 80;
    stream.write('\r' + line.slice(0, cols - 1).padEnd(cols - 1));
    if (e.done === e.total && e.stage === 'done') stream.write('\n');
  };
}
