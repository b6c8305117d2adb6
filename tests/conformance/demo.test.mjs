// The demo against real identity servers (`IDP=oidc-provider npm start`,
// `IDP=cognito-local npm start`): log in there as a person would, storm, see one refresh.
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { chromium } from "playwright-core";
import { createDevServer } from "../../server/dev-server.mjs";
import { startIdp } from "../../server/idp.mjs";
import { CHROME, CHROME_ARGS } from "../e2e/harness.mjs";

const cleanup = [];
after(async () => { for (const f of cleanup.reverse()) await f().catch(() => {}); });

async function demo(kind) {
  // the app's origin must be known to the identity server before either starts listening
  const probe = createDevServer();
  const port = await probe.listen(0, "127.0.0.1");
  await probe.close();
  const origin = `http://127.0.0.1:${port}`;
  const idp = await startIdp(kind, origin);
  cleanup.push(() => idp.close());
  const dev = createDevServer({ idp });
  await dev.listen(port, "127.0.0.1");
  cleanup.push(() => dev.close());
  const browser = await chromium.launch({ executablePath: CHROME, args: CHROME_ARGS, headless: true });
  cleanup.push(() => browser.close());
  const page = await browser.newPage();
  await page.goto(origin + "/www/index.html");
  await page.waitForFunction(() => window.demoReady, null, { timeout: 20_000 });
  await page.fill("#n", "30");
  return { page, origin, idp };
}

/** A storm, then "Expire the access token now", then another storm: what the server saw. */
async function expireAndStorm(page, idp) {
  const first = await page.evaluate(() => demo.storm());
  assert.equal(first.ok, 30);
  await page.click("#expire");
  await page.waitForFunction(() => [...document.querySelectorAll("#log li")].some((li) => li.textContent.includes("no longer accepted")));
  const before = idp.refreshCount();
  const second = await page.evaluate(() => demo.storm());
  assert.equal(second.ok, 30);
  return idp.refreshCount() - before;
}

test("IDP=oidc-provider: the demo signs in with signIn() through oidc-provider's pages; a storm after expiry makes one refresh grant", async () => {
  const { page, idp } = await demo("oidc-provider");
  await page.click("#login");
  await page.fill("input[name=login]", "alice");
  await page.fill("input[name=password]", "any");
  await page.click("button[type=submit]");
  await page.click("button[type=submit]"); // consent
  await page.waitForFunction(() => window.demoReady && demo.session && demo.session.isAuthenticated(), null, { timeout: 20_000 });
  const signedIn = await page.evaluate(() => ({ log: document.querySelector("#log").textContent, search: location.search }));
  assert.match(signedIn.log, /signed in at oidc-provider by sessionguard's signIn\(\)/, "the module's own sign-in, not the page's");
  assert.equal(signedIn.search, "", "the address bar is clean");
  await page.fill("#n", "30"); // the page came back from the login: a fresh form
  assert.equal(await expireAndStorm(page, idp), 1, "one refresh grant at oidc-provider for the storm");
});

test("IDP=cognito-local: the demo logs in with USER_PASSWORD_AUTH; a storm after expiry makes one REFRESH_TOKEN_AUTH", async () => {
  const { page, idp } = await demo("cognito-local");
  await page.click("#login");
  await page.waitForFunction(() => demo.session && demo.session.isAuthenticated(), null, { timeout: 20_000 });
  assert.equal(await expireAndStorm(page, idp), 1, "one REFRESH_TOKEN_AUTH at cognito-local for the storm");
});
