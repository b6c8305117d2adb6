// The start-up bench (`npm run bench`, called by bench/run.mjs; alone: `node bench/startup.mjs
// [rounds]` after a build): the time from navigation to the first authenticated answer of an
// app's page, a returning user with a stored session, cold cache, on a throttled link
// (Chromium DevTools Protocol: 1.6 Mbps down and up, 150 ms latency, cache disabled), side by
// side in one run:
//   none            no library: the page reads its token from localStorage and calls the API
//   oidc-client-ts  UserManager.getUser() from localStorage, then the call with its token
//   auth0-spa-js    createAuth0Client({ cacheLocation: "localstorage" }), getTokenSilently()
//                   (from its cache), then the call
//   sessionguard, sessionguard/lite
//                   SessionManager.create({ storage: "local" }), then session.fetch()
// each as a plain page (the library imported by the page's script) and with preload tags in the
// head (<link rel="modulepreload"> for the entry; for sessionguard also
// <link rel="preload" as="fetch" type="application/wasm" crossorigin> for its module, so the
// module's download starts with the page instead of after the entry ran).
// Every round: a fresh browser context (empty HTTP cache, its own renderer), the stored session
// seeded before the page loads; the variants interleaved, their order rotating. The files go
// out gzip -9 compressed, as a production server sends them (the dev server sends them raw);
// the API, token and login endpoints are the dev server's. The server counts every file's
// downloads: a preload the page does not reuse (a second download of the module) is reported.
import http from "node:http";
import { readFileSync } from "node:fs";
import { gzipSync } from "node:zlib";
import { join, extname } from "node:path";

const root = new URL("..", import.meta.url).pathname;
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const round = (x, d = 0) => Math.round(x * 10 ** d) / 10 ** d;

/** The link: 1.6 Mbps down and up (bytes/s), 150 ms latency. */
export const LINK = { offline: false, latency: 150, downloadThroughput: 1.6e6 / 8, uploadThroughput: 1.6e6 / 8 };

const CLIENT = "bench";
/** The peers' bundles (bundleVendors), in the vendor folder. */
const VENDOR = { oidc: "startup-oidc-client-ts.js", auth0: "startup-auth0-spa-js.js" };
/** What each page imports, what it preloads, and how it gets its first authenticated answer. */
const LIBS = {
  none: {
    label: "no library",
    preload: [],
    script: `const { access_token } = JSON.parse(localStorage.getItem("bench.session"));
      const res = await fetch("/api/me", { headers: { Authorization: "Bearer " + access_token } });`,
  },
  oidc: {
    label: "oidc-client-ts",
    preload: ['<link rel="modulepreload" href="/bench-vendor/startup-oidc-client-ts.js">'],
    imports: `import { UserManager, WebStorageStateStore } from "/bench-vendor/startup-oidc-client-ts.js";`,
    script: `const um = new UserManager({ authority: location.origin, client_id: "${CLIENT}", redirect_uri: location.origin + "/", userStore: new WebStorageStateStore({ store: localStorage }) });
      const user = await um.getUser();
      const res = await fetch("/api/me", { headers: { Authorization: "Bearer " + user.access_token } });`,
  },
  auth0: {
    label: "auth0-spa-js",
    preload: ['<link rel="modulepreload" href="/bench-vendor/startup-auth0-spa-js.js">'],
    imports: `import { createAuth0Client } from "/bench-vendor/startup-auth0-spa-js.js";`,
    script: `const auth0 = await createAuth0Client({ domain: location.origin, clientId: "${CLIENT}", cacheLocation: "localstorage", authorizationParams: { redirect_uri: location.origin + "/" } });
      const token = await auth0.getTokenSilently();
      const res = await fetch("/api/me", { headers: { Authorization: "Bearer " + token } });`,
  },
  full: {
    label: "sessionguard",
    preload: ['<link rel="modulepreload" href="/pkg/sessionguard.js">', '<link rel="preload" href="/pkg/sessionguard_bg.wasm" as="fetch" type="application/wasm" crossorigin>'],
    imports: `import { SessionManager } from "/pkg/sessionguard.js";`,
    script: `const session = await SessionManager.create({ refresh: { type: "oauth2", tokenUrl: "/oauth/token", clientId: "${CLIENT}" }, storage: "local" });
      const res = await session.fetch("/api/me");`,
  },
  lite: {
    label: "sessionguard/lite",
    preload: ['<link rel="modulepreload" href="/pkg/lite.js">', '<link rel="preload" href="/pkg/sessionguard_lite_bg.wasm" as="fetch" type="application/wasm" crossorigin>'],
    imports: `import { SessionManager } from "/pkg/lite.js";`,
    script: `const session = await SessionManager.create({ refresh: { type: "oauth2", tokenUrl: "/oauth/token", clientId: "${CLIENT}" }, storage: "local" });
      const res = await session.fetch("/api/me");`,
  },
};

const page = (lib, preload) => `<!doctype html>
<html><head><meta charset="utf-8"><title>start-up: ${LIBS[lib].label}${preload ? ", preloaded" : ""}</title>
${preload ? LIBS[lib].preload.join("\n") : ""}
</head>
<body>
<p>An app's page: a returning user's first authenticated call.</p>
<script type="module">
  ${LIBS[lib].imports ?? ""}
  try {
    ${LIBS[lib].script}
    const body = await res.json();
    window.startup = { ms: performance.now(), status: res.status, sub: body.sub ?? body.user ?? null };
  } catch (e) {
    window.startup = { error: String(e && e.stack || e) };
  }
</script>
</body></html>
`;

/**
 * Runs the bench. `browser`: a playwright-core Chromium; `dev`: a dev server (its handler
 * answers what this server does not: the API, the token endpoint, logins); `vendor`: the folder
 * of the peers' browser bundles (bundleVendors writes them).
 */
export async function startupBench({ browser, dev, vendor, rounds = 12, log = () => {} }) {
  // ---- the server: compressed files, request counts, the rest to the dev server --------------
  const files = new Map(); // path -> { type, gz, raw }
  const add = (path, data) => files.set(path, { type: TYPES[extname(path)], data, gz: gzipSync(data, { level: 9 }) });
  for (const f of ["sessionguard.js", "sessionguard_bg.wasm", "lite.js", "sessionguard_lite_bg.wasm"]) add("/pkg/" + f, readFileSync(join(root, "pkg", f)));
  for (const f of Object.values(VENDOR)) add("/bench-vendor/" + f, readFileSync(join(vendor, f)));
  for (const lib of Object.keys(LIBS)) {
    for (const preload of [false, true]) add(`/startup/${lib}${preload ? "-preload" : ""}.html`, Buffer.from(page(lib, preload)));
  }
  let counts = {};
  const server = http.createServer((req, res) => {
    const path = new URL(req.url, "http://x").pathname;
    counts[path] = (counts[path] || 0) + 1;
    const f = files.get(path);
    if (!f) return dev.server.emit("request", req, res);
    const gzip = /\bgzip\b/.test(req.headers["accept-encoding"] || "");
    res.writeHead(200, { "Content-Type": f.type, "Cache-Control": "no-cache", ...(gzip ? { "Content-Encoding": "gzip" } : {}), "Content-Length": gzip ? f.gz.length : f.data.length });
    res.end(gzip ? f.gz : f.data);
  });
  server.keepAliveTimeout = 1000;
  await new Promise((r) => server.listen(0, "127.0.0.1", r));
  const origin = `http://127.0.0.1:${server.address().port}`;

  try {
    // ---- the stored session each library finds ------------------------------------------------
    const t = await (await fetch(origin + "/auth/login", { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ accessTtl: 3600 }) })).json();
    const seeded = await seed(browser, origin, t);

    // ---- the rounds -------------------------------------------------------------------------------
    const variants = Object.keys(LIBS).flatMap((lib) => [[lib, false], [lib, true]]);
    const times = Object.fromEntries(variants.map(([lib, p]) => [key(lib, p), []]));
    const downloads = {}; // per variant: the most downloads of any one file in a round
    const requests = {}; // per variant: what its last round requested, path -> count
    for (let r = 0; r < rounds; r++) {
      const order = variants.map((_, i) => variants[(i + r * 3) % variants.length]);
      for (const [lib, preload] of order) {
        const { ms, most, counts: c } = await load(browser, seeded, `${origin}/startup/${lib}${preload ? "-preload" : ""}.html`, () => { counts = {}; }, () => counts);
        times[key(lib, preload)].push(ms);
        downloads[key(lib, preload)] = Math.max(downloads[key(lib, preload)] || 0, most);
        requests[key(lib, preload)] = c;
      }
      log(`start-up round ${r + 1}/${rounds}: ` + variants.map(([lib, p]) => `${key(lib, p)} ${round(times[key(lib, p)][r])}`).join(", "));
    }

    const results = { link: "1.6 Mbps down and up, 150 ms latency (Chromium DevTools Protocol), cache disabled, files sent gzip -9", rounds, scenario: "a returning user's page: its stored session restored, the first authenticated call answered", pages: {} };
    for (const [lib, preload] of variants) {
      const k = key(lib, preload);
      results.pages[k] = { label: LIBS[lib].label + (preload ? ", preload tags" : ""), medianMs: round(median(times[k])), minMs: round(Math.min(...times[k])), maxMs: round(Math.max(...times[k])), mostDownloadsOfOneFile: downloads[k], requests: requests[k], roundsMs: times[k].map((x) => round(x)) };
    }
    const m = (k) => results.pages[k].medianMs;
    results.bytes = Object.fromEntries([...files].filter(([p]) => !p.endsWith(".html")).map(([p, f]) => [p, { raw: f.data.length, gzip: f.gz.length }]));
    results.goals = {
      fullVsAuth0: round(m("full") / m("auth0"), 2),
      fullPreloadVsAuth0: round(m("full-preload") / m("auth0"), 2),
      fullPreloadVsAuth0Preload: round(m("full-preload") / m("auth0-preload"), 2),
      liteVsOidc: round(m("lite") / m("oidc"), 2),
      litePreloadVsOidc: round(m("lite-preload") / m("oidc"), 2),
      litePreloadVsOidcPreload: round(m("lite-preload") / m("oidc-preload"), 2),
    };
    return results;
  } finally {
    server.closeAllConnections?.();
    await new Promise((r) => server.close(r));
  }
}

const key = (lib, preload) => lib + (preload ? "-preload" : "");
const TYPES = { ".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8", ".wasm": "application/wasm" };

/** One page load in a fresh context: ms to the first authenticated answer, and the most any one
 * file was downloaded (1: every preload was reused). */
async function load(browser, storageState, url, reset, counted) {
  const ctx = await browser.newContext({ storageState });
  try {
    const p = await ctx.newPage();
    const said = [];
    p.on("console", (m) => said.push(m.text()));
    p.on("pageerror", (e) => said.push(String(e)));
    const cdp = await ctx.newCDPSession(p);
    await cdp.send("Network.enable");
    await cdp.send("Network.setCacheDisabled", { cacheDisabled: true });
    await cdp.send("Network.emulateNetworkConditions", LINK);
    reset();
    await p.goto(url, { waitUntil: "commit" });
    await p.waitForFunction(() => window.startup, null, { timeout: 60_000 }).catch((e) => {
      throw new Error(`start-up: ${url} did not answer: ${e.message}; the page said: ${said.join("; ") || "nothing"}; requests: ${JSON.stringify(counted())}`);
    });
    const s = await p.evaluate(() => window.startup);
    if (s.error || s.status !== 200) throw new Error(`start-up: ${url}: ${s.error || "status " + s.status}`);
    const c = counted();
    const most = Math.max(...Object.entries(c).filter(([path]) => !path.startsWith("/api/")).map(([, n]) => n));
    return { ms: s.ms, most, counts: c };
  } finally {
    await ctx.close();
  }
}

/** The localStorage a returning user has, for each library: its stored session, made once. */
async function seed(browser, origin, t) {
  const nowS = Math.floor(Date.now() / 1000);
  const claims = JSON.parse(Buffer.from(t.id_token.split(".")[1], "base64url"));
  const ctx = await browser.newContext();
  try {
    const p = await ctx.newPage();
    await p.goto(origin + "/startup/none.html", { waitUntil: "commit" });
    // sessionguard's own record, as setTokens() with storage: "local" writes it (both flavours
    // read the same record)
    await p.evaluate(async (t) => {
      localStorage.clear();
      const { SessionManager } = await import("/pkg/sessionguard.js");
      const s = await SessionManager.create({ refresh: { type: "oauth2", tokenUrl: "/oauth/token", clientId: "bench" }, storage: "local", crossTab: false });
      s.setTokens(t);
      s.dispose();
    }, t);
    const scope = "openid profile email";
    const idToken = { id_token: t.id_token, decodedToken: { encoded: { header: "", payload: "", signature: "" }, header: { alg: "RS256" }, claims: { __raw: t.id_token, ...claims }, user: { sub: claims.sub } } };
    await p.evaluate(({ t, nowS, claims, scope, idToken, client }) => {
      // no library: the page's own record
      localStorage.setItem("bench.session", JSON.stringify({ access_token: t.access_token, refresh_token: t.refresh_token }));
      // oidc-client-ts: its User, as UserManager.storeUser() writes it
      localStorage.setItem(`oidc.user:${location.origin}:${client}`, JSON.stringify({ id_token: t.id_token, access_token: t.access_token, refresh_token: t.refresh_token, token_type: "Bearer", scope: "openid", profile: claims, expires_at: nowS + t.expires_in }));
      // auth0-spa-js: its cache entries (the access token and the ID token), as it writes them
      localStorage.setItem(`@@auth0spajs@@::${client}::default::${scope}`, JSON.stringify({ body: { access_token: t.access_token, id_token: t.id_token, scope, expires_in: t.expires_in, token_type: "Bearer", decodedToken: idToken.decodedToken, audience: "default", client_id: client }, expiresAt: nowS + t.expires_in }));
      localStorage.setItem(`@@auth0spajs@@::${client}::@@user@@`, JSON.stringify(idToken));
    }, { t, nowS, claims, scope, idToken, client: CLIENT });
    return await ctx.storageState();
  } finally {
    await ctx.close();
  }
}

// alone: `node bench/startup.mjs [rounds]` (after a build)
if (import.meta.url === `file://${process.argv[1]}`) {
  const { chromium } = await import("playwright-core");
  const esbuild = await import("esbuild");
  const { createDevServer } = await import("../server/dev-server.mjs");
  const vendor = join(root, "bench/tmp");
  await bundleVendors(esbuild, vendor);
  const dev = createDevServer();
  const browser = await chromium.launch({ executablePath: process.env.CHROME || "/usr/bin/chromium", args: ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-quic", "--no-first-run", "--disable-component-update", "--disable-sync"] });
  try {
    const r = await startupBench({ browser, dev, vendor, rounds: Number(process.argv[2]) || 3, log: (...a) => console.log("bench:", ...a) });
    console.log(JSON.stringify(r, null, 2));
  } finally {
    await browser.close();
  }
}

/** The peers' browser bundles, as an app's bundler would make them (esbuild, minified). */
export async function bundleVendors(esbuild, vendor) {
  for (const [name, file] of Object.entries(VENDOR)) {
    const contents = name === "oidc" ? `export { UserManager, WebStorageStateStore } from "oidc-client-ts";` : `export { createAuth0Client } from "@auth0/auth0-spa-js";`;
    await esbuild.build({ stdin: { contents, resolveDir: root, loader: "js" }, bundle: true, minify: true, format: "esm", target: "es2020", platform: "browser", outfile: join(vendor, file), logLevel: "error" });
  }
}
