/**
 * Argument handling of the command line: argv in, a checked command out, or a UsageError whose
 * one-line message says what was wrong and what is allowed. Nothing here touches tfjs or files,
 * so every usage mistake is reported before a backend loads or a file is read.
 */
import { parseArgs } from 'node:util';
import { BACKEND_CHOICES } from '../backend/select_backend.ts';
import type { QuantizeModelOptions } from '../quantize/options.ts';

export const USAGE = `Usage: tfjs-sam-quantease quantize <model.json> --calibration <file> --out <dir> [options]
       tfjs-sam-quantease --help | --version

Quantizes the kernels of a tfjs-layers model (Dense, Conv1D/2D, DepthwiseConv2D, SeparableConv2D,
LSTM, GRU, SimpleRNN, Embedding; model.json + weight shards) and writes the packed model (model.json + weights.bin) to <dir>; load it with
loadQuantized(). Prints the per-layer report.

Required:
  --calibration <file>   calibration inputs [n, ...inputShape]: .npy (float32/float64) or
                         .json {"shape": [...], "data": [...]} (see adapters/cli/README.md)
  --out <dir>            output directory (created if missing)
Options:
  --method <m>           rtn | gptq | quantease            (default quantease)
  --bits <b>             2..8                              (default 4)
  --depthwise-bits <b>   depthwise kernels: 2..8 or same   (default 8)
  --outliers <fraction>  keep this fraction of weights in float32 (QuantEase only; e.g. 0.01)
  --structured-outliers  keep whole input columns as outliers instead of single weights
  --group-size <n>       input columns per scale/zero group (default: whole row)
  --symmetric            symmetric grid                    (default asymmetric)
  --sweeps <n>           QuantEase sweeps                  (default 30)
  --init <i>             QuantEase start: weights | gptq   (default gptq; weights with --outliers)
  --act-order            GPTQ: visit columns by decreasing diag(H)
  --include <pattern>    quantize only layers whose name matches (* wildcard; repeatable)
  --exclude <pattern>    leave matching layers in float32 (repeatable)
  --batch-size <n>       calibration rows per forward pass (default 128)
  --backend <name>       ${BACKEND_CHOICES.join(' | ')} (default: fastest that loads)
  --quiet                no progress bar, no backend line
  -h, --help             this help
  -v, --version          the package version

Exit codes: 0 done, 1 bad input file or failure, 2 bad usage, 3 backend unavailable.
`;

/** A mistake in the command line itself (exit code 2). */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

export type CliCommand =
  | { kind: 'help' }
  | { kind: 'version' }
  | {
      kind: 'quantize';
      modelPath: string;
      calibrationPath: string;
      outDir: string;
      /** One of BACKEND_CHOICES, or undefined for the default order. */
      backend: string | undefined;
      quiet: boolean;
      /** Only the options given on the command line; quantizeModel validates their values. */
      options: QuantizeModelOptions;
    };

const OPTIONS = {
  calibration: { type: 'string' },
  out: { type: 'string' },
  method: { type: 'string' },
  bits: { type: 'string' },
  'depthwise-bits': { type: 'string' },
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
  version: { type: 'boolean', short: 'v' },
} as const;

function num(flag: string, v: string | undefined, integer: boolean): number | undefined {
  if (v === undefined) return undefined;
  const x = Number(v);
  if (v.trim() === '' || !Number.isFinite(x) || (integer && !Number.isInteger(x))) {
    throw new UsageError(`--${flag} must be ${integer ? 'an integer' : 'a number'}. Received: ${JSON.stringify(v)}.`);
  }
  return x;
}

function oneOf(flag: string, v: string | undefined, allowed: readonly string[]): string | undefined {
  if (v === undefined || allowed.includes(v)) return v;
  throw new UsageError(`--${flag} must be one of ${allowed.join(', ')}. Received: ${JSON.stringify(v)}.`);
}

/** Parses argv (without node and the script). Throws UsageError on any mistake. */
export function parseCliArgs(argv: readonly string[]): CliCommand {
  let parsed;
  try {
    parsed = parseArgs({ args: [...argv], allowPositionals: true, strict: true, options: OPTIONS });
  } catch (err) {
    // node:util's messages are one line already ("Unknown option '--x'", "Option '--bits <value>' argument missing").
    throw new UsageError((err as Error).message.split('\n')[0]);
  }
  const { values, positionals } = parsed;
  if (values.help) return { kind: 'help' };
  if (values.version) return { kind: 'version' };
  const [command, modelPath, ...extra] = positionals;
  if (command !== 'quantize') {
    throw new UsageError(command === undefined ? 'Missing command: quantize.' : `Unknown command ${JSON.stringify(command)}: the only command is quantize.`);
  }
  if (!modelPath) throw new UsageError('Missing <model.json>.');
  if (extra.length) throw new UsageError(`Unexpected arguments: ${extra.join(' ')}.`);
  if (!values.calibration) throw new UsageError('Missing --calibration <file>.');
  if (!values.out) throw new UsageError('Missing --out <dir>.');
  const fraction = num('outliers', values.outliers, false);
  if (values['structured-outliers'] && fraction === undefined) {
    throw new UsageError('--structured-outliers needs --outliers <fraction>.');
  }
  const options: QuantizeModelOptions = {
    method: oneOf('method', values.method, ['rtn', 'gptq', 'quantease']) as QuantizeModelOptions['method'],
    bits: num('bits', values.bits, true),
    depthwiseBits: values['depthwise-bits'] === 'same' ? 'same' : num('depthwise-bits', values['depthwise-bits'], true),
    groupSize: num('group-size', values['group-size'], true),
    symmetric: values.symmetric,
    sweeps: num('sweeps', values.sweeps, true),
    init: oneOf('init', values.init, ['weights', 'gptq']) as QuantizeModelOptions['init'],
    actOrder: values['act-order'],
    outliers: fraction === undefined ? undefined : { fraction, structured: values['structured-outliers'] ?? false },
    include: values.include,
    exclude: values.exclude,
    batchSize: num('batch-size', values['batch-size'], true),
    progress: !values.quiet,
  };
  for (const k of Object.keys(options) as Array<keyof QuantizeModelOptions>) if (options[k] === undefined) delete options[k];
  return {
    kind: 'quantize',
    modelPath,
    calibrationPath: values.calibration,
    outDir: values.out,
    backend: oneOf('backend', values.backend, BACKEND_CHOICES),
    quiet: values.quiet ?? false,
    options,
  };
}
