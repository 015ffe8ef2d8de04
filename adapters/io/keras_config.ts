/**
 * The Keras JSON convention tfjs-layers saves topologies in ("pythonic": snake_case keys and
 * enum values, `class_name`) -> the camelCase config its classes' fromConfig takes. tfjs does this
 * inside tf.loadLayersModel but exports no function for it; build_model.ts needs it to call the
 * public static fromConfig with fast weight initialization. The rules (tested against stock
 * tf.loadLayersModel on every layer kind we ship, test/adapters/io/build_without_init.test.ts):
 *   - a string with an underscore becomes camelCase ("hard_sigmoid" -> "hardSigmoid");
 *   - object keys likewise, except that the value of a "name" key is kept as written;
 *   - in "inbound_nodes", "input_layers" and "output_layers", the first string of each entry is a
 *     layer name and is kept as written.
 */

function camel(s: string): string {
  if (s.length <= 1 || !s.includes('_')) return s;
  return s.replace(/_+(\w|$)/g, (_m, c: string) => c.toUpperCase());
}

const NAME_LISTS = new Set(['inboundNodes', 'inputLayers', 'outputLayers']);

/** Pythonic (saved) config -> tfjs TypeScript config. Pure; returns new objects. */
export function pythonicToTs(value: unknown, key?: string): unknown {
  if (value === null || typeof value === 'number' || typeof value === 'boolean' || value === undefined) return value;
  if (typeof value === 'string') return camel(value);
  if (Array.isArray(value)) {
    return value.map((item, i) => (key !== undefined && NAME_LISTS.has(key) && i === 0 && typeof item === 'string' ? item : pythonicToTs(item, key)));
  }
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
    if (k === 'name' && typeof v === 'string') {
      out[k] = v;
    } else {
      const tk = camel(k);
      out[tk] = pythonicToTs(v, tk);
    }
  }
  return out;
}
