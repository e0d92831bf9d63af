#!/usr/bin/env node
// End-to-end self-test of the authorization-code flow pieces: oidc-server.mjs's
// confidential web client + approve-web.mjs, with a stand-in for twg's loopback
// listener (no twg involved). Run from anywhere: node tests/conformance/webflow-selftest.mjs
//
// For each of client_secret_basic and client_secret_post (one server each) it checks
// discovery, PKCE enforcement, a full login (code + state + iss on the callback), the
// code exchange and its failure modes, refresh rotation and reuse detection, a
// redirect_uri differing in port (error page, no redirect), deny, and an unreachable
// redirect target. Then approve-web.mjs against a mock of twg-dev-idp's consent page,
// lax mode (WEB_AUTH_STRICT=0) and a bad WEB_REDIRECT_URI.
//
// Output: progress on stderr; "WEBFLOW SELFTEST OK" on stdout and exit 0, or
// "WEBFLOW SELFTEST FAILED: ..." (plus the server's log) and exit 1.

import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { createServer } from 'node:http';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const HERE = dirname(fileURLToPath(import.meta.url));
const WEB_CLIENT_ID = 'twg-web';
const DEVICE_CLIENT_ID = 'twg-conformance';
const started = Date.now();

const say = (msg) => process.stderr.write(`${msg}\n`);
const section = (msg) => say(`\n== ${msg}`);
class Failure extends Error {}
function check(cond, msg) {
  if (!cond) throw new Failure(msg);
  say(`  ok: ${msg}`);
}
const b64url = (buf) => Buffer.from(buf).toString('base64url');

// ---- processes -----------------------------------------------------------------
const children = new Set();
function cleanup() {
  for (const c of children) { try { c.kill('SIGKILL'); } catch { /* gone */ } }
}
process.on('exit', cleanup);
for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => { cleanup(); process.exit(130); });

let currentServerLog = null; // array of stderr chunks of the running oidc-server

async function startOidcServer(env) {
  const proc = spawn(process.execPath, [join(HERE, 'oidc-server.mjs')], {
    env: { ...process.env, OIDC_QUIET: '', ...env }, stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.add(proc);
  const logBuf = [];
  currentServerLog = logBuf;
  proc.stderr.on('data', (d) => logBuf.push(d.toString()));
  let out = '';
  const exited = new Promise((resolve) => { proc.on('exit', (code, signal) => { children.delete(proc); resolve({ code, signal }); }); });
  const issuer = await new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Failure('oidc-server did not print OIDC_ISSUER within 10 s')), 10_000);
    proc.stdout.on('data', (d) => {
      out += d.toString();
      const m = /^OIDC_ISSUER=(\S+)\n/m.exec(out);
      if (m) { clearTimeout(t); resolve(m[1]); }
    });
    exited.then(({ code }) => { clearTimeout(t); reject(new Failure(`oidc-server exited with ${code} before it was ready`)); });
  });
  return {
    issuer,
    proc,
    log: logBuf,
    exited,
    async stop() {
      proc.kill('SIGTERM');
      const r = await Promise.race([exited, new Promise((res) => { setTimeout(() => res(null), 3000); })]);
      check(r && r.code === 0, `oidc-server exits 0 on SIGTERM (got ${JSON.stringify(r)})`);
      currentServerLog = null;
    },
  };
}

// Stand-in for twg's loopback listener: records every request but the browser's own
// /favicon.ico (which Chromium may or may not ask for), answers HTML.
async function startListener(port = 0) {
  const hits = [];
  const server = createServer((req, res) => {
    if (new URL(req.url, 'http://127.0.0.1').pathname === '/favicon.ico') {
      res.writeHead(404, { connection: 'close' });
      res.end();
      return;
    }
    hits.push(req.url);
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', connection: 'close' });
    res.end('<!DOCTYPE html><html><head><title>twg</title></head><body><p>Signed in. Return to your terminal.</p></body></html>');
  });
  await new Promise((resolve, reject) => { server.once('error', reject); server.listen(port, '127.0.0.1', resolve); });
  return {
    port: server.address().port,
    hits,
    close: () => new Promise((resolve) => { server.closeAllConnections?.(); server.close(resolve); }),
  };
}

function run(args, { timeoutMs = 60_000, env = {} } = {}) {
  return new Promise((resolve) => {
    const proc = spawn(process.execPath, args, { cwd: HERE, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    children.add(proc);
    let stdout = '';
    let stderr = '';
    proc.stdout.on('data', (d) => { stdout += d; });
    proc.stderr.on('data', (d) => { stderr += d; });
    const t = setTimeout(() => proc.kill('SIGKILL'), timeoutMs);
    proc.on('exit', (code, signal) => {
      clearTimeout(t);
      children.delete(proc);
      const lines = stdout.trim().split('\n').filter(Boolean);
      resolve({ code, signal, stdout, stderr, last: lines[lines.length - 1] || '' });
    });
  });
}

async function approveWeb(url, mode = 'approve', extra = []) {
  const t0 = Date.now();
  const r = await run([join(HERE, 'approve-web.mjs'), url, mode, ...extra]);
  say(`  approve-web ${mode} -> exit ${r.code} in ${Date.now() - t0} ms; stdout: ${r.last || '(none)'}`);
  say(r.stderr.trimEnd().split('\n').map((l) => `    | ${l}`).join('\n'));
  return r;
}

// ---- OAuth helpers -------------------------------------------------------------
function newPkce() {
  const verifier = b64url(randomBytes(32));
  return { verifier, challenge: b64url(createHash('sha256').update(verifier).digest()) };
}

function authorizationUrl(disc, {
  redirectUri, state, challenge, prompt = 'consent', scope = 'openid offline_access', method = 'S256', clientId = WEB_CLIENT_ID,
}) {
  const u = new URL(disc.authorization_endpoint);
  const p = {
    response_type: 'code', client_id: clientId, redirect_uri: redirectUri, scope, state,
  };
  if (challenge !== undefined) { p.code_challenge = challenge; p.code_challenge_method = method; }
  if (prompt) p.prompt = prompt;
  for (const [k, v] of Object.entries(p)) u.searchParams.set(k, v);
  return u.href;
}

// auth: { method: 'client_secret_basic' | 'client_secret_post' | 'none', secret }
async function tokenRequest(endpoint, params, auth) {
  const headers = { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' };
  const body = new URLSearchParams(params);
  if (auth.method === 'client_secret_basic') {
    const enc = (s) => encodeURIComponent(s).replace(/%20/g, '+');
    headers.authorization = `Basic ${Buffer.from(`${enc(WEB_CLIENT_ID)}:${enc(auth.secret)}`).toString('base64')}`;
  } else if (auth.method === 'client_secret_post') {
    body.set('client_id', WEB_CLIENT_ID);
    body.set('client_secret', auth.secret);
  } else {
    body.set('client_id', auth.clientId || WEB_CLIENT_ID);
  }
  const res = await fetch(endpoint, { method: 'POST', headers, body });
  const text = await res.text();
  let json = {};
  try { json = text ? JSON.parse(text) : {}; } catch { json = { raw: text }; }
  return { status: res.status, json };
}

const OTHER = { client_secret_basic: 'client_secret_post', client_secret_post: 'client_secret_basic' };

// ---- one full run per client authentication method ---------------------------------
async function runForMethod(method, { withNoPromptCheck }) {
  section(`web client with ${method}`);
  const listener = await startListener();
  const redirectUri = `http://127.0.0.1:${listener.port}/callback`;
  const secret = b64url(randomBytes(24));
  const server = await startOidcServer({
    WEB_CLIENT_ID, WEB_CLIENT_SECRET: secret, WEB_REDIRECT_URI: redirectUri, WEB_AUTH_METHOD: method,
  });
  const { issuer } = server;
  say(`  issuer ${issuer}, redirect_uri ${redirectUri}`);
  const good = { method, secret };

  // discovery
  const disc = await (await fetch(`${issuer}/.well-known/openid-configuration`)).json();
  say(`  token_endpoint_auth_methods_supported=${JSON.stringify(disc.token_endpoint_auth_methods_supported)}`
    + ` code_challenge_methods_supported=${JSON.stringify(disc.code_challenge_methods_supported)}`
    + ` authorization_response_iss_parameter_supported=${disc.authorization_response_iss_parameter_supported}`);
  check(JSON.stringify(disc.token_endpoint_auth_methods_supported) === JSON.stringify(['none', method]),
    `discovery advertises exactly ["none","${method}"]`);
  check(JSON.stringify(disc.code_challenge_methods_supported) === '["S256"]', 'code_challenge_methods_supported is ["S256"]');
  check(disc.authorization_response_iss_parameter_supported === true, 'authorization_response_iss_parameter_supported is true');
  check(disc.issuer === issuer, 'issuer matches');

  // PKCE enforcement (no browser needed: the request is rejected before any login)
  for (const [what, extra] of [['no code_challenge', {}], ['code_challenge_method=plain', { challenge: b64url(randomBytes(32)), method: 'plain' }]]) {
    const u = authorizationUrl(disc, { redirectUri, state: 'pkce-check', ...extra });
    const res = await fetch(u, { redirect: 'manual' });
    const loc = res.headers.get('location') || '';
    const p = loc ? new URL(loc).searchParams : new URLSearchParams();
    check(res.status === 303 && loc.startsWith(redirectUri) && p.get('error') === 'invalid_request' && p.get('iss') === issuer,
      `${what}: redirected with error=invalid_request + iss (${p.get('error_description')})`);
  }

  // the device-flow public client still works next to the web client
  {
    const res = await fetch(disc.device_authorization_endpoint, {
      method: 'POST', body: new URLSearchParams({ client_id: DEVICE_CLIENT_ID, scope: 'openid offline_access' }),
    });
    const j = await res.json();
    check(res.status === 200 && j.device_code && j.user_code, 'device authorization for the public client still works');
  }

  // client authentication at the revocation endpoint (unknown token => 200 once authenticated)
  {
    const r1 = await tokenRequest(disc.revocation_endpoint, { token: 'bogus' }, good);
    check(r1.status === 200, `revocation with ${method} -> 200`);
    const r2 = await tokenRequest(disc.revocation_endpoint, { token: 'bogus' }, { method: OTHER[method], secret });
    check(r2.status === 401 && r2.json.error === 'invalid_client', `revocation with ${OTHER[method]} -> 401 invalid_client (strict)`);
  }

  // approve
  section(`${method}: approve (prompt=consent)`);
  const state = b64url(randomBytes(16));
  const pkce = newPkce();
  const url = authorizationUrl(disc, { redirectUri, state, challenge: pkce.challenge });
  const hitsBefore = listener.hits.length;
  let r = await approveWeb(url, 'approve', ['--login', 'alice']);
  check(r.code === 0, 'approve-web exits 0');
  check(r.last.startsWith(`REDIRECTED ${redirectUri}?`), 'last stdout line is REDIRECTED <redirect_uri>?...');
  check(/step: grant consent/.test(r.stderr), 'the consent page was shown and clicked through (prompt=consent)');
  check(listener.hits.length === hitsBefore + 1, 'the listener received exactly one callback');
  const cb = new URL(listener.hits[listener.hits.length - 1], redirectUri);
  check(new URL(r.last.slice('REDIRECTED '.length)).href === cb.href, 'REDIRECTED URL is what the listener received');
  check(cb.searchParams.get('state') === state, 'state round-trips');
  check(cb.searchParams.get('iss') === issuer, 'iss (RFC 9207) equals the issuer');
  const code = cb.searchParams.get('code');
  check(Boolean(code) && !cb.searchParams.has('error'), 'callback has a code and no error');

  // code exchange: failures first (none of them consumes the code)
  section(`${method}: code exchange`);
  const exch = (extra = {}) => ({
    grant_type: 'authorization_code', code, redirect_uri: redirectUri, code_verifier: pkce.verifier, ...extra,
  });
  r = await tokenRequest(disc.token_endpoint, exch({ code_verifier: newPkce().verifier }), good);
  check(r.status === 400 && r.json.error === 'invalid_grant', `wrong code_verifier -> invalid_grant (${r.json.error_description})`);
  {
    const p = exch(); delete p.code_verifier;
    r = await tokenRequest(disc.token_endpoint, p, good);
    check(r.status === 400 && r.json.error === 'invalid_grant', `missing code_verifier -> invalid_grant (${r.json.error_description})`);
  }
  r = await tokenRequest(disc.token_endpoint, exch({ redirect_uri: `http://127.0.0.1:${listener.port}/other` }), good);
  check(r.status === 400 && r.json.error === 'invalid_grant', `different redirect_uri -> invalid_grant (${r.json.error_description})`);
  r = await tokenRequest(disc.token_endpoint, exch(), { method: 'none' });
  check(r.status === 401 && r.json.error === 'invalid_client', 'no client secret -> 401 invalid_client');
  r = await tokenRequest(disc.token_endpoint, exch(), { method, secret: `${secret}x` });
  check(r.status === 401 && r.json.error === 'invalid_client', 'wrong client secret -> 401 invalid_client');
  r = await tokenRequest(disc.token_endpoint, exch(), { method: OTHER[method], secret });
  check(r.status === 401 && r.json.error === 'invalid_client', `right secret via ${OTHER[method]} -> 401 invalid_client (strict)`);
  r = await tokenRequest(disc.token_endpoint, exch(), good);
  check(r.status === 200 && r.json.access_token, `exchange with ${method} + verifier -> 200 access_token`);
  check(/^bearer$/i.test(r.json.token_type || ''), 'token_type Bearer');
  check(Boolean(r.json.id_token), 'id_token issued (openid)');
  check(String(r.json.scope).split(' ').includes('offline_access'), `scope includes offline_access (${r.json.scope})`);
  const rt1 = r.json.refresh_token;
  check(Boolean(rt1), 'refresh_token issued');
  const at1 = r.json.access_token;

  // refresh
  section(`${method}: refresh`);
  const refresh = (rt, auth = good) => tokenRequest(disc.token_endpoint, { grant_type: 'refresh_token', refresh_token: rt }, auth);
  r = await refresh(rt1, { method: 'none' });
  check(r.status === 401 && r.json.error === 'invalid_client', 'refresh without the secret -> 401 invalid_client');
  r = await refresh(rt1, { method: OTHER[method], secret });
  check(r.status === 401 && r.json.error === 'invalid_client', `refresh via ${OTHER[method]} -> 401 invalid_client`);
  r = await refresh(rt1);
  const rt2 = r.json.refresh_token;
  check(r.status === 200 && r.json.access_token && r.json.access_token !== at1, 'refresh with the secret -> new access token');
  check(Boolean(rt2) && rt2 !== rt1, 'refresh token rotated (new one differs)');
  r = await refresh(rt2);
  const rt3 = r.json.refresh_token;
  check(r.status === 200 && Boolean(rt3) && rt3 !== rt2, 'second refresh rotates again');
  r = await refresh(rt1);
  check(r.status === 400 && r.json.error === 'invalid_grant', `reusing the first refresh token -> invalid_grant (${r.json.error_description})`);
  r = await refresh(rt3);
  check(r.status === 400 && r.json.error === 'invalid_grant', 'after reuse detection the newest refresh token is dead too (grant revoked)');

  // redirect_uri differing in port => oidc-provider error page, no redirect
  section(`${method}: redirect_uri with another port`);
  {
    const otherPort = listener.port === 65535 ? listener.port - 1 : listener.port + 1;
    const badUri = `http://127.0.0.1:${otherPort}/callback`;
    const before = listener.hits.length;
    const p2 = newPkce();
    r = await approveWeb(authorizationUrl(disc, { redirectUri: badUri, state: 'port', challenge: p2.challenge }));
    check(r.code === 1, 'approve-web exits 1');
    check(!r.stdout.includes('REDIRECTED'), 'no REDIRECTED line');
    check(/redirect_uri did not match/.test(r.stderr), 'the error page text (redirect_uri mismatch) is printed');
    check(listener.hits.length === before, 'the listener got nothing');
  }

  // deny
  section(`${method}: deny`);
  {
    const st = b64url(randomBytes(16));
    const before = listener.hits.length;
    r = await approveWeb(authorizationUrl(disc, { redirectUri, state: st, challenge: newPkce().challenge }), 'deny');
    check(r.code === 0, 'approve-web deny exits 0');
    check(r.last.startsWith(`REDIRECTED ${redirectUri}?`), 'REDIRECTED to the redirect URI');
    check(listener.hits.length === before + 1, 'the listener received the callback');
    const p = new URL(listener.hits[listener.hits.length - 1], redirectUri).searchParams;
    check(p.get('error') === 'access_denied' && !p.has('code'), `error=access_denied (${p.get('error_description')})`);
    check(p.get('state') === st && p.get('iss') === issuer, 'deny response carries state and iss');
  }

  if (withNoPromptCheck) {
    section(`${method}: without prompt=consent (auto-consent, offline_access dropped)`);
    const p2 = newPkce();
    r = await approveWeb(authorizationUrl(disc, { redirectUri, state: 'noprompt', challenge: p2.challenge, prompt: '' }));
    check(r.code === 0, 'approve-web exits 0');
    check(!/step: grant consent/.test(r.stderr) && /step: log in/.test(r.stderr), 'login page only, no consent page');
    const c2 = new URL(r.last.slice('REDIRECTED '.length)).searchParams.get('code');
    r = await tokenRequest(disc.token_endpoint, {
      grant_type: 'authorization_code', code: c2, redirect_uri: redirectUri, code_verifier: p2.verifier,
    }, good);
    check(r.status === 200 && r.json.access_token, 'exchange works');
    check(!r.json.refresh_token && !String(r.json.scope).split(' ').includes('offline_access'),
      `no refresh_token and no offline_access without prompt=consent (scope: ${r.json.scope})`);
  }

  // nobody listening on the redirect URI
  section(`${method}: redirect target unreachable`);
  await listener.close();
  r = await approveWeb(authorizationUrl(disc, { redirectUri, state: 'gone', challenge: newPkce().challenge }));
  check(r.code === 5, 'approve-web exits 5');
  check(/^REDIRECTED \S+ \(unreachable\)$/.test(r.last) && r.last.startsWith(`REDIRECTED ${redirectUri}?`) && r.last.includes('code='),
    'last line is REDIRECTED <redirect_uri>?code=... (unreachable)');

  const log = server.log.join('');
  check(log.includes(`grant.success POST /token [client=${WEB_CLIENT_ID} auth=${method}]`), `server log names the auth method (auth=${method})`);
  await server.stop();
}

// ---- approve-web against a mock of twg-dev-idp's consent page ----------------------
async function mockDevIdp() {
  section('approve-web against a twg-dev-idp style consent page (#approve / #deny)');
  const listener = await startListener();
  const redirectUri = `http://127.0.0.1:${listener.port}/cb`;
  const idp = createServer((req, res) => {
    const u = new URL(req.url, 'http://x');
    if (req.method === 'GET' && u.pathname === '/authorize') {
      const hidden = ['redirect_uri', 'state'].map((k) => `<input type="hidden" name="${k}" value="${u.searchParams.get(k)}">`).join('');
      res.writeHead(200, { 'content-type': 'text/html' });
      res.end(`<!DOCTYPE html><html><body><h1>Authorize twg?</h1><form method="post" action="/authorize">${hidden}
<button id="approve" name="decision" value="approve">Approve</button>
<button id="deny" name="decision" value="deny">Deny</button></form></body></html>`);
      return;
    }
    if (req.method === 'POST' && u.pathname === '/authorize') {
      let body = '';
      req.on('data', (d) => { body += d; });
      req.on('end', () => {
        const f = new URLSearchParams(body);
        const to = new URL(f.get('redirect_uri'));
        if (f.get('decision') === 'approve') to.searchParams.set('code', 'mock-code');
        else to.searchParams.set('error', 'access_denied');
        to.searchParams.set('state', f.get('state'));
        to.searchParams.set('iss', `http://127.0.0.1:${idp.address().port}`);
        res.writeHead(303, { location: to.href });
        res.end();
      });
      return;
    }
    res.writeHead(404);
    res.end('not found');
  });
  await new Promise((resolve) => { idp.listen(0, '127.0.0.1', resolve); });
  const url = `http://127.0.0.1:${idp.address().port}/authorize?response_type=code&client_id=twg-web&redirect_uri=${encodeURIComponent(redirectUri)}&state=s1`;
  let r = await approveWeb(url, 'approve');
  check(r.code === 0 && r.last === `REDIRECTED ${redirectUri}?code=mock-code&state=s1&iss=${encodeURIComponent(`http://127.0.0.1:${idp.address().port}`)}`,
    'approve: #approve clicked, REDIRECTED with code');
  r = await approveWeb(url, 'deny');
  check(r.code === 0 && r.last.includes('error=access_denied'), 'deny: #deny clicked, REDIRECTED with error=access_denied');
  check(listener.hits.length === 2, 'the listener received both callbacks');
  idp.closeAllConnections?.();
  idp.close();
  await listener.close();
}

// ---- lax mode and configuration errors -----------------------------------------------
async function laxAndConfig() {
  section('WEB_AUTH_STRICT=0 (oidc-provider lax behaviour)');
  const secret = 'lax-secret';
  const server = await startOidcServer({
    WEB_CLIENT_ID, WEB_CLIENT_SECRET: secret, WEB_REDIRECT_URI: 'http://127.0.0.1:9/callback',
    WEB_AUTH_METHOD: 'client_secret_post', WEB_AUTH_STRICT: '0',
  });
  const disc = await (await fetch(`${server.issuer}/.well-known/openid-configuration`)).json();
  check(JSON.stringify(disc.token_endpoint_auth_methods_supported) === '["none","client_secret_basic","client_secret_post"]',
    `discovery advertises both secret methods (${JSON.stringify(disc.token_endpoint_auth_methods_supported)})`);
  for (const m of ['client_secret_basic', 'client_secret_post']) {
    const r = await tokenRequest(disc.revocation_endpoint, { token: 'bogus' }, { method: m, secret });
    check(r.status === 200, `client_secret_post client accepted via ${m}`);
  }
  await server.stop();

  section('configuration errors');
  for (const [what, env] of [
    ['https redirect URI', { WEB_CLIENT_SECRET: 's', WEB_REDIRECT_URI: 'https://example.com/cb' }],
    ['non-loopback http redirect URI', { WEB_CLIENT_SECRET: 's', WEB_REDIRECT_URI: 'http://example.com/cb' }],
    ['no redirect URI', { WEB_CLIENT_SECRET: 's' }],
    ['redirect URI without secret', { WEB_REDIRECT_URI: 'http://127.0.0.1:9/cb' }],
    ['unknown auth method', { WEB_CLIENT_SECRET: 's', WEB_REDIRECT_URI: 'http://127.0.0.1:9/cb', WEB_AUTH_METHOD: 'private_key_jwt' }],
  ]) {
    const r = await run([join(HERE, 'oidc-server.mjs')], { timeoutMs: 10_000, env });
    check(r.code === 2 && r.stdout === '', `${what}: exit 2, nothing on stdout (${r.stderr.trim().split('\n').pop()})`);
  }
}

try {
  await runForMethod('client_secret_basic', { withNoPromptCheck: true });
  await runForMethod('client_secret_post', { withNoPromptCheck: false });
  await mockDevIdp();
  await laxAndConfig();
  say(`\nall checks passed in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  process.stdout.write('WEBFLOW SELFTEST OK\n');
  process.exit(0);
} catch (e) {
  if (currentServerLog) say(`\n-- oidc-server log --\n${currentServerLog.join('')}`);
  say(`\n${e instanceof Failure ? '' : `${e.stack}\n`}`);
  process.stdout.write(`WEBFLOW SELFTEST FAILED: ${e.message}\n`);
  process.exit(1);
}
