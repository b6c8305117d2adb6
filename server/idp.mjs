// Real identity servers on loopback, for the conformance tier (tests/conformance/) and for the
// demo (`IDP=oidc-provider npm start`, `IDP=cognito-local npm start`): oidc-provider (an OpenID
// Certified authorization server) and cognito-local (a Cognito user-pool emulator), each with
// its own temporary state, stopped by `close()`. Requests are counted where they
// land: oidc-provider's own events, and a counting proxy of ours in front of cognito-local
// (which also plays AWS's throttling, header and body as AWS sends them, when asked to).
import http from "node:http";
import { spawn } from "node:child_process";
import { createHash, createPublicKey, verify as verifySignature, randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const root = new URL("..", import.meta.url).pathname;

const listen = (server, host = "127.0.0.1", port = 0) => new Promise((resolve) => server.listen(port, host, () => resolve(server.address().port)));
const readBody = (req) => new Promise((resolve, reject) => { const c = []; req.on("data", (d) => c.push(d)); req.on("end", () => resolve(Buffer.concat(c))); req.on("error", reject); });

/** oidc-provider with a public SPA client (authorization code + PKCE), rotating refresh
 * tokens, revocation, userinfo and CORS for the app's origin; DPoP (RFC 9449) with server
 * nonces required on every proof; and a resource server of ours (`resource`) that accepts only
 * DPoP-bound tokens with a valid proof. */
export async function startOidcProvider({ appOrigin, redirectPaths = ["/tests/conformance/app.html"], port = 0 }) {
  const { default: Provider } = await import("oidc-provider");
  const server = http.createServer();
  const issuer = `http://127.0.0.1:${await listen(server, "127.0.0.1", port)}`;
  const counts = { refreshGrants: 0, codeGrants: 0, invalidGrant: 0, userinfo: 0, revoked: 0, useDpopNonce: 0, proofs: 0, boundGrants: 0, revocationProofs: 0, tokenRequests: 0 };
  // in front of the token endpoint: `unavailable` requests answered 503 with Retry-After: 0
  // before the provider sees them (it did not act); `loseAnswers` requests handled by the
  // provider, their answer replaced by a gateway's 502 (it acted, the app cannot know)
  const faults = { unavailable: 0, loseAnswers: 0 };
  const provider = new Provider(issuer, {
    clients: [{
      client_id: "spa",
      token_endpoint_auth_method: "none",
      redirect_uris: redirectPaths.map((p) => appOrigin + p),
      post_logout_redirect_uris: redirectPaths.map((p) => appOrigin + p),
      grant_types: ["authorization_code", "refresh_token"],
      response_types: ["code"],
    }],
    pkce: { required: () => true },
    rotateRefreshToken: true,
    issueRefreshToken: async () => true,
    clientBasedCORS: () => true,
    scopes: ["openid", "offline_access", "email"],
    claims: { openid: ["sub"], email: ["email"] },
    findAccount: async (_ctx, id) => ({ accountId: id, claims: async () => ({ sub: id, email: `${id}@example.test` }) }),
    features: {
      devInteractions: { enabled: true },
      revocation: { enabled: true },
      userinfo: { enabled: true },
      // proofs are optional (bearer clients keep working); a proof must carry the server's nonce
      dPoP: { enabled: true, nonceSecret: randomBytes(32), requireNonce: () => true },
    },
    ttl: { AccessToken: 600, RefreshToken: 3600, Grant: 3600, Session: 3600, Interaction: 600, AuthorizationCode: 60, IdToken: 600 },
    cookies: { keys: ["conformance-only"] },
  });
  provider.on("grant.success", (ctx) => {
    const g = ctx.oidc.params.grant_type;
    if (g === "refresh_token") counts.refreshGrants++;
    if (g === "authorization_code") counts.codeGrants++;
    if (ctx.oidc.entities.AccessToken?.jkt) counts.boundGrants++;
  });
  provider.on("grant.error", (_ctx, err) => {
    if (err.error === "invalid_grant") counts.invalidGrant++;
    if (err.error === "use_dpop_nonce") counts.useDpopNonce++;
  });
  provider.on("grant.revoked", () => { counts.revoked++; });
  provider.on("server_error", (_ctx, err) => console.error("oidc-provider:", err));
  const callback = provider.callback();
  server.on("request", (req, res) => {
    if (req.method === "POST" && (req.url === "/token" || req.url.startsWith("/token?"))) {
      counts.tokenRequests++;
      if (faults.unavailable > 0) {
        faults.unavailable--;
        res.writeHead(503, { "Content-Type": "text/html", "Retry-After": "0", "Access-Control-Allow-Origin": "*", "Access-Control-Expose-Headers": "Retry-After" });
        return res.end("<html><body>Service unavailable</body></html>");
      }
      if (faults.loseAnswers > 0) {
        faults.loseAnswers--;
        const end = res.end.bind(res);
        res.end = () => {
          if (!res.headersSent) {
            res.statusCode = 502;
            res.removeHeader("Content-Length");
            res.setHeader("Content-Type", "text/html");
          }
          return end("<html><body>Bad gateway</body></html>");
        };
      }
    }
    if (req.url.startsWith("/me")) counts.userinfo++;
    if (req.headers.dpop) counts.proofs++;
    if (req.headers.dpop && req.url.startsWith("/token/revocation")) counts.revocationProofs++;
    callback(req, res);
  });
  const resource = await startDpopResource(provider);
  return {
    issuer,
    counts,
    faults,
    resource,
    provider,
    reset() { for (const k of Object.keys(counts)) counts[k] = 0; for (const k of Object.keys(faults)) faults[k] = 0; resource.reset(); },
    close: () => Promise.all([resource.close(), new Promise((r) => { server.closeAllConnections?.(); server.close(() => r()); })]),
  };
}

/** A resource server that takes only DPoP-bound access tokens of `provider`, as RFC 9449 §7
 * says a resource server checks them: `Authorization: DPoP <token>`, one proof whose ES256
 * signature verifies with the key in its header, `htm`/`htu` of this request, `ath` of this
 * token, a `jti` never seen before, a recent `iat`, this server's current nonce (else 401
 * `use_dpop_nonce` with a new one), and the token bound to that key (its `jkt`, looked up at
 * the provider). Counts what it saw; `rotateNonce()` makes the next proof need a new nonce. */
async function startDpopResource(provider) {
  const server = http.createServer();
  const origin = `http://127.0.0.1:${await listen(server)}`;
  const cors = {
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Allow-Headers": "authorization, dpop, content-type",
    "Access-Control-Allow-Methods": "GET, POST, PUT, PATCH, DELETE",
    "Access-Control-Expose-Headers": "DPoP-Nonce, WWW-Authenticate",
  };
  const fresh = () => "rs-" + randomBytes(12).toString("base64url");
  // `exposeNonce: false`: the nonce is sent but not exposed to the page (a CORS mistake);
  // `throttle`: that many good calls answered 429 (Retry-After: 0) first; `refuseToken`: that
  // many good calls answered 401 invalid_token (as for a token revoked at the server)
  const settings = { exposeNonce: true, throttle: 0, refuseToken: 0 };
  const state = { nonce: fresh(), jtis: new Set() };
  const counts = { ok: 0, nonceChallenges: 0, throttled: 0, tokenRefused: 0, refused: {}, jkts: new Set(), methods: [] };
  const b64json = (part) => JSON.parse(Buffer.from(part, "base64url").toString("utf8"));
  const thumbprint = (jwk) => createHash("sha256").update(JSON.stringify({ crv: jwk.crv, kty: jwk.kty, x: jwk.x, y: jwk.y })).digest("base64url");
  async function check(req) {
    const auth = req.headers.authorization || "";
    if (!auth.startsWith("DPoP ")) return { refuse: "scheme" };
    const token = auth.slice(5);
    const proof = req.headers.dpop;
    if (typeof proof !== "string" || proof.split(".").length !== 3) return { refuse: "no single proof" };
    const [h, p, sig] = proof.split(".");
    const header = b64json(h);
    const claims = b64json(p);
    if (header.typ !== "dpop+jwt" || header.alg !== "ES256" || !header.jwk || header.jwk.d !== undefined) return { refuse: "header" };
    const key = createPublicKey({ key: header.jwk, format: "jwk" });
    if (!verifySignature("sha256", Buffer.from(h + "." + p), { key, dsaEncoding: "ieee-p1363" }, Buffer.from(sig, "base64url"))) return { refuse: "signature" };
    if (claims.htm !== req.method) return { refuse: "htm" };
    if (claims.htu !== origin + req.url.split(/[?#]/)[0]) return { refuse: "htu" };
    if (claims.ath !== createHash("sha256").update(token).digest("base64url")) return { refuse: "ath" };
    if (typeof claims.jti !== "string" || state.jtis.has(claims.jti)) return { refuse: "jti" };
    state.jtis.add(claims.jti);
    if (typeof claims.iat !== "number" || Math.abs(Date.now() / 1000 - claims.iat) > 60) return { refuse: "iat" };
    if (claims.nonce !== state.nonce) return { challenge: true };
    const at = await provider.AccessToken.find(token);
    const jkt = thumbprint(header.jwk);
    if (!at || at.jkt !== jkt) return { refuse: "binding" };
    return { jkt, sub: at.accountId };
  }
  server.on("request", async (req, res) => {
    if (req.method === "OPTIONS") { res.writeHead(204, cors); return res.end(); }
    for await (const _ of req) { /* drain the body */ }
    let r;
    try { r = await check(req); } catch (e) { r = { refuse: "malformed: " + e.message }; }
    const expose = settings.exposeNonce ? cors["Access-Control-Expose-Headers"] : "WWW-Authenticate";
    const json = (status, body, headers = {}) => {
      res.writeHead(status, { "Content-Type": "application/json", ...cors, "Access-Control-Expose-Headers": expose, ...headers });
      res.end(JSON.stringify(body));
    };
    if (r.challenge) {
      counts.nonceChallenges++;
      return json(401, { error: "use_dpop_nonce" }, { "WWW-Authenticate": 'DPoP error="use_dpop_nonce", error_description="Resource server requires nonce in DPoP proof"', "DPoP-Nonce": state.nonce });
    }
    if (r.refuse) {
      counts.refused[r.refuse] = (counts.refused[r.refuse] || 0) + 1;
      return json(401, { error: "invalid_token", why: r.refuse }, { "WWW-Authenticate": 'DPoP error="invalid_token", algs="ES256"' });
    }
    if (settings.throttle > 0) {
      settings.throttle--;
      counts.throttled++;
      return json(429, { error: "slow_down" }, { "Retry-After": "0" });
    }
    if (settings.refuseToken > 0) {
      settings.refuseToken--;
      counts.tokenRefused++;
      return json(401, { error: "invalid_token" }, { "WWW-Authenticate": 'DPoP error="invalid_token", algs="ES256"' });
    }
    counts.ok++;
    counts.jkts.add(r.jkt);
    counts.methods.push(req.method);
    json(200, { sub: r.sub, method: req.method });
  });
  return {
    url: origin + "/api/dpop",
    origin,
    counts,
    settings,
    rotateNonce() { state.nonce = fresh(); },
    reset() {
      Object.assign(settings, { exposeNonce: true, throttle: 0, refuseToken: 0 });
      Object.assign(counts, { ok: 0, nonceChallenges: 0, throttled: 0, tokenRefused: 0, refused: {}, jkts: new Set(), methods: [] });
    },
    close: () => new Promise((r) => { server.closeAllConnections?.(); server.close(() => r()); }),
  };
}

/** cognito-local in a temporary folder, a user pool with one app client and one user, and a
 * counting proxy in front of it that can answer like AWS does when it throttles. The proxy also
 * serves `/api/me`, an API that validates the bearer token for real (GetUser at the emulator). */
export async function startCognitoLocal() {
  const dir = mkdtempSync(join(tmpdir(), "sg-cognito-"));
  const probe = http.createServer();
  const upstreamPort = await listen(probe);
  await new Promise((r) => probe.close(r));
  const child = spawn(process.execPath, [join(root, "node_modules/cognito-local/lib/bin/start.js")], {
    cwd: dir,
    env: { ...process.env, PORT: String(upstreamPort), HOST: "127.0.0.1", DEBUG: "" },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  child.stdout.on("data", (d) => { out += d; });
  child.stderr.on("data", (d) => { out += d; });
  const upstream = `http://127.0.0.1:${upstreamPort}`;
  const call = async (target, body) => {
    const r = await fetch(upstream + "/", { method: "POST", headers: { "Content-Type": "application/x-amz-json-1.1", "X-Amz-Target": "AWSCognitoIdentityProviderService." + target }, body: JSON.stringify(body) });
    const text = await r.text();
    return { status: r.status, body: text ? JSON.parse(text) : {} };
  };
  for (let i = 0; ; i++) {
    try {
      if ((await fetch(upstream + "/health")).ok) break;
    } catch { /* not yet */ }
    if (i > 150) { child.kill(); throw new Error("cognito-local did not start:\n" + out); }
    await new Promise((r) => setTimeout(r, 100));
  }
  const pool = (await call("CreateUserPool", { PoolName: "conformance" })).body.UserPool;
  const client = (await call("CreateUserPoolClient", { UserPoolId: pool.Id, ClientName: "spa", ExplicitAuthFlows: ["ALLOW_USER_PASSWORD_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"] })).body.UserPoolClient;

  const counts = { refresh: 0, getUser: 0, throttled: 0, api: 0, apiOk: 0, revoke: 0 };
  const faults = { throttleRefresh: 0, throttleGetUser: 0, throttleRevoke: 0 };
  const cors = { "Access-Control-Allow-Origin": "*", "Access-Control-Allow-Headers": "content-type, x-amz-target, authorization, x-amz-user-agent", "Access-Control-Allow-Methods": "GET, POST, OPTIONS", "Access-Control-Expose-Headers": "x-amzn-errortype, x-amzn-requestid" };
  const send = (res, status, body, headers = {}) => { res.writeHead(status, { "Content-Type": "application/x-amz-json-1.1", ...cors, ...headers }); res.end(typeof body === "string" ? body : JSON.stringify(body)); };
  // what AWS answers when a Cognito quota is exceeded
  const throttled = (res) => { counts.throttled++; send(res, 400, { __type: "TooManyRequestsException", message: "Rate exceeded" }, { "x-amzn-ErrorType": "TooManyRequestsException:" }); };
  const proxy = http.createServer(async (req, res) => {
    try {
      if (req.method === "OPTIONS") { res.writeHead(204, cors); return res.end(); }
      const body = await readBody(req);
      if (req.url.startsWith("/api/")) {
        counts.api++;
        const auth = req.headers.authorization || "";
        const token = auth.startsWith("Bearer ") ? auth.slice(7) : "";
        const u = await call("GetUser", { AccessToken: token });
        if (u.status !== 200) return send(res, 401, { error: "invalid_token" }, { "Content-Type": "application/json" });
        counts.apiOk++;
        return send(res, 200, { user: u.body.Username }, { "Content-Type": "application/json" });
      }
      const target = String(req.headers["x-amz-target"] || "");
      let json = null;
      try { json = JSON.parse(body.toString() || "null"); } catch { /* forwarded as it is */ }
      if (target.endsWith(".InitiateAuth") && json && json.AuthFlow === "REFRESH_TOKEN_AUTH") {
        counts.refresh++;
        if (faults.throttleRefresh > 0) { faults.throttleRefresh--; return throttled(res); }
      }
      if (target.endsWith(".RevokeToken")) {
        counts.revoke++;
        if (faults.throttleRevoke > 0) { faults.throttleRevoke--; return throttled(res); }
      }
      if (target.endsWith(".GetUser")) {
        counts.getUser++;
        if (faults.throttleGetUser > 0) { faults.throttleGetUser--; return throttled(res); }
      }
      const r = await fetch(upstream + req.url, { method: req.method, headers: { "Content-Type": req.headers["content-type"] || "application/x-amz-json-1.1", "X-Amz-Target": target }, body: req.method === "POST" ? body : undefined });
      send(res, r.status, await r.text());
    } catch (e) {
      send(res, 500, { __type: "ProxyError", message: String(e) });
    }
  });
  const proxyPort = await listen(proxy);
  const endpoint = `http://127.0.0.1:${proxyPort}/`;
  return {
    endpoint,
    origin: `http://127.0.0.1:${proxyPort}`,
    clientId: client.ClientId,
    poolId: pool.Id,
    counts,
    faults,
    call,
    /** A user with a permanent password, and the tokens of a USER_PASSWORD_AUTH login. */
    async user(name) {
      const email = `${name}@example.test`; // cognito-local's default pool signs in by email
      await call("AdminCreateUser", { UserPoolId: pool.Id, Username: email, TemporaryPassword: "Temp-pass-1", MessageAction: "SUPPRESS", UserAttributes: [{ Name: "email", Value: email }] });
      await call("AdminSetUserPassword", { UserPoolId: pool.Id, Username: email, Password: "Perm-pass-1", Permanent: true });
      const r = await call("InitiateAuth", { AuthFlow: "USER_PASSWORD_AUTH", ClientId: client.ClientId, AuthParameters: { USERNAME: email, PASSWORD: "Perm-pass-1" } });
      if (!r.body.AuthenticationResult) throw new Error("login failed: " + JSON.stringify(r.body));
      return r.body.AuthenticationResult;
    },
    reset() { for (const k of Object.keys(counts)) counts[k] = 0; for (const k of Object.keys(faults)) faults[k] = 0; },
    async close() {
      proxy.closeAllConnections?.();
      await new Promise((r) => proxy.close(() => r()));
      child.kill();
      await new Promise((r) => (child.exitCode !== null ? r() : child.on("exit", r)));
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** For the demo: a real identity server, what the page needs to log in there, and how the dev
 * server's API validates its tokens. `kind`: "oidc-provider" or "cognito-local". */
export async function startIdp(kind, appOrigin) {
  if (kind === "oidc-provider") {
    const op = await startOidcProvider({ appOrigin, redirectPaths: ["/www/index.html"] });
    return {
      demoConfig: { idp: kind, issuer: op.issuer, clientId: "spa" },
      refreshCount: () => op.counts.refreshGrants,
      async validate(token) {
        const r = await fetch(op.issuer + "/me", { headers: { Authorization: "Bearer " + token } });
        return r.ok ? r.json() : null;
      },
      close: () => op.close(),
    };
  }
  if (kind === "cognito-local") {
    const cg = await startCognitoLocal();
    await cg.user("alice");
    return {
      demoConfig: { idp: kind, endpoint: cg.endpoint, clientId: cg.clientId, username: "alice@example.test", password: "Perm-pass-1" },
      refreshCount: () => cg.counts.refresh,
      async validate(token) {
        const r = await cg.call("GetUser", { AccessToken: token });
        return r.status === 200 ? { sub: r.body.Username } : null;
      },
      close: () => cg.close(),
    };
  }
  throw new Error(`IDP=${kind}: use "oidc-provider", "cognito-local" or "dev"`);
}
