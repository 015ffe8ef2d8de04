/**
 * Shared loading for the compiled kernels: the choice between WebAssembly and the JS twin, and
 * instantiating a kernel's bytes (base64 inside a .ts module: no file or network access) with
 * its own memory laid out in fixed regions.
 *
 * Choice: a `kernel` option ('auto' | 'wasm' | 'js') or else the environment variable
 * TFJS_SAM_QUANTEASE_KERNEL; 'auto' (the default) takes wasm when it loads, 'wasm' fails if it
 * cannot, 'js' forces the fallback. Both give the same bits.
 */
import { OptionError, describeValue } from '../../core/errors.ts';

export const KERNEL_ENV_VAR = 'TFJS_SAM_QUANTEASE_KERNEL';
export const KERNEL_CHOICES = ['auto', 'wasm', 'js'] as const;
export type KernelChoice = (typeof KERNEL_CHOICES)[number];

/** The choice in effect: the argument, else the environment variable, else 'auto'. */
export function resolveKernelChoice(choice?: string): KernelChoice {
  const env = typeof process !== 'undefined' ? process.env?.[KERNEL_ENV_VAR] : undefined;
  const value = choice ?? (env === undefined || env === '' ? 'auto' : env);
  if (!(KERNEL_CHOICES as readonly string[]).includes(value)) {
    const where = choice !== undefined ? 'kernel' : KERNEL_ENV_VAR;
    throw new OptionError(`\`${where}\` must be one of ${KERNEL_CHOICES.join(', ')}. Received: ${where}=${describeValue(value)}.`);
  }
  return value as KernelChoice;
}

/** The error for a forced 'wasm' that does not load. */
export function wasmUnavailable(what: string): OptionError {
  return new OptionError(`\`kernel\` is 'wasm' but the WebAssembly SIMD ${what} kernel does not load here (no WebAssembly SIMD, or no memory for its buffers). Use 'auto' or 'js'.`);
}

const compiled = new Map<string, WebAssembly.Module | null>();

/** The compiled module of base64 bytes, or null where WebAssembly (with SIMD) is unavailable. Once per module. */
export function compileBase64(base64: string): WebAssembly.Module | null {
  if (compiled.has(base64)) return compiled.get(base64)!;
  let mod: WebAssembly.Module | null = null;
  try {
    const bin = atob(base64);
    const bytes = new Uint8Array(bin.length);
    for (let i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
    mod = typeof WebAssembly === 'object' && WebAssembly.validate(bytes) ? new WebAssembly.Module(bytes) : null;
  } catch {
    mod = null;
  }
  compiled.set(base64, mod);
  return mod;
}

/** A fresh instance with regions of the given byte sizes past its own pages (16-byte aligned); null if it cannot. */
export function instantiateWithRegions<E>(mod: WebAssembly.Module, sizes: number[]): { exports: E; buffer: ArrayBuffer; at: number[] } | null {
  try {
    const instance = new WebAssembly.Instance(mod, {});
    const memory = instance.exports.memory as WebAssembly.Memory;
    let top = memory.buffer.byteLength; // the kernels keep no data of their own in memory
    const at = sizes.map((bytes) => {
      const p = top;
      top += Math.ceil(bytes / 16) * 16;
      return p;
    });
    memory.grow(Math.ceil((top - memory.buffer.byteLength) / 65536));
    // never grows again: views on this buffer stay valid
    return { exports: instance.exports as unknown as E, buffer: memory.buffer as ArrayBuffer, at };
  } catch {
    return null;
  }
}
