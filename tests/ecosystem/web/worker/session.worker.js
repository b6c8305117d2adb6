// The session lives in the worker: log in, then an authenticated call through session.fetch.
import { SessionManager, SessionExpiredError } from "sessionguard";

SessionManager.create({ refresh: { type: "oauth2", tokenUrl: "/oauth/token", clientId: "worker" } })
  .then(async (session) => {
    let before = "";
    try {
      await session.fetch("/api/me");
    } catch (e) {
      before = e instanceof SessionExpiredError ? e.reason : String(e);
    }
    const login = await (await fetch("/auth/login", { method: "POST", body: "{}" })).json();
    session.setTokens({ ...login, expires_in: 0 });
    const me = await (await session.fetch("/api/me")).json();
    postMessage({ exampleResult: { before, user: me.user, refreshes: session.stats().refreshes } });
  })
  .catch((e) => postMessage({ exampleError: String((e && e.stack) || e) }));
