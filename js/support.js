// The few things the Rust shell needs from JavaScript itself: Error subclasses that
// `instanceof` works with (wasm-bindgen classes cannot extend Error), and promise helpers that
// clean up after themselves (an abort listener left on a long-lived signal is a leak).
// The build re-exports the two error classes from pkg/sessionguard.js.

export class SessionExpiredError extends Error {
  constructor(reason) {
    super(reason === "no-session" ? "No session: call setTokens() first" : "The session has ended: " + reason);
    this.name = "SessionExpiredError";
    this.reason = reason;
  }
}

export class RefreshUnavailableError extends Error {
  constructor(retryAfterMs) {
    super("Token refresh is unavailable for now (transient failure); try again in " + Math.ceil(retryAfterMs) + " ms");
    this.name = "RefreshUnavailableError";
    this.retryAfterMs = retryAfterMs;
  }
}

function abortReason(signal) {
  return signal.reason !== undefined ? signal.reason : new DOMException("The operation was aborted.", "AbortError");
}

/** Settles like `promise`, or rejects with the signal's reason as soon as it aborts. */
export function race(promise, signal) {
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
export function sleep(ms, signal) {
  if (signal && signal.aborted) return Promise.reject(abortReason(signal));
  return new Promise((resolve, reject) => {
    let onAbort;
    const t = setTimeout(() => {
      if (signal) signal.removeEventListener("abort", onAbort);
      resolve();
    }, Math.max(0, Math.min(ms, 2147483647)));
    if (signal) {
      onAbort = () => { clearTimeout(t); reject(abortReason(signal)); };
      signal.addEventListener("abort", onAbort, { once: true });
    }
  });
}

/** An AbortSignal that fires after `ms` (refresh and user-info requests must not hang forever). */
export function timeoutSignal(ms) {
  return typeof AbortSignal !== "undefined" && AbortSignal.timeout ? AbortSignal.timeout(ms) : undefined;
}

/** A random id for `Idempotency-Key`. */
export function uuid() {
  const c = globalThis.crypto;
  if (c && c.randomUUID) return c.randomUUID();
  return "xxxxxxxx-xxxx-4xxx-yxxx-xxxxxxxxxxxx".replace(/[xy]/g, (ch) => {
    const r = (Math.random() * 16) | 0;
    return (ch === "x" ? r : (r & 3) | 8).toString(16);
  });
}

/** `globalThis.fetch` at call time, so polyfills installed after us are used. */
export function globalFetch(input, init) {
  return globalThis.fetch(input, init);
}

/**
 * Runs `fn` (which returns a promise) under the Web Lock `name`, so that one tab at a time does
 * it. A lock not granted within `timeoutMs` (a tab that hangs while holding it) is stolen.
 * Where Web Locks are missing, `fn` runs at once: each tab refreshes on its own, and the
 * re-read of storage after a terminal answer keeps rotating refresh tokens safe.
 */
export function withLock(name, timeoutMs, fn) {
  const locks = globalThis.navigator && globalThis.navigator.locks;
  if (!locks || typeof locks.request !== "function") return Promise.resolve().then(fn);
  const ctl = new AbortController();
  const timer = setTimeout(() => ctl.abort(), timeoutMs);
  return locks.request(name, { mode: "exclusive", signal: ctl.signal }, () => {
    clearTimeout(timer);
    return fn();
  }).catch((e) => {
    clearTimeout(timer);
    if (ctl.signal.aborted) return locks.request(name, { steal: true }, () => fn());
    throw e;
  });
}

/** Are Web Locks available (cross-tab refresh lock)? */
export function hasLocks() {
  const locks = globalThis.navigator && globalThis.navigator.locks;
  return !!(locks && typeof locks.request === "function");
}
