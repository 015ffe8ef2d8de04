/**
 * Drives Debian's Chromium headless through playwright-core (Playwright's own browser downloads
 * are not reachable here): launch it, open the example page, wait for `window.__result`.
 * Used by the end-to-end test and by measure.ts. Node only.
 */
import { chromium, type Browser, type Page } from 'playwright-core';
import type { PageResult } from './manifest.ts';

/** Debian's package path; `.ci/install_browser.sh` installs it. Override with CHROMIUM_PATH. */
export const CHROMIUM_PATH = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

/**
 * Flags: headless without a sandbox (containers have no user namespaces) and without a GPU
 * (webgl then runs on SwiftShader, Chromium's CPU implementation); no background traffic, so the
 * only requests are the page's own.
 */
export const CHROMIUM_ARGS = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
  '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-quic',
] as const;

/** Launches Chromium; throws an Error that says what to install when it cannot start. */
export async function launchChromium(): Promise<Browser> {
  try {
    return await chromium.launch({ executablePath: CHROMIUM_PATH, args: [...CHROMIUM_ARGS], timeout: 30_000 });
  } catch (err) {
    throw new Error(
      `Cannot start Chromium at ${CHROMIUM_PATH} (${(err as Error).message.split('\n')[0]}). ` +
        'Install it with `.ci/install_browser.sh` (Debian package "chromium"), or set CHROMIUM_PATH.',
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
