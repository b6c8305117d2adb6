// Shared set-up for the end-to-end tests: the dev server on 127.0.0.1 (plus a second origin on
// 127.0.0.2 for cross-origin checks) and headless Chromium driven by playwright-core.
import { chromium } from "playwright-core";
import { createDevServer } from "../../server/dev-server.mjs";

export const CHROME = process.env.CHROME || "/usr/bin/chromium";
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
    await page.goto(origin + path);
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
