// Shared set-up for the end-to-end tests: the dev server on 127.0.0.1 (plus a second origin on
// 127.0.0.2 for cross-origin checks) and headless Chromium driven by playwright-core.
import { chromium } from "playwright-core";
import { createDevServer } from "../../server/dev-server.mjs";

export const CHROME = process.env.CHROME || "/usr/bin/chromium";
/** `SG_FLAVOUR=lite`: the tiers run again against sessionguard/lite (scripts/test.sh); the test
 * pages then load `/pkg/lite.js` (they are opened with `?lite`). */
export const LITE = process.env.SG_FLAVOUR === "lite";
/** The browser entry of the flavour under test, as the pages load it. */
export const ENTRY = LITE ? "/pkg/lite.js" : "/pkg/sessionguard.js";
/** Options of a test that needs what only the full build has (sign-in, DPoP): skipped on lite. */
export const FULL_ONLY = { skip: LITE && "sign-in and DPoP are in the full build only" };
export const CHROME_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-quic", "--no-first-run", "--disable-component-update", "--disable-sync"];

export async function start({ extraStatic, page: pagePath = "/www/test.html", jsFlags } = {}) {
  const dev = createDevServer({ extraStatic });
  const port = await dev.listen(0, "127.0.0.1");
  const foreignPort = await dev.listenAlso("127.0.0.2");
  const args = [...CHROME_ARGS];
  if (jsFlags) args.push(`--js-flags=${jsFlags}`);
  const browser = await chromium.launch({ executablePath: CHROME, args, headless: true });
  const context = await browser.newContext();
  const origin = `http://127.0.0.1:${port}`;
  const foreign = `http://127.0.0.2:${foreignPort}`;
  const errors = [];

  async function openPage(path = pagePath) {
    const page = await context.newPage();
    page.on("pageerror", (e) => errors.push(String(e)));
    // `?full`: the full entry even on a lite run (a sign-in that only sets a lite test up)
    await page.goto(origin + path + (LITE && !path.includes("full") ? (path.includes("?") ? "&lite" : "?lite") : ""));
    await page.waitForFunction(() => window.sgReady || window.sgError, null, { timeout: 20_000 });
    const err = await page.evaluate(() => window.sgError);
    if (err) throw new Error("the page failed to load sessionguard: " + err);
    return page;
  }
  const page = await openPage();

  async function control(path, body) {
    const r = await fetch(origin + "/__control/" + path, { method: body === undefined ? "GET" : "POST", headers: { "Content-Type": "application/json" }, body: body === undefined ? undefined : JSON.stringify(body) });
    if (!r.ok) throw new Error(`control ${path}: ${r.status} ${await r.text()}`);
    return r.json();
  }
  return {
    origin, foreign, page, context, browser, errors, openPage,
    faults: (f) => control("faults", f),
    reset: () => control("reset", {}),
    revoke: () => control("revoke", {}),
    stats: async (withLog = false) => control(withLog ? "stats?log" : "stats"),
    async login(opts = {}) {
      const r = await fetch(origin + "/auth/login", { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(opts) });
      return r.json();
    },
    async close() {
      await browser.close();
      await dev.close();
    },
  };
}
