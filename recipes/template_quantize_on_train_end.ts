/**
 * Template: quantize a model when model.fit ends (the `quantizeOnTrainEnd` callback), save the
 * packed model, reload it and check it. Copy this into your training pipeline; the lines marked
 * "<- your" are the ones to replace.
 *
 * Stages: configure -> train (SAM, one changed line) + quantize in the callback -> save -> reload -> check.
 * Run: npx tsx recipes/template_quantize_on_train_end.ts [--quick] [--out out/template_quantize_on_train_end]
 */
import * as tf from '@tensorflow/tfjs-core';
import {selectBackend} from 'tfjs-sam-quantease/backend';
import {formatReport, quantizeOnTrainEnd} from 'tfjs-sam-quantease/quantize';
import {loadQuantized} from 'tfjs-sam-quantease/io';
import {sam} from 'tfjs-sam-quantease/sam';
import {parseArgs, isMain, runMain} from './lib/args.ts';
import {buildCharLM, disposeWindows, evaluationWindows, perplexity, sampleWindows} from './lib/char_lm.ts';
import {loadMobyDick} from './lib/data/moby_dick.ts';
import {Rng} from './lib/rng.ts';

// --- Constants (one line of guidance each) ---
/** Quantization method: 'quantease' is the most accurate; 'gptq' is faster; 'rtn' needs no calibration math. */
const METHOD = 'quantease' as const;
/** Bits per weight: 4 keeps accuracy close to float; 3 is smaller and loses more. */
const BITS = 4;
/** Calibration windows: a few thousand rows of real inputs; more than a layer's input width is best. */
const CALIBRATION = 2048;
/** SAM radius: 0.05 is a safe start with Adam; 0 turns SAM off. */
const RHO = 0.05;
/** Training: windows per epoch, epochs, batch size and learning rate of your own pipeline. */
const SAMPLES = 20_000, EPOCHS = 2, BATCH = 128, LR = 2e-3;

export interface TemplateResult {
  out: string;
  floatBytes: number;
  packedBytes: number;
  /** Bytes of the saved model.json + weights.bin. */
  savedBytes: number;
  /** Test perplexity of the model quantized in memory, and of the same model reloaded from disk. */
  quantizedPerplexity: number;
  reloadedPerplexity: number;
  /** Largest |difference| between the two models' outputs on the test windows (should be ~0). */
  maxOutputDifference: number;
  vocabSize: number;
}

export async function main(argv: string[] = process.argv.slice(2)): Promise<TemplateResult> {
  const args = parseArgs(argv, {name: 'template_quantize_on_train_end'});
  const quick = args.quick;
  await selectBackend({quiet: quick});

  // 1. Configure: data and model (<- your data and model).
  const corpus = loadMobyDick({chapters: quick ? 12 : 135});
  const vocabSize = corpus.vocabulary.length;
  const model = buildCharLM(quick ? {vocabSize, context: 16, embeddingDim: 8, convFilters: 16, hidden: 32, seed: args.seed} :
    {vocabSize, seed: args.seed});
  const context = model.inputs[0].shape[1] as number;
  const rng = new Rng(args.seed);
  const train = sampleWindows(corpus.train, context, quick ? 1024 : SAMPLES, () => rng.uniform());
  const calibration = sampleWindows(corpus.train, context, quick ? 256 : CALIBRATION, () => rng.uniform());
  const test = evaluationWindows(corpus.test, context, quick ? 512 : 20_000);

  // 2. Train with SAM (the one changed line: wrap your optimizer) and quantize when training ends.
  model.compile({optimizer: sam(tf.train.adam(LR), {rho: RHO}), loss: 'sparseCategoricalCrossentropy'});
  const dir = `${args.out}/model_${METHOD}_${BITS}bit`;
  const quantize = quantizeOnTrainEnd({calibration: calibration.x, method: METHOD, bits: BITS, saveTo: dir});
  await model.fit(train.x, train.y, {epochs: quick ? 1 : EPOCHS, batchSize: quick ? 32 : BATCH, verbose: 0, callbacks: [quantize]});
  const report = quantize.report!;  // the model is now quantized in place, and saved to `dir`
  console.log(formatReport(report));

  // 3. Reload the packed model (in a browser: loadQuantized('https://.../model.json')) and check it.
  const reloaded = await loadQuantized(`${dir}/model.json`);
  const quantizedPerplexity = await perplexity(model, test);
  const reloadedPerplexity = await perplexity(reloaded, test);
  const diff = tf.tidy(() => tf.max(tf.abs(tf.sub(model.predict(test.x) as tf.Tensor, reloaded.predict(test.x) as tf.Tensor))));
  const maxOutputDifference = (await diff.data())[0];
  diff.dispose();
  const {statSync} = await import('node:fs');
  const savedBytes = statSync(`${dir}/model.json`).size + statSync(`${dir}/weights.bin`).size;

  const result: TemplateResult = {
    out: args.out, floatBytes: report.totals.float32Bytes, packedBytes: report.totals.packedBytes, savedBytes,
    quantizedPerplexity, reloadedPerplexity, maxOutputDifference, vocabSize,
  };
  console.log(`saved to ${dir}: ${savedBytes} bytes on disk (float32 weights ${result.floatBytes} bytes)\n` +
      `test perplexity: quantized ${quantizedPerplexity.toFixed(4)}, reloaded ${reloadedPerplexity.toFixed(4)}; ` +
      `max output difference ${maxOutputDifference.toExponential(2)}`);
  [train, calibration, test].forEach(disposeWindows);
  model.optimizer.dispose();  // an optimizer passed as an instance is not disposed by model.dispose()
  model.dispose();
  reloaded.dispose();
  return result;
}

if (isMain(import.meta.url)) runMain(main);
