/**
 * Drives Chromium headless through playwright-core (Playwright's own browser downloads are not
 * reachable here; chromium.ts finds one): launch it, open the example page, wait for
 * `window.__result`.
 * Used by the end-to-end test and by measure.ts. Node only.
 */
import { chromium, type Browser, type Page } from 'playwright-core';
import type { PageResult } from './manifest.ts';
import { findChromium } from './chromium.ts';

/**
 * Flags: headless without a sandbox (containers have no user namespaces) and without a GPU
 * (webgl then runs on SwiftShader, Chromium's CPU implementation); no background traffic, so the
 * only requests are the page's own.
 */
export const CHROMIUM_ARGS = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
  '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-quic',
] as const;

/**
 * Launches Chromium (Debian's, or the one inside the @sparticuz/chromium dev dependency: see
 * chromium.ts); throws an Error that says which one failed and why.
 */
export async function launchChromium(): Promise<Browser> {
  const found = await findChromium();
  try {
    return await chromium.launch({
      executablePath: found.executablePath,
      args: [...CHROMIUM_ARGS, ...found.args],
      env: { ...process.env, ...found.env } as Record<string, string>,
      timeout: 30_000,
    });
  } catch (err) {
    throw new Error(
      `Cannot start Chromium at ${found.executablePath} (${found.source}): ${(err as Error).message.split('\n')[0]}. ` +
        'Run npm install (it brings @sparticuz/chromium), or set CHROMIUM_PATH to a Chromium binary.',
    );
  }
}

export interface PageRun {
  result: PageResult;
  /** Uncaught errors and console.error messages seen on the page. */
  errors: string[];
  page: Page;
}

/**
 * Opens `url` in a new page and waits for `window.__result` (at most `timeoutMs`). `beforeGoto`
 * may prepare the page first (e.g. throttle its network). The caller closes `run.page` (after a
 * screenshot, for instance).
 */
export async function runPage(
  browser: Browser, url: string, timeoutMs = 30_000, beforeGoto?: (page: Page) => Promise<void>,
): Promise<PageRun> {
  const page = await browser.newPage({ viewport: { width: 1000, height: 640 } });
  await beforeGoto?.(page);
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(`pageerror: ${e.message}`));
  page.on('console', (m) => { if (m.type() === 'error') errors.push(`console.error: ${m.text()}`); });
  await page.goto(url);
  try {
    await page.waitForFunction(() => (window as { __result?: unknown }).__result !== undefined, undefined, { timeout: timeoutMs });
  } catch (err) {
    const status = await page.locator('#status').textContent().catch(() => '?');
    throw new Error(`The page at ${url} did not publish window.__result within ${timeoutMs} ms (status: ${status}; errors: ${errors.join(' | ') || 'none'}).`);
  }
  const result = (await page.evaluate(() => (window as { __result?: unknown }).__result)) as PageResult;
  return { result, errors, page };
}

/**
 * Throttles a page's network through the Chrome DevTools Protocol (Chromium only): download
 * bandwidth in Mbit/s and round-trip latency in ms, as Chrome's "network throttling" does.
 */
export async function throttle(page: Page, mbitPerSecond: number, latencyMs: number): Promise<void> {
  const cdp = await page.context().newCDPSession(page);
  await cdp.send('Network.enable');
  await cdp.send('Network.emulateNetworkConditions', {
    offline: false,
    latency: latencyMs,
    downloadThroughput: (mbitPerSecond * 1e6) / 8,
    uploadThroughput: (mbitPerSecond * 1e6) / 8,
  });
}
