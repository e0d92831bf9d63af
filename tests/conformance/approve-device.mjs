#!/usr/bin/env node
// Drive a device-authorization verification page in headless Chromium and
// approve (or deny) a pending device code.
//
// Usage:
//   node approve-device.mjs <verification_uri> <user_code> [approve|deny] [--login <account>]
//
// Works against:
//   * oidc-provider (oidc-server.mjs): user-code form -> "Confirm Device" page
//     (Continue / [ Abort ]) -> devInteractions login (any login + password) ->
//     consent (if shown) -> "Sign-in Success". Deny = [ Abort ] on the confirm
//     page (or the Cancel link on login/consent), which re-renders the code form
//     with "The Sign-in request was interrupted".
//   * twg-dev-idp: GET /device has <input id="user_code"> + <button id="continue">;
//     /device?user_code=X has <button id="approve"> / <button id="deny">;
//     the result page says "Approved" or "Denied".
// The page kind is detected by selectors on every step, so either a plain
// verification_uri or a verification_uri_complete may be passed.
//
// Output: progress on stderr; the last stdout line is APPROVED or DENIED.
// Exit codes: 0 ok, 1 flow failed / unexpected outcome, 2 usage,
//             3 timeout, 4 browser could not be launched.
//
// Environment:
//   CHROMIUM            browser binary (default /usr/bin/chromium)
//   APPROVE_TIMEOUT     overall timeout, seconds (default 30)
//   SCREENSHOT          if set, write a PNG of the final page (success or failure) there
//   APPROVE_PASSWORD    password typed into oidc-provider's dev login (default "x")

import {
  DEFAULT_CHROMIUM, launchChromium, openRestrictedPage, short, sleep, stripAnsi,
} from './browser.mjs';

const started = Date.now();
const log = (msg) => process.stderr.write(`approve-device: ${msg}\n`);

function usage(msg) {
  if (msg) log(msg);
  process.stderr.write('usage: node approve-device.mjs <verification_uri> <user_code> [approve|deny] [--login <account>]\n');
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
if (positional.length < 2 || positional.length > 3) usage('expected 2 or 3 positional arguments');
const [verificationUri, userCode, modeArg = 'approve'] = positional;
if (!['approve', 'deny'].includes(modeArg)) usage(`mode must be approve or deny, not ${modeArg}`);
const mode = modeArg;
let target;
try {
  target = new URL(verificationUri);
} catch {
  usage(`not a URL: ${verificationUri}`);
}
if (!login) usage('--login must not be empty');

const TIMEOUT_MS = Math.round(Number(process.env.APPROVE_TIMEOUT || 30) * 1000);
const deadline = started + TIMEOUT_MS;
const STALL_MS = 10_000; // same document after an action for this long => fail
const CHROMIUM = process.env.CHROMIUM || DEFAULT_CHROMIUM;
const PASSWORD = process.env.APPROVE_PASSWORD || 'x';
const SCREENSHOT = process.env.SCREENSHOT || '';

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

// ---- page detection (runs inside the page) ----------------------------------------
function detect() {
  const q = (s) => document.querySelector(s);
  const base = {
    acted: Boolean(window.__twgActed),
    url: location.href,
    title: document.title,
    text: (document.body?.innerText || '').replace(/\s+/g, ' ').trim().slice(0, 2000),
  };
  if (document.readyState === 'loading' || !document.body) return { ...base, kind: 'loading' };
  const h1 = (q('h1')?.innerText || '').trim();
  // twg-dev-idp approve/deny page
  if (q('#approve') || q('#deny')) return { ...base, kind: 'twg-confirm' };
  // oidc-provider "Confirm Device" page
  if (q('form[id="op.deviceConfirmForm"]')) return { ...base, kind: 'op-confirm' };
  // user-code entry (twg-dev-idp or oidc-provider)
  const codeInput = q('input#user_code:not([type=hidden])')
    || q('form[id="op.deviceInputForm"] input[name=user_code]')
    || q('input[name=user_code]:not([type=hidden])');
  if (codeInput) {
    const err = q('p.red') || q('.error') || q('[role=alert]');
    return {
      ...base,
      kind: 'code-input',
      flavor: q('form[id="op.deviceInputForm"]') ? 'op' : 'twg',
      error: err ? err.innerText.trim() : '',
    };
  }
  // oidc-provider devInteractions pages
  if (q('input[name=prompt][value=login]') || (q('input[name=login]') && q('input[name=password]'))) {
    return { ...base, kind: 'op-login' };
  }
  if (q('input[name=prompt][value=consent]')) return { ...base, kind: 'op-consent' };
  if (/Sign-in Success/i.test(h1) || /Sign-in Success/i.test(document.title)) return { ...base, kind: 'op-success' };
  // twg-dev-idp result page
  if (/\bApproved\b/.test(base.text)) return { ...base, kind: 'approved' };
  if (/\bDenied\b/.test(base.text)) return { ...base, kind: 'denied' };
  if (/something went wrong|error/i.test(h1) || /\b(invalid_request|invalid_client|access_denied|server_error)\b/.test(base.text)) {
    return { ...base, kind: 'error-page' };
  }
  return { ...base, kind: 'unknown' };
}

// ---- main ------------------------------------------------------------------------
async function main() {
  log(`${mode} user_code=${userCode} at ${verificationUri}`);
  try {
    browser = await launchChromium(CHROMIUM, Math.min(20_000, remaining()));
  } catch (e) {
    await finish(4, { error: `could not launch ${CHROMIUM}: ${e.message.split('\n')[0]}` });
    return;
  }
  // Only talk to the IdP (and loopback); e.g. oidc-provider's pages @import Google
  // Fonts, which must not be fetched (and may hang without network).
  ({ page } = await openRestrictedPage(browser, target.hostname));

  lastStep = `open ${verificationUri}`;
  const resp = await page.goto(verificationUri, { waitUntil: 'domcontentloaded', timeout: remaining() });
  if (resp && resp.status() >= 400) log(`GET ${verificationUri} -> HTTP ${resp.status()}`);

  let codeSubmitted = 0;
  let denyClicked = false;
  let decided = false; // an approve/deny (or confirm/abort) button was clicked
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
    let s;
    try {
      s = await page.evaluate(detect);
    } catch {
      // navigation in progress (execution context destroyed) - retry
      await sleep(100);
      continue;
    }
    if (s.kind === 'loading') { await sleep(50); continue; }
    if (s.acted) {
      if (Date.now() - actedAt > STALL_MS) {
        await finish(1, { error: `page did not change after "${lastAction}" (${s.url}): ${short(s.text)}` });
        return;
      }
      await sleep(100);
      continue;
    }
    if (s.kind !== 'unknown') unknownSince = 0;
    // Once a decision button was clicked, an explicit result text wins over
    // whatever else the page offers (e.g. a result page that also shows a new
    // user-code form).
    if (decided && s.kind !== 'approved' && s.kind !== 'denied' && s.kind !== 'op-success') {
      if (/\bApproved\b/.test(s.text)) s.kind = 'approved';
      else if (/\bDenied\b/.test(s.text)) s.kind = 'denied';
    }

    switch (s.kind) {
      case 'code-input': {
        if (codeSubmitted > 0) {
          if (mode === 'deny' && denyClicked && /interrupted|denied|aborted/i.test(s.error || s.text)) {
            log(`result page: ${short(s.error || s.text)}`);
            await finish(0, { result: 'DENIED' });
            return;
          }
          if (codeSubmitted >= 2 || s.error) {
            await finish(1, { error: `user code rejected: ${short(s.error || s.text)}` });
            return;
          }
        }
        await act(`enter user code (${s.flavor})`, async () => {
          const input = s.flavor === 'op'
            ? page.locator('form[id="op.deviceInputForm"] input[name=user_code]')
            : page.locator('input#user_code:not([type=hidden]), input[name=user_code]:not([type=hidden])').first();
          await input.fill(userCode);
          const submit = page.locator([
            '#continue',
            'button[type=submit][form="op.deviceInputForm"]',
            'form:has(input[name=user_code]) [type=submit]',
          ].join(', ')).first();
          if (await submit.count()) {
            await submit.click({ timeout: remaining() });
          } else {
            await input.press('Enter');
          }
        });
        codeSubmitted += 1;
        break;
      }
      case 'twg-confirm': {
        const id = mode === 'approve' ? '#approve' : '#deny';
        await act(`click ${id}`, async () => {
          await page.locator(id).first().click({ timeout: remaining() });
        });
        if (mode === 'deny') denyClicked = true;
        decided = true;
        break;
      }
      case 'op-confirm': {
        if (mode === 'approve') {
          await act('confirm device (Continue)', async () => {
            await page.locator('button[type=submit][form="op.deviceConfirmForm"]:not([name=abort])').first()
              .click({ timeout: remaining() });
          });
        } else {
          await act('abort device (Abort)', async () => {
            await page.locator('button[name=abort]').first().click({ timeout: remaining() });
          });
          denyClicked = true;
        }
        decided = true;
        break;
      }
      case 'op-login': {
        if (mode === 'deny') {
          await act('cancel login', async () => {
            await page.locator('a[href*="/abort"]').first().click({ timeout: remaining() });
          });
          denyClicked = true;
          break;
        }
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
          denyClicked = true;
          break;
        }
        await act('grant consent', async () => {
          await page.locator('form:has(input[name=prompt][value=consent]) [type=submit]').first()
            .click({ timeout: remaining() });
        });
        break;
      }
      case 'op-success':
      case 'approved': {
        log(`result page: ${short(s.text)}`);
        if (mode !== 'approve') {
          await finish(1, { error: `asked to deny but the page says approved: ${short(s.text)}` });
        } else {
          await finish(0, { result: 'APPROVED' });
        }
        return;
      }
      case 'denied': {
        log(`result page: ${short(s.text)}`);
        if (mode !== 'deny') {
          await finish(1, { error: `asked to approve but the page says denied: ${short(s.text)}` });
        } else {
          await finish(0, { result: 'DENIED' });
        }
        return;
      }
      case 'error-page': {
        await finish(1, { error: `error page at ${s.url}: ${short(s.text)}` });
        return;
      }
      default: {
        // e.g. oidc-provider's auto-submitting form_post page for
        // verification_uri_complete: give it a moment to move on.
        if (!unknownSince) {
          unknownSince = Date.now();
          lastStep = `waiting on unrecognised page ${s.url}`;
        }
        if (Date.now() - unknownSince > 5000) {
          await finish(1, { error: `unrecognised page at ${s.url} (title "${s.title}"): ${short(s.text)}` });
          return;
        }
        await sleep(100);
      }
    }
  }
}

main().catch((e) => finish(1, { error: e?.message ? e.message.split('\n').slice(0, 3).join(' | ') : String(e) }));
