// The README's Guarantees, one by one, through `fetch`, against the dev server's
// faults. Each test resets the server; `make()` and `tokens()` come from www/test.html.
import { test, before, after, beforeEach } from "node:test";
import assert from "node:assert/strict";
import { start } from "./harness.mjs";

let h;
before(async () => { h = await start(); });
after(async () => { await h?.close(); });
beforeEach(async () => { await h.reset(); });

const expired = async (extra = {}) => ({ ...(await h.login()), ...extra });

test("guarantee 2: a storm of 200 calls on an expired token makes one refresh, every call answered", async () => {
  const t = await expired();
  const r = await h.page.evaluate(async (t) => {
    const s = make({}, tokens(t, { expiresIn: 0 }));
    const res = await Promise.all(Array.from({ length: 200 }, (_, i) => s.fetch("/api/item/" + i).then((r) => r.status)));
    return { statuses: [...new Set(res)], stats: s.stats(), events };
  }, t);
  assert.deepEqual(r.statuses, [200]);
  assert.equal(r.stats.refreshes, 1);
  assert.equal(r.stats.coalesced, 199);
  const s = await h.stats();
  assert.equal(s.counts.refresh, 1);
  assert.equal(s.counts.api, 200);
  assert.equal(s.counts.badTokens, 0);
  assert.equal(r.events.filter((e) => e.type === "token-refreshed").length, 1);
});

test("calls answered out of order, in reused slots, each get their own answer, retry or error, whatever the transport does", async () => {
  const t = await h.login();
  const r = await h.page.evaluate(async (t) => {
    const s = make({ retry: { maxRetries: 1, baseDelayMs: 1, maxDelayMs: 5 } }, tokens(t));
    // a transport that answers after a random delay: URLs n % 3 == 0 fail, n % 5 == 1 answer
    // 503 the first time (the retry must send the same URL), the others answer with their URL
    const seen = new Map();
    const sent = [];
    const transport = (input, init) => {
      sent.push(init && init.headers && init.headers.Authorization);
      const n = Number(String(input).split("/").pop());
      const k = (seen.get(n) || 0) + 1;
      seen.set(n, k);
      // a transport that misbehaves: throws at once, or gives something that is no promise
      if (n % 7 === 2) throw new TypeError("threw " + n);
      if (n % 11 === 4) return { statusText: "plain " + n };
      const answer = () => (n % 3 === 0 ? Promise.reject(new TypeError("down " + n))
        : n % 5 === 1 && k === 1 ? new Response(null, { status: 503 })
        : new Response(null, { status: 200, statusText: "item " + n + " try " + k }));
      return new Promise((ok) => setTimeout(() => ok(answer()), Math.random() * 20));
    };
    const f = s.wrapFetch(transport);
    const one = (i) => f(location.origin + "/api/item/" + i).then((r) => r.statusText, (e) => e.message);
    const wave = await Promise.all(Array.from({ length: 300 }, (_, i) => one(i)));
    const serial = [];
    for (let i = 300; i < 330; i++) serial.push(await one(i));
    const again = await Promise.all(Array.from({ length: 300 }, (_, i) => one(1000 + i)));
    return { wave, serial, again, bearer: [...new Set(sent)], n: sent.length };
  }, t);
  const want = (i) => (i % 7 === 2 ? "threw " + i : i % 11 === 4 ? "plain " + i : i % 3 === 0 ? "down " + i : "item " + i + " try " + (i % 5 === 1 ? 2 : 1));
  assert.deepEqual(r.wave, Array.from({ length: 300 }, (_, i) => want(i)));
  assert.deepEqual(r.serial, Array.from({ length: 30 }, (_, i) => want(300 + i)));
  assert.deepEqual(r.again, Array.from({ length: 300 }, (_, i) => want(1000 + i)));
  assert.deepEqual(r.bearer, ["Bearer " + t.access_token]);
  const twice = [...Array(300).keys(), ...Array.from({ length: 30 }, (_, i) => 300 + i), ...Array.from({ length: 300 }, (_, i) => 1000 + i)]
    .filter((i) => i % 7 === 2 || (i % 11 !== 4 && (i % 3 === 0 || i % 5 === 1))).length;
  assert.equal(r.n, 630 + twice, "failures, throws and 503s sent twice (one retry), the others once");
});

test("guarantee 3: 200 calls with a token the server refuses: one refresh, each call replayed once", async () => {
  const t = await h.login();
  const r = await h.page.evaluate(async (t) => {
    const s = make({}, { accessToken: "opaque-unknown-to-the-server", refreshToken: t.refresh_token });
    const res = await Promise.all(Array.from({ length: 200 }, () => s.fetch("/api/me").then((r) => r.status)));
    return { statuses: [...new Set(res)], stats: s.stats() };
  }, t);
  assert.deepEqual(r.statuses, [200]);
  const s = await h.stats();
  assert.equal(s.counts.refresh, 1, "one refresh");
  assert.equal(s.counts.api, 400, "each call sent twice: the 401 and the replay");
  assert.equal(r.stats.refreshes, 1);
});

test("guarantee 3: a 401 for a token that is no longer current replays with the current one, no refresh", async () => {
  const t = await h.login();
  const r = await h.page.evaluate(async (t) => {
    const s = make({}, tokens(t));
    // a call that went out with an old token: simulate by sending with a custom fetch that
    // swaps tokens after the first call was sent
    const slow = s.fetch("/api/me");
    s.setTokens(tokens(t)); // same token: nothing stale
    return (await slow).status;
  }, t);
  assert.equal(r, 200);
  const t2 = await h.login();
  const r2 = await h.page.evaluate(async ({ t, t2 }) => {
    const s = make({}, { accessToken: "stale-token", refreshToken: t.refresh_token });
    let first = true;
    const f = s.wrapFetch(async (input, init) => {
      if (first) { first = false; s.setTokens(tokens(t2)); } // a new session's token arrives while this call is in flight
      return fetch(input, init);
    });
    const res = await f("/api/me");
    return { status: res.status, stats: s.stats() };
  }, { t, t2 });
  assert.equal(r2.status, 200);
  assert.equal(r2.stats.refreshes, 0, "a stale 401 does not refresh");
  assert.equal((await h.stats()).counts.refresh, 0);
});

test("rules 3+6: an API that refuses every token is bounded and ends the session once", async () => {
  const t = await h.login();
  await h.faults({ apiMode: "always401" });
  const r = await h.page.evaluate(async (t) => {
    const s = make({}, tokens(t));
    const res = await Promise.all(Array.from({ length: 20 }, () => settle(s.fetch("/api/me"))));
    const after = await settle(s.fetch("/api/me"));
    return { res, after, events, stats: s.stats() };
  }, t);
  const st = await h.stats();
  assert.ok(st.counts.api <= 40, `at most 2 sends per call, got ${st.counts.api}`);
  assert.equal(st.counts.refresh, 1);
  assert.deepEqual(r.events.filter((e) => e.type === "session-expired").map((e) => e.reason), ["unauthorized-after-refresh"]);
  assert.deepEqual([r.after.e.name, r.after.e.reason], ["SessionExpiredError", "unauthorized-after-refresh"]);
  assert.equal(r.stats.sessionExpired, 1);
});

test("rules 1+4: a revoked refresh token ends the session once, every waiter rejected, nothing sent after", async () => {
  const t = await expired();
  await h.revoke();
  const r = await h.page.evaluate(async (t) => {
    const s = make({ storage: "session", crossTab: false }, tokens(t, { expiresIn: 0 }));
    const res = await Promise.all(Array.from({ length: 50 }, () => settle(s.fetch("/api/me"))));
    const later = await settle(s.fetch("/api/me"));
    return { reasons: [...new Set(res.map((x) => x.e && x.e.reason))], later, events, stored: sessionStorage.getItem("sessionguard") };
  }, t);
  assert.deepEqual(r.reasons, ["refresh-rejected"]);
  assert.equal(r.later.e.reason, "refresh-rejected");
  assert.deepEqual(r.events.map((e) => e.type), ["session-expired"]);
  assert.equal(r.stored, null, "storage cleared");
  const st = await h.stats();
  assert.equal(st.counts.api, 0, "nothing reached the API");
  assert.equal(st.counts.refresh, 1);
  assert.equal(st.counts.badTokens, 0);
});

test("guarantee 1: refresh answers without a usable token are transient; nothing stored or sent", async () => {
  for (const mode of ["null-token", "html", "broken"]) {
    await h.reset();
    const t = await expired();
    await h.faults({ tokenMode: mode });
    const r = await h.page.evaluate(async (t) => {
      const s = make({ retry: { maxRetries: 1, baseDelayMs: 10 } }, tokens(t, { expiresIn: 0 }));
      const a = await settle(s.fetch("/api/me"));
      return { a, auth: s.isAuthenticated(), events };
    }, t);
    assert.equal(r.a.e.name, "RefreshUnavailableError", mode);
    assert.ok(r.a.e.retryAfterMs > 0);
    assert.equal(r.auth, true, "the session is kept");
    const st = await h.stats();
    assert.equal(st.counts.api, 0, mode);
    assert.equal(st.counts.badTokens, 0, mode);
    assert.equal(st.counts.refresh, 2, "one try plus one retry");
  }
});

test("throttled refresh (Cognito 400 TooManyRequestsException) is retried, not a logout", async () => {
  const t = await expired();
  await h.faults({ tokenMode: "throttle", tokenFaultCount: 2 });
  const r = await h.page.evaluate(async (t) => {
    const s = make({ refresh: { type: "cognito", clientId: "demo", endpoint: "/cognito/" }, retry: { baseDelayMs: 20 } }, tokens(t, { expiresIn: 0 }));
    const res = await Promise.all(Array.from({ length: 10 }, () => s.fetch("/api/me").then((r) => r.status)));
    return { res, stats: s.stats(), auth: s.isAuthenticated() };
  }, t);
  assert.deepEqual([...new Set(r.res)], [200]);
  assert.equal(r.stats.refreshes, 1);
  assert.equal((await h.stats()).counts.refresh, 3, "two throttled attempts and a good one");
});

test("429 + Retry-After on the token endpoint: RefreshUnavailableError, fail fast, session kept", async () => {
  const t = await expired();
  await h.faults({ tokenMode: "429", tokenRetryAfter: 30 });
  const r = await h.page.evaluate(async (t) => {
    const s = make({}, tokens(t, { expiresIn: 0 }));
    const a = await Promise.all(Array.from({ length: 20 }, () => settle(s.fetch("/api/me"))));
    const b = await settle(s.getAccessToken());
    return { a: a.map((x) => x.e), b, auth: s.isAuthenticated(), events };
  }, t);
  for (const e of r.a) {
    assert.equal(e.name, "RefreshUnavailableError");
    assert.ok(e.retryAfterMs > 25_000 && e.retryAfterMs <= 30_000, String(e.retryAfterMs));
  }
  assert.equal(r.b.e.name, "RefreshUnavailableError");
  assert.equal(r.auth, true);
  assert.deepEqual(r.events, []);
  const st = await h.stats();
  assert.equal(st.counts.refresh, 1, "Retry-After longer than maxDelayMs: no retry, and no refresh during the cool-down");
  assert.equal(st.counts.api, 0);
});

test("expireOnTransientFailure ends the session with refresh-failed", async () => {
  const t = await expired();
  await h.faults({ tokenMode: "503" });
  const r = await h.page.evaluate(async (t) => {
    const s = make({ expireOnTransientFailure: true, retry: { maxRetries: 1, baseDelayMs: 5 } }, tokens(t, { expiresIn: 0 }));
    return { a: await settle(s.fetch("/api/me")), events };
  }, t);
  assert.equal(r.a.e.reason, "refresh-failed");
  assert.deepEqual(r.events.filter((e) => e.type === "session-expired").map((e) => e.reason), ["refresh-failed"]);
  assert.deepEqual(r.events.filter((e) => e.type === "retry").map((e) => [e.refresh, e.attempt]), [[true, 1]], "the token endpoint's retry is announced");
});

test("guarantee 5: 503 + Retry-After and 429 are retried with a retry event; retries spent → last answer", async () => {
  const t = await h.login();
  await h.faults({ apiMode: "503", apiRetryAfter: 0, apiFaultCount: 2 });
  const r = await h.page.evaluate(async (t) => {
    const s = make({}, tokens(t));
    const a = await s.fetch("/api/x", { method: "POST", body: "hello" });
    return { status: a.status, body: await a.json(), events, stats: s.stats() };
  }, t);
  assert.equal(r.status, 200);
  assert.equal(r.body.body, "hello", "the body survives retries");
  assert.deepEqual(r.events.map((e) => [e.type, e.status, e.attempt]), [["retry", 503, 1], ["retry", 503, 2]]);
  assert.ok(r.events[0].url.endsWith("/api/x"));
  assert.equal(r.stats.retries, 2);

  await h.reset();
  const t2 = await h.login();
  await h.faults({ apiMode: "429" });
  const r2 = await h.page.evaluate(async (t) => {
    const s = make({ retry: { maxRetries: 2, baseDelayMs: 5 } }, tokens(t));
    const a = await s.fetch("/api/x");
    return { status: a.status, stats: s.stats() };
  }, t2);
  assert.equal(r2.status, 429, "fetch resolves with the last answer");
  assert.equal((await h.stats()).counts.api, 3, "1 + maxRetries sends");
  assert.equal(r2.stats.throttled, 3);
});

test("guarantee 5: overload on a non-idempotent call is not replayed, unless it has an Idempotency-Key", async () => {
  const t = await h.login();
  await h.faults({ apiMode: "502", apiFaultCount: 1 });
  const r = await h.page.evaluate(async (t) => {
    const s = make({ retry: { baseDelayMs: 5 } }, tokens(t));
    return (await s.fetch("/api/order", { method: "POST", body: "{}" })).status;
  }, t);
  assert.equal(r, 502);
  assert.equal((await h.stats()).counts.api, 1);

  await h.reset();
  const t2 = await h.login();
  await h.faults({ apiMode: "502", apiFaultCount: 2 });
  const r2 = await h.page.evaluate(async (t) => {
    const s = make({ retry: { baseDelayMs: 5, idempotencyKey: true } }, tokens(t));
    const a = await s.fetch("/api/order", { method: "POST", body: "{}" });
    return { status: a.status, body: await a.json() };
  }, t2);
  assert.equal(r2.status, 200);
  const log = (await h.stats(true)).log.filter((e) => e.path === "/api/order");
  assert.equal(log.length, 3);
  assert.ok(log[0].idem && log.every((e) => e.idem === log[0].idem), "one key per call, the same on every attempt");
  assert.equal(r2.body.idempotencyKey, log[0].idem);
});

test("guarantee 5: network errors are retried for GET, not for POST", async () => {
  const t = await h.login();
  await h.faults({ apiMode: "reset", apiFaultCount: 1 });
  const r = await h.page.evaluate(async (t) => {
    const s = make({ retry: { baseDelayMs: 5 } }, tokens(t));
    return { status: (await s.fetch("/api/me")).status, retries: events.filter((e) => e.type === "retry").map((e) => e.status) };
  }, t);
  assert.deepEqual(r, { status: 200, retries: [0] }, "a network error is retry status 0");
  assert.equal((await h.stats()).counts.api, 2, "the GET was sent again");
  await h.faults({ apiMode: "reset", apiFaultCount: 1 });
  const r2 = await h.page.evaluate(async () => {
    const x = await settle(s.fetch("/api/me", { method: "POST", body: "x" }));
    return { ok: x.ok, name: x.e && x.e.name };
  });
  assert.deepEqual(r2, { ok: false, name: "TypeError" }, "the network error comes back as fetch's own TypeError");
  assert.equal((await h.stats()).counts.api, 3, "the POST was sent once");
});

test("fetch takes a URL object as fetch does: the session's token goes with it", async () => {
  const t = await h.login();
  const r = await h.page.evaluate(async (t) => {
    const s = make({}, tokens(t));
    return (await s.fetch(new URL("/api/me", location.href))).status;
  }, t);
  assert.equal(r, 200, "a URL on an allowed origin carries the token (without it the API answers 401)");
});

test("guarantee 3: bodies survive the replay after a 401 (string, URLSearchParams, FormData, Blob, Request)", async () => {
  const t = await h.login();
  const r = await h.page.evaluate(async (t) => {
    const out = [];
    const bodies = {
      string: () => "plain text",
      params: () => new URLSearchParams({ a: "1", b: "two" }),
      blob: () => new Blob(["blob body"], { type: "text/plain" }),
      form: () => { const f = new FormData(); f.append("field", "value"); return f; },
    };
    for (const [k, mk] of Object.entries(bodies)) {
      make({}, { accessToken: "refused-" + k, refreshToken: t.refresh_token });
      const res = await s.fetch("/api/echo", { method: "POST", body: mk() });
      out.push([k, res.status, (await res.json()).body]);
    }
    make({}, { accessToken: "refused-request", refreshToken: t.refresh_token });
    const req = new Request("/api/echo", { method: "PUT", body: "from a Request" });
    const res = await s.fetch(req);
    out.push(["request", res.status, (await res.json()).body]);
    return out;
  }, t);
  assert.deepEqual(r.map((x) => x[1]), [200, 200, 200, 200, 200]);
  assert.equal(r[0][2], "plain text");
  assert.equal(r[1][2], "a=1&b=two");
  assert.equal(r[2][2], "blob body");
  assert.match(r[3][2], /name="field"\r\n\r\nvalue/);
  assert.equal(r[4][2], "from a Request");
});

test("guarantee 11: an abort while waiting for a refresh or a backoff rejects at once and sends nothing", async () => {
  const t = await expired();
  await h.faults({ tokenLatencyMs: 1500 });
  const r = await h.page.evaluate(async (t) => {
    const s = make({}, tokens(t, { expiresIn: 0 }));
    return abortAfter(100, (signal) => s.fetch("/api/me", { signal }));
  }, t);
  assert.equal(r.a.e.name, "AbortError");
  assert.ok(r.ms < 1000, `rejected after ${r.ms} ms`);
  await new Promise((res) => setTimeout(res, 1600));
  assert.equal((await h.stats()).counts.api, 0, "not sent after the refresh");

  await h.reset();
  const t2 = await h.login();
  await h.faults({ apiMode: "429", apiRetryAfter: 5 });
  const r2 = await h.page.evaluate(async (t) => {
    const s = make({}, tokens(t));
    return abortAfter(300, (signal) => s.fetch("/api/me", { signal }));
  }, t2);
  assert.equal(r2.a.e.name, "AbortError");
  assert.ok(r2.ms < 2000);
  assert.equal((await h.stats()).counts.api, 1, "the backoff was cut short, no second send");
});

test("guarantee 12: proactive refresh before expiry, with no calls made", async () => {
  const t = await h.login({ accessTtl: 3 });
  const r = await h.page.evaluate(async (t) => {
    make({ refreshLeewaySeconds: 30 }, tokens(t));
    await new Promise((res) => setTimeout(res, 2500));
    return events;
  }, t);
  const refreshed = r.filter((e) => e.type === "token-refreshed");
  assert.equal(refreshed.length, 1, JSON.stringify(r));
  assert.ok(refreshed[0].expiresAt > Date.now());
  assert.equal((await h.stats()).counts.refresh, 1);
});

test("guarantee 12: a far expiry is clamped below setTimeout's 2^31 ms and refreshes nothing early", async () => {
  const page = await h.openPage();
  const t = await h.login();
  const r = await page.evaluate(async (t) => {
    const delays = [];
    const real = window.setTimeout;
    window.setTimeout = (fn, ms, ...rest) => { delays.push(ms); return real(fn, ms, ...rest); };
    make({}, tokens(t, { expiresIn: 40 * 24 * 3600 })); // 40 days
    window.setTimeout = real;
    await new Promise((res) => setTimeout(res, 1000));
    return { delays, auth: s.isAuthenticated() };
  }, t);
  // unclamped, 3.4e9 ms would wrap to an immediate timer
  assert.deepEqual(r.delays, [2147483647]);
  assert.equal(r.auth, true);
  assert.equal((await h.stats()).counts.refresh, 0);
  await page.close();
});

test("rate limit: calls are queued to requestsPerSecond, not dropped", async () => {
  const t = await h.login();
  const r = await h.page.evaluate(async (t) => {
    const s = make({ rateLimit: { requestsPerSecond: 20, burst: 5 } }, tokens(t));
    const t0 = performance.now();
    const res = await Promise.all(Array.from({ length: 25 }, () => s.fetch("/api/me").then((r) => r.status)));
    return { ms: performance.now() - t0, ok: res.every((x) => x === 200) };
  }, t);
  assert.ok(r.ok);
  assert.ok(r.ms >= 900, `25 calls at 20/s with a burst of 5 took ${r.ms} ms`);
});

test("Cognito refresher end to end, and userInfo() cached and single flight", async () => {
  const t = await expired();
  const r = await h.page.evaluate(async (t) => {
    const s = make({ refresh: { type: "cognito", clientId: "demo", endpoint: "/cognito/" } }, tokens(t, { expiresIn: 0 }));
    const status = (await s.fetch("/api/me")).status;
    const [a, b] = await Promise.all([s.userInfo(), s.userInfo()]);
    const c = await s.userInfo();
    return { status, a, same: a === b && b === c, id: s.claims("id"), access: s.claims(), raw: a.raw.Username };
  }, t);
  assert.equal(r.status, 200);
  assert.equal(r.a.username, "alice", "Cognito's answer in the OIDC shape: username and the attributes, flat");
  assert.equal(r.a.email, "alice@example.test");
  assert.equal(r.a.sub, "alice");
  assert.equal(r.raw, "alice", "the raw answer stays reachable");
  assert.ok(r.same);
  assert.equal(r.id.email, "alice@example.test");
  assert.equal(r.access.sub, "alice");
  const st = await h.stats();
  assert.equal(st.counts.userinfo, 1, "one GetUser for three userInfo() calls");
  assert.equal(st.counts.refresh, 1);
});

test("OIDC userInfoUrl, cached for userInfoTtlSeconds", async () => {
  const t = await h.login();
  const r = await h.page.evaluate(async (t) => {
    const refresh = { type: "oauth2", tokenUrl: "/oauth/token", clientId: "demo", userInfoUrl: "/oauth/userinfo" };
    const s = make({ refresh, userInfoTtlSeconds: 1 }, tokens(t));
    const a = await s.userInfo();
    await s.userInfo();
    await new Promise((res) => setTimeout(res, 1100));
    await s.userInfo();
    return a;
  }, t);
  assert.equal(r.sub, "alice");
  assert.equal((await h.stats()).counts.userinfo, 2, "one request, a cache hit, then a request after the TTL");
});

test("the refresh requests are exactly as the README describes (OAuth2 form post, Cognito InitiateAuth)", async () => {
  const t = await h.login();
  const r = await h.page.evaluate(async (t) => {
    const seen = [];
    const real = window.fetch;
    window.fetch = async (input, init = {}) => {
      const url = typeof input === "string" ? input : input.url;
      if (/oauth\/token|cognito|amazonaws/.test(url)) {
        seen.push({ url, method: init.method, headers: Object.fromEntries(new Headers(init.headers)), body: String(init.body) });
        if (url.includes("amazonaws")) return new Response(JSON.stringify({ AuthenticationResult: { AccessToken: "from-cognito", ExpiresIn: 3600 } }), { status: 200 });
      }
      return real(input, init);
    };
    try {
      const a = make({ refresh: { type: "oauth2", tokenUrl: "/oauth/token", clientId: "demo", scope: "api" } }, tokens(t, { expiresIn: 0 }));
      await a.getAccessToken();
      const c = make({ refresh: { type: "cognito", region: "eu-west-1", clientId: "cid" } }, tokens(t, { expiresIn: 0 }));
      const token = await c.getAccessToken();
      return { seen, token, keptRefreshToken: await (async () => { c.setTokens({ accessToken: "x", expiresIn: 0, refreshToken: "r-old" }); await c.getAccessToken(); return seen[2].body; })() };
    } finally {
      window.fetch = real;
    }
  }, t);
  const [oauth, cognito] = r.seen;
  assert.equal(oauth.method, "POST");
  assert.match(oauth.headers["content-type"], /^application\/x-www-form-urlencoded/);
  assert.deepEqual(Object.fromEntries(new URLSearchParams(oauth.body)), { grant_type: "refresh_token", refresh_token: t.refresh_token, client_id: "demo", scope: "api" });
  assert.equal(cognito.url, "https://cognito-idp.eu-west-1.amazonaws.com/");
  assert.equal(cognito.method, "POST");
  assert.equal(cognito.headers["content-type"], "application/x-amz-json-1.1");
  assert.equal(cognito.headers["x-amz-target"], "AWSCognitoIdentityProviderService.InitiateAuth");
  assert.deepEqual(JSON.parse(cognito.body), { AuthFlow: "REFRESH_TOKEN_AUTH", ClientId: "cid", AuthParameters: { REFRESH_TOKEN: t.refresh_token } });
  assert.equal(r.token, "from-cognito");
  assert.equal(JSON.parse(r.keptRefreshToken).AuthParameters.REFRESH_TOKEN, "r-old");
});

test("guarantee 8: unavailable storage falls back to memory and warns once", async () => {
  const page = await h.openPage();
  const warnings = [];
  page.on("console", (m) => { if (m.type() === "warning") warnings.push(m.text()); });
  const t = await h.login();
  const r = await page.evaluate(async (t) => {
    Object.defineProperty(window, "localStorage", { get() { throw new DOMException("denied", "SecurityError"); } });
    const a = make({ storage: "local", crossTab: false }, tokens(t));
    const status = (await a.fetch("/api/me")).status;
    return { status, auth: a.isAuthenticated() };
  }, t);
  assert.deepEqual(r, { status: 200, auth: true });
  assert.equal(warnings.filter((w) => w.includes("sessionguard")).length, 1);
  await page.close();
});

test("guarantee 10: bad input of every kind is a TypeError and the instance keeps working", async () => {
  const t = await h.login();
  const r = await h.page.evaluate(async (t) => {
    const s = make({}, tokens(t));
    const bad = [
      () => s.setTokens(null), () => s.setTokens({ accessToken: null }), () => s.setTokens({ accessToken: "null" }),
      () => s.setTokens({ accessToken: "x", expiresAt: "tomorrow" }), () => s.wrapFetch("fetch"), () => s.attachAxios({}),
      () => s.attachAxios(null), () => s.claims(42), () => s.addEventListener("retry", "nope"), () => new SG.SessionManager({ retry: { maxRetries: "3" } }),
      () => new SG.SessionManager({ refresh: 42 }), () => new SG.SessionManager({ refresh: { type: "cognito", clientId: "x" } }),
      // the rest of the surface: every option, every member, odd types
      () => new SG.SessionManager(42), () => new SG.SessionManager({ retry: 5 }), () => new SG.SessionManager({ allowedOrigins: "https://a.example" }),
      () => new SG.SessionManager({ allowedOrigins: ["not a url"] }), () => new SG.SessionManager({ rateLimit: { requestsPerSecond: -1 } }),
      () => new SG.SessionManager({ refresh: { type: "oauth2", tokenUrl: "ftp://x", clientId: "c" } }), () => new SG.SessionManager({ storage: "cookie" }),
      () => new SG.SessionManager({ refreshLeewaySeconds: NaN }), () => new SG.SessionManager({ crossTab: "yes" }), () => new SG.SessionManager({ [Symbol("x")]: 1, bogus: 1 }),
      () => s.setTokens({ accessToken: "x", expiresIn: {} }), () => s.setTokens([]), () => s.setTokens("token"), () => s.setTokens({ accessToken: 42 }),
      () => s.claims({}), () => s.removeEventListener(42, () => {}), () => s.addEventListener(null, () => {}), () => s.wrapFetch(42),
    ];
    const names = bad.map((f) => { try { f(); return "no error"; } catch (e) { return e instanceof TypeError ? "TypeError" : String(e); } });
    const odd = await Promise.all([settle(s.fetch(undefined)), settle(s.fetch({ toString: () => 5 })), settle(s.fetch("http://[bad")), settle(SG.SessionManager.create({ bogus: 1 })), settle(s.userInfo()), settle(s.fetch("/api/me", { headers: 42 })), settle(s.fetch("/api/me", { method: 42, body: {} })),
      // getters of the caller's that throw: the call fails (or ignores a fake signal), the module goes on
      settle(s.fetch("/api/me", { headers: {}, get cache() { throw new Error("getter"); } })), settle(s.fetch("/api/me", { signal: { get aborted() { throw new Error("getter"); } } }))]);
    const created = await SG.SessionManager.create({ bogus: 1 }).catch((e) => e instanceof TypeError);
    const status = (await s.fetch("/api/me")).status;
    return { names, odd: odd.map((x) => x.ok || x.e.name), status, auth: s.isAuthenticated(), created };
  }, t);
  // the fake signal is not read as one here; the platform's fetch refuses it, as it would
  assert.deepEqual(r.odd.slice(-2), ["Error", "TypeError"], "a throwing getter fails its call; a fake signal fails as fetch fails it");
  assert.deepEqual([...new Set(r.names)], ["TypeError"], JSON.stringify(r.names));
  assert.equal(r.created, true, "create() rejects bad options with a TypeError");
  assert.equal(r.status, 200);
  assert.equal(r.auth, true);
  assert.equal(h.errors.length, 0, h.errors.join("\n"));
});

test("listeners may call back in: getAccessToken and setTokens from a session-expired listener", async () => {
  const t = await h.login();
  const t2 = await h.login({ user: "bob" });
  const r = await h.page.evaluate(async ({ t, t2 }) => {
    const s = make({}, tokens(t));
    const seen = [];
    s.addEventListener("session-expired", async (e) => {
      seen.push(e.detail.reason);
      seen.push((await settle(s.getAccessToken())).e.reason);
      s.setTokens(tokens(t2));
    });
    s.addEventListener("session-expired", () => { throw new Error("a listener that throws"); });
    let once = 0;
    s.addEventListener("session-expired", () => { once++; }, { once: true });
    s.logout();
    await new Promise((res) => setTimeout(res, 50));
    const me = await (await s.fetch("/api/me")).json();
    s.logout();
    return { seen, user: me.user, once };
  }, { t, t2 });
  assert.deepEqual(r.seen.slice(0, 2), ["logout", "logout"]);
  assert.equal(r.once, 1, "{ once: true } is honoured");
  assert.equal(r.user, "bob");
});

test("dispose: later calls reject with the exported SessionDisposedError; nothing is sent", async () => {
  const t = await h.login();
  const r = await h.page.evaluate(async (t) => {
    const s = make({ refresh: { type: "oauth2", tokenUrl: "/oauth/token", clientId: "demo", userInfoUrl: "/oauth/userinfo" } }, tokens(t));
    const { fetch: bound } = s;
    const ax = axios.create();
    s.attachAxios(ax); // attached before: its request interceptor refuses afterwards
    s.dispose();
    const kind = (e) => (e instanceof SG.SessionDisposedError ? "SessionDisposedError" : String(e));
    const rejected = await Promise.all([s.fetch("/api/me"), bound("/api/me"), s.getAccessToken(), s.userInfo(), ax.get("/api/me")].map((p) => p.then(() => "ok", kind)));
    const thrown = [() => s.setTokens(tokens(t)), () => s.wrapFetch(), () => s.attachAxios(axios.create())].map((f) => { try { f(); return "ok"; } catch (e) { return kind(e); } });
    return { rejected, thrown, auth: s.isAuthenticated(), claims: s.claims() };
  }, t);
  assert.deepEqual([...new Set([...r.rejected, ...r.thrown])], ["SessionDisposedError"]);
  assert.equal(r.auth, false);
  assert.equal(r.claims, null);
  assert.equal((await h.stats()).counts.api, 0);
});

test("userInfo(): a failing endpoint rejects with the exported UserInfoError and its status; the session is kept", async () => {
  const t = await h.login();
  const r = await h.page.evaluate(async (t) => {
    const s = make({ refresh: { type: "oauth2", tokenUrl: "/oauth/token", clientId: "demo", userInfoUrl: "/no-such-endpoint" } }, tokens(t));
    const e = await s.userInfo().catch((e) => e);
    return { isClass: e instanceof SG.UserInfoError, isError: e instanceof Error, name: e.name, status: e.status, auth: s.isAuthenticated() };
  }, t);
  assert.deepEqual(r, { isClass: true, isError: true, name: "UserInfoError", status: 404, auth: true });
});

test("userInfo() never serves one session's user to the next, even from a request still in flight", async () => {
  const alice = await h.login();
  const bob = await h.login({ user: "bob" });
  const r = await h.page.evaluate(async ({ alice, bob }) => {
    const s = make({ refresh: { type: "oauth2", tokenUrl: "/oauth/token", clientId: "demo", userInfoUrl: "/oauth/userinfo" } }, tokens(alice));
    const first = await s.userInfo();
    const inFlight = s.userInfo(); // cached: alice
    const racing = (s.setTokens(tokens(alice)), s.logout(), s.setTokens(tokens(bob)), s.userInfo());
    const late = s.userInfo();
    return { first: first.sub, cached: (await inFlight).sub, next: (await racing).sub, late: (await late).sub };
  }, { alice, bob });
  assert.deepEqual(r, { first: "alice", cached: "alice", next: "bob", late: "bob" });
});

test("events are dispatched after the state settles; removeEventListener removes", async () => {
  const t = await expired();
  const r = await h.page.evaluate(async (t) => {
    const s = make({ storage: "session", storageKey: "settled" }, tokens(t, { expiresIn: 0 }));
    const seen = {};
    s.addEventListener("token-refreshed", () => {
      seen.refreshedStored = JSON.parse(sessionStorage.getItem("settled")).a;
      seen.refreshedToken = s.getAccessToken();
    });
    s.addEventListener("session-expired", () => {
      seen.expiredAuth = s.isAuthenticated();
      seen.expiredStored = sessionStorage.getItem("settled");
    });
    let removedCalls = 0;
    const removed = () => { removedCalls++; };
    s.addEventListener("session-expired", removed);
    s.removeEventListener("session-expired", removed);
    await s.fetch("/api/me");
    const current = await s.getAccessToken();
    const fromListener = await seen.refreshedToken;
    s.logout();
    return { ...seen, refreshedToken: fromListener === current, storedIsCurrent: seen.refreshedStored === current, removedCalls };
  }, t);
  assert.equal(r.refreshedToken, true, "getAccessToken inside token-refreshed gives the new token at once");
  assert.equal(r.storedIsCurrent, true, "the new tokens are stored before token-refreshed fires");
  assert.equal(r.expiredAuth, false);
  assert.equal(r.expiredStored, null, "storage is cleared before session-expired fires");
  assert.equal(r.removedCalls, 0);
});

test("no-refresh-token: an expired token without a way to refresh ends the session once", async () => {
  const t = await h.login();
  const r = await h.page.evaluate(async (t) => {
    const out = [];
    for (const [opts, set] of [[{ refresh: undefined }, tokens(t, { expiresIn: 0 })], [{}, tokens(t, { expiresIn: 0, refreshToken: undefined })]]) {
      const s = make(opts, set);
      const a = await Promise.all([settle(s.fetch("/api/me")), settle(s.fetch("/api/me"))]);
      out.push({ errors: a.map((x) => x.e.reason), events: events.map((e) => e.reason) });
    }
    return out;
  }, t);
  for (const x of r) {
    assert.deepEqual(x.errors, ["no-refresh-token", "no-refresh-token"]);
    assert.deepEqual(x.events, ["no-refresh-token"]);
  }
  assert.equal((await h.stats()).counts.api, 0);
  assert.equal((await h.stats()).counts.refresh, 0);
});

test("guarantee 11: an abort while queued by the rate limiter rejects at once and sends nothing", async () => {
  const t = await h.login();
  const r = await h.page.evaluate(async (t) => {
    const s = make({ rateLimit: { requestsPerSecond: 0.5 } }, tokens(t));
    await s.fetch("/api/me"); // takes the only slot for 2 s
    return abortAfter(100, (signal) => s.fetch("/api/me", { signal }));
  }, t);
  assert.equal(r.a.e.name, "AbortError");
  assert.ok(r.ms < 1000, String(r.ms));
  await new Promise((res) => setTimeout(res, 2200));
  assert.equal((await h.stats()).counts.api, 1);
});

test("guarantee 8: corrupt or foreign data under the key is ignored; a full storage falls back to memory", async () => {
  const page = await h.openPage();
  const warnings = [];
  page.on("console", (m) => { if (m.type() === "warning") warnings.push(m.text()); });
  const t = await h.login();
  const r = await page.evaluate(async (t) => {
    const out = [];
    for (const junk of ["garbage", "{\"v\":1,\"a\":null}", "{\"accessToken\":\"x\"}", "null", "{\"v\":1,\"a\":\"undefined\"}"]) {
      localStorage.setItem("sg-corrupt", junk);
      const s = new SG.SessionManager({ storage: "local", storageKey: "sg-corrupt", crossTab: false });
      out.push(s.isAuthenticated());
      s.dispose();
    }
    // full storage: every write throws from now on
    localStorage.removeItem("sg-corrupt");
    const s = new SG.SessionManager({ storage: "local", storageKey: "sg-full", crossTab: false });
    Storage.prototype.setItem = () => { throw new DOMException("full", "QuotaExceededError"); };
    s.setTokens(tokens(t));
    s.setTokens(tokens(t));
    const status = (await s.fetch("/api/me")).status;
    return { out, status, auth: s.isAuthenticated() };
  }, t);
  assert.deepEqual(r.out, [false, false, false, false, false]);
  assert.deepEqual([r.status, r.auth], [200, true]);
  assert.equal(warnings.filter((w) => w.includes("sessionguard")).length, 1, warnings.join("\n"));
  await page.close();
});

test("guarantee 8: the refresh token goes nowhere but the token endpoint", async () => {
  const t = await h.login();
  await h.page.evaluate(async (t) => {
    const s = make({}, { accessToken: "refused", refreshToken: t.refresh_token });
    await Promise.all(Array.from({ length: 20 }, () => s.fetch("/api/echo", { method: "POST", body: "x" })));
  }, t);
  const st = await h.stats(true);
  assert.equal(st.counts.refresh, 1);
  assert.equal(st.counts.refreshTokenLeaks, 0);
  assert.ok(st.log.filter((e) => e.path.startsWith("/api/")).every((e) => e.auth !== t.refresh_token && !String(e.auth).startsWith("rt-")));
});

for (const form of ["cognito", "oauth2"]) {
  test(`userInfo() backs off when ${form === "cognito" ? "GetUser answers 400 TooManyRequestsException" : "the userinfo endpoint answers 429"}: 10 callers, one answer`, async () => {
    const t = await h.login();
    await h.faults({ userInfoThrottleCount: 2, userInfoRetryAfter: form === "oauth2" ? 0 : null });
    const r = await h.page.evaluate(async ({ t, form }) => {
      const refresh = form === "cognito" ? { type: "cognito", clientId: "demo", endpoint: "/cognito/" } : { type: "oauth2", tokenUrl: "/oauth/token", clientId: "demo", userInfoUrl: "/oauth/userinfo" };
      const s = make({ refresh, retry: { baseDelayMs: 20 } }, tokens(t));
      const all = await Promise.all(Array.from({ length: 10 }, () => settle(s.userInfo())));
      return { subs: [...new Set(all.map((x) => x.ok && x.v.sub))], retries: events.filter((e) => e.type === "retry").length, auth: s.isAuthenticated() };
    }, { t, form });
    assert.deepEqual(r.subs, ["alice"], "every caller answered after the backoff");
    assert.equal(r.retries, 2, "two throttled answers, two retries, announced");
    assert.equal(r.auth, true);
    assert.equal((await h.stats()).counts.userinfo, 3, "single flight: 2 throttled + 1 answer");
  });
}
