/**
 * Template: quantize a pretrained model you load (here nsfwjs's MobileNetV2), save the packed
 * model, reload it and compare it with the float model. The lines marked "<- your" are the ones
 * to replace (e.g. `await tf.loadLayersModel('https://.../model.json')` and your own inputs).
 *
 * Stages: configure -> load -> calibrate + quantize -> save -> reload -> compare.
 * Run: npx tsx recipes/template_quantize_loaded_model.ts [--quick] [--out out/template_quantize_loaded_model]
 */
import * as tf from '@tensorflow/tfjs-core';
import {statSync} from 'node:fs';
import {selectBackend} from 'tfjs-sam-quantease/backend';
import {formatReport, quantizeModel} from 'tfjs-sam-quantease/quantize';
import {saveQuantized} from 'tfjs-sam-quantease/io/save';
import {loadQuantized} from 'tfjs-sam-quantease/io';
import {parseArgs, isMain, runMain} from './lib/args.ts';
import {CALIBRATION_PHOTOS, EVALUATION_PHOTOS, viewsOf} from './lib/data/images.ts';
import {loadNsfwjsMobileNetV2} from './lib/data/nsfwjs_model.ts';
import {Rng} from './lib/rng.ts';

// --- Constants (one line of guidance each) ---
/** Method: 'quantease' is the most accurate, 'gptq' faster, 'rtn' plain rounding (no calibration math). */
const METHOD = 'quantease' as const;
/** Bits per weight: 4 is close to float; 3 is smaller and loses more. */
const BITS = 4;
/** Views (crops/flips) per calibration photo: more rows give a better covariance per layer. */
const CALIBRATION_VIEWS = 4;
/** Layers to quantize ('*' wildcards): all Conv2D/Dense by default; narrow it to save time. */
const INCLUDE = ['*'];
/** Calibration images per forward pass: lower it if memory is tight. */
const BATCH = 8;

export interface LoadedTemplateResult {
  out: string;
  quantizedLayers: number;
  floatBytes: number;
  packedBytes: number;
  savedBytes: number;
  /** Fraction of evaluation images whose top-1 class matches the float model's (reloaded model). */
  top1Agreement: number;
  /** Largest |difference| between the in-memory quantized model and the reloaded one (should be ~0). */
  maxReloadDifference: number;
  /** Largest |difference| between the float and the reloaded quantized model's probabilities. */
  maxFloatDifference: number;
}

export async function main(argv: string[] = process.argv.slice(2)): Promise<LoadedTemplateResult> {
  const args = parseArgs(argv, {name: 'template_quantize_loaded_model'});
  const quick = args.quick;
  await selectBackend({quiet: quick});

  // 1. Load the float model and some real inputs (<- your model and inputs).
  const model = await loadNsfwjsMobileNetV2();
  const rng = new Rng(args.seed);
  const calibration = viewsOf(quick ? CALIBRATION_PHOTOS.slice(0, 1) : CALIBRATION_PHOTOS,
      {count: quick ? 2 : CALIBRATION_VIEWS, random: () => rng.uniform()});
  const evaluation = viewsOf(quick ? EVALUATION_PHOTOS.slice(0, 1) : EVALUATION_PHOTOS, {count: 2, random: () => rng.uniform()});

  // 2. Quantize (a new model is returned; the float model is left untouched).
  const quantizedResult = await quantizeModel(model, calibration, {
    method: METHOD, bits: BITS, include: quick ? ['dense_*'] : INCLUDE, batchSize: BATCH, progress: true,
    ...(quick ? {sweeps: 5} : {}),
  });
  const {model: quantized, report} = quantizedResult;
  console.log(formatReport(report));

  // 3. Save the packed model, then reload it as an ordinary LayersModel.
  const dir = `${args.out}/mobilenet_v2_${METHOD}_${BITS}bit`;
  const saved = await saveQuantized(quantizedResult, dir);
  const reloaded = await loadQuantized(saved.modelJson);

  // 4. Compare: float vs reloaded (what quantization cost), in-memory vs reloaded (the round trip).
  const [pFloat, pQuant, pReloaded] = [model, quantized, reloaded].map((m) => m.predict(evaluation) as tf.Tensor2D);
  const stats = tf.tidy(() => [
    tf.mean(tf.cast(tf.equal(tf.argMax(pFloat, 1), tf.argMax(pReloaded, 1)), 'float32')),
    tf.max(tf.abs(tf.sub(pQuant, pReloaded))),
    tf.max(tf.abs(tf.sub(pFloat, pReloaded))),
  ]);
  const [top1Agreement, maxReloadDifference, maxFloatDifference] = await Promise.all(stats.map(async (t) => (await t.data())[0]));
  const result: LoadedTemplateResult = {
    out: args.out, quantizedLayers: report.totals.quantizedLayers, floatBytes: report.totals.float32Bytes,
    packedBytes: report.totals.packedBytes, savedBytes: statSync(saved.modelJson).size + saved.weightsBytes,
    top1Agreement, maxReloadDifference, maxFloatDifference,
  };
  console.log(`saved to ${dir} (${result.savedBytes} bytes; float32 weights ${result.floatBytes} bytes)\n` +
      `top-1 agreement with float ${top1Agreement.toFixed(3)}, max |p_float - p_quant| ${maxFloatDifference.toExponential(2)}, ` +
      `reload round trip max difference ${maxReloadDifference.toExponential(2)}`);
  tf.dispose([calibration, evaluation, pFloat, pQuant, pReloaded, ...stats]);
  [model, quantized, reloaded].forEach((m) => m.dispose());
  return result;
}

if (isMain(import.meta.url)) runMain(main);
