// The browser shell of sessionguard: `SessionManager`, the fetch and axios interceptors, the
// refreshers, storage, timers, the cross-tab lock and channel, events.
//
// It decides nothing that SPEC describes. Every decision (may this call go, with which token;
// refresh, join or fail; retry after how long; end the session) is asked of the Rust core
// through `SessionEngine` (src/bindings.rs), which answers with a code and leaves details in its
// out slots (`outStr`, `outNum`, `outNum2`). Read those right after the call that set them,
// before anything else talks to the engine.
//
// The build appends this file to wasm-bindgen's `pkg/sessionguard.js`, where `SessionEngine`,
// `jwtPayload` and `awsErrorType` are in scope, and drops the import below.
// @strip-start
import { SessionEngine, jwtPayload, awsErrorType } from "./sessionguard-core.js";
// @strip-end

const sessionguardApi = (() => {
  // Codes of SessionEngine (src/bindings.rs).
  const READY = 0, REFRESH = 1, JOIN = 2, FAIL = 3, SLEEP = 4;
  const DELIVER = 0, RETRY = 2;
  const EV_EXPIRED = 1, EV_REFRESHED = 2, EV_STORE = 3, EV_CLEAR = 4;
  const KIND_TERMINAL = 1;

  const MAX_TIMER_MS = 2147483647; // setTimeout's limit
  const ATTEMPT_TIMEOUT_MS = 30000; // one request to the token or user-info endpoint
  const LOCK_TIMEOUT_MS = 35000; // waiting for the cross-tab lock before stealing it
  const TERMINAL_GRACE_MS = 1000; // without Web Locks: wait for another tab's tokens
  const SETTLE_MS = 15; // after taking the lock: let the previous holder's message and storage write arrive
  const MAX_WAITS = 4; // refreshes one getAccessToken() may wait for
  const STATE = "__sessionguard"; // a call's counts, kept on an axios config
  const METHODS = ["GET", "HEAD", "OPTIONS", "PUT", "DELETE", "POST", "PATCH"]; // as in src/bindings.rs

  class SessionExpiredError extends Error {
    constructor(reason) {
      super(reason === "no-session" ? "No session: call setTokens() first" : "The session has ended: " + reason);
      this.name = "SessionExpiredError";
      this.reason = reason;
    }
  }

  class RefreshUnavailableError extends Error {
    constructor(retryAfterMs) {
      super("Token refresh is unavailable for now (transient failure); try again in " + Math.ceil(retryAfterMs) + " ms");
      this.name = "RefreshUnavailableError";
      this.retryAfterMs = retryAfterMs;
    }
  }

  const typeError = (msg) => new TypeError("sessionguard: " + msg);
  const namedError = (name, msg, extra) => Object.assign(new Error("sessionguard: " + msg), { name }, extra);
  const disposedError = () => namedError("SessionDisposedError", "this SessionManager was disposed");
  /** The error for a FAIL code: a reason (SessionExpiredError) or a delay (RefreshUnavailableError). */
  const failError = (reason, retryAfterMs) => (reason != null ? new SessionExpiredError(reason) : new RefreshUnavailableError(retryAfterMs));
  const nanToNull = (n) => (Number.isNaN(n) ? null : n);
  const str = (v) => (typeof v === "string" ? v : undefined);
  const num = (v) => (typeof v === "number" && Number.isFinite(v) ? v : undefined);

  // ---- promises that clean up after themselves ------------------------------------------

  const abortReason = (signal) => (signal.reason !== undefined ? signal.reason : new DOMException("The operation was aborted.", "AbortError"));

  /** Settles like `promise`, or rejects with the signal's reason as soon as it aborts. */
  function race(promise, signal) {
    if (!signal) return promise;
    if (signal.aborted) return Promise.reject(abortReason(signal));
    return new Promise((resolve, reject) => {
      const onAbort = () => reject(abortReason(signal));
      signal.addEventListener("abort", onAbort, { once: true });
      promise.then(
        (v) => { signal.removeEventListener("abort", onAbort); resolve(v); },
        (e) => { signal.removeEventListener("abort", onAbort); reject(e); },
      );
    });
  }

  /** Resolves after `ms`, or rejects with the signal's reason if it aborts first. */
  function sleep(ms, signal) {
    if (signal && signal.aborted) return Promise.reject(abortReason(signal));
    return new Promise((resolve, reject) => {
      let onAbort;
      const t = setTimeout(() => {
        if (signal) signal.removeEventListener("abort", onAbort);
        resolve();
      }, Math.max(0, Math.min(ms, MAX_TIMER_MS)));
      if (signal) {
        onAbort = () => { clearTimeout(t); reject(abortReason(signal)); };
        signal.addEventListener("abort", onAbort, { once: true });
      }
    });
  }

  const isAbort = (err, signal) => (signal && signal.aborted) || (err && err.name === "AbortError");
  const abortSignal = (s) => (s && typeof s === "object" && typeof s.aborted === "boolean" && typeof s.addEventListener === "function" ? s : undefined);

  function uuid() {
    const c = globalThis.crypto;
    if (c && c.randomUUID) return c.randomUUID();
    return "xxxxxxxx-xxxx-4xxx-yxxx-xxxxxxxxxxxx".replace(/[xy]/g, (ch) => {
      const r = (Math.random() * 16) | 0;
      return (ch === "x" ? r : (r & 3) | 8).toString(16);
    });
  }

  /** Origins of recently seen URLs: parsing a URL on every call costs more than the rest. */
  const originCache = new Map();
  function originOf(url) {
    let o = originCache.get(url);
    if (o === undefined) {
      const u = parseUrl(url);
      o = u ? u.origin : null;
      if (originCache.size >= 512) originCache.clear();
      originCache.set(url, o);
    }
    return o;
  }

  function parseUrl(url) {
    try {
      const loc = globalThis.location;
      return new URL(url, loc && loc.href);
    } catch {
      return null;
    }
  }

  // ---- Web Locks ------------------------------------------------------------------------

  const locks = () => {
    const l = globalThis.navigator && globalThis.navigator.locks;
    return l && typeof l.request === "function" ? l : null;
  };

  /**
   * Runs `fn` (returning a promise) under the Web Lock `name`. A lock not granted within
   * `timeoutMs` (a tab that hangs while holding it) is stolen. Without Web Locks, `fn` runs at
   * once.
   */
  function withLock(name, timeoutMs, fn) {
    const l = locks();
    if (!l) return fn();
    const ctl = new AbortController();
    const timer = setTimeout(() => ctl.abort(), timeoutMs);
    return l.request(name, { mode: "exclusive", signal: ctl.signal }, () => {
      clearTimeout(timer);
      return fn();
    }).catch((e) => {
      clearTimeout(timer);
      if (ctl.signal.aborted) return l.request(name, { steal: true }, () => fn());
      throw e;
    });
  }

  // ---- HTTP to the identity provider ----------------------------------------------------

  /** Sends and reads the whole answer; `null` for a network error or a timeout. */
  async function send(url, init) {
    try {
      if (typeof AbortSignal !== "undefined" && AbortSignal.timeout) init.signal = AbortSignal.timeout(ATTEMPT_TIMEOUT_MS);
      const res = await globalThis.fetch(url, init);
      const body = await res.text();
      return { status: res.status, et: res.headers.get("x-amzn-errortype"), ra: res.headers.get("retry-after"), body };
    } catch {
      return null;
    }
  }

  const globalFetch = (input, init) => globalThis.fetch(input, init);
  const post = (url, headers, body) => send(url, { method: "POST", headers, body, credentials: "omit", cache: "no-store" });
  const cognitoHeaders = (action) => ({ "Content-Type": "application/x-amz-json-1.1", "X-Amz-Target": "AWSCognitoIdentityProviderService." + action });

  // ---- options ----------------------------------------------------------------------------

  function parseOptions(o) {
    if (o == null) o = {};
    if (typeof o !== "object") throw typeError("options must be an object");
    const bad = (key, what) => typeError("option `" + key + "` must be " + what);
    const text = (obj, key, name = key) => {
      const v = obj[key];
      if (v == null) return undefined;
      if (typeof v !== "string" || v === "") throw bad(name, "a non-empty string");
      return v;
    };
    const number = (obj, key, name = key) => {
      const v = obj[key];
      if (v == null) return undefined;
      if (typeof v !== "number" || !Number.isFinite(v) || v < 0) throw bad(name, "a finite number >= 0");
      return v;
    };
    const flag = (obj, key, name = key) => {
      const v = obj[key];
      if (v == null) return undefined;
      if (typeof v !== "boolean") throw bad(name, "a boolean");
      return v;
    };
    const httpUrl = (name, v) => {
      const u = v === undefined ? null : parseUrl(v);
      if (!u || (u.protocol !== "http:" && u.protocol !== "https:")) throw bad(name, "an http(s) URL");
      return u.href;
    };

    const storage = text(o, "storage") || "memory";
    if (!["memory", "session", "local"].includes(storage)) throw bad("storage", '"memory", "session" or "local"');

    let origins;
    if (o.allowedOrigins == null) {
      const here = parseUrl("/");
      origins = here ? [here.origin] : [];
    } else if (Array.isArray(o.allowedOrigins)) {
      origins = o.allowedOrigins.map((s) => {
        let u = null;
        try { u = typeof s === "string" ? new URL(s) : null; } catch { u = null; }
        if (!u || u.origin === "null") throw bad("allowedOrigins", 'an array of http(s) origins like "https://api.example.com"');
        return u.origin;
      });
    } else {
      throw bad("allowedOrigins", "an array of origin strings");
    }

    let refresh = null;
    const r = o.refresh;
    if (typeof r === "function") {
      refresh = r;
    } else if (r != null) {
      if (typeof r !== "object") throw bad("refresh", "a function or an object with a `type`");
      if (r.type === "oauth2") {
        refresh = {
          type: "oauth2",
          tokenUrl: httpUrl("refresh.tokenUrl", text(r, "tokenUrl", "refresh.tokenUrl")),
          clientId: text(r, "clientId", "refresh.clientId"),
          scope: text(r, "scope", "refresh.scope"),
          userInfoUrl: r.userInfoUrl == null ? undefined : httpUrl("refresh.userInfoUrl", text(r, "userInfoUrl", "refresh.userInfoUrl")),
        };
        if (!refresh.clientId) throw bad("refresh.clientId", "a non-empty string");
      } else if (r.type === "cognito") {
        const clientId = text(r, "clientId", "refresh.clientId");
        if (!clientId) throw bad("refresh.clientId", "a non-empty string");
        let endpoint;
        if (r.endpoint != null) {
          endpoint = httpUrl("refresh.endpoint", text(r, "endpoint", "refresh.endpoint"));
        } else {
          const region = text(r, "region", "refresh.region");
          if (!region || !/^[a-z0-9-]+$/.test(region)) throw bad("refresh.region", 'an AWS region such as "eu-west-1"');
          endpoint = "https://cognito-idp." + region + ".amazonaws.com/";
        }
        refresh = { type: "cognito", clientId, endpoint };
      } else {
        throw bad("refresh.type", '"oauth2" or "cognito"');
      }
    }

    const retry = { maxRetries: 3, baseDelayMs: 100, maxDelayMs: 10000, idempotencyKey: false };
    if (o.retry != null) {
      if (typeof o.retry !== "object") throw bad("retry", "an object");
      const m = number(o.retry, "maxRetries", "retry.maxRetries");
      if (m !== undefined) {
        if (!Number.isInteger(m) || m > 20) throw bad("retry.maxRetries", "an integer from 0 to 20");
        retry.maxRetries = m;
      }
      retry.baseDelayMs = number(o.retry, "baseDelayMs", "retry.baseDelayMs") ?? retry.baseDelayMs;
      retry.maxDelayMs = number(o.retry, "maxDelayMs", "retry.maxDelayMs") ?? retry.maxDelayMs;
      retry.idempotencyKey = flag(o.retry, "idempotencyKey", "retry.idempotencyKey") ?? false;
    }

    let rateLimit = null;
    if (o.rateLimit != null && o.rateLimit !== false) {
      if (typeof o.rateLimit !== "object") throw bad("rateLimit", "an object { requestsPerSecond, burst }");
      const rps = o.rateLimit.requestsPerSecond;
      if (typeof rps !== "number" || !Number.isFinite(rps) || rps <= 0) throw bad("rateLimit.requestsPerSecond", "a number > 0");
      const burst = o.rateLimit.burst == null ? 1 : o.rateLimit.burst;
      if (typeof burst !== "number" || !Number.isFinite(burst) || burst < 1) throw bad("rateLimit.burst", "a number >= 1");
      rateLimit = { rps, burst: Math.floor(burst) };
    }

    return {
      refresh,
      storage,
      storageKey: text(o, "storageKey") || "sessionguard",
      origins,
      leewayMs: (number(o, "refreshLeewaySeconds") ?? 30) * 1000,
      retry,
      rateLimit,
      crossTab: flag(o, "crossTab") ?? true,
      userInfoTtlMs: (number(o, "userInfoTtlSeconds") ?? 300) * 1000,
      expireOnTransient: flag(o, "expireOnTransientFailure") ?? false,
    };
  }

  // ---- storage ----------------------------------------------------------------------------

  /**
   * Storage with a fallback: probed once; unavailable (sandboxed iframes, blocked cookies,
   * private modes), full or refusing storage falls back to memory with one warning. What is
   * read is checked by the core (a corrupt or foreign record is ignored).
   */
  class Store {
    constructor(kind, key) {
      this.key = key;
      this.web = null;
      this.warned = false;
      if (kind === "memory") return;
      const name = kind === "local" ? "localStorage" : "sessionStorage";
      try {
        const s = globalThis[name];
        s.setItem("__sessionguard_probe__", "1");
        s.removeItem("__sessionguard_probe__");
        this.web = s;
      } catch {
        this.fallBack(name + " is unavailable; keeping the session in memory only");
      }
    }
    fallBack(msg) {
      this.web = null;
      if (!this.warned) {
        this.warned = true;
        console.warn("sessionguard: " + msg);
      }
    }
    get(key) {
      try { return this.web ? this.web.getItem(key) : null; } catch { return null; }
    }
    read() {
      return this.get(this.key);
    }
    write(record) {
      if (!this.web) return;
      try {
        this.web.setItem(this.key, record);
      } catch {
        try { this.web.removeItem(this.key); } catch { /* nothing more to do */ }
        this.fallBack("storage is full or refused the write; keeping the session in memory only");
      }
    }
    readCooldown() {
      return Number(this.get(this.key + ":cooldown")) || 0;
    }
    writeCooldown(until) {
      try { if (this.web) this.web.setItem(this.key + ":cooldown", String(Math.round(until))); } catch { /* best effort */ }
    }
    clear() {
      try {
        if (this.web) {
          this.web.removeItem(this.key);
          this.web.removeItem(this.key + ":cooldown");
        }
      } catch { /* best effort */ }
    }
  }

  // ---- axios helpers ----------------------------------------------------------------------

  function headerGet(h, name) {
    if (!h || typeof h !== "object") return null;
    if (typeof h.get === "function") {
      const v = h.get(name);
      return typeof v === "string" ? v : null;
    }
    for (const k of Object.keys(h)) if (k.toLowerCase() === name) return typeof h[k] === "string" ? h[k] : null;
    return null;
  }

  function headerSet(config, name, value) {
    if (!config.headers || typeof config.headers !== "object") config.headers = {};
    if (typeof config.headers.set === "function") config.headers.set(name, value);
    else config.headers[name] = value;
  }

  /** The URL of an axios config as axios builds it (buildFullPath); maybe relative. */
  function axiosUrl(config) {
    const url = typeof config.url === "string" ? config.url : "";
    const base = typeof config.baseURL === "string" ? config.baseURL : "";
    if (!base || /^([a-z][a-z\d+\-.]*:)?\/\//i.test(url)) return url;
    return url ? base.replace(/\/+$/, "") + "/" + url.replace(/^\/+/, "") : base;
  }

  // ---- the manager ----------------------------------------------------------------------

  class SessionManager {
    #o;
    #e;
    #store;
    #target = new EventTarget();
    #flight = null; // { id, promise, resolve }
    #timer = 0;
    #disposed = false;
    #channel = null;
    #onStorage = null;
    #tokGen = -1;
    #auth = "";
    #ui = { value: null, token: null, at: 0, pending: null };

    constructor(options) {
      const o = parseOptions(options);
      this.#o = o;
      const rl = o.rateLimit;
      this.#e = new SessionEngine(o.leewayMs, o.refresh !== null, o.expireOnTransient, o.retry.maxRetries, o.retry.baseDelayMs, o.retry.maxDelayMs, o.retry.idempotencyKey, rl ? rl.rps : NaN, rl ? rl.burst : NaN);
      this.#store = new Store(o.storage, o.storageKey);
      const saved = this.#store.read();
      if (saved) this.#e.restore(saved);
      if (this.#shared()) this.#connect();
      this.#rearm();
    }

    // ---- public API -------------------------------------------------------------------

    setTokens(tokens) {
      this.#live();
      if (tokens === null || typeof tokens !== "object") throw typeError("setTokens needs a token set object { accessToken, refreshToken?, ... }");
      const s = (k) => {
        const v = tokens[k];
        if (v == null) return undefined;
        if (typeof v !== "string") throw typeError("setTokens: `" + k + "` must be a string");
        return v;
      };
      const n = (k) => {
        const v = tokens[k];
        if (v == null) return undefined;
        if (typeof v !== "number" || !Number.isFinite(v)) throw typeError("setTokens: `" + k + "` must be a finite number");
        return v;
      };
      const code = this.#e.setTokens(s("accessToken"), s("refreshToken"), s("idToken"), n("expiresIn"), n("expiresAt"), Date.now());
      if (code === 1) throw typeError('setTokens: `accessToken` must be a non-empty string (not "null" or "undefined")');
      if (code === 2) throw typeError("setTokens: `expiresIn`/`expiresAt` must be finite numbers");
      this.#ui = { value: null, token: null, at: 0, pending: null };
      this.#settle();
      this.#flush(); // stores the tokens and re-arms the timer
    }

    getAccessToken() {
      return this.#token();
    }

    fetch(input, init) {
      return this.#intercept(null, input, init);
    }

    wrapFetch(fetchImpl) {
      if (fetchImpl != null && typeof fetchImpl !== "function") throw typeError("wrapFetch needs a fetch function");
      const impl = fetchImpl == null ? null : fetchImpl;
      return (input, init) => this.#intercept(impl, input, init);
    }

    attachAxios(instance) {
      this.#live();
      const ic = instance && instance.interceptors;
      if (!ic || !ic.request || typeof ic.request.use !== "function" || !ic.response || typeof ic.response.use !== "function" || typeof instance.request !== "function") {
        throw typeError("attachAxios needs an axios instance");
      }
      const reqId = ic.request.use((config) => this.#axiosRequest(config));
      const resId = ic.response.use(
        (res) => {
          const st = res && res.status;
          return st === 400 || st === 401 || st === 429 || (st >= 502 && st <= 504) ? this.#axiosAnswer(instance, res.config, res, st, null) : res;
        },
        (err) => {
          const config = err && err.config;
          if (!config || !config[STATE] || err.code === "ERR_CANCELED") return Promise.reject(err);
          const res = err.response;
          return this.#axiosAnswer(instance, config, res, res && typeof res.status === "number" ? res.status : 0, err);
        },
      );
      return () => {
        ic.request.eject(reqId);
        ic.response.eject(resId);
      };
    }

    claims(which) {
      if (which != null && which !== "access" && which !== "id") throw typeError('claims() takes "access" or "id"');
      const token = this.#disposed ? null : this.#e.token(which === "id" ? 1 : 0);
      const payload = token == null ? null : jwtPayload(token);
      if (payload == null) return null;
      try {
        const v = JSON.parse(payload);
        return v && typeof v === "object" && !Array.isArray(v) ? v : null;
      } catch {
        return null;
      }
    }

    async userInfo() {
      let token = await this.#token();
      const c = this.#ui;
      if (c.value && c.token === token && Date.now() - c.at < this.#o.userInfoTtlMs) return c.value;
      if (!c.pending) {
        c.pending = this.#fetchUserInfo(token)
          .then((r) => {
            c.value = r.value;
            c.token = r.token;
            c.at = Date.now();
            return r.value;
          })
          .finally(() => { c.pending = null; });
      }
      return c.pending;
    }

    isAuthenticated() {
      return !this.#disposed && this.#e.authenticated();
    }

    logout() {
      if (this.#disposed) return;
      this.#e.logout();
      this.#settle();
      this.#flush();
    }

    stats() {
      const s = this.#e.stats();
      return { requests: s[0], retries: s[1], throttled: s[2], refreshes: s[3], refreshFailures: s[4], coalesced: s[5], sessionExpired: s[6] };
    }

    /** As EventTarget's: `options` may be `{ once, signal }`. */
    addEventListener(type, listener, options) {
      if (typeof type !== "string") throw typeError("the event type must be a string");
      if (listener == null) return;
      if (typeof listener !== "function" && !(typeof listener === "object" && typeof listener.handleEvent === "function")) throw typeError("addEventListener needs a function");
      this.#target.addEventListener(type, listener, options);
    }

    removeEventListener(type, listener, options) {
      if (typeof type !== "string") throw typeError("the event type must be a string");
      if (listener != null) this.#target.removeEventListener(type, listener, options);
    }

    dispose() {
      this.#disposed = true;
      clearTimeout(this.#timer);
      this.#timer = 0;
      if (this.#channel) {
        this.#channel.onmessage = null;
        this.#channel.close();
        this.#channel = null;
      }
      if (this.#onStorage) removeEventListener("storage", this.#onStorage);
      this.#settle();
    }

    // ---- the engine's side effects ----------------------------------------------------

    #live() {
      if (this.#disposed) throw disposedError();
    }

    #emit(type, detail) {
      this.#target.dispatchEvent(new CustomEvent(type, { detail }));
    }

    /** Carries out the engine's queued side effects; listeners run last and may call back in. */
    #flush() {
      const e = this.#e;
      let rearm = false;
      let refreshed = false;
      let tag = e.refreshTag(); // the refresh token a session ended with, for the other tabs
      for (;;) {
        const ev = e.pollEvent();
        if (ev === 0) break;
        if (ev === EV_STORE) {
          const rec = e.record();
          if (rec) {
            this.#store.write(rec);
            this.#post({ t: "tokens", rec, login: !refreshed });
            tag = e.refreshTag();
          }
          rearm = true;
        } else if (ev === EV_CLEAR) {
          this.#store.clear();
          this.#ui = { value: null, token: null, at: 0, pending: null };
          rearm = true;
        } else if (ev === EV_REFRESHED) {
          refreshed = true;
          this.#emit("token-refreshed", { expiresAt: nanToNull(e.outNum()) });
        } else if (ev === EV_EXPIRED) {
          const reason = e.outStr();
          this.#post({ t: "end", r: reason, f: nanToNull(tag) });
          this.#settle();
          this.#emit("session-expired", { reason });
        }
      }
      if (rearm) this.#rearm();
    }

    // ---- refresh flights ------------------------------------------------------------------

    #spawnRefresh(id, refreshToken) {
      let resolve;
      const promise = new Promise((r) => { resolve = r; });
      this.#flight = { id, promise, resolve };
      this.#runRefresh(id, refreshToken);
    }

    async #runRefresh(id, refreshToken) {
      try {
        for (;;) {
          const next = this.#shared() ? await this.#lockedStep(id, refreshToken) : await this.#refreshStep(id, refreshToken);
          if (this.#disposed || next < 0) break;
          await sleep(next);
          refreshToken = this.#e.refreshTokenFor(id);
          if (refreshToken == null || this.#disposed) break;
        }
      } catch {
        // never leave a flight hanging: an unexpected error is a transient failure
        if (!this.#disposed && this.#e.isCurrent(id)) {
          this.#e.classifyTransient(undefined);
          this.#e.applyRefresh(id, Date.now(), Math.random());
          this.#flush();
        }
      }
      this.#settle(id);
      this.#rearm();
    }

    /** One attempt of flight `id`, applied (and stored) before it returns: -1 settled, else a delay. */
    async #refreshStep(id, refreshToken) {
      const e = this.#e;
      if (this.#disposed || !e.isCurrent(id)) return -1;
      const shared = this.#shared();
      if (shared) {
        // another tab may have refreshed while we waited for the lock
        const rec = this.#store.read();
        if (rec && e.isNewer(rec)) {
          e.adoptForFlight(id, rec);
          this.#flush();
          return -1;
        }
      }
      const cooldown = shared ? this.#store.readCooldown() - Date.now() : 0;
      const answer = cooldown > 0 ? { t: "transient", ra: cooldown } : await this.#attempt(refreshToken);
      if (this.#disposed || !e.isCurrent(id)) return -1;
      if (shared && this.#classify(answer) === KIND_TERMINAL) {
        if (!locks()) {
          // without the lock another tab may be refreshing with the same rotating token now
          await sleep(TERMINAL_GRACE_MS);
          if (!e.isCurrent(id)) return -1;
        }
        const rec = this.#store.read();
        if (rec && e.isNewer(rec)) {
          e.adoptForFlight(id, rec);
          this.#flush();
          return -1;
        }
      }
      this.#classify(answer);
      const next = e.applyRefresh(id, Date.now(), Math.random());
      this.#flush();
      if (shared && cooldown <= 0) {
        const until = e.cooldownUntil();
        if (until > Date.now()) this.#store.writeCooldown(until);
      }
      return next;
    }

    /**
     * `#refreshStep` under the cross-tab lock. Tabs may live in different processes, where the
     * previous holder's storage write and BroadcastChannel message arrive a moment after the lock
     * does; a short pause first keeps a rotated-away refresh token from being presented.
     */
    #lockedStep(id, refreshToken) {
      const step = async () => {
        await sleep(SETTLE_MS);
        return this.#refreshStep(id, refreshToken);
      };
      return withLock("sessionguard:" + this.#o.storageKey, LOCK_TIMEOUT_MS, step).catch(() => this.#refreshStep(id, refreshToken));
    }

    /** Hands an answer to the engine to classify; returns its kind. */
    #classify(a) {
      const e = this.#e;
      switch (a.t) {
        case "oauth2": return e.classifyOAuth2(a.status, a.ra, a.body, Date.now());
        case "cognito": return e.classifyCognito(a.status, a.et, a.ra, a.body, Date.now());
        case "tokens": return e.classifyTokens(str(a.v.accessToken), str(a.v.refreshToken), str(a.v.idToken), num(a.v.expiresIn), num(a.v.expiresAt));
        case "rejected": return e.classifyRejection(a.status, a.terminal, a.ra);
        default: return e.classifyTransient(a.ra);
      }
    }

    /** One request to the token endpoint, in the form the `refresh` option gives. */
    async #attempt(refreshToken) {
      const r = this.#o.refresh;
      if (typeof r === "function") {
        try {
          const v = await r(refreshToken);
          return v && typeof v === "object" ? { t: "tokens", v } : { t: "transient" };
        } catch (err) {
          const o = err && typeof err === "object" ? err : {};
          return { t: "rejected", status: num(o.status), terminal: o.terminal === true, ra: num(o.retryAfterMs) };
        }
      }
      if (r.type === "oauth2") {
        const form = new URLSearchParams({ grant_type: "refresh_token", refresh_token: refreshToken, client_id: r.clientId });
        if (r.scope) form.set("scope", r.scope);
        const a = await post(r.tokenUrl, { "Content-Type": "application/x-www-form-urlencoded", Accept: "application/json" }, form);
        return a ? { t: "oauth2", ...a } : { t: "transient" };
      }
      const body = JSON.stringify({ AuthFlow: "REFRESH_TOKEN_AUTH", ClientId: r.clientId, AuthParameters: { REFRESH_TOKEN: refreshToken } });
      const a = await post(r.endpoint, cognitoHeaders("InitiateAuth"), body);
      return a ? { t: "cognito", ...a } : { t: "transient" };
    }

    /** Wakes everyone waiting on the flight (`id`, or whichever is running). */
    #settle(id) {
      const f = this.#flight;
      if (f && (id === undefined || f.id === id)) {
        this.#flight = null;
        f.resolve();
      }
    }

    #waitFlight(signal) {
      return this.#flight ? race(this.#flight.promise, signal) : Promise.resolve();
    }

    /** Acts on a non-READY step code; throws for FAIL. Reads the out slots first. */
    async #wait(code, signal) {
      const e = this.#e;
      const n = e.outNum();
      const s = code === REFRESH || code === FAIL ? e.outStr() : null;
      this.#flush();
      if (code === SLEEP) await sleep(n - Date.now(), signal);
      else if (code === REFRESH) {
        this.#spawnRefresh(n, s);
        await this.#waitFlight(signal);
      } else if (code === JOIN) await this.#waitFlight(signal);
      else throw failError(s, n);
      this.#live();
    }

    /** getAccessToken(): a usable token, refreshing first if needed. */
    async #token(signal) {
      for (let i = 0; i <= MAX_WAITS; i++) {
        this.#live();
        const code = this.#e.access(Date.now());
        if (code === READY) return this.#e.outStr();
        await this.#wait(code, signal);
      }
      throw new RefreshUnavailableError(0);
    }

    // ---- proactive timer ------------------------------------------------------------------

    #rearm(minDelay = 0) {
      clearTimeout(this.#timer);
      this.#timer = 0;
      if (this.#disposed) return;
      const at = this.#e.nextWake();
      if (Number.isNaN(at)) return;
      const delay = Math.min(Math.max(at - Date.now(), minDelay), MAX_TIMER_MS);
      this.#timer = setTimeout(() => this.#onTimer(), delay);
    }

    #onTimer() {
      this.#timer = 0;
      if (this.#disposed) return;
      const code = this.#e.proactive(Date.now());
      if (code === REFRESH) {
        const id = this.#e.outNum();
        const rt = this.#e.outStr();
        this.#flush();
        this.#spawnRefresh(id, rt);
      } else {
        this.#rearm(1000); // not due: a clamped long delay, or a cool-down
      }
    }

    // ---- across tabs (see README "Across tabs") ----------------------------------------

    #shared() {
      return this.#o.storage === "local" && this.#o.crossTab && this.#store.web !== null;
    }

    #connect() {
      const name = "sessionguard:" + this.#o.storageKey;
      if (typeof BroadcastChannel === "function") {
        this.#channel = new BroadcastChannel(name);
        this.#channel.onmessage = (ev) => this.#onRemote(ev.data);
      } else if (typeof addEventListener === "function") {
        this.#onStorage = (ev) => {
          if (ev.key !== this.#o.storageKey) return;
          this.#onRemote(ev.newValue === null ? { t: "end", r: "logout" } : { t: "tokens", rec: ev.newValue, login: true });
        };
        addEventListener("storage", this.#onStorage);
      }
    }

    #post(msg) {
      if (this.#channel) {
        try { this.#channel.postMessage(msg); } catch { /* closed */ }
      }
    }

    /** News from another tab: new tokens (the record travels with the message, since this
     * tab's view of storage may lag), or the end of the session there. */
    #onRemote(m) {
      if (this.#disposed || !m || typeof m !== "object") return;
      if (m.t === "tokens") {
        const rec = typeof m.rec === "string" ? m.rec : this.#store.read();
        if (rec && this.#e.adopt(rec, m.login === true)) {
          this.#settle();
          this.#flush();
          this.#rearm();
        }
      } else if (m.t === "end") {
        const reason = typeof m.r === "string" ? m.r : "logout";
        // a terminal answer about a refresh token this tab no longer holds does not end it
        if (reason !== "logout" && typeof m.f === "number" && m.f !== this.#e.refreshTag()) return;
        this.#e.endExternal(reason);
        this.#flush();
      }
    }

    // ---- fetch ------------------------------------------------------------------------

    #intercept(impl, input, init) {
      if (this.#disposed) return Promise.reject(disposedError());
      let url = null;
      if (typeof input === "string") url = input;
      else if (input instanceof URL) url = input.href;
      else if (typeof Request === "function" && input instanceof Request) url = input.url;
      const origin = url === null ? null : originOf(url);
      if (origin === null || !this.#o.origins.includes(origin)) {
        // not ours: untouched
        return impl ? impl(input, init) : globalThis.fetch(input, init);
      }
      return this.#run(impl || globalFetch, input, init, url);
    }

    /** Opens a call and takes its first step (see SessionEngine.callStart). */
    #start(method, hasKey) {
      const m = METHODS.indexOf(method.toUpperCase());
      return m >= 0 ? this.#e.callStartKnown(m, hasKey, Date.now()) : this.#e.callStart(method, hasKey, Date.now());
    }

    async #run(impl, input, init, href) { // href: the URL as given (maybe relative)
      const e = this.#e;
      const isRequest = typeof input !== "string" && !(input instanceof URL);
      // Calls with a body, or given as a Request, become one Request; each send is a clone of
      // it, so replays carry the body. Others are sent as they came, with our header added.
      const request = isRequest || (init && init.body != null) ? new Request(isRequest ? input : href, init) : null;
      const method = request ? request.method : (init && init.method) || "GET";
      const signal = request ? request.signal : abortSignal(init && init.signal);
      const hasKey = request ? request.headers.has("idempotency-key") : !!(init && init.headers && new Headers(init.headers).has("idempotency-key"));
      const started = this.#start(method, hasKey);
      const id = started >>> 5;
      const idemKey = started & 8 ? uuid() : null;
      let code = started & 7;
      let open = true;
      try {
        for (;;) {
          if (code !== READY) {
            await this.#wait(code, signal);
            code = e.callNext(id, Date.now());
            continue;
          }
          const auth = this.#bearer();
          if (signal && signal.aborted) throw abortReason(signal);
          let res = null;
          let netErr = null;
          try {
            if (request) {
              const attempt = request.clone();
              attempt.headers.set("Authorization", auth);
              if (idemKey) attempt.headers.set("Idempotency-Key", idemKey);
              res = await impl(attempt);
            } else {
              const h = new Headers(init && init.headers);
              h.set("Authorization", auth);
              if (idemKey) h.set("Idempotency-Key", idemKey);
              res = await impl(input, init ? { ...init, headers: h } : { headers: h });
            }
          } catch (err) {
            if (isAbort(err, signal)) throw err;
            netErr = err;
          }
          if (res !== null && !(res instanceof Response)) return res; // a custom fetch's own answer
          const status = res ? res.status : 0;
          let ra = null;
          let et = null;
          if (status >= 400) {
            ra = res.headers.get("retry-after");
            if (status === 400) {
              et = res.headers.get("x-amzn-errortype");
              if (et === null) {
                try { et = awsErrorType(await res.clone().text()) ?? null; } catch { et = null; }
              }
            }
          }
          const v = e.callAnswer(id, status, ra, et, Date.now(), Math.random());
          if (v === DELIVER) {
            open = false; // the engine closed it
            if (netErr) throw netErr;
            return res;
          }
          if (v === FAIL) {
            open = false;
            await this.#wait(FAIL, signal);
          }
          if (v === RETRY) {
            const attempt = e.outNum();
            const delay = e.outNum2();
            this.#flush();
            const u = parseUrl(href);
            this.#emit("retry", { url: u ? u.href : href, status, attempt, delayMs: Math.round(delay) });
          }
          code = e.callNext(id, Date.now());
        }
      } finally {
        if (open) e.callClose(id);
      }
    }

    // ---- axios ------------------------------------------------------------------------

    /** The request interceptor: synchronous when the token is at hand (the common case). */
    #axiosRequest(config) {
      this.#live();
      const origin = originOf(axiosUrl(config));
      if (origin === null || !this.#o.origins.includes(origin)) return config;
      const e = this.#e;
      let st = config[STATE];
      let id;
      let code;
      if (st && typeof st === "object") {
        id = e.callResume(st.safe, st.retries, st.replayed, undefined);
        code = e.callNext(id, Date.now());
      } else {
        const method = typeof config.method === "string" ? config.method : "get";
        const hasKey = headerGet(config.headers, "idempotency-key") !== null;
        const started = this.#start(method, hasKey);
        id = started >>> 5;
        code = started & 7;
        st = { safe: (started & 16) !== 0, retries: 0, replayed: false, gen: undefined };
        config[STATE] = st; // enumerable: axios copies it into the config of a replay
        if (started & 8) headerSet(config, "Idempotency-Key", uuid());
      }
      if (code === READY) {
        e.callClose(id);
        return this.#axiosAuthorize(config, st);
      }
      return this.#axiosWait(config, st, id, code);
    }

    async #axiosWait(config, st, id, code) {
      const e = this.#e;
      const signal = abortSignal(config.signal);
      try {
        while (code !== READY) {
          await this.#wait(code, signal);
          code = e.callNext(id, Date.now());
        }
      } finally {
        e.callClose(id);
      }
      return this.#axiosAuthorize(config, st);
    }

    #axiosAuthorize(config, st) {
      headerSet(config, "Authorization", this.#bearer());
      st.gen = this.#tokGen;
      return config;
    }

    /** `Bearer <current token>`, rebuilt only when the token changes (its generation moves). */
    #bearer() {
      const gen = this.#e.tokenGen();
      if (gen !== this.#tokGen) {
        this.#tokGen = gen;
        this.#auth = "Bearer " + this.#e.token(0);
      }
      return this.#auth;
    }

    async #axiosAnswer(instance, config, res, status, err) {
      const st = config && config[STATE];
      if (!st) {
        if (err) throw err;
        return res;
      }
      const h = res && res.headers;
      let et = headerGet(h, "x-amzn-errortype");
      if (et === null && status === 400 && res) {
        const d = res.data;
        et = typeof d === "string" ? awsErrorType(d) ?? null : d && typeof d.__type === "string" ? d.__type : null;
      }
      const e = this.#e;
      const id = e.callResume(st.safe, st.retries, st.replayed, st.gen);
      let open = true;
      try {
        const v = e.callAnswer(id, status, headerGet(h, "retry-after"), et, Date.now(), Math.random());
        if (v === DELIVER) {
          open = false;
          if (err) throw err;
          return res;
        }
        if (v === FAIL) {
          open = false;
          await this.#wait(FAIL);
        }
        const counts = e.callCounts(id);
        st.retries = counts >> 1;
        st.replayed = (counts & 1) === 1;
        if (v === RETRY) {
          const attempt = e.outNum();
          const delay = e.outNum2();
          this.#flush();
          const u = parseUrl(axiosUrl(config));
          this.#emit("retry", { url: u ? u.href : "", status, attempt, delayMs: Math.round(delay) });
          await sleep(delay, abortSignal(config.signal));
        }
      } finally {
        if (open) e.callClose(id);
      }
      return instance.request(config);
    }

    // ---- userInfo -----------------------------------------------------------------------

    /** GetUser / userinfo; on a refusal, the 401 rule once (refresh or take the current token). */
    async #fetchUserInfo(token) {
      const r = this.#o.refresh;
      let gen = this.#e.tokenGen();
      for (let attempt = 0; ; attempt++) {
        let a;
        if (r && r.type === "cognito") a = await post(r.endpoint, cognitoHeaders("GetUser"), JSON.stringify({ AccessToken: token }));
        else if (r && r.type === "oauth2" && r.userInfoUrl) a = await send(r.userInfoUrl, { headers: { Authorization: "Bearer " + token, Accept: "application/json" } });
        else throw typeError("userInfo() needs a `cognito` refresh or an `oauth2` refresh with `userInfoUrl`");
        if (!a) throw namedError("UserInfoError", "the user-info request failed", { status: 0 });
        if (a.status >= 200 && a.status < 300) {
          try {
            return { token, value: JSON.parse(a.body) };
          } catch {
            throw namedError("UserInfoError", "the user-info answer is not JSON", { status: a.status });
          }
        }
        const refused = a.status === 401 || (a.status === 400 && /NotAuthorizedException/.test((a.et || "") + a.body));
        if (!refused || attempt > 0) throw namedError("UserInfoError", "the user-info request failed", { status: a.status });
        const e = this.#e;
        const id = e.callResume(true, 0, false, gen);
        const v = e.callAnswer(id, 401, undefined, undefined, Date.now(), 0.5);
        if (v === FAIL) await this.#wait(FAIL);
        else e.callClose(id);
        token = await this.#token();
        gen = e.tokenGen();
      }
    }
  }

  return { SessionManager, SessionExpiredError, RefreshUnavailableError };
})();

export const { SessionManager, SessionExpiredError, RefreshUnavailableError } = sessionguardApi;
