// The dev server: serves the demo (www/) and the built package (pkg/), and plays an identity
// provider and an API, with fault injection switchable at run time. Node's built-in http only.
//
//   POST /auth/login            {user?, accessTtl?, opaque?}  → OAuth2-style token answer
//   GET  /.well-known/openid-configuration   discovery (issuer: this server's origin)
//   GET  /oauth/authorize       authorization code + PKCE, approved at once for "alice" (no login page)
//   POST /oauth/token           RFC 6749 §6 refresh grant, §4.1.3 code grant with PKCE (form-encoded)
//   POST /oauth/revoke          RFC 7009 revocation of a refresh token
//   GET  /oauth/logout          the end-session page
//   /hosted/oauth2/authorize, /hosted/oauth2/token, /hosted/logout: the same, as Cognito's hosted UI
//                               (no `iss` in the redirect; ID tokens of the user pool HOSTED_POOL_ID)
//   GET  /oauth/userinfo        OIDC userinfo (Bearer)
//   POST /cognito/              X-Amz-Target: AWSCognitoIdentityProviderService.InitiateAuth
//                               (REFRESH_TOKEN_AUTH) | .GetUser, errors as Cognito sends them
//   ANY  /api/*                 protected: needs a valid, unexpired bearer token; echoes the call
//   ANY  /foreign/*             unprotected; reports whether an Authorization header came
//   POST /evil/token            where a followed redirect would leak a refresh token (counted)
//   GET  /__control/stats       counters and the last requests
//   POST /__control/faults      merge fault settings (JSON), see DEFAULT_FAULTS
//   POST /__control/reset       faults and counters back to defaults, all tokens forgotten
//   POST /__control/revoke      revoke every refresh token issued so far
//   POST /__control/expire-access  refuse every access token issued so far (as if expired)
//
// Used by `npm start` (the demo), the end-to-end tests and the benchmarks.

import http from "node:http";
import crypto from "node:crypto";
import { readFile } from "node:fs/promises";
import { extname, join, normalize } from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = fileURLToPath(new URL("..", import.meta.url));

export const DEFAULT_FAULTS = {
  accessTtl: 60, // seconds, for new access tokens
  opaqueTokens: false, // issue opaque access tokens instead of JWTs
  rotateRefreshTokens: false, // each refresh retires the refresh token it used
  rotationGraceMs: 0, // a retired refresh token still works this long (Cognito RetryGracePeriodSeconds)
  // token endpoint (OAuth2 and Cognito): null | "throttle" | "429" | "500" | "502" | "503" | "hang" | "broken" | "html" | "null-token" | "reset"
  //   | "dpop-nonce" (400 use_dpop_nonce with a new DPoP-Nonce every time)
  tokenMode: null,
  tokenFaultCount: 0, // how many refresh requests the fault hits; 0 = all
  tokenRetryAfter: null, // Retry-After (seconds) on 429/503/throttle answers
  tokenLatencyMs: 0,
  // API: null | "429" | "502" | "503" | "504" | "always401" | "hang" | "reset" | "throttle"
  //   | "throttle-body" (Cognito's 400 TooManyRequestsException in the body only, as emulators send it)
  apiMode: null,
  apiFaultCount: 0,
  apiRetryAfter: null,
  apiLatencyMs: 0,
  apiThrottleRps: 0, // > 0: a token bucket (1 s of burst) in front of /api
  apiThrottleStyle: "429", // "429" (+ Retry-After: 1) or "cognito" (400 TooManyRequestsException)
  tokenThrottleRps: 0, // > 0: the token endpoint allows this many requests/s (Cognito-style 400 / OAuth2 429)
  tokenRedirect: null, // a URL: the token endpoint (OAuth2 and Cognito) answers 307 to it
  userInfoThrottleCount: 0, // the next N user-info requests are throttled (GetUser: 400 TooManyRequestsException; userinfo: 429)
  userInfoRetryAfter: null, // Retry-After (seconds) on those answers
  authorizeError: null, // e.g. "access_denied": the authorization endpoint sends the user back with it
  idTokenClaims: null, // claims merged into the ID token of a code grant (a wrong aud, nonce, iss, exp, ...)
  revokeMode: null, // null | "503" | "400": the revocation endpoint's answer
  revokeFaultCount: 0, // how many revocations the fault hits; 0 = all
};

const MIME = { ".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8", ".mjs": "text/javascript; charset=utf-8", ".wasm": "application/wasm", ".css": "text/css", ".json": "application/json", ".png": "image/png", ".ts": "text/plain" };
const STATIC = {
  "/pkg/": join(ROOT, "pkg"),
  "/www/": join(ROOT, "www"),
  "/vendor/axios.js": join(ROOT, "node_modules/axios/dist/esm/axios.min.js"),
  "/vendor/axios-auth-refresh.js": join(ROOT, "node_modules/axios-auth-refresh/dist/index.esm.js"),
  "/vendor/axios-retry.js": join(ROOT, "node_modules/axios-retry/dist/esm/index.js"),
};

const b64url = (buf) => Buffer.from(buf).toString("base64url");

/** The user pool of the hosted-UI addresses: their ID tokens carry its issuer, as Cognito's do. */
export const HOSTED_POOL_ID = "eu-west-1_sgDevPool";
const HOSTED_ISSUER = "https://cognito-idp.eu-west-1.amazonaws.com/" + HOSTED_POOL_ID;

/**
 * `idp`: with a real identity server (server/idp.mjs) the demo logs in there, and /api/*
 * validates tokens with it (its userinfo endpoint, or Cognito GetUser) instead of our own.
 */
export function createDevServer({ extraStatic = {}, idp = null } = {}) {
  const secret = crypto.randomBytes(32);
  let faults = { ...DEFAULT_FAULTS };
  let counts, log, refreshTokens, opaque, bucket, codes, authorizeLog;
  let notBefore = 0;
  function reset() {
    notBefore = 0;
    faults = { ...DEFAULT_FAULTS };
    counts = { api: 0, apiOk: 0, api401: 0, apiThrottled: 0, apiFaults: 0, badTokens: 0, refresh: 0, refreshOk: 0, refreshFaults: 0, refreshRejected: 0, login: 0, userinfo: 0, foreign: 0, foreignWithAuth: 0, refreshTokenLeaks: 0, evil: 0, evilRefreshTokens: 0, codeGrants: 0, codeRejected: 0, revoked: 0, revokeRequests: 0, endSession: 0, discovery: 0 };
    log = [];
    refreshTokens = new Map(); // rt → { user, retiredAt: null | ms, revoked }
    codes = new Map(); // authorization code → { challenge, redirectUri, clientId, nonce, used }
    authorizeLog = []; // the query of each authorization request
    opaque = new Map(); // opaque access token → { user, exp }
    bucket = { tokens: 0, at: 0, rps: 0 };
    tokenBucket = { tokens: 0, at: 0, rps: 0 };
  }
  let tokenBucket;
  reset();
  let faultHits = { token: 0, api: 0, userinfo: 0, revoke: 0 };

  function sign(payload) {
    const head = b64url(JSON.stringify({ alg: "HS256", typ: "JWT" }));
    const body = b64url(JSON.stringify(payload));
    const sig = b64url(crypto.createHmac("sha256", secret).update(head + "." + body).digest());
    return `${head}.${body}.${sig}`;
  }
  function verify(token) {
    if (opaque.has(token)) {
      const o = opaque.get(token);
      return o.exp > Date.now() ? { sub: o.user } : null;
    }
    const parts = token.split(".");
    if (parts.length !== 3) return null;
    const sig = b64url(crypto.createHmac("sha256", secret).update(parts[0] + "." + parts[1]).digest());
    if (sig !== parts[2]) return null;
    try {
      const claims = JSON.parse(Buffer.from(parts[1], "base64url").toString());
      if (claims.iat * 1000 < notBefore) return null; // issued before /__control/expire-access
      return claims.exp * 1000 > Date.now() ? claims : null;
    } catch {
      return null;
    }
  }
  function issue(user, { withRefresh = true, ttl = faults.accessTtl, opaqueToken = faults.opaqueTokens } = {}) {
    const now = Date.now();
    const iat = Math.floor(now / 1000);
    let access;
    if (opaqueToken) {
      access = "opaque-" + crypto.randomBytes(12).toString("hex");
      opaque.set(access, { user, exp: now + ttl * 1000 });
    } else {
      access = sign({ sub: user, iat, exp: iat + ttl, jti: crypto.randomBytes(6).toString("hex"), scope: "api" });
    }
    const id = sign({ sub: user, iat, exp: iat + 3600, email: `${user}@example.test`, name: user, token_use: "id" });
    const out = { access, id, expiresIn: ttl };
    if (withRefresh) {
      out.refresh = "rt-" + crypto.randomBytes(16).toString("hex");
      refreshTokens.set(out.refresh, { user, retiredAt: null, revoked: false });
    }
    return out;
  }

  function send(res, status, body, headers = {}) {
    const text = typeof body === "string" ? body : JSON.stringify(body);
    res.writeHead(status, { "Content-Type": typeof body === "string" ? "text/plain" : "application/json", ...headers });
    res.end(text);
  }
  function cors(req, res) {
    res.setHeader("Access-Control-Allow-Origin", req.headers.origin || "*");
    res.setHeader("Vary", "Origin");
    res.setHeader("Access-Control-Allow-Headers", "Authorization, Content-Type, Idempotency-Key, X-Amz-Target, X-Amz-User-Agent, X-Test, DPoP");
    res.setHeader("Access-Control-Allow-Methods", "GET, POST, PUT, PATCH, DELETE, OPTIONS");
    res.setHeader("Access-Control-Expose-Headers", "Retry-After, x-amzn-ErrorType, x-amzn-RequestId");
  }
  const readBody = (req) => new Promise((resolve) => {
    const chunks = [];
    req.on("data", (c) => chunks.push(c));
    req.on("end", () => resolve(Buffer.concat(chunks)));
    req.on("error", () => resolve(Buffer.alloc(0)));
  });
  const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

  function faultFires(kind) {
    const mode = kind === "token" ? faults.tokenMode : faults.apiMode;
    if (!mode) return null;
    const limit = kind === "token" ? faults.tokenFaultCount : faults.apiFaultCount;
    if (limit > 0 && faultHits[kind] >= limit) return null;
    faultHits[kind]++;
    return mode;
  }

  function throttleAnswer(res, style, retryAfter) {
    if (style === "cognito") {
      return send(res, 400, { __type: "TooManyRequestsException", message: "Rate exceeded" }, { "x-amzn-ErrorType": "TooManyRequestsException:", "Content-Type": "application/x-amz-json-1.1" });
    }
    return send(res, 429, { error: "too_many_requests" }, retryAfter != null ? { "Retry-After": String(retryAfter) } : {});
  }

  function takeFrom(b, rps) {
    const now = Date.now();
    if (b.rps !== rps) Object.assign(b, { tokens: rps, at: now, rps });
    b.tokens = Math.min(rps, b.tokens + ((now - b.at) * rps) / 1000);
    b.at = now;
    if (b.tokens >= 1) { b.tokens -= 1; return true; }
    return false;
  }

  // Answers a token-endpoint fault; true if one was sent.
  async function tokenFault(req, res, style) {
    if (faults.tokenRedirect) {
      counts.refreshFaults++;
      res.writeHead(307, { Location: faults.tokenRedirect });
      res.end();
      return true;
    }
    if (faults.tokenThrottleRps > 0 && !takeFrom(tokenBucket, faults.tokenThrottleRps)) {
      counts.refreshFaults++;
      throttleAnswer(res, style === "cognito" ? "cognito" : "429", 1);
      return true;
    }
    const mode = faultFires("token");
    if (!mode) return false;
    counts.refreshFaults++;
    const ra = faults.tokenRetryAfter;
    switch (mode) {
      case "throttle": throttleAnswer(res, style === "cognito" ? "cognito" : "429", ra); return true;
      case "429": send(res, 429, { error: "slow_down" }, ra != null ? { "Retry-After": String(ra) } : {}); return true;
      case "500": case "502": case "503":
        if (style === "cognito" && mode === "500") send(res, 500, { __type: "InternalErrorException", message: "Internal error" }, { "x-amzn-ErrorType": "InternalErrorException:" });
        else send(res, Number(mode), "<html><body>Bad gateway</body></html>", ra != null ? { "Retry-After": String(ra), "Content-Type": "text/html" } : { "Content-Type": "text/html" });
        return true;
      // a DPoP nonce challenge (RFC 9449 §8) with a new nonce each time; its DPoP-Nonce is not
      // exposed to other origins
      case "dpop-nonce": send(res, 400, { error: "use_dpop_nonce", error_description: "nonce required" }, { "DPoP-Nonce": "dev-nonce-" + faultHits.token }); return true;
      case "hang": await sleep(120_000); res.destroy(); return true;
      case "reset": req.socket.write("XYZ garbage\r\n\r\n"); req.socket.destroy(); return true;
      case "broken": res.writeHead(200, { "Content-Type": "application/json" }); res.end('{"access_token": "eyJ'); return true;
      case "html": res.writeHead(200, { "Content-Type": "text/html" }); res.end("<html><body>Sign in</body></html>"); return true;
      case "null-token":
        if (style === "cognito") send(res, 200, { AuthenticationResult: { AccessToken: null, ExpiresIn: 3600 } });
        else send(res, 200, { access_token: null, token_type: "Bearer", expires_in: 3600 });
        return true;
      default: return false;
    }
  }

  // Looks up a refresh token; applies rotation. Returns the user or null.
  function useRefreshToken(rt) {
    const entry = rt && refreshTokens.get(rt);
    if (!entry || entry.revoked) return null;
    if (entry.retiredAt !== null && Date.now() - entry.retiredAt > faults.rotationGraceMs) return null;
    if (faults.rotateRefreshTokens && entry.retiredAt === null) entry.retiredAt = Date.now();
    return entry.user;
  }

  async function handleOAuthToken(req, res) {
    counts.refresh++;
    const form = new URLSearchParams((await readBody(req)).toString());
    log.push({ at: Date.now(), path: "/oauth/token", method: "POST", grant: form.get("grant_type") });
    if (faults.tokenLatencyMs) await sleep(faults.tokenLatencyMs);
    if (await tokenFault(req, res, "oauth2")) return;
    if (form.get("grant_type") === "authorization_code") return codeGrant(req, res, form);
    if (form.get("grant_type") !== "refresh_token") return send(res, 400, { error: "unsupported_grant_type" });
    const user = useRefreshToken(form.get("refresh_token"));
    if (!user) {
      counts.refreshRejected++;
      return send(res, 400, { error: "invalid_grant", error_description: "refresh token is invalid, expired or revoked" });
    }
    const t = issue(user, { withRefresh: faults.rotateRefreshTokens });
    counts.refreshOk++;
    const body = { access_token: t.access, token_type: "Bearer", expires_in: t.expiresIn, id_token: t.id };
    if (t.refresh) body.refresh_token = t.refresh;
    send(res, 200, body, { "Cache-Control": "no-store" });
  }

  const hosted = (req) => req.url.startsWith("/hosted/");
  const issuerOf = (req) => (hosted(req) ? HOSTED_ISSUER : `http://${req.headers.host}`);

  // RFC 6749 §4.1.1 + RFC 7636: approved at once for "alice"; back to redirect_uri with a code
  function authorize(req, res, url) {
    const q = url.searchParams;
    authorizeLog.push(Object.fromEntries(q));
    const back = new URL(q.get("redirect_uri") || "");
    back.searchParams.set("state", q.get("state") || "");
    if (!hosted(req)) back.searchParams.set("iss", issuerOf(req)); // Cognito sends none
    if (faults.authorizeError) {
      back.searchParams.set("error", faults.authorizeError);
    } else if (q.get("response_type") !== "code" || q.get("code_challenge_method") !== "S256" || !q.get("code_challenge")) {
      back.searchParams.set("error", "invalid_request");
    } else {
      const code = "code-" + crypto.randomBytes(12).toString("hex");
      codes.set(code, { challenge: q.get("code_challenge"), redirectUri: q.get("redirect_uri"), clientId: q.get("client_id"), nonce: q.get("nonce"), used: false });
      back.searchParams.set("code", code);
    }
    res.writeHead(302, { Location: back.href });
    res.end();
  }

  // RFC 6749 §4.1.3 with the PKCE verifier; the ID token says who it is for (faults may lie)
  function codeGrant(req, res, form) {
    const c = codes.get(form.get("code") || "");
    const verifier = form.get("code_verifier") || "";
    const challenge = b64url(crypto.createHash("sha256").update(verifier).digest());
    if (!c || c.used || c.redirectUri !== form.get("redirect_uri") || c.clientId !== form.get("client_id") || c.challenge !== challenge) {
      if (c) c.used = true; // a code is for one try
      counts.codeRejected++;
      return send(res, 400, { error: "invalid_grant", error_description: "code invalid, used, or not for this verifier" });
    }
    c.used = true;
    counts.codeGrants++;
    const t = issue("alice");
    const iat = Math.floor(Date.now() / 1000);
    const id = sign({ iss: issuerOf(req), sub: "alice", aud: c.clientId, nonce: c.nonce, iat, exp: iat + 3600, ...(faults.idTokenClaims || {}) });
    send(res, 200, { access_token: t.access, refresh_token: t.refresh, id_token: id, token_type: "Bearer", expires_in: t.expiresIn }, { "Cache-Control": "no-store" });
  }

  // RFC 7009: 200 whether or not the token was known
  async function revoke(req, res) {
    counts.revokeRequests++;
    const form = new URLSearchParams((await readBody(req)).toString());
    if (faults.revokeMode && (faults.revokeFaultCount === 0 || faultHits.revoke < faults.revokeFaultCount)) {
      faultHits.revoke++;
      return send(res, Number(faults.revokeMode), { error: faults.revokeMode === "400" ? "unsupported_token_type" : "temporarily_unavailable" });
    }
    const entry = refreshTokens.get(form.get("token") || "");
    if (entry && !entry.revoked) { entry.revoked = true; counts.revoked++; }
    send(res, 200, "");
  }

  function discovery(req, res) {
    counts.discovery++;
    const iss = issuerOf(req);
    send(res, 200, { issuer: iss, authorization_endpoint: iss + "/oauth/authorize", token_endpoint: iss + "/oauth/token", userinfo_endpoint: iss + "/oauth/userinfo", revocation_endpoint: iss + "/oauth/revoke", end_session_endpoint: iss + "/oauth/logout", code_challenge_methods_supported: ["S256"], authorization_response_iss_parameter_supported: true });
  }

  async function handleCognito(req, res) {
    const target = req.headers["x-amz-target"] || "";
    const raw = (await readBody(req)).toString();
    let body;
    try { body = JSON.parse(raw); } catch { body = null; }
    const err = (status, type, message) => send(res, status, { __type: type, message }, { "x-amzn-ErrorType": type + ":", "Content-Type": "application/x-amz-json-1.1" });
    if (target === "AWSCognitoIdentityProviderService.InitiateAuth") {
      counts.refresh++;
      log.push({ at: Date.now(), path: "/cognito/", method: "POST", target });
      if (faults.tokenLatencyMs) await sleep(faults.tokenLatencyMs);
      if (await tokenFault(req, res, "cognito")) return;
      if (!body || body.AuthFlow !== "REFRESH_TOKEN_AUTH" || !body.ClientId) return err(400, "InvalidParameterException", "bad request");
      const user = useRefreshToken(body.AuthParameters && body.AuthParameters.REFRESH_TOKEN);
      if (!user) {
        counts.refreshRejected++;
        return err(400, "NotAuthorizedException", "Invalid Refresh Token");
      }
      const t = issue(user, { withRefresh: faults.rotateRefreshTokens });
      counts.refreshOk++;
      const result = { AccessToken: t.access, IdToken: t.id, ExpiresIn: t.expiresIn, TokenType: "Bearer" };
      if (t.refresh) result.RefreshToken = t.refresh;
      return send(res, 200, { AuthenticationResult: result, ChallengeParameters: {} }, { "Content-Type": "application/x-amz-json-1.1" });
    }
    if (target === "AWSCognitoIdentityProviderService.GetUser") {
      counts.userinfo++;
      if (faults.userInfoThrottleCount > faultHits.userinfo) {
        faultHits.userinfo++;
        return throttleAnswer(res, "cognito", faults.userInfoRetryAfter);
      }
      const token = body && body.AccessToken;
      if (typeof token !== "string" || token === "" || token === "null") {
        counts.badTokens++;
        return err(400, "InvalidParameterException", "1 validation error detected: Value null at 'accessToken' failed to satisfy constraint: Member must not be null");
      }
      const claims = verify(token);
      if (!claims) return err(400, "NotAuthorizedException", "Invalid Access Token");
      return send(res, 200, { Username: claims.sub, UserAttributes: [{ Name: "sub", Value: claims.sub }, { Name: "email", Value: `${claims.sub}@example.test` }] }, { "Content-Type": "application/x-amz-json-1.1" });
    }
    return err(400, "UnknownOperationException", "unknown operation");
  }

  function bearer(req) {
    const h = req.headers.authorization;
    if (h === undefined) return { present: false };
    const m = /^Bearer (.*)$/.exec(h);
    const token = m ? m[1] : "";
    const bad = !m || token.trim() === "" || token === "null" || token === "undefined";
    if (bad) counts.badTokens++;
    return { present: true, token, bad };
  }

  function throttled() {
    return faults.apiThrottleRps > 0 && !takeFrom(bucket, faults.apiThrottleRps);
  }

  async function handleApi(req, res, url) {
    counts.api++;
    const auth = bearer(req);
    const body = await readBody(req);
    const entry = { at: Date.now(), path: url.pathname, method: req.method, auth: auth.present ? auth.token : null, idem: req.headers["idempotency-key"] || null, status: 0 };
    log.push(entry);
    if (log.length > 5000) log.splice(0, log.length - 5000);
    if (body.includes("rt-")) counts.refreshTokenLeaks++;
    if (faults.apiLatencyMs) await sleep(faults.apiLatencyMs);
    const reply = (status, b, h) => { entry.status = status; send(res, status, b, h); };
    if (throttled()) { counts.apiThrottled++; entry.status = faults.apiThrottleStyle === "cognito" ? 400 : 429; return throttleAnswer(res, faults.apiThrottleStyle, 1); }
    const mode = faultFires("api");
    if (mode) {
      counts.apiFaults++;
      const ra = faults.apiRetryAfter != null ? { "Retry-After": String(faults.apiRetryAfter) } : {};
      switch (mode) {
        case "429": return reply(429, { error: "too_many_requests" }, ra);
        case "502": case "503": case "504": return reply(Number(mode), "upstream unavailable", ra);
        case "throttle": entry.status = 400; return throttleAnswer(res, "cognito", null);
        case "throttle-body": return reply(400, { __type: "com.amazonaws.cognito#TooManyRequestsException", message: "Rate exceeded" }, { "Content-Type": "application/x-amz-json-1.1" });
        case "always401": counts.api401++; return reply(401, { error: "invalid_token" }, { "WWW-Authenticate": 'Bearer error="invalid_token"' });
        case "hang": await sleep(120_000); return res.destroy();
        // not a reset (Chrome silently resends a request whose reused socket was reset): an
        // unparseable answer, which fetch reports as a network error
        case "reset": entry.status = -1; req.socket.write("XYZ garbage\r\n\r\n"); return req.socket.destroy();
      }
    }
    const claims = auth.present && !auth.bad ? (idp ? await idpClaims(auth.token) : verify(auth.token)) : null;
    if (!claims) {
      counts.api401++;
      return reply(401, { error: "invalid_token" }, { "WWW-Authenticate": 'Bearer error="invalid_token"' });
    }
    counts.apiOk++;
    reply(200, { ok: true, user: claims.sub, method: req.method, path: url.pathname, body: body.toString(), idempotencyKey: entry.idem });
  }

  // Tokens of a real identity server, validated there (cached for a few seconds); those first
  // seen before /__control/expire-access are refused like expired ones.
  const idpSeen = new Map(); // token → { at, claims, checked }
  async function idpClaims(token) {
    let e = idpSeen.get(token);
    if (!e || Date.now() - e.checked > 5000) {
      const claims = await idp.validate(token);
      e = { at: e ? e.at : Date.now(), claims, checked: Date.now() };
      idpSeen.set(token, e);
    }
    return e.at < notBefore ? null : e.claims;
  }

  let peersBundle = null;
  async function servePeers(res) {
    try {
      if (!peersBundle) {
        const esbuild = await import("esbuild");
        const out = await esbuild.build({
          stdin: { contents: 'export { default as axios } from "axios"; export { default as createAuthRefreshInterceptor } from "axios-auth-refresh"; export { default as axiosRetry } from "axios-retry";', resolveDir: ROOT, loader: "js" },
          bundle: true, format: "esm", platform: "browser", write: false, logLevel: "error",
        });
        peersBundle = out.outputFiles[0].contents;
      }
      res.writeHead(200, { "Content-Type": MIME[".js"], "Cache-Control": "no-store" });
      res.end(peersBundle);
    } catch (e) {
      send(res, 500, "could not bundle the peers: " + (e && e.message));
    }
  }

  async function serveStatic(res, pathname) {
    const table = { ...STATIC, ...extraStatic };
    let file = null;
    for (const [prefix, dir] of Object.entries(table)) {
      if (prefix.endsWith("/") && pathname.startsWith(prefix)) {
        const rel = normalize(decodeURIComponent(pathname.slice(prefix.length))).replace(/^(\.\.[/\\])+/, "");
        file = join(dir, rel || "index.html");
        break;
      }
      if (pathname === prefix) { file = dir; break; }
    }
    if (!file) return false;
    try {
      const data = await readFile(file);
      res.writeHead(200, { "Content-Type": MIME[extname(file)] || "application/octet-stream", "Cache-Control": "no-store" });
      res.end(data);
    } catch {
      send(res, 404, "not found");
    }
    return true;
  }

  const handler = async (req, res) => {
    try {
      const url = new URL(req.url, "http://localhost");
      cors(req, res);
      if (req.method === "OPTIONS") { res.writeHead(204); return res.end(); }
      const p = url.pathname;
      if (p === "/" || p === "/index.html") { res.writeHead(302, { Location: "/www/index.html" }); return res.end(); }
      if (p === "/demo-config.json") return send(res, 200, idp ? idp.demoConfig : { idp: "dev" });
      if (p === "/auth/login" && req.method === "POST") {
        counts.login++;
        let o = {};
        try { o = JSON.parse((await readBody(req)).toString() || "{}"); } catch {}
        const t = issue(String(o.user || "alice"), { ttl: Number(o.accessTtl) || faults.accessTtl, opaqueToken: o.opaque ?? faults.opaqueTokens });
        return send(res, 200, { access_token: t.access, refresh_token: t.refresh, id_token: t.id, expires_in: t.expiresIn, token_type: "Bearer" });
      }
      if ((p === "/oauth/token" || p === "/hosted/oauth2/token") && req.method === "POST") return await handleOAuthToken(req, res);
      if (p === "/.well-known/openid-configuration") return discovery(req, res);
      if (p === "/oauth/authorize" || p === "/hosted/oauth2/authorize") return authorize(req, res, url);
      if (p === "/oauth/revoke" && req.method === "POST") return await revoke(req, res);
      if (p === "/oauth/logout" || p === "/hosted/logout") {
        counts.endSession++;
        log.push({ at: Date.now(), path: p, method: req.method, query: Object.fromEntries(url.searchParams) });
        res.writeHead(200, { "Content-Type": "text/html" });
        return res.end("<html><body>Signed out</body></html>");
      }
      if (p === "/cognito/" || p === "/cognito") return await handleCognito(req, res);
      if (p === "/oauth/userinfo") {
        counts.userinfo++;
        if (faults.userInfoThrottleCount > faultHits.userinfo) {
          faultHits.userinfo++;
          return throttleAnswer(res, "429", faults.userInfoRetryAfter);
        }
        const auth = bearer(req);
        const claims = auth.present && !auth.bad ? verify(auth.token) : null;
        if (!claims) return send(res, 401, { error: "invalid_token" });
        return send(res, 200, { sub: claims.sub, email: `${claims.sub}@example.test`, name: claims.sub });
      }
      if (p.startsWith("/api/")) return await handleApi(req, res, url);
      if (p === "/evil/token") {
        // where a followed redirect would take a refresh token: counts what arrives
        counts.evil++;
        const body = (await readBody(req)).toString();
        if (/rt-|REFRESH_TOKEN/.test(body)) counts.evilRefreshTokens++;
        return send(res, 200, { access_token: "evil-token", expires_in: 3600, AuthenticationResult: { AccessToken: "evil-token", ExpiresIn: 3600 } });
      }
      if (p.startsWith("/foreign/")) {
        counts.foreign++;
        if (req.headers.authorization !== undefined) counts.foreignWithAuth++;
        return send(res, 200, { authorization: req.headers.authorization ?? null, dpop: req.headers.dpop ?? null });
      }
      if (p.startsWith("/__control/")) {
        if (p === "/__control/stats") {
          const c = idp ? { ...counts, refresh: idp.refreshCount() } : counts;
          return send(res, 200, { counts: c, faults, log: url.searchParams.has("log") ? log : undefined, authorize: url.searchParams.has("log") ? authorizeLog : undefined });
        }
        if (p === "/__control/reset") { reset(); faultHits = { token: 0, api: 0, userinfo: 0, revoke: 0 }; return send(res, 200, { ok: true }); }
        if (p === "/__control/expire-access") {
          // access tokens issued so far are refused from now on (JWT iat is in whole seconds)
          notBefore = Math.ceil(Date.now() / 1000) * 1000;
          for (const o of opaque.values()) o.exp = 0;
          await sleep(Math.max(0, notBefore - Date.now()) + 5);
          return send(res, 200, { ok: true });
        }
        if (p === "/__control/revoke") { for (const e of refreshTokens.values()) e.revoked = true; return send(res, 200, { ok: true }); }
        if (p === "/__control/faults" && req.method === "POST") {
          let o = {};
          try { o = JSON.parse((await readBody(req)).toString() || "{}"); } catch { return send(res, 400, { error: "bad json" }); }
          for (const k of Object.keys(o)) if (!(k in DEFAULT_FAULTS)) return send(res, 400, { error: "unknown fault " + k });
          faults = { ...faults, ...o };
          faultHits = { token: 0, api: 0, userinfo: 0, revoke: 0 };
          return send(res, 200, { faults });
        }
      }
      if (p === "/vendor/peers.js") return await servePeers(res);
      if (await serveStatic(res, p)) return;
      send(res, 404, "not found");
    } catch (e) {
      try { send(res, 500, String(e && e.message)); } catch {}
    }
  };
  const server = http.createServer(handler);
  server.keepAliveTimeout = 1000;
  const extra = [];
  return {
    server,
    /** Serves the same thing on another address too (a second origin, for cross-origin tests). */
    listenAlso(host, port = 0) {
      const s = http.createServer(handler);
      extra.push(s);
      return new Promise((resolve) => s.listen(port, host, () => resolve(s.address().port)));
    },
    listen(port = 0, host = "127.0.0.1") {
      return new Promise((resolve) => server.listen(port, host, () => resolve(server.address().port)));
    },
    close() {
      const all = [server, ...extra];
      for (const s of all) s.closeAllConnections?.();
      return Promise.all(all.map((s) => new Promise((r) => s.close(() => r()))));
    },
  };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  // IDP=oidc-provider or IDP=cognito-local: the demo logs in through a real identity server
  const port = Number(process.env.PORT || 8080);
  const host = process.env.HOST || "127.0.0.1";
  const appOrigin = `http://${host}:${port}`;
  const { startIdp } = await import("./idp.mjs");
  const idp = process.env.IDP && process.env.IDP !== "dev" ? await startIdp(process.env.IDP, appOrigin) : null;
  const dev = createDevServer({ idp });
  dev.listen(port, host).then((p) => {
    console.log(`sessionguard demo: http://${host}:${p}/  (Ctrl-C to stop)` + (idp ? `; identity server: ${process.env.IDP} at ${idp.demoConfig.issuer || idp.demoConfig.endpoint}` : ""));
  });
  const stop = async () => { await idp?.close(); process.exit(0); };
  process.on("SIGINT", stop);
  process.on("SIGTERM", stop);
}
