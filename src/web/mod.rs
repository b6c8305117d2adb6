//! The browser shell: a thin wasm-bindgen layer that moves requests, timers, storage and events
//! between the page and [`crate::core`]. It decides nothing that SPEC describes; where it looks
//! like it does, it is asking the core.
//!
//! - [`manager`]: the exported `SessionManager` class and its argument checks;
//! - [`inner`]: the state behind it: refresh flights, the proactive timer, events, storage;
//! - [`fetch`] and [`axios`]: the two interceptors;
//! - [`refresher`]: one attempt at the token endpoint (function, OAuth2, Cognito);
//! - [`userinfo`]: `userInfo()`, cached and single flight;
//! - [`crosstab`]: one refresh across tabs, shared tokens and logout;
//! - [`storage`], [`options`], [`js`]: storage with fallback, option parsing, JS helpers.

mod axios;
mod crosstab;
mod fetch;
mod inner;
mod js;
pub mod manager;
mod options;
mod refresher;
mod storage;
mod userinfo;


#[wasm_bindgen::prelude::wasm_bindgen(typescript_custom_section)]
const TS_TYPES: &'static str = r#"
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
  /** default false */
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

export interface SessionManager {
  /** `session-expired`, `token-refreshed` and `retry`, as `CustomEvent`s with `detail`. */
  addEventListener<K extends keyof SessionEventMap>(type: K, listener: (event: SessionEventMap[K]) => void): void;
  removeEventListener<K extends keyof SessionEventMap>(type: K, listener: (event: SessionEventMap[K]) => void): void;
}
"#;
