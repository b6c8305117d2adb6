// Hardening: what a security reviewer and an SRE try. Each test pins a defect found by trying
// to break sessionguard, or the rule that keeps its kind from coming back.
import { test, before, after, beforeEach } from "node:test";
import assert from "node:assert/strict";
import { start, FULL_ONLY } from "./harness.mjs";

let h;
before(async () => { h = await start(); });
after(async () => { await h?.close(); });
beforeEach(async () => { await h.reset(); });

const expired = async () => ({ ...(await h.login()), expires_in: 0 });

for (const form of ["oauth2", "cognito"]) {
  test(`${form}: a redirect of the token endpoint is not followed, so the refresh token stays home`, async () => {
    const t = await expired();
    await h.faults({ tokenRedirect: h.foreign + "/evil/token" });
    const r = await h.page.evaluate(async ({ t, form }) => {
      const refresh = form === "oauth2" ? { type: "oauth2", tokenUrl: "/oauth/token", clientId: "demo" } : { type: "cognito", clientId: "demo", endpoint: "/cognito/" };
      const s = make({ refresh, retry: { maxRetries: 1, baseDelayMs: 5 } }, tokens(t, { expiresIn: 0 }));
      const a = await settle(s.fetch("/api/me"));
      return { a, auth: s.isAuthenticated(), token: await settle(s.getAccessToken()) };
    }, { t, form });
    assert.equal(r.a.e.name, "RefreshUnavailableError", "a redirect is a transient failure");
    assert.equal(r.auth, true, "the session is kept");
    const st = await h.stats();
    assert.equal(st.counts.evil, 0, "nothing reached the other origin");
    assert.equal(st.counts.evilRefreshTokens, 0);
    assert.equal(st.counts.refresh, 2, "two attempts at the real endpoint, none elsewhere");
  });
}

test("wrapFetch(originalFetch) installed as window.fetch: refreshing does not deadlock on itself", async () => {
  const t = await expired();
  const r = await h.page.evaluate(async (t) => {
    const original = window.fetch;
    const s = make({}, tokens(t, { expiresIn: 0 }));
    window.fetch = s.wrapFetch(original);
    try {
      const t0 = performance.now();
      const res = await Promise.all(Array.from({ length: 20 }, () => fetch("/api/me").then((r) => r.status)));
      return { statuses: [...new Set(res)], ms: performance.now() - t0, stats: s.stats() };
    } finally {
      window.fetch = original;
    }
  }, t);
  assert.deepEqual(r.statuses, [200]);
  assert.ok(r.ms < 5000, `took ${r.ms} ms`);
  const st = await h.stats();
  assert.equal(st.counts.refresh, 1);
  assert.equal(st.counts.badTokens, 0);
});

test("window.fetch = wrapFetch() (no argument), twice: no recursion, no stacking, the module keeps working", async () => {
  const t = await h.login();
  const r = await h.page.evaluate(async (t) => {
    const original = window.fetch;
    const s = make({}, tokens(t));
    window.fetch = s.wrapFetch();
    window.fetch = s.wrapFetch();
    try {
      const res = await fetch("/foreign/me");
      const echo = await res.json();
      const fresh = new SG.SessionManager({});
      return { status: res.status, auth: echo.authorization, fresh: fresh.isAuthenticated() };
    } finally {
      window.fetch = original;
    }
  }, t);
  assert.equal(r.status, 200);
  assert.equal(r.auth, "Bearer " + t.access_token, "one Authorization header, not two");
  assert.equal(r.fresh, false);
  assert.equal((await h.stats()).counts.foreign, 1, "one send");
});

test("a refresh function that never settles is bounded: its signal aborts at 30 s and waiters are answered", async () => {
  const t = await expired();
  const r = await h.page.evaluate(async (t) => {
    let signal = null;
    const s = make({ refresh: (rt, ctx) => { signal = ctx.signal; return new Promise(() => {}); }, retry: { maxRetries: 0 } }, tokens(t, { expiresIn: 0 }));
    const t0 = performance.now();
    const a = await settle(s.fetch("/api/me"));
    return { a, ms: performance.now() - t0, aborted: signal && signal.aborted, auth: s.isAuthenticated() };
  }, t);
  assert.equal(r.a.e.name, "RefreshUnavailableError");
  assert.ok(r.ms >= 29_000 && r.ms < 40_000, `settled after ${r.ms} ms`);
  assert.equal(r.aborted, true, "the function's signal was aborted at the limit");
  assert.equal(r.auth, true);
});

test("tokens that no HTTP header can carry are refused by setTokens and unusable in a refresh answer", async () => {
  const t = await expired();
  const r = await h.page.evaluate(async (t) => {
    const s = make({}, tokens(t));
    const refused = ["tok€", "a\u0000b", "a b", "tab\there"].map((bad) => { try { s.setTokens({ accessToken: bad }); return "accepted"; } catch (e) { return e instanceof TypeError ? "TypeError" : String(e); } });
    const f = make({ refresh: async () => ({ accessToken: "tok€", expiresIn: 3600 }), retry: { maxRetries: 0 } }, tokens(t, { expiresIn: 0 }));
    const a = await settle(f.fetch("/api/me"));
    const again = await settle(f.fetch("/api/me"));
    return { refused, a, again, auth: f.isAuthenticated() };
  }, t);
  assert.deepEqual([...new Set(r.refused)], ["TypeError"]);
  assert.equal(r.a.e.name, "RefreshUnavailableError", "a refresh answer with an unusable token is transient");
  assert.equal(r.again.e.name, "RefreshUnavailableError", "no header TypeError on later calls");
  assert.equal(r.auth, true);
  assert.equal(h.errors.length, 0, h.errors.join("\n"));
});

test("an overflowing expires_in (1e400, Number.MAX_VALUE) keeps a good token, clamped", async () => {
  const t = await expired();
  for (const big of ["1e400", "Number.MAX_VALUE"]) {
    await h.reset();
    const fresh = await h.login();
    const r = await h.page.evaluate(async ({ t, fresh, big }) => {
      const expiresIn = big === "1e400" ? JSON.parse('{"v":1e400}').v : Number.MAX_VALUE;
      const s = make({ refresh: async () => ({ access_token: fresh.access_token, expires_in: expiresIn }) }, tokens(t, { expiresIn: 0 }));
      const status = (await s.fetch("/api/me")).status;
      const second = (await s.fetch("/api/me")).status;
      return { status, second, stats: s.stats(), expiresAt: events.find((e) => e.type === "token-refreshed").expiresAt };
    }, { t, fresh, big });
    assert.deepEqual([r.status, r.second], [200, 200], big);
    assert.equal(r.stats.refreshes, 1, "one refresh, then the token is used");
    assert.ok(Number.isFinite(r.expiresAt), "the expiry is clamped to a finite time");
  }
});

test("a caller's own Authorization header wins: the call passes through untouched (fetch and axios)", async () => {
  const t = await h.login();
  const r = await h.page.evaluate(async (t) => {
    const s = make({}, tokens(t));
    const viaFetch = await (await s.fetch("/foreign/x", { headers: { Authorization: "Basic abc" } })).json();
    const http = axios.create();
    s.attachAxios(http);
    const viaAxios = (await http.get("/foreign/y", { headers: { Authorization: "Basic xyz" } })).data;
    const ours = (await http.get("/foreign/z")).data;
    return { viaFetch: viaFetch.authorization, viaAxios: viaAxios.authorization, ours: ours.authorization, stats: s.stats() };
  }, t);
  assert.equal(r.viaFetch, "Basic abc");
  assert.equal(r.viaAxios, "Basic xyz");
  assert.equal(r.ours, "Bearer " + t.access_token);
  assert.equal(r.stats.requests, 1, "only the call without its own credentials went through the session");
});

test("a stack overflow through the public API (re-entrant listeners) leaves the module usable", async () => {
  const t = await h.login();
  const r = await h.page.evaluate(async (t) => {
    const s = make({}, tokens(t));
    let depth = 0;
    let overflowed = false;
    s.addEventListener("session-expired", () => {
      depth++;
      try {
        s.setTokens(tokens(t));
        s.logout(); // fires session-expired again, inside this listener: recursion without end
      } catch (e) {
        if (e instanceof RangeError) overflowed = true;
        throw e;
      }
    });
    const errors = [];
    window.addEventListener("error", (e) => errors.push(String(e.message)));
    s.logout();
    await new Promise((res) => setTimeout(res, 50));
    overflowed ||= errors.some((m) => /call stack/i.test(m));
    const fresh = new SG.SessionManager({});
    fresh.setTokens(tokens(t));
    const status = (await fresh.fetch("/api/me")).status;
    return { depth, overflowed, status, fresh: fresh.isAuthenticated() };
  }, t);
  const overflow = h.errors.filter((e) => /RangeError/.test(e));
  assert.ok(r.overflowed || overflow.length > 0, `the stack overflowed (after ${r.depth} levels)`);
  h.errors.length = 0;
  assert.equal(r.status, 200, "a new SessionManager works after the overflow");
  assert.equal(r.fresh, true);
});

test("a clock that calls back in (fake timers replacing Date.now) never meets a borrowed state", { timeout: 30_000 }, async () => {
  const t = await expired();
  const r = await h.page.evaluate(async (t) => {
    const refresh = { type: "oauth2", tokenUrl: "/oauth/token", clientId: "demo", userInfoUrl: "/oauth/userinfo" };
    const s = make({ refresh }, tokens(t, { expiresIn: 0 }));
    // every reading of the clock reads the session too, as a test's fake clock may
    const realNow = Date.now;
    let reads = 0;
    Date.now = () => {
      reads++;
      s.stats();
      s.isAuthenticated();
      s.claims();
      return realNow.call(Date);
    };
    try {
      const statuses = [];
      for (const p of [s.fetch("/api/me"), s.fetch("/api/me", { method: "POST", body: "x" })]) statuses.push((await p).status);
      statuses.push((await s.fetch(location.origin + "/api/me")).status); // the fast path
      const token = typeof (await s.getAccessToken());
      const user = (await s.userInfo()).sub;
      const cached = (await s.userInfo()).sub;
      return { statuses, token, user, cached, reads, stats: s.stats() };
    } finally {
      Date.now = realNow;
    }
  }, t);
  assert.deepEqual(r.statuses, [200, 200, 200]);
  assert.equal(r.token, "string");
  assert.equal(r.user, "alice");
  assert.equal(r.cached, "alice");
  assert.ok(r.reads > 5, `the clock was read ${r.reads} times`);
  assert.equal(r.stats.refreshes, 1);
  assert.equal((await h.stats()).counts.userinfo, 1, "the second userInfo() came from the cache");
  assert.deepEqual(h.errors, []);
});

test("getters on init, headers and axios configs that call back into the session, or throw, leave every call whole", async () => {
  const t = await h.login();
  const r = await h.page.evaluate(async (t) => {
    const s = make({}, tokens(t));
    const nested = [];
    const thrown = [];
    let reads = 0;
    // every property read of these objects reads the session and starts another call through
    // it (what those throw is kept: our own reads of a property swallow a getter's throw);
    // reading `signal` throws
    const nosy = (target) => new Proxy(target, {
      get(o, k, receiver) {
        reads++;
        try {
          s.stats();
          s.isAuthenticated();
          if (nested.length < 40) nested.push(s.fetch("/api/me").then((x) => x.status));
        } catch (e) {
          thrown.push(String(e));
        }
        if (k === "signal") throw new Error("a getter that throws");
        return Reflect.get(o, k, receiver);
      },
    });
    const viaFetch = await (await s.fetch("/api/me", nosy({ method: "GET", headers: nosy({ "X-Trace": "1" }) }))).json();
    const http = axios.create();
    s.attachAxios(http);
    // registered after attachAxios, so axios runs it first: ours meets the proxy
    http.interceptors.request.use((config) => {
      config.headers = nosy({ ...(config.headers.toJSON ? config.headers.toJSON() : config.headers) });
      return config;
    });
    const viaAxios = (await http.get("/api/me")).data;
    const after = (await s.fetch("/api/me")).status;
    return { viaFetch: viaFetch.ok, viaAxios: viaAxios.ok, nested: await Promise.all(nested), thrown, after, reads, stats: s.stats() };
  }, t);
  assert.equal(r.viaFetch, true, "the fetch went out with the token");
  assert.equal(r.viaAxios, true, "the axios call went out with the token");
  assert.deepEqual(r.thrown, [], "the session answered inside every getter");
  assert.ok(r.nested.length > 5 && r.nested.every((s) => s === 200), `calls started inside getters: ${r.nested}`);
  assert.equal(r.after, 200);
  assert.equal(r.stats.requests, 3 + r.nested.length);
  assert.equal((await h.stats()).counts.badTokens, 0);
  assert.deepEqual(h.errors, []);
});

test("free() without dispose(): only the handle goes; the session lives on through its fetch (guarantee 18) and still hears the other tabs, with no error", async () => {
  await h.page.evaluate(() => localStorage.clear());
  const t = await h.login();
  const errorsBefore = h.errors.length;
  const r = await h.page.evaluate(async (t) => {
    const m = new SG.SessionManager({ storage: "local", storageKey: "freed", refresh: { type: "oauth2", tokenUrl: "/oauth/token", clientId: "demo" } });
    m.setTokens(tokens(t));
    const { fetch } = m;
    m.free();
    // another tab's message on the freed manager's channel
    const bc = new BroadcastChannel("sessionguard:freed");
    bc.postMessage({ t: "end", reason: "logout" });
    await new Promise((r) => setTimeout(r, 200));
    bc.close();
    const after = await settle(fetch("/api/me"));
    const fresh = new SG.SessionManager({});
    fresh.setTokens(tokens(t));
    return { after: after.ok ? "sent" : [after.e.name, after.e.reason], fresh: (await fresh.fetch("/api/me")).status };
  }, t);
  // alive: it heard the other tab's logout (a disposed session would say SessionDisposedError)
  assert.deepEqual(r, { after: ["SessionExpiredError", "logout"], fresh: 200 });
  assert.deepEqual(h.errors.slice(errorsBefore), [], "no error thrown by a handler");
});

test("dpop: a page without IndexedDB keeps the key in memory (one console warning) and still proves; a WebCrypto that throws or answers junk fails those calls, never the module (guarantee 10)", FULL_ONLY, async () => {
  const warnings = [];
  const onConsole = (m) => { if (m.type() === "warning" && m.text().includes("IndexedDB")) warnings.push(m.text()); };
  h.page.on("console", onConsole);
  const r = await h.page.evaluate(async (foreign) => {
    const url = foreign + "/foreign/x";
    const opts = { allowedOrigins: [foreign], storage: "local", storageKey: "dpop-hardening", dpop: true };
    const bound = { access_token: "tok-1", refresh_token: "rt-1", token_type: "DPoP", expires_in: 3600 };
    const idb = Object.getOwnPropertyDescriptor(window, "indexedDB");
    Object.defineProperty(window, "indexedDB", { value: undefined, configurable: true });
    const s1 = make(opts, bound);
    const first = await (await s1.fetch(url)).json();
    const second = await (await s1.fetch(url)).json();
    Object.defineProperty(window, "indexedDB", idb);
    const subtle = crypto.subtle;
    const sign = subtle.sign;
    subtle.sign = () => { throw new Error("sign is broken here"); };
    const s2 = make(opts, bound);
    const thrown = await settle(s2.fetch(url));
    subtle.sign = () => Promise.resolve("not a signature");
    const junk = await settle(s2.fetch(url).then((x) => x.json()));
    subtle.sign = sign;
    const again = await (await s2.fetch(url)).json();
    const s3 = make({ ...opts, storageKey: "dpop-hardening-2" }, bound);
    const fresh = await (await s3.fetch(url)).json();
    // a token the server did not bind goes as a bearer token, without a proof
    s3.setTokens({ access_token: "tok-2", token_type: "Bearer" });
    const unbound = await (await s3.fetch(url)).json();
    s3.dispose();
    return { first, second, thrown, junk, again, fresh, unbound };
  }, h.foreign);
  h.page.off("console", onConsole);
  const parts = (p) => (p || "").split(".").length;
  assert.equal(r.first.authorization, "DPoP tok-1");
  assert.equal(parts(r.first.dpop), 3, "a proof with the key kept in memory");
  assert.equal(JSON.parse(atob(r.first.dpop.split(".")[0].replace(/-/g, "+").replace(/_/g, "/"))).jwk.x,
    JSON.parse(atob(r.second.dpop.split(".")[0].replace(/-/g, "+").replace(/_/g, "/"))).jwk.x, "one key for the manager");
  assert.equal(warnings.length, 1, "told once: " + warnings.join(" | "));
  assert.equal(r.thrown.ok, false);
  assert.equal(r.thrown.e.isError, true, "the call rejects with an error");
  assert.equal(r.junk.ok, true, "a junk signature goes out as a proof the server will refuse; nothing breaks");
  assert.equal(parts(r.again.dpop), 3, "the same manager proves again once WebCrypto is whole");
  assert.equal(parts(r.fresh.dpop), 3, "a new manager works");
  assert.deepEqual(r.unbound, { authorization: "Bearer tok-2", dpop: null }, "an unbound token: a bearer token, no proof");
});

test("dpop: without WebCrypto the option is refused at construction; a key that cannot be made fails the calls that need it, with no unhandled rejection", FULL_ONLY, async () => {
  const before = h.errors.length;
  const r = await h.page.evaluate(async (foreign) => {
    const opts = { allowedOrigins: [foreign], dpop: true };
    const subtle = Object.getOwnPropertyDescriptor(Crypto.prototype, "subtle");
    Object.defineProperty(Crypto.prototype, "subtle", { get: () => undefined, configurable: true });
    let refused;
    try { make(opts); refused = "accepted"; } catch (e) { refused = e instanceof TypeError ? e.message : "not a TypeError"; }
    Object.defineProperty(Crypto.prototype, "subtle", subtle);
    const generate = crypto.subtle.generateKey;
    crypto.subtle.generateKey = () => Promise.reject(new DOMException("no keys today", "OperationError"));
    const s = make(opts, { access_token: "tok", token_type: "DPoP" });
    await new Promise((r) => setTimeout(r, 50)); // the key's loading has failed by now
    crypto.subtle.generateKey = generate;
    const call = await settle(s.fetch(foreign + "/foreign/x"));
    const after = await (await make(opts, { access_token: "tok", token_type: "DPoP" }).fetch(foreign + "/foreign/x")).json();
    return { refused, call, after: after.dpop.split(".").length };
  }, h.foreign);
  assert.match(r.refused, /option `dpop` needs WebCrypto/);
  assert.equal(r.call.ok, false);
  assert.equal(r.call.e.name, "OperationError", "the key's own error reaches the call");
  assert.equal(r.after, 3, "a new manager makes its key and proves");
  assert.deepEqual(h.errors.slice(before), [], "no unhandled rejection");
});

test("dpop: a token endpoint asking for a nonce the page cannot read (another origin, not exposed) is a transient failure with one console hint, never a logout", FULL_ONLY, async () => {
  await h.faults({ tokenMode: "dpop-nonce" });
  const warnings = [];
  const onConsole = (m) => { if (m.type() === "warning" && m.text().includes("DPoP-Nonce")) warnings.push(m.text()); };
  h.page.on("console", onConsole);
  const r = await h.page.evaluate(async (foreign) => {
    const s = make({
      refresh: { type: "oauth2", tokenUrl: foreign + "/oauth/token", clientId: "demo" },
      allowedOrigins: [foreign], dpop: true, retry: { maxRetries: 1, baseDelayMs: 5 },
    }, { access_token: "tok", refresh_token: "rt-x", token_type: "DPoP", expires_in: 0 });
    const a = await settle(s.fetch(foreign + "/foreign/x"));
    const b = await settle(s.fetch(foreign + "/foreign/x"));
    return { a, b, auth: s.isAuthenticated(), ended: events.filter((e) => e.type === "session-expired").length };
  }, h.foreign);
  h.page.off("console", onConsole);
  assert.equal(r.a.e.name, "RefreshUnavailableError", "use_dpop_nonce says nothing about the refresh token");
  assert.equal(r.b.e.name, "RefreshUnavailableError");
  assert.equal(r.auth, true);
  assert.equal(r.ended, 0);
  assert.ok((await h.stats()).counts.refreshFaults >= 2, "the token endpoint was asked, and asked for a nonce");
  assert.equal(warnings.length, 1, "told once: " + warnings.join(" | "));
});
