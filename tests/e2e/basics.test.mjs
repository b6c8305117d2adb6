// The first slice end to end: construct, setTokens, fetch with the token to allowed origins
// only, SessionExpiredError("no-session") with nothing sent, session-expired on logout.
import { test, before, after, beforeEach } from "node:test";
import assert from "node:assert/strict";
import { start } from "./harness.mjs";

let h;
before(async () => { h = await start(); });
after(async () => { await h?.close(); });
beforeEach(async () => { await h.reset(); });

test("fetch attaches the token to an allowed origin and not to a foreign one", async () => {
  const t = await h.login();
  const r = await h.page.evaluate(async ({ t, foreign }) => {
    const s = new SG.SessionManager({ refresh: { type: "oauth2", tokenUrl: "/oauth/token", clientId: "demo" } });
    s.setTokens({ accessToken: t.access_token, refreshToken: t.refresh_token, expiresIn: t.expires_in });
    const own = await (await s.fetch("/api/me")).json();
    const other = await (await s.fetch(foreign + "/foreign/x")).json();
    return { own, other, auth: s.isAuthenticated() };
  }, { t, foreign: h.foreign });
  assert.equal(r.own.ok, true);
  assert.equal(r.own.user, "alice");
  assert.equal(r.other.authorization, null, "no Authorization header for a foreign origin");
  assert.equal(r.auth, true);
  const s = await h.stats();
  assert.equal(s.counts.foreignWithAuth, 0);
  assert.equal(s.counts.badTokens, 0);
});

test("without a session, calls reject with SessionExpiredError('no-session') and send nothing", async () => {
  const r = await h.page.evaluate(async () => {
    const s = new SG.SessionManager({ refresh: { type: "oauth2", tokenUrl: "/oauth/token", clientId: "demo" } });
    try {
      await s.fetch("/api/me");
      return { ok: true };
    } catch (e) {
      return { name: e.name, reason: e.reason, isError: e instanceof Error, isClass: e instanceof SG.SessionExpiredError };
    }
  });
  assert.deepEqual(r, { name: "SessionExpiredError", reason: "no-session", isError: true, isClass: true });
  assert.equal((await h.stats()).counts.api, 0, "nothing reached the API");
});

test("logout fires session-expired once with reason 'logout', and later calls reject without traffic", async () => {
  const t = await h.login();
  const r = await h.page.evaluate(async (t) => {
    const s = new SG.SessionManager({});
    const events = [];
    s.addEventListener("session-expired", (e) => events.push(e.detail.reason));
    s.setTokens({ accessToken: t.access_token });
    s.logout();
    s.logout();
    let err = null;
    try { await s.fetch("/api/me"); } catch (e) { err = { name: e.name, reason: e.reason }; }
    return { events, err, auth: s.isAuthenticated() };
  }, t);
  assert.deepEqual(r.events, ["logout"]);
  assert.deepEqual(r.err, { name: "SessionExpiredError", reason: "logout" });
  assert.equal(r.auth, false);
  assert.equal((await h.stats()).counts.api, 0);
});

test("init() resolves to the module's exports, its memory under the name the types promise", async () => {
  const r = await h.page.evaluate(async () => {
    const out = await SG.default();
    return { memory: out.memory instanceof WebAssembly.Memory, again: out === (await SG.default()) };
  });
  assert.deepEqual(r, { memory: true, again: true });
});
