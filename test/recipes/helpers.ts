/** Shared assertions for the recipe smoke tests. */
import { existsSync, readFileSync } from 'node:fs';
import type { ExecutionContext } from 'ava';

const PNG_SIGNATURE = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];

/** `path` is a real PNG picture: the signature, and IHDR width/height (big-endian at bytes 16..23) not a placeholder's. */
export function assertPng(t: ExecutionContext, path: string): void {
  t.true(existsSync(path), `${path} exists`);
  const bytes = readFileSync(path);
  t.deepEqual([...bytes.subarray(0, 8)], PNG_SIGNATURE, `${path} starts with the PNG signature`);
  t.true(bytes.readUInt32BE(16) >= 400 && bytes.readUInt32BE(20) >= 200, `${path} has a plausible size`);
}
