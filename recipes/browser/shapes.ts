/**
 * Synthetic "shapes" images for the browser example: 16 x 16 grayscale pictures of one of six
 * shapes at a random place and size, plus noise. Pure and seeded (no tfjs, no Node APIs), so the
 * build script (Node) and the page (browser) draw exactly the same pixels.
 */

/** Image side in pixels; the model's input is SIDE * SIDE values in [0, 1]. */
export const SIDE = 16;

export const CLASS_NAMES = [
  'horizontal bar',
  'vertical bar',
  'diagonal',
  'anti-diagonal',
  'square outline',
  'filled disc',
] as const;

/** mulberry32: a small seeded PRNG returning uniforms in [0, 1). */
export { mulberry32 as makeRng } from '../lib/rng.ts';
import { mulberry32 as makeRng } from '../lib/rng.ts';

/** Draws shape `label` (index into CLASS_NAMES) into a new SIDE*SIDE array, row-major. */
export function drawShape(label: number, rng: () => number, noise = 0.1): Float32Array {
  const img = new Float32Array(SIDE * SIDE);
  const set = (r: number, c: number) => {
    if (r >= 0 && r < SIDE && c >= 0 && c < SIDE) img[r * SIDE + c] = 1;
  };
  const int = (lo: number, hi: number) => lo + Math.floor(rng() * (hi - lo + 1));
  const size = int(6, 12);
  const r0 = int(0, SIDE - size);
  const c0 = int(0, SIDE - size);
  switch (label) {
    case 0: { // horizontal bar, 1-2 px thick
      const r = int(2, SIDE - 3);
      for (let c = c0; c < c0 + size; c++) { set(r, c); if (size > 9) set(r + 1, c); }
      break;
    }
    case 1: { // vertical bar
      const c = int(2, SIDE - 3);
      for (let r = r0; r < r0 + size; r++) { set(r, c); if (size > 9) set(r, c + 1); }
      break;
    }
    case 2: // diagonal, top-left to bottom-right
      for (let k = 0; k < size; k++) set(r0 + k, c0 + k);
      break;
    case 3: // anti-diagonal, top-right to bottom-left
      for (let k = 0; k < size; k++) set(r0 + k, c0 + size - 1 - k);
      break;
    case 4: // square outline
      for (let k = 0; k < size; k++) {
        set(r0, c0 + k); set(r0 + size - 1, c0 + k); set(r0 + k, c0); set(r0 + k, c0 + size - 1);
      }
      break;
    case 5: { // filled disc
      const rad = size / 2;
      const cr = r0 + rad - 0.5;
      const cc = c0 + rad - 0.5;
      for (let r = r0; r < r0 + size; r++) {
        for (let c = c0; c < c0 + size; c++) if ((r - cr) ** 2 + (c - cc) ** 2 <= rad * rad) set(r, c);
      }
      break;
    }
    default:
      throw new RangeError(`label must be an integer in 0..${CLASS_NAMES.length - 1}. Received: label=${label}.`);
  }
  for (let i = 0; i < img.length; i++) img[i] = Math.min(1, Math.max(0, img[i] + noise * (rng() - 0.5) * 2));
  return img;
}

/** `count` labelled images, labels cycling through the classes; x is [count, SIDE*SIDE] row-major. */
export function makeShapes(count: number, seed: number): { x: Float32Array; labels: Int32Array } {
  const rng = makeRng(seed);
  const x = new Float32Array(count * SIDE * SIDE);
  const labels = new Int32Array(count);
  for (let i = 0; i < count; i++) {
    labels[i] = i % CLASS_NAMES.length;
    x.set(drawShape(labels[i], rng), i * SIDE * SIDE);
  }
  return { x, labels };
}

/** The page's fixed input: a few images, one per class (seed fixed), [EXAMPLE_COUNT, SIDE*SIDE]. */
export const EXAMPLE_SEED = 2024;
export const EXAMPLE_COUNT = CLASS_NAMES.length;
export function exampleInput(): { x: Float32Array; labels: Int32Array } {
  return makeShapes(EXAMPLE_COUNT, EXAMPLE_SEED);
}
