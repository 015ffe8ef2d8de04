/**
 * Picks the fastest TensorFlow.js backend that loads here and makes it current.
 *
 * Default order: `@tensorflow/tfjs-node-gpu`, `@tensorflow/tfjs-node`, wasm
 * (`@tensorflow/tfjs-backend-wasm` plus our training kernels), cpu. The environment variable
 * `TFJS_SAM_QUANTEASE_BACKEND` or `options.prefer` (which wins) forces one of
 * node-gpu, node, wasm, wasm-stock (wasm without our kernels), cpu; a forced backend that
 * fails to load is an error. Nothing happens at import: call it once at start-up.
 *
 * @example
 * const { name, reason } = await selectBackend();          // e.g. 'wasm'
 * await selectBackend({ prefer: 'cpu', quiet: true });      // force the cpu backend
 */
import * as tf from '@tensorflow/tfjs-core';
import { OptionError, describeValue } from '../../plugins/core/errors.ts';
import { checkBoolean, rejectUnknownKeys } from '../../plugins/core/validate.ts';
import { registerWasmTrainingKernels, unregisterWasmTrainingKernels } from './wasm_training/index.ts';

/** The environment variable that forces a backend. */
export const BACKEND_ENV_VAR = 'TFJS_SAM_QUANTEASE_BACKEND';

/** Backend choices, in default order of preference (wasm-stock is never picked by default). */
export const BACKEND_CHOICES = ['node-gpu', 'node', 'wasm', 'wasm-stock', 'cpu'] as const;
export type BackendChoice = (typeof BACKEND_CHOICES)[number];
const DEFAULT_ORDER: readonly BackendChoice[] = ['node-gpu', 'node', 'wasm', 'cpu'];

export interface SelectBackendOptions {
  /** Force this backend (overrides `TFJS_SAM_QUANTEASE_BACKEND`). Default: none. */
  prefer?: string;
  /** Do not print the one-line choice to stderr. Default: false. */
  quiet?: boolean;
}

export interface SelectedBackend {
  /** The choice made: one of `BACKEND_CHOICES`. `tf.getBackend()` gives the engine's name. */
  name: string;
  /** Why, in one line. */
  reason: string;
}

/** Package names; kept in variables so TypeScript never resolves the optional ones. */
const PACKAGES: Record<BackendChoice, string> = {
  'node-gpu': '@tensorflow/tfjs-node-gpu',
  node: '@tensorflow/tfjs-node',
  wasm: '@tensorflow/tfjs-backend-wasm',
  'wasm-stock': '@tensorflow/tfjs-backend-wasm',
  cpu: '@tensorflow/tfjs-backend-cpu',
};

/** The name each package registers with the engine. */
const ENGINE_NAMES: Record<BackendChoice, string> = {
  'node-gpu': 'tensorflow',
  node: 'tensorflow',
  wasm: 'wasm',
  'wasm-stock': 'wasm',
  cpu: 'cpu',
};

/** Loads one backend and makes it current; returns a note for the reason, throws on failure. */
async function activate(choice: BackendChoice): Promise<string> {
  const specifier: string = PACKAGES[choice];
  await import(specifier);
  let note = '';
  if (choice === 'wasm') note = `, training kernels: ${registerWasmTrainingKernels().join(', ')}`;
  if (choice === 'wasm-stock') {
    unregisterWasmTrainingKernels();
    note = ', stock kernels (slow transposed matMul; no conv/depthwise filter gradients, no Embedding gradient)';
  }
  const ok = await tf.setBackend(ENGINE_NAMES[choice]);
  if (!ok) throw new Error(`tf.setBackend('${ENGINE_NAMES[choice]}') returned false`);
  await tf.ready();
  return note;
}

function firstLine(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  return message.split('\n')[0];
}

/**
 * Selects, activates and reports a backend.
 *
 * @param options.prefer force a backend; default: `TFJS_SAM_QUANTEASE_BACKEND`, else the default order.
 * @param options.quiet no stderr line; default false.
 * @returns `{name, reason}`, `name` one of node-gpu, node, wasm, wasm-stock, cpu.
 * @throws OptionError for an unknown backend name; Error when a forced backend fails to load.
 */
export async function selectBackend(options: SelectBackendOptions = {}): Promise<SelectedBackend> {
  rejectUnknownKeys(options, ['prefer', 'quiet'], 'selectBackend');
  const quiet = options.quiet === undefined ? false : checkBoolean('quiet', options.quiet);
  // `process` is absent in browsers: no variable there, and the line goes to console.error.
  const envValue = typeof process === 'undefined' ? undefined : process.env[BACKEND_ENV_VAR];
  const forcedBy =
    options.prefer !== undefined ? 'prefer' : envValue !== undefined && envValue !== '' ? BACKEND_ENV_VAR : null;
  const forcedValue = forcedBy === 'prefer' ? options.prefer : envValue;

  let result: SelectedBackend;
  if (forcedBy !== null) {
    if (typeof forcedValue !== 'string' || !(BACKEND_CHOICES as readonly string[]).includes(forcedValue)) {
      throw new OptionError(
        `\`${forcedBy}\` must be one of ${BACKEND_CHOICES.map((c) => `'${c}'`).join(', ')}. ` +
          `Received: ${forcedBy}=${describeValue(forcedValue)}.`,
      );
    }
    const choice = forcedValue as BackendChoice;
    let note: string;
    try {
      note = await activate(choice);
    } catch (error) {
      throw new Error(
        `Backend '${choice}' was requested by ${forcedBy}=${choice} but ${PACKAGES[choice]} failed to load: ` +
          `${firstLine(error)}. Install it, or ${forcedBy === 'prefer' ? 'choose another `prefer`' : `unset ${BACKEND_ENV_VAR}`}.`,
      );
    }
    result = { name: choice, reason: `forced by ${forcedBy}=${choice}${note}` };
  } else {
    const skipped: string[] = [];
    let chosen: SelectedBackend | null = null;
    for (const choice of DEFAULT_ORDER) {
      try {
        const note = await activate(choice);
        const before = skipped.length ? `; ${skipped.join('; ')}` : '';
        chosen = { name: choice, reason: `first that loads in the default order${before}${note}` };
        break;
      } catch (error) {
        skipped.push(`${PACKAGES[choice]} unavailable (${firstLine(error)})`);
      }
    }
    if (chosen === null) throw new Error(`No TensorFlow.js backend could be loaded: ${skipped.join('; ')}.`);
    result = chosen;
  }
  if (!quiet) {
    const line = `[tfjs-sam-quantease] backend: ${result.name} (${result.reason})`;
    if (typeof process !== 'undefined' && process.stderr) process.stderr.write(`${line}\n`);
    else console.error(line);
  }
  return result;
}
