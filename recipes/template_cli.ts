/**
 * Template: quantize a saved tfjs model from the command line, then load the result.
 *
 *   npx tfjs-sam-quantease quantize model.json --calibration calibration.json --out dir --bits 4
 *
 * This script makes a saved model to work on (a small character model trained on Moby-Dick,
 * written as the standard model.json + weights.bin that model.save writes), writes a calibration
 * file, runs the real command line in a child process, then loads the packed model with
 * loadQuantized and compares test perplexities. With your own model, only step 3 matters.
 *
 * Run: npx tsx recipes/template_cli.ts [--quick] [--out out/template_cli]
 */
import * as tf from '@tensorflow/tfjs-core';
import {execFileSync} from 'node:child_process';
import {statSync, writeFileSync} from 'node:fs';
import {fileURLToPath} from 'node:url';
import {selectBackend} from 'tfjs-sam-quantease/backend';
import {fileSystem} from 'tfjs-sam-quantease/io/node';
import {loadQuantized} from 'tfjs-sam-quantease/io';
import {parseArgs, isMain, runMain} from './lib/args.ts';
import {buildCharLM, disposeWindows, evaluationWindows, perplexity, sampleWindows} from './lib/char_lm.ts';
import {loadMobyDick} from './lib/data/moby_dick.ts';
import {Rng} from './lib/rng.ts';

// --- Constants (one line of guidance each) ---
/** Command-line flags: method rtn | gptq | quantease, bits 2..8, optional --outliers 0.01 (see --help). */
const CLI_FLAGS = ['--method', 'quantease', '--bits', '4'];
/** Calibration rows written to the calibration file: a few thousand real inputs. */
const CALIBRATION = 2048;
/** Training windows for the stand-in model (your model is already trained). */
const SAMPLES = 20_000;

/** The command line's entry point (what `npx tfjs-sam-quantease` runs). */
const CLI_BIN = fileURLToPath(new URL('../adapters/cli/bin.ts', import.meta.url));

export interface CliTemplateResult {
  out: string;
  command: string;
  stdout: string;
  floatPerplexity: number;
  quantizedPerplexity: number;
  /** Sizes of the float weights.bin and of the packed weights.bin. */
  floatBytes: number;
  packedBytes: number;
}

export async function main(argv: string[] = process.argv.slice(2)): Promise<CliTemplateResult> {
  const args = parseArgs(argv, {name: 'template_cli'});
  const quick = args.quick;
  await selectBackend({quiet: true});

  // 1. A saved float model (stand-in for yours).
  const corpus = loadMobyDick({chapters: quick ? 12 : 135});
  const vocabSize = corpus.vocabulary.length;
  const model = buildCharLM(quick ? {vocabSize, context: 16, embeddingDim: 8, convFilters: 16, hidden: 32, seed: args.seed} :
    {vocabSize, seed: args.seed});
  const context = model.inputs[0].shape[1] as number;
  const rng = new Rng(args.seed);
  const train = sampleWindows(corpus.train, context, quick ? 1024 : SAMPLES, () => rng.uniform());
  model.compile({optimizer: tf.train.adam(2e-3), loss: 'sparseCategoricalCrossentropy'});
  await model.fit(train.x, train.y, {epochs: 1, batchSize: quick ? 32 : 128, verbose: 0});
  const floatDir = `${args.out}/float_model`;
  await model.save(fileSystem(floatDir)); // model.json + weights.bin, as tfjs-node's file:// would

  // 2. A calibration file: {"shape": [n, ...inputShape], "data": [...]} (or a float32 .npy).
  const calibration = sampleWindows(corpus.train, context, quick ? 256 : CALIBRATION, () => rng.uniform());
  const calibFile = `${args.out}/calibration.json`;
  writeFileSync(calibFile, JSON.stringify({shape: calibration.x.shape, data: Array.from(await calibration.x.data())}));

  // 3. The command line (what you would type; here run in a child process).
  const packedDir = `${args.out}/packed_model`;
  const cliArgs = ['quantize', `${floatDir}/model.json`, '--calibration', calibFile, '--out', packedDir, ...CLI_FLAGS,
    '--quiet', ...(quick ? ['--sweeps', '5'] : [])];
  const command = `npx tfjs-sam-quantease ${cliArgs.join(' ')}`;
  console.log(`$ ${command}`);
  const stdout = execFileSync(process.execPath, ['--import', 'tsx', CLI_BIN, ...cliArgs], {encoding: 'utf8'});
  console.log(stdout);

  // 4. Load the packed model and compare with the float one.
  const quantized = await loadQuantized(`${packedDir}/model.json`);
  const test = evaluationWindows(corpus.test, context, quick ? 512 : 20_000);
  const result: CliTemplateResult = {
    out: args.out, command, stdout,
    floatPerplexity: await perplexity(model, test),
    quantizedPerplexity: await perplexity(quantized, test),
    floatBytes: statSync(`${floatDir}/weights.bin`).size,
    packedBytes: statSync(`${packedDir}/weights.bin`).size,
  };
  console.log(`test perplexity: float ${result.floatPerplexity.toFixed(4)}, quantized ${result.quantizedPerplexity.toFixed(4)}; ` +
      `weights.bin ${result.floatBytes} -> ${result.packedBytes} bytes`);
  [train, calibration, test].forEach(disposeWindows);
  model.optimizer.dispose();
  model.dispose();
  quantized.dispose();
  return result;
}

if (isMain(import.meta.url)) runMain(main);
