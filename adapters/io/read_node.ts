/**
 * Reads a local file in Node. The Node module is imported at run time through a variable
 * specifier, so browser bundles never see it and this file is safe to import anywhere.
 */
import { InputError } from '../../plugins/core/errors.ts';

const FS_MODULE = 'node:fs/promises';

export function isNode(): boolean {
  const p = (globalThis as { process?: { versions?: { node?: string } } }).process;
  return typeof p?.versions?.node === 'string';
}

/** Reads `path` (a file path or a file:// URL) into bytes. Throws InputError when it cannot be read. */
export async function readLocalFile(path: string): Promise<Uint8Array> {
  const fs = (await import(/* @vite-ignore */ /* webpackIgnore: true */ FS_MODULE)) as {
    readFile(p: string | URL): Promise<Uint8Array>;
  };
  try {
    const buf = await fs.readFile(path.startsWith('file:') ? new URL(path) : path);
    return new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
  } catch (err) {
    throw new InputError(`Cannot read ${path}: ${(err as Error).message}`);
  }
}
