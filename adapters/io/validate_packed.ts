/**
 * Validation of a parsed packed model.json (format.ts), in full, before any weight byte is read
 * and before anything is built: every key known (unknown keys at any level are errors, so a
 * misspelled "outliers" cannot silently drop the outliers), every size consistent with the shapes,
 * the sections tiling the weights file exactly, and the manifest checksum matching.
 * Also upgradePackedJSON: a version-1 model.json -> version 2 (the weights file is unchanged).
 */
import { KERNEL_LAYOUTS, problemShape, type KernelLayout } from './layout.ts';
import { SUPPORT_ENCODINGS, fixedSupportByteLength, type SupportEncoding } from './support.ts';
import { InputError } from '../../plugins/core/errors.ts';
import { packedByteLength } from '../../plugins/quantease/packing.ts';
import {
  AFFINE_ENCODING_VERSION, FORMAT_NAME, FORMAT_VERSION, QUANTIZATION_VERSION, STOCK_LOADER_TRAP,
  manifestChecksum, type PackedModelJSON, type Section,
} from './format.ts';

function bad(msg: string): never {
  throw new InputError(`Malformed packed model: ${msg}`);
}

function isObj(x: unknown): x is Record<string, unknown> {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}

function keys(where: string, o: Record<string, unknown>, required: readonly string[], optional: readonly string[] = []): void {
  for (const k of required) if (!(k in o)) bad(`${where} has no "${k}".`);
  for (const k of Object.keys(o)) {
    if (!required.includes(k) && !optional.includes(k)) bad(`${where} has an unknown key "${k}" (allowed: ${[...required, ...optional].join(', ')}).`);
  }
}

function int(where: string, v: unknown, min = 0): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < min) bad(`${where} must be an integer >= ${min}, got ${JSON.stringify(v)}.`);
  return v;
}

const ENTRY_KEYS = ['name', 'dtype', 'shape', 'encoding'] as const;
const RAW_KEYS = [...ENTRY_KEYS, 'data'] as const;
const AFFINE_KEYS = [...ENTRY_KEYS, 'encodingVersion', 'layout', 'rows', 'cols', 'bits', 'groupSize', 'groups', 'codes', 'scale', 'zero'] as const;

/** Walks the entries; calls `section` for each section in manifest order with its expected size. */
function checkEntries(weights: unknown, section: (where: string, v: unknown, expected: number) => void): void {
  if (!Array.isArray(weights)) bad('"quantization.weights" must be an array.');
  const names = new Set<string>();
  weights.forEach((e: unknown, i: number) => {
    const where = `quantization.weights[${i}]`;
    if (!isObj(e)) bad(`${where} is not an object.`);
    if (typeof e.name !== 'string' || e.name === '') bad(`${where}.name must be a non-empty string.`);
    if (names.has(e.name)) bad(`${where}.name "${e.name}" is repeated.`);
    names.add(e.name);
    if (e.dtype !== 'float32') bad(`${where}.dtype must be "float32", got ${JSON.stringify(e.dtype)}.`);
    if (!Array.isArray(e.shape)) bad(`${where}.shape must be an array.`);
    const shape = e.shape.map((d: unknown, k: number) => int(`${where}.shape[${k}]`, d));
    const size = shape.reduce((a: number, b: number) => a * b, 1);
    if (!Number.isSafeInteger(size * 4)) bad(`${where}.shape [${shape}] is too large.`);
    if (e.encoding === 'float32') {
      keys(where, e, RAW_KEYS);
      section(`${where}.data`, e.data, size * 4);
    } else if (e.encoding === 'affine') {
      keys(where, e, AFFINE_KEYS, ['outliers', 'support']);
      if (e.encodingVersion !== AFFINE_ENCODING_VERSION) {
        throw new InputError(`Unsupported encoding version ${JSON.stringify(e.encodingVersion)} for ${where} (${e.name}): this loader reads ${AFFINE_ENCODING_VERSION}.`);
      }
      if (!(KERNEL_LAYOUTS as readonly unknown[]).includes(e.layout)) {
        bad(`${where}.layout must be one of ${KERNEL_LAYOUTS.map((l) => `"${l}"`).join(', ')}, got ${JSON.stringify(e.layout)}.`);
      }
      const layout = e.layout as KernelLayout;
      if (shape.length < (layout === 'depthwise' ? 4 : 2)) bad(`${where}.shape [${shape}] has too few axes for layout "${layout}".`);
      const rows = int(`${where}.rows`, e.rows, 1);
      const cols = int(`${where}.cols`, e.cols, 1);
      const [wantRows, wantCols] = problemShape(shape, layout);
      if (rows !== wantRows || cols !== wantCols) bad(`${where}: rows x cols = ${rows} x ${cols} does not match shape [${shape}] in layout "${layout}".`);
      const bits = int(`${where}.bits`, e.bits, 2);
      if (bits > 8) bad(`${where}.bits must be in 2..8, got ${bits}.`);
      const groupSize = int(`${where}.groupSize`, e.groupSize, 1);
      const groups = int(`${where}.groups`, e.groups, 1);
      if (groups !== Math.ceil(cols / groupSize)) bad(`${where}.groups is ${groups} but ceil(cols / groupSize) = ${Math.ceil(cols / groupSize)}.`);
      // A pruned kernel (support.ts): codes only for the kept weights; its support section comes last.
      let coded = rows * cols;
      let supportBytes: number | null = null;
      const sp = e.support;
      if (sp !== undefined) {
        if (!isObj(sp)) bad(`${where}.support must be an object.`);
        keys(`${where}.support`, sp, ['encoding', 'count', 'data']);
        if (e.outliers !== undefined) bad(`${where} has both "support" and "outliers"; a pruned kernel has no outliers.`);
        if (!(SUPPORT_ENCODINGS as readonly unknown[]).includes(sp.encoding)) {
          bad(`${where}.support.encoding must be one of ${SUPPORT_ENCODINGS.join(', ')}, got ${JSON.stringify(sp.encoding)}.`);
        }
        coded = int(`${where}.support.count`, sp.count);
        if (coded > rows * cols) bad(`${where}.support.count ${coded} exceeds rows x cols = ${rows * cols}.`);
        if (!isObj(sp.data)) bad(`${where}.support.data is missing.`);
        // bitmask / columns: a fixed size; delta: one varint of 1..5 bytes per kept weight
        supportBytes = fixedSupportByteLength(sp.encoding as SupportEncoding, rows, cols) ?? int(`${where}.support.data.byteLength`, sp.data.byteLength, coded);
        if (sp.encoding === 'delta' && supportBytes > 5 * coded) bad(`${where}.support.data.byteLength ${supportBytes} is more than 5 bytes per kept weight (${coded}).`);
      }
      section(`${where}.codes`, e.codes, packedByteLength(coded, bits));
      section(`${where}.scale`, e.scale, rows * groups * 4);
      section(`${where}.zero`, e.zero, rows * groups * 4);
      if (e.outliers !== undefined) {
        const o = e.outliers;
        if (!isObj(o)) bad(`${where}.outliers must be an object.`);
        keys(`${where}.outliers`, o, ['count', 'indices', 'values']);
        const k = int(`${where}.outliers.count`, o.count, 1);
        if (k > size) bad(`${where}.outliers.count ${k} exceeds the ${size} weights of the kernel.`);
        section(`${where}.outliers.indices`, o.indices, 4 * k);
        section(`${where}.outliers.values`, o.values, 4 * k);
      }
      if (supportBytes !== null) section(`${where}.support.data`, (sp as Record<string, unknown>).data, supportBytes);
    } else {
      bad(`${where}.encoding must be "float32" or "affine", got ${JSON.stringify(e.encoding)}.`);
    }
  });
}

/** Section checker: sizes as expected, and in manifest order each starts where the previous ended. */
function tiling(total: number): { section: (where: string, v: unknown, expected: number) => void; end: () => void } {
  let at = 0;
  return {
    section(where, v, expected) {
      if (!isObj(v)) bad(`${where} must be an object {offset, byteLength}.`);
      keys(where, v, ['offset', 'byteLength']);
      const s: Section = { offset: int(`${where}.offset`, v.offset), byteLength: int(`${where}.byteLength`, v.byteLength) };
      if (s.byteLength !== expected) bad(`${where}.byteLength is ${s.byteLength} but ${expected} bytes are expected.`);
      if (s.offset + s.byteLength > total) {
        bad(`${where} [${s.offset}, ${s.offset + s.byteLength}) lies beyond the end of the weights file (${total} bytes).`);
      }
      if (s.offset !== at) {
        bad(`${where} starts at byte ${s.offset} but the previous section ends at ${at}: sections must follow one another in manifest order, with no overlap and no gap.`);
      }
      at += s.byteLength;
    },
    end() {
      if (at !== total) bad(`the sections end at byte ${at} but the weights file has ${total} bytes declared: ${total - at} bytes belong to no weight.`);
    },
  };
}

const TOP_KEYS = ['format', 'formatVersion', 'modelTopology', 'weightsManifest', 'packedTopology', 'weightsFile',
  'weightsByteLength', 'weightsChecksum', 'quantization', 'manifestChecksum'] as const;

function checkHead(json: Record<string, unknown>): void {
  if (json.format !== FORMAT_NAME) bad(`"format" is ${JSON.stringify(json.format)}, expected "${FORMAT_NAME}".`);
  if (json.formatVersion === 1) {
    throw new InputError(
      'This is a version-1 packed model, which stock tf.loadLayersModel opens silently with random weights; ' +
        'this loader reads version 2. Convert the model.json once (the weights file stays as it is): ' +
        "writeFile('model.json', JSON.stringify(upgradePackedJSON(JSON.parse(oldText)))), with upgradePackedJSON from 'tfjs-sam-quantease/io'.",
    );
  }
  if (json.formatVersion !== FORMAT_VERSION) {
    throw new InputError(`Unsupported packed model version ${JSON.stringify(json.formatVersion)}: this loader reads version ${FORMAT_VERSION}.`);
  }
}

function checkWeightsFile(v: unknown): void {
  if (typeof v !== 'string' || !/^[\w.-]+$/.test(v) || v.startsWith('.')) bad(`"weightsFile" must be a plain file name, got ${JSON.stringify(v)}.`);
}

/**
 * Validates a parsed model.json in full; returns it typed. Throws InputError.
 * Sections are checked against the declared "weightsByteLength", so everything is validated before
 * the weights file is fetched; with `binLength` (the actual size of the weights file) the file must
 * also have exactly the declared size.
 */
export function validatePackedJSON(json: unknown, binLength?: number): PackedModelJSON {
  if (!isObj(json)) bad('model.json is not a JSON object.');
  checkHead(json);
  keys('model.json', json, TOP_KEYS, ['report']);
  if (JSON.stringify(json.modelTopology) !== JSON.stringify(STOCK_LOADER_TRAP)) {
    bad('"modelTopology" must be the stock-loader trap of this format (the real topology is "packedTopology").');
  }
  if (!Array.isArray(json.weightsManifest) || json.weightsManifest.length !== 0) bad('"weightsManifest" must be [].');
  const topo = json.packedTopology;
  if (!isObj(topo) || typeof topo.class_name !== 'string' || !isObj(topo.config)) {
    bad('"packedTopology" must be a tfjs-layers topology {class_name, config, ...}.');
  }
  checkWeightsFile(json.weightsFile);
  const total = int('"weightsByteLength"', json.weightsByteLength);
  if (typeof json.weightsChecksum !== 'string' || !/^fnv1a32:[0-9a-f]{8}$/.test(json.weightsChecksum)) bad('"weightsChecksum" must be "fnv1a32:" + 8 hex digits.');
  if (typeof json.manifestChecksum !== 'string') bad('"manifestChecksum" must be a string.');
  const qz = json.quantization;
  if (!isObj(qz)) bad('"quantization" must be an object.');
  keys('"quantization"', qz, ['version', 'weights']);
  if (qz.version !== QUANTIZATION_VERSION) {
    throw new InputError(`Unsupported quantization manifest version ${JSON.stringify(qz.version)}: this loader reads version ${QUANTIZATION_VERSION}.`);
  }
  const t = tiling(total);
  checkEntries(qz.weights, t.section);
  t.end();
  const sum = manifestChecksum(json as unknown as PackedModelJSON);
  if (sum !== json.manifestChecksum) {
    throw new InputError(`The model.json checksum ${sum} does not match its "manifestChecksum" (${json.manifestChecksum}): model.json was edited or damaged.`);
  }
  if (binLength !== undefined && binLength !== total) {
    throw new InputError(`The weights file has ${binLength} bytes but model.json expects ${total}: the file is truncated or does not belong to this model.json.`);
  }
  return json as unknown as PackedModelJSON;
}

/**
 * A version-1 packed model.json (parsed) -> the version-2 model.json for the same weights file.
 * The version-1 manifest is validated with the version-2 rules (no unknown keys, sections tiling
 * the weights file) first. Throws InputError.
 * @example await writeFile(p, JSON.stringify(upgradePackedJSON(JSON.parse(await readFile(p, 'utf8')))));
 */
export function upgradePackedJSON(v1: unknown): PackedModelJSON {
  if (!isObj(v1)) bad('model.json is not a JSON object.');
  if (v1.format !== FORMAT_NAME || v1.formatVersion !== 1) bad('upgradePackedJSON converts version-1 packed models only.');
  keys('model.json', v1, ['format', 'formatVersion', 'modelTopology', 'weightsFile', 'weightsByteLength', 'weightsChecksum', 'quantization'], ['report']);
  const { modelTopology, weightsFile, weightsByteLength, weightsChecksum, quantization, report } = v1;
  const v2: Record<string, unknown> = {
    format: FORMAT_NAME, formatVersion: FORMAT_VERSION, modelTopology: STOCK_LOADER_TRAP, weightsManifest: [],
    packedTopology: modelTopology, weightsFile, weightsByteLength, weightsChecksum, quantization,
  };
  v2.manifestChecksum = manifestChecksum(v2 as unknown as PackedModelJSON);
  if (report !== undefined) v2.report = report;
  return validatePackedJSON(v2);
}
