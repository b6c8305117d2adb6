// Lifetime and trust (issue #30): what the app can still call keeps the session alive, only
// dispose() ends it, and a disposed or unreachable session lets go of everything; only a DPoP
// key sessionguard made is used; a key kept in one tab's memory keeps its tokens in that tab.
// Collections are forced (Chromium and Node run with --expose-gc) and waited for by polling a
// condition (a FinalizationRegistry callback, a WeakRef emptied), never for a fixed time.
import { test, before, after, beforeEach } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { start, FULL_ONLY, LITE } from "./harness.mjs";

const root = new URL("../..", import.meta.url).pathname;
let h;
/** The helpers these tests use in a page. */
function helpers() {
  {
    // collects until `done()` says so (bounded); then one more round, so that every
    // FinalizationRegistry of that collection (wasm-bindgen's too) has run its callbacks. A
    // collection runs in a task of its own: `WeakRef.deref()` keeps its target alive until the
    // end of the task that called it.
    const tick = () => new Promise((r) => setTimeout(r, 10));
    window.collectUntil = async (done, ms = 20_000) => {
      const t0 = performance.now();
      while (!done()) {
        if (performance.now() - t0 > ms) return false;
        await tick();
        gc();
        await tick();
      }
      gc();
      await tick();
      return true;
    };
    window.jwkX = (proof) => JSON.parse(atob(proof.split(".")[0].replace(/-/g, "+").replace(/_/g, "/"))).jwk.x;
    // the DPoP key store, as a script in the page can reach it
    window.idb = async (mode, key, value) => {
      const db = await new Promise((ok, no) => {
        const r = indexedDB.open("sessionguard-dpop", 1);
        r.onupgradeneeded = () => r.result.createObjectStore("keys");
        r.onsuccess = () => ok(r.result);
        r.onerror = () => no(r.error);
      });
      try {
        return await new Promise((ok, no) => {
          const store = db.transaction("keys", mode).objectStore("keys");
          const r = mode === "readonly" ? store.get(key) : store.put(value, key);
          r.onsuccess = () => ok(r.result);
          r.onerror = () => no(r.error);
        });
      } finally {
        db.close();
      }
    };
    // IndexedDB refused, as some private windows do
    window.refuseIndexedDB = () => Object.defineProperty(window, "indexedDB", {
      configurable: true,
      value: { open() { throw new DOMException("The operation is insecure.", "SecurityError"); } },
    });
  }
}
before(async () => {
  h = await start({ jsFlags: "--expose-gc" });
  await h.page.evaluate(helpers);
});
after(async () => { await h?.close(); });
beforeEach(async () => { await h.reset(); });

test("a_collected_manager_keeps_its_bound_fetch_working (and its wrapFetch() wrapper installed as window.fetch, and its axios interceptors)", async () => {
  const r = await h.page.evaluate(async (foreign) => {
    const original = window.fetch;
    let collected = false;
    const registry = new FinalizationRegistry(() => { collected = true; });
    // what README tells apps to keep: the bound fetch, a wrapper as window.fetch, an axios instance
    const kept = (() => {
      const s = new SG.SessionManager({ allowedOrigins: [foreign] });
      s.setTokens({ access_token: "tok-life", expires_in: 3600 });
      registry.register(s, "manager");
      const api = axios.create();
      s.attachAxios(api);
      window.fetch = s.wrapFetch();
      return { fetch: s.fetch, api };
    })();
    try {
      const freed = await collectUntil(() => collected);
      const url = foreign + "/foreign/x";
      const bound = await settle(kept.fetch(url).then((x) => x.json()));
      const wrapper = await settle(fetch(url).then((x) => x.json()));
      const page = await settle(fetch("/foreign/y").then((x) => x.json()));
      const viaAxios = await settle(kept.api.get(url).then((x) => x.data));
      return { freed, bound, wrapper, page, viaAxios };
    } finally {
      window.fetch = original;
    }
  }, h.foreign);
  assert.equal(r.freed, true, "the SessionManager object was collected");
  assert.deepEqual(r.bound, { ok: true, v: { authorization: "Bearer tok-life", dpop: null } });
  assert.deepEqual(r.wrapper, { ok: true, v: { authorization: "Bearer tok-life", dpop: null } });
  assert.deepEqual(r.page, { ok: true, v: { authorization: null, dpop: null } }, "the page's other calls still go out");
  assert.deepEqual(r.viaAxios, { ok: true, v: { authorization: "Bearer tok-life", dpop: null } });
});

test("a_disposed_wrapper_passes_other_origins_through_and_refuses_its_own", async () => {
  const r = await h.page.evaluate(async (foreign) => {
    const s = new SG.SessionManager({ allowedOrigins: [foreign] });
    s.setTokens({ access_token: "tok-d", expires_in: 3600 });
    const wrapper = s.wrapFetch();
    const api = axios.create();
    s.attachAxios(api);
    s.dispose();
    const own = foreign + "/foreign/x";
    return {
      wrapperOther: await settle(wrapper("/foreign/y").then((x) => x.json())),
      wrapperOwn: await settle(wrapper(own)),
      wrapperOwnRequest: await settle(wrapper(new Request(own))),
      boundOther: await settle(s.fetch("/foreign/y").then((x) => x.json())),
      boundOwn: await settle(s.fetch(own)),
      axiosOther: await settle(api.get("/foreign/y").then((x) => x.data)),
      axiosOwn: await settle(api.get(own)),
    };
  }, h.foreign);
  const untouched = { ok: true, v: { authorization: null, dpop: null } };
  assert.deepEqual(r.wrapperOther, untouched);
  assert.deepEqual(r.boundOther, untouched);
  assert.deepEqual(r.axiosOther, untouched);
  for (const k of ["wrapperOwn", "wrapperOwnRequest", "boundOwn", "axiosOwn"]) assert.equal(r[k].e?.name, "SessionDisposedError", k);
  assert.equal((await h.stats()).counts.foreignWithAuth, 0, "nothing sent to its own origin");
});

test("an_unreachable_session_is_freed_with_everything_it_holds (no cycle through its fetch, wrapper, axios instance, timer or channel)", async () => {
  const r = await h.page.evaluate(async (foreign) => {
    const refs = (() => {
      const refresh = async () => ({ accessToken: "never" });
      const s = new SG.SessionManager({ allowedOrigins: [foreign], refresh, storage: "local", storageKey: "lifetime-free" });
      // a proactive refresh timer and a cross-tab channel are running
      s.setTokens({ access_token: "tok-f", refresh_token: "rt-f", expires_in: 3600 });
      const api = axios.create();
      s.attachAxios(api);
      const wrapper = s.wrapFetch();
      const { fetch: f } = s;
      return { refresh: new WeakRef(refresh), fetch: new WeakRef(f), wrapper: new WeakRef(wrapper), api: new WeakRef(api) };
    })();
    // the session holds its `refresh` function until it is freed
    const freed = await collectUntil(() => refs.refresh.deref() === undefined);
    return { freed, handles: ["fetch", "wrapper", "api"].filter((k) => refs[k].deref() !== undefined) };
  }, h.foreign);
  assert.deepEqual(r, { freed: true, handles: [] });
});

test("dispose_releases_the_listeners_while_a_wrapper_still_holds_the_session", async () => {
  const r = await h.page.evaluate(async (foreign) => {
    const kept = (() => {
      const s = new SG.SessionManager({ allowedOrigins: [foreign] });
      s.setTokens({ access_token: "tok-l", expires_in: 3600 });
      // a listener that holds the manager: a cycle through the session until dispose()
      const listener = () => s.logout();
      s.addEventListener("session-expired", listener);
      const wrapper = s.wrapFetch();
      s.dispose();
      return { wrapper, listener: new WeakRef(listener) };
    })();
    const released = await collectUntil(() => kept.listener.deref() === undefined);
    const other = await settle(kept.wrapper("/foreign/y").then((x) => x.status));
    return { released, other };
  }, h.foreign);
  assert.deepEqual(r, { released: true, other: { ok: true, v: 200 } });
});

test("in_node_a_collected_manager_keeps_its_bound_fetch_working", async () => {
  const script = `
    import init, { SessionManager } from ${JSON.stringify(root + (LITE ? "pkg/lite.node.js" : "pkg/sessionguard.node.js"))};
    await init();
    const foreign = ${JSON.stringify(h.foreign)};
    let collected = false;
    const registry = new FinalizationRegistry(() => { collected = true; });
    const f = (() => {
      const s = new SessionManager({ allowedOrigins: [foreign] });
      s.setTokens({ access_token: "tok-node", expires_in: 3600 });
      registry.register(s, "manager");
      return s.fetch;
    })();
    const t0 = Date.now();
    while (!collected && Date.now() - t0 < 20000) { gc(); await new Promise((r) => setTimeout(r, 10)); }
    gc(); await new Promise((r) => setTimeout(r, 10));
    const r = await f(foreign + "/foreign/x").then((x) => x.json(), (e) => ({ rejected: e.name }));
    console.log(JSON.stringify({ collected, r }));
  `;
  // asynchronous: the dev server answering the call runs in this process
  const { stdout } = await promisify(execFile)(process.execPath, ["--expose-gc", "--input-type=module", "-e", script], { encoding: "utf8" });
  assert.deepEqual(JSON.parse(stdout.trim().split("\n").pop()), { collected: true, r: { authorization: "Bearer tok-node", dpop: null } });
});

test("a_planted_dpop_key_is_never_used: discarded and replaced by a non-extractable one, and the session bound to it ends", FULL_ONLY, async () => {
  const plants = ["extractable P-256", "non-extractable P-384", "look-alike object"];
  for (const plant of plants) {
    const r = await h.page.evaluate(async ({ foreign, plant }) => {
      const storageKey = "planted-" + plant.replace(/\W/g, "");
      // a script that ran once in the page, before the user signed in
      let pair, plantedX = null;
      if (plant === "look-alike object") {
        pair = { privateKey: { type: "private", extractable: false, algorithm: { name: "ECDSA", namedCurve: "P-256" }, usages: ["sign"] }, publicKey: { type: "public" } };
      } else {
        const curve = plant.includes("P-384") ? "P-384" : "P-256";
        pair = await crypto.subtle.generateKey({ name: "ECDSA", namedCurve: curve }, plant.startsWith("extractable"), ["sign", "verify"]);
        plantedX = (await crypto.subtle.exportKey("jwk", pair.publicKey)).x;
      }
      await idb("readwrite", storageKey, pair);
      // tokens bound to the planted key, stored as a session signed in with it would be
      localStorage.setItem(storageKey, JSON.stringify({ v: 1, a: "tok-planted", r: "rt-planted", e: Date.now() + 3_600_000, t: Date.now(), d: true }));
      const s = make({ allowedOrigins: [foreign], storage: "local", storageKey, dpop: true });
      const restored = s.isAuthenticated();
      // the key is judged as soon as it is loaded (bounded wait for that condition)
      for (const t0 = performance.now(); !events.length && performance.now() - t0 < 5000;) await new Promise((r) => setTimeout(r, 10));
      const call = await settle(s.fetch(foreign + "/foreign/x"));
      const ended = events.filter((e) => e.type === "session-expired").map((e) => e.reason);
      s.setTokens({ access_token: "tok-new", token_type: "DPoP", expires_in: 3600 });
      const proof = (await (await s.fetch(foreign + "/foreign/x")).json()).dpop;
      const kept = await idb("readonly", storageKey);
      const keptX = (await crypto.subtle.exportKey("jwk", kept.publicKey)).x;
      s.dispose();
      localStorage.removeItem(storageKey);
      return {
        restored, call: call.ok ? "sent" : [call.e.name, call.e.reason], ended,
        usedPlanted: jwkX(proof) === plantedX, usesKept: jwkX(proof) === keptX,
        kept: { type: kept.privateKey.type, extractable: kept.privateKey.extractable, usages: kept.privateKey.usages, curve: kept.privateKey.algorithm.namedCurve },
      };
    }, { foreign: h.foreign, plant });
    assert.equal(r.restored, true, plant);
    assert.deepEqual(r.call, ["SessionExpiredError", "refresh-rejected"], plant + ": the bound tokens are not sent");
    assert.deepEqual(r.ended, ["refresh-rejected"], plant);
    assert.equal(r.usedPlanted, false, plant);
    assert.equal(r.usesKept, true, plant + ": the replacement is what IndexedDB keeps");
    assert.deepEqual(r.kept, { type: "private", extractable: false, usages: ["sign"], curve: "P-256" }, plant);
  }
});

test("a_memory_only_dpop_key_keeps_its_bound_tokens_in_its_tab: not stored, not shared, and its end ends no other tab", FULL_ONLY, async () => {
  const key = "memory-key";
  const opts = { allowedOrigins: [h.foreign], storage: "local", storageKey: key, dpop: true };
  const pageB = await h.openPage();
  const pageA = await h.openPage();
  await pageB.evaluate(helpers);
  await pageA.evaluate(helpers);
  try {
    // tab B: its own session, with its own key in memory
    await pageB.evaluate(async ({ foreign, opts }) => {
      refuseIndexedDB();
      const s = make(opts, { access_token: "tok-B", refresh_token: "rt-B", token_type: "DPoP", expires_in: 3600 });
      await s.fetch(foreign + "/foreign/x");
    }, { foreign: h.foreign, opts });
    // tab A signs in: its key in memory too; its refresh will be refused
    const a = await pageA.evaluate(async ({ foreign, opts, key }) => {
      refuseIndexedDB();
      const s = make(opts, { access_token: "tok-A", refresh_token: "rt-A", token_type: "DPoP", expires_in: 3600 });
      const sent = await (await s.fetch(foreign + "/foreign/x")).json();
      return { sent: sent.authorization, proved: sent.dpop?.split(".").length, stored: localStorage.getItem(key) };
    }, { foreign: h.foreign, opts, key });
    assert.deepEqual(a, { sent: "DPoP tok-A", proved: 3, stored: null }, "tab A's bound tokens are not written to shared storage");
    // tab A is reloaded: a new key, nothing to restore
    await pageA.reload();
    await pageA.waitForFunction(() => window.sgReady || window.sgError);
    await pageA.evaluate(helpers);
    const reloaded = await pageA.evaluate(async ({ foreign, opts }) => {
      refuseIndexedDB();
      const s = make(opts);
      // and a session there that ends terminally (its refresh token is refused)
      s.setTokens({ access_token: "tok-A2", refresh_token: "rt-refused", token_type: "DPoP", expires_in: 0 });
      const call = await settle(s.fetch(foreign + "/foreign/x"));
      return { call: call.ok ? "sent" : call.e.reason, ended: events.filter((e) => e.type === "session-expired").map((e) => e.reason) };
    }, { foreign: h.foreign, opts });
    assert.deepEqual(reloaded, { call: "refresh-rejected", ended: ["refresh-rejected"] });
    // tab B: untouched
    const b = await pageB.evaluate(async (foreign) => ({
      auth: s.isAuthenticated(),
      sent: (await (await s.fetch(foreign + "/foreign/x")).json()).authorization,
      ended: events.filter((e) => e.type === "session-expired").length,
    }), h.foreign);
    assert.deepEqual(b, { auth: true, sent: "DPoP tok-B", ended: 0 }, "tab B keeps its own session");
  } finally {
    await pageA.close();
    await pageB.close();
  }
});
