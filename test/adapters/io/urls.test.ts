/**
 * Where the packed files are fetched from (adapters/io/urls.ts): the query of a signed URL stays
 * on model.json and on the weights file, folders resolve with or without their trailing slash.
 */
import test from 'ava';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import * as tfl from '@tensorflow/tfjs-layers';
import { quantizeModel } from '../../../adapters/quantize/quantize_model.ts';
import { encodePacked } from '../../../adapters/io/encode.ts';
import { loadQuantized } from '../../../adapters/io/load_quantized.ts';
import { packedModel } from '../../../adapters/io/packed_handler.ts';
import { modelJsonLocation, siblingLocation } from '../../../adapters/io/urls.ts';
import { InputError } from '../../../plugins/core/errors.ts';
import { convDenseModel, correlatedImages, weightValues } from '../quantize/models.ts';

test('model.json and weights locations keep the query, drop the fragment, resolve folders', (t) => {
  const cases: Array<[string, string, string]> = [
    ['https://host/q/model.json?token=abc', 'https://host/q/model.json?token=abc', 'https://host/q/weights.bin?token=abc'],
    ['https://host/q?token=abc', 'https://host/q/model.json?token=abc', 'https://host/q/weights.bin?token=abc'],
    ['https://host/q/?token=abc', 'https://host/q/model.json?token=abc', 'https://host/q/weights.bin?token=abc'],
    ['https://host/q', 'https://host/q/model.json', 'https://host/q/weights.bin'],
    ['https://host/a/b/m.json?X-Amz-Signature=f%2Fx&X-Amz-Expires=60#top', 'https://host/a/b/m.json?X-Amz-Signature=f%2Fx&X-Amz-Expires=60', 'https://host/a/b/weights.bin?X-Amz-Signature=f%2Fx&X-Amz-Expires=60'],
    ['http://127.0.0.1:8080/models/q4/model.json', 'http://127.0.0.1:8080/models/q4/model.json', 'http://127.0.0.1:8080/models/q4/weights.bin'],
    ['file:///srv/m/', 'file:///srv/m/model.json', 'file:///srv/m/weights.bin'],
    ['out/q4', 'out/q4/model.json', 'out/q4/weights.bin'],
    ['out/q4/', 'out/q4/model.json', 'out/q4/weights.bin'],
    ['C:\\models\\q4\\model.json', 'C:\\models\\q4\\model.json', 'C:\\models\\q4\\weights.bin'],
    ['model.json', 'model.json', 'weights.bin'],
  ];
  for (const [given, json, weights] of cases) {
    t.is(modelJsonLocation(given), json, given);
    t.is(siblingLocation(json, 'weights.bin'), weights, given);
  }
});

test.serial('loadQuantized and packedModel send the signed query with both requests', async (t) => {
  await tf.setBackend('cpu');
  const model = convDenseModel(41);
  const calib = correlatedImages(48, 2);
  const q = await quantizeModel(model, calib, { method: 'rtn', bits: 4 });
  const { json, bin } = await encodePacked(q);
  // A server that answers only requests carrying the right token, like a signed-URL store.
  const requested: string[] = [];
  const signedFetch = (async (url: string) => {
    requested.push(url);
    const u = new URL(url);
    if (u.searchParams.get('token') !== 'abc' || u.searchParams.get('sig') !== 'x/y') return new Response('denied', { status: 403, statusText: 'Forbidden' });
    if (u.pathname === '/bucket/q4/model.json') return new Response(JSON.stringify(json));
    if (u.pathname === '/bucket/q4/weights.bin') return new Response(bin.slice());
    return new Response('missing', { status: 404, statusText: 'Not Found' });
  }) as unknown as typeof fetch;
  const query = '?token=abc&sig=x%2Fy';
  for (const given of [`https://store.test/bucket/q4/model.json${query}`, `https://store.test/bucket/q4${query}`, `https://store.test/bucket/q4/${query}`]) {
    requested.length = 0;
    const a = await loadQuantized(given, { fetch: signedFetch });
    t.deepEqual(requested, [`https://store.test/bucket/q4/model.json${query}`, `https://store.test/bucket/q4/weights.bin${query}`], given);
    t.deepEqual(weightValues(a), weightValues(q.model));
    a.dispose();
    const b = await tfl.loadLayersModel(packedModel(given, { fetch: signedFetch }));
    t.deepEqual(weightValues(b), weightValues(q.model));
    b.dispose();
  }
  // Without the query the store refuses, and the error says so.
  await t.throwsAsync(loadQuantized('https://store.test/bucket/q4/', { fetch: signedFetch }), { instanceOf: InputError, message: /HTTP 403 Forbidden/ });
  for (const m of [q.model, model]) m.dispose();
  calib.dispose();
});

test('a server that never answers ends with timeoutMs; an aborted signal ends the load with its reason', async (t) => {
  const never = ((_url: string, init?: { signal?: AbortSignal }) => new Promise((_resolve, reject) => {
    init?.signal?.addEventListener('abort', () => reject(init.signal!.reason));
  })) as unknown as typeof fetch;
  await t.throwsAsync(loadQuantized('https://slow.test/q/', { fetch: never, timeoutMs: 50 }), { instanceOf: InputError, message: /Cannot fetch https:\/\/slow\.test\/q\/model\.json: .*(timed out|timeout|aborted)/i });
  const controller = new AbortController();
  const pending = loadQuantized('https://slow.test/q/', { fetch: never, signal: controller.signal });
  controller.abort(new Error('user cancelled'));
  await t.throwsAsync(pending, { message: 'user cancelled' });
});
