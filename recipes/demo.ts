/**
 * `npm run demo`: the MNIST train-then-compress pipeline (recipes/eval_mnist_pipeline.ts) at a small
 * budget, end to end, on the default backend. A small CNN with BatchNormalization is trained on 8,000 real
 * MNIST digits with Adam, SAM and mSAM(4), with clean labels and with 40% of the labels flipped; its
 * sharpness is measured (m-sharpness, top Hessian eigenvalue), and each model is quantized at 4, 3 and
 * 2 bits with RTN, GPTQ, QuantEase and QuantEase + 1% outliers. Prints the tables and where the report
 * and plots went. One seed: for spreads over seeds and the rho sweep, run the full evaluation.
 *
 * Budget: about 300 s of CPU (under 10 minutes on an idle 2-core machine with the wasm backend).
 * The Moby-Dick character model that used to be the demo is `npx tsx recipes/eval_char_lm.ts`.
 * Run: npm run demo [-- --out out/demo] [--seed 0] [--epochs n] [--quick]
 */
import {selectBackend} from 'tfjs-sam-quantease/backend';
import {DEMO_CONFIG, QUICK_CONFIG, type MnistPipelineConfig} from './mnist_pipeline/config.ts';
import {runAndReport, type MnistPipelineResult} from './eval_mnist_pipeline.ts';
import {parseArgs, isMain, runMain} from './lib/args.ts';

export async function main(argv: string[] = process.argv.slice(2)): Promise<MnistPipelineResult> {
  const args = parseArgs(argv, {name: 'demo'});
  const backend = await selectBackend({quiet: args.quick});  // prints the one-line choice
  const cfg: MnistPipelineConfig = {...(args.quick ? QUICK_CONFIG : DEMO_CONFIG)};
  if (args.epochs !== undefined) cfg.epochs = args.epochs;
  if (!args.quick) {
    console.log(`tfjs-sam-quantease demo on ${backend.name}: Adam vs SAM vs mSAM on MNIST (clean and 40% noisy labels), ` +
        `sharpness, then RTN / GPTQ / QuantEase / QuantEase + 1% outliers at ${cfg.bits.join(', ')} bits (seed ${args.seed}).`);
  }
  const t0 = performance.now();
  const r = await runAndReport(cfg, {out: args.out, seed: args.seed, title: 'Demo: train flat, then compress, on MNIST',
    command: `npm run demo${args.quick ? ' -- --quick' : ''}`, quiet: args.quick});
  if (!args.quick) {
    console.log(`\nFloat models (test accuracy, sharpness):\n${r.floatTable}\n`);
    console.log(`Quantized models (test accuracy):\n${r.quantTable}\n`);
    console.log(`Findings:\n${r.findings.map((f) => `- ${f}`).join('\n')}\n`);
    console.log(`Report: ${r.reportPath}\nTotal:  ${((performance.now() - t0) / 1000).toFixed(0)} s wall clock, ` +
        `${r.record.totalCpuSeconds.toFixed(0)} s CPU`);
  }
  return r;
}

if (isMain(import.meta.url)) runMain(main);
