//! The TypeScript declarations of the package, kept next to the code they describe, and the
//! listener plumbing of `EventTarget` (whose options may be a boolean or an object).

use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use web_sys::EventTarget;

use super::js::Target;

pub fn add_listener(t: &EventTarget, kind: &str, listener: &JsValue, options: &JsValue) -> Result<(), JsValue> {
    t.unchecked_ref::<Target>().listen(kind, listener, options)
}

pub fn remove_listener(t: &EventTarget, kind: &str, listener: &JsValue, options: &JsValue) -> Result<(), JsValue> {
    t.unchecked_ref::<Target>().unlisten(kind, listener, options)
}

#[wasm_bindgen(typescript_custom_section)]
const TYPES: &'static str = r#"
/** What a login or a refresh hands over. `expiresIn` in seconds, `expiresAt` in epoch ms. */
export interface TokenSet {
  accessToken: string;
  refreshToken?: string;
  idToken?: string;
  expiresIn?: number;
  expiresAt?: number;
}

/** An OAuth2 token answer (RFC 6749 §5.1), accepted wherever a TokenSet is. */
export interface OAuth2TokenAnswer {
  access_token: string;
  refresh_token?: string;
  id_token?: string;
  expires_in?: number | string;
  token_type?: string;
  scope?: string;
}

/** A rejection of a custom refresher: `status` (or `response.status`) 400/401, or `terminal: true`, ends the session. */
export interface RefreshRejection {
  status?: number;
  response?: { status?: number };
  terminal?: boolean;
  retryAfterMs?: number;
}

/** A custom refresher: bounded to 30 s per attempt; `signal` aborts at that limit. */
export type RefreshFunction = (refreshToken: string, context: { signal: AbortSignal }) => Promise<TokenSet | OAuth2TokenAnswer | Response>;

export type RefreshOption =
  | RefreshFunction
  | { type: "oauth2"; tokenUrl: string; clientId: string; scope?: string; userInfoUrl?: string }
  | { type: "cognito"; region: string; clientId: string; endpoint?: string }
  | { type: "cognito"; region?: string; clientId: string; endpoint: string };

export interface RetryOptions {
  /** default 3 */
  maxRetries?: number;
  /** default 100 */
  baseDelayMs?: number;
  /** default 10000 */
  maxDelayMs?: number;
  /** give non-idempotent calls an `Idempotency-Key` and retry them; default false */
  idempotencyKey?: boolean;
}

export interface SessionManagerOptions {
  refresh?: RefreshOption;
  /** default "memory" */
  storage?: "memory" | "session" | "local";
  /** default "sessionguard" */
  storageKey?: string;
  /** default [location.origin] */
  allowedOrigins?: string[];
  /** default 30 */
  refreshLeewaySeconds?: number;
  retry?: RetryOptions;
  /** default off; burst defaults to 1 */
  rateLimit?: { requestsPerSecond: number; burst?: number };
  /** default true */
  crossTab?: boolean;
  /** default 300 */
  userInfoTtlSeconds?: number;
  /** default false */
  expireOnTransientFailure?: boolean;
}

export interface SessionStats {
  requests: number;
  retries: number;
  throttled: number;
  refreshes: number;
  refreshFailures: number;
  /** callers that joined a refresh instead of starting one */
  coalesced: number;
  sessionExpired: number;
}

export type SessionExpiredReason =
  | "refresh-rejected"
  | "refresh-failed"
  | "no-refresh-token"
  | "unauthorized-after-refresh"
  | "logout";

export interface SessionEventMap {
  "session-expired": CustomEvent<{ reason: SessionExpiredReason }>;
  "token-refreshed": CustomEvent<{ expiresAt: number | null }>;
  "retry": CustomEvent<{ url: string; status: number; attempt: number; delayMs: number; refresh?: true }>;
}

/** `fetch`'s init, plus `skipAuth: true` to send a call untouched, without the session. */
export type SessionRequestInit = RequestInit & { skipAuth?: boolean };

/** The part of an axios instance that sessionguard uses. */
export interface AxiosLike {
  interceptors: {
    request: { use(onFulfilled: (config: any) => any, onRejected?: (error: any) => any): number; eject(id: number): void };
    response: { use(onFulfilled: (response: any) => any, onRejected?: (error: any) => any): number; eject(id: number): void };
  };
  request(config: any): Promise<any>;
}

/** Keeps the tokens, attaches them, refreshes them once, retries throttled calls, and says once when the session is over. */
export class SessionManager {
  constructor(options?: SessionManagerOptions);
  /** Initialises the module if needed, then constructs. */
  static create(options?: SessionManagerOptions): Promise<SessionManager>;
  /** Starts or replaces the session. A bad token set is a TypeError and changes nothing. */
  setTokens(tokens: TokenSet | OAuth2TokenAnswer): void;
  /** A valid access token, refreshing first if needed (single flight). */
  getAccessToken(): Promise<string>;
  /** The interceptor: same signature as `fetch`, bound to this session. */
  readonly fetch: (input: RequestInfo | URL, init?: SessionRequestInit) => Promise<Response>;
  /** A `fetch`-compatible function bound to this session (default: the global fetch as it is now). */
  wrapFetch(fetchImpl?: typeof fetch): (input: RequestInfo | URL, init?: SessionRequestInit) => Promise<Response>;
  /** Installs request/response interceptors on an axios instance; the result removes them. */
  attachAxios(instance: AxiosLike): () => void;
  /** The decoded payload of the access (default) or ID token, not verified; null if none. */
  claims<T = Record<string, unknown>>(which?: "access" | "id"): T | null;
  /** Cognito GetUser or the OIDC userInfoUrl, cached for userInfoTtlSeconds, single flight. */
  userInfo<T = Record<string, unknown>>(): Promise<T>;
  isAuthenticated(): boolean;
  /** Ends the session here (and, with crossTab, in every tab). */
  logout(): void;
  stats(): SessionStats;
  addEventListener<K extends keyof SessionEventMap>(type: K, listener: (event: SessionEventMap[K]) => void, options?: boolean | AddEventListenerOptions): void;
  removeEventListener<K extends keyof SessionEventMap>(type: K, listener: (event: SessionEventMap[K]) => void, options?: boolean | EventListenerOptions): void;
  /** Stops timers and channels; later calls reject with SessionDisposedError. */
  dispose(): void;
  /** Releases the manager's memory in the module now, instead of when it is garbage-collected; implies dispose(). */
  free(): void;
}
"#;
