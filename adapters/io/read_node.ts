/**
 * Bounded reading of a local file in Node. The Node modules are imported at run time through a
 * variable specifier, so browser bundles never see them and this file is safe to import anywhere.
 *
 * Contract of readLocalFile(path, {maxBytes, expectedBytes, signal}):
 * - regular files only: a directory, a FIFO, a socket or a device (a symlink to /dev/zero) is an
 *   InputError, and nothing blocks (the file is opened with O_NONBLOCK, so opening a FIFO with no
 *   writer returns at once instead of parking a libuv thread forever);
 * - the size is checked with fstat on the opened descriptor before any byte is read, and never
 *   more than that many bytes are read (a file that grows or shrinks meanwhile is an InputError);
 * - symlinks are followed (a model folder may link its files from a cache); what they point to
 *   must still be a regular file within the size limit.
 */
import { InputError } from '../../plugins/core/errors.ts';

const FS_MODULE = 'node:fs';
const FSP_MODULE = 'node:fs/promises';
const URL_MODULE = 'node:url';

/** Read at most this much per read() call, so an abort is noticed between chunks. */
const CHUNK_BYTES = 16 * 1024 * 1024;

export function isNode(): boolean {
  const p = (globalThis as { process?: { versions?: { node?: string } } }).process;
  return typeof p?.versions?.node === 'string';
}

/** Default cap when no limit is given: 2 GiB. */
const DEFAULT_LOCAL_MAX_BYTES = 2 * 1024 * 1024 * 1024;

export interface LocalReadOptions {
  /** Refuse files larger than this many bytes. Default 2 GiB. */
  maxBytes?: number;
  /** The exact size the file must have (a size declared by a manifest). Default: any size <= maxBytes. */
  expectedBytes?: number;
  /** Abort the read (the signal's reason is thrown). */
  signal?: AbortSignal;
  /** What the file is, for messages (e.g. "weights.bin of out/model.json"). Default: the path. */
  what?: string;
}

interface FileHandle {
  stat(): Promise<{ size: number; isFile(): boolean; isDirectory(): boolean; isFIFO(): boolean; isCharacterDevice(): boolean; isBlockDevice(): boolean; isSocket(): boolean }>;
  read(buf: Uint8Array, offset: number, length: number, position: number): Promise<{ bytesRead: number }>;
  close(): Promise<void>;
}

function kind(s: Awaited<ReturnType<FileHandle['stat']>>): string {
  if (s.isDirectory()) return 'a directory';
  if (s.isFIFO()) return 'a FIFO (named pipe)';
  if (s.isCharacterDevice()) return 'a character device';
  if (s.isBlockDevice()) return 'a block device';
  if (s.isSocket()) return 'a socket';
  return 'not a regular file';
}

/** Reads `path` (a file path or a file:// URL) into bytes, bounded as described above. */
export async function readLocalFile(path: string, options: LocalReadOptions = {}): Promise<Uint8Array> {
  const { maxBytes = DEFAULT_LOCAL_MAX_BYTES, expectedBytes, signal } = options;
  const what = options.what ?? path;
  signal?.throwIfAborted();
  const fsp = (await import(/* @vite-ignore */ /* webpackIgnore: true */ FSP_MODULE)) as {
    open(p: string, flags: number): Promise<FileHandle>;
  };
  const { constants } = (await import(/* @vite-ignore */ /* webpackIgnore: true */ FS_MODULE)) as { constants: Record<string, number | undefined> };
  let file = path;
  if (/^file:/i.test(path)) {
    const { fileURLToPath } = (await import(/* @vite-ignore */ /* webpackIgnore: true */ URL_MODULE)) as { fileURLToPath(u: string): string };
    try {
      file = fileURLToPath(path);
    } catch (err) {
      throw new InputError(`Cannot read ${what}: ${(err as Error).message}`);
    }
  }
  let handle: FileHandle;
  try {
    // O_NONBLOCK: opening a FIFO must not wait for a writer. It changes nothing for regular files.
    handle = await fsp.open(file, (constants.O_RDONLY ?? 0) | (constants.O_NONBLOCK ?? 0));
  } catch (err) {
    const code = (err as { code?: string }).code;
    if (code === 'ENOENT') throw new InputError(`Cannot read ${what}: no such file (${file}).`);
    throw new InputError(`Cannot read ${what}: ${(err as Error).message}`);
  }
  try {
    const st = await handle.stat();
    if (!st.isFile()) throw new InputError(`Cannot read ${what}: ${file} is ${kind(st)}, not a regular file.`);
    if (expectedBytes !== undefined && st.size !== expectedBytes) {
      throw new InputError(`Cannot read ${what}: the file has ${st.size} bytes but ${expectedBytes} are declared (truncated, or it belongs to another model).`);
    }
    if (st.size > maxBytes) throw new InputError(`Cannot read ${what}: the file has ${st.size} bytes, more than the limit of ${maxBytes}.`);
    const out = new Uint8Array(st.size);
    let at = 0;
    while (at < out.length) {
      signal?.throwIfAborted();
      const { bytesRead } = await handle.read(out, at, Math.min(CHUNK_BYTES, out.length - at), at);
      if (bytesRead === 0) throw new InputError(`Cannot read ${what}: the file shrank to ${at} bytes while it was read (expected ${st.size}).`);
      at += bytesRead;
    }
    const probe = new Uint8Array(1);
    if ((await handle.read(probe, 0, 1, at)).bytesRead !== 0) {
      throw new InputError(`Cannot read ${what}: the file grew beyond ${st.size} bytes while it was read.`);
    }
    return out;
  } catch (err) {
    if (err instanceof InputError || signal?.aborted) throw err;
    throw new InputError(`Cannot read ${what}: ${(err as Error).message}`);
  } finally {
    await handle.close().catch(() => {});
  }
}
