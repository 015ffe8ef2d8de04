/**
 * Float64 reference gradients of conv2d and depthwiseConv2d (NHWC, any stride, dilation and
 * top/left padding), written from the definitions, for checking the wasm kernels:
 *
 *   y[b, i, j, k]     = sum_{p, q, c} xpad[b, i*s_h + p*d_h, j*s_w + q*d_w, c] W[p, q, c, k]
 *   y[b, i, j, c*M+m] = sum_{p, q}    xpad[b, i*s_h + p*d_h, j*s_w + q*d_w, c] W[p, q, c, m]
 *
 * so dW and dx accumulate dy[b, i, j, .] times the other operand at the same index pairs.
 */
export interface ConvGeometry {
  xShape: [number, number, number, number]; // [B, H, W, C]
  filterShape: [number, number, number, number]; // [fH, fW, C, K] or [fH, fW, C, M]
  outShape: [number, number, number, number]; // [B, oH, oW, K] or [B, oH, oW, C*M]
  strides: [number, number];
  dilations: [number, number];
  padTop: number;
  padLeft: number;
  depthwise: boolean;
}

/** Visits every (x index, W index, dy index) triple of the forward sum. */
function forEachTerm(g: ConvGeometry, visit: (xi: number, wi: number, yi: number) => void): void {
  const [B, H, W, C] = g.xShape;
  const [fH, fW, , K] = g.filterShape;
  const [, oH, oW, outC] = g.outShape;
  for (let b = 0; b < B; b++)
    for (let i = 0; i < oH; i++)
      for (let j = 0; j < oW; j++)
        for (let p = 0; p < fH; p++) {
          const u = i * g.strides[0] + p * g.dilations[0] - g.padTop;
          if (u < 0 || u >= H) continue;
          for (let q = 0; q < fW; q++) {
            const v = j * g.strides[1] + q * g.dilations[1] - g.padLeft;
            if (v < 0 || v >= W) continue;
            for (let c = 0; c < C; c++) {
              const xi = ((b * H + u) * W + v) * C + c;
              for (let k = 0; k < K; k++) {
                const wi = ((p * fW + q) * C + c) * K + k;
                const yc = g.depthwise ? c * K + k : k;
                visit(xi, wi, ((b * oH + i) * oW + j) * outC + yc);
              }
            }
          }
        }
}

export function filterGradRef(g: ConvGeometry, x: ArrayLike<number>, dy: ArrayLike<number>): Float64Array {
  const size = g.filterShape.reduce((a, b) => a * b, 1);
  const dw = new Float64Array(size);
  forEachTerm(g, (xi, wi, yi) => (dw[wi] += x[xi] * dy[yi]));
  return dw;
}

export function inputGradRef(g: ConvGeometry, w: ArrayLike<number>, dy: ArrayLike<number>): Float64Array {
  const dx = new Float64Array(g.xShape.reduce((a, b) => a * b, 1));
  forEachTerm(g, (xi, wi, yi) => (dx[xi] += w[wi] * dy[yi]));
  return dx;
}
