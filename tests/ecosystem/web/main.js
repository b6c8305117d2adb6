// The README's quick start as written (top-level await, no bundler configuration), against the
// test's dev server: its token endpoint and API answer on the page's own origin. Sets
// window.exampleResult (or window.exampleError) for the test.
import { SessionManager, SessionExpiredError } from "sessionguard";

const out = document.getElementById("out");
try {
  const session = await SessionManager.create({ // loads the module, then constructs
    refresh: { type: "oauth2", tokenUrl: "/oauth/token", clientId: "my-app" },
  });
  let before = "";
  try {
    await session.fetch("/api/me"); // no session yet
  } catch (e) {
    before = e instanceof SessionExpiredError ? e.reason : String(e);
  }
  const login = await (await fetch("/auth/login", { method: "POST", body: "{}" })).json();
  session.setTokens({ ...login, expires_in: 0 }); // expired at once: the first call refreshes
  const me = await (await session.fetch("/api/me")).json();
  window.exampleResult = { before, user: me.user, refreshes: session.stats().refreshes };
} catch (e) {
  window.exampleError = String((e && e.stack) || e);
}
out.textContent = JSON.stringify(window.exampleResult || window.exampleError);
