/**
 * Hashed bag of words / n-grams ("hashing trick", Weinberger et al. 2009): token n-grams hashed into
 * `dim` buckets, counts transformed with log(1 + count) and each row scaled to unit L2 norm.
 *
 *   x[b] = log(1 + #{n-grams g in text : hash(g) mod dim = b}),   x <- x / ||x||_2
 *
 * API (stable):
 *   tokenize(text): string[]                                lower-case words, numbers, $ and ! runs
 *   hashedBagOfWords(texts, opts?): {data: Float32Array, dim}   row-major [texts.length, dim]
 *
 * @example
 *   const {data, dim} = hashedBagOfWords(['Win $$$ now!', 'meeting at noon'], {dim: 1024, ngrams: 2});
 *   const x = tf.tensor2d(data, [2, dim]);
 */
import {fnv1a} from './spam_assassin.ts';

export interface BagOfWordsOptions {
  /** Number of hash buckets (features). Default 4096; more buckets = fewer collisions, slower model. */
  dim?: number;
  /** Largest n-gram length: 1 = words only, 2 = words and word pairs. Default 2. */
  ngrams?: number;
  /** Use only the first this many tokens of each text. Default 2000. */
  maxTokens?: number;
}

/** Lower-case tokens: words and numbers, plus runs of `$` or `!` (strong spam cues). */
export function tokenize(text: string): string[] {
  return text.toLowerCase().match(/[a-z][a-z0-9']{1,24}|[0-9]{1,12}|\$+|!+/g) ?? [];
}

export function hashedBagOfWords(texts: string[], opts: BagOfWordsOptions = {}): {data: Float32Array; dim: number} {
  const dim = opts.dim ?? 4096;
  const ngrams = opts.ngrams ?? 2;
  const maxTokens = opts.maxTokens ?? 2000;
  if (!Number.isInteger(dim) || dim < 1) throw new Error(`\`dim\` must be an integer >= 1. Received: dim=${dim}.`);
  if (!Number.isInteger(ngrams) || ngrams < 1) {
    throw new Error(`\`ngrams\` must be an integer >= 1. Received: ngrams=${ngrams}.`);
  }
  const data = new Float32Array(texts.length * dim);
  texts.forEach((text, r) => {
    const tokens = tokenize(text).slice(0, maxTokens);
    const row = r * dim;
    for (let i = 0; i < tokens.length; i++) {
      let gram = '';
      for (let n = 0; n < ngrams && i + n < tokens.length; n++) {
        gram = n === 0 ? tokens[i] : `${gram} ${tokens[i + n]}`;
        data[row + (fnv1a(gram) % dim)] += 1;
      }
    }
    let norm = 0;
    for (let b = 0; b < dim; b++) {
      const v = Math.log1p(data[row + b]);
      data[row + b] = v;
      norm += v * v;
    }
    if (norm > 0) {
      const inv = 1 / Math.sqrt(norm);
      for (let b = 0; b < dim; b++) data[row + b] *= inv;
    }
  });
  return {data, dim};
}
