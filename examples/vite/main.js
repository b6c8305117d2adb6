// A small Vite app: a fetch wrapper and an axios instance, both behind sessionguard.
import init, { SessionManager, SessionExpiredError } from "sessionguard";
import axios from "axios";

const out = document.getElementById("out");
const lines = [];
const show = (s) => { lines.push(s); out.textContent = lines.join("\n"); };

await init();
const session = new SessionManager({
  refresh: { type: "oauth2", tokenUrl: "/oauth/token", clientId: "vite-example" },
  storage: "session",
});
session.addEventListener("session-expired", (e) => show("session expired: " + e.detail.reason));

const api = session.wrapFetch();
const http = axios.create({ baseURL: "/api" });
session.attachAxios(http);

try {
  await api("/api/me");
} catch (e) {
  show(e instanceof SessionExpiredError ? "before login: " + e.reason : "unexpected: " + e);
}
const t = await (await fetch("/auth/login", { method: "POST", body: "{}" })).json();
session.setTokens({ accessToken: t.access_token, refreshToken: t.refresh_token, expiresIn: 0 });
const viaFetch = await (await api("/api/me")).json();
const viaAxios = (await http.get("/me")).data;
show(`fetch: ${viaFetch.user}, axios: ${viaAxios.user}, refreshes: ${session.stats().refreshes}`);
window.exampleResult = { before: lines[0], user: viaFetch.user, axiosUser: viaAxios.user, refreshes: session.stats().refreshes };
