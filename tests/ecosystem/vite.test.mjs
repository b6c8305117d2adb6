// Vite 5, 6, 7 and 8, as a new user meets them: the README's quick start (top-level await) in an
// app with no vite.config, served by the dev server and built, then run in headless Chromium
// (sign in at the dev server, an authenticated call through session.fetch). And a module worker
// that uses sessionguard, built by Vite 7 and 8.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { prepare, bin, tool, serve, freePort, startBrowser, stopAll, app, SIGNED_IN } from "./eco.mjs";

let b;
before(async () => {
  prepare();
  const dirs = ["vite5", "vite6", "vite7", "vite8"].flatMap((v) => [[`/${v}/`, join(app(v), "dist")], [`/${v}-worker/`, join(app(v), "dist-worker")]]);
  b = await startBrowser(Object.fromEntries(dirs));
});
after(async () => {
  stopAll();
  await b?.close();
});

const vite = (v) => bin(`vite${v}`, "vite", "bin/vite.js");
const build = (v, ...args) => tool(`vite${v}`, vite(v), ["build", "--base", "./", "--outDir", "dist", "--emptyOutDir", ...args]);

for (const v of [5, 6, 7, 8]) {
  test(`vite ${v} dev server serves the quick start unchanged and the app signs in`, async () => {
    const port = await freePort();
    const dev = await serve(`vite${v}`, vite(v), ["--host", "127.0.0.1", "--port", String(port), "--strictPort", "--clearScreen", "false", "--force"], /ready in/i);
    try {
      assert.deepEqual(await b.open(`http://127.0.0.1:${port}/index.html`), SIGNED_IN);
    } finally {
      dev.stop();
    }
  });
}

for (const v of [5, 6]) {
  test(`vite ${v} build refuses the quick start's top-level await as README says; with build.target es2022, or with .then (examples/bundlers), the built app signs in`, async () => {
    await assert.rejects(build(v), (e) => /Top-level await is not available in the configured target environment/.test(e.output));
    await build(v, "--target", "es2022");
    assert.deepEqual(await b.open(`${b.origin}/vite${v}/index.html`), SIGNED_IN);
    // examples/bundlers/main.js: the same app without top-level await, Vite's defaults
    await tool(`vite${v}`, vite(v), ["build", "then", "--base", "./", "--outDir", "../dist", "--emptyOutDir"]);
    assert.deepEqual(await b.open(`${b.origin}/vite${v}/index.html`), SIGNED_IN);
  });
}

for (const v of [7, 8]) {
  test(`vite ${v} build takes the quick start unchanged and the built app signs in`, async () => {
    await build(v);
    assert.deepEqual(await b.open(`${b.origin}/vite${v}/index.html`), SIGNED_IN);
  });
}

for (const v of [7, 8]) {
  test(`vite ${v} builds a module worker that uses sessionguard, and the worker signs in`, async () => {
    await tool(`vite${v}`, vite(v), ["build", "worker", "--base", "./", "--outDir", "../dist-worker", "--emptyOutDir"]);
    assert.deepEqual(await b.open(`${b.origin}/vite${v}-worker/index.html`), SIGNED_IN);
  });
}
