// Sign-in and sign-out against the dev server's authorization server, where faults can be
// injected: discovery, PKCE as the server checks it, the code exchange under throttling, ID
// tokens that are not this sign-in's, Cognito's hosted-UI addresses, revocation retried, refused
// and kept at home. (The same flows against a certified server: tests/conformance/.)
import { test, before, after, beforeEach } from "node:test";
import assert from "node:assert/strict";
import { start } from "./harness.mjs";
import { HOSTED_POOL_ID } from "../../server/dev-server.mjs";

let h;
before(async () => { h = await start(); });
after(async () => { await h?.close(); });
beforeEach(async () => { await h.reset(); });

const PAGE = "/www/test.html";
const oidc = () => ({ refresh: { type: "oauth2", issuer: h.origin, clientId: "demo" }, storage: "session", storageKey: "t-signin" });

/** signIn() in a fresh page, the server's redirect back, then handleRedirect(): what the app saw. */
async function signInThrough(options, signIn = {}) {
  const page = await h.openPage(PAGE);
  await Promise.all([
    page.waitForURL((u) => u.searchParams.has("state"), { timeout: 10_000 }),
    page.evaluate(({ options, signIn }) => { new SG.SessionManager(options).signIn(signIn); }, { options, signIn }),
  ]);
  await page.waitForFunction(() => window.sgReady, null, { timeout: 10_000 });
  const r = await page.evaluate(async (options) => {
    const s = new SG.SessionManager(options);
    window.s = s;
    const retries = [];
    s.addEventListener("retry", (e) => retries.push({ status: e.detail.status, attempt: e.detail.attempt, refresh: e.detail.refresh }));
    const out = await s.handleRedirect().then((v) => ({ ok: true, v }), (e) => ({ ok: false, name: e.name, code: e.detail && e.detail.code, message: e.message, isClass: e instanceof SG.SignInError }));
    return { ...out, retries, auth: s.isAuthenticated(), stored: sessionStorage.getItem(options.storageKey), search: location.search, id: s.claims("id") };
  }, options);
  return { page, r };
}

test("a sign-in through discovery: an S256 challenge the server verifies, state and nonce, the ID token checked, the app state back", async () => {
  const { page, r } = await signInThrough(oidc(), { appState: { to: "/inbox" } });
  await page.close();
  assert.deepEqual(r.v, { to: "/inbox" });
  assert.equal(r.auth, true);
  assert.equal(r.search, "", "code, state and iss gone from the address bar");
  assert.equal(r.id.aud, "demo");
  const st = await h.stats(true);
  assert.equal(st.counts.codeGrants, 1, "the server matched the verifier to the challenge");
  const q = st.authorize[0];
  assert.equal(q.code_challenge_method, "S256");
  assert.equal(q.code_challenge.length, 43, "base64url of a SHA-256 digest");
  assert.equal(q.state.length, 22);
  assert.equal(q.nonce.length, 22);
  assert.equal(q.scope, "openid");
  assert.equal(q.redirect_uri, h.origin + PAGE, "the page that signed in, without query");
});

test("signIn's redirectUri, scope and extraParams go into the authorization URL (never replacing the flow's own); returnUrl hands it back without navigating", async () => {
  const r = await h.page.evaluate(async (origin) => {
    const s = new SG.SessionManager({ refresh: { type: "oauth2", issuer: origin, clientId: "demo" } });
    const before = location.href;
    const url = await s.signIn({ returnUrl: true, redirectUri: origin + "/www/callback.html", scope: "openid email", extraParams: { prompt: "login", state: "evil" } });
    return { q: Object.fromEntries(new URL(url).searchParams), path: new URL(url).pathname, stayed: location.href === before };
  }, h.origin);
  assert.equal(r.path, "/oauth/authorize", "the discovered authorization endpoint");
  assert.equal(r.q.redirect_uri, h.origin + "/www/callback.html");
  assert.equal(r.q.scope, "openid email");
  assert.equal(r.q.prompt, "login");
  assert.notEqual(r.q.state, "evil", "the app's parameters never replace the flow's");
  assert.equal(r.q.client_id, "demo");
  assert.equal(r.stayed, true, "returnUrl: no navigation");
});

test("named endpoints win, and a refresh at a named tokenUrl needs no discovery: a sign-in with authorizationUrl and tokenUrl beside the issuer, a refresh beside an issuer that cannot be discovered", async () => {
  const named = { refresh: { type: "oauth2", issuer: h.origin, authorizationUrl: h.origin + "/oauth/authorize", tokenUrl: "/oauth/token", clientId: "demo" }, storage: "session", storageKey: "t-named" };
  const { page, r } = await signInThrough(named);
  await page.close();
  assert.equal(r.ok, true, JSON.stringify(r));
  assert.equal((await h.stats()).counts.discovery, 2, "sign-in reads the issuer's metadata (its `iss` rules), once per manager");
  await h.reset();
  const t = await h.login();
  const status = await h.page.evaluate(async (t) => {
    const s = make({ refresh: { type: "oauth2", issuer: location.origin + "/no-such-issuer", tokenUrl: "/oauth/token", clientId: "demo" } }, tokens(t, { expiresIn: 0 }));
    return (await s.fetch("/api/me")).status;
  }, t);
  assert.equal(status, 200, "refreshed at the named token endpoint");
  const st = await h.stats();
  assert.equal(st.counts.discovery, 0, "no discovery document was asked for");
  assert.equal(st.counts.refreshOk, 1);
});

test("sign-in configured without an issuer is a TypeError at construction that names the option to add; refresh-only configurations need none", async () => {
  const r = await h.page.evaluate((origin) => {
    const made = (refresh) => { try { new SG.SessionManager({ refresh }).dispose(); return "constructed"; } catch (e) { return e.name + ": " + e.message; } };
    return {
      named: made({ type: "oauth2", authorizationUrl: origin + "/oauth/authorize", tokenUrl: "/oauth/token", clientId: "demo" }),
      hosted: made({ type: "cognito", region: "eu-west-1", clientId: "demo", domain: origin + "/hosted/" }),
      badPool: made({ type: "cognito", region: "eu-west-1", clientId: "demo", domain: origin + "/hosted/", userPoolId: "not a pool" }),
      both: made({ type: "cognito", region: "eu-west-1", clientId: "demo", domain: origin + "/hosted/", userPoolId: "eu-west-1_abc", issuer: origin }),
      withPool: made({ type: "cognito", clientId: "demo", endpoint: "/cognito/", domain: origin + "/hosted/", userPoolId: "eu-west-1_abc" }),
      withIssuer: made({ type: "oauth2", issuer: origin, authorizationUrl: origin + "/oauth/authorize", clientId: "demo" }),
      refreshOnly: made({ type: "oauth2", tokenUrl: "/oauth/token", clientId: "demo" }),
      cognitoRefreshOnly: made({ type: "cognito", region: "eu-west-1", clientId: "demo" }),
    };
  }, h.origin);
  assert.match(r.named, /^TypeError: .*`refresh\.authorizationUrl` needs `refresh\.issuer`/);
  assert.match(r.hosted, /^TypeError: .*`refresh\.domain` .*needs `refresh\.userPoolId` .*or `refresh\.issuer`/);
  assert.match(r.badPool, /^TypeError: .*`refresh\.userPoolId` must be a user pool id/);
  assert.match(r.both, /^TypeError: .*`refresh\.userPoolId` .*no `refresh\.issuer` beside it/);
  assert.deepEqual([r.withPool, r.withIssuer, r.refreshOnly, r.cognitoRefreshOnly], ["constructed", "constructed", "constructed", "constructed"]);
  assert.equal((await h.stats()).counts.discovery, 0, "nothing fetched at construction");
});

test("after dispose(), signIn() and handleRedirect() reject with SessionDisposedError; logout() does nothing", async () => {
  const r = await h.page.evaluate(async (origin) => {
    const s = new SG.SessionManager({ refresh: { type: "oauth2", issuer: origin, clientId: "demo" } });
    s.dispose();
    const name = (p) => p.then(() => "resolved", (e) => e.name);
    return { signIn: await name(s.signIn({ returnUrl: true })), redirect: await name(s.handleRedirect(origin + "/?code=c&state=s")), logout: await name(s.logout({ revoke: true })) };
  }, h.origin);
  assert.deepEqual(r, { signIn: "SessionDisposedError", redirect: "SessionDisposedError", logout: "resolved" });
});

test("the same redirect handled twice at once (React's StrictMode): one code exchange, both calls get the app state", async () => {
  const options = oidc();
  const page = await h.openPage(PAGE);
  await Promise.all([
    page.waitForURL((u) => u.searchParams.has("state"), { timeout: 10_000 }),
    page.evaluate((options) => { new SG.SessionManager(options).signIn({ appState: 42 }); }, options),
  ]);
  await page.waitForFunction(() => window.sgReady, null, { timeout: 10_000 });
  const r = await page.evaluate(async (options) => {
    const s = new SG.SessionManager(options);
    const url = location.href;
    const both = await Promise.all([s.handleRedirect(), s.handleRedirect(url)]);
    const later = await s.handleRedirect(url).then(() => "resolved", (e) => e.detail.code);
    return { both, later, auth: s.isAuthenticated() };
  }, options);
  await page.close();
  assert.deepEqual(r.both, [42, 42]);
  assert.equal(r.later, "state-mismatch", "once over, the redirect is used up");
  assert.equal(r.auth, true);
  assert.equal((await h.stats()).counts.codeGrants, 1, "one exchange");
});

test("options that throw while read (a getter, a proxy) are TypeErrors; the module keeps working (guarantee 10)", async () => {
  const t = await h.login();
  const r = await h.page.evaluate(async (t) => {
    const s = make({ refresh: { type: "oauth2", issuer: location.origin, clientId: "demo" } });
    const thrower = { get prompt() { throw new Error("getter"); } };
    const proxy = new Proxy({}, { ownKeys() { throw new Error("ownKeys"); } });
    const a = await s.signIn({ returnUrl: true, extraParams: thrower }).then(() => "resolved", (e) => e.name);
    const b = await s.signIn({ returnUrl: true, extraParams: proxy }).then(() => "resolved", (e) => e.name);
    const c = await s.logout(proxy).then(() => "resolved", (e) => e.name);
    let d;
    try { new SG.SessionManager(proxy); d = "constructed"; } catch (e) { d = e.name; }
    const after = new SG.SessionManager({ refresh: { type: "oauth2", tokenUrl: "/oauth/token", clientId: "demo" } });
    after.setTokens(tokens(t));
    const status = (await after.fetch("/api/me")).status;
    const url = await s.signIn({ returnUrl: true });
    return { a, b, c, d, status, url: typeof url };
  }, t);
  assert.deepEqual([r.a, r.b], ["TypeError", "TypeError"]);
  assert.equal(r.c, "resolved", "a proxy with no readable keys is an empty options object");
  assert.equal(r.d, "constructed");
  assert.equal(r.status, 200, "a new manager works afterwards");
  assert.equal(r.url, "string", "and the first one still signs in");
});

test("a page whose crypto is an impostor gets an error, never a broken module (guarantee 10)", async () => {
  const page = await h.openPage(PAGE);
  const r = await page.evaluate(async (issuer) => {
    const s = new SG.SessionManager({ refresh: { type: "oauth2", issuer, clientId: "demo" } });
    const out = {};
    const real = Object.getOwnPropertyDescriptor(window, "crypto") || Object.getOwnPropertyDescriptor(Object.getPrototypeOf(window), "crypto");
    Object.defineProperty(window, "crypto", { value: { subtle: {} }, configurable: true });
    out.crypto = await s.signIn({ returnUrl: true }).then(() => "resolved", (e) => e.name);
    Object.defineProperty(window, "crypto", { value: { getRandomValues: () => { throw new Error("no"); }, subtle: { digest: 5 } }, configurable: true });
    out.throwing = await s.signIn({ returnUrl: true }).then(() => "resolved", (e) => e.message);
    Object.defineProperty(window, "crypto", real);
    out.after = typeof (await s.signIn({ returnUrl: true }));
    return out;
  }, h.origin);
  await page.close();
  assert.deepEqual(r, { crypto: "TypeError", throwing: "no", after: "string" });
});

test("the code exchange is retried when the token endpoint throttles, then signs in", async () => {
  await h.faults({ tokenMode: "429", tokenFaultCount: 2 });
  const { page, r } = await signInThrough(oidc());
  await page.close();
  assert.equal(r.ok, true, JSON.stringify(r));
  const st = await h.stats();
  assert.equal(st.counts.refreshFaults, 2);
  assert.equal(st.counts.codeGrants, 1, "the third try exchanged the code");
  // the token endpoint's retries are announced as a refresh's are (SPEC: `retry`, `refresh: true`)
  assert.deepEqual(r.retries, [{ status: 429, attempt: 1, refresh: true }, { status: 429, attempt: 2, refresh: true }]);
});

test("the code exchange is retried after a 503 with Retry-After (the server did not act), then signs in", async () => {
  await h.faults({ tokenMode: "503", tokenFaultCount: 1, tokenRetryAfter: 0 });
  const { page, r } = await signInThrough(oidc());
  await page.close();
  assert.equal(r.ok, true, JSON.stringify(r));
  const st = await h.stats();
  assert.deepEqual([st.counts.refresh, st.counts.codeGrants], [2, 1]);
});

test("a code exchange still throttled after its retries fails with exchange-throttled, nothing stored", async () => {
  await h.faults({ tokenMode: "429" });
  const { page, r } = await signInThrough({ ...oidc(), retry: { maxRetries: 1, baseDelayMs: 5 } });
  await page.close();
  assert.deepEqual([r.ok, r.name, r.code], [false, "SignInError", "exchange-throttled"], JSON.stringify(r));
  assert.match(r.message, /HTTP 429/);
  assert.deepEqual([r.auth, r.stored], [false, null]);
  assert.equal((await h.stats()).counts.refresh, 2, "1 + maxRetries");
});

// RFC 6749 §4.1.2: a code presented twice may revoke every token issued from it. After any of
// these the server may have used the code, so it is never sent again.
for (const [what, faults, says] of [
  ["a 502", { tokenMode: "502", tokenFaultCount: 1 }, /HTTP 502/],
  ["a 503 without Retry-After", { tokenMode: "503", tokenFaultCount: 1 }, /HTTP 503/],
  ["a network error", { tokenMode: "reset", tokenFaultCount: 1 }, /no answer from the token endpoint/],
  ["a 2xx without tokens", { tokenMode: "null-token", tokenFaultCount: 1 }, /HTTP 200 without an access token/],
]) {
  test(`the code exchange is never replayed after ${what}: SignInError exchange-failed that says which, one request, nothing stored`, async () => {
    await h.faults(faults);
    const { page, r } = await signInThrough(oidc());
    await page.close();
    assert.deepEqual([r.ok, r.name, r.code, r.isClass], [false, "SignInError", "exchange-failed", true], JSON.stringify(r));
    assert.match(r.message, says);
    assert.match(r.message, /not sent twice/);
    assert.deepEqual([r.auth, r.stored], [false, null]);
    const st = await h.stats();
    assert.equal(st.counts.refresh, 1, "the token endpoint got the code once");
    assert.equal(st.counts.codeGrants, 0);
  });
}

test("dpop: a token endpoint that asks for a new nonce every time gets one resend per request, whatever the retries: a refresh with maxRetries 2 is sent 4 times, a code exchange twice", async () => {
  const t = await h.login();
  await h.faults({ tokenMode: "dpop-nonce" });
  const refresh = await h.page.evaluate(async (t) => {
    const s = make({ dpop: true, storage: "memory", retry: { maxRetries: 2, baseDelayMs: 5 } }, { ...tokens(t, { expiresIn: 0 }), tokenType: undefined });
    const out = await settle(s.fetch("/api/me"));
    s.dispose();
    return out;
  }, t);
  assert.equal(refresh.e.name, "RefreshUnavailableError", "use_dpop_nonce says nothing about the refresh token");
  const st = await h.stats();
  assert.equal(st.counts.refresh, 4, "1 + maxRetries + one nonce resend");
  await h.reset();
  await h.faults({ tokenMode: "dpop-nonce" });
  const { page, r } = await signInThrough({ ...oidc(), dpop: true, retry: { maxRetries: 2, baseDelayMs: 5 } });
  await page.close();
  assert.deepEqual([r.ok, r.code], [false, "exchange-failed"], JSON.stringify(r));
  assert.match(r.message, /DPoP nonce/);
  assert.equal((await h.stats()).counts.refresh, 2, "the exchange and its one nonce resend");
});

test("dpop: signIn() makes sure of the key before the page leaves: a key that cannot be made fails at once with dpop-key-unavailable, its cause in the message and on the console", async () => {
  const page = await h.openPage(PAGE);
  const logged = [];
  page.on("console", (m) => { if (m.type() === "error") logged.push(m.text()); });
  const r = await page.evaluate(async (issuer) => {
    const generate = crypto.subtle.generateKey;
    crypto.subtle.generateKey = () => Promise.reject(new DOMException("refused by the test", "NotSupportedError"));
    const s = new SG.SessionManager({ refresh: { type: "oauth2", issuer, clientId: "demo" }, dpop: true, storageKey: "t-nokey" });
    const before = location.href;
    const why = (e) => ({ name: e.name, code: e.detail && e.detail.code, message: e.message });
    const asUrl = await s.signIn({ returnUrl: true }).then(() => "resolved", why);
    const navigating = await s.signIn({ appState: 1 }).then(() => "resolved", why);
    crypto.subtle.generateKey = generate;
    return { asUrl, navigating, stayed: location.href === before, kept: sessionStorage.getItem("t-nokey:signin") };
  }, h.origin);
  await page.close();
  for (const e of [r.asUrl, r.navigating]) {
    assert.deepEqual([e.name, e.code], ["SignInError", "dpop-key-unavailable"], JSON.stringify(e));
    assert.match(e.message, /NotSupportedError: refused by the test/);
  }
  assert.equal(r.stayed, true, "the page did not go to the server");
  assert.equal(r.kept, null, "no sign-in kept");
  assert.equal((await h.stats(true)).authorize.length, 0, "the authorization endpoint never saw it");
  assert.ok(logged.some((l) => /DPoP key could not be made/.test(l)), "the console has the cause: " + logged.join(" | "));
});

for (const [what, claims] of [
  ["another audience", { aud: "someone-else" }],
  ["another sign-in's nonce", { nonce: "replayed-nonce" }],
  ["another issuer", { iss: "http://evil.example" }],
  ["an expired token", { exp: 1_000_000 }],
  ["a token issued in the future", { iat: 4_000_000_000, exp: 4_000_003_600 }],
  ["several audiences without azp", { aud: ["demo", "api"] }],
]) {
  test(`an ID token with ${what} is refused: SignInError id-token-invalid, nothing stored`, async () => {
    await h.faults({ idTokenClaims: claims });
    const { page, r } = await signInThrough(oidc());
    await page.close();
    assert.deepEqual([r.ok, r.name, r.code, r.isClass], [false, "SignInError", "id-token-invalid", true], JSON.stringify(r));
    assert.match(r.message, /nothing was stored/);
    assert.deepEqual([r.auth, r.stored], [false, null]);
  });
}

test("the authorization server's error comes back as its code (access_denied), nothing stored", async () => {
  await h.faults({ authorizeError: "access_denied" });
  const { page, r } = await signInThrough(oidc());
  await page.close();
  assert.deepEqual([r.ok, r.code, r.auth, r.stored], [false, "access_denied", false, null]);
});

test("Cognito's hosted UI: signIn at <domain>/oauth2/authorize, the code at <domain>/oauth2/token, the ID token of the user pool, logout({ redirect }) to <domain>/logout", async () => {
  const options = {
    refresh: { type: "cognito", clientId: "demo", endpoint: "/cognito/", domain: h.origin + "/hosted/", userPoolId: HOSTED_POOL_ID, postLogoutRedirectUri: h.origin + "/www/bye.html" },
    storage: "session",
    storageKey: "t-hosted",
  };
  const { page, r } = await signInThrough(options);
  assert.equal(r.ok, true, JSON.stringify(r));
  const st = await h.stats(true);
  assert.equal(st.counts.codeGrants, 1);
  await Promise.all([
    page.waitForURL((u) => u.pathname === "/hosted/logout", { timeout: 10_000 }),
    page.evaluate(() => { s.logout({ redirect: true }); }),
  ]);
  const at = new URL(page.url());
  await page.close();
  assert.deepEqual(Object.fromEntries(at.searchParams), { client_id: "demo", logout_uri: h.origin + "/www/bye.html" }, "Cognito's /logout, without an ID token");
});

test("Cognito's hosted UI: an ID token that is not the user pool's (userPoolId) is refused: id-token-invalid, nothing stored", async () => {
  await h.faults({ idTokenClaims: { iss: "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_other" } });
  const options = { refresh: { type: "cognito", clientId: "demo", endpoint: "/cognito/", domain: h.origin + "/hosted/", userPoolId: HOSTED_POOL_ID }, storage: "session", storageKey: "t-hosted-iss" };
  const { page, r } = await signInThrough(options);
  await page.close();
  assert.deepEqual([r.ok, r.code, r.auth, r.stored], [false, "id-token-invalid", false, null], JSON.stringify(r));
  assert.match(r.message, /`iss`/);
});

/** A session started with the dev server's tokens, revoking at `revocationUrl`. */
async function revokeWith(revocationUrl) {
  const t = await h.login();
  const r = await h.page.evaluate(async ({ t, revocationUrl }) => {
    const s = make({ refresh: { type: "oauth2", tokenUrl: "/oauth/token", revocationUrl, clientId: "demo" }, retry: { baseDelayMs: 5 } }, tokens(t));
    await s.logout({ revoke: true });
    return { events, auth: s.isAuthenticated() };
  }, { t, revocationUrl });
  const refreshed = await h.page.evaluate((rt) => grant(rt).then((x) => x.status), t.refresh_token);
  return { ...r, refreshed };
}

test("a revocation is retried while the server is unavailable, then revoked: true; the refresh token is dead at the server", async () => {
  await h.faults({ revokeMode: "503", revokeFaultCount: 2 });
  const r = await revokeWith("/oauth/revoke");
  const st = await h.stats();
  assert.equal(st.counts.revokeRequests, 3);
  assert.equal(st.counts.revoked, 1);
  assert.deepEqual(r.events.filter((e) => e.type === "retry").map((e) => [e.status, e.refresh]), [[503, true], [503, true]]);
  assert.deepEqual(r.events.filter((e) => e.type === "session-expired"), [{ type: "session-expired", reason: "logout", revoked: true }]);
  assert.equal(r.auth, false);
  assert.equal(r.refreshed, 400, "the server refuses the revoked refresh token");
});

test("a refused revocation still ends the session here, and says revoked: false", async () => {
  await h.faults({ revokeMode: "400" });
  const r = await revokeWith("/oauth/revoke");
  assert.deepEqual(r.events.filter((e) => e.type === "session-expired"), [{ type: "session-expired", reason: "logout", revoked: false }]);
  assert.equal(r.auth, false);
  assert.equal((await h.stats()).counts.revokeRequests, 1, "a refusal is not retried");
});

test("a revocation endpoint on another origin than the token endpoint never gets the refresh token", async () => {
  const r = await revokeWith(h.foreign + "/oauth/revoke");
  assert.equal((await h.stats()).counts.revokeRequests, 0, "nothing sent to the other origin");
  assert.deepEqual(r.events.filter((e) => e.type === "session-expired").map((e) => e.revoked), [false]);
  assert.equal(r.auth, false, "ended here all the same");
  assert.equal(r.refreshed, 200, "the token was not revoked");
});

test("without a server to sign in at, signIn() is a SignInError (unsupported); bad options are TypeErrors that change nothing", async () => {
  const t = await h.login();
  const r = await h.page.evaluate(async (t) => {
    const s = make({}, tokens(t)); // a tokenUrl only: nowhere to sign in
    const code = await s.signIn({ returnUrl: true }).then(() => "resolved", (e) => e.name + ":" + e.detail.code);
    const typo = await s.signIn({ appstate: 1 }).then(() => "resolved", (e) => e.name + ": " + e.message);
    const badLogout = await s.logout({ revoek: true }).then(() => "resolved", (e) => e.name + ": " + e.message);
    return { code, typo, badLogout, auth: s.isAuthenticated() };
  }, t);
  assert.equal(r.code, "SignInError:unsupported");
  assert.match(r.typo, /^TypeError: .*unknown option `signIn\.appstate`: did you mean `signIn\.appState`/);
  assert.match(r.badLogout, /^TypeError: .*`logout\.revoek`: did you mean `logout\.revoke`/);
  assert.equal(r.auth, true, "a refused logout ends nothing");
});
