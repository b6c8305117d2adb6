// Conformance: sessionguard against real identity servers on loopback, with tokens obtained the
// way an app obtains them (sessionguard's own signIn()/handleRedirect(): authorization code +
// PKCE in Chromium through oidc-provider's login and consent pages; USER_PASSWORD_AUTH against
// cognito-local), and requests counted at the servers.
import { test, before, after, beforeEach } from "node:test";
import assert from "node:assert/strict";
import { start, FULL_ONLY, LITE } from "../e2e/harness.mjs";
import { startOidcProvider, startCognitoLocal } from "../../server/idp.mjs";

const root = new URL("../..", import.meta.url).pathname;
let h, op, cg;
const APP = "/tests/conformance/app.html";

before(async () => {
  h = await start({ extraStatic: { "/tests/conformance/": root + "tests/conformance" }, page: APP });
  op = await startOidcProvider({ appOrigin: h.origin, redirectPaths: [APP] });
  cg = await startCognitoLocal();
});
after(async () => {
  await Promise.allSettled([h?.close(), op?.close(), cg?.close()]);
});
beforeEach(() => { op.reset(); cg.reset(); });

/** The options of an app signing in at oidc-provider through discovery (`issuer` only). */
const signInOptions = (storageKey, more = {}) => ({
  refresh: { type: "oauth2", issuer: op.issuer, clientId: "spa", scope: "openid email offline_access", postLogoutRedirectUri: h.origin + APP },
  allowedOrigins: [op.issuer, op.resource.origin],
  storage: "session",
  storageKey,
  ...more,
});

/** To oidc-provider's login page with sessionguard's signIn() (the page navigates itself). */
async function toLoginPage(page, options, signIn = {}) {
  await Promise.all([
    page.waitForURL((u) => u.href.startsWith(op.issuer), { timeout: 10_000 }),
    page.evaluate(({ options, signIn }) => {
      window.s = new SG.SessionManager(options);
      window.s.signIn(signIn); // navigates away
    }, { options, signIn }),
  ]);
}

/** Fills oidc-provider's login and consent pages; ends on the app's redirect URI. */
async function passLoginPages(page, user) {
  await page.fill("input[name=login]", user);
  await page.fill("input[name=password]", "any");
  await page.click("button[type=submit]");
  await page.waitForURL((u) => u.href.startsWith(op.issuer + "/interaction/") || u.href.startsWith(h.origin), { timeout: 10_000 });
  if (page.url().startsWith(op.issuer)) await page.click("button[type=submit]"); // consent
  await page.waitForURL((u) => u.href.startsWith(h.origin + APP), { timeout: 10_000 });
  await page.waitForFunction(() => window.sgReady, null, { timeout: 10_000 });
}

/** A real sign-in at oidc-provider with signIn() and handleRedirect(): its login and consent
 * pages in Chromium, the code exchanged by sessionguard. Returns the page, the tokens as the
 * session stored them (a token answer), and what the app saw. */
async function loginOidc(user = "alice", { storageKey = "conf-login", appState = { to: "/inbox" }, more = {} } = {}) {
  // on a lite run, the sign-in that sets the test up is the full build's; the test goes on in a
  // lite page
  let page = await h.openPage(APP + (LITE ? "?full" : ""));
  const options = signInOptions(storageKey, more);
  await toLoginPage(page, options, { appState, extraParams: { prompt: "login consent" } });
  await passLoginPages(page, user);
  const callbackUrl = page.url();
  const seen = await page.evaluate(async ({ options, key }) => {
    window.s = new SG.SessionManager(options);
    const appState = await window.s.handleRedirect();
    const store = options.storage === "local" ? localStorage : sessionStorage;
    const rec = JSON.parse(store.getItem(key));
    return { appState, search: location.search, rec, auth: window.s.isAuthenticated(), id: window.s.claims("id") };
  }, { options, key: storageKey });
  assert.ok(seen.rec && seen.rec.a && seen.rec.r, "a real sign-in stored tokens: " + JSON.stringify(seen));
  const login = { access_token: seen.rec.a, refresh_token: seen.rec.r, id_token: seen.rec.i };
  if (LITE) {
    await page.close();
    page = await h.openPage(APP);
  }
  return { page, login, seen, callbackUrl };
}

const oauth2 = () => ({ type: "oauth2", tokenUrl: op.issuer + "/token", clientId: "spa", userInfoUrl: op.issuer + "/me" });

test("oidc-provider: a storm on an expired token makes one refresh grant; the rotated refresh token replaces the old one", async () => {
  const { page, login } = await loginOidc();
  op.reset();
  const r = await page.evaluate(async ({ login, refresh, issuer }) => {
    const s = new SG.SessionManager({ refresh, allowedOrigins: [issuer], storage: "local", storageKey: "conf-rotation", crossTab: false });
    s.setTokens({ ...login, expires_in: 0 });
    const res = await Promise.all(Array.from({ length: 20 }, () => s.fetch(issuer + "/me").then((x) => x.status)));
    const stored = JSON.parse(localStorage.getItem("conf-rotation"));
    const me = await s.userInfo();
    s.dispose();
    return { statuses: [...new Set(res)], rotated: stored.r !== login.refresh_token, sub: me.sub, email: me.email };
  }, { login, refresh: oauth2(), issuer: op.issuer });
  await page.close();
  assert.deepEqual(r.statuses, [200], "all calls answered by the real userinfo endpoint");
  assert.equal(op.counts.refreshGrants, 1, "exactly one refresh grant at the server");
  assert.equal(op.counts.invalidGrant, 0);
  assert.equal(r.rotated, true, "the new refresh token replaced the old one");
  assert.deepEqual([r.sub, r.email], ["alice", "alice@example.test"], "userInfo() through userInfoUrl");
});

/** Two tabs holding one session; a storm in each on an expired token. */
async function twoTabStorm(crossTab) {
  const a = await loginOidc("bob");
  const b = await h.openPage(APP);
  op.reset();
  const setup = async (page, login) => page.evaluate(async ({ login, refresh, issuer, crossTab }) => {
    const s = new SG.SessionManager({ refresh, allowedOrigins: [issuer], storage: crossTab ? "local" : "memory", storageKey: "conf-tabs", crossTab });
    window.s = s;
    window.ended = [];
    s.addEventListener("session-expired", (e) => window.ended.push(e.detail.reason));
    if (login) s.setTokens({ ...login, expires_in: 0 });
  }, { login, refresh: oauth2(), issuer: op.issuer, crossTab });
  await setup(b.page ?? b, null);
  await setup(a.page, a.login);
  if (!crossTab) await (b.page ?? b).evaluate((login) => s.setTokens({ ...login, expires_in: 0 }), a.login);
  const storm = (page) => page.evaluate(async (issuer) => {
    await new Promise((r) => setTimeout(r, 20));
    const res = await Promise.all(Array.from({ length: 20 }, () => s.fetch(issuer + "/me").then((x) => x.status, (e) => e.name + ":" + e.reason)));
    await new Promise((r) => setTimeout(r, 200));
    return { res, ended: window.ended, auth: s.isAuthenticated(), stats: s.stats() };
  }, op.issuer);
  const [ra, rb] = await Promise.all([storm(a.page), storm(b.page ?? b)]);
  await a.page.close();
  await (b.page ?? b).close();
  return { a: ra, b: rb, counts: { ...op.counts } };
}

test("oidc-provider, two tabs with crossTab: one refresh grant for both storms, no invalid_grant, 40/40 answered", async () => {
  const r = await twoTabStorm(true);
  assert.equal(r.counts.refreshGrants, 1);
  assert.equal(r.counts.invalidGrant, 0);
  assert.deepEqual([...new Set([...r.a.res, ...r.b.res])], [200]);
  assert.deepEqual([r.a.ended, r.b.ended], [[], []]);
});

test("oidc-provider, the hazard crossTab prevents: two tabs without it present the same rotating refresh token", async () => {
  const r = await twoTabStorm(false);
  console.log("# crossTab:false against oidc-provider:", JSON.stringify({ grants: r.counts.refreshGrants, invalidGrant: r.counts.invalidGrant, tabA: { ended: r.a.ended, ok: r.a.res.filter((x) => x === 200).length }, tabB: { ended: r.b.ended, ok: r.b.res.filter((x) => x === 200).length } }));
  assert.ok(r.counts.invalidGrant >= 1, "the server saw the reused rotated token");
  for (const tab of [r.a, r.b]) {
    assert.ok(tab.ended.length <= 1, "at most one session-expired per tab");
    assert.ok(tab.stats.refreshes <= 2, "no refresh loop");
  }
  assert.ok(r.counts.refreshGrants + r.counts.invalidGrant <= 4, "bounded");
});

test("oidc-provider: a refresh token revoked at the real revocation endpoint ends the session once, every waiter rejected", async () => {
  const { page, login } = await loginOidc("carol");
  const rev = await fetch(op.issuer + "/token/revocation", { method: "POST", headers: { "Content-Type": "application/x-www-form-urlencoded" }, body: new URLSearchParams({ token: login.refresh_token, token_type_hint: "refresh_token", client_id: "spa" }) });
  assert.equal(rev.status, 200);
  op.reset();
  const r = await page.evaluate(({ login, refresh, issuer }) =>
    refusedStorm({ refresh, allowedOrigins: [issuer] }, { ...login, expires_in: 0 }, issuer + "/me", "conf-revoked"),
  { login, refresh: oauth2(), issuer: op.issuer });
  await page.close();
  assert.deepEqual(r.res, ["refresh-rejected"]);
  assert.deepEqual(r.ended, ["refresh-rejected"]);
  assert.equal(r.stored, null, "storage cleared");
  assert.equal(op.counts.userinfo, 0, "nothing sent with a dead token");
});

// ---- sign-in and sign-out at the server (signIn, handleRedirect, logout({ revoke, redirect })) ----

/** A refresh grant for `refreshToken`, asked of oidc-provider directly: its status. */
const refreshAtServer = async (refreshToken) => (await fetch(op.issuer + "/token", {
  method: "POST",
  headers: { "Content-Type": "application/x-www-form-urlencoded" },
  body: new URLSearchParams({ grant_type: "refresh_token", refresh_token: refreshToken, client_id: "spa" }),
})).status;

test("oidc-provider: signIn() and handleRedirect() sign in through the real login and consent pages; refresh and userInfo through discovery", FULL_ONLY, async () => {
  const { page, seen, login } = await loginOidc("grace", { storageKey: "conf-signin", appState: { to: "/inbox", n: 7 } });
  assert.deepEqual(seen.appState, { to: "/inbox", n: 7 }, "the app state comes back");
  assert.equal(seen.search, "", "code, state and iss are gone from the address bar");
  assert.equal(seen.auth, true);
  assert.equal(seen.id.sub, "grace");
  assert.equal(typeof seen.id.nonce, "string", "the ID token carries this sign-in's nonce");
  assert.equal(op.counts.codeGrants, 1, "one code exchange");
  op.reset();
  const r = await page.evaluate(async ({ issuer, key }) => {
    const rec = JSON.parse(sessionStorage.getItem(key));
    s.setTokens({ accessToken: rec.a, refreshToken: rec.r, idToken: rec.i, expiresIn: 0 });
    const res = await Promise.all(Array.from({ length: 10 }, () => s.fetch(issuer + "/me").then((x) => x.status)));
    const me = await s.userInfo();
    return { res: [...new Set(res)], sub: me.sub, kept: Object.keys(sessionStorage).filter((k) => k.endsWith(":signin")) };
  }, { issuer: op.issuer, key: "conf-signin" });
  await page.close();
  assert.deepEqual(r.res, [200]);
  assert.equal(op.counts.refreshGrants, 1, "the discovered token endpoint: one refresh grant for the storm");
  assert.equal(r.sub, "grace", "userInfo() at the discovered userinfo_endpoint");
  assert.deepEqual(r.kept, [], "the sign-in's secrets are gone once used");
  assert.ok(login.refresh_token);
});

test("oidc-provider: logout({ revoke: true }) revokes the refresh token at the server; the event says so; the token is refused afterwards", FULL_ONLY, async () => {
  const { page, login } = await loginOidc("heidi", { storageKey: "conf-revoke" });
  op.reset();
  const r = await page.evaluate(async () => {
    const ended = [];
    s.addEventListener("session-expired", (e) => ended.push(e.detail));
    const p = s.logout({ revoke: true });
    const authAtOnce = s.isAuthenticated(); // ended here before the server answers
    await p;
    return { ended, authAtOnce, auth: s.isAuthenticated(), stored: sessionStorage.getItem("conf-revoke") };
  });
  await page.close();
  assert.deepEqual(r.ended, [{ reason: "logout", revoked: true }]);
  assert.equal(r.authAtOnce, false);
  assert.equal(r.stored, null, "storage cleared");
  assert.equal(op.counts.revoked >= 1, true, "the grant was revoked at the server");
  assert.equal(await refreshAtServer(login.refresh_token), 400, "the revoked refresh token is refused by the server");
});

test("oidc-provider: logout({ redirect: true }) goes to the end-session endpoint with id_token_hint and comes back", FULL_ONLY, async () => {
  const { page, login } = await loginOidc("ivan", { storageKey: "conf-end" });
  await Promise.all([
    page.waitForURL((u) => u.href.startsWith(op.issuer), { timeout: 10_000 }),
    page.evaluate(() => { s.logout({ redirect: true }); }),
  ]);
  const at = new URL(page.url());
  assert.equal(at.searchParams.get("id_token_hint"), login.id_token, "the ID token as the hint");
  assert.equal(at.searchParams.get("post_logout_redirect_uri"), h.origin + APP);
  await page.click("button[autofocus], button[name=logout]"); // oidc-provider's "Yes, sign me out"
  await page.waitForURL((u) => u.href.startsWith(h.origin + APP), { timeout: 10_000 });
  await page.close();
});

test("oidc-provider: a tampered state is refused (state-mismatch), nothing stored; the real redirect still signs in", FULL_ONLY, async () => {
  const page = await h.openPage(APP);
  await toLoginPage(page, signInOptions("conf-tamper"), { extraParams: { prompt: "login consent" } });
  await passLoginPages(page, "judy");
  const real = new URL(page.url());
  const forged = new URL(real);
  forged.searchParams.set("state", "forged-" + real.searchParams.get("state"));
  const r = await page.evaluate(async ({ options, forged }) => {
    const s = new SG.SessionManager(options);
    const err = await s.handleRedirect(forged).then(() => null, (e) => ({ name: e.name, code: e.detail.code, isClass: e instanceof SG.SignInError, message: e.message }));
    const after = { auth: s.isAuthenticated(), stored: sessionStorage.getItem(options.storageKey) };
    await s.handleRedirect(); // the real one, from the address bar
    return { err, after, auth: s.isAuthenticated() };
  }, { options: signInOptions("conf-tamper"), forged: forged.href });
  await page.close();
  assert.deepEqual({ ...r.err, message: undefined }, { name: "SignInError", code: "state-mismatch", isClass: true, message: undefined });
  assert.match(r.err.message, /state/);
  assert.deepEqual(r.after, { auth: false, stored: null }, "nothing stored");
  assert.equal(op.counts.codeGrants, 1, "only the real redirect reached the token endpoint");
  assert.equal(r.auth, true, "the forged redirect did not cancel the real sign-in");
});

test("oidc-provider: a replayed redirect finds nothing (state-mismatch) and a replayed code is refused (code-rejected); nothing stored", FULL_ONLY, async () => {
  const page = await h.openPage(APP);
  await toLoginPage(page, signInOptions("conf-replay"), { extraParams: { prompt: "login consent" } });
  await passLoginPages(page, "ken");
  const r = await page.evaluate(async (options) => {
    const key = options.storageKey + ":signin";
    const kept = sessionStorage.getItem(key);
    const url = location.href;
    const first = new SG.SessionManager(options);
    await first.handleRedirect();
    const codeOf = (e) => e.detail.code;
    const mem = { ...options, storage: "memory" };
    const second = new SG.SessionManager(mem);
    const replayed = await second.handleRedirect(url).then(() => "accepted", codeOf);
    sessionStorage.setItem(key, kept); // an attacker who also kept the secrets: the server refuses the code
    const third = new SG.SessionManager(mem);
    const reused = await third.handleRedirect(url).then(() => "accepted", codeOf);
    return { replayed, reused, auth: [second.isAuthenticated(), third.isAuthenticated()], firstAuth: first.isAuthenticated() };
  }, signInOptions("conf-replay"));
  await page.close();
  assert.equal(r.replayed, "state-mismatch");
  assert.equal(r.reused, "code-rejected");
  assert.deepEqual(r.auth, [false, false], "nothing stored by either");
  assert.equal(r.firstAuth, true);
  assert.equal(op.counts.codeGrants, 1, "the code was exchanged once");
});

test("oidc-provider: a user who cancels at the login page comes back with access_denied: SignInError, nothing stored", FULL_ONLY, async () => {
  const page = await h.openPage(APP);
  await toLoginPage(page, signInOptions("conf-denied"), { extraParams: { prompt: "login consent" } });
  await page.click("a[href$='/abort']"); // oidc-provider's "[ Cancel ]"
  await page.waitForURL((u) => u.href.startsWith(h.origin + APP), { timeout: 10_000 });
  await page.waitForFunction(() => window.sgReady, null, { timeout: 10_000 });
  const r = await page.evaluate(async (options) => {
    const s = new SG.SessionManager(options);
    const err = await s.handleRedirect().then(() => null, (e) => ({ name: e.name, code: e.detail.code, message: e.message }));
    return { err, auth: s.isAuthenticated(), stored: sessionStorage.getItem(options.storageKey), kept: sessionStorage.getItem(options.storageKey + ":signin"), search: location.search };
  }, signInOptions("conf-denied"));
  await page.close();
  assert.equal(r.err.name, "SignInError");
  assert.equal(r.err.code, "access_denied");
  assert.match(r.err.message, /access_denied/);
  assert.deepEqual([r.auth, r.stored, r.kept, r.search], [false, null, null, ""], "nothing stored, the secrets used up, the address bar clean");
  assert.equal(op.counts.codeGrants, 0);
});

test("oidc-provider: the issuer compares byte for byte: `issuer` with a trailing slash is not the server's, and signIn() fails before the page leaves (discovery-failed)", FULL_ONLY, async () => {
  const page = await h.openPage(APP);
  const r = await page.evaluate(async (options) => {
    const s = new SG.SessionManager(options);
    const before = location.href;
    const err = await s.signIn({ returnUrl: true }).then((u) => ({ resolved: u }), (e) => ({ name: e.name, code: e.detail.code, message: e.message }));
    return { err, stayed: location.href === before };
  }, signInOptions("conf-slash", { refresh: { type: "oauth2", issuer: op.issuer + "/", clientId: "spa" } }));
  await page.close();
  assert.deepEqual([r.err.name, r.err.code], ["SignInError", "discovery-failed"], JSON.stringify(r.err));
  assert.ok(r.err.message.includes(`its \`issuer\` is "${op.issuer}", not \`refresh.issuer\``), r.err.message);
  assert.equal(r.stayed, true);
});

test("oidc-provider: its metadata says it sends `iss` (RFC 9207), so a redirect back without `iss` is refused (issuer-missing): no exchange, nothing stored", FULL_ONLY, async () => {
  const meta = await (await fetch(op.issuer + "/.well-known/openid-configuration")).json();
  assert.equal(meta.authorization_response_iss_parameter_supported, true, "what oidc-provider says");
  const page = await h.openPage(APP);
  await toLoginPage(page, signInOptions("conf-no-iss"), { extraParams: { prompt: "login consent" } });
  await passLoginPages(page, "olaf");
  const real = new URL(page.url());
  assert.equal(real.searchParams.get("iss"), op.issuer, "the real redirect carries it");
  const stripped = new URL(real);
  stripped.searchParams.delete("iss");
  const r = await page.evaluate(async ({ options, url }) => {
    const s = new SG.SessionManager(options);
    const err = await s.handleRedirect(url).then(() => null, (e) => ({ name: e.name, code: e.detail.code, message: e.message }));
    return { err, auth: s.isAuthenticated(), stored: sessionStorage.getItem(options.storageKey) };
  }, { options: signInOptions("conf-no-iss"), url: stripped.href });
  await page.close();
  assert.deepEqual([r.err.name, r.err.code], ["SignInError", "issuer-missing"], JSON.stringify(r.err));
  assert.match(r.err.message, /RFC 9207/);
  assert.deepEqual([r.auth, r.stored], [false, null]);
  assert.equal(op.counts.tokenRequests, 0, "the code was not sent");
});

test("oidc-provider: a code exchange whose answer is lost (the server issued the tokens, a gateway answered 502) is never replayed: exchange-failed, and the server never sees the code twice", FULL_ONLY, async () => {
  const page = await h.openPage(APP);
  await toLoginPage(page, signInOptions("conf-lost"), { extraParams: { prompt: "login consent" } });
  await passLoginPages(page, "petra");
  op.reset();
  op.faults.loseAnswers = 1;
  const r = await page.evaluate(async (options) => {
    const s = new SG.SessionManager(options);
    const err = await s.handleRedirect().then(() => null, (e) => ({ name: e.name, code: e.detail.code, message: e.message }));
    return { err, auth: s.isAuthenticated(), stored: sessionStorage.getItem(options.storageKey) };
  }, signInOptions("conf-lost"));
  await page.close();
  assert.deepEqual([r.err.name, r.err.code], ["SignInError", "exchange-failed"], JSON.stringify(r.err));
  assert.match(r.err.message, /HTTP 502.*not sent twice/);
  assert.deepEqual([r.auth, r.stored], [false, null]);
  assert.equal(op.counts.tokenRequests, 1, "one exchange");
  assert.equal(op.counts.codeGrants, 1, "the server did issue tokens for it");
  assert.equal(op.counts.invalidGrant, 0, "the code was never presented again (RFC 6749 §4.1.2: that may revoke the grant)");
});

test("oidc-provider: a code exchange answered 503 with Retry-After before the server saw it (it did not act) is sent again and signs in", FULL_ONLY, async () => {
  const page = await h.openPage(APP);
  await toLoginPage(page, signInOptions("conf-busy"), { extraParams: { prompt: "login consent" } });
  await passLoginPages(page, "quinn");
  op.reset();
  op.faults.unavailable = 1;
  const r = await page.evaluate(async (options) => {
    const s = new SG.SessionManager(options);
    await s.handleRedirect();
    return { auth: s.isAuthenticated(), sub: s.claims("id").sub };
  }, signInOptions("conf-busy"));
  await page.close();
  assert.deepEqual(r, { auth: true, sub: "quinn" });
  assert.equal(op.counts.tokenRequests, 2, "the 503, then the exchange");
  assert.equal(op.counts.codeGrants, 1);
  assert.equal(op.counts.invalidGrant, 0);
});

const cognito = () => ({ type: "cognito", clientId: cg.clientId, endpoint: cg.endpoint });

// ---- DPoP (RFC 9449): oidc-provider binds the tokens, our resource server checks every proof ----

test("oidc-provider, dpop: sign-in binds the tokens to the page's key after the token endpoint's nonce dance; fetch and axios calls carry proofs the resource server verifies (its nonce asked for once per nonce); userInfo with a proof; a storm makes one bound refresh grant", FULL_ONLY, async () => {
  const { page, seen } = await loginOidc("kim", { storageKey: "conf-dpop", more: { dpop: true } });
  assert.equal(seen.rec.d, true, "the stored token set is DPoP-bound");
  assert.equal(op.counts.codeGrants, 1);
  assert.equal(op.counts.boundGrants, 1, "the code exchange carried a proof: the server bound the tokens");
  assert.equal(op.counts.useDpopNonce, 1, "the token endpoint asked for its nonce once, and the exchange was sent again with it");
  op.reset();
  const url = op.resource.url;
  const first = await page.evaluate(async (url) => {
    const calls = Array.from({ length: 6 }, (_, i) => s.fetch(url + "?i=" + i, i % 2 ? { method: "POST", body: "x" } : undefined).then((r) => r.status));
    const statuses = await Promise.all(calls);
    const again = await Promise.all(Array.from({ length: 4 }, () => s.fetch(url).then((r) => r.status)));
    const api = axios.create();
    s.attachAxios(api);
    const viaAxios = (await api.patch(url + "?via=axios", { a: 1 })).status;
    return { statuses, again, viaAxios };
  }, url);
  assert.deepEqual(first.statuses, [200, 200, 200, 200, 200, 200]);
  assert.deepEqual(first.again, [200, 200, 200, 200]);
  assert.equal(first.viaAxios, 200);
  assert.deepEqual(op.resource.counts.refused, {}, "every proof verified: signature, htm, htu, ath, unique jti, iat, binding");
  assert.equal(op.resource.counts.nonceChallenges, 6, "the six calls made before the nonce was known were each sent once more; none after");
  assert.equal(op.resource.counts.ok, 11);
  assert.ok(op.resource.counts.methods.includes("PATCH") && op.resource.counts.methods.includes("POST"));
  // the server changes its nonce: one challenge, one retry
  op.resource.rotateNonce();
  op.resource.reset();
  const rotated = await page.evaluate(async (url) => (await s.fetch(url)).status, url);
  assert.equal(rotated, 200);
  assert.equal(op.resource.counts.nonceChallenges, 1);
  // userInfo at oidc-provider's userinfo endpoint, which wants a proof (and its nonce) for a bound token
  const me = await page.evaluate(async () => (await s.userInfo()).sub);
  assert.equal(me, "kim");
  // a storm on an expired token: one refresh grant, with a proof, still bound; every call answered
  op.reset();
  const storm = await page.evaluate(async (url) => {
    const rec = JSON.parse(sessionStorage.getItem("conf-dpop"));
    s.setTokens({ access_token: rec.a, refresh_token: rec.r, token_type: "DPoP", expires_in: 0 });
    const res = await Promise.all(Array.from({ length: 20 }, () => s.fetch(url).then((r) => r.status)));
    return { res: [...new Set(res)], bound: JSON.parse(sessionStorage.getItem("conf-dpop")).d, stats: s.stats() };
  }, url);
  await page.close();
  assert.deepEqual(storm.res, [200]);
  assert.equal(op.counts.refreshGrants, 1, "single flight holds with DPoP on");
  assert.equal(op.counts.boundGrants, 1);
  assert.equal(storm.bound, true);
  assert.equal(op.resource.counts.jkts.size, 1, "one key for the whole session");
  assert.deepEqual(op.resource.counts.refused, {});
});

test("oidc-provider, dpop: a stolen refresh token is refused by the server without the key, and a stolen access token is refused by the resource; the page's own session goes on", FULL_ONLY, async () => {
  const { page, seen } = await loginOidc("lena", { storageKey: "conf-dpop-theft", more: { dpop: true } });
  op.reset();
  // what an injected script could read from storage, used elsewhere (here: from Node)
  assert.equal(await refreshAtServer(seen.rec.r), 400, "the bound refresh token without a proof of the key");
  assert.equal(op.counts.refreshGrants, 0);
  const asBearer = await fetch(op.resource.url, { headers: { Authorization: "Bearer " + seen.rec.a } });
  const asDpop = await fetch(op.resource.url, { headers: { Authorization: "DPoP " + seen.rec.a } });
  assert.equal(asBearer.status, 401);
  assert.equal(asDpop.status, 401);
  const meAsBearer = await fetch(op.issuer + "/me", { headers: { Authorization: "Bearer " + seen.rec.a } });
  assert.equal(meAsBearer.status, 401, "oidc-provider refuses a bound token presented as a bearer token");
  // the page, which holds the key, refreshes with the same refresh token
  const r = await page.evaluate(async (url) => {
    const rec = JSON.parse(sessionStorage.getItem("conf-dpop-theft"));
    s.setTokens({ access_token: rec.a, refresh_token: rec.r, token_type: "DPoP", expires_in: 0 });
    return (await s.fetch(url)).status;
  }, op.resource.url);
  await page.close();
  assert.equal(r, 200);
  assert.equal(op.counts.refreshGrants, 1);
});

test("oidc-provider, dpop: a nonce challenge whose nonce the page cannot read (not exposed by CORS) goes back as the 401 it is, once, with one console warning: no refresh, no logout", FULL_ONLY, async () => {
  const { page } = await loginOidc("nora", { storageKey: "conf-dpop-cors", more: { dpop: true } });
  const warnings = [];
  page.on("console", (m) => { if (m.type() === "warning" && m.text().includes("DPoP-Nonce")) warnings.push(m.text()); });
  op.reset();
  op.resource.settings.exposeNonce = false;
  const r = await page.evaluate(async (url) => {
    const statuses = [];
    for (let i = 0; i < 3; i++) statuses.push((await s.fetch(url)).status);
    return { statuses, auth: s.isAuthenticated() };
  }, op.resource.url);
  await page.close();
  assert.deepEqual(r.statuses, [401, 401, 401]);
  assert.equal(op.resource.counts.nonceChallenges, 3, "each call sent once: nothing retried without a nonce");
  assert.equal(r.auth, true, "a nonce challenge is not about the token: the session is kept");
  assert.equal(op.counts.refreshGrants, 0);
  assert.equal(warnings.length, 1, "told once: " + warnings.join(" | "));
});

test("oidc-provider, dpop: backoff and the 401 rule are unchanged: a 429 is retried with a new proof, a 401 about the token refreshes once (a bound grant) and replays with a proof for the new token", FULL_ONLY, async () => {
  const { page } = await loginOidc("olga", { storageKey: "conf-dpop-rules", more: { dpop: true } });
  const url = op.resource.url;
  await page.evaluate((url) => s.fetch(url), url); // the resource's nonce, learnt
  op.reset();
  op.resource.settings.throttle = 2;
  const throttled = await page.evaluate(async (url) => {
    const retries = [];
    s.addEventListener("retry", (e) => retries.push(e.detail.status));
    const r = await s.fetch(url, { method: "PUT", body: "x" });
    return { status: r.status, retries };
  }, url);
  assert.equal(throttled.status, 200);
  assert.deepEqual(throttled.retries, [429, 429]);
  assert.equal(op.resource.counts.throttled, 2);
  assert.deepEqual(op.resource.counts.refused, {}, "each retry with a proof of its own (a reused jti is refused)");
  op.reset();
  op.resource.settings.refuseToken = 1;
  const replayed = await page.evaluate(async (url) => {
    const statuses = await Promise.all(Array.from({ length: 5 }, () => s.fetch(url).then((r) => r.status)));
    return { statuses, auth: s.isAuthenticated() };
  }, url);
  await page.close();
  assert.deepEqual(replayed.statuses, [200, 200, 200, 200, 200]);
  assert.equal(op.resource.counts.tokenRefused, 1);
  assert.equal(op.counts.refreshGrants, 1, "one refresh for the 401");
  assert.equal(op.counts.boundGrants, 1, "the refresh carried a proof: the new tokens are bound too");
  assert.deepEqual(op.resource.counts.refused, {});
  assert.equal(replayed.auth, true);
});

test("oidc-provider, dpop: logout({ revoke: true }) sends its revocation with a proof; the grant is revoked at the server; the event says so", FULL_ONLY, async () => {
  const { page } = await loginOidc("pia", { storageKey: "conf-dpop-revoke", more: { dpop: true } });
  op.reset();
  const ended = await page.evaluate(async () => {
    const ended = [];
    s.addEventListener("session-expired", (e) => ended.push(e.detail));
    await s.logout({ revoke: true });
    return ended;
  });
  await page.close();
  assert.deepEqual(ended, [{ reason: "logout", revoked: true }]);
  assert.ok(op.counts.revocationProofs >= 1, "the revocation request carried a DPoP proof");
  assert.ok(op.counts.revoked >= 1, "the grant was revoked at the server");
});

test("oidc-provider, dpop: two tabs share one key from IndexedDB: a second tab's calls are accepted with the first tab's tokens, and a storm in both makes one refresh grant", FULL_ONLY, async () => {
  const more = { dpop: true, storage: "local" };
  const { page: a } = await loginOidc("mia", { storageKey: "conf-dpop-tabs", more });
  const b = await h.openPage(APP);
  op.reset();
  const options = signInOptions("conf-dpop-tabs", more);
  const url = op.resource.url;
  const fromB = await b.evaluate(async ({ options, url }) => {
    window.s = new SG.SessionManager(options); // restores the stored (bound) tokens, loads the kept key
    return (await s.fetch(url)).status;
  }, { options, url });
  assert.equal(fromB, 200, "the second tab proves the same key");
  assert.equal(op.resource.counts.jkts.size, 1);
  const expire = (p) => p.evaluate(() => {
    const rec = JSON.parse(localStorage.getItem("conf-dpop-tabs"));
    s.setTokens({ access_token: rec.a, refresh_token: rec.r, token_type: "DPoP", expires_in: 0 });
  });
  await expire(a);
  await new Promise((r) => setTimeout(r, 100));
  const storm = (p) => p.evaluate((url) => Promise.all(Array.from({ length: 10 }, () => s.fetch(url).then((r) => r.status))), url);
  const [ra, rb] = await Promise.all([storm(a), storm(b)]);
  await Promise.all([a.close(), b.close()]);
  assert.deepEqual([...new Set([...ra, ...rb])], [200]);
  assert.equal(op.counts.refreshGrants, 1, "one refresh for both tabs");
  assert.equal(op.counts.invalidGrant, 0);
  assert.equal(op.resource.counts.jkts.size, 1, "both tabs, one key");
  assert.deepEqual(op.resource.counts.refused, {});
});

test("dpop: the private key is non-extractable, kept in IndexedDB and nowhere else; with storage: \"memory\" nothing is kept; Cognito and refresh functions refuse the option", FULL_ONLY, async () => {
  const page = await h.openPage(APP);
  const r = await page.evaluate(async ({ issuer, resource }) => {
    const options = (storage, storageKey) => ({ refresh: { type: "oauth2", tokenUrl: issuer + "/token", clientId: "spa" }, allowedOrigins: [resource], storage, storageKey, dpop: true });
    const kept = async (key) => {
      const db = await new Promise((ok, no) => { const r = indexedDB.open("sessionguard-dpop"); r.onsuccess = () => ok(r.result); r.onerror = () => no(r.error); });
      const rec = await new Promise((ok, no) => { const r = db.transaction("keys").objectStore("keys").get(key); r.onsuccess = () => ok(r.result); r.onerror = () => no(r.error); });
      db.close();
      return rec;
    };
    const s1 = new SG.SessionManager(options("local", "key-check"));
    s1.setTokens({ access_token: "A", refresh_token: "R", token_type: "DPoP" });
    // a call makes a proof: by then the key is made and kept
    await s1.fetch(resource + "/api/dpop").catch(() => {});
    const rec = await kept("key-check");
    let exported = "no error";
    try { await crypto.subtle.exportKey("jwk", rec.privateKey); } catch (e) { exported = e.name; }
    let pkcs8 = "no error";
    try { await crypto.subtle.exportKey("pkcs8", rec.privateKey); } catch (e) { pkcs8 = e.name; }
    const stored = [...Object.keys(localStorage).map((k) => localStorage.getItem(k)), ...Object.keys(sessionStorage).map((k) => sessionStorage.getItem(k))].join("\n");
    const s2 = new SG.SessionManager(options("memory", "key-memory"));
    s2.setTokens({ access_token: "A", token_type: "DPoP" });
    await s2.fetch(resource + "/api/dpop").catch(() => {});
    const memoryKept = await kept("key-memory");
    const refused = [];
    for (const refresh of [{ type: "cognito", region: "eu-west-1", clientId: "c" }, async () => ({}), undefined]) {
      try { new SG.SessionManager({ refresh, dpop: true }); refused.push("accepted"); } catch (e) { refused.push(e instanceof TypeError ? e.message : "not a TypeError"); }
    }
    s1.dispose(); s2.dispose();
    return {
      extractable: rec.privateKey.extractable, type: rec.privateKey.type, algorithm: rec.privateKey.algorithm.namedCurve, usages: rec.privateKey.usages,
      exported, pkcs8, keyLike: /privateKey|"d"\s*:\s*"|"kty"|BEGIN/.test(stored), memoryKept: memoryKept === undefined, refused,
    };
  }, { issuer: op.issuer, resource: op.resource.origin });
  await page.close();
  assert.equal(r.extractable, false);
  assert.equal(r.type, "private");
  assert.equal(r.algorithm, "P-256");
  assert.deepEqual(r.usages, ["sign"]);
  assert.equal(r.exported, "InvalidAccessError");
  assert.equal(r.pkcs8, "InvalidAccessError");
  assert.equal(r.keyLike, false, "nothing key-like in localStorage or sessionStorage");
  assert.equal(r.memoryKept, true, "storage: \"memory\": the key is not kept");
  assert.match(r.refused[0], /dpop.*Cognito does not support DPoP/);
  assert.match(r.refused[1], /dpop.*refresh function/);
  assert.match(r.refused[2], /dpop/);
});

test("cognito-local: a storm on an expired token makes one REFRESH_TOKEN_AUTH; an API that validates tokens answers all; userInfo() is one GetUser", async () => {
  const auth = await cg.user("dave");
  cg.reset();
  const r = await h.page.evaluate(async ({ auth, refresh, origin }) => {
    const s = new SG.SessionManager({ refresh, allowedOrigins: [origin] });
    s.setTokens({ ...auth, ExpiresIn: 0 }); // Cognito's AuthenticationResult, as InitiateAuth gave it
    const res = await Promise.all(Array.from({ length: 20 }, () => s.fetch(origin + "/api/me").then((x) => x.status)));
    const [u1, u2] = await Promise.all([s.userInfo(), s.userInfo()]);
    s.dispose();
    return { statuses: [...new Set(res)], username: typeof u1.username, email: u1.email, sub: typeof u1.sub, same: u1 === u2 };
  }, { auth, refresh: cognito(), origin: cg.origin });
  assert.deepEqual(r.statuses, [200]);
  assert.equal(cg.counts.refresh, 1, "exactly one REFRESH_TOKEN_AUTH at the emulator");
  assert.equal(cg.counts.apiOk, 20, "every call validated for real");
  assert.deepEqual([r.username, r.email, r.sub, r.same], ["string", "dave@example.test", "string", true], "the OIDC shape, flat");
  assert.equal(cg.counts.getUser, 1, "one GetUser for two userInfo() calls");
});

test("cognito-local: throttled refresh (400 TooManyRequestsException, as AWS sends it) backs off, then succeeds; session kept", async () => {
  const auth = await cg.user("erin");
  cg.reset();
  cg.faults.throttleRefresh = 2;
  cg.faults.throttleGetUser = 1;
  const r = await h.page.evaluate(async ({ auth, refresh, origin }) => {
    const s = new SG.SessionManager({ refresh, allowedOrigins: [origin], retry: { baseDelayMs: 50 } });
    const retries = [];
    s.addEventListener("retry", (e) => retries.push(e.detail));
    s.setTokens({ ...auth, ExpiresIn: 0 });
    const status = (await s.fetch(origin + "/api/me")).status;
    const users = await Promise.all(Array.from({ length: 10 }, () => s.userInfo().then((u) => u.email)));
    return { status, users: [...new Set(users)], refreshRetries: retries.filter((d) => d.refresh).map((d) => d.status), userInfoRetries: retries.filter((d) => !d.refresh).map((d) => d.status), auth: s.isAuthenticated() };
  }, { auth, refresh: cognito(), origin: cg.origin });
  assert.equal(r.status, 200);
  assert.deepEqual(r.refreshRetries, [400, 400]);
  assert.equal(cg.counts.refresh, 3, "two throttled attempts, then the refresh");
  assert.deepEqual(r.users, ["erin@example.test"], "userInfo() backed off too");
  assert.deepEqual(r.userInfoRetries, [400]);
  assert.equal(cg.counts.getUser, 2);
  assert.equal(r.auth, true);
});

test("cognito-local: a deleted user's refresh is refused: one session-expired, waiters rejected, storage cleared", async () => {
  // (cognito-local still refreshes for a *disabled* user, unlike AWS; deleting the user is refused by both)
  const auth = await cg.user("frank");
  const del = await cg.call("AdminDeleteUser", { UserPoolId: cg.poolId, Username: "frank@example.test" });
  assert.equal(del.status, 200);
  cg.reset();
  const r = await h.page.evaluate(({ auth, refresh, origin }) =>
    refusedStorm({ refresh, allowedOrigins: [origin] }, { ...auth, ExpiresIn: 0 }, origin + "/api/me", "conf-deleted"),
  { auth, refresh: cognito(), origin: cg.origin });
  assert.deepEqual(r.res, ["refresh-rejected"]);
  assert.deepEqual(r.ended, ["refresh-rejected"]);
  assert.equal(r.stored, null);
  assert.equal(cg.counts.refresh, 1);
  assert.equal(cg.counts.api, 0, "nothing sent with a dead token");
});

test("cognito-local: logout({ revoke: true }) calls RevokeToken, backing off while throttled (400 TooManyRequestsException); the refresh token is refused afterwards", FULL_ONLY, async () => {
  const auth = await cg.user("liam");
  cg.reset();
  cg.faults.throttleRevoke = 2;
  const r = await h.page.evaluate(async ({ auth, refresh, origin }) => {
    const s = new SG.SessionManager({ refresh, allowedOrigins: [origin], retry: { baseDelayMs: 20 } });
    const ended = [];
    const retries = [];
    s.addEventListener("session-expired", (e) => ended.push(e.detail));
    s.addEventListener("retry", (e) => retries.push(e.detail.status));
    s.setTokens(auth);
    await s.logout({ revoke: true });
    return { ended, retries };
  }, { auth, refresh: cognito(), origin: cg.origin });
  assert.deepEqual(r.ended, [{ reason: "logout", revoked: true }]);
  assert.deepEqual(r.retries, [400, 400], "backed off on the throttled answers");
  assert.equal(cg.counts.revoke, 3, "two throttled RevokeToken calls, then the revocation");
  const again = await cg.call("InitiateAuth", { AuthFlow: "REFRESH_TOKEN_AUTH", ClientId: cg.clientId, AuthParameters: { REFRESH_TOKEN: auth.RefreshToken } });
  assert.equal(again.status, 400, "the emulator refuses the revoked refresh token: " + JSON.stringify(again.body));
});
