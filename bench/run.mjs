// `npm run bench`: sessionguard side by side with the peers, in one run, in headless Chromium
// against the dev server on 127.0.0.1. Writes bench/results.json and the README's table.
// Ratios matter more than absolute times on a shared machine; each timing is the median of
// several rounds, the two sides interleaved (which goes first alternates), and each ratio is the
// median of the rounds' own ratios: the two sides of a round ran seconds apart, while the
// machine's speed drifts between rounds.
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { gzipSync, brotliCompressSync, constants } from "node:zlib";
import { join } from "node:path";
import * as esbuild from "esbuild";
import { chromium } from "playwright-core";
import { createDevServer } from "../server/dev-server.mjs";
import { sizes as ownSizes } from "../scripts/size.mjs";
import { startupBench, bundleVendors } from "./startup.mjs";
import { stormBench } from "./storm.mjs";

const root = new URL("..", import.meta.url).pathname;
const tmp = join(root, "bench/tmp");
mkdirSync(tmp, { recursive: true });
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
/** The median of the per-round ratios `ours[i] / theirs[i]`. */
const pairedRatio = (ours, theirs) => median(ours.map((x, i) => x / theirs[i]));
const round = (x, d = 2) => Math.round(x * 10 ** d) / 10 ** d;
const log = (...a) => console.log("bench:", ...a);

// ---- vendor bundles for the page, and the peers' sizes --------------------------------------

async function bundle(contents, outfile, { minify = true, external = [] } = {}) {
  await esbuild.build({ stdin: { contents, resolveDir: root, loader: "js" }, bundle: true, minify, format: "esm", target: "es2020", platform: "browser", outfile, external, logLevel: "error" });
  return readFileSync(outfile);
}
const measure = (buf) => ({ min: buf.length, gzip: gzipSync(buf, { level: 9 }).length, brotli: brotliCompressSync(buf, { params: { [constants.BROTLI_PARAM_QUALITY]: 11 } }).length });

await bundle(`export { default as axios } from "axios"; export { default as createAuthRefreshInterceptor } from "axios-auth-refresh"; export { default as axiosRetry } from "axios-retry";`, join(tmp, "peers.js"), { minify: false });
await bundle(`export * from "oidc-client-ts";`, join(tmp, "oidc-client-ts.js"));

const version = (p) => JSON.parse(readFileSync(join(root, "node_modules", p, "package.json"), "utf8")).version;
const peers = [
  ["oidc-client-ts", `export * from "oidc-client-ts";`, []],
  ["@supabase/auth-js", `export * from "@supabase/auth-js";`, []],
  ["@auth0/auth0-spa-js", `export * from "@auth0/auth0-spa-js";`, []],
  ["axios-auth-refresh", `export { default } from "axios-auth-refresh";`, ["axios"]],
  ["axios-retry", `export { default } from "axios-retry";`, ["axios"]],
  ["axios", `export { default } from "axios";`, []],
];
const own = ownSizes();
const flavourSize = (s) => ({ min: s.total.raw, gzip: s.total.gzip, brotli: s.total.brotli, wasmGzip: s.wasm.gzip, jsGzip: s.js.gzip });
const size = { sessionguard: flavourSize(own.full), "sessionguard/lite": flavourSize(own.lite) };
for (const [name, entry, external] of peers) {
  size[name] = { version: version(name), ...measure(await bundle(entry, join(tmp, "size.js"), { external })) };
}
log("sizes measured");

// ---- the browser ------------------------------------------------------------------------------

const dev = createDevServer({ extraStatic: { "/bench-vendor/": tmp } });
const port = await dev.listen(0, "127.0.0.1");
const origin = `http://127.0.0.1:${port}`;
const browser = await chromium.launch({
  executablePath: process.env.CHROME || "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-quic", "--no-first-run", "--disable-component-update", "--disable-sync", "--js-flags=--expose-gc", "--enable-precise-memory-info"],
});
const context = await browser.newContext();
const page = await context.newPage();
page.on("pageerror", (e) => console.error("page error:", e));
await page.goto(origin + "/www/bench.html");
await page.waitForFunction(() => window.benchReady, null, { timeout: 30_000 });
const control = async (path, body) => (await fetch(origin + "/__control/" + path, { method: body === undefined ? "GET" : "POST", headers: { "Content-Type": "application/json" }, body: body === undefined ? undefined : JSON.stringify(body) })).json();
const login = async (o = {}) => (await fetch(origin + "/auth/login", { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(o) })).json();
const run = (fn, ...args) => page.evaluate(([fn, args]) => window.bench[fn](...args), [fn, args]);

const results = { date: new Date().toISOString(), machine: "2 cores, headless Chromium, dev server on 127.0.0.1", size };

// 1. interceptor cost
{
  const f = await run("fetchOverhead", 50000);
  const a = await run("axiosOverhead", 20000);
  const d = await run("dpopOverhead", 2000);
  results.interceptor = {
    fetch: { plainUs: round(median(f.plainUs)), sessionguardUs: round(median(f.sgUs)), ratio: round(pairedRatio(f.sgUs, f.plainUs)), asyncPathUs: round(median(f.sgAsyncUs)), fastPathGain: round(pairedRatio(f.sgAsyncUs, f.sgUs)) },
    axios: { axiosAuthRefreshUs: round(median(a.aarUs)), sessionguardUs: round(median(a.sgUs)), ratio: round(pairedRatio(a.sgUs, a.aarUs)) },
    dpop: { handWrittenUs: round(median(d.handUs)), sessionguardUs: round(median(d.sgUs)), ratio: round(pairedRatio(d.sgUs, d.handUs)) },
  };
  log("interceptor", JSON.stringify(results.interceptor), "rounds:", JSON.stringify({ f, a, d }));
}

// 2. real calls
{
  await control("reset", {});
  const r = await run("realCalls", 1000, 7);
  const ratios = r.sgUs.map((x, i) => x / r.rawUs[i]);
  results.realCalls = {
    rawFetchUs: round(median(r.rawUs)), sessionguardUs: round(median(r.sgUs)), ratio: round(median(ratios), 3),
    spread: [round(Math.min(...ratios), 3), round(Math.max(...ratios), 3)], rounds: ratios.length,
  };
  log("real calls", JSON.stringify(results.realCalls));
}

// 3. refresh storms (bench/storm.mjs): 500 calls on an opaque token the API refuses, a token
// endpoint answering after 100 ms, through `session.fetch` and through `attachAxios`, each
// against a hand-written single flight doing the same work; warm page and fresh pages
results.storm = await stormBench({ browser, origin, page, log });
log("storm", JSON.stringify(results.storm));

// 4. a quota of 100 requests/s, 1,000 calls at once
{
  const n = 1000;
  const q = async (fn, ...args) => {
    await control("reset", {});
    const t = await login({ accessTtl: 3600 });
    await control("faults", { apiThrottleRps: 100 });
    const r = await run(fn, n, t, ...args);
    const st = (await control("stats")).counts;
    return { ms: round(r.ms, 0), answered200: r.ok, sends: st.api, throttled: st.apiThrottled, throttledShare: round(st.apiThrottled / st.api, 3) };
  };
  results.quota = {
    calls: n,
    idealMs: 10000,
    sessionguardRateLimit: await q("quotaSg", { requestsPerSecond: 100, burst: 10 }),
    sessionguardRetriesOnly: await q("quotaSg", null),
    axiosRetry: await q("quotaAxiosRetry"),
  };
  log("quota", JSON.stringify(results.quota));
}

// 6. start-up, fresh pages
{
  const times = { sessionguard: [], oidc: [] };
  for (let i = 0; i < 5; i++) {
    for (const lib of ["sessionguard", "oidc"]) {
      const p = await context.newPage();
      await p.goto(`${origin}/www/startup.html?lib=${lib}`);
      await p.waitForFunction(() => window.startupMs !== undefined, null, { timeout: 30_000 });
      times[lib].push(await p.evaluate(() => window.startupMs));
      await p.close();
    }
  }
  results.startup = { sessionguardMs: round(median(times.sessionguard)), oidcClientTsMs: round(median(times.oidc)), ratio: round(median(times.sessionguard) / median(times.oidc)) };
  log("start-up", JSON.stringify(results.startup));
}

// 8. start-up on a slow link: the time to the first authenticated answer, cold cache (bench/startup.mjs)
{
  await bundleVendors(esbuild, tmp);
  results.startupNetwork = await startupBench({ browser, dev, vendor: tmp, rounds: 12, log });
  const p = results.startupNetwork.pages;
  console.log("bench: start-up, a returning user's first authenticated answer (" + results.startupNetwork.link + ", medians of " + results.startupNetwork.rounds + " rounds):");
  for (const v of Object.values(p)) console.log(`bench:   ${v.label.padEnd(36)} ${String(v.medianMs).padStart(5)} ms  (${v.minMs}–${v.maxMs})${v.mostDownloadsOfOneFile > 1 ? "  a file was downloaded twice: a preload not reused" : ""}`);
  log("start-up goals", JSON.stringify(results.startupNetwork.goals));
}

// 7. memory
{
  const m = await run("memory", 10000, 1000);
  results.memory = {
    calls: "10,000 fetch + 10,000 axios",
    refreshes: m.refreshes,
    wasmGrowthBytes: m.after.wasm - m.before.wasm,
    jsHeapGrowthBytes: m.after.heap - m.before.heap,
  };
  log("memory", JSON.stringify(results.memory));
}

await browser.close();
await dev.close();
writeFileSync(join(root, "bench/results.json"), JSON.stringify(results, null, 2) + "\n");

// ---- the README table -----------------------------------------------------------------------

const kb = (n) => (n / 1024).toFixed(1);
/** The start-up table: ms to the first authenticated answer, plain page and with preload tags. */
function startupTable(st) {
  const p = st.pages;
  const cell = (k) => `${p[k].medianMs} ms${p[k].mostDownloadsOfOneFile > 1 ? " (a preload not reused!)" : ""}`;
  const vs = (a, b) => (p[a].medianMs / p[b].medianMs).toFixed(2);
  const rows = [
    ["none", "no library (the page's own token, no tags to add)"],
    ["oidc", `oidc-client-ts ${size["oidc-client-ts"].version}`],
    ["auth0", `@auth0/auth0-spa-js ${size["@auth0/auth0-spa-js"].version}`],
    ["full", "**sessionguard**"],
    ["lite", "**sessionguard/lite**"],
  ];
  return `Start-up on a slow link: a returning user's page, from navigation to the first authenticated
answer (the library loaded, its stored session restored, one API call answered). Link:
${st.link}; the median of ${st.rounds} rounds, each in a fresh browser context (\`bench/startup.mjs\`). Preload tags:
\`<link rel="modulepreload">\` for the entry and, for sessionguard, \`<link rel="preload" as="fetch"
crossorigin>\` for its module (see Quick start).

| page | plain | with preload tags |
| --- | --- | --- |
${rows.map(([k, label]) => `| ${label} | ${cell(k)} | ${cell(k + "-preload")} |`).join("\n")}

Goals: sessionguard no slower than auth0-spa-js: ${vs("full", "auth0")} plain, ${vs("full-preload", "auth0-preload")} both with preload tags (target ≤ 1.00);
sessionguard/lite within 1.25× of oidc-client-ts: ${vs("lite", "oidc")} plain, ${vs("lite-preload", "oidc-preload")} both with preload tags (target ≤ 1.25).`;
}
const r = results;
const table = `<!-- bench:start (written by npm run bench) -->
Measured ${r.date.slice(0, 10)} by \`npm run bench\` (${r.machine}); raw numbers in \`bench/results.json\`.

| what | sessionguard | peer | ratio (target) |
| --- | --- | --- | --- |
| fetch interceptor, stubbed transport, per call | ${r.interceptor.fetch.sessionguardUs} µs | hand-written header wrapper ${r.interceptor.fetch.plainUs} µs | ${r.interceptor.fetch.ratio} (≤ 2.0) |
| the same call through the driver's async path (no fast path), A/B | ${r.interceptor.fetch.asyncPathUs} µs | the fast path ${r.interceptor.fetch.sessionguardUs} µs | fast path ${r.interceptor.fetch.fastPathGain}× cheaper |
| fetch with \`dpop: true\`, stubbed transport, per call (a proof signed each call) | ${r.interceptor.dpop.sessionguardUs} µs | hand-written WebCrypto proof wrapper ${r.interceptor.dpop.handWrittenUs} µs | ${r.interceptor.dpop.ratio} |
| axios interceptors, stub adapter, per call | ${r.interceptor.axios.sessionguardUs} µs | axios-auth-refresh ${r.interceptor.axios.axiosAuthRefreshUs} µs | ${r.interceptor.axios.ratio} (≤ 1.3) |
| real calls to the dev server, sequential | ${r.realCalls.sessionguardUs} µs | raw fetch ${r.realCalls.rawFetchUs} µs | ${r.realCalls.ratio} (≤ 1.03) |
| storm through \`session.fetch\`: ${r.storm.calls} calls, every one 401 first, refresh answered after ${r.storm.refreshLatencyMs} ms; warm page | ${r.storm.fetch.warm.sessionguard.refreshes} refresh, **${r.storm.fetch.warm.sessionguard.answered} answered**, ${r.storm.fetch.warm.sessionguard.sends} sends, ${r.storm.fetch.warm.sessionguard.ms} ms | hand-written single flight (fetch): ${r.storm.fetch.warm.handWritten.ms} ms | ${r.storm.fetch.warm.ratio} (≤ 1.10; rounds ${r.storm.fetch.warm.spread.join("–")}) |
| the same, a fresh page each run (${r.storm.fetch.cold.rounds} rounds) | ${r.storm.fetch.cold.sessionguard.answered} answered, ${r.storm.fetch.cold.sessionguard.ms} ms | ${r.storm.fetch.cold.handWritten.ms} ms | ${r.storm.fetch.cold.ratio} (≤ 1.10; rounds ${r.storm.fetch.cold.spread.join("–")}) |
| the same storm through \`attachAxios\`, warm page | ${r.storm.axios.warm.sessionguard.refreshes} refresh, **${r.storm.axios.warm.sessionguard.answered} answered**, ${r.storm.axios.warm.sessionguard.sends} sends, ${r.storm.axios.warm.sessionguard.ms} ms | hand-written single flight (axios interceptors): ${r.storm.axios.warm.handWritten.ms} ms | ${r.storm.axios.warm.ratio} (≤ 1.10; rounds ${r.storm.axios.warm.spread.join("–")}) |
| the same, a fresh page each run (${r.storm.axios.cold.rounds} rounds) | ${r.storm.axios.cold.sessionguard.answered} answered, ${r.storm.axios.cold.sessionguard.ms} ms | ${r.storm.axios.cold.handWritten.ms} ms | ${r.storm.axios.cold.ratio} (≤ 1.10; rounds ${r.storm.axios.cold.spread.join("–")}) |
| the same storm, axios-auth-refresh | | ${r.storm.axiosAuthRefresh.refreshes} refresh, **${r.storm.axiosAuthRefresh.answered} answered** (its #307), ${r.storm.axiosAuthRefresh.sends} sends, ${r.storm.axiosAuthRefresh.ms} ms | |
| quota 100/s, ${r.quota.calls} calls, \`rateLimit\` | ${r.quota.sessionguardRateLimit.ms} ms, ${r.quota.sessionguardRateLimit.throttled} throttled of ${r.quota.sessionguardRateLimit.sends} sends, ${r.quota.sessionguardRateLimit.answered200} × 200 | axios-retry (exponential): ${r.quota.axiosRetry.ms} ms, ${r.quota.axiosRetry.throttled} throttled of ${r.quota.axiosRetry.sends}, ${r.quota.axiosRetry.answered200} × 200 | ideal 10,000 ms, < 5 % throttled |
| quota 100/s, retries only | ${r.quota.sessionguardRetriesOnly.ms} ms, ${r.quota.sessionguardRetriesOnly.throttled} throttled of ${r.quota.sessionguardRetriesOnly.sends}, ${r.quota.sessionguardRetriesOnly.answered200} × 200 | | |
| start-up (import, init, construct) | ${r.startup.sessionguardMs} ms | oidc-client-ts ${r.startup.oidcClientTsMs} ms | ${r.startup.ratio} |
| memory after ${r.memory.calls} calls and ${r.memory.refreshes} refreshes | wasm +${r.memory.wasmGrowthBytes} B, JS heap ${r.memory.jsHeapGrowthBytes >= 0 ? "+" : ""}${r.memory.jsHeapGrowthBytes} B | | wasm memory flat |

The storm against axios-auth-refresh compares unlike work: it rejects all but one of the calls
after their first send, while sessionguard replays every call once, so it makes twice the
sends; the hand-written single flight does the same work as sessionguard.

${startupTable(r.startupNetwork)}

Size, minified + gzip (brotli), each package's entry bundled with esbuild:

| package | gzip | brotli |
| --- | --- | --- |
| **sessionguard** (wasm ${kb(r.size.sessionguard.wasmGzip)} + JS ${kb(r.size.sessionguard.jsGzip)}) | **${kb(r.size.sessionguard.gzip)} KB** | ${kb(r.size.sessionguard.brotli)} KB |
| **sessionguard/lite** (wasm ${kb(r.size["sessionguard/lite"].wasmGzip)} + JS ${kb(r.size["sessionguard/lite"].jsGzip)}) | **${kb(r.size["sessionguard/lite"].gzip)} KB** | ${kb(r.size["sessionguard/lite"].brotli)} KB |
${peers.map(([name]) => `| ${name} ${r.size[name].version}${name.startsWith("axios-") ? " (without axios)" : ""} | ${kb(r.size[name].gzip)} KB | ${kb(r.size[name].brotli)} KB |`).join("\n")}
<!-- bench:end -->`;
const readmePath = join(root, "README.md");
const readme = readFileSync(readmePath, "utf8");
if (readme.includes("<!-- bench:start")) {
  writeFileSync(readmePath, readme.replace(/<!-- bench:start[\s\S]*?<!-- bench:end -->/, table));
  log("README table updated");
}
log("results in bench/results.json");
