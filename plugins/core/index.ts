export * from './errors.ts';
export * from './validate.ts';
export * from './random.ts';
