// Shared headless-Chromium plumbing for approve-device.mjs and approve-web.mjs:
// how the browser is launched and which hosts a page may reach.

import { chromium } from 'playwright-core';

export const DEFAULT_CHROMIUM = '/usr/bin/chromium';

export const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

export function sleep(ms) { return new Promise((r) => { setTimeout(r, ms); }); }

export const short = (t) => (t.length > 300 ? `${t.slice(0, 300)}...` : t);

// eslint-disable-next-line no-control-regex
export const stripAnsi = (s) => String(s).replace(/\x1b\[[0-9;]*m/g, '');

export function isLoopbackHost(h) {
  return h === '127.0.0.1' || h === 'localhost' || h === '[::1]' || h === '::1';
}

// The IdP's own host and loopback only; non-network schemes (data:, blob:, about:)
// are fine.
export function isAllowedUrl(u, idpHostname) {
  let url;
  try { url = new URL(u); } catch { return false; }
  if (!['http:', 'https:'].includes(url.protocol)) return true;
  return url.hostname === idpHostname || isLoopbackHost(url.hostname);
}

// Throws when the browser cannot be started.
export function launchChromium(executablePath, timeoutMs) {
  return chromium.launch({
    executablePath,
    headless: true,
    timeout: timeoutMs,
    args: CHROMIUM_ARGS,
  });
}

// A fresh context + page that can only talk to the IdP (and loopback); e.g.
// oidc-provider's pages @import Google Fonts, which must not be fetched (and may
// hang without network). Dialogs are accepted.
export async function openRestrictedPage(browser, idpHostname) {
  const context = await browser.newContext({ viewport: { width: 800, height: 900 } });
  await context.route('**/*', (route) => (
    isAllowedUrl(route.request().url(), idpHostname) ? route.continue() : route.abort('blockedbyclient')
  ));
  const page = await context.newPage();
  page.setDefaultTimeout(10_000);
  page.on('dialog', (d) => d.accept().catch(() => {}));
  return { context, page };
}
