// Compiled (not run) by the packaging test: sessionguard/lite's types are its module's: no
// signIn, handleRedirect or dpop, and logout() ends the session here only. Each expected error
// below fails the compile (unused directive) if the lite types gain what the lite module lacks.
import initLite, {
  SessionManager as Lite,
  SessionExpiredError,
  type SessionManagerOptions as LiteOptions,
  type LogoutOptions as LiteLogoutOptions,
  type SessionEventMap as LiteEvents,
} from "sessionguard/lite";
import { SessionManager as Full, type SessionManagerOptions as FullOptions, type LogoutOptions as FullLogoutOptions } from "sessionguard";
import { same } from "./check.js";

export async function lite(): Promise<void> {
  await initLite();
  const session = await Lite.create({ refresh: { type: "oauth2", tokenUrl: "/oauth/token", clientId: "web" }, storage: "local" });
  session.setTokens({ accessToken: "a", refreshToken: "r", expiresIn: 3600 });
  const res: Response = await session.fetch("/api/me", { skipAuth: false });
  console.log(res.status, session.isAuthenticated(), session.stats().refreshes);
  session.addEventListener("session-expired", (e) => console.log(e.detail.reason));
  await session.logout();
  await session.logout({});
  await session.logout({ revoke: false, redirect: false });
  try {
    await session.getAccessToken();
  } catch (e) {
    if (e instanceof SessionExpiredError) console.log(e.reason);
  }

  // @ts-expect-error signIn() is in the full build only
  await session.signIn();
  // @ts-expect-error handleRedirect() is in the full build only
  await session.handleRedirect();
  // @ts-expect-error dpop is in the full build only
  new Lite({ refresh: { type: "oauth2", tokenUrl: "/oauth/token", clientId: "web" }, dpop: true });
  // @ts-expect-error signing out at the server is in the full build only
  await session.logout({ revoke: true });
  // @ts-expect-error signing out at the server is in the full build only
  await session.logout({ redirect: true });

  same<"signIn" | "handleRedirect" extends keyof Lite ? true : false, false>(true);
  same<"dpop" extends keyof LiteOptions ? true : false, false>(true);
  same<LiteLogoutOptions, { revoke?: false; redirect?: false }>(true);
  // the same events as the full build
  same<LiteEvents["retry"]["detail"], { url: string; status: number; attempt: number; delayMs: number; refresh?: true }>(true);

  // and the full build has them all
  same<Full["signIn"], (options?: import("sessionguard").SignInOptions) => Promise<string | undefined>>(true);
  same<FullOptions["dpop"], boolean | undefined>(true);
  same<FullLogoutOptions, { revoke?: boolean; redirect?: boolean }>(true);
}
