// Compiled (not run) by the packaging test: the public types as an app would use them.
import init, {
  SessionManager,
  SessionExpiredError,
  RefreshUnavailableError,
  SessionDisposedError,
  UserInfoError,
  SignInError,
  type TokenSet,
  type SessionManagerOptions,
  type OAuth2TokenAnswer,
  type SessionEventMap,
  type SessionExpiredReason,
  type SignInErrorCode,
} from "sessionguard";
import { same } from "./check.js";

interface MyClaims {
  sub: string;
  email?: string;
}

export async function main(): Promise<void> {
  await init();
  const options: SessionManagerOptions = {
    refresh: { type: "cognito", region: "eu-west-1", clientId: "abc" },
    storage: "local",
    allowedOrigins: ["https://api.example.com"],
    retry: { maxRetries: 3, idempotencyKey: true },
    rateLimit: { requestsPerSecond: 10, burst: 5 },
  };
  const session = new SessionManager(options);
  const tokens: TokenSet = { accessToken: "a", refreshToken: "r", expiresIn: 3600 };
  session.setTokens(tokens);
  const answer: OAuth2TokenAnswer = { access_token: "a", refresh_token: "r", expires_in: 3600 };
  session.setTokens(answer);
  session.addEventListener("session-expired", (e) => {
    const reason: string = e.detail.reason;
    console.log(reason);
  });
  session.addEventListener("retry", (e) => console.log(e.detail.delayMs + e.detail.attempt, e.detail.refresh === true));
  session.addEventListener("token-refreshed", (e) => console.log(e.detail.expiresAt ?? "unknown"));
  const f = session.wrapFetch();
  const { fetch: bound } = session;
  const res: Response = await session.fetch("https://api.example.com/me", { method: "GET" });
  const open: Response = await bound("/public", { skipAuth: true });
  console.log(res.status, open.status, await f("/x"));
  try {
    const token: string = await session.getAccessToken();
    console.log(token);
  } catch (e) {
    if (e instanceof SessionExpiredError) console.log(e.reason);
    if (e instanceof RefreshUnavailableError) console.log(e.retryAfterMs);
    if (e instanceof SessionDisposedError) console.log(e.name);
  }
  const claims = session.claims<MyClaims>("id");
  console.log(claims?.email, session.stats().coalesced, session.isAuthenticated());
  try {
    const me = await session.userInfo<MyClaims>();
    console.log(me.sub);
  } catch (e) {
    if (e instanceof UserInfoError) console.log(e.status);
  }
  const fn = await SessionManager.create({
    refresh: async (rt: string, { signal }) => {
      const r = await fetch("/refresh", { method: "POST", body: rt, signal });
      return r;
    },
  });
  fn.dispose();
  // @ts-expect-error region is required unless endpoint is given
  new SessionManager({ refresh: { type: "cognito", clientId: "abc" } });
  // @ts-expect-error tokenUrl is required unless issuer is given
  new SessionManager({ refresh: { type: "oauth2", clientId: "abc" } });

  const oidc = new SessionManager({ refresh: { type: "oauth2", issuer: "https://auth.example.com", clientId: "spa", scope: "openid offline_access" } });
  const url: string | undefined = await oidc.signIn({ appState: { to: "/inbox" }, returnUrl: true, extraParams: { prompt: "login" } });
  console.log(url);
  try {
    const state = await oidc.handleRedirect<{ to: string }>();
    console.log(state.to);
  } catch (e) {
    if (e instanceof SignInError) console.log(e.detail.code === "state-mismatch", e.code);
  }
  oidc.addEventListener("session-expired", (e) => console.log(e.detail.revoked === true));
  await oidc.logout({ revoke: true, redirect: false });
  const withDpop = new SessionManager({ refresh: { type: "oauth2", issuer: "https://auth.example.com", clientId: "spa" }, storage: "local", dpop: true });
  withDpop.setTokens({ access_token: "a", token_type: "DPoP", expires_in: 300 });
  withDpop.setTokens({ accessToken: "a", tokenType: "DPoP" });
  // @ts-expect-error dpop is a boolean
  new SessionManager({ dpop: "yes" });
  const hosted = new SessionManager({ refresh: { type: "cognito", region: "eu-west-1", clientId: "abc", domain: "https://x.auth.eu-west-1.amazoncognito.com", userPoolId: "eu-west-1_AbC123" } });
  await hosted.signIn();
}

// Every event's detail, exactly as the module dispatches it (src/web/state.rs: emit, emit_retry),
// and only the events it dispatches.
export function events(session: SessionManager): void {
  same<keyof SessionEventMap, "session-expired" | "token-refreshed" | "retry">(true);
  same<SessionExpiredReason, "refresh-rejected" | "refresh-failed" | "no-refresh-token" | "unauthorized-after-refresh" | "logout">(true);
  session.addEventListener("session-expired", (e) => {
    same<typeof e, CustomEvent<{ reason: SessionExpiredReason; revoked?: boolean }>>(true);
  });
  session.addEventListener("token-refreshed", (e) => {
    same<typeof e.detail, { expiresAt: number | null }>(true);
  });
  session.addEventListener("retry", (e) => {
    same<typeof e.detail, { url: string; status: number; attempt: number; delayMs: number; refresh?: true }>(true);
  });
  const onRetry = (e: SessionEventMap["retry"]) => console.log(e.detail.url);
  session.addEventListener("retry", onRetry, { once: true });
  session.removeEventListener("retry", onRetry);
  // @ts-expect-error no such event
  session.addEventListener("expired", () => {});
  // @ts-expect-error a retry's detail has no reason
  session.addEventListener("retry", (e) => e.detail.reason);
}

// Every error's fields, as js/errors.js sets them.
export function errors(e: unknown): void {
  if (e instanceof SessionExpiredError) {
    same<typeof e.name, "SessionExpiredError">(true);
    same<typeof e.reason, SessionExpiredReason | "no-session">(true);
  }
  if (e instanceof RefreshUnavailableError) {
    same<typeof e.name, "RefreshUnavailableError">(true);
    same<typeof e.retryAfterMs, number>(true);
  }
  if (e instanceof SessionDisposedError) same<typeof e.name, "SessionDisposedError">(true);
  if (e instanceof UserInfoError) {
    same<typeof e.name, "UserInfoError">(true);
    same<typeof e.status, number>(true);
  }
  if (e instanceof SignInError) {
    same<typeof e.name, "SignInError">(true);
    same<typeof e.code, SignInErrorCode>(true);
    same<typeof e.detail, { code: SignInErrorCode }>(true);
    // sessionguard's own codes, and any code the identity server sends
    const codes: SignInErrorCode[] = ["state-mismatch", "issuer-mismatch", "no-code", "code-rejected", "exchange-failed", "id-token-invalid", "discovery-failed", "unsupported", "dpop-key-unavailable", "access_denied", "login_required", "interaction_required"];
    console.log(codes.includes(e.code));
  }
  if (e instanceof Error) console.log(e.message);
}
