import test from 'ava';
import { execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import { readBounded, resolveInside } from '../../../adapters/io/read_bounded.ts';
import { InputError, OptionError } from '../../../plugins/core/errors.ts';

let dir: string;
test.before(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'rb-'));
  await writeFile(path.join(dir, 'ten.bin'), new Uint8Array(10).fill(7));
  await mkdir(path.join(dir, 'sub'));
  await writeFile(path.join(dir, 'sub', 'a.bin'), 'abc');
  await symlink('/dev/zero', path.join(dir, 'zero'));
  await symlink(path.join(dir, 'ten.bin'), path.join(dir, 'link-to-ten'));
  execFileSync('mkfifo', [path.join(dir, 'fifo')]);
});
test.after.always(async () => {
  await rm(dir, { recursive: true, force: true });
});

test('regular files: exact bytes; sizes checked before reading', async (t) => {
  t.deepEqual(await readBounded(path.join(dir, 'ten.bin')), new Uint8Array(10).fill(7));
  t.deepEqual(await readBounded(pathToFileURL(path.join(dir, 'ten.bin')).href, { expectedBytes: 10 }), new Uint8Array(10).fill(7));
  t.deepEqual(await readBounded(path.join(dir, 'link-to-ten'), { maxBytes: 10 }), new Uint8Array(10).fill(7)); // links are followed
  await t.throwsAsync(readBounded(path.join(dir, 'ten.bin'), { maxBytes: 9 }), { instanceOf: InputError, message: /has 10 bytes, more than the limit of 9/ });
  await t.throwsAsync(readBounded(path.join(dir, 'ten.bin'), { expectedBytes: 11 }), { instanceOf: InputError, message: /has 10 bytes but 11 are declared/ });
  await t.throwsAsync(readBounded(path.join(dir, 'ten.bin'), { expectedBytes: 2 ** 53 }), { instanceOf: InputError, message: /not a byte count/ });
});

test('/dev/zero, a FIFO and a directory: InputError at once, nothing blocks', async (t) => {
  await t.throwsAsync(readBounded(path.join(dir, 'zero')), { instanceOf: InputError, message: /character device, not a regular file/ });
  await t.throwsAsync(readBounded(path.join(dir, 'fifo')), { instanceOf: InputError, message: /FIFO \(named pipe\), not a regular file/ });
  await t.throwsAsync(readBounded(path.join(dir, 'sub')), { instanceOf: InputError, message: /directory, not a regular file/ });
  await t.throwsAsync(readBounded(path.join(dir, 'missing')), { instanceOf: InputError, message: /no such file/ });
});

test('baseDir keeps relative paths inside the folder', async (t) => {
  t.deepEqual(new TextDecoder().decode(await readBounded('sub/a.bin', { baseDir: dir })), 'abc');
  t.deepEqual(new TextDecoder().decode(await readBounded('sub/../sub/./a.bin', { baseDir: dir })), 'abc');
  for (const [rel, why] of [
    ['../../../etc/passwd', /climbs out/], ['sub/../../x', /climbs out/], ['/etc/passwd', /is absolute/], ['C:\\x', /is absolute/],
    ['\\\\server\\share', /is absolute/], ['http://127.0.0.1/x', /is a URL/], ['file:///etc/passwd', /is a URL/], ['a\0b', /NUL/], ['', /is empty/], ['.', /folder itself/],
  ] as const) {
    await t.throwsAsync(readBounded(rel, { baseDir: dir }), { instanceOf: InputError, message: why }, rel);
  }
  t.is(resolveInside('file:///m/', 'a b/c.bin'), 'file:///m/a%20b/c.bin');
  t.is(resolveInside('/m', 'x/../y.bin'), '/m/y.bin');
});

test('abort signal and option validation', async (t) => {
  const c = new AbortController();
  c.abort(new Error('stop'));
  await t.throwsAsync(readBounded(path.join(dir, 'ten.bin'), { signal: c.signal }), { message: 'stop' });
  await t.throwsAsync(readBounded(path.join(dir, 'ten.bin'), { timeoutMs: 0 }), { instanceOf: OptionError, message: /timeoutMs=0/ });
  await t.throwsAsync(readBounded(path.join(dir, 'ten.bin'), { signal: 'x' as never }), { instanceOf: OptionError, message: /AbortSignal/ });
  await t.throwsAsync(readBounded(path.join(dir, 'ten.bin'), { maxBytes: -1 }), { instanceOf: OptionError, message: /maxBytes=-1/ });
  await t.throwsAsync(readBounded(path.join(dir, 'ten.bin'), { limit: 1 } as never), { instanceOf: OptionError, message: /Unknown option `limit`/ });
});
