#!/usr/bin/env node
// Drive an OAuth authorization-code flow in headless Chromium: open the
// authorization URL, log in / consent (or deny), and follow the IdP's redirect to
// the client's loopback redirect URI.
//
// Usage:
//   node approve-web.mjs <authorization_url> [approve|deny] [--login <account>]
//
// Works against:
//   * oidc-provider (oidc-server.mjs): devInteractions login (any login + password)
//     -> consent page ("Continue"; always shown with prompt=consent) -> 303 to the
//     redirect URI. Deny = the "[ Cancel ]" (/abort) link on the login or consent page.
//   * twg-dev-idp: a consent page with <button id="approve"> / <button id="deny">
//     in a form; the dev IdP then 303-redirects to the redirect URI.
// The page kind is detected by selectors on every step.
//
// "Landed" = the main frame reached the redirect URI: a URL with the origin and path
// of the request's redirect_uri parameter, or any http(s) loopback URL whose origin
// is not the IdP's. It counts once that page has loaded (the client's listener
// answered, e.g. with a "return to your terminal" page).
//
// Output: progress on stderr. The last stdout line is
//   REDIRECTED <url>                 landed (exit 0 if approve and the URL has code=,
//                                    or deny and error=access_denied; exit 1 otherwise)
//   REDIRECTED <url> (unreachable)   the IdP redirected there but nothing answered
//                                    (connection refused etc.): exit 5
// Nothing on stdout when the browser never got to the redirect URI.
// Exit codes: 0 ok, 1 flow failed / IdP error page / wrong outcome, 2 usage,
//             3 timeout, 4 browser could not be launched, 5 redirect target unreachable.
//
// Environment:
//   CHROMIUM            browser binary (default /usr/bin/chromium)
//   APPROVE_TIMEOUT     overall timeout, seconds (default 30)
//   SCREENSHOT          if set, write a PNG of the final page (success or failure) there
//   APPROVE_PASSWORD    password typed into oidc-provider's dev login (default "x")

import {
  DEFAULT_CHROMIUM, isLoopbackHost, launchChromium, openRestrictedPage, short, sleep, stripAnsi,
} from './browser.mjs';

const started = Date.now();
const log = (msg) => process.stderr.write(`approve-web: ${msg}\n`);

function usage(msg) {
  if (msg) log(msg);
  process.stderr.write('usage: node approve-web.mjs <authorization_url> [approve|deny] [--login <account>]\n');
  process.exit(2);
}

// ---- arguments ---------------------------------------------------------------
const positional = [];
let login = 'conformance-user';
{
  const argv = process.argv.slice(2);
  for (let i = 0; i < argv.length; i += 1) {
    const a = argv[i];
    if (a === '--login') {
      if (i + 1 >= argv.length) usage('--login needs a value');
      login = argv[(i += 1)];
    } else if (a.startsWith('--login=')) {
      login = a.slice('--login='.length);
    } else if (a === '-h' || a === '--help') {
      usage();
    } else if (a.startsWith('--')) {
      usage(`unknown option ${a}`);
    } else {
      positional.push(a);
    }
  }
}
if (positional.length < 1 || positional.length > 2) usage('expected 1 or 2 positional arguments');
const [authorizationUrl, modeArg = 'approve'] = positional;
if (!['approve', 'deny'].includes(modeArg)) usage(`mode must be approve or deny, not ${modeArg}`);
const mode = modeArg;
let target;
try {
  target = new URL(authorizationUrl);
} catch {
  usage(`not a URL: ${authorizationUrl}`);
}
if (!['http:', 'https:'].includes(target.protocol)) usage(`not an http(s) URL: ${authorizationUrl}`);
if (!login) usage('--login must not be empty');

// The redirect URI the request asks for (absent e.g. with PAR): its origin + path.
let redirectTarget = null;
{
  const ru = target.searchParams.get('redirect_uri');
  if (ru) {
    try {
      const u = new URL(ru);
      redirectTarget = { origin: u.origin, pathname: u.pathname };
    } catch { /* not a URL: the IdP will complain */ }
  }
}

const TIMEOUT_MS = Math.round(Number(process.env.APPROVE_TIMEOUT || 30) * 1000);
const deadline = started + TIMEOUT_MS;
const STALL_MS = 10_000; // same document after an action for this long => fail
const UNKNOWN_MS = 5_000; // unrecognised IdP page for this long => fail
const CHROMIUM = process.env.CHROMIUM || DEFAULT_CHROMIUM;
const PASSWORD = process.env.APPROVE_PASSWORD || 'x';
const SCREENSHOT = process.env.SCREENSHOT || '';

function isLanded(u) {
  let url;
  try { url = new URL(u); } catch { return false; }
  if (!['http:', 'https:'].includes(url.protocol)) return false;
  if (redirectTarget && url.origin === redirectTarget.origin && url.pathname === redirectTarget.pathname) return true;
  return isLoopbackHost(url.hostname) && url.origin !== target.origin;
}

// ---- browser lifetime / exit handling ----------------------------------------
let browser;
let page;
let lastStep = 'start';
let finished = false;

async function screenshot() {
  if (!SCREENSHOT || !page) return;
  try {
    await page.screenshot({ path: SCREENSHOT, fullPage: true, timeout: 3000 });
    log(`screenshot written to ${SCREENSHOT}`);
  } catch (e) {
    log(`screenshot failed: ${e.message.split('\n')[0]}`);
  }
}

async function finish(code, { result, error } = {}) {
  if (finished) return;
  finished = true;
  clearTimeout(watchdog);
  await screenshot();
  if (error) log(`FAILED: ${stripAnsi(error)}`);
  try {
    await Promise.race([browser?.close(), sleep(3000)]);
  } catch { /* ignore */ }
  log(`${code === 0 ? 'done' : 'gave up'} in ${Date.now() - started} ms`);
  if (result) process.stdout.write(`${result}\n`);
  process.exit(code);
}

const watchdog = setTimeout(() => {
  finish(3, { error: `timed out after ${TIMEOUT_MS / 1000}s (last step: ${lastStep})` });
}, TIMEOUT_MS);

process.on('unhandledRejection', (e) => finish(1, { error: `unexpected error: ${e?.stack || e}` }));

const remaining = () => Math.max(0, deadline - Date.now());

// The authorization response parameters of a landed URL (query, or fragment for
// response_mode=fragment).
function responseParams(u) {
  const url = new URL(u);
  const p = new URLSearchParams(url.search);
  if (url.hash.length > 1) {
    for (const [k, v] of new URLSearchParams(url.hash.slice(1))) if (!p.has(k)) p.set(k, v);
  }
  return p;
}

async function landed(url, how) {
  const p = responseParams(url);
  const summary = ['code', 'error', 'error_description', 'state', 'iss']
    .filter((k) => p.has(k))
    .map((k) => `${k}=${k === 'code' ? '...' : p.get(k)}`)
    .join(' ');
  log(`landed on the redirect URI (${how}): ${summary || '(no response parameters)'}`);
  const result = `REDIRECTED ${url}`;
  if (mode === 'approve' && !p.has('code')) {
    await finish(1, { result, error: `asked to approve but the redirect has no code (${summary})` });
  } else if (mode === 'approve' && p.has('error')) {
    await finish(1, { result, error: `asked to approve but the redirect has an error (${summary})` });
  } else if (mode === 'deny' && p.get('error') !== 'access_denied') {
    await finish(1, { result, error: `asked to deny but the redirect is not error=access_denied (${summary})` });
  } else {
    await finish(0, { result });
  }
}

// ---- page detection (runs inside the page) ----------------------------------------
function detect() {
  const q = (s) => document.querySelector(s);
  const nav = performance.getEntriesByType('navigation')[0];
  const base = {
    acted: Boolean(window.__twgActed),
    url: location.href,
    title: document.title,
    status: nav?.responseStatus || 0,
    text: (document.body?.innerText || '').replace(/\s+/g, ' ').trim().slice(0, 2000),
  };
  if (document.readyState === 'loading' || !document.body) return { ...base, kind: 'loading' };
  const h1 = (q('h1')?.innerText || '').trim();
  // twg-dev-idp consent page
  if (q('#approve') || q('#deny')) return { ...base, kind: 'twg-consent' };
  // oidc-provider devInteractions pages
  if (q('input[name=prompt][value=login]') || (q('input[name=login]') && q('input[name=password]'))) {
    return { ...base, kind: 'op-login' };
  }
  if (q('input[name=prompt][value=consent]')) return { ...base, kind: 'op-consent' };
  if (base.status >= 400
    || /something went wrong|error/i.test(h1) || /error/i.test(document.title)
    || /\b(invalid_request|invalid_client|invalid_scope|invalid_redirect_uri|unauthorized_client|unsupported_response_type|access_denied|server_error|temporarily_unavailable)\b/.test(base.text)) {
    return { ...base, kind: 'error-page' };
  }
  return { ...base, kind: 'unknown' };
}

// ---- main ------------------------------------------------------------------------
async function main() {
  log(`${mode} at ${authorizationUrl}`);
  log(`redirect URI: ${redirectTarget ? `${redirectTarget.origin}${redirectTarget.pathname}` : '(none in the URL)'}`);
  try {
    browser = await launchChromium(CHROMIUM, Math.min(20_000, remaining()));
  } catch (e) {
    await finish(4, { error: `could not launch ${CHROMIUM}: ${e.message.split('\n')[0]}` });
    return;
  }
  ({ page } = await openRestrictedPage(browser, target.hostname));

  // Main-frame navigations to the redirect URI: did the listener answer at all?
  const answered = new Set(); // landed URLs that got an HTTP response
  let failedNav = null; // { url, error, landed }
  page.on('response', (resp) => {
    const req = resp.request();
    if (req.isNavigationRequest() && req.frame() === page.mainFrame() && isLanded(resp.url())) {
      answered.add(resp.url());
      log(`redirect URI answered HTTP ${resp.status()}`);
    }
  });
  page.on('requestfailed', (req) => {
    if (!req.isNavigationRequest() || req.frame() !== page.mainFrame()) return;
    const error = req.failure()?.errorText || 'failed';
    const url = req.url();
    if (!isLanded(url) && error === 'net::ERR_ABORTED') return; // superseded navigation
    failedNav = { url, error, landed: isLanded(url) };
  });

  lastStep = `open ${authorizationUrl}`;
  try {
    const resp = await page.goto(authorizationUrl, { waitUntil: 'domcontentloaded', timeout: remaining() });
    if (resp && resp.status() >= 400) log(`GET ${authorizationUrl} -> HTTP ${resp.status()}`);
  } catch (e) {
    // e.g. the IdP redirected straight to an unreachable redirect URI; handled below
    if (!failedNav) throw e;
  }

  let loginCount = 0;
  let actedAt = 0;
  let lastAction = '';
  let unknownSince = 0;

  // Mark the current document as handled, then perform the action.
  const act = async (what, fn) => {
    lastStep = what;
    lastAction = what;
    log(`step: ${what}`);
    await page.evaluate(() => { window.__twgActed = true; });
    actedAt = Date.now();
    await fn();
  };

  for (;;) {
    if (remaining() === 0) return; // watchdog will fire
    if (failedNav) {
      const { url, error } = failedNav;
      if (failedNav.landed && answered.has(url)) {
        // The listener answered but Chromium did not show a page (e.g. 204).
        await landed(url, `answered, but no page was shown: ${error}`);
      } else if (failedNav.landed) {
        log(`redirect URI unreachable: ${error}`);
        await finish(5, { result: `REDIRECTED ${url} (unreachable)`, error: `nothing answered at ${url} (${error})` });
      } else {
        await finish(1, { error: `navigation to ${url} failed: ${error}` });
      }
      return;
    }
    let s;
    try {
      s = await page.evaluate(detect);
    } catch {
      // navigation in progress (execution context destroyed) - retry
      await sleep(100);
      continue;
    }
    if (s.url.startsWith('chrome-error:')) { await sleep(50); continue; } // requestfailed is on its way
    if (s.kind === 'loading') { await sleep(50); continue; }
    if (isLanded(s.url)) {
      await landed(s.url, `HTTP ${s.status || '?'}, page "${short(s.title || s.text)}"`);
      return;
    }
    if (s.acted) {
      if (Date.now() - actedAt > STALL_MS) {
        await finish(1, { error: `page did not change after "${lastAction}" (${s.url}): ${short(s.text)}` });
        return;
      }
      await sleep(100);
      continue;
    }
    if (s.kind !== 'unknown') unknownSince = 0;

    switch (s.kind) {
      case 'twg-consent': {
        const id = mode === 'approve' ? '#approve' : '#deny';
        await act(`click ${id}`, async () => {
          await page.locator(id).first().click({ timeout: remaining() });
        });
        break;
      }
      case 'op-login': {
        if (mode === 'deny') {
          await act('cancel login', async () => {
            await page.locator('a[href*="/abort"]').first().click({ timeout: remaining() });
          });
          break;
        }
        if (loginCount >= 2) {
          await finish(1, { error: `login page shown again after logging in: ${short(s.text)}` });
          return;
        }
        loginCount += 1;
        await act(`log in as ${login}`, async () => {
          await page.locator('input[name=login]').fill(login);
          await page.locator('input[name=password]').fill(PASSWORD);
          await page.locator('form:has(input[name=login]) [type=submit]').first().click({ timeout: remaining() });
        });
        break;
      }
      case 'op-consent': {
        if (mode === 'deny') {
          await act('cancel consent', async () => {
            await page.locator('a[href*="/abort"]').first().click({ timeout: remaining() });
          });
          break;
        }
        await act('grant consent', async () => {
          await page.locator('form:has(input[name=prompt][value=consent]) [type=submit]').first()
            .click({ timeout: remaining() });
        });
        break;
      }
      case 'error-page': {
        await finish(1, { error: `error page at ${s.url} (HTTP ${s.status || '?'}): ${short(s.text)}` });
        return;
      }
      default: {
        // e.g. an auto-submitting form_post page: give it a moment to move on.
        if (!unknownSince) {
          unknownSince = Date.now();
          lastStep = `waiting on unrecognised page ${s.url}`;
        }
        if (Date.now() - unknownSince > UNKNOWN_MS) {
          await finish(1, { error: `unrecognised page at ${s.url} (title "${s.title}"): ${short(s.text)}` });
          return;
        }
        await sleep(100);
      }
    }
  }
}

main().catch((e) => finish(1, { error: e?.message ? e.message.split('\n').slice(0, 3).join(' | ') : String(e) }));
