// The quick start without top-level await (`.then`), for build targets that refuse it (Vite 5
// and 6's defaults): tests/ecosystem builds it with Vite 5 and 6, no configuration.
import { SessionManager, SessionExpiredError } from "sessionguard";

const out = document.getElementById("out");

SessionManager.create({ refresh: { type: "oauth2", tokenUrl: "/oauth/token", clientId: "bundled" } })
  .then(async (session) => {
    let before = "";
    try {
      await session.fetch("/api/me");
    } catch (e) {
      before = e instanceof SessionExpiredError ? e.reason : String(e);
    }
    const login = await (await fetch("/auth/login", { method: "POST", body: "{}" })).json();
    session.setTokens({ ...login, expires_in: 0 }); // expired at once: the first call refreshes
    const me = await (await session.fetch("/api/me")).json();
    window.exampleResult = { before, user: me.user, refreshes: session.stats().refreshes };
    out.textContent = JSON.stringify(window.exampleResult);
  })
  .catch((e) => {
    window.exampleError = String((e && e.stack) || e);
    out.textContent = window.exampleError;
  });
