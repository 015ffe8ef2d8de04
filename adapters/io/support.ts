/**
 * The support (which weights are kept) of a pruned kernel, stored compactly beside the codes of
 * the kept weights only. Two encodings of a mask of `size` = rows * cols entries (flat r*cols + c):
 *
 *   "bitmask"  ceil(size / 8) bytes; entry i is bit (i % 8) of byte floor(i / 8), least
 *              significant first; unused high bits of the last byte are zero.
 *   "delta"    the kept indices ascending, each as gap = index - previous - 1 (previous = -1 at
 *              the start), written as an unsigned LEB128 varint (7 bits per byte, high bit = more).
 *
 *   "columns"  every row keeps the same input columns (structured pruning): a bitmask of the
 *              `cols` columns only, ceil(cols / 8) bytes, same bit order.
 *
 * Per weight, bitmask costs 1/8 byte; delta about 1 byte per kept weight while gaps stay < 128.
 * So bitmask is smaller down to 1/8 kept (50% and 2:4: 4x smaller than delta); delta wins only
 * past 87.5% sparsity; "columns" (when it applies) costs 1/rows of a bitmask. The encoder stores
 * whichever is smallest (measured per kernel), the decoder reads all three and fails loudly on
 * anything inconsistent.
 */
import { InputError } from '../../plugins/core/errors.ts';
import { packedByteLength } from '../../plugins/quantease/packing.ts';

export type SupportEncoding = 'bitmask' | 'delta' | 'columns';

export const SUPPORT_ENCODINGS: readonly SupportEncoding[] = ['bitmask', 'delta', 'columns'];

/** Bytes of the bitmask encoding of a mask of `size` entries. */
export function bitmaskByteLength(size: number): number {
  return Math.ceil(size / 8);
}

function encodeBitmask(mask: Uint8Array): Uint8Array {
  const out = new Uint8Array(bitmaskByteLength(mask.length));
  for (let i = 0; i < mask.length; i++) if (mask[i]) out[i >> 3] |= 1 << (i & 7);
  return out;
}

/** Bytes of the delta encoding of `mask` (exact). */
export function deltaByteLength(mask: Uint8Array): number {
  let bytes = 0;
  let prev = -1;
  for (let i = 0; i < mask.length; i++) {
    if (!mask[i]) continue;
    let gap = i - prev - 1;
    prev = i;
    do { bytes++; gap = Math.floor(gap / 128); } while (gap > 0);
  }
  return bytes;
}

function encodeDelta(mask: Uint8Array): Uint8Array {
  const out = new Uint8Array(deltaByteLength(mask));
  let at = 0;
  let prev = -1;
  for (let i = 0; i < mask.length; i++) {
    if (!mask[i]) continue;
    let gap = i - prev - 1;
    prev = i;
    for (;;) {
      const low = gap % 128;
      gap = Math.floor(gap / 128);
      out[at++] = gap > 0 ? low | 128 : low;
      if (gap === 0) break;
    }
  }
  return out;
}

/** Whether every row of mask [rows, cols] keeps the same columns. */
function sameColumns(mask: Uint8Array, rows: number, cols: number): boolean {
  for (let r = 1; r < rows; r++) {
    for (let c = 0; c < cols; c++) if (mask[r * cols + c] !== mask[c]) return false;
  }
  return true;
}

/** Bytes of each applicable encoding of mask [rows, cols]. */
export function supportSizes(mask: Uint8Array, rows: number, cols: number): Partial<Record<SupportEncoding, number>> {
  const sizes: Partial<Record<SupportEncoding, number>> = { bitmask: bitmaskByteLength(mask.length), delta: deltaByteLength(mask) };
  if (sameColumns(mask, rows, cols)) sizes.columns = bitmaskByteLength(cols);
  return sizes;
}

function smallest(sizes: Partial<Record<SupportEncoding, number>>): SupportEncoding {
  let best: SupportEncoding = 'bitmask';
  for (const e of SUPPORT_ENCODINGS) if (sizes[e] !== undefined && sizes[e]! < sizes[best]!) best = e;
  return best;
}

/** The smallest encoding of mask [rows, cols] (bitmask on ties), with the kept count. */
export function encodeSupport(mask: Uint8Array, rows: number, cols: number): { encoding: SupportEncoding; count: number; bytes: Uint8Array } {
  let count = 0;
  for (let i = 0; i < mask.length; i++) if (mask[i]) count++;
  const encoding = smallest(supportSizes(mask, rows, cols));
  const bytes = encoding === 'delta' ? encodeDelta(mask) : encoding === 'columns' ? encodeBitmask(mask.subarray(0, cols)) : encodeBitmask(mask);
  return { encoding, count, bytes };
}

/** Bytes the encoder will use for mask [rows, cols]. */
export function supportByteLength(mask: Uint8Array, rows: number, cols: number): number {
  return supportSizes(mask, rows, cols)[smallest(supportSizes(mask, rows, cols))]!;
}

/** Bytes of the support section for a given encoding, when it is fixed by the shape (null for delta). */
export function fixedSupportByteLength(encoding: SupportEncoding, rows: number, cols: number): number | null {
  return encoding === 'bitmask' ? bitmaskByteLength(rows * cols) : encoding === 'columns' ? bitmaskByteLength(cols) : null;
}

function bad(name: string, msg: string): never {
  throw new InputError(`Malformed packed model: the support of ${name} ${msg}`);
}

/**
 * Decodes a support back into a mask of `size` entries, checking it has exactly `count` kept
 * entries and no stray bits or bytes. Throws InputError naming the weight.
 */
export function decodeSupport(name: string, encoding: SupportEncoding, count: number, bytes: Uint8Array, rows: number, cols: number): Uint8Array {
  const size = rows * cols;
  const mask = new Uint8Array(size);
  let kept = 0;
  if (encoding === 'bitmask' || encoding === 'columns') {
    const n = encoding === 'bitmask' ? size : cols;
    if (bytes.length !== bitmaskByteLength(n)) bad(name, `has ${bytes.length} bytes; a ${encoding} support of ${n} entries has ${bitmaskByteLength(n)}.`);
    for (let i = 0; i < n; i++) {
      if (bytes[i >> 3] & (1 << (i & 7))) { mask[i] = 1; kept++; }
    }
    if (n % 8 !== 0 && bytes[bytes.length - 1] >> (n % 8)) bad(name, 'has bits set past its last entry.');
    if (encoding === 'columns') {
      for (let r = 1; r < rows; r++) mask.copyWithin(r * cols, 0, cols);
      kept *= rows;
    }
  } else if (encoding === 'delta') {
    let at = 0;
    let prev = -1;
    while (at < bytes.length) {
      let gap = 0;
      let mul = 1;
      for (;;) {
        if (at >= bytes.length) bad(name, 'ends inside a varint.');
        const b = bytes[at++];
        gap += (b & 127) * mul;
        mul *= 128;
        if (!(b & 128)) break;
        if (mul > 2 ** 35) bad(name, 'has a varint longer than 5 bytes.');
      }
      const index = prev + 1 + gap;
      if (index >= size) bad(name, `has index ${index} past the end of the kernel (${size} entries).`);
      mask[index] = 1;
      prev = index;
      kept++;
    }
  } else {
    bad(name, `has encoding ${JSON.stringify(encoding)}; expected one of ${SUPPORT_ENCODINGS.join(', ')}.`);
  }
  if (kept !== count) bad(name, `keeps ${kept} weights but its count says ${count}.`);
  return mask;
}

/** The codes at kept positions, in flat order. */
export function keptCodes(codes: Uint8Array, mask: Uint8Array): Uint8Array {
  let n = 0;
  for (let i = 0; i < mask.length; i++) if (mask[i]) n++;
  const out = new Uint8Array(n);
  for (let i = 0, k = 0; i < mask.length; i++) if (mask[i]) out[k++] = codes[i];
  return out;
}

/** Bytes of a pruned kernel in weights.bin: the kept codes, the grid and the support. */
export function sparseAffineByteLength(mask: Uint8Array, rows: number, cols: number, bits: number, groups: number): number {
  let kept = 0;
  for (let i = 0; i < mask.length; i++) if (mask[i]) kept++;
  return packedByteLength(kept, bits) + 2 * rows * groups * 4 + supportByteLength(mask, rows, cols);
}
