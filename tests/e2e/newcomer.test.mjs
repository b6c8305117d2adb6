// A newcomer's first hour: the mistakes people make explain themselves, the shapes people have
// are accepted, and the module works where their tests run (Node).
import { test, before, after, beforeEach } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { start, ENTRY, LITE } from "./harness.mjs";

const root = new URL("../..", import.meta.url).pathname;
let h;
before(async () => { h = await start(); });
after(async () => { await h?.close(); });
beforeEach(async () => { await h.reset(); });

const expired = async () => ({ ...(await h.login()), expires_in: 0 });
/** The page's console lines of one type, from now until `stop()`. */
function listen(type) {
  const lines = [];
  const on = (m) => { if (m.type() === type) lines.push(m.text()); };
  h.page.on("console", on);
  return { lines, stop: () => h.page.off("console", on) };
}

test("before init(): a clear error that says what to do; SessionManager.create() initialises by itself", async () => {
  const t = await h.login();
  const page = await h.openPage("/www/bare.html");
  const r = await page.evaluate(async ({ t, entry }) => {
    const mod = await import(entry);
    let early = null;
    try { new mod.SessionManager({}); } catch (e) { early = e.message; }
    const s = await mod.SessionManager.create({});
    s.setTokens(t); // the OAuth2 token answer, as the login endpoint gave it
    const status = (await s.fetch("/api/me")).status;
    return { early, status, isManager: s instanceof mod.SessionManager };
  }, { t, entry: ENTRY });
  await page.close();
  assert.match(r.early, /await init\(\)/);
  assert.match(r.early, /SessionManager\.create/);
  assert.equal(r.status, 200);
  assert.equal(r.isManager, true);
});

test("session.fetch is bound: const { fetch } = session works, and so does fetch: session.fetch in another client", async () => {
  const t = await h.login();
  const r = await h.page.evaluate(async (t) => {
    const s = make({}, tokens(t));
    const { fetch: f } = s;
    const client = { fetch: s.fetch };
    return [(await f("/api/me")).status, (await client.fetch("/api/me")).status];
  }, t);
  assert.deepEqual(r, [200, 200]);
});

test("unknown option keys are refused with the nearest known one", async () => {
  const r = await h.page.evaluate(() => {
    const msg = (o) => { try { new SG.SessionManager(o); return "accepted"; } catch (e) { return (e instanceof TypeError ? "TypeError: " : "") + e.message; } };
    return [
      msg({ allowedOrigin: ["https://api.example.com"] }),
      msg({ refresh: { type: "oauth2", tokenURL: "/t", clientId: "x" } }),
      msg({ retry: { maxRetry: 2 } }),
      msg({ refresh: { type: "cognito", clientId: "x" } }),
    ];
  });
  assert.match(r[0], /^TypeError: .*allowedOrigin.*did you mean `allowedOrigins`/);
  assert.match(r[1], /^TypeError: .*tokenURL.*did you mean `refresh\.tokenUrl`/);
  assert.match(r[2], /^TypeError: .*maxRetry.*`retry\.maxRetries`/);
  assert.match(r[3], /^TypeError: .*`refresh\.region`.*or `refresh\.endpoint` is required/);
});

test("a 401 from an origin outside allowedOrigins while a session is held: one console warning naming the option", async () => {
  const t = await h.login();
  const { lines: warnings, stop } = listen("warning");
  const r = await h.page.evaluate(async ({ t, foreign }) => {
    const s = make({}, tokens(t));
    const a = (await s.fetch(foreign + "/api/me")).status;
    const b = (await s.fetch(foreign + "/api/me")).status;
    return [a, b];
  }, { t, foreign: h.foreign });
  stop();
  assert.deepEqual(r, [401, 401]);
  const ours = warnings.filter((w) => w.includes("allowedOrigins"));
  assert.equal(ours.length, 1, warnings.join("\n"));
  assert.ok(ours[0].includes(h.foreign), ours[0]);
});

test("setTokens: the OAuth2 answer is accepted; anything else names the keys it got", async () => {
  const t = await h.login();
  const r = await h.page.evaluate(async (t) => {
    const s = make({});
    s.setTokens(t);
    const status = (await s.fetch("/api/me")).status;
    const msg = (v) => { try { s.setTokens(v); return "accepted"; } catch (e) { return e.message; } };
    return { status, axiosResponse: msg({ data: t, status: 200, headers: {}, config: {} }), other: msg({ token: "x" }) };
  }, t);
  assert.equal(r.status, 200);
  assert.match(r.axiosResponse, /keys \{data, status, headers, config\}/);
  assert.match(r.axiosResponse, /response\.data/);
  assert.match(r.other, /keys \{token\}/);
});

test("skipAuth: true sends a call untouched, without the session (fetch and axios)", async () => {
  const t = await h.login();
  const r = await h.page.evaluate(async (t) => {
    const s = make({}, tokens(t));
    const viaFetch = await (await s.fetch("/foreign/a", { skipAuth: true })).json();
    const refused = (await s.fetch("/api/me", { skipAuth: true })).status;
    const http = axios.create();
    s.attachAxios(http);
    const viaAxios = (await http.get("/foreign/b", { skipAuth: true })).data;
    const axios401 = await http.get("/api/me", { skipAuth: true }).then((r) => r.status, (e) => e.response.status);
    return { viaFetch: viaFetch.authorization, refused, viaAxios: viaAxios.authorization, axios401, stats: s.stats() };
  }, t);
  assert.equal(r.viaFetch, null);
  assert.equal(r.viaAxios, null);
  assert.deepEqual([r.refused, r.axios401], [401, 401], "a 401 on a skipAuth call is the caller's");
  assert.equal(r.stats.refreshes, 0, "no refresh");
  assert.equal(r.stats.sessionExpired, 0);
  assert.equal((await h.stats()).counts.refresh, 0);
});

test("refresh functions: an OAuth2 answer and a Response are accepted; axios's 400 ends the session; undefined is reported", async () => {
  const t = await expired();
  const { lines: errors, stop } = listen("error");
  const r = await h.page.evaluate(async (t) => {
    const post = grant;
    const snake = make({ refresh: async (rt) => (await post(rt)).json() }, tokens(t, { expiresIn: 0 }));
    const a = (await snake.fetch("/api/me")).status;
    const resp = make({ refresh: (rt) => post(rt) }, tokens(t, { expiresIn: 0 }));
    const b = (await resp.fetch("/api/me")).status;
    const ax = make({ refresh: async () => { throw Object.assign(new Error("Request failed with status code 400"), { response: { status: 400, data: { error: "invalid_grant" } } }); } }, tokens(t, { expiresIn: 0 }));
    const c = await settle(ax.fetch("/api/me"));
    const none = make({ refresh: async () => undefined, retry: { maxRetries: 0 } }, tokens(t, { expiresIn: 0 }));
    const d = await settle(none.fetch("/api/me"));
    const d2 = await settle(none.fetch("/api/me"));
    return { a, b, c: c.e.reason, d: d.e.name, d2: d2.e.name };
  }, t);
  stop();
  assert.deepEqual([r.a, r.b], [200, 200]);
  assert.equal(r.c, "refresh-rejected", "err.response.status 400 is terminal");
  assert.equal(r.d, "RefreshUnavailableError");
  const reported = errors.filter((e) => e.includes("resolved with undefined"));
  assert.equal(reported.length, 1, "reported once, with what was received: " + errors.join("\n"));
  assert.match(reported[0], /TypeError/);
});

test("refresh function rejections: `status` 401 and `terminal: true` end the session; any other rejection is transient and keeps it", async () => {
  const t = await expired();
  const r = await h.page.evaluate(async (t) => {
    const rejecting = (err) => make({ refresh: async () => { throw err; }, retry: { maxRetries: 0 } }, tokens(t, { expiresIn: 0 }));
    const out = {};
    for (const [name, err] of [
      ["status401", Object.assign(new Error("401"), { status: 401 })],
      ["terminal", Object.assign(new Error("the refresh token is dead"), { terminal: true })],
      ["plain", new Error("network down")],
      ["status500", Object.assign(new Error("500"), { status: 500, retryAfterMs: 5000 })],
    ]) {
      const s = rejecting(err);
      const a = await settle(s.fetch("/api/me"));
      out[name] = { name: a.e.name, reason: a.e.reason ?? null, retryAfterMs: a.e.retryAfterMs ?? null, kept: s.isAuthenticated() };
    }
    return out;
  }, t);
  assert.deepEqual(r.status401, { name: "SessionExpiredError", reason: "refresh-rejected", retryAfterMs: null, kept: false });
  assert.deepEqual(r.terminal, { name: "SessionExpiredError", reason: "refresh-rejected", retryAfterMs: null, kept: false });
  assert.equal(r.plain.name, "RefreshUnavailableError");
  assert.equal(r.plain.kept, true, "a transient failure keeps the session");
  assert.equal(r.status500.name, "RefreshUnavailableError");
  assert.ok(r.status500.retryAfterMs > 4000 && r.status500.retryAfterMs <= 5000, `the rejection's retryAfterMs is used: ${r.status500.retryAfterMs}`);
  assert.equal((await h.stats()).counts.api, 0, "nothing was sent without a usable token");
});

test("the retry event also fires while the token endpoint is retried (detail.refresh)", async () => {
  const t = await expired();
  await h.faults({ tokenMode: "503", tokenFaultCount: 2 });
  const r = await h.page.evaluate(async (t) => {
    const s = make({ retry: { baseDelayMs: 5 } }, tokens(t, { expiresIn: 0 }));
    const status = (await s.fetch("/api/me")).status;
    return { status, retries: events.filter((e) => e.type === "retry") };
  }, t);
  assert.equal(r.status, 200);
  assert.deepEqual(r.retries.map((e) => [e.refresh, e.status, e.attempt]), [[true, 503, 1], [true, 503, 2]]);
  assert.match(r.retries[0].url, /\/oauth\/token$/);
});

for (const [entry, what] of [[LITE ? "lite.node.js" : "sessionguard.node.js", "the Node entry"], [LITE ? "lite.js" : "sessionguard.js", "the browser entry, run in Node (a test runner that resolved it)"]]) {
  test(`Node >= 18: init() without arguments, then the manager works (as in Vitest or Jest): ${what}`, () => {
    const script = `
      import init, { SessionManager, SessionExpiredError } from ${JSON.stringify(root + "pkg/" + entry)};
      globalThis.fetch = () => { throw new Error("the module was fetched through the global fetch"); };
      await init();
      const s = new SessionManager({ refresh: { type: "oauth2", tokenUrl: "https://id.example.com/token", clientId: "c" } });
      let before = null;
      try { await s.getAccessToken(); } catch (e) { before = e instanceof SessionExpiredError && e.reason; }
      s.setTokens({ access_token: "abc", refresh_token: "r", expires_in: 3600 });
      const created = await SessionManager.create({});
      console.log(JSON.stringify({ before, token: await s.getAccessToken(), auth: s.isAuthenticated(), created: created.isAuthenticated() }));
      // only dispose() ends a session
      s.dispose();
      created.dispose();
    `;
    const out = execFileSync(process.execPath, ["--input-type=module", "-e", script], { encoding: "utf8" });
    assert.deepEqual(JSON.parse(out.trim().split("\n").pop()), { before: "no-session", token: "abc", auth: true, created: false });
  });
}

test("a refresh function whose expiry is junk (expiresIn: NaN, expiresAt: NaN): its token is used (expiry from the JWT, else unknown), and the console says so once", async () => {
  const t = await expired();
  const { lines: warnings, stop } = listen("warning");
  const r = await h.page.evaluate(async (t) => {
    const post = async (rt) => (await grant(rt)).json();
    const out = {};
    for (const key of ["expiresIn", "expiresAt"]) {
      // what `Number(undefined)` gives an app that reads a field its server does not send
      const s = make({ refresh: async (rt) => { const j = await post(rt); return { accessToken: j.access_token, refreshToken: j.refresh_token, [key]: Number(undefined) }; } }, tokens(t, { expiresIn: 0 }));
      const answered = await Promise.all(Array.from({ length: 6 }, () => settle(s.fetch("/api/me").then((x) => x.status))));
      // with the field unusable, the expiry comes from the next source: the JWT's `exp`
      const exp = s.claims().exp * 1000;
      out[key] = { answered: answered.filter((x) => x.ok && x.v === 200).length, refreshed: events.filter((e) => e.type === "token-refreshed").map((e) => Math.abs(e.expiresAt - exp) < 10_000), auth: s.isAuthenticated() };
    }
    return out;
  }, t);
  stop();
  for (const key of ["expiresIn", "expiresAt"]) assert.deepEqual(r[key], { answered: 6, refreshed: [true], auth: true }, key);
  const told = warnings.filter((w) => w.includes("is not a number"));
  assert.equal(told.length, 2, "once per manager: " + warnings.join("\n"));
});

test("sessionguard/lite refuses signIn(), handleRedirect(), dpop and logout({ revoke, redirect }) with errors that name the full entry; its session works", async () => {
  const t = await h.login();
  const page = await h.openPage("/www/bare.html");
  const r = await page.evaluate(async (t) => {
    const lite = await import("/pkg/lite.js");
    const s = await lite.SessionManager.create({ refresh: { type: "oauth2", tokenUrl: "/oauth/token", clientId: "demo" } });
    const why = async (p) => { try { await p(); return "no error"; } catch (e) { return `${e.name}: ${e.message}`; } };
    s.setTokens(t);
    const status = (await s.fetch("/api/me")).status;
    return {
      status,
      signIn: await why(() => s.signIn()),
      handleRedirect: await why(() => s.handleRedirect("/?code=x&state=y")),
      dpop: await why(() => new lite.SessionManager({ refresh: { type: "oauth2", tokenUrl: "/oauth/token", clientId: "demo" }, dpop: true })),
      revoke: await why(() => s.logout({ revoke: true })),
      redirect: await why(() => s.logout({ redirect: true })),
      stillAuthenticated: s.isAuthenticated(),
      plain: await why(() => s.logout()),
      after: s.isAuthenticated(),
    };
  }, t);
  await page.close();
  assert.equal(r.status, 200);
  for (const k of ["signIn", "handleRedirect", "dpop", "revoke", "redirect"]) {
    assert.match(r[k], /^TypeError: sessionguard: .*not in sessionguard\/lite: import from "sessionguard" \(the full build\)/, k);
  }
  assert.equal(r.stillAuthenticated, true, "a refused logout ends nothing");
  assert.deepEqual([r.plain, r.after], ["no error", false], "a plain logout works");
});
