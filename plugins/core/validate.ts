/**
 * Option validation, done once at construction. Each check throws an OptionError whose message
 * names the option, the value received and what is allowed.
 */
import { OptionError, describeValue } from './errors.ts';

function fail(name: string, value: unknown, allowed: string, fix?: string): never {
  throw new OptionError(
    `\`${name}\` must be ${allowed}. Received: ${name}=${describeValue(value)}.` + (fix ? ` ${fix}` : ''),
  );
}

/** Rejects keys that are not in `allowed` (JSON and JavaScript callers get no type check). */
export function rejectUnknownKeys(options: object | undefined, allowed: readonly string[], where: string): void {
  if (options === undefined) return;
  if (options === null || typeof options !== 'object' || Array.isArray(options)) {
    throw new OptionError(`${where} options must be an object. Received: ${describeValue(options)}.`);
  }
  for (const key of Object.keys(options)) {
    if (!allowed.includes(key)) {
      throw new OptionError(
        `Unknown option \`${key}\` for ${where}. Allowed options: ${allowed.join(', ')}.`,
      );
    }
  }
}

export function checkFiniteNumber(name: string, value: unknown, min = -Infinity, max = Infinity, exclusiveMin = false): number {
  const ok = typeof value === 'number' && Number.isFinite(value) && (exclusiveMin ? value > min : value >= min) && value <= max;
  if (!ok) {
    const lo = min === -Infinity ? '' : ` ${exclusiveMin ? '>' : '>='} ${min}`;
    const hi = max === Infinity ? '' : `${lo ? ' and' : ''} <= ${max}`;
    fail(name, value, `a finite number${lo}${hi}`);
  }
  return value as number;
}

export function checkInteger(name: string, value: unknown, min = -Infinity, max = Infinity): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    const range = max === Infinity ? `>= ${min}` : `in ${min}..${max}`;
    fail(name, value, `an integer ${range}`);
  }
  return value;
}

export function checkBoolean(name: string, value: unknown): boolean {
  if (typeof value !== 'boolean') fail(name, value, 'true or false');
  return value;
}

export function checkOneOf<T extends string>(name: string, value: unknown, allowed: readonly T[]): T {
  if (typeof value !== 'string' || !(allowed as readonly string[]).includes(value)) {
    fail(name, value, `one of ${allowed.map((a) => `'${a}'`).join(', ')}`);
  }
  return value as T;
}

/** Throws the standard message for a custom check. */
export function optionFail(name: string, value: unknown, allowed: string, fix?: string): never {
  fail(name, value, allowed, fix);
}
