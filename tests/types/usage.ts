// Compiled (not run) by the packaging test: the public types as an app would use them.
import init, { SessionManager, SessionExpiredError, RefreshUnavailableError, type TokenSet, type SessionManagerOptions } from "sessionguard";

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
  session.addEventListener("session-expired", (e) => {
    const reason: string = e.detail.reason;
    console.log(reason);
  });
  session.addEventListener("retry", (e) => console.log(e.detail.delayMs + e.detail.attempt));
  session.addEventListener("token-refreshed", (e) => console.log(e.detail.expiresAt ?? "unknown"));
  const f: typeof fetch = session.wrapFetch();
  const res: Response = await session.fetch("https://api.example.com/me", { method: "GET" });
  console.log(res.status, await f("/x"));
  try {
    const token: string = await session.getAccessToken();
    console.log(token);
  } catch (e) {
    if (e instanceof SessionExpiredError) console.log(e.reason);
    if (e instanceof RefreshUnavailableError) console.log(e.retryAfterMs);
  }
  const claims = session.claims("id");
  console.log(claims?.email, session.stats().coalesced, session.isAuthenticated());
  const fn = new SessionManager({ refresh: async (rt: string) => ({ accessToken: rt }) });
  fn.dispose();
}
