import test from 'ava';
import { packCodes, unpackCodes, packedByteLength } from '../../../plugins/quantease/packing.ts';

/** Seeded xorshift32, so every run packs the same codes. */
function prng(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13; s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5; s >>>= 0;
    return s / 4294967296;
  };
}

test('pack then unpack is bit-exact for every bits 2..8 and odd lengths', (t) => {
  const rand = prng(7);
  for (let bits = 2; bits <= 8; bits++) {
    for (const n of [0, 1, 3, 7, 8, 9, 13, 31, 1001]) {
      const codes = new Uint8Array(n);
      for (let i = 0; i < n; i++) codes[i] = Math.floor(rand() * (1 << bits));
      // Extremes too: all zeros and all ones must survive.
      if (n > 2) { codes[0] = 0; codes[n - 1] = (1 << bits) - 1; }
      const packed = packCodes(codes, bits);
      t.is(packed.length, Math.ceil((n * bits) / 8), `bits=${bits} n=${n}`);
      t.is(packed.length, packedByteLength(n, bits));
      t.deepEqual(unpackCodes(packed, bits, n), codes, `bits=${bits} n=${n}`);
    }
  }
});

test('layout is a little-endian bit stream (hand-derived)', (t) => {
  // 2 bits: codes 1,2,3 -> bits 01 | 10<<2 | 11<<4 = 0b111001 = 57.
  t.deepEqual(packCodes(new Uint8Array([1, 2, 3]), 2), new Uint8Array([57]));
  // 3 bits: codes 7,1,5 -> 7 | 1<<3 | 5<<6 = 7 + 8 + 320 = 335 -> bytes 335 & 255 = 79, 335 >> 8 = 1.
  t.deepEqual(packCodes(new Uint8Array([7, 1, 5]), 3), new Uint8Array([79, 1]));
  // 4 bits: low nibble first.
  t.deepEqual(packCodes(new Uint8Array([0xa, 0x3]), 4), new Uint8Array([0x3a]));
});

test('codes out of range and truncated buffers are rejected', (t) => {
  t.throws(() => packCodes(new Uint8Array([4]), 2), { message: /does not fit in 2 bits/ });
  t.throws(() => unpackCodes(new Uint8Array(1), 3, 3), { message: /truncated/ });
  t.throws(() => packCodes(new Uint8Array([1]), 9), { message: /`bits` must be an integer in 2..8/ });
});
