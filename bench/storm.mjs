// The refresh storms of `npm run bench`, also runnable alone (`node bench/storm.mjs`, after a
// build) while working on how calls are parked and released.
//
// The storm: 500 calls at once on an opaque access token that the API refuses (every call gets
// a 401 first), a token endpoint that answers after 100 ms, one page. sessionguard, through
// `session.fetch` and through `attachAxios`, is timed against a careful hand-written single
// flight doing the same work (one refresh shared by every 401, then one replay of each call with
// the new token), written once with fetch and once as axios interceptors. Rounds interleave the
// two sides (which goes first alternates); the server's counts are checked to be the same work;
// times are medians and each ratio is the median of the rounds' own ratios. Measured twice:
// - warm: in the benchmark page, after the interceptor benchmarks warmed the JIT;
// - cold: each run in a fresh page (its own browser context), the storm the first thing the
//   page does, as an app's first burst meets it (the module still runs in V8's baseline tier).
import { fileURLToPath } from "node:url";

export const STORM_CALLS = 500;
export const REFRESH_LATENCY_MS = 100;
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const round = (x, d = 2) => Math.round(x * 10 ** d) / 10 ** d;

/** The two storms (fetch, axios), warm and cold, and axios-auth-refresh's answer to the same. */
export async function stormBench({ browser, origin, page, log = () => {}, warmRounds = 5, coldRounds = 7 }) {
  const control = async (path, body) => (await fetch(origin + "/__control/" + path, { method: body === undefined ? "GET" : "POST", headers: { "Content-Type": "application/json" }, body: body === undefined ? undefined : JSON.stringify(body) })).json();
  const login = async (o = {}) => (await fetch(origin + "/auth/login", { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(o) })).json();
  const n = STORM_CALLS;
  const once = async (fn, p = page) => {
    await control("reset", {});
    const t = await login({ accessTtl: 3600 });
    await control("faults", { tokenLatencyMs: REFRESH_LATENCY_MS });
    const r = await p.evaluate(([fn, args]) => window.bench[fn](...args), [fn, [n, t]]);
    return { ...r, server: (await control("stats")).counts };
  };
  const fresh = async (fn) => {
    const ctx = await browser.newContext();
    const p = await ctx.newPage();
    await p.goto(origin + "/www/bench.html");
    await p.waitForFunction(() => window.benchReady, null, { timeout: 30_000 });
    const r = await once(fn, p);
    await ctx.close();
    return r;
  };
  const rounds = async (count, one, [ours, theirs]) => {
    const sg = [];
    const hand = [];
    for (let i = 0; i < count; i++) {
      if (i % 2) { hand.push(await one(theirs)); sg.push(await one(ours)); }
      else { sg.push(await one(ours)); hand.push(await one(theirs)); }
    }
    const ratios = sg.map((r, i) => r.ms / hand[i].ms);
    return { sg, hand, ratio: round(median(ratios)), spread: [round(Math.min(...ratios)), round(Math.max(...ratios))] };
  };
  const pick = (runs) => ({
    refreshes: Math.max(...runs.map((r) => r.server.refresh)),
    answered: Math.min(...runs.map((r) => r.ok)),
    sends: Math.max(...runs.map((r) => r.server.api)),
    ms: round(median(runs.map((r) => r.ms)), 0),
  });
  const storm = async (pair) => {
    const warm = await rounds(warmRounds, (fn) => once(fn), pair);
    const cold = await rounds(coldRounds, fresh, pair);
    const out = {
      warm: { sessionguard: pick(warm.sg), handWritten: pick(warm.hand), ratio: warm.ratio, spread: warm.spread, rounds: warm.sg.length },
      cold: { sessionguard: pick(cold.sg), handWritten: pick(cold.hand), ratio: cold.ratio, spread: cold.spread, rounds: cold.sg.length },
    };
    // the same work on both sides, or the ratio means nothing
    for (const side of [out.warm, out.cold]) {
      const [a, b] = [side.sessionguard, side.handWritten];
      if (a.answered !== n || b.answered !== n || a.refreshes !== 1 || b.refreshes !== 1 || a.sends !== 2 * n || b.sends !== 2 * n) {
        throw new Error("storm: the two sides did different work: " + JSON.stringify(side));
      }
    }
    return out;
  };
  const result = { calls: n, refreshLatencyMs: REFRESH_LATENCY_MS, target: 1.1 };
  result.fetch = await storm(["stormSg", "stormHand"]);
  log("storm, fetch", JSON.stringify(result.fetch));
  result.axios = await storm(["stormSgAxios", "stormHandAxios"]);
  log("storm, axios", JSON.stringify(result.axios));
  const aar = await once("stormAar");
  result.axiosAuthRefresh = { refreshes: aar.server.refresh, answered: aar.ok, sends: aar.server.api, ms: round(aar.ms, 0) };
  return result;
}

// alone: its own dev server and browser
if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const { createDevServer } = await import("../server/dev-server.mjs");
  const { chromium } = await import("playwright-core");
  const root = new URL("..", import.meta.url).pathname;
  const esbuild = await import("esbuild");
  const tmp = root + "bench/tmp";
  await esbuild.build({ stdin: { contents: `export { default as axios } from "axios"; export { default as createAuthRefreshInterceptor } from "axios-auth-refresh"; export { default as axiosRetry } from "axios-retry";`, resolveDir: root, loader: "js" }, bundle: true, format: "esm", target: "es2020", platform: "browser", outfile: tmp + "/peers.js", logLevel: "error" });
  const dev = createDevServer({ extraStatic: { "/bench-vendor/": tmp } });
  const origin = `http://127.0.0.1:${await dev.listen(0, "127.0.0.1")}`;
  const browser = await chromium.launch({ executablePath: process.env.CHROME || "/usr/bin/chromium", args: ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-quic", "--no-first-run"] });
  const page = await (await browser.newContext()).newPage();
  page.on("pageerror", (e) => console.error("page error:", e));
  await page.goto(origin + "/www/bench.html");
  await page.waitForFunction(() => window.benchReady, null, { timeout: 30_000 });
  const only = process.argv[2];
  const r = await stormBench({ browser, origin, page, log: (...a) => console.log("storm:", ...a), warmRounds: Number(process.env.WARM || 5), coldRounds: Number(process.env.COLD || 7) });
  console.log(JSON.stringify({ fetch: [r.fetch.warm.ratio, r.fetch.cold.ratio], axios: [r.axios.warm.ratio, r.axios.cold.ratio], only }));
  await browser.close();
  await dev.close();
}
