// Across tabs (the README's "Across tabs"): pages of one browser context share localStorage, Web Locks and
// BroadcastChannel, as the tabs of one browser do.
import { test, before, after, beforeEach } from "node:test";
import assert from "node:assert/strict";
import { start, FULL_ONLY } from "./harness.mjs";

let h;
const tabs = [];
before(async () => { h = await start(); });
after(async () => { await h?.close(); });
beforeEach(async () => {
  // the last test's tabs first: a request one of them still makes must not land after the reset
  for (const p of tabs.splice(0)) await p.close();
  await h.reset();
  await h.page.evaluate(() => localStorage.clear());
});

const OPTS = { storage: "local" };

/** n tabs sharing one session whose access token has expired; returns the pages. */
async function openTabs(n, { tokenOpts = {}, options = OPTS, before: setup } = {}) {
  const t = await h.login();
  const pages = [];
  for (let i = 0; i < n; i++) {
    const p = await h.openPage();
    tabs.push(p);
    if (setup) await p.evaluate(setup);
    pages.push(p);
  }
  await pages[0].evaluate(({ t, options, tokenOpts }) => { make(options, tokens(t, { expiresIn: 0, ...tokenOpts })); }, { t, options, tokenOpts });
  for (const p of pages.slice(1)) await p.evaluate((options) => { make(options); }, options);
  return pages;
}

const storm = (pages, n = 20) => Promise.all(pages.map((p) => p.evaluate(async (n) => {
  const r = await Promise.all(Array.from({ length: n }, () => settle(s.fetch("/api/me").then((r) => r.status))));
  return { ok: r.filter((x) => x.ok && x.v === 200).length, errors: r.filter((x) => !x.ok).map((x) => x.e.name + ":" + x.e.reason), auth: s.isAuthenticated() };
}, n)));

for (const n of [2, 5]) {
  test(`${n} tabs with an expired token firing at once: one refresh in total, every call answered`, async () => {
    const pages = await openTabs(n);
    const res = await storm(pages);
    for (const r of res) assert.deepEqual(r, { ok: 20, errors: [], auth: true });
    const st = await h.stats();
    console.log(`# ${n} tabs: ${st.counts.refresh} refresh request(s) for ${n * 20} calls`);
    assert.equal(st.counts.refresh, 1);
    assert.equal(st.counts.api, n * 20);
  });
}

test("rotation race: refresh tokens rotate on every use, 5 tabs at once, nobody is logged out", async () => {
  await h.faults({ rotateRefreshTokens: true });
  const pages = await openTabs(5);
  const res = await storm(pages);
  for (const r of res) assert.deepEqual(r, { ok: 20, errors: [], auth: true });
  assert.equal((await h.stats()).counts.refreshRejected, 0);
});

test("without Web Locks: each tab refreshes, and a rotated-away refresh token adopts the winner's tokens", async () => {
  await h.faults({ rotateRefreshTokens: true });
  const pages = await openTabs(3, { before: () => { Object.defineProperty(navigator, "locks", { value: undefined, configurable: true }); } });
  const res = await storm(pages, 5);
  for (const r of res) assert.deepEqual(r, { ok: 5, errors: [], auth: true });
  const st = await h.stats();
  console.log(`# no Web Locks, 3 tabs: ${st.counts.refresh} refresh requests, ${st.counts.refreshRejected} rejected as reused, 0 logouts`);
});

test("logout in one tab ends the session in every tab within a second, one event each", async () => {
  const pages = await openTabs(3, { tokenOpts: { expiresIn: 3600 } });
  await Promise.all(pages.map((p) => p.evaluate(() => { window.expiredAt = null; s.addEventListener("session-expired", () => { window.expiredAt = performance.now(); }); })));
  await pages[1].evaluate(() => s.logout());
  await new Promise((r) => setTimeout(r, 1000));
  const res = await Promise.all(pages.map((p) => p.evaluate(async () => ({
    reasons: events.filter((e) => e.type === "session-expired").map((e) => e.reason),
    auth: s.isAuthenticated(),
    call: (await settle(s.fetch("/api/me"))).e,
  }))));
  for (const r of res) {
    assert.deepEqual(r.reasons, ["logout"]);
    assert.equal(r.auth, false);
    assert.equal(r.call.reason, "logout");
  }
  assert.equal((await h.stats()).counts.api, 0);
});

test("new tokens reach the other tabs (setTokens in one tab logs in the others)", async () => {
  const pages = await openTabs(2, { tokenOpts: { expiresIn: 3600 } });
  const t2 = await h.login({ user: "bob" });
  await pages[0].evaluate((t) => s.setTokens(tokens(t)), t2);
  await new Promise((r) => setTimeout(r, 300));
  const user = await pages[1].evaluate(async () => (await (await s.fetch("/api/me")).json()).user);
  assert.equal(user, "bob");
});

test("a tab that closes in the middle of a refresh: another tab takes over", async () => {
  await h.faults({ tokenLatencyMs: 3000, rotateRefreshTokens: false });
  const pages = await openTabs(2);
  pages[0].evaluate(() => { s.fetch("/api/me"); });
  await new Promise((r) => setTimeout(r, 500)); // tab 0 holds the lock, waiting on the token endpoint
  await pages[0].close();
  tabs.splice(tabs.indexOf(pages[0]), 1);
  await h.faults({ tokenLatencyMs: 0 });
  const t0 = Date.now();
  const r = await pages[1].evaluate(async () => (await s.fetch("/api/me")).status);
  assert.equal(r, 200);
  assert.ok(Date.now() - t0 < 5000, `took ${Date.now() - t0} ms`);
});

// The page's fetch (the one the library's own requests use), wrapped: each discovery request
// notes whether the refresh lock was held while it was sent (not a hand-over, `<lock>#…`, which
// a tab holds for a while after its attempt); the first one is refused (503).
const DISCOVERY_SPY = () => {
  const real = window.fetch;
  window.discoveries = [];
  window.fetch = async (url, init) => {
    if (String(url).endsWith("/.well-known/openid-configuration")) {
      const { held } = await navigator.locks.query();
      window.discoveries.push(held.some((l) => l.name.startsWith("sessionguard:") && !l.name.includes("#")));
      if (window.discoveries.length === 1) return new Response("unavailable", { status: 503 });
    }
    return real(url, init);
  };
};

test("the token endpoint is discovered before the lock is taken, also when the first discovery failed: under the lock, one bounded request", FULL_ONLY, async () => {
  // a tab waits 35 s for the lock and then steals it: a holder that discovers (up to 30 s) and
  // then refreshes (up to 30 s) could be overtaken, and its refresh token spent twice
  const options = { storage: "local", refresh: { type: "oauth2", issuer: h.origin, clientId: "demo" } };
  const [p] = await openTabs(1, { options, before: DISCOVERY_SPY });
  const r = await p.evaluate(async () => ({ status: (await s.fetch("/api/me")).status, discoveriesUnderLock: window.discoveries }));
  assert.deepEqual(r, { status: 200, discoveriesUnderLock: [false, false] });
  assert.equal((await h.stats()).counts.refresh, 1);
});

test("a throttled token endpoint: all tabs together make no more refresh attempts than one tab", async () => {
  await h.faults({ tokenMode: "429", tokenRetryAfter: 30 });
  const pages = await openTabs(5);
  const res = await storm(pages, 5);
  for (const r of res) {
    assert.equal(r.ok, 0);
    assert.ok(r.errors.every((e) => e.startsWith("RefreshUnavailableError")), r.errors.join());
    assert.equal(r.auth, true, "nobody logged out");
  }
  const st = await h.stats();
  console.log(`# throttled token endpoint, 5 tabs: ${st.counts.refresh} refresh attempt(s) in total`);
  assert.equal(st.counts.refresh, 1);
});

// A tab whose copy of local storage lags behind another tab's writes (Chromium updates each tab
// process's copy asynchronously, with no order against Web Locks), and whose messages from the
// other tabs arrive late: made so here, deterministically, by freezing its reads and delaying
// its channel. The last lock holder's hand-over (a Web Lock, ordered with the refresh lock)
// tells it that newer tokens exist: it waits for them instead of sending a refresh token that
// was already rotated away (which the server refuses, and which would end its session).
const LAGGING = () => {
  const get = Storage.prototype.getItem;
  let frozen = null;
  window.lagFromNow = () => {
    frozen = new Map();
    for (let i = 0; i < localStorage.length; i++) frozen.set(localStorage.key(i), get.call(localStorage, localStorage.key(i)));
  };
  Storage.prototype.getItem = function (k) {
    if (frozen && this === localStorage) return frozen.has(k) ? frozen.get(k) : null;
    return get.call(this, k);
  };
  const listen = EventTarget.prototype.addEventListener;
  BroadcastChannel.prototype.addEventListener = function (type, f, o) {
    const late = (e) => (frozen ? setTimeout(() => f.call(this, e), 1000) : f.call(this, e));
    return listen.call(this, type, type === "message" ? late : f, o);
  };
};

test("a tab whose storage lags the last lock holder waits for the tokens it left instead of spending a rotated refresh token", async () => {
  await h.faults({ rotateRefreshTokens: true, rotationGraceMs: 0, tokenLatencyMs: 300 });
  const [a, b] = await openTabs(2, { before: LAGGING });
  await b.evaluate(() => window.lagFromNow());
  const first = a.evaluate(async () => (await s.fetch("/api/me")).status);
  // b asks while a's refresh is at the server: b waits for the lock, then reads its stale copy
  while ((await h.stats()).counts.refresh < 1) await new Promise((r) => setTimeout(r, 5));
  const second = b.evaluate(async () => {
    try { return (await s.fetch("/api/me")).status; } catch (e) { return e.name + ":" + e.reason; }
  });
  assert.deepEqual([await first, await second], [200, 200]);
  // the requests this test made (the log: counters may also count a request of the last test
  // that was still being answered when the server was reset)
  const { log } = await h.stats(true);
  assert.equal(log.filter((e) => e.path === "/oauth/token").length, 1, "one refresh: the rotated-away token was not sent again");
  assert.equal(await b.evaluate(() => s.isAuthenticated()), true);
});

test("memory and session storage stay independent per tab", async () => {
  const t = await h.login();
  const pages = [await h.openPage(), await h.openPage()];
  tabs.push(...pages);
  for (const p of pages) await p.evaluate((t) => { make({ storage: "session" }, tokens(t, { expiresIn: 0 })); }, t);
  await storm(pages, 3);
  assert.equal((await h.stats()).counts.refresh, 2, "each tab refreshed its own session");
  await pages[0].evaluate(() => s.logout());
  await new Promise((r) => setTimeout(r, 200));
  assert.equal(await pages[1].evaluate(() => s.isAuthenticated()), true);
});

// Without BroadcastChannel the tabs speak through local storage: the same messages, written
// under `<storageKey>:msg` and carried by `storage` events, so the same rules apply.
const NO_CHANNEL = () => { delete window.BroadcastChannel; };

test("without BroadcastChannel: storage events carry the refresh, the login and the logout, once each", async () => {
  const pages = await openTabs(2, { before: NO_CHANNEL });
  assert.deepEqual(await pages[0].evaluate(() => typeof BroadcastChannel), "undefined");
  const [a] = await storm([pages[0]]);
  assert.deepEqual(a, { ok: 20, errors: [], auth: true });
  // the other tab took the refreshed tokens from the message: its calls need no refresh
  const [b] = await storm([pages[1]]);
  assert.deepEqual(b, { ok: 20, errors: [], auth: true });
  assert.equal((await h.stats()).counts.refresh, 1);
  await pages[1].evaluate(() => s.logout());
  await pages[0].waitForFunction(() => !s.isAuthenticated(), null, { timeout: 5_000 });
  const ends = await Promise.all(pages.map((p) => p.evaluate(() => events.filter((e) => e.type === "session-expired").map((e) => e.reason))));
  assert.deepEqual(ends, [["logout"], ["logout"]]);
  // a login in one tab logs the other in
  const t = await h.login();
  await pages[0].evaluate((t) => s.setTokens(tokens(t)), t);
  await pages[1].waitForFunction(() => s.isAuthenticated(), null, { timeout: 5_000 });
});

test("without BroadcastChannel: a record written or removed by a tab that does not share is no message", async () => {
  const pages = await openTabs(2, { before: NO_CHANNEL });
  await storm(pages, 1);
  // a third manager on the same key but `crossTab: false` logs in and out: it writes and
  // removes the record itself, and posts nothing
  const t = await h.login();
  await pages[1].evaluate(async (t) => {
    const other = new SG.SessionManager({ storage: "local", crossTab: false });
    other.setTokens(tokens(t));
    other.logout();
    other.dispose();
  }, t);
  await new Promise((r) => setTimeout(r, 300));
  const auth = await Promise.all(pages.map((p) => p.evaluate(() => ({ auth: s.isAuthenticated(), ends: events.filter((e) => e.type === "session-expired").length }))));
  // the old fallback read the removal as a logout of every tab (and a write as a login)
  assert.deepEqual(auth[0], { auth: true, ends: 0 });
});
