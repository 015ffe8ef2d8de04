export * from './errors.ts';
export * from './validate.ts';
