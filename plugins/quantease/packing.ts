/**
 * Bit-packing of integer codes of b bits (2..8) into bytes, and back.
 *
 * Layout (little-endian bit stream): code i occupies bits [i*b, (i+1)*b) of the stream, where bit
 * k of the stream is bit (k % 8) of byte floor(k / 8), least significant first. A code can straddle
 * two bytes (b = 3, 5, 6, 7). Packed length: ceil(n * b / 8) bytes; unused high bits of the last
 * byte are zero. The layout does not depend on the platform's endianness.
 */
import { checkInteger } from '../core/validate.ts';
import { InputError } from '../core/errors.ts';

/** Bytes needed for `count` codes of `bits` bits. */
export function packedByteLength(count: number, bits: number): number {
  return Math.ceil((count * bits) / 8);
}

/**
 * Packs `codes` (each in 0..2^bits-1) into ceil(n * bits / 8) bytes.
 * @param codes integer codes, one per byte
 * @param bits 2..8
 * @example packCodes(new Uint8Array([1, 2, 3]), 2) // Uint8Array [0b111001]
 */
export function packCodes(codes: Uint8Array, bits: number): Uint8Array {
  checkInteger('bits', bits, 2, 8);
  const n = codes.length;
  if (bits === 8) return codes.slice();
  const max = (1 << bits) - 1;
  const out = new Uint8Array(packedByteLength(n, bits));
  let acc = 0; // pending bits, at most 7 + 8 = 15 of them
  let filled = 0;
  let o = 0;
  for (let i = 0; i < n; i++) {
    const q = codes[i];
    if (q > max) throw new InputError(`Code ${q} at index ${i} does not fit in ${bits} bits (max ${max}).`);
    acc |= q << filled;
    filled += bits;
    if (filled >= 8) {
      out[o++] = acc & 0xff;
      acc >>>= 8;
      filled -= 8;
    }
  }
  if (filled > 0) out[o] = acc & 0xff;
  return out;
}

/**
 * Unpacks `count` codes of `bits` bits from `packed` (inverse of packCodes).
 * Throws InputError when `packed` is shorter than ceil(count * bits / 8) bytes.
 */
export function unpackCodes(packed: Uint8Array, bits: number, count: number): Uint8Array {
  checkInteger('bits', bits, 2, 8);
  checkInteger('count', count, 0);
  const need = packedByteLength(count, bits);
  if (packed.length < need) {
    throw new InputError(`Packed codes are truncated: ${count} codes of ${bits} bits need ${need} bytes, got ${packed.length}.`);
  }
  if (bits === 8) return packed.slice(0, count);
  const mask = (1 << bits) - 1;
  const out = new Uint8Array(count);
  let acc = 0;
  let filled = 0;
  let p = 0;
  for (let i = 0; i < count; i++) {
    if (filled < bits) {
      acc |= packed[p++] << filled;
      filled += 8;
    }
    out[i] = acc & mask;
    acc >>>= bits;
    filled -= bits;
  }
  return out;
}
