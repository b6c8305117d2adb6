/** What a login or a refresh hands over. `expiresIn` in seconds, `expiresAt` in epoch ms. */
export interface TokenSet {
  accessToken: string;
  refreshToken?: string;
  idToken?: string;
  expiresIn?: number;
  expiresAt?: number;
}

/** A rejection from a custom refresher: `status` 400/401 or `terminal: true` ends the session. */
export interface RefreshRejection {
  status?: number;
  terminal?: boolean;
  retryAfterMs?: number;
}

export type RefreshOption =
  | ((refreshToken: string) => Promise<TokenSet>)
  | { type: "oauth2"; tokenUrl: string; clientId: string; scope?: string; userInfoUrl?: string }
  | { type: "cognito"; region?: string; clientId: string; endpoint?: string };

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
  "retry": CustomEvent<{ url: string; status: number; attempt: number; delayMs: number }>;
}

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
  /** Starts or replaces the session. A bad token set is a TypeError and changes nothing. */
  setTokens(tokens: TokenSet): void;
  /** A valid access token, refreshing first if needed (single flight). */
  getAccessToken(): Promise<string>;
  /** The interceptor: same signature as `fetch`. */
  fetch(input: RequestInfo | URL, init?: RequestInit): Promise<Response>;
  /** A `fetch`-compatible function bound to this session (default: the global fetch). */
  wrapFetch(fetchImpl?: typeof fetch): typeof fetch;
  /** Installs request/response interceptors on an axios instance; the result removes them. */
  attachAxios(instance: AxiosLike): () => void;
  /** The decoded payload of the access (default) or ID token, not verified; null if none. */
  claims(which?: "access" | "id"): Record<string, any> | null;
  /** Cognito GetUser or the OIDC userInfoUrl, cached for userInfoTtlSeconds, single flight. */
  userInfo(): Promise<Record<string, any>>;
  isAuthenticated(): boolean;
  /** Ends the session here (and, with crossTab, in every tab). */
  logout(): void;
  stats(): SessionStats;
  addEventListener<K extends keyof SessionEventMap>(type: K, listener: (event: SessionEventMap[K]) => void, options?: boolean | AddEventListenerOptions): void;
  removeEventListener<K extends keyof SessionEventMap>(type: K, listener: (event: SessionEventMap[K]) => void, options?: boolean | EventListenerOptions): void;
  /** Stops timers and channels; later calls reject. */
  dispose(): void;
}

/** The session is over (or never started: reason "no-session"). */
export class SessionExpiredError extends Error {
  readonly name: "SessionExpiredError";
  readonly reason: SessionExpiredReason | "no-session";
}

/** A refresh failed only transiently; the session is kept. Retry after `retryAfterMs`. */
export class RefreshUnavailableError extends Error {
  readonly name: "RefreshUnavailableError";
  readonly retryAfterMs: number;
}
