#!/usr/bin/env node
// Standards OAuth 2.0 / OIDC server for twg conformance tests, built on the
// third-party `oidc-provider` package (panva). It is deliberately NOT twg's own
// dev IdP: the point is to test twg against an implementation written by others.
//
// Usage: node oidc-server.mjs
//   Prints exactly one stdout line when ready:  OIDC_ISSUER=http://127.0.0.1:PORT
//   Everything else (oidc-provider notices, event log) goes to stderr.
//   Exits 0 on SIGTERM / SIGINT.
//
// Environment:
//   PORT               listen port (default 0 = ephemeral)
//   HOST               listen address (default 127.0.0.1)
//   CLIENT_ID          public client id (default twg-conformance)
//   ACCESS_TOKEN_TTL   access token lifetime, seconds (default 3600)
//   REFRESH_TOKEN_TTL  refresh token lifetime, seconds (default 14 days)
//   DEVICE_CODE_TTL    device_code / user_code lifetime, seconds (default 600)
//   EXTRA_SCOPES       space-separated extra scopes to support (besides openid offline_access)
//   OIDC_QUIET=1       do not log provider events to stderr
//
// Optional confidential client for the authorization-code flow (`twg login --web`),
// enabled by setting WEB_CLIENT_SECRET (WEB_REDIRECT_URI is then required):
//   WEB_CLIENT_ID      client id (default twg-web)
//   WEB_CLIENT_SECRET  client secret
//   WEB_REDIRECT_URI   the one registered redirect URI: http on a loopback host, e.g.
//                      http://127.0.0.1:8765/callback (matched exactly, port included)
//   WEB_AUTH_METHOD    client_secret_basic (default) or client_secret_post
//   WEB_AUTH_STRICT    1 (default): discovery advertises only `none` + WEB_AUTH_METHOD
//                      and the token/revocation/introspection endpoints reject the other
//                      secret method with invalid_client. 0: oidc-provider's own lax
//                      behaviour (both advertised, both accepted).
//
// Behaviour worth knowing (oidc-provider 9.x, as configured here):
//   * refresh tokens are only issued when `offline_access` is in the granted scope;
//   * every refresh rotates the refresh token; reusing a rotated one -> invalid_grant
//     AND the whole grant (all its tokens) is revoked;
//   * the device authorization response has no `interval`, the token endpoint never
//     answers `slow_down`;
//   * polling a device_code again after it was exchanged -> invalid_grant and the grant
//     is revoked;
//   * revoking a refresh token revokes the whole grant (default revokeGrantPolicy).
//   * web client: PKCE (S256, the only method oidc-provider 9 implements) is required;
//     the authorization response carries `iss` (RFC 9207, always on in oidc-provider 9);
//     `offline_access` (hence a refresh token) is only kept when the request has
//     prompt=consent, and prompt=consent always shows the consent page; every token
//     request (code exchange, refresh, revocation, introspection) must carry the secret.

// oidc-provider prints its "you SHOULD change ..." notices with console.info
// (i.e. to stdout). Keep stdout reserved for the single OIDC_ISSUER line.
console.info = (...args) => console.error(...args);
console.log = (...args) => console.error(...args);

import { createServer } from 'node:http';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import Provider, { interactionPolicy } from 'oidc-provider';

const env = process.env;
const HOST = env.HOST || '127.0.0.1';
const PORT = Number.parseInt(env.PORT || '0', 10);
const CLIENT_ID = env.CLIENT_ID || 'twg-conformance';
const num = (name, dflt) => {
  const v = env[name];
  if (v === undefined || v === '') return dflt;
  const n = Number.parseInt(v, 10);
  if (!Number.isFinite(n) || n <= 0) {
    console.error(`invalid ${name}=${v}`);
    process.exit(2);
  }
  return n;
};
const ACCESS_TOKEN_TTL = num('ACCESS_TOKEN_TTL', 3600);
const REFRESH_TOKEN_TTL = num('REFRESH_TOKEN_TTL', 14 * 24 * 60 * 60);
const DEVICE_CODE_TTL = num('DEVICE_CODE_TTL', 600);
const QUIET = env.OIDC_QUIET === '1';

const fatal = (msg) => { console.error(`oidc-server: ${msg}`); process.exit(2); };
const LOOPBACK_HOSTS = new Set(['127.0.0.1', 'localhost', '[::1]']);
const WEB = (() => {
  const secret = env.WEB_CLIENT_SECRET || '';
  if (!secret) {
    const stray = ['WEB_CLIENT_ID', 'WEB_REDIRECT_URI', 'WEB_AUTH_METHOD', 'WEB_AUTH_STRICT'].filter((k) => env[k]);
    if (stray.length) fatal(`${stray.join(', ')} set but WEB_CLIENT_SECRET is not`);
    return null;
  }
  const clientId = env.WEB_CLIENT_ID || 'twg-web';
  if (clientId === CLIENT_ID) fatal(`WEB_CLIENT_ID must differ from CLIENT_ID (${CLIENT_ID})`);
  const redirectUri = env.WEB_REDIRECT_URI || '';
  if (!redirectUri) fatal('WEB_CLIENT_SECRET is set but WEB_REDIRECT_URI is not');
  let u;
  try { u = new URL(redirectUri); } catch { fatal(`WEB_REDIRECT_URI is not a URL: ${redirectUri}`); }
  if (u.protocol !== 'http:' || !LOOPBACK_HOSTS.has(u.hostname) || u.hash || redirectUri.includes('#')) {
    fatal(`WEB_REDIRECT_URI must be http://127.0.0.1|localhost|[::1][:port]/path without fragment: ${redirectUri}`);
  }
  const authMethod = env.WEB_AUTH_METHOD || 'client_secret_basic';
  if (!['client_secret_basic', 'client_secret_post'].includes(authMethod)) {
    fatal(`WEB_AUTH_METHOD must be client_secret_basic or client_secret_post, not ${authMethod}`);
  }
  const strictRaw = env.WEB_AUTH_STRICT ?? '1';
  if (!['0', '1'].includes(strictRaw)) fatal(`WEB_AUTH_STRICT must be 0 or 1, not ${strictRaw}`);
  return {
    clientId, secret, redirectUri, authMethod, strict: strictRaw === '1',
  };
})();

const BASE_SCOPES = ['openid', 'offline_access'];
const EXTRA_SCOPES = (env.EXTRA_SCOPES || '').split(/\s+/).filter(Boolean);
const SCOPES = [...new Set([...BASE_SCOPES, ...EXTRA_SCOPES])];

const log = (...args) => { if (!QUIET) console.error('[oidc-server]', ...args); };

// Bind first so the ephemeral port is known before the issuer is fixed.
const server = createServer();
await new Promise((resolve, reject) => {
  server.once('error', reject);
  server.listen(PORT, HOST, resolve);
});
const { port } = server.address();
const ISSUER = `http://${HOST}:${port}`;

// Fresh signing key per run (id_tokens are RS256 by default); avoids the
// "using a development signing key" path.
const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const signingJwk = { ...privateKey.export({ format: 'jwk' }), kid: 'conformance-rs256', use: 'sig', alg: 'RS256' };

// Default prompts (login, consent) minus "native clients always require consent":
// consent is granted automatically by loadExistingGrant below, only login remains.
const policy = interactionPolicy.base();
policy.get('consent').checks.remove('native_client_prompt');

const configuration = {
  interactions: { policy },
  clients: [
    {
      client_id: CLIENT_ID,
      client_name: 'twg conformance',
      application_type: 'native',
      token_endpoint_auth_method: 'none',
      grant_types: ['urn:ietf:params:oauth:grant-type:device_code', 'refresh_token'],
      response_types: [],
      redirect_uris: [],
    },
    // Confidential client for the authorization-code flow. application_type `web`,
    // not `native`: oidc-provider accepts http loopback redirect URIs for both (web
    // clients may use http unless they use the implicit grant), but for native clients
    // it ignores the port of loopback redirect URIs (RFC 8252 section 7.3), whereas web
    // clients must match the registered URI exactly. twg's redirect URI is fixed by
    // configuration, so exact matching is what we want to test.
    ...(WEB ? [{
      client_id: WEB.clientId,
      client_secret: WEB.secret,
      client_name: 'twg web login',
      application_type: 'web',
      token_endpoint_auth_method: WEB.authMethod,
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      redirect_uris: [WEB.redirectUri],
    }] : []),
  ],
  // Strict mode: advertise exactly what the clients are registered for, so a client
  // choosing its method from the metadata is tested (see also enforceWebAuthMethod).
  ...(WEB ? {
    clientAuthMethods: WEB.strict
      ? ['none', WEB.authMethod]
      : ['none', 'client_secret_basic', 'client_secret_post'],
  } : {}),
  // PKCE for every authorization-code request, confidential clients included
  // (oidc-provider's default only forces it on public clients). oidc-provider 9
  // implements S256 only (`plain` is rejected), there is no `methods` option any more.
  pkce: { required: () => true },
  scopes: SCOPES,
  claims: { openid: ['sub'] },
  jwks: { keys: [signingJwk] },
  cookies: {
    keys: [randomBytes(32).toString('base64url')],
    // Plain http on loopback: oidc-provider only sets `secure` when the request
    // itself is https (ctx.secure), so lax, non-secure cookies work here.
    long: { httpOnly: true, sameSite: 'lax' },
    short: { httpOnly: true, sameSite: 'lax' },
  },
  features: {
    devInteractions: { enabled: true }, // built-in login page (any login/password)
    deviceFlow: { enabled: true },
    revocation: { enabled: true },
    introspection: { enabled: true },
  },
  // Public client: always rotate. (oidc-provider's default would rotate for public
  // clients anyway; be explicit so the conformance contract does not depend on it.)
  rotateRefreshToken: () => true,
  issueRefreshToken: async (ctx, client, code) => (
    client.grantTypeAllowed('refresh_token') && code.scopes.has('offline_access')
  ),
  // Auto-consent: once the user has logged in, grant the requested scopes that we
  // support (always including openid + offline_access when requested), so the
  // consent prompt does not show up on its own. It still does when the request says
  // prompt=consent (the web flow): devInteractions' consent page, one Continue button.
  loadExistingGrant: async (ctx) => {
    const grantId = ctx.oidc.result?.consent?.grantId
      || ctx.oidc.session.grantIdFor(ctx.oidc.client.clientId);
    let grant;
    if (grantId) grant = await ctx.oidc.provider.Grant.find(grantId);
    if (!grant) {
      grant = new ctx.oidc.provider.Grant({
        accountId: ctx.oidc.session.accountId,
        clientId: ctx.oidc.client.clientId,
      });
    }
    const requested = String(ctx.oidc.params?.scope || '').split(' ').filter(Boolean);
    const toGrant = requested.filter((s) => SCOPES.includes(s));
    grant.addOIDCScope([...new Set(toGrant.length ? toGrant : BASE_SCOPES)].join(' '));
    await grant.save();
    return grant;
  },
  ttl: {
    AccessToken: () => ACCESS_TOKEN_TTL,
    RefreshToken: () => REFRESH_TOKEN_TTL,
    DeviceCode: () => DEVICE_CODE_TTL,
    IdToken: () => 3600,
    Interaction: () => 3600,
    Session: () => 14 * 24 * 60 * 60,
    Grant: () => 14 * 24 * 60 * 60,
  },
  // Introspection/revocation: oidc-provider's default policies let a public
  // client introspect/revoke its own tokens, which is what twg needs.
  // Plain error page without external resources.
  renderError: async (ctx, out) => {
    ctx.type = 'html';
    const esc = (s) => String(s).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
    ctx.body = `<!DOCTYPE html><html><head><meta charset="utf-8"><title>oops</title></head><body>
<h1>oops! something went wrong</h1>
${Object.entries(out).map(([k, v]) => `<pre><strong>${esc(k)}</strong>: ${esc(v)}</pre>`).join('\n')}
</body></html>`;
  },
};

const provider = new Provider(ISSUER, configuration);

// Which client authentication a token/revocation/introspection request used (as
// sent, not as registered), for the event log.
const TOKEN_PATHS = new Set(['/token', '/token/revocation', '/token/introspection']);
function basicClientId(ctx) {
  const m = /^basic\s+(\S+)$/i.exec(ctx.headers?.authorization || '');
  if (!m) return undefined;
  const decoded = Buffer.from(m[1], 'base64').toString('utf8');
  const i = decoded.indexOf(':');
  if (i === -1) return undefined;
  try { return decodeURIComponent(decoded.slice(0, i).replace(/\+/g, '%20')); } catch { return undefined; }
}
function authUsed(ctx) {
  if (!ctx || !TOKEN_PATHS.has(ctx.path)) return '';
  const body = ctx.oidc?.body || {};
  const clientId = ctx.oidc?.client?.clientId || basicClientId(ctx) || body.client_id || '?';
  let method = 'none';
  if (/^basic\s/i.test(ctx.headers?.authorization || '')) method = 'client_secret_basic';
  else if (body.client_secret !== undefined) method = 'client_secret_post';
  else if (body.client_assertion !== undefined) method = 'client_assertion';
  return ` [client=${clientId} auth=${method}]`;
}

for (const ev of [
  'device_authorization.success', 'device_authorization.error',
  'grant.success', 'grant.error', 'grant.revoked',
  'revocation.success', 'revocation.error',
  'introspection.error', 'authorization.success', 'authorization.error',
  'server_error',
]) {
  provider.on(ev, (ctx, arg) => {
    const extra = arg instanceof Error
      ? `${arg.message}${arg.error_description && arg.message !== 'authorization_pending' ? ` (${arg.error_description})` : ''}`
      : (typeof arg === 'string' ? arg : '');
    log(`${ev} ${ctx?.method ?? ''} ${ctx?.path ?? ''} ${extra}`.trim() + authUsed(ctx));
  });
}

// oidc-provider accepts client_secret_basic and client_secret_post interchangeably
// for a client registered with either. In strict mode a client_secret_basic client
// already cannot use the body (client_secret is not a recognised parameter when
// client_secret_post is not in clientAuthMethods); this rejects the other direction:
// an Authorization: Basic header from a client_secret_post client.
if (WEB?.strict && WEB.authMethod === 'client_secret_post') {
  provider.use(async (ctx, next) => {
    if (ctx.method === 'POST' && TOKEN_PATHS.has(ctx.path) && basicClientId(ctx) === WEB.clientId) {
      log(`rejected ${ctx.path}: ${WEB.clientId} is registered for client_secret_post but used client_secret_basic`);
      ctx.status = 401;
      ctx.set('cache-control', 'no-store');
      ctx.set('www-authenticate', `Basic realm="${ISSUER}", error="invalid_client", error_description="client authentication failed"`);
      ctx.body = {
        error: 'invalid_client',
        error_description: 'client authentication failed (this client is registered for client_secret_post, not client_secret_basic)',
      };
      return;
    }
    await next();
  });
}

server.on('request', provider.callback());

let stopping = false;
const stop = (sig) => {
  if (stopping) return;
  stopping = true;
  log(`${sig}, shutting down`);
  server.closeAllConnections?.();
  server.close(() => process.exit(0));
  setTimeout(() => process.exit(0), 1000).unref();
};
process.on('SIGTERM', () => stop('SIGTERM'));
process.on('SIGINT', () => stop('SIGINT'));

if (WEB) log(`web client ${WEB.clientId}: ${WEB.authMethod}${WEB.strict ? ' (strict)' : ''}, redirect_uri ${WEB.redirectUri}`);
process.stdout.write(`OIDC_ISSUER=${ISSUER}\n`);
