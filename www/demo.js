// The demo: an app that uses sessionguard the way an app should, plus a timeline of what
// sessionguard did. Everything talks to the dev server (server/dev-server.mjs).
import init, { SessionManager, SessionExpiredError, RefreshUnavailableError } from "/pkg/sessionguard.js";

await init();
const $ = (id) => document.getElementById(id);
// Which identity server the dev server runs with: its own ("dev"), or a real one
// (`IDP=oidc-provider npm start`, `IDP=cognito-local npm start`).
const config = await (await fetch("/demo-config.json")).json();
const t0 = performance.now();
const now = () => performance.now() - t0;

// ---- what happened: recorded for the timeline ------------------------------------------------
const calls = []; // { start, end, sends: [{ start, end, status }], outcome }
const tokenRequests = []; // { start, end, status }
const marks = []; // { at, label }
let window0 = 0; // start of the current storm (timeline origin)

// Every request to the token endpoint, whoever makes it (sessionguard calls the global fetch).
const realFetch = globalThis.fetch.bind(globalThis);
globalThis.fetch = async (input, init) => {
  const url = typeof input === "string" ? input : input.url;
  const tokenUrl = config.idp === "oidc-provider" ? config.issuer + "/token" : config.idp === "cognito-local" ? config.endpoint : null;
  const own = tokenUrl ? url === tokenUrl : /\/oauth\/token|\/cognito\//.test(url);
  const isToken = own && !(init && init.headers && JSON.stringify(init.headers).match(/GetUser|USER_PASSWORD_AUTH/)) && !String(init && init.body).includes("authorization_code");
  if (!isToken) return realFetch(input, init);
  const rec = { start: now(), end: null, status: 0 };
  tokenRequests.push(rec);
  try {
    const r = await realFetch(input, init);
    rec.status = r.status;
    return r;
  } finally {
    rec.end = now();
    draw();
  }
};

// ---- the session, as an app would set it up --------------------------------------------------
let session = null;
function makeSession() {
  if (session) session.dispose();
  const refresh =
    config.idp === "oidc-provider" ? { type: "oauth2", issuer: config.issuer, clientId: config.clientId, scope: "openid email offline_access" }
    : config.idp === "cognito-local" ? { type: "cognito", clientId: config.clientId, endpoint: config.endpoint }
    : $("idp").value === "cognito" ? { type: "cognito", clientId: "demo", endpoint: "/cognito/" }
    : { type: "oauth2", tokenUrl: "/oauth/token", clientId: "demo", userInfoUrl: "/oauth/userinfo" };
  const rate = Number($("rate").value);
  session = new SessionManager({
    refresh,
    storage: $("shared").checked ? "local" : "memory",
    refreshLeewaySeconds: 5,
    rateLimit: rate ? { requestsPerSecond: rate, burst: Math.ceil(rate / 10) } : undefined,
  });
  session.addEventListener("session-expired", (e) => {
    mark("session-expired: " + e.detail.reason);
    logLine("session-expired — " + e.detail.reason, "expired");
    $("expired-reason").textContent = e.detail.reason;
    $("expired").hidden = false;
    who();
  });
  session.addEventListener("token-refreshed", (e) => {
    mark("token-refreshed");
    logLine("token-refreshed — expires " + (e.detail.expiresAt ? new Date(e.detail.expiresAt).toLocaleTimeString() : "unknown"));
    who();
  });
  session.addEventListener("retry", (e) => logLine(`retry ${e.detail.attempt} after ${e.detail.status || "network error"} in ${e.detail.delayMs} ms`));
  who();
}

// A fetch that records each send for the timeline; sessionguard wraps it.
function recordingFetch(call) {
  return async (input, init) => {
    const send = { start: now(), end: null, status: 0 };
    call.sends.push(send);
    try {
      const r = await realFetch(input, init);
      send.status = r.status;
      return r;
    } finally {
      send.end = now();
    }
  };
}

async function apiCall() {
  const call = { start: now(), end: null, sends: [], outcome: "" };
  calls.push(call);
  try {
    const r = await session.wrapFetch(recordingFetch(call))("/api/orders");
    call.outcome = String(r.status);
  } catch (e) {
    call.outcome = e instanceof SessionExpiredError ? "expired" : e instanceof RefreshUnavailableError ? "unavailable" : "error";
  } finally {
    call.end = now();
  }
  return call;
}

// ---- controls -------------------------------------------------------------------------------
const control = (path, body) => realFetch("/__control/" + path, { method: body === undefined ? "GET" : "POST", headers: { "Content-Type": "application/json" }, body: body === undefined ? undefined : JSON.stringify(body) }).then((r) => r.json());
let activeFaults = {};
let lastLogin = null;

// ---- signing in at a real identity server ------------------------------------------------------
async function loginOidcProvider() {
  // sessionguard signs in: authorization code + PKCE (S256), off to the server's login page and
  // back here, where handleRedirect() finishes it
  makeSession();
  await session.signIn({ extraParams: { prompt: "login consent" }, appState: { from: "the demo's login button" } });
}
async function finishOidcLogin() {
  makeSession();
  try {
    const appState = await session.handleRedirect();
    logLine(`signed in at oidc-provider by sessionguard's signIn() (code + PKCE; back from ${appState.from})`);
  } catch (e) {
    logLine(`sign-in failed: ${e.message}`, "expired");
  }
  who();
}
async function loginCognitoLocal() {
  const r = await realFetch(config.endpoint, { method: "POST", headers: { "Content-Type": "application/x-amz-json-1.1", "X-Amz-Target": "AWSCognitoIdentityProviderService.InitiateAuth" }, body: JSON.stringify({ AuthFlow: "USER_PASSWORD_AUTH", ClientId: config.clientId, AuthParameters: { USERNAME: config.username, PASSWORD: config.password } }) });
  const result = (await r.json()).AuthenticationResult;
  makeSession();
  session.setTokens(result); // Cognito's AuthenticationResult as it is
  lastLogin = { access_token: result.AccessToken, refresh_token: result.RefreshToken };
  logLine(`logged in at cognito-local as ${config.username} (access token for ${result.ExpiresIn} s)`);
  who();
}

async function login() {
  if (config.idp === "oidc-provider") return loginOidcProvider();
  if (config.idp === "cognito-local") return loginCognitoLocal();
  makeSession();
  const r = await realFetch("/auth/login", { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ user: "alice", accessTtl: Number($("ttl").value) }) }).then((x) => x.json());
  lastLogin = r;
  session.setTokens({ accessToken: r.access_token, refreshToken: r.refresh_token, idToken: r.id_token, expiresIn: r.expires_in });
  $("expired").hidden = true;
  logLine("logged in (access token for " + r.expires_in + " s)");
  who();
}

$("login").onclick = login;
$("relogin").onclick = login;
// at a real identity server, the refresh token is revoked there too
$("logout").onclick = () => session && session.logout(config.idp === "dev" ? undefined : { revoke: true });
$("revoke").onclick = async () => { await control("revoke", {}); logLine("server: refresh tokens revoked"); };
$("expire").onclick = async () => {
  if (!session || !session.isAuthenticated()) return;
  // The server stops accepting the access tokens it has issued, as when they expire early or
  // are revoked: sessionguard learns it from the next call's 401, so the next storm shows the
  // refresh (one for the whole storm) and the replays.
  await control("expire-access", {});
  logLine("server: access tokens issued so far are no longer accepted");
};
for (const b of document.querySelectorAll("[data-fault]")) {
  b.onclick = async () => {
    const f = JSON.parse(b.dataset.fault);
    activeFaults = { ...activeFaults, ...f };
    await control("faults", f);
    b.classList.add("on");
    $("active-faults").textContent = "active: " + Object.entries(activeFaults).map(([k, v]) => k + "=" + v).join(", ");
  };
}
$("clear-faults").onclick = async () => {
  const s = await control("stats");
  await control("faults", { tokenMode: null, tokenThrottleRps: 0, apiMode: null, apiThrottleRps: 0, tokenRetryAfter: null, apiRetryAfter: null, apiFaultCount: 0, tokenFaultCount: 0, accessTtl: s.faults.accessTtl });
  activeFaults = {};
  for (const b of document.querySelectorAll("[data-fault]")) b.classList.remove("on");
  $("active-faults").textContent = "";
};

async function storm(keepCompare) {
  if (!session) await login();
  if (keepCompare !== true) $("compare").innerHTML = "";
  calls.length = 0;
  tokenRequests.length = 0;
  marks.length = 0;
  window0 = now();
  const n = Math.max(1, Math.min(2000, Number($("n").value) || 200));
  mark(`storm: ${n} calls`);
  const before = (await control("stats")).counts;
  const started = now();
  const all = await Promise.all(Array.from({ length: n }, apiCall));
  const after = (await control("stats")).counts;
  const ms = Math.round(now() - started);
  const ok = all.filter((c) => c.outcome === "200").length;
  logLine(`storm: ${ok}/${n} answered 200 in ${ms} ms; ${after.refresh - before.refresh} token request(s), ${after.api - before.api} API sends`);
  return { n, ok, ms, refreshes: after.refresh - before.refresh, sends: after.api - before.api, failed: n - ok };
}
$("storm").onclick = () => storm();

// The same storm through the usual axios stack, for comparison.
async function stormAxios(n) {
  const { axios, createAuthRefreshInterceptor, axiosRetry } = await import("/vendor/peers.js");
  const r0 = await realFetch("/auth/login", { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ user: "alice", accessTtl: Number($("ttl").value) }) }).then((x) => x.json());
  let access = "expired-" + r0.access_token.slice(-6); // the same situation: a dead access token
  const api = axios.create();
  api.interceptors.request.use((c) => { c.headers.Authorization = "Bearer " + access; return c; });
  createAuthRefreshInterceptor(api, async (failed) => {
    const t = await axios.post("/oauth/token", new URLSearchParams({ grant_type: "refresh_token", refresh_token: r0.refresh_token, client_id: "demo" }));
    access = t.data.access_token;
    failed.response.config.headers.Authorization = "Bearer " + access;
  });
  axiosRetry(api, { retries: 3, retryDelay: axiosRetry.exponentialDelay });
  const before = (await control("stats")).counts;
  const started = now();
  const res = await Promise.allSettled(Array.from({ length: n }, () => api.get("/api/orders")));
  const after = (await control("stats")).counts;
  const ok = res.filter((x) => x.status === "fulfilled" && x.value.status === 200).length;
  return { n, ok, ms: Math.round(now() - started), refreshes: after.refresh - before.refresh, sends: after.api - before.api, failed: n - ok };
}

$("side").onclick = async () => {
  const n = Math.max(1, Math.min(2000, Number($("n").value) || 200));
  $("compare").innerHTML = "running…"; // results of an earlier run are gone
  await login();
  // put sessionguard in the same situation: an access token the API refuses
  session.setTokens({ accessToken: "expired-" + lastLogin.access_token.slice(-6), refreshToken: lastLogin.refresh_token });
  const sg = await storm(true);
  const ax = await stormAxios(n);
  const row = (name, r) => `<tr><td>${name}</td><td>${r.ok} / ${r.n}</td><td>${r.failed}</td><td>${r.refreshes}</td><td>${r.sends}</td><td>${r.ms} ms</td></tr>`;
  $("compare").innerHTML = `<table><tr><th>${n} calls on a dead token</th><th>answered</th><th>failed</th><th>token requests</th><th>API sends</th><th>time</th></tr>${row("sessionguard", sg)}${row("axios + axios-auth-refresh + axios-retry", ax)}</table>`;
};

// ---- display ----------------------------------------------------------------------------------
function logLine(text, cls) {
  const li = document.createElement("li");
  li.textContent = new Date().toLocaleTimeString() + "  " + text;
  if (cls) li.className = cls;
  $("log").prepend(li);
}
function mark(label) {
  marks.push({ at: now(), label });
}
function who() {
  const c = session && session.claims();
  $("who").textContent = session && session.isAuthenticated() ? `signed in as ${c ? c.sub : "?"} · token expires ${c && c.exp ? new Date(c.exp * 1000).toLocaleTimeString() : "?"}` : "signed out";
}

const WAITING = "#9db8e8";
const colour = (status) => (status === 200 ? "#2e9d5b" : status === 401 ? "#e08a1e" : status === 0 ? "#c8372d" : "#d8c21a");

function draw() {
  const cv = $("timeline");
  const ctx = cv.getContext("2d");
  const W = (cv.width = cv.clientWidth * devicePixelRatio);
  const H = (cv.height = cv.clientHeight * devicePixelRatio);
  ctx.clearRect(0, 0, W, H);
  const from = window0;
  const ends = [...calls.map((c) => c.end ?? now()), ...tokenRequests.map((t) => t.end ?? now()), from + 500];
  const to = Math.max(...ends) + 50;
  const x = (t) => 8 + ((t - from) / (to - from)) * (W - 16);
  const top = 44 * devicePixelRatio;
  // token endpoint lane
  ctx.fillStyle = "#667";
  ctx.font = `${11 * devicePixelRatio}px system-ui`;
  ctx.fillText("token endpoint", x(from), 12 * devicePixelRatio);
  for (const t of tokenRequests) {
    ctx.fillStyle = t.status === 200 ? "#3b6fd8" : "#c8372d";
    ctx.fillRect(x(t.start), 16 * devicePixelRatio, Math.max(3, x(t.end ?? now()) - x(t.start)), 10 * devicePixelRatio);
  }
  // events
  for (const m of marks) {
    ctx.fillStyle = "#8a3bd8";
    ctx.fillRect(x(m.at), 0, 2, H);
    ctx.fillText(m.label, x(m.at) + 4, 38 * devicePixelRatio);
  }
  // calls
  const rows = Math.max(1, calls.length);
  const rh = Math.max(1, (H - top - 4) / rows);
  calls.forEach((c, i) => {
    const y = top + i * rh;
    if (c.sends.length === 0) {
      // still waiting (for a refresh, a backoff or the rate limiter), or rejected unsent
      ctx.fillStyle = c.end === null ? WAITING : "#c8372d";
      ctx.fillRect(x(c.start), y, Math.max(2, x(c.end ?? now()) - x(c.start)), Math.max(1, rh - 0.5));
      return;
    }
    ctx.fillStyle = "#e7e9f0";
    ctx.fillRect(x(c.start), y, Math.max(1, x(c.end ?? now()) - x(c.start)), Math.max(1, rh - 0.5));
    // the wait before the first send, and between sends (backoff, a refresh before a replay)
    ctx.fillStyle = WAITING;
    let from = c.start;
    for (const s of c.sends) {
      if (x(s.start) - x(from) >= 1) ctx.fillRect(x(from), y, x(s.start) - x(from), Math.max(1, rh - 0.5));
      from = s.end ?? now();
    }
    for (const s of c.sends) {
      ctx.fillStyle = colour(s.status);
      ctx.fillRect(x(s.start), y, Math.max(2, x(s.end ?? now()) - x(s.start)), Math.max(1, rh - 0.5));
    }
  });
  ctx.fillStyle = "#667";
  ctx.fillText(`${Math.round(to - from)} ms`, W - 60 * devicePixelRatio, H - 4);
}

async function counters() {
  const s = session ? session.stats() : {};
  let server = {};
  try { server = (await control("stats")).counts; } catch { /* server gone */ }
  const rows = [
    ["sessionguard: requests", s.requests], ["sessionguard: retries", s.retries], ["sessionguard: throttled answers", s.throttled],
    ["sessionguard: refreshes", s.refreshes], ["sessionguard: callers that joined a refresh", s.coalesced], ["sessionguard: refresh failures", s.refreshFailures],
    ["sessionguard: sessions ended", s.sessionExpired], ["server: API requests", server.api], ["server: token requests", server.refresh],
  ];
  $("counters").innerHTML = rows.map(([k, v]) => `<tr><td>${k}</td><td>${v ?? "–"}</td></tr>`).join("") +
    `<tr class="must-be-zero ${server.badTokens ? "bad" : ""}"><td>server: requests with a null/empty bearer token</td><td>${server.badTokens ?? "–"}</td></tr>`;
}

setInterval(() => { draw(); counters(); who(); }, 250);
if (config.idp !== "dev") {
  $("idp").innerHTML = `<option>${config.idp} (a real identity server)</option>`;
  $("idp").disabled = true;
  $("ttl").disabled = true;
  $("side").disabled = true; // the comparison runs against the built-in identity provider
}
const back = new URLSearchParams(location.search);
if ((back.has("code") || back.has("error")) && config.idp === "oidc-provider") await finishOidcLogin();
if (localStorage.getItem("sessionguard")) {
  makeSession(); // resume a shared session (another tab, or a reload)
  logLine("resumed the stored session");
}
window.demo = { storm, login, get session() { return session; } };
window.demoReady = true;
