/**
 * Seeded pseudo-random numbers for recipes (reproducible data splits, noise, shuffles).
 *
 * API (stable):
 *   mulberry32(seed): () => number        uniform in [0, 1), 32-bit state (Tommy Ettinger's mulberry32)
 *   class Rng(seed)                       .uniform() .normal() .int(n) .shuffle(arr) .permutation(n) .fork(k)
 *
 * normal() uses Box-Muller on two uniforms (cached second value), so a given seed gives the same
 * stream on every platform.
 *
 * @example
 *   const rng = new Rng(42);
 *   const z = rng.normal();            // standard normal
 *   const order = rng.permutation(10); // Int32Array, a shuffle of 0..9
 */

/**
 * Returns uniforms in [0, 1) whose stream depends only on `seed` (the same generator as the
 * library's plugins/core/random.ts, kept here because recipes use only the public entry points).
 */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export class Rng {
  private readonly next: () => number;
  private spare: number | undefined;
  readonly seed: number;

  constructor(seed: number) {
    if (!Number.isFinite(seed)) throw new Error(`Rng seed must be a finite number. Received: seed=${seed}.`);
    this.seed = seed;
    // Mix the seed once so that nearby seeds (0, 1, 2) give unrelated streams.
    this.next = mulberry32(Math.imul((seed >>> 0) ^ 0x9e3779b9, 0x85ebca6b) >>> 0);
  }

  /** Uniform in [0, 1). */
  uniform(): number {
    return this.next();
  }

  /** Standard normal N(0, 1) (Box-Muller), scaled: mean + std * z. */
  normal(mean = 0, std = 1): number {
    if (this.spare !== undefined) {
      const z = this.spare;
      this.spare = undefined;
      return mean + std * z;
    }
    let u = 0;
    while (u === 0) u = this.next();
    const v = this.next();
    const r = Math.sqrt(-2 * Math.log(u));
    this.spare = r * Math.sin(2 * Math.PI * v);
    return mean + std * r * Math.cos(2 * Math.PI * v);
  }

  /** Integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.next() * n);
  }

  /** In-place Fisher-Yates shuffle; returns the same array. */
  shuffle<T>(arr: T[]): T[] {
    for (let i = arr.length - 1; i > 0; i--) {
      const j = this.int(i + 1);
      const t = arr[i];
      arr[i] = arr[j];
      arr[j] = t;
    }
    return arr;
  }

  /** A random permutation of 0..n-1. */
  permutation(n: number): Int32Array {
    const p = new Int32Array(n);
    for (let i = 0; i < n; i++) p[i] = i;
    for (let i = n - 1; i > 0; i--) {
      const j = this.int(i + 1);
      const t = p[i];
      p[i] = p[j];
      p[j] = t;
    }
    return p;
  }

  /** An independent child generator, e.g. one per seed or per repetition. */
  fork(k: number): Rng {
    return new Rng((Math.imul(this.seed + 1, 0x27d4eb2d) + k * 0x165667b1) >>> 0);
  }
}
