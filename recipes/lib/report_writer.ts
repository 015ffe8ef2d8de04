/**
 * Builds a recipe's report.md and writes it atomically (temp file + rename) into the output folder.
 *
 * API (stable):
 *   const r = new Report(title: string)
 *   r.machine({backend, seed, extra?})   the "Machine: ... | Backend: ... | Seed: ..." line (CPU model, cores, Node)
 *   r.heading(text, level = 2)  r.text(paragraph)  r.bullets(items)  r.code(text, lang = '')
 *   r.table(headers: string[], rows: Array<Array<string | number>>, digits = 4)   markdown table
 *   r.image(alt, fileName)      embeds `![alt](fileName)` (fileName relative to the report, e.g. 'risk.png')
 *   r.toMarkdown(): string
 *   r.write(outDir): string     writes <outDir>/report.md atomically, returns its path
 *   machineDescription(): string          e.g. "AMD EPYC 7B13, 2 cores, 7.8 GB RAM, Node v20.11.0, linux x64"
 *   formatNumber(v, digits = 4): string   compact numbers for tables (NaN -> 'n/a')
 *   writeFileAtomic(path, data): void
 *
 * @example
 *   const r = new Report('Label noise: Adam vs SAM vs mSAM');
 *   r.machine({backend: tf.getBackend(), seed: 0});
 *   r.table(['method', 'accuracy'], [['Adam', 0.9712]]);
 *   r.image('accuracy by noise level', 'accuracy.png');
 *   r.write('out/eval_label_noise');
 */
import {cpus, totalmem} from 'node:os';
import {mkdirSync, renameSync, writeFileSync} from 'node:fs';
import {dirname, join} from 'node:path';

/** Writes a file via a temporary sibling and a rename, so readers never see a half-written file. */
export function writeFileAtomic(path: string, data: string | Uint8Array): void {
  mkdirSync(dirname(path), {recursive: true});
  const tmp = `${path}.tmp-${process.pid}-${Date.now()}`;
  writeFileSync(tmp, data);
  renameSync(tmp, path);
}

/** CPU model, core count, memory, Node version and platform. */
export function machineDescription(): string {
  const c = cpus();
  const model = c.length > 0 ? c[0].model.replace(/\s+/g, ' ').trim() : 'unknown CPU';
  const mem = (totalmem() / 2 ** 30).toFixed(1);
  return `${model}, ${c.length} cores, ${mem} GB RAM, Node ${process.version}, ${process.platform} ${process.arch}`;
}

/** Compact number formatting for tables: integers as is, others to `digits` significant decimals. */
export function formatNumber(v: number, digits = 4): string {
  if (!Number.isFinite(v)) return Number.isNaN(v) ? 'n/a' : String(v);
  if (Number.isInteger(v) && Math.abs(v) < 1e9) return String(v);
  const a = Math.abs(v);
  if (a !== 0 && (a < 1e-3 || a >= 1e6)) return v.toExponential(Math.max(1, digits - 1));
  return v.toFixed(digits);
}

function cell(v: string | number, digits: number): string {
  const s = typeof v === 'number' ? formatNumber(v, digits) : v;
  return s.replace(/\|/g, '\\|').replace(/\n/g, ' ');
}

export class Report {
  private readonly parts: string[] = [];

  constructor(readonly title: string) {
    this.parts.push(`# ${title}\n`);
  }

  /** Adds the machine / backend / seed line (and any extra key: value pairs). */
  machine(info: {backend: string; seed: number | string; extra?: Record<string, string | number>}): this {
    const extra = Object.entries(info.extra ?? {}).map(([k, v]) => ` | ${k}: ${v}`).join('');
    this.parts.push(`Machine: ${machineDescription()} | Backend: ${info.backend} | Seed: ${info.seed}${extra} | ` +
        `Date: ${new Date().toISOString()}\n`);
    return this;
  }

  heading(text: string, level = 2): this {
    this.parts.push(`${'#'.repeat(level)} ${text}\n`);
    return this;
  }

  text(paragraph: string): this {
    this.parts.push(`${paragraph.trim()}\n`);
    return this;
  }

  bullets(items: string[]): this {
    this.parts.push(`${items.map((s) => `- ${s}`).join('\n')}\n`);
    return this;
  }

  code(text: string, lang = ''): this {
    this.parts.push(`\`\`\`${lang}\n${text.trimEnd()}\n\`\`\`\n`);
    return this;
  }

  /** A markdown table; numbers are formatted with `formatNumber(v, digits)`. */
  table(headers: string[], rows: Array<Array<string | number>>, digits = 4): this {
    for (const r of rows) {
      if (r.length !== headers.length) {
        throw new Error(`Report.table: a row has ${r.length} cells but there are ${headers.length} headers.`);
      }
    }
    const lines = [
      `| ${headers.map((h) => cell(h, digits)).join(' | ')} |`,
      `| ${headers.map(() => '---').join(' | ')} |`,
      ...rows.map((r) => `| ${r.map((v) => cell(v, digits)).join(' | ')} |`),
    ];
    this.parts.push(`${lines.join('\n')}\n`);
    return this;
  }

  /** Embeds an image given relative to the report folder, e.g. 'risk.png'. */
  image(alt: string, fileName: string): this {
    this.parts.push(`![${alt}](${fileName})\n`);
    return this;
  }

  toMarkdown(): string {
    return this.parts.join('\n');
  }

  /** Writes `<outDir>/report.md` atomically and returns its path. */
  write(outDir: string): string {
    const path = join(outDir, 'report.md');
    writeFileAtomic(path, this.toMarkdown());
    return path;
  }
}

/** Renders a plain-text table for the console (aligned columns), same inputs as Report.table. */
export function consoleTable(headers: string[], rows: Array<Array<string | number>>, digits = 4): string {
  const cells = [headers, ...rows.map((r) => r.map((v) => (typeof v === 'number' ? formatNumber(v, digits) : v)))];
  const widths = headers.map((_, j) => Math.max(...cells.map((r) => String(r[j]).length)));
  const fmt = (r: Array<string | number>) => r.map((v, j) => String(v).padEnd(widths[j])).join('  ');
  return [fmt(cells[0]), widths.map((w) => '-'.repeat(w)).join('  '), ...cells.slice(1).map(fmt)].join('\n');
}
