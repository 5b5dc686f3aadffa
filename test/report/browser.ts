// Opens generated reports in Debian's headless Chromium (playwright-core drives it; it never
// downloads a browser of its own) and records everything a reviewer would worry about:
// requests leaving file://, dialogs (alert = injected script ran), page errors.

import { existsSync } from 'node:fs';
import { chromium, type Browser, type Page } from 'playwright-core';

export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

export function chromiumAvailable(): boolean {
  return existsSync(CHROMIUM);
}

export async function launch(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    // A proxy that refuses everything: if the page tried the network it would fail, and we
    // would see the request in `requests` below.
    args: ['--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--proxy-server=127.0.0.1:9'],
  });
}

export interface OpenedPage {
  page: Page;
  requests: string[];
  dialogs: string[];
  errors: string[];
  console: string[];
}

export async function open(browser: Browser, url: string, viewport = { width: 1400, height: 1000 }): Promise<OpenedPage> {
  const page = await browser.newPage({ viewport });
  const o: OpenedPage = { page, requests: [], dialogs: [], errors: [], console: [] };
  page.on('request', (r) => o.requests.push(r.url()));
  page.on('dialog', (d) => { o.dialogs.push(d.message()); void d.dismiss(); });
  page.on('pageerror', (e) => o.errors.push(e.message));
  page.on('console', (m) => { if (m.type() === 'error' || m.type() === 'warning') o.console.push(m.text()); });
  await page.goto(url, { waitUntil: 'load' });
  return o;
}

export interface CanvasInk {
  id: string;
  width: number;
  height: number;
  /** pixels with non-zero alpha: a blank canvas has none */
  inked: number;
  drawn: boolean;
}

/** Counts painted pixels of every canvas, after the page's scripts ran. */
export async function canvasInk(page: Page): Promise<CanvasInk[]> {
  return page.evaluate(() => [...document.querySelectorAll('canvas')].map((c) => {
    const d = c.getContext('2d')!.getImageData(0, 0, c.width, c.height).data;
    let inked = 0;
    for (let i = 3; i < d.length; i += 4) if (d[i]) inked++;
    return { id: c.id, width: c.width, height: c.height, inked, drawn: c.getAttribute('data-drawn') === '1' };
  }));
}
