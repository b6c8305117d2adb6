// The demo (www/index.html), driven as a person would: log in, storm, expire the token, storm
// again, compare side by side.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { start } from "./harness.mjs";

let h, page;
before(async () => {
  h = await start();
  page = await h.context.newPage();
  await page.goto(h.origin + "/www/index.html");
  await page.waitForFunction(() => window.demoReady, null, { timeout: 20_000 });
  await page.fill("#n", "50");
});
after(async () => { await h?.close(); });

test("after 'Expire the access token now', the next storm shows its one refresh and every call answered", async () => {
  const first = await page.evaluate(async () => { await demo.login(); return demo.storm(); });
  assert.equal(first.refreshes, 0);
  assert.equal(first.ok, 50);
  await page.click("#expire");
  await page.waitForFunction(() => [...document.querySelectorAll("#log li")].some((li) => li.textContent.includes("no longer accepted")));
  const second = await page.evaluate(() => demo.storm());
  assert.equal(second.refreshes, 1, "the storm after the expiry shows its refresh");
  assert.equal(second.ok, 50);
  assert.equal(second.sends, 100, "each call: the 401, then the replay");
});

test("side by side: results of an earlier run are cleared when a new run starts", async () => {
  await page.click("#side");
  await page.waitForFunction(() => document.querySelector("#compare table"), null, { timeout: 60_000 });
  const table = await page.textContent("#compare");
  assert.match(table, /sessionguard50 \/ 50/);
  await page.click("#side");
  assert.doesNotMatch(await page.textContent("#compare"), /sessionguard50/, "cleared at once");
  await page.waitForFunction(() => document.querySelector("#compare table"), null, { timeout: 60_000 });
  await page.evaluate(() => demo.storm());
  assert.equal(await page.textContent("#compare"), "", "a plain storm clears the comparison");
  assert.equal((await h.stats()).counts.badTokens, 0);
});
