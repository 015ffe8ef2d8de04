/**
 * Bounded download of one URL with fetch (browsers and Node 18+; no Node API).
 *
 * Contract of fetchBytes(url, {maxBytes, expectedBytes, timeoutMs, signal, fetch}):
 * - a Content-Length larger than maxBytes, or different from expectedBytes, is an InputError
 *   before any of the body is read (unless the body is content-encoded: then Content-Length
 *   counts compressed bytes and only the decoded stream is checked);
 * - the body is read as a stream and cut as soon as it passes the limit (a server that sends
 *   300 MiB where 2,933 bytes are declared costs at most 2,934 bytes + one chunk);
 * - `timeoutMs` is an idle timeout: the request is aborted when the server sends nothing for that
 *   long, while waiting for the headers or for the next chunk of the body, so a server that never
 *   answers and a stalled body both end with an InputError; an endless body ends at the size limit;
 * - `signal` aborts at any time; its reason is thrown (an AbortError, as fetch does);
 * - on every failure the request is aborted, so no socket is left reading.
 */
import { InputError } from '../../plugins/core/errors.ts';

export interface FetchBytesOptions {
  /** Refuse bodies larger than this many bytes. */
  maxBytes: number;
  /** The exact size the body must have (a size declared by a manifest). Default: any size <= maxBytes. */
  expectedBytes?: number;
  /** Abort when nothing arrives for this many milliseconds. */
  timeoutMs: number;
  /** Abort from outside. */
  signal?: AbortSignal;
  /** fetch to use (default: globalThis.fetch). */
  fetch?: typeof fetch;
  /** What is fetched, for messages. Default: the URL. */
  what?: string;
}

class IdleTimeout extends Error {}

/** Fetches `url` into bytes, bounded and timed as described above. */
export async function fetchBytes(url: string, options: FetchBytesOptions): Promise<Uint8Array> {
  const { maxBytes, expectedBytes, timeoutMs, signal } = options;
  const what = options.what ?? url;
  const f = options.fetch ?? globalThis.fetch;
  if (typeof f !== 'function') throw new InputError(`No fetch available to load ${what}; pass options.fetch.`);
  signal?.throwIfAborted();
  const limit = expectedBytes ?? maxBytes;
  const controller = new AbortController();
  const onAbort = () => controller.abort(signal!.reason);
  signal?.addEventListener('abort', onAbort, { once: true });
  let timer: ReturnType<typeof setTimeout> | undefined;
  const idle = () => {
    clearTimeout(timer);
    timer = setTimeout(() => controller.abort(new IdleTimeout()), timeoutMs);
  };
  // Rethrows an abort as the user's reason or as a timeout InputError; wraps anything else.
  const explain = (err: unknown): Error => {
    if (err instanceof InputError) return err;
    if (signal?.aborted) return signal.reason instanceof Error ? signal.reason : new DOMException('The load was aborted.', 'AbortError');
    if (controller.signal.reason instanceof IdleTimeout) {
      return new InputError(`Cannot fetch ${what}: no data from the server for ${timeoutMs} ms (timeoutMs); aborted.`);
    }
    const cause = (err as { cause?: { message?: string } })?.cause?.message;
    return new InputError(`Cannot fetch ${what}: ${(err as Error)?.message ?? String(err)}${cause ? ` (${cause})` : ''}.`);
  };
  try {
    idle();
    let res: Response;
    try {
      res = await f(url, { signal: controller.signal });
    } catch (err) {
      throw explain(err);
    }
    if (!res.ok) throw new InputError(`Cannot fetch ${what}: HTTP ${res.status} ${res.statusText}`.trimEnd() + '.');
    const encoded = (res.headers.get('content-encoding') ?? 'identity').toLowerCase() !== 'identity';
    const header = res.headers.get('content-length');
    if (header !== null && !encoded) {
      const declared = Number(header);
      if (expectedBytes !== undefined && declared !== expectedBytes) {
        throw new InputError(`Cannot fetch ${what}: the server sends ${header} bytes (Content-Length) but ${expectedBytes} are declared (truncated, or it belongs to another model).`);
      }
      if (declared > maxBytes) throw new InputError(`Cannot fetch ${what}: the server sends ${header} bytes (Content-Length), more than the limit of ${maxBytes}.`);
    }
    const chunks: Uint8Array[] = [];
    let total = 0;
    if (res.body) {
      const reader = res.body.getReader();
      try {
        for (;;) {
          idle();
          const { done, value } = await reader.read();
          if (done) break;
          total += value.byteLength;
          if (total > limit) {
            throw new InputError(`Cannot fetch ${what}: the server sent more than the ${expectedBytes !== undefined ? 'declared' : 'limit of'} ${limit} bytes; stopped reading.`);
          }
          chunks.push(value);
        }
      } catch (err) {
        throw explain(err);
      } finally {
        reader.cancel().catch(() => {});
      }
    } else {
      // A fetch without streams (some polyfills): the size can only be checked afterwards.
      const all = new Uint8Array(await res.arrayBuffer().catch((err) => { throw explain(err); }));
      total = all.byteLength;
      if (total > limit) throw new InputError(`Cannot fetch ${what}: the body has ${total} bytes, more than the ${limit} allowed.`);
      chunks.push(all);
    }
    if (expectedBytes !== undefined && total !== expectedBytes) {
      throw new InputError(`Cannot fetch ${what}: the body has ${total} bytes but ${expectedBytes} are declared (truncated, or it belongs to another model).`);
    }
    if (chunks.length === 1 && chunks[0].byteOffset === 0 && chunks[0].byteLength === chunks[0].buffer.byteLength) return chunks[0];
    const out = new Uint8Array(total);
    let at = 0;
    for (const c of chunks) {
      out.set(c, at);
      at += c.byteLength;
    }
    return out;
  } catch (err) {
    const e = explain(err);
    controller.abort();
    throw e;
  } finally {
    clearTimeout(timer);
    signal?.removeEventListener('abort', onAbort);
  }
}
