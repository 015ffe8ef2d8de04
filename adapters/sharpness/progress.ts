/**
 * A one-line progress bar on stderr for the sharpness diagnostics, drawn only when stderr is a
 * terminal (silent in pipes, CI, tests and browsers).
 */
import type { SharpnessProgress } from '../../plugins/sharpness/options.ts';

interface Stream {
  isTTY?: boolean;
  columns?: number;
  write(s: string): boolean;
}

function stderr(): Stream | undefined {
  return (globalThis as { process?: { stderr?: Stream } }).process?.stderr;
}

/** An onProgress handler drawing a bar, or undefined when `stream` is not a TTY. */
export function sharpnessProgressBar(stream: Stream | undefined = stderr()): ((p: SharpnessProgress) => void) | undefined {
  if (!stream?.isTTY) return undefined;
  return (p) => {
    const width = 24;
    const filled = Math.round((width * p.done) / Math.max(1, p.total));
    const line = `${p.stage} [${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${p.done}/${p.total}`;
    const cols = stream.columns ?? 80;
    stream.write('\r' + line.slice(0, cols - 1).padEnd(cols - 1));
    if (p.done >= p.total) stream.write('\n');
  };
}
