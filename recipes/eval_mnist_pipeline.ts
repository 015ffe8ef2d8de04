/**
 * Evaluation: train flat, then compress, on labeled MNIST (issue 13). A small CNN with BatchNormalization
 * is trained with Adam, SAM and mSAM (2, 4, 8 micro-batches; rho from a small sweep) at 0% and 40%
 * symmetric label noise, 3 seeds each; its sharpness is measured at the end of training (m-sharpness and
 * the top Hessian eigenvalue, adapters/sharpness); then every trained model is quantized at 4, 3 and 2 bits
 * with RTN, GPTQ, QuantEase and QuantEase + 1% outliers. Writes report.md, PNG/SVG plots and results.json.
 *
 * Run: npx tsx recipes/eval_mnist_pipeline.ts [--quick] [--out dir] [--seed n] [--epochs n]
 *      npx tsx recipes/eval_mnist_pipeline.ts --from-results out/eval_mnist_pipeline/results.json [--out dir]
 *        (rewrites the report and plots from a saved record, e.g. a run stopped early)
 *
 * SAM (Foret et al. 2021): g = grad L(w + rho grad L(w) / ||grad L(w)||), applied by Adam.
 * mSAM (Behdin et al. 2023): the batch is split into k micro-batches, each with its own perturbation,
 * and their SAM gradients are averaged into one Adam step.
 * Budget: the full run is sized for about 45 minutes on a shared 2-core machine (wasm backend).
 */
import {readFileSync} from 'node:fs';
import {selectBackend} from 'tfjs-sam-quantease/backend';
import {isMain, parseArgs, runMain} from './lib/args.ts';
import {FULL_CONFIG, QUICK_CONFIG, type MnistPipelineConfig} from './mnist_pipeline/config.ts';
import {runMnistPipeline, type PipelineRecord} from './mnist_pipeline/run.ts';
import {writePipelineReport, type PipelineReport} from './mnist_pipeline/report.ts';

export interface MnistPipelineResult extends PipelineReport {
  record: PipelineRecord;
}

/** Takes `--from-results <file>` out of argv (the shared parser knows only the common flags). */
function takeFromResults(argv: string[]): {argv: string[]; fromResults?: string} {
  const rest: string[] = [];
  let fromResults: string | undefined;
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--from-results') {
      fromResults = argv[++i];
      if (fromResults === undefined || fromResults.startsWith('--')) {
        throw new Error('`--from-results` needs a results.json file. Received: nothing.');
      }
    } else if (argv[i].startsWith('--from-results=')) {
      fromResults = argv[i].slice('--from-results='.length);
    } else {
      rest.push(argv[i]);
    }
  }
  return {argv: rest, fromResults};
}

/** Runs (or re-reports) the pipeline with `cfg`; shared with the demo. */
export async function runAndReport(cfg: MnistPipelineConfig, opts: {out: string; seed: number; title: string;
  command: string; quiet?: boolean}): Promise<MnistPipelineResult> {
  const backend = (await selectBackend({quiet: true})).name;
  const record = await runMnistPipeline(cfg, {out: opts.out, seed: opts.seed, title: opts.title, command: opts.command,
    backend, log: opts.quiet ? () => {} : undefined});
  return {record, ...(await writePipelineReport(record, opts.out))};
}

export async function main(argv: string[] = process.argv.slice(2)): Promise<MnistPipelineResult> {
  const {argv: rest, fromResults} = takeFromResults(argv);
  const args = parseArgs(rest, {name: 'eval_mnist_pipeline'});
  if (fromResults !== undefined) {
    const record = JSON.parse(readFileSync(fromResults, 'utf8')) as PipelineRecord;
    const r = await writePipelineReport(record, args.out);
    console.log(`${r.floatTable}\n\n${r.quantTable}\n\nreport: ${r.reportPath}`);
    return {record, ...r};
  }
  const cfg: MnistPipelineConfig = {...(args.quick ? QUICK_CONFIG : FULL_CONFIG)};
  if (args.epochs !== undefined) cfg.epochs = args.epochs;
  const command = `npx tsx recipes/eval_mnist_pipeline.ts${args.quick ? ' --quick' : ''}` +
      `${args.seed !== 0 ? ` --seed ${args.seed}` : ''}${args.explicit.has('epochs') ? ` --epochs ${cfg.epochs}` : ''}`;
  const r = await runAndReport(cfg, {out: args.out, seed: args.seed, title: 'Train flat, then compress: SAM, mSAM and ' +
      'QuantEase on MNIST', command, quiet: args.quick});
  if (!args.quick) console.log(`\n${r.floatTable}\n\n${r.quantTable}\n\nreport: ${r.reportPath}`);
  return r;
}

if (isMain(import.meta.url)) runMain(main);
