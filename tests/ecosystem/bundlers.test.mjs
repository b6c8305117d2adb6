// webpack 5, esbuild and Rollup, each run as its README recipe says on the quick start app, then
// the built app in headless Chromium: sign in at the dev server, an authenticated call.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { copyFileSync, mkdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import { prepare, bin, tool, startBrowser, stopAll, app, SIGNED_IN } from "./eco.mjs";

let b;
before(async () => {
  prepare();
  b = await startBrowser(Object.fromEntries(["webpack", "esbuild", "rollup"].map((a) => [`/${a}/`, join(app(a), "dist")])));
});
after(async () => {
  stopAll();
  await b?.close();
});

test("webpack 5 builds the quick start with no configuration and the app signs in", async () => {
  rmSync(join(app("webpack"), "dist"), { recursive: true, force: true });
  // webpack's zero-configuration defaults: ./src/index.js → ./dist/main.js
  mkdirSync(join(app("webpack"), "src"), { recursive: true });
  copyFileSync(join(app("webpack"), "main.js"), join(app("webpack"), "src/index.js"));
  await tool("webpack", bin("webpack", "webpack-cli", "bin/cli.js"), ["--mode", "production"]);
  copyFileSync(join(app("webpack"), "index.html"), join(app("webpack"), "dist/index.html"));
  assert.deepEqual(await b.open(`${b.origin}/webpack/index.html`), SIGNED_IN);
});

test("esbuild --bundle --platform=browser --format=esm: without the module beside the bundle the error says so; copied, as README says, the app signs in", async () => {
  const dir = app("esbuild");
  rmSync(join(dir, "dist"), { recursive: true, force: true });
  await tool("esbuild", bin("esbuild", "esbuild", "bin/esbuild"), ["main.js", "--bundle", "--platform=browser", "--format=esm", "--outdir=dist"]);
  copyFileSync(join(dir, "index.html"), join(dir, "dist/index.html"));
  // esbuild copies no asset named by new URL(…, import.meta.url): without README's extra step,
  // the error names the missing file
  await assert.rejects(b.open(`${b.origin}/esbuild/index.html`), /sessionguard_bg\.wasm answered 404 .*the server has no such file/);
  copyFileSync(join(dir, "node_modules/sessionguard/pkg/sessionguard_bg.wasm"), join(dir, "dist/sessionguard_bg.wasm"));
  assert.deepEqual(await b.open(`${b.origin}/esbuild/index.html`), SIGNED_IN);
});

test("rollup with node-resolve and import-meta-assets builds the quick start and the app signs in", async () => {
  const dir = app("rollup");
  rmSync(join(dir, "dist"), { recursive: true, force: true });
  await tool("rollup", bin("rollup", "rollup", "dist/bin/rollup"), ["-c", "rollup.config.mjs"]);
  copyFileSync(join(dir, "index.html"), join(dir, "dist/index.html"));
  assert.deepEqual(await b.open(`${b.origin}/rollup/index.html`), SIGNED_IN);
});
