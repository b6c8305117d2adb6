// The same rules through axios (real axios from npm) with attachAxios.
import { test, before, after, beforeEach } from "node:test";
import assert from "node:assert/strict";
import { start } from "./harness.mjs";

let h;
before(async () => { h = await start(); });
after(async () => { await h?.close(); });
beforeEach(async () => { await h.reset(); });

test("storm of 200 axios calls on an expired token: one refresh", async () => {
  const t = await h.login();
  const r = await h.page.evaluate(async (t) => {
    const s = make({}, tokens(t, { expiresIn: 0 }));
    const api = axios.create({ baseURL: "/api" });
    s.attachAxios(api);
    const res = await Promise.all(Array.from({ length: 200 }, (_, i) => api.get("/item/" + i).then((r) => r.status)));
    return { statuses: [...new Set(res)], stats: s.stats() };
  }, t);
  assert.deepEqual(r.statuses, [200]);
  assert.equal(r.stats.refreshes, 1);
  const st = await h.stats();
  assert.equal(st.counts.refresh, 1);
  assert.equal(st.counts.api, 200);
  assert.equal(st.counts.badTokens, 0);
});

test("200 axios calls with a refused token: one refresh, every call replayed once (axios-auth-refresh #307)", async () => {
  const t = await h.login();
  const r = await h.page.evaluate(async (t) => {
    const s = make({}, { accessToken: "opaque-refused", refreshToken: t.refresh_token });
    const api = axios.create();
    s.attachAxios(api);
    const res = await Promise.all(Array.from({ length: 200 }, () => api.post("/api/echo", { n: 1 }).then((r) => r.data.body)));
    return { bodies: [...new Set(res)] };
  }, t);
  assert.deepEqual(r.bodies, ['{"n":1}'], "every call answered, body replayed");
  const st = await h.stats();
  assert.equal(st.counts.refresh, 1);
  assert.equal(st.counts.api, 400);
});

test("an API that 401s every token: bounded, one session-expired, rejections are SessionExpiredError", async () => {
  const t = await h.login();
  await h.faults({ apiMode: "always401" });
  const r = await h.page.evaluate(async (t) => {
    const s = make({}, tokens(t));
    const api = axios.create();
    s.attachAxios(api);
    const res = await Promise.all(Array.from({ length: 10 }, () => settle(api.get("/api/me"))));
    return { names: [...new Set(res.map((x) => x.e && (x.e.name + ":" + (x.e.reason || ""))))], events };
  }, t);
  const st = await h.stats();
  assert.ok(st.counts.api <= 20, String(st.counts.api));
  assert.equal(st.counts.refresh, 1);
  assert.deepEqual(r.events.filter((e) => e.type === "session-expired").map((e) => e.reason), ["unauthorized-after-refresh"]);
  for (const n of r.names) assert.ok(n === "SessionExpiredError:unauthorized-after-refresh" || n === "AxiosError:", n);
});

test("revoked refresh token: every axios call rejects with SessionExpiredError, nothing sent", async () => {
  const t = await h.login();
  await h.revoke();
  const r = await h.page.evaluate(async (t) => {
    const s = make({}, tokens(t, { expiresIn: 0 }));
    const api = axios.create();
    s.attachAxios(api);
    const res = await Promise.all(Array.from({ length: 30 }, () => settle(api.get("/api/me"))));
    return { reasons: [...new Set(res.map((x) => x.e.name + ":" + x.e.reason))], n: events.length };
  }, t);
  assert.deepEqual(r.reasons, ["SessionExpiredError:refresh-rejected"]);
  assert.equal(r.n, 1);
  assert.equal((await h.stats()).counts.api, 0);
});

test("throttled API (Cognito-style 400 and 429): retried with backoff; retries spent → axios rejects as axios does", async () => {
  const t = await h.login();
  await h.faults({ apiMode: "throttle", apiFaultCount: 2 });
  const r = await h.page.evaluate(async (t) => {
    const s = make({ retry: { baseDelayMs: 10 } }, tokens(t));
    const api = axios.create();
    s.attachAxios(api);
    const a = await api.get("/api/me");
    return { status: a.status, retries: events.filter((e) => e.type === "retry").map((e) => e.status), stats: s.stats() };
  }, t);
  assert.equal(r.status, 200);
  assert.deepEqual(r.retries, [400, 400]);
  assert.equal(r.stats.throttled, 2);

  await h.faults({ apiMode: "429", apiFaultCount: 0 });
  const r2 = await h.page.evaluate(async () => {
    const api = axios.create();
    s.attachAxios(api);
    try { await api.get("/api/me"); return "resolved"; } catch (e) { return [e.name, e.response && e.response.status]; }
  });
  assert.deepEqual(r2, ["AxiosError", 429]);
});

test("idempotencyKey: a POST that meets 503 is retried with the same key", async () => {
  const t = await h.login();
  await h.faults({ apiMode: "503", apiFaultCount: 1 });
  const r = await h.page.evaluate(async (t) => {
    const s = make({ retry: { baseDelayMs: 5, idempotencyKey: true } }, tokens(t));
    const api = axios.create();
    s.attachAxios(api);
    return (await api.post("/api/order", { sku: 1 })).data;
  }, t);
  const log = (await h.stats(true)).log.filter((e) => e.path === "/api/order");
  assert.equal(log.length, 2);
  assert.ok(log[0].idem && log[0].idem === log[1].idem);
  assert.equal(r.idempotencyKey, log[0].idem);
});

test("axios: foreign origins untouched; eject removes the interceptors", async () => {
  const t = await h.login();
  const r = await h.page.evaluate(async ({ t, foreign }) => {
    const s = make({}, tokens(t));
    const api = axios.create();
    const eject = s.attachAxios(api);
    const other = (await api.get(foreign + "/foreign/x")).data.authorization;
    const own = (await api.get("/api/me")).status;
    eject();
    const after = await settle(api.get("/api/me"));
    return { other, own, after: after.ok ? "ok" : after.e.name };
  }, { t, foreign: h.foreign });
  assert.equal(r.other, null);
  assert.equal(r.own, 200);
  assert.equal(r.after, "AxiosError", "without the interceptors the call goes out bare and gets its 401");
});

test("axios: an abort while waiting for the refresh rejects promptly and sends nothing", async () => {
  const t = await h.login();
  await h.faults({ tokenLatencyMs: 1500 });
  const r = await h.page.evaluate(async (t) => {
    const s = make({}, tokens(t, { expiresIn: 0 }));
    const api = axios.create();
    s.attachAxios(api);
    return abortAfter(100, (signal) => api.get("/api/me", { signal }));
  }, t);
  assert.equal(r.a.e.name, "AbortError", "the signal's own AbortError (guarantee 11)");
  assert.ok(r.ms < 1000, String(r.ms));
  await new Promise((res) => setTimeout(res, 1600));
  assert.equal((await h.stats()).counts.api, 0);
});

test("axios: headers handed over as a plain object (no get/set) are read case-insensitively and written as properties", async () => {
  const t = await h.login();
  await h.faults({ apiMode: "503", apiFaultCount: 1 });
  const r = await h.page.evaluate(async (t) => {
    const s = make({ retry: { baseDelayMs: 5, idempotencyKey: true } }, tokens(t));
    const api = axios.create();
    s.attachAxios(api);
    // registered after attachAxios, so axios runs it first: it hands ours plain-object headers,
    // as axios 0.x and hand-made configs do
    api.interceptors.request.use((config) => {
      const plain = {};
      for (const [k, v] of Object.entries(config.headers.toJSON ? config.headers.toJSON() : config.headers)) plain[k] = v;
      Object.assign(plain, config.extra || {});
      config.headers = plain;
      return config;
    });
    const order = (await api.post("/api/order", { sku: 1 }, { extra: { "IDEMPOTENCY-KEY": "mine-1" } })).data;
    const own = (await api.get("/foreign/x", { extra: { AUTHORIZATION: "Basic own" } })).data.authorization;
    const ours = (await api.get("/api/me")).data;
    return { order, own, ours, stats: s.stats() };
  }, t);
  const log = (await h.stats(true)).log.filter((e) => e.path === "/api/order");
  assert.deepEqual(log.map((e) => e.idem), ["mine-1", "mine-1"], "the caller's key (any case) is kept, on the retry too");
  assert.equal(r.order.idempotencyKey, "mine-1");
  assert.equal(r.own, "Basic own", "the caller's own Authorization (any case) wins");
  assert.equal(r.ours.ok, true, "without one, ours is set on the plain object");
  assert.equal(r.stats.retries, 1);
});

test("Cognito's throttling named only in the body (400, __type TooManyRequestsException, no x-amzn-ErrorType) is retried, by fetch and by axios", async () => {
  const t = await h.login();
  await h.faults({ apiMode: "throttle-body", apiFaultCount: 2 });
  const r = await h.page.evaluate(async (t) => {
    const s = make({ retry: { baseDelayMs: 5 } }, tokens(t));
    const viaFetch = await s.fetch("/api/me");
    const body = await viaFetch.json();
    const api = axios.create();
    s.attachAxios(api);
    const viaAxios = await api.get("/api/me");
    return { fetch: [viaFetch.status, body.ok], axios: viaAxios.status, retries: events.filter((e) => e.type === "retry").map((e) => e.status), stats: s.stats() };
  }, t);
  assert.deepEqual(r.fetch, [200, true], "fetch: the body the caller gets is whole (the rules read a clone)");
  assert.equal(r.axios, 200);
  assert.equal(r.stats.throttled, 2);
  assert.deepEqual(r.retries, [400, 400]);

  // the same answer to a POST is throttling too: the server did not act, so it is retried
  await h.faults({ apiMode: "throttle-body", apiFaultCount: 1 });
  const r2 = await h.page.evaluate(async () => {
    const api = axios.create();
    s.attachAxios(api);
    return [(await s.fetch("/api/order", { method: "POST", body: "x" })).status, (await api.post("/api/order", { y: 1 })).status];
  });
  assert.deepEqual(r2, [200, 200]);
});
