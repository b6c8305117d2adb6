/** The session is over (or never started: reason "no-session"). */
export class SessionExpiredError extends Error {
  readonly name: "SessionExpiredError";
  readonly reason: "refresh-rejected" | "refresh-failed" | "no-refresh-token" | "unauthorized-after-refresh" | "logout" | "no-session";
}

/** A refresh failed only transiently; the session is kept. Retry after `retryAfterMs`. */
export class RefreshUnavailableError extends Error {
  readonly name: "RefreshUnavailableError";
  readonly retryAfterMs: number;
}

/** The SessionManager was disposed; later calls reject with this. */
export class SessionDisposedError extends Error {
  readonly name: "SessionDisposedError";
}

/** userInfo() failed: `status` of the last answer (0 for a network error, a timeout or a redirect). */
export class UserInfoError extends Error {
  readonly name: "UserInfoError";
  readonly status: number;
}

/** What a sign-in failure's `detail.code` can be: the identity server's own `error` (such as "access_denied" or "login_required"), or one of sessionguard's. */
export type SignInErrorCode =
  | "state-mismatch"
  | "issuer-mismatch"
  | "issuer-missing"
  | "no-code"
  | "code-rejected"
  | "exchange-failed"
  | "exchange-throttled"
  | "id-token-invalid"
  | "discovery-failed"
  | "dpop-key-unavailable"
  | "unsupported"
  | "dpop-key-unavailable"
  | "access_denied"
  | "login_required"
  | (string & {});

/** signIn()/handleRedirect() failed and stored nothing; `detail.code` (also `code`) says why. */
export class SignInError extends Error {
  readonly name: "SignInError";
  readonly code: SignInErrorCode;
  readonly detail: { code: SignInErrorCode };
}
