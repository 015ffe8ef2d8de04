/**
 * readBounded: the one way the loaders read bytes, from a local path, a file:// URL or an
 * http(s) URL, with a size limit, an abort signal and a timeout. Browser-safe (Node modules are
 * imported at run time by read_node.ts).
 *
 * - Local files: regular files only, size checked with fstat before reading, never more than the
 *   declared size read (read_node.ts). With `baseDir`, a relative path such as a weight shard
 *   name must stay inside that folder: `../x`, `/etc/passwd`, `C:\x` and `a/../../x` are refused
 *   before anything is opened (lexically: a model folder may still symlink its files elsewhere,
 *   and what a link points to must still be a regular file within the limit).
 * - URLs: Content-Length checked, the stream cut at the limit, an idle timeout (http_bytes.ts).
 */
import { InputError, describeValue } from '../../plugins/core/errors.ts';
import { rejectUnknownKeys } from '../../plugins/core/validate.ts';
import { OptionError } from '../../plugins/core/errors.ts';
import { fetchBytes } from './http_bytes.ts';
import { isNode, readLocalFile } from './read_node.ts';

/** Default cap for a model.json: far above any real topology + manifest, far below "all memory". */
export const MAX_MODEL_JSON_BYTES = 64 * 1024 * 1024;
/** Default cap for anything else read without a declared size (2 GiB, the largest ArrayBuffer tfjs handles well). */
export const DEFAULT_MAX_BYTES = 2 * 1024 * 1024 * 1024;
/** Default idle timeout for URLs: a server silent for a minute is not coming back. */
export const DEFAULT_TIMEOUT_MS = 60_000;

export interface ReadBoundedOptions {
  /** Refuse anything larger. Default: expectedBytes when given, else DEFAULT_MAX_BYTES. */
  maxBytes?: number;
  /** The exact size required (declared by a manifest); a different size is an InputError. */
  expectedBytes?: number;
  /** Aborts the read; the signal's reason is thrown. */
  signal?: AbortSignal;
  /** URLs: abort when nothing arrives for this long (ms). Default DEFAULT_TIMEOUT_MS. */
  timeoutMs?: number;
  /** `pathOrUrl` is relative to this folder (a path or a URL without query) and must stay inside it. */
  baseDir?: string;
  /** fetch for URLs (default globalThis.fetch). In Node, a relative path is fetched when this is given. */
  fetch?: typeof fetch;
  /** What is read, for messages (e.g. "weight shard a.bin of m/model.json"). */
  what?: string;
}

const KEYS = ['maxBytes', 'expectedBytes', 'signal', 'timeoutMs', 'baseDir', 'fetch', 'what'] as const;

function size(name: string, v: unknown): number | undefined {
  if (v === undefined) return undefined;
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) {
    throw new OptionError(`\`${name}\` must be an integer >= 0. Received: ${name}=${describeValue(v)}.`);
  }
  return v;
}

/** Validates the options shared by every loader: signal, timeoutMs, fetch. Returns them. */
export function checkLoadOptions(o: { signal?: unknown; timeoutMs?: unknown; fetch?: unknown }, where: string): void {
  if (o.signal !== undefined && !(typeof o.signal === 'object' && o.signal !== null && 'aborted' in o.signal && 'addEventListener' in o.signal)) {
    throw new OptionError(`\`signal\` of ${where} must be an AbortSignal. Received: signal=${describeValue(o.signal)}.`);
  }
  if (o.timeoutMs !== undefined && (typeof o.timeoutMs !== 'number' || !(o.timeoutMs > 0) || !Number.isFinite(o.timeoutMs))) {
    throw new OptionError(`\`timeoutMs\` of ${where} must be a finite number > 0 (milliseconds). Received: timeoutMs=${describeValue(o.timeoutMs)}.`);
  }
  if (o.fetch !== undefined && typeof o.fetch !== 'function') {
    throw new OptionError(`\`fetch\` of ${where} must be a function. Received: fetch=${describeValue(o.fetch)}.`);
  }
}

/** True for http:, https: and other scheme:// URLs except file://. */
export function isUrl(s: string): boolean {
  return /^[a-z][a-z0-9+.-]*:\/\//i.test(s) && !/^file:/i.test(s);
}

/**
 * `baseDir` + `rel`, refusing a `rel` that leaves the folder: absolute paths, drive letters,
 * URLs, NUL bytes, and `..` that climbs above the folder. Pure string work (runs anywhere).
 * `baseDir` may be a path or a URL without query (then each segment is percent-encoded).
 */
export function resolveInside(baseDir: string, rel: string, what = 'path'): string {
  const refuse = (why: string): never => {
    throw new InputError(`The ${what} ${JSON.stringify(rel)} ${why}: files must stay inside the model's folder (${baseDir}).`);
  };
  if (typeof rel !== 'string' || rel === '') refuse('is empty');
  if (rel.includes('\0')) refuse('contains a NUL byte');
  if (/^[\\/]/.test(rel) || /^[a-z]:/i.test(rel)) refuse('is absolute');
  if (/^[a-z][a-z0-9+.-]*:/i.test(rel)) refuse('is a URL');
  const parts: string[] = [];
  for (const seg of rel.split(/[\\/]+/)) {
    if (seg === '' || seg === '.') continue;
    if (seg === '..') {
      if (parts.length === 0) refuse('climbs out of the folder');
      parts.pop();
    } else {
      parts.push(seg);
    }
  }
  if (parts.length === 0) refuse('names the folder itself');
  const url = /^[a-z][a-z0-9+.-]+:\/\//i.test(baseDir);
  const joined = parts.map((p) => (url ? encodeURIComponent(p) : p)).join('/');
  return baseDir.replace(/[\\/]*$/, '') + '/' + joined;
}

/** Reads `pathOrUrl` into bytes, bounded as described at the top of this file. */
export async function readBounded(pathOrUrl: string, options: ReadBoundedOptions = {}): Promise<Uint8Array> {
  rejectUnknownKeys(options, KEYS, 'readBounded');
  // With baseDir the path usually comes from a file (a shard name): resolveInside judges it as input.
  if (typeof pathOrUrl !== 'string' || (pathOrUrl === '' && options.baseDir === undefined)) {
    throw new OptionError(`\`pathOrUrl\` must be a non-empty string. Received: ${describeValue(pathOrUrl)}.`);
  }
  checkLoadOptions(options, 'readBounded');
  // A declared size comes from a file (a manifest): a bad one is bad input, not a bad option.
  if (options.expectedBytes !== undefined && !(Number.isSafeInteger(options.expectedBytes) && options.expectedBytes >= 0)) {
    throw new InputError(`Cannot read ${options.what ?? pathOrUrl}: the declared size ${describeValue(options.expectedBytes)} is not a byte count.`);
  }
  const expectedBytes = options.expectedBytes;
  const maxBytes = size('maxBytes', options.maxBytes) ?? expectedBytes ?? DEFAULT_MAX_BYTES;
  if (expectedBytes !== undefined && expectedBytes > maxBytes) {
    throw new InputError(`Cannot read ${options.what ?? pathOrUrl}: ${expectedBytes} bytes are declared, more than the limit of ${maxBytes}.`);
  }
  let where = pathOrUrl;
  if (options.baseDir !== undefined) {
    if (typeof options.baseDir !== 'string' || options.baseDir === '') {
      throw new OptionError(`\`baseDir\` must be a non-empty string. Received: baseDir=${describeValue(options.baseDir)}.`);
    }
    where = resolveInside(options.baseDir, pathOrUrl, options.what ?? 'path');
  }
  const common = { maxBytes, ...(expectedBytes !== undefined ? { expectedBytes } : {}), ...(options.signal ? { signal: options.signal } : {}), what: options.what ?? where };
  const local = !isUrl(where) && (/^file:/i.test(where) || (isNode() && !options.fetch));
  if (local) return readLocalFile(where, common);
  return fetchBytes(where, { ...common, timeoutMs: options.timeoutMs ?? DEFAULT_TIMEOUT_MS, ...(options.fetch ? { fetch: options.fetch } : {}) });
}
