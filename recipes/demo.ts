/**
 * `npm run demo`: evaluation 3 (recipes/eval_char_lm.ts) in short, end to end, on the default
 * backend: a character language model on Moby-Dick trained with Adam, SAM and mSAM(4) under the
 * same budget, then the best one quantized with RTN, GPTQ, QuantEase and QuantEase + 1% outliers
 * at 4 and 3 bits. Prints the two tables and where the report and plots went.
 *
 * Measured: about 5 minutes on a 2-core machine with the wasm backend (see the README).
 * Run: npm run demo [-- --out out/demo] [--seed 0] [--quick]
 */
import {selectBackend} from 'tfjs-sam-quantease/backend';
import {
  FULL_CONFIG, OPTIMIZER_HEADERS, QUANT_HEADERS, QUICK_CONFIG, optimizerRows, quantRows, runCharLmEvaluation,
  type CharLmEvalConfig, type CharLmEvalResult,
} from './eval_char_lm.ts';
import {parseArgs, isMain, runMain} from './lib/args.ts';
import {consoleTable} from './lib/report_writer.ts';

/** The demo's budget: the full evaluation's model with a third of its training and smaller evaluation sets. */
export const DEMO_CONFIG: CharLmEvalConfig = {
  ...FULL_CONFIG,
  samplesPerEpoch: 20_000,
  epochs: 2,
  evalsPerEpoch: 2,
  validationWindows: 10_000,
  testWindows: 30_000,
  calibrationWindows: 2048,
};

export async function main(argv: string[] = process.argv.slice(2)): Promise<CharLmEvalResult> {
  const args = parseArgs(argv, {name: 'demo'});
  const backend = await selectBackend();  // prints the one-line choice
  const cfg = {...(args.quick ? QUICK_CONFIG : DEMO_CONFIG)};
  if (args.epochs !== undefined) cfg.epochs = args.epochs;
  console.log(`tfjs-sam-quantease demo on ${backend.name}: Adam vs SAM vs mSAM(4) on Moby-Dick, then RTN / GPTQ / ` +
      `QuantEase / QuantEase + 1% outliers at ${cfg.bits.join(' and ')} bits (seed ${args.seed}).`);
  const r = await runCharLmEvaluation(cfg, {out: args.out, seed: args.seed, title: 'Demo: character language model on Moby-Dick'});
  console.log(`\n${consoleTable(OPTIMIZER_HEADERS, optimizerRows(r), 3)}\n`);
  console.log(`Quantized ${r.best} model (test perplexity; bytes = packed weights):`);
  console.log(consoleTable(QUANT_HEADERS, quantRows(r), 3));
  console.log(`\nReport: ${r.reportPath}\nPlots:  ${r.plots.join('\n        ')}\nTotal:  ${r.totalSeconds.toFixed(0)} s wall clock, ${r.totalCpuSeconds.toFixed(0)} s CPU`);
  return r;
}

if (isMain(import.meta.url)) runMain(main);
