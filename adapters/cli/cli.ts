/**
 * The command line: tfjs-sam-quantease quantize <model.json> --calibration <file> --out <dir> [...]
 * (run through adapters/cli/bin.ts). `main` returns the exit code, documented in README.md here:
 * 0 done, 1 bad input file or failure, 2 bad usage, 3 backend unavailable. Every error is one
 * line on stderr (the stack only with TFJS_SAM_QUANTEASE_DEBUG=1); the report goes to stdout.
 */
import { createRequire } from 'node:module';
import { InputError, OptionError } from '../../plugins/core/errors.ts';
import { quantizeModel } from '../quantize/quantize_model.ts';
import { formatReport } from '../quantize/report.ts';
import { saveQuantized } from '../io/save_quantized.ts';
import { selectBackend } from '../backend/select_backend.ts';
import { USAGE, UsageError, parseCliArgs } from './args.ts';
import { readCalibration } from './calibration_file.ts';
import { checkOutIsNotInput } from './out_guard.ts';
import { readTfjsModel } from './read_tfjs_model.ts';

export { USAGE } from './args.ts';

/** Set to 1 to print stack traces of unexpected errors. */
export const DEBUG_ENV_VAR = 'TFJS_SAM_QUANTEASE_DEBUG';

/** The exit codes `main` returns. */
export const EXIT = { ok: 0, input: 1, usage: 2, backend: 3 } as const;

/** A backend that cannot be loaded here (exit code 3). */
class BackendError extends Error {}

export interface CliIO {
  stdout: (s: string) => void;
  stderr: (s: string) => void;
}

const defaultIO: CliIO = {
  stdout: (s) => void process.stdout.write(s),
  stderr: (s) => void process.stderr.write(s),
};

/** This package's version, read through the package's own name (works from src and from dist). */
export function packageVersion(): string {
  return (createRequire(import.meta.url)('tfjs-sam-quantease/package.json') as { version: string }).version;
}

async function useBackend(prefer: string | undefined, quiet: boolean): Promise<string> {
  try {
    return (await selectBackend({ ...(prefer ? { prefer } : {}), quiet })).name;
  } catch (err) {
    throw new BackendError((err as Error).message.split('\n')[0]);
  }
}

/** Runs the command line with `argv` (without node and the script). Returns the exit code. */
export async function main(argv: string[], io: CliIO = defaultIO): Promise<number> {
  try {
    const command = parseCliArgs(argv);
    if (command.kind === 'help') {
      io.stdout(USAGE);
      return EXIT.ok;
    }
    if (command.kind === 'version') {
      io.stdout(`${packageVersion()}\n`);
      return EXIT.ok;
    }
    const { modelPath, options, outDir, quiet } = command;
    await checkOutIsNotInput(modelPath, outDir);
    await useBackend(command.backend, quiet);
    const model = await readTfjsModel(modelPath);
    const calibration = await readCalibration(command.calibrationPath);
    try {
      const quantized = await quantizeModel(model, calibration, options);
      const { report } = quantized;
      const saved = await saveQuantized(quantized, outDir);
      io.stdout(formatReport(report) + '\n');
      io.stdout(`Saved ${saved.modelJson} and ${saved.weights} (${saved.weightsBytes} bytes).\n`);
      quantized.model.dispose();
    } finally {
      calibration.dispose();
      model.dispose();
    }
    return EXIT.ok;
  } catch (err) {
    return reportError(err, io);
  }
}

/** One line per error; the exit code says which kind. */
function reportError(err: unknown, io: CliIO): number {
  const e = err instanceof Error ? err : new Error(String(err));
  const line = e.message.split('\n')[0];
  if (e instanceof UsageError) {
    io.stderr(`error: ${line}\nRun tfjs-sam-quantease --help for usage.\n`);
    return EXIT.usage;
  }
  if (e instanceof BackendError) {
    io.stderr(`error: ${line}\n`);
    return EXIT.backend;
  }
  if (e instanceof OptionError || e instanceof InputError || (e as { code?: unknown }).code !== undefined) {
    io.stderr(`error: ${line}\n`); // user mistakes, and system errors such as ENOENT or EACCES
    return EXIT.input;
  }
  const debug = typeof process !== 'undefined' && process.env[DEBUG_ENV_VAR] === '1';
  io.stderr(debug ? `error: ${e.stack ?? line}\n` : `error: ${line} (set ${DEBUG_ENV_VAR}=1 for the stack trace)\n`);
  return EXIT.input;
}
