// The examples: a Vite app built against the packed tarball (as an app would install it), and
// a plain <script type="module"> page; both run in Chromium against the dev server.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { cpSync, mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { start } from "./harness.mjs";

const root = new URL("../..", import.meta.url).pathname;
let h, dir;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), "sg-vite-"));
  // the app, with the package installed from its tarball
  cpSync(join(root, "examples/vite"), join(dir, "app"), { recursive: true });
  const info = JSON.parse(execFileSync("npm", ["pack", "--json", "--pack-destination", dir], { cwd: root, encoding: "utf8" }))[0];
  const modules = join(dir, "app/node_modules");
  mkdirSync(modules, { recursive: true });
  execFileSync("tar", ["-xzf", join(dir, info.filename), "-C", modules]);
  execFileSync("mv", [join(modules, "package"), join(modules, "sessionguard")]);
  for (const dep of ["axios", "vite"]) symlinkSync(join(root, "node_modules", dep), join(modules, dep));
  // node_modules/.bin/vite may be Vite 5's (the bundlers tier installs it too): name Vite 8's
  execFileSync(process.execPath, [join(root, "node_modules/vite/bin/vite.js"), "build", "--logLevel", "error", "--outDir", join(dir, "dist")], { cwd: join(dir, "app"), encoding: "utf8", stdio: "pipe" });
  h = await start({ extraStatic: { "/vite/": join(dir, "dist"), "/examples/": join(root, "examples") } });
});
after(async () => {
  await h?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

test("Vite builds an app that imports the packed package, and the built app works", async () => {
  const assets = readdirSync(join(dir, "dist/assets"));
  assert.ok(assets.some((f) => f.endsWith(".wasm")), "the wasm is emitted as an asset: " + assets.join(", "));
  const page = await h.context.newPage();
  const errors = [];
  page.on("pageerror", (e) => errors.push(String(e)));
  page.on("console", (m) => { if (m.type() === "error") errors.push(m.text()); });
  await page.goto(h.origin + "/vite/index.html");
  await page.waitForFunction(() => window.exampleResult, null, { timeout: 20_000 }).catch((e) => { throw new Error(e.message + "\n" + errors.join("\n")); });
  const r = await page.evaluate(() => window.exampleResult);
  assert.deepEqual(r, { before: "before login: no-session", user: "alice", axiosUser: "alice", refreshes: 1 });
  await page.close();
});

test("a plain <script type=module> page, no bundler", async () => {
  const page = await h.context.newPage();
  await page.goto(h.origin + "/examples/plain/index.html");
  await page.waitForFunction(() => document.getElementById("out").textContent.startsWith("hello"), null, { timeout: 20_000 });
  assert.equal(await page.textContent("#out"), "hello alice");
  await page.close();
});
