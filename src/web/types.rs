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
  /** "DPoP" for a token the server bound to this client's DPoP key (with `dpop: true`); else bearer */
  tokenType?: string;
}

/** An OAuth2 token answer (RFC 6749 §5.1), accepted wherever a TokenSet is. */
export interface OAuth2TokenAnswer {
  access_token: string;
  refresh_token?: string;
  id_token?: string;
  expires_in?: number | string;
  /** "DPoP": bound to this client's DPoP key (sent as `Authorization: DPoP …` with `dpop: true`) */
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

/** Where sign-in and sign-out go, shared by both server forms. */
export interface ServerOptions {
  /** the OpenID issuer, byte for byte: endpoints not named here come from its discovery document (whose `issuer` must be identical), and ID tokens must carry it as `iss`; sign-in needs it (or a Cognito `userPoolId`) */
  issuer?: string;
  /** where the identity server sends the user back after sign-in (default: this page, without query) */
  redirectUri?: string;
  /** where it sends the user after `logout({ redirect: true })` */
  postLogoutRedirectUri?: string;
  /** the sign-in's scope (default "openid"; add "offline_access" where the server needs it for a refresh token) */
  scope?: string;
}

interface OAuth2Base extends ServerOptions {
  type: "oauth2";
  clientId: string;
  /** default: the discovered `userinfo_endpoint` */
  userInfoUrl?: string;
  /** default: the discovered `authorization_endpoint` */
  authorizationUrl?: string;
  /** RFC 7009; default: the discovered `revocation_endpoint` */
  revocationUrl?: string;
  /** default: the discovered `end_session_endpoint` */
  endSessionUrl?: string;
}

/** `tokenUrl`, or `issuer` to discover it. */
export type OAuth2RefreshOptions = OAuth2Base & ({ tokenUrl: string } | { tokenUrl?: string; issuer: string });

interface CognitoBase extends ServerOptions {
  type: "cognito";
  clientId: string;
  /** the hosted UI's domain (`https://<prefix>.auth.<region>.amazoncognito.com` or your own), for signIn() and logout({ redirect }); needs `userPoolId` (or `issuer`) */
  domain?: string;
  /** the user pool (`eu-west-1_AbCdEf123`): its issuer `https://cognito-idp.<region>.amazonaws.com/<userPoolId>` is what its ID tokens' `iss` must be (not beside `issuer`) */
  userPoolId?: string;
}

/** `region`, or the Cognito API `endpoint` (default `https://cognito-idp.<region>.amazonaws.com/`). */
export type CognitoRefreshOptions = CognitoBase & ({ region: string; endpoint?: string } | { region?: string; endpoint: string });

export type RefreshOption = RefreshFunction | OAuth2RefreshOptions | CognitoRefreshOptions;

export interface SignInOptions {
  /** any JSON value, handed back by handleRedirect() */
  appState?: unknown;
  redirectUri?: string;
  scope?: string;
  /** resolve with the authorization URL instead of navigating to it */
  returnUrl?: boolean;
  /** more authorization parameters (`prompt`, `login_hint`, `audience`, `identity_provider`, ...); never replaces the flow's own */
  extraParams?: Record<string, string>;
}

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
  /** Once per session. `revoked` after logout({ revoke } or { redirect }) in this tab: whether the server revoked the refresh token */
  "session-expired": CustomEvent<{ reason: SessionExpiredReason; revoked?: boolean }>;
  /** `expiresAt`: the new access token's expiry, epoch ms, or null if unknown */
  "token-refreshed": CustomEvent<{ expiresAt: number | null }>;
  /** A call is retried in `delayMs` ms after `status` (0: a network error); attempt 1 is the first retry. `refresh: true` when the retried request is sessionguard's own (the token endpoint, or the revocation of logout({ revoke })) */
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
  /** Ends the session here (and, with crossTab, in every tab); with `revoke`, also at the server; with `redirect`, then goes to its end-session page (the full build: sessionguard/lite refuses both). */
  logout(options?: LogoutOptions): Promise<void>;
  stats(): SessionStats;
  addEventListener<K extends keyof SessionEventMap>(type: K, listener: (event: SessionEventMap[K]) => void, options?: boolean | AddEventListenerOptions): void;
  removeEventListener<K extends keyof SessionEventMap>(type: K, listener: (event: SessionEventMap[K]) => void, options?: boolean | EventListenerOptions): void;
  /** Ends the session's life: stops timers and channels, lets go of the listeners; later calls to allowed origins reject with SessionDisposedError, others pass through untouched. The only way to end it: a collected manager does not. */
  dispose(): void;
  /** Lets go of this handle now, instead of when it is garbage-collected. The session lives on while its fetch, a wrapFetch() wrapper or axios interceptors are held; dispose() ends it. */
  free(): void;
}
"#;

// What only the full build has, merged into the declarations above (interface merging): the lite
// build's types lack them, as its module does.
#[cfg(feature = "dpop")]
#[wasm_bindgen(typescript_custom_section)]
const DPOP_TYPES: &'static str = r#"
export interface SessionManagerOptions {
  /**
   * DPoP (RFC 9449): bind the tokens to a non-extractable ES256 key kept in IndexedDB (in memory
   * with `storage: "memory"`); every token request, API call with a bound token, userInfo and
   * revocation carries a proof. `refresh: { type: "oauth2" }` only (a TypeError otherwise).
   * default false
   */
  dpop?: boolean;
}
"#;

#[cfg(feature = "signin")]
#[wasm_bindgen(typescript_custom_section)]
const SIGNIN_TYPES: &'static str = r#"
export interface LogoutOptions {
  /** revoke the refresh token at the server first (RFC 7009, or Cognito RevokeToken) */
  revoke?: boolean;
  /** then go to the server's end-session page (OpenID RP-initiated logout, or Cognito /logout) */
  redirect?: boolean;
}

export interface SessionManager {
  /** Signs in with the authorization code flow + PKCE: navigates to the identity server (or resolves with its URL, with `returnUrl`). */
  signIn(options?: SignInOptions): Promise<string | undefined>;
  /** The redirect back (default `location.href`): checked, exchanged, the session started; resolves with the `appState` given to signIn. Rejects with SignInError, storing nothing. */
  handleRedirect<T = unknown>(url?: string | URL): Promise<T>;
}
"#;

// The lite build ends the session here only: `logout({ revoke: true })` or `{ redirect: true }`
// is a TypeError there, and a type error here.
#[cfg(not(feature = "signin"))]
#[wasm_bindgen(typescript_custom_section)]
const LITE_TYPES: &'static str = r#"
/** sessionguard/lite ends the session here only: signing out at the server is in the full build ("sessionguard"). */
export interface LogoutOptions {
  revoke?: false;
  redirect?: false;
}
"#;
