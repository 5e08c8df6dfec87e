// The OpenID provider of the tests: the certified `oidc-provider` package, on loopback, with
// its own signing key and clients, and a scripted login (the interaction every deployment of
// oidc-provider writes for itself: this one signs in the account named by `login_hint`, or
// asks for an account name in a form, and grants what was asked).
//
//   node provider.js PORT CONFIG.json
//
// CONFIG: {"kid": "...", "clients": [{client_id, client_secret?, redirect_uris, id_token_ttl?}],
//          "accounts": {"<account id>": {<claims of its ID tokens>}}}
// A new `kid` is a new RSA key: restarting with another one is a key rotation. The process
// prints `ready` once it listens.

import { generateKeyPairSync } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';

import Provider from 'oidc-provider';

const [port, configPath] = process.argv.slice(2);
const config = JSON.parse(readFileSync(configPath, 'utf8'));
const issuer = `http://127.0.0.1:${port}`;

const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const jwk = { ...privateKey.export({ format: 'jwk' }), kid: config.kid, use: 'sig', alg: 'RS256' };

const accounts = config.accounts ?? {};
const claimNames = [...new Set(Object.values(accounts).flatMap((claims) => Object.keys(claims)))];
const ttls = Object.fromEntries(config.clients.map((c) => [c.client_id, c.id_token_ttl ?? 300]));

const provider = new Provider(issuer, {
  jwks: { keys: [jwk] },
  clients: config.clients.map(({ id_token_ttl: _, ...client }) => ({
    grant_types: ['authorization_code'],
    response_types: ['code'],
    token_endpoint_auth_method: client.client_secret ? 'client_secret_basic' : 'none',
    ...client,
  })),
  // Every claim of an account is in its ID token (the way CI providers issue theirs).
  // (profile and email are the scopes a web login asks for; the claims come with openid.)
  claims: { openid: ['sub', ...claimNames], profile: [], email: [] },
  conformIdTokenClaims: false,
  findAccount: (_ctx, id) => (Object.hasOwn(accounts, id)
    ? { accountId: id, claims: () => ({ sub: id, ...accounts[id] }) }
    : undefined),
  features: { devInteractions: { enabled: false } },
  pkce: { required: () => true },
  ttl: { IdToken: (_ctx, _token, client) => ttls[client.clientId] ?? 300 },
  interactions: { url: (_ctx, interaction) => `/interaction/${interaction.uid}` },
  // Loopback over plain HTTP: the tests' only network.
  cookies: { keys: ['trusted-releases-tests'] },
});
provider.proxy = false;

const page = (body) => `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Test provider</title></head><body>${body}</body></html>`;

async function interaction(req, res, uid, form) {
  const details = await provider.interactionDetails(req, res);
  if (details.uid !== uid) throw new Error('not this interaction');
  if (details.prompt.name === 'login') {
    const login = form?.get('login') ?? details.params.login_hint;
    if (!login) {
      res.setHeader('content-type', 'text/html; charset=utf-8');
      res.end(page(`<form method="post" action="/interaction/${uid}">
        <label>Account <input name="login" id="login" autofocus></label>
        <button type="submit" id="sign-in">Sign in</button></form>`));
      return;
    }
    if (!Object.hasOwn(accounts, login)) {
      await provider.interactionFinished(req, res, { error: 'access_denied', error_description: 'no such account' });
      return;
    }
    await provider.interactionFinished(req, res, { login: { accountId: login } }, { mergeWithLastSubmission: false });
    return;
  }
  // Consent: grant the scopes and claims asked for.
  const grant = details.grantId
    ? await provider.Grant.find(details.grantId)
    : new provider.Grant({ accountId: details.session.accountId, clientId: details.params.client_id });
  const missing = details.prompt.details;
  if (missing.missingOIDCScope) grant.addOIDCScope(missing.missingOIDCScope.join(' '));
  if (missing.missingOIDCClaims) grant.addOIDCClaims(missing.missingOIDCClaims);
  await provider.interactionFinished(req, res, { consent: { grantId: await grant.save() } }, { mergeWithLastSubmission: true });
}

const callback = provider.callback();
createServer((req, res) => {
  const match = /^\/interaction\/([A-Za-z0-9_-]+)$/.exec(new URL(req.url, issuer).pathname);
  if (!match) {
    callback(req, res);
    return;
  }
  const handle = (form) => interaction(req, res, match[1], form).catch((e) => {
    res.statusCode = 400;
    res.end(String(e));
  });
  if (req.method === 'POST') {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (chunk) => { body += chunk; });
    req.on('end', () => handle(new URLSearchParams(body)));
  } else {
    handle(undefined);
  }
}).listen(Number(port), '127.0.0.1', () => console.log('ready'));
