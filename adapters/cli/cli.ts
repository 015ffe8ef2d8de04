/**
 * The command line: tfjs-sam-quantease quantize <model.json> --calibration <file> --out <dir> [...]
 * (run through adapters/cli/bin.mjs). `main` returns the exit code: 0 done, 1 bad input or
 * failure, 2 bad usage; messages go to stderr, the report table to stdout.
 */
import { parseArgs } from 'node:util';
import * as tf from '@tensorflow/tfjs-core';
import { InputError, OptionError } from '../../plugins/core/errors.ts';
import { quantizeModel } from '../quantize/quantize_model.ts';
import type { QuantizeModelOptions } from '../quantize/options.ts';
import { formatReport } from '../quantize/report.ts';
import { saveQuantized } from '../io/save_quantized.ts';
import { readCalibration } from './calibration_file.ts';
import { checkOutIsNotInput } from './out_guard.ts';
import { readTfjsModel } from './read_tfjs_model.ts';

export const USAGE = `Usage: tfjs-sam-quantease quantize <model.json> --calibration <file> --out <dir> [options]

Quantizes the kernels of a tfjs-layers model (Dense, Conv1D/2D, DepthwiseConv2D, SeparableConv2D,
LSTM, GRU, SimpleRNN, Embedding; model.json + weight
shards) and writes the packed model (model.json + weights.bin) to <dir>; load it with
loadQuantized(). Prints the per-layer report.

Required:
  --calibration <file>   calibration inputs [n, ...inputShape]: .npy (float32/float64) or
                         .json {"shape": [...], "data": [...]} (see adapters/cli/README.md)
  --out <dir>            output directory (created if missing)
Options:
  --method <m>           rtn | gptq | quantease            (default quantease)
  --bits <b>             2..8                              (default 4)
  --outliers <fraction>  keep this fraction of weights in float32 (QuantEase only; e.g. 0.01)
  --structured-outliers  keep whole input columns as outliers instead of single weights
  --group-size <n>       input columns per scale/zero group (default: whole row)
  --symmetric            symmetric grid                    (default asymmetric)
  --sweeps <n>           QuantEase sweeps                  (default 30)
  --init <i>             QuantEase start: weights | gptq   (default weights)
  --act-order            GPTQ: visit columns by decreasing diag(H)
  --include <pattern>    quantize only layers whose name matches (* wildcard; repeatable)
  --exclude <pattern>    leave matching layers in float32 (repeatable)
  --batch-size <n>       calibration rows per forward pass (default 128)
  --backend <name>       node-gpu | node | wasm | wasm-stock | cpu (default: fastest that loads)
  --quiet                no progress bar, no backend line
  -h, --help             this help
`;

class UsageError extends Error {}

export interface CliIO {
  stdout: (s: string) => void;
  stderr: (s: string) => void;
}

const defaultIO: CliIO = {
  stdout: (s) => void process.stdout.write(s),
  stderr: (s) => void process.stderr.write(s),
};

function num(flag: string, v: string | undefined, integer: boolean): number | undefined {
  if (v === undefined) return undefined;
  const x = Number(v);
  if (v.trim() === '' || !Number.isFinite(x) || (integer && !Number.isInteger(x))) {
    throw new UsageError(`--${flag} must be ${integer ? 'an integer' : 'a number'}. Received: ${JSON.stringify(v)}.`);
  }
  return x;
}

async function useBackend(prefer: string | undefined, quiet: boolean): Promise<string> {
  let select: ((o: { prefer?: string; quiet?: boolean }) => Promise<{ name: string }>) | undefined;
  try {
    ({ selectBackend: select } = await import('../backend/select_backend.ts'));
  } catch {
    select = undefined; // no backend selector in this build: the cpu backend always works
  }
  if (select) return (await select({ ...(prefer ? { prefer } : {}), quiet })).name;
  if (prefer && prefer !== 'cpu') throw new UsageError(`--backend ${prefer} is not available in this build; use cpu.`);
  await import('@tensorflow/tfjs-backend-cpu');
  await tf.setBackend('cpu');
  return 'cpu';
}

/** Runs the command line with `argv` (without node and the script). Returns the exit code. */
export async function main(argv: string[], io: CliIO = defaultIO): Promise<number> {
  try {
    const { values, positionals } = parseArgs({
      args: argv,
      allowPositionals: true,
      strict: true,
      options: {
        calibration: { type: 'string' },
        out: { type: 'string' },
        method: { type: 'string' },
        bits: { type: 'string' },
        outliers: { type: 'string' },
        'structured-outliers': { type: 'boolean' },
        'group-size': { type: 'string' },
        symmetric: { type: 'boolean' },
        sweeps: { type: 'string' },
        init: { type: 'string' },
        'act-order': { type: 'boolean' },
        include: { type: 'string', multiple: true },
        exclude: { type: 'string', multiple: true },
        'batch-size': { type: 'string' },
        backend: { type: 'string' },
        quiet: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
    });
    if (values.help) {
      io.stdout(USAGE);
      return 0;
    }
    const [command, modelPath, ...extra] = positionals;
    if (command !== 'quantize') throw new UsageError(command === undefined ? 'Missing command: quantize.' : `Unknown command ${JSON.stringify(command)}: the only command is quantize.`);
    if (!modelPath) throw new UsageError('Missing <model.json>.');
    if (extra.length) throw new UsageError(`Unexpected arguments: ${extra.join(' ')}.`);
    if (!values.calibration) throw new UsageError('Missing --calibration <file>.');
    if (!values.out) throw new UsageError('Missing --out <dir>.');
    const fraction = num('outliers', values.outliers, false);
    const options: QuantizeModelOptions = {
      method: values.method as QuantizeModelOptions['method'],
      bits: num('bits', values.bits, true),
      groupSize: num('group-size', values['group-size'], true),
      symmetric: values.symmetric,
      sweeps: num('sweeps', values.sweeps, true),
      init: values.init as QuantizeModelOptions['init'],
      actOrder: values['act-order'],
      outliers: fraction === undefined ? undefined : { fraction, structured: values['structured-outliers'] ?? false },
      include: values.include,
      exclude: values.exclude,
      batchSize: num('batch-size', values['batch-size'], true),
      progress: !values.quiet,
    };
    for (const k of Object.keys(options) as Array<keyof QuantizeModelOptions>) if (options[k] === undefined) delete options[k];
    const quiet = values.quiet ?? false;
    await checkOutIsNotInput(modelPath, values.out);
    await useBackend(values.backend, quiet);
    const model = await readTfjsModel(modelPath);
    const calibration = await readCalibration(values.calibration);
    try {
      const quantized = await quantizeModel(model, calibration, options);
      const { report } = quantized;
      const saved = await saveQuantized(quantized, values.out);
      io.stdout(formatReport(report) + '\n');
      io.stdout(`Saved ${saved.modelJson} and ${saved.weights} (${saved.weightsBytes} bytes).\n`);
      quantized.model.dispose();
    } finally {
      calibration.dispose();
      model.dispose();
    }
    return 0;
  } catch (err) {
    const e = err as Error & { code?: string };
    if (err instanceof UsageError || e.code?.startsWith('ERR_PARSE_ARGS')) {
      io.stderr(`error: ${e.message}\nRun tfjs-sam-quantease --help for usage.\n`);
      return 2;
    }
    if (err instanceof OptionError || err instanceof InputError) {
      io.stderr(`error: ${e.message}\n`);
      return 1;
    }
    io.stderr(`error: ${e.stack ?? e.message}\n`);
    return 1;
  }
}
