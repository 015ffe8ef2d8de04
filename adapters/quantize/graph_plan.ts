/**
 * The execution plan of a model's graph for calibration: its nodes in topological order (the
 * container's own order, decreasing depth, as `LayersModel.execute` runs them), pruned to the
 * nodes some quantized layer's input depends on, with the last position at which each activation
 * is still read (its liveness), so a propagation can keep only the live frontier.
 *
 * Positions: position p is "nodes 0..p-1 have run". Target (layer to quantize) k reads its input
 * at position `targets[k].position` (its own node's index), before its own node runs.
 */
import type * as tfl from '@tensorflow/tfjs-layers';
import { InputError } from '../../plugins/core/errors.ts';

/** One call of a layer in the graph (a tfjs-layers Node), reduced to what execution needs. */
export interface PlanNode {
  layer: tfl.layers.Layer;
  /** Ids of the symbolic tensors it reads, in call order. */
  inputs: number[];
  /** Ids of the symbolic tensors it produces. */
  outputs: number[];
  /** False when no target depends on it: never run. */
  needed: boolean;
}

export interface PlanTarget {
  layer: tfl.layers.Layer;
  /** Index of the layer's node in `nodes`: its input is read at this position. */
  position: number;
  /** Symbolic id of the layer's (single) input. */
  input: number;
}

export interface GraphPlan {
  nodes: PlanNode[];
  /** Symbolic ids of model.inputs, in order. */
  inputIds: number[];
  /** In increasing position. */
  targets: PlanTarget[];
  /** Symbolic id -> the last position at which it is read (by a needed node or a target). */
  lastUse: Map<number, number>;
}

interface RawNode {
  outboundLayer: tfl.layers.Layer;
  inputTensors: tfl.SymbolicTensor[];
  outputTensors: tfl.SymbolicTensor[];
}

/** The container's nodes in execution order (decreasing depth, as runInternalGraph visits them). */
function orderedNodes(model: tfl.LayersModel): RawNode[] {
  // A Sequential builds its graph (an inner functional model) lazily, on first use.
  if (model.getClassName() === 'Sequential' && !(model as unknown as { model?: unknown }).model) model.build(model.inputs[0]?.shape);
  const byDepth = (model as unknown as { nodesByDepth?: Record<string, RawNode[]> }).nodesByDepth;
  if (!byDepth) throw new InputError(`Model ${model.name} exposes no graph (nodesByDepth); only tfjs-layers models are supported.`);
  const depths = Object.keys(byDepth).map(Number).sort((a, b) => b - a);
  return depths.flatMap((d) => byDepth[d]).filter((n) => n.outboundLayer.getClassName() !== 'InputLayer');
}

/**
 * Builds the plan for quantizing `targets` (layers of `model`). Throws InputError for a target
 * that is called more than once (shared) or reads more than one tensor.
 */
export function buildPlan(model: tfl.LayersModel, targets: tfl.layers.Layer[]): GraphPlan {
  const raw = orderedNodes(model);
  const nodes: PlanNode[] = raw.map((n) => ({
    layer: n.outboundLayer,
    inputs: n.inputTensors.map((t) => t.id),
    outputs: n.outputTensors.map((t) => t.id),
    needed: false,
  }));
  const planTargets: PlanTarget[] = targets.map((layer) => {
    const at = nodes.flatMap((n, i) => (n.layer === layer ? [i] : []));
    if (at.length !== 1) {
      throw new InputError(`Layer ${layer.name} is shared (called ${at.length} times); it cannot be given one calibration set.`);
    }
    const node = nodes[at[0]];
    if (node.inputs.length !== 1) throw new InputError(`Layer ${layer.name} has ${node.inputs.length} inputs; only single-input layers are quantized.`);
    return { layer, position: at[0], input: node.inputs[0] };
  });
  planTargets.sort((a, b) => a.position - b.position);
  // Backwards: a node is needed when some later needed node or target reads one of its outputs.
  const wanted = new Set(planTargets.map((t) => t.input));
  for (let i = nodes.length - 1; i >= 0; i--) {
    if (nodes[i].outputs.some((id) => wanted.has(id))) {
      nodes[i].needed = true;
      for (const id of nodes[i].inputs) wanted.add(id);
    }
  }
  const lastUse = new Map<number, number>();
  const use = (id: number, p: number) => lastUse.set(id, Math.max(lastUse.get(id) ?? -1, p));
  nodes.forEach((n, i) => n.needed && n.inputs.forEach((id) => use(id, i)));
  for (const t of planTargets) use(t.input, t.position);
  return { nodes, inputIds: model.inputs.map((s) => s.id), targets: planTargets, lastUse };
}

/** Layer forwards per calibration batch when every needed node runs once. */
export function forwardsPerBatch(plan: GraphPlan): number {
  return plan.nodes.filter((n) => n.needed).length;
}
