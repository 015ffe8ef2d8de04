/**
 * Evaluation 1: SAM's implicit regularization on least squares (Behdin & Mazumder 2023,
 * "On Statistical Properties of Sharpness-Aware Minimization: Provable Guarantees").
 *
 * Run: npx tsx recipes/eval_sam_least_squares.ts [--quick] [--out dir] [--seed n] [--epochs iterations]
 *
 * Setting (fixed design). X is n x d with H = X^T X / n = V diag(lambda) V^T, a spread-out spectrum
 * lambda_i log-uniform in [LAMBDA_MIN, 1]. y = X w* + eps, eps ~ N(0, sigma^2 I_n).
 * f(w) = ||y - X w||^2 / (2n), grad f(w) = H (w - w*) - z with z = X^T eps / n, Cov(z) = sigma^2 H / n.
 * Risk of an estimate w: R(w) = E (w - w*)^T H (w - w*)  (excess prediction risk on the design).
 *
 * Algorithms, all from w_0 = 0, step eta:
 *   GD:   w_{k+1} = w_k - eta grad f(w_k)
 *   SAM:  w_{k+1} = w_k - eta grad f(w_k + rho grad f(w_k))        (un-normalized SAM, the form that
 *         is linear in w and has a closed form; grad f is affine, so grad f(w + rho g) = (I + rho H) g)
 *         = w_k - eta (I + rho H) grad f(w_k)
 *   nSAM: w_{k+1} = w_k - eta grad f(w_k + rho_n g/||g||)          (normalized SAM, as in plugins/sam;
 *         Monte-Carlo only, rho_n = RHO_NORMALIZED, the plugin's default 0.05)
 *
 * Closed form per eigen-direction i (theta = V^T w*, e_k = V^T (w_k - w*), z_i = v_i^T z,
 * z_i independent N(0, sigma^2 lambda_i / n)):
 *   a_i = eta lambda_i (1 + rho lambda_i)      (GD: rho = 0),   b_i = eta (1 + rho lambda_i),  b_i / a_i = 1 / lambda_i
 *   e_{k+1,i} = (1 - a_i) e_{k,i} + b_i z_i,   e_{0,i} = -theta_i
 *   e_{k,i}   = -(1 - a_i)^k theta_i + (1 - (1 - a_i)^k) z_i / lambda_i
 *   Bias_k     = sum_i lambda_i theta_i^2 (1 - a_i)^{2k}
 *   Variance_k = (sigma^2 / n) sum_i (1 - (1 - a_i)^k)^2
 *   Risk_k     = Bias_k + Variance_k          (the cross term has mean zero)
 * Since a_i(SAM) > a_i(GD) for every i (stable while a_i < 2), SAM has lower bias and higher variance at
 * every k, and both tend to the least-squares risk sigma^2 d / n. The Monte-Carlo run iterates the
 * algorithms on X and sampled noise (no eigen-decomposition) and estimates the same three curves.
 *
 * A fourth curve answers "is SAM just a larger step?": GD with step eta (1 + rho lambda_max), which
 * matches SAM's contraction on the sharpest direction.
 */
import {isMain, parseArgs, runMain} from './lib/args.ts';
import {Rng} from './lib/rng.ts';
import {linePlot, writePlot} from './lib/plot.ts';
import {Report, consoleTable, formatNumber, writeFileAtomic} from './lib/report_writer.ts';
import {ProgressBar} from './lib/progress.ts';

// ---- constants (each with one line of guidance) ----
/** Features. More features: a larger variance term sigma^2 d / n. */
const D = 60;
/** Samples. Keep n > d so the least-squares limit is unique. */
const N = 300;
/** Smallest eigenvalue of H (largest is 1): smaller = more spread-out spectrum, slower GD. */
const LAMBDA_MIN = 1e-3;
/** Noise standard deviation; sets the variance term (sigma^2 d / n at convergence). */
const SIGMA = 2;
/** Step size; eta * lambda_max (1 + rho lambda_max) must stay < 2 for stability. */
const ETA = 0.25;
/** SAM radius (un-normalized form); 0 gives GD back. Larger: a stronger tilt toward sharp directions. */
const RHO = 3.0;
/** Iterations (override with --epochs). Long enough for the risk to rise back toward sigma^2 d / n. */
const ITERATIONS = 3000;
/** Monte-Carlo repetitions (noise draws); the standard error of the risk shrinks as 1 / sqrt(reps). */
const REPS = 300;
/** Quick mode (CI): small problem, few repetitions. */
const QUICK = {d: 16, n: 80, iterations: 300, reps: 120};
/** Normalized SAM's radius (Monte-Carlo only): the plugin's default rho. */
const RHO_NORMALIZED = 0.05;
/** Points on the log-spaced grid where Monte-Carlo statistics are recorded. */
const GRID_POINTS = 60;

export interface Curves {
  bias: number[];
  variance: number[];
  risk: number[];
}

export interface MethodSummary {
  method: string;
  bestRisk: number;
  bestIteration: number;
  biasAtBest: number;
  varianceAtBest: number;
  finalRisk: number;
  /** Gradient evaluations up to the best iteration (SAM: 2 per iteration). */
  gradientsAtBest: number;
}

export interface LeastSquaresResult {
  outDir: string;
  seed: number;
  config: {d: number; n: number; iterations: number; reps: number; eta: number; rho: number; sigma: number};
  /** Iterations at which Monte-Carlo statistics were recorded. */
  grid: number[];
  /** Closed-form curves at every iteration 0..iterations. */
  closedForm: {gd: Curves; sam: Curves; gdMatched: Curves};
  /** Monte-Carlo curves on `grid`. */
  monteCarlo: {gd: Curves; sam: Curves; nsam: Curves};
  /** max over the grid of |MC - closed form| / closed-form risk, per quantity and method. */
  agreement: {gd: {bias: number; variance: number; risk: number}; sam: {bias: number; variance: number; risk: number}};
  summary: MethodSummary[];
  files: string[];
}

// ---- small float64 linear algebra ----
/** Orthonormal columns (Gram-Schmidt, twice for stability) of a rows x cols Gaussian matrix, row-major. */
function randomOrthonormal(rows: number, cols: number, rng: Rng): Float64Array {
  const q = new Float64Array(rows * cols);
  for (let i = 0; i < q.length; i++) q[i] = rng.normal();
  for (let j = 0; j < cols; j++) {
    for (let pass = 0; pass < 2; pass++) {
      for (let p = 0; p < j; p++) {
        let dot = 0;
        for (let i = 0; i < rows; i++) dot += q[i * cols + j] * q[i * cols + p];
        for (let i = 0; i < rows; i++) q[i * cols + j] -= dot * q[i * cols + p];
      }
    }
    let nrm = 0;
    for (let i = 0; i < rows; i++) nrm += q[i * cols + j] ** 2;
    nrm = Math.sqrt(nrm);
    for (let i = 0; i < rows; i++) q[i * cols + j] /= nrm;
  }
  return q;
}

/** out = A v for a square d x d row-major A. */
function matVec(a: Float64Array, v: Float64Array, out: Float64Array, d: number): void {
  for (let i = 0; i < d; i++) {
    let s = 0;
    const row = i * d;
    for (let j = 0; j < d; j++) s += a[row + j] * v[j];
    out[i] = s;
  }
}

/** Closed-form bias / variance / risk for contraction factors a_i, at k = 0..K. */
export function closedFormCurves(lambda: number[], theta: number[], a: number[], sigma: number, n: number,
    iterations: number): Curves {
  const out: Curves = {bias: [], variance: [], risk: []};
  for (let k = 0; k <= iterations; k++) {
    let bias = 0;
    let variance = 0;
    for (let i = 0; i < lambda.length; i++) {
      const c = (1 - a[i]) ** k;
      bias += lambda[i] * theta[i] ** 2 * c * c;
      variance += (1 - c) ** 2;
    }
    variance *= sigma ** 2 / n;
    out.bias.push(bias);
    out.variance.push(variance);
    out.risk.push(bias + variance);
  }
  return out;
}

function logGrid(max: number, points: number): number[] {
  const s = new Set<number>([0]);
  for (let p = 0; p < points; p++) s.add(Math.round(Math.exp((Math.log(max) * p) / (points - 1))));
  return [...s].sort((x, y) => x - y);
}

function summarize(method: string, c: Curves, ks: number[], gradsPerIteration: number): MethodSummary {
  let best = 0;
  for (let j = 1; j < c.risk.length; j++) if (c.risk[j] < c.risk[best]) best = j;
  return {method, bestRisk: c.risk[best], bestIteration: ks[best], biasAtBest: c.bias[best],
    varianceAtBest: c.variance[best], finalRisk: c.risk[c.risk.length - 1],
    gradientsAtBest: ks[best] * gradsPerIteration};
}

export async function main(argv: string[] = process.argv.slice(2)): Promise<LeastSquaresResult> {
  const args = parseArgs(argv, {name: 'eval_sam_least_squares', epochs: ITERATIONS});
  const d = args.quick ? QUICK.d : D;
  const n = args.quick ? QUICK.n : N;
  const iterations = args.quick && !args.explicit.has('epochs') ? QUICK.iterations : args.epochs!;
  const reps = args.quick ? QUICK.reps : REPS;
  const seed = args.seed;
  console.log(`eval_sam_least_squares: d=${d} n=${n} iterations=${iterations} reps=${reps} eta=${ETA} ` +
      `rho=${RHO} sigma=${SIGMA} seed=${seed}`);

  // ---- configure: the design X = sqrt(n) U diag(sqrt(lambda)) V^T and the truth w* ----
  const rng = new Rng(seed);
  const lambda = Array.from({length: d}, (_, i) => LAMBDA_MIN ** (i / (d - 1)));
  const u = randomOrthonormal(n, d, rng.fork(1)); // [n, d]
  const v = randomOrthonormal(d, d, rng.fork(2)); // [d, d], columns are eigenvectors
  const x = new Float64Array(n * d); // [n, d] row-major
  for (let r = 0; r < n; r++) {
    for (let c = 0; c < d; c++) {
      let s = 0;
      for (let i = 0; i < d; i++) s += u[r * d + i] * Math.sqrt(n * lambda[i]) * v[c * d + i];
      x[r * d + c] = s;
    }
  }
  const truthRng = rng.fork(3);
  const wStar = new Float64Array(d).map(() => truthRng.normal());
  const theta = Array.from({length: d}, (_, i) => {
    let s = 0;
    for (let c = 0; c < d; c++) s += v[c * d + i] * wStar[c];
    return s;
  });
  // H = X^T X / n computed from X itself, so the Monte-Carlo never sees the eigen-decomposition.
  const h = new Float64Array(d * d);
  for (let a = 0; a < d; a++) {
    for (let b = 0; b < d; b++) {
      let s = 0;
      for (let r = 0; r < n; r++) s += x[r * d + a] * x[r * d + b];
      h[a * d + b] = s / n;
    }
  }

  // ---- closed form ----
  const lambdaMax = Math.max(...lambda);
  const etaMatched = ETA * (1 + RHO * lambdaMax);
  const aGd = lambda.map((l) => ETA * l);
  const aSam = lambda.map((l) => ETA * l * (1 + RHO * l));
  const aMatched = lambda.map((l) => etaMatched * l);
  for (const [name, a] of [['SAM', aSam], ['GD (matched step)', aMatched]] as const) {
    if (Math.max(...a) >= 2) throw new Error(`${name} is unstable: eta*lambda*(1+rho*lambda) reaches ${Math.max(...a)} >= 2.`);
  }
  const closedForm = {
    gd: closedFormCurves(lambda, theta, aGd, SIGMA, n, iterations),
    sam: closedFormCurves(lambda, theta, aSam, SIGMA, n, iterations),
    gdMatched: closedFormCurves(lambda, theta, aMatched, SIGMA, n, iterations),
  };

  // ---- Monte-Carlo: iterate the algorithms on sampled noise ----
  const grid = logGrid(iterations, GRID_POINTS);
  const gridIndex = new Map(grid.map((k, j) => [k, j]));
  const methods = ['gd', 'sam', 'nsam'] as const;
  type M = (typeof methods)[number];
  const sumW: Record<M, Float64Array> = {gd: new Float64Array(grid.length * d), sam: new Float64Array(grid.length * d),
    nsam: new Float64Array(grid.length * d)};
  const sumRisk: Record<M, Float64Array> = {gd: new Float64Array(grid.length), sam: new Float64Array(grid.length),
    nsam: new Float64Array(grid.length)};
  const hw = new Float64Array(d);
  matVec(h, wStar, hw, d);
  const rhoN = RHO_NORMALIZED;
  const noiseRng = rng.fork(4);
  const eps = new Float64Array(n);
  const bvec = new Float64Array(d);
  const g = new Float64Array(d);
  const hg = new Float64Array(d);
  const diff = new Float64Array(d);
  const hdiff = new Float64Array(d);
  const bar = new ProgressBar('Monte-Carlo', reps);
  const riskOf = (w: Float64Array): number => {
    for (let i = 0; i < d; i++) diff[i] = w[i] - wStar[i];
    matVec(h, diff, hdiff, d);
    let s = 0;
    for (let i = 0; i < d; i++) s += diff[i] * hdiff[i];
    return s;
  };
  for (let r = 0; r < reps; r++) {
    for (let t = 0; t < n; t++) eps[t] = SIGMA * noiseRng.normal();
    // b = X^T y / n with y = X w* + eps, so grad f(w) = H w - b.
    for (let c = 0; c < d; c++) {
      let s = 0;
      for (let t = 0; t < n; t++) s += x[t * d + c] * eps[t];
      bvec[c] = s / n;
    }
    for (let c = 0; c < d; c++) bvec[c] += hw[c];
    for (const m of methods) {
      const w = new Float64Array(d);
      for (let k = 0; k <= iterations; k++) {
        const j = gridIndex.get(k);
        if (j !== undefined) {
          sumRisk[m][j] += riskOf(w);
          for (let i = 0; i < d; i++) sumW[m][j * d + i] += w[i];
        }
        if (k === iterations) break;
        matVec(h, w, g, d);
        for (let i = 0; i < d; i++) g[i] -= bvec[i]; // g = grad f(w)
        if (m === 'gd') {
          for (let i = 0; i < d; i++) w[i] -= ETA * g[i];
        } else {
          // grad f(w + delta) = g + H delta, with delta = rho g (SAM) or rho_n g / ||g|| (nSAM).
          let scale = RHO;
          if (m === 'nsam') {
            const gn = Math.sqrt(g.reduce((s, t) => s + t * t, 0));
            scale = rhoN / (gn + 1e-12);
          }
          matVec(h, g, hg, d);
          for (let i = 0; i < d; i++) w[i] -= ETA * (g[i] + scale * hg[i]);
        }
      }
    }
    bar.tick();
  }
  bar.finish();
  const mc = {} as Record<M, Curves>;
  for (const m of methods) {
    const c: Curves = {bias: [], variance: [], risk: []};
    for (let j = 0; j < grid.length; j++) {
      const mean = new Float64Array(d);
      for (let i = 0; i < d; i++) mean[i] = sumW[m][j * d + i] / reps;
      const total = sumRisk[m][j] / reps; // unbiased for the risk
      const naiveBias = riskOf(mean); // = bias + variance / reps in expectation
      const variance = reps > 1 ? (reps / (reps - 1)) * (total - naiveBias) : 0;
      c.bias.push(naiveBias - variance / reps);
      c.variance.push(variance);
      c.risk.push(total);
    }
    mc[m] = c;
  }
  const agree = (cf: Curves, m: Curves) => {
    const out = {bias: 0, variance: 0, risk: 0};
    grid.forEach((k, j) => {
      const ref = cf.risk[k];
      out.bias = Math.max(out.bias, Math.abs(m.bias[j] - cf.bias[k]) / ref);
      out.variance = Math.max(out.variance, Math.abs(m.variance[j] - cf.variance[k]) / ref);
      out.risk = Math.max(out.risk, Math.abs(m.risk[j] - cf.risk[k]) / ref);
    });
    return out;
  };
  const agreement = {gd: agree(closedForm.gd, mc.gd), sam: agree(closedForm.sam, mc.sam)};

  // ---- check: summaries ----
  const allK = Array.from({length: iterations + 1}, (_, k) => k);
  const summary = [
    summarize('GD (closed form)', closedForm.gd, allK, 1),
    summarize('SAM (closed form)', closedForm.sam, allK, 2),
    summarize(`GD, step ${formatNumber(etaMatched, 3)} (closed form)`, closedForm.gdMatched, allK, 1),
    summarize('GD (Monte-Carlo)', mc.gd, grid, 1),
    summarize('SAM (Monte-Carlo)', mc.sam, grid, 2),
    summarize('normalized SAM (Monte-Carlo)', mc.nsam, grid, 2),
  ];
  const lsRisk = (SIGMA ** 2 * d) / n;
  const headers = ['method', 'best risk', 'at iteration', 'gradients there', 'bias there', 'variance there',
    `risk at ${iterations}`];
  const rows = summary.map((s) => [s.method, s.bestRisk, s.bestIteration, s.gradientsAtBest, s.biasAtBest,
    s.varianceAtBest, s.finalRisk]);
  console.log(consoleTable(headers, rows));
  console.log(`Monte-Carlo vs closed form, max |diff| / risk over ${grid.length} iterations: ` +
      `GD risk ${formatNumber(agreement.gd.risk)}, SAM risk ${formatNumber(agreement.sam.risk)}`);

  // ---- plots ----
  const files: string[] = [];
  const ks = allK.slice(1);
  const gk = grid.filter((k) => k > 0);
  const gj = grid.map((k, j) => [k, j] as const).filter(([k]) => k > 0).map(([, j]) => j);
  const at = (c: number[]) => gj.map((j) => c[j]);
  const sub = `d=${d}, n=${n}, eta=${ETA}, rho=${RHO}, sigma=${SIGMA}, ${reps} noise draws, seed ${seed}`;
  const p1 = await writePlot(linePlot({
    title: 'Risk over iterations: GD vs SAM (lines: closed form, dashed: Monte-Carlo)', subtitle: sub,
    xLabel: 'iteration (log scale)', yLabel: 'excess risk E[(w-w*)ᵀH(w-w*)]', logX: true, logY: true,
    series: [
      {name: 'GD, closed form', x: ks, y: closedForm.gd.risk.slice(1)},
      {name: 'SAM, closed form', x: ks, y: closedForm.sam.risk.slice(1)},
      {name: 'GD, Monte-Carlo', x: gk, y: at(mc.gd.risk), dashed: true, points: true},
      {name: 'SAM, Monte-Carlo', x: gk, y: at(mc.sam.risk), dashed: true, points: true},
    ],
  }), `${args.out}/risk`);
  const p2 = await writePlot(linePlot({
    title: 'Bias and variance (closed form)', subtitle: sub,
    xLabel: 'iteration (log scale)', yLabel: 'bias or variance (squared error)', logX: true, logY: true,
    series: [
      {name: 'GD bias', x: ks, y: closedForm.gd.bias.slice(1)},
      {name: 'SAM bias', x: ks, y: closedForm.sam.bias.slice(1)},
      {name: 'GD variance', x: ks, y: closedForm.gd.variance.slice(1), dashed: true},
      {name: 'SAM variance', x: ks, y: closedForm.sam.variance.slice(1), dashed: true},
    ],
  }), `${args.out}/bias_variance`);
  const p3 = await writePlot(linePlot({
    title: 'Is SAM just a larger step? Risk of four methods', subtitle: sub,
    xLabel: 'iteration (log scale)', yLabel: 'excess risk', logX: true, logY: true,
    series: [
      {name: 'GD, closed form', x: ks, y: closedForm.gd.risk.slice(1)},
      {name: 'SAM, closed form', x: ks, y: closedForm.sam.risk.slice(1)},
      {name: `GD step ${formatNumber(etaMatched, 3)}, closed form`, x: ks, y: closedForm.gdMatched.risk.slice(1)},
      {name: 'normalized SAM, Monte-Carlo', x: gk, y: at(mc.nsam.risk), dashed: true},
    ],
  }), `${args.out}/larger_step`);
  files.push(p1.png, p1.svg, p2.png, p2.svg, p3.png, p3.svg);

  // ---- report ----
  const [gdS, samS, matchedS, , , nsamS] = summary;
  const samWinsEarly = samS.bestRisk < gdS.bestRisk;
  const samEarlier = samS.bestIteration < gdS.bestIteration;
  const kProbe = Math.min(gdS.bestIteration, samS.bestIteration);
  const lowerBiasEverywhere = closedForm.sam.bias.every((b, k) => k === 0 || b <= closedForm.gd.bias[k] + 1e-15);
  // Last iteration up to which SAM's risk is strictly below GD's (closed form).
  let samAheadUntil = 0;
  while (samAheadUntil + 1 <= iterations && closedForm.sam.risk[samAheadUntil + 1] < closedForm.gd.risk[samAheadUntil + 1]) {
    samAheadUntil++;
  }
  const higherVarEverywhere = closedForm.sam.variance.every((vv, k) => vv >= closedForm.gd.variance[k] - 1e-15);
  const report = new Report("SAM's implicit regularization on least squares: GD vs SAM");
  report.machine({backend: 'none (float64 JavaScript)', seed, extra: {command:
      `npx tsx recipes/eval_sam_least_squares.ts${args.quick ? ' --quick' : ''} --seed ${seed}`}});
  report.text(`Least squares from w = 0 with d = ${d} features, n = ${n} samples, a spectrum of H = XᵀX/n ` +
      `log-uniform in [${LAMBDA_MIN}, 1], noise sigma = ${SIGMA}, w* ~ N(0, I). GD and un-normalized SAM ` +
      `(w ← w − η∇f(w + ρ∇f(w))) with η = ${ETA}, ρ = ${RHO}. The closed form per eigen-direction ` +
      '(equations in the header of recipes/eval_sam_least_squares.ts) gives bias, variance and risk at every ' +
      `iteration; a Monte-Carlo run over ${reps} noise draws iterates the algorithms on X and checks it.`);
  report.heading('Equations');
  report.code([
    'a_i = η λ_i (1 + ρ λ_i)   (GD: ρ = 0)',
    'Bias_k     = Σ_i λ_i θ_i² (1 − a_i)^(2k)        θ = Vᵀ w*',
    'Variance_k = (σ²/n) Σ_i (1 − (1 − a_i)^k)²',
    'Risk_k     = Bias_k + Variance_k',
  ].join('\n'));
  report.heading('Results');
  report.table(headers, rows);
  report.text(`Least-squares limit (k → ∞) for GD and SAM: σ²d/n = ${formatNumber(lsRisk)}.`);
  report.heading('Monte-Carlo check of the closed form');
  report.table(['method', 'max |MC − CF| / risk: bias', 'variance', 'risk'], [
    ['GD', agreement.gd.bias, agreement.gd.variance, agreement.gd.risk],
    ['SAM', agreement.sam.bias, agreement.sam.variance, agreement.sam.risk],
  ]);
  report.text(`Maximum over the ${grid.length} recorded iterations of the absolute difference divided by the ` +
      `closed-form risk at that iteration (the Monte-Carlo standard error is about sqrt(2/(${reps}·d_eff)) of ` +
      'the variance term, so a few percent is expected).');
  report.heading('Findings');
  report.bullets([
    `SAM's bias is ${lowerBiasEverywhere ? 'lower than or equal to' : 'NOT everywhere lower than'} GD's at every ` +
      `iteration and its variance ${higherVarEverywhere ? 'higher than or equal to' : 'NOT everywhere higher than'} ` +
      `GD's (closed form, measured over k = 1..${iterations}).`,
    `Best risk: SAM ${formatNumber(samS.bestRisk)} at iteration ${samS.bestIteration}, GD ${formatNumber(gdS.bestRisk)} ` +
      `at iteration ${gdS.bestIteration}: SAM ${samWinsEarly ? 'reaches a lower' : 'does NOT reach a lower'} best risk ` +
      `and reaches its best ${samEarlier ? 'earlier' : 'NOT earlier'}. At iteration ${kProbe}, SAM's risk is ` +
      `${formatNumber(closedForm.sam.risk[kProbe])} and GD's ${formatNumber(closedForm.gd.risk[kProbe])}.`,
    `SAM's risk is below GD's at every iteration from 1 to ${samAheadUntil} ` +
      `(GD's best is at ${gdS.bestIteration}): stopped at the same early iteration, SAM ${samAheadUntil > 0 ? 'wins' : 'does NOT win'}. ` +
      `Per gradient evaluation (SAM costs two) SAM reaches its best after ${samS.gradientsAtBest} and GD after ` +
      `${gdS.gradientsAtBest}.`,
    `Run to the end (${iterations} iterations) both approach σ²d/n = ${formatNumber(lsRisk)}; ` +
      `SAM ${samS.finalRisk <= gdS.finalRisk ? 'is not worse' : 'is worse'} there (${formatNumber(samS.finalRisk)} ` +
      `vs ${formatNumber(gdS.finalRisk)}), so SAM's advantage is an early-stopping advantage.`,
    `Against GD with a larger step η' = η(1 + ρλ_max) = ${formatNumber(etaMatched, 3)} (same contraction as SAM ` +
      `on the sharpest direction): best risk ${formatNumber(matchedS.bestRisk)} at iteration ` +
      `${matchedS.bestIteration}; SAM ${samS.bestRisk < matchedS.bestRisk ? 'still wins' : 'does NOT win'} ` +
      `(${formatNumber(samS.bestRisk)}). In this linear model SAM is GD preconditioned by (I + ρH).`,
    `Normalized SAM (the plugin's form, ρ_n = ${formatNumber(rhoN)}, the plugin's default), Monte-Carlo only: best risk ` +
      `${formatNumber(nsamS.bestRisk)} at iteration ${nsamS.bestIteration}, ${formatNumber(nsamS.finalRisk)} at the end ` +
      '(its perturbation does not vanish at the minimum, so it does not settle exactly on the least-squares solution).',
  ]);
  report.image('Risk over iterations', 'risk.png');
  report.image('Bias and variance', 'bias_variance.png');
  report.image('SAM vs a larger GD step', 'larger_step.png');
  files.push(report.write(args.out));
  const json = `${args.out}/results.json`;
  writeFileAtomic(json, JSON.stringify({seed, config: {d, n, iterations, reps, eta: ETA, rho: RHO, sigma: SIGMA,
    lambdaMin: LAMBDA_MIN, rhoNormalized: RHO_NORMALIZED}, summary, agreement, samAheadUntil}, null, 1));
  files.push(json);
  console.log(`report: ${args.out}/report.md`);
  return {outDir: args.out, seed, config: {d, n, iterations, reps, eta: ETA, rho: RHO, sigma: SIGMA}, grid,
    closedForm, monteCarlo: mc, agreement, summary, files};
}

if (isMain(import.meta.url)) runMain(main);
