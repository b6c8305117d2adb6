// Takes docs/demo.png: the demo after a side-by-side storm on a dead token. `npm run screenshot`.
import { chromium } from "playwright-core";
import { createDevServer } from "../server/dev-server.mjs";

const dev = createDevServer();
const port = await dev.listen(0, "127.0.0.1");
const browser = await chromium.launch({ executablePath: process.env.CHROME || "/usr/bin/chromium", args: ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-quic"] });
const page = await browser.newPage({ viewport: { width: 1280, height: 1000 }, deviceScaleFactor: 1 });
page.on("pageerror", (e) => console.error("page error:", e));
await page.goto(`http://127.0.0.1:${port}/www/index.html`);
await page.waitForFunction(() => window.demoReady);
await page.evaluate(() => localStorage.clear());
await page.click("#login");
await page.fill("#n", "200");
await page.click("#side");
await page.waitForSelector("#compare table", { timeout: 60_000 });
await page.waitForTimeout(600);
await page.screenshot({ path: new URL("../docs/demo.png", import.meta.url).pathname, fullPage: true });
console.log("screenshot: docs/demo.png");
await browser.close();
await dev.close();
