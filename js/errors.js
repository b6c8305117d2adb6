// The error classes sessionguard throws. They are JavaScript because only a JavaScript class can
// extend `Error` (so that `instanceof`, `name` and stack traces work as users expect); the wasm
// module imports them from here and the package entry exports them, so both see one class.
const base = "sessionguard: ";

/** The session is over, or never started (`reason: "no-session"`). */
export class SessionExpiredError extends Error {
  constructor(reason) {
    super(base + (reason === "no-session"
      ? "there is no session: call setTokens() after login first"
      : `the session has ended (${reason}); log in again and call setTokens()`));
    this.name = "SessionExpiredError";
    this.reason = reason;
  }
}

/** A refresh failed only transiently (throttled, 5xx, network); the session is kept. */
export class RefreshUnavailableError extends Error {
  constructor(retryAfterMs) {
    super(base + `refreshing the token failed transiently (throttled, 5xx or network); the session is kept: try again in ${Math.ceil(retryAfterMs)} ms`);
    this.name = "RefreshUnavailableError";
    this.retryAfterMs = retryAfterMs;
  }
}

/** The SessionManager was disposed. */
export class SessionDisposedError extends Error {
  constructor() {
    super(base + "this SessionManager was disposed; create a new one");
    this.name = "SessionDisposedError";
  }
}

/** userInfo() failed: `status` is the HTTP status of the last answer (0: network, timeout, redirect). */
export class UserInfoError extends Error {
  constructor(status, why) {
    super(base + `the user-info request failed: ${why}`);
    this.name = "UserInfoError";
    this.status = status;
  }
}

/** signIn()/handleRedirect() failed and stored nothing: `detail.code` says why ("access_denied",
 * "state-mismatch", "code-rejected", "id-token-invalid", ...). */
export class SignInError extends Error {
  constructor(code, why) {
    super(`${base}sign-in failed (${code}): ${why}; nothing was stored`);
    this.name = "SignInError";
    this.code = code;
    this.detail = { code };
  }
}
