// The package as apps install it (the packed tarball), built by the bundlers people use, with
// no configuration: Vite 5 and 8 and webpack 5. Also Vite 5's dev server, with the one line it
// needs (optimizeDeps.exclude), and what happens without it: an error that says so.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { execFileSync, spawn } from "node:child_process";
import { cpSync, mkdirSync, mkdtempSync, rmSync, writeFileSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { start } from "./harness.mjs";

const root = new URL("../..", import.meta.url).pathname;
let h, dir, app;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), "sg-bundlers-"));
  app = join(dir, "app");
  cpSync(join(root, "examples/bundlers"), app, { recursive: true });
  const info = JSON.parse(execFileSync("npm", ["pack", "--json", "--pack-destination", dir], { cwd: root, encoding: "utf8" }))[0];
  const modules = join(app, "node_modules");
  mkdirSync(modules, { recursive: true });
  execFileSync("tar", ["-xzf", join(dir, info.filename), "-C", modules]);
  execFileSync("mv", [join(modules, "package"), join(modules, "sessionguard")]);
  const build = (cmd, args, env = {}) => execFileSync(process.execPath, [join(root, cmd), ...args], { cwd: app, encoding: "utf8", stdio: "pipe", env: { ...process.env, ...env } });
  build("node_modules/vite5/bin/vite.js", ["build", "--logLevel", "error", "--base", "./", "--outDir", join(dir, "vite5")]);
  build("node_modules/vite/bin/vite.js", ["build", "--logLevel", "error", "--base", "./", "--outDir", join(dir, "vite8")]);
  build("node_modules/webpack-cli/bin/cli.js", ["--config", "webpack.config.cjs"], { OUT_DIR: join(dir, "webpack") });
  writeFileSync(join(dir, "webpack/index.html"), '<!doctype html><meta charset="utf-8"><pre id="out"></pre><script src="main.js" defer></script>');
  h = await start({ extraStatic: { "/vite5/": join(dir, "vite5"), "/vite8/": join(dir, "vite8"), "/webpack/": join(dir, "webpack") } });
});
after(async () => {
  await h?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

async function run(url) {
  const page = await h.context.newPage();
  const errors = [];
  page.on("pageerror", (e) => errors.push(String(e)));
  await page.goto(url);
  await page.waitForFunction(() => window.exampleResult || window.exampleError, null, { timeout: 20_000 }).catch((e) => { throw new Error(e.message + "\n" + errors.join("\n")); });
  const r = await page.evaluate(() => window.exampleResult || window.exampleError);
  await page.close();
  return r;
}

for (const b of ["vite5", "vite8", "webpack"]) {
  test(`${b} builds the app with no configuration, and the built app works`, async () => {
    await h.reset();
    assert.deepEqual(await run(`${h.origin}/${b}/index.html`), { before: "no-session", user: "alice", refreshes: 1 });
  });
}

/** Starts Vite 5's dev server on the app; resolves with its origin. */
function viteDev(config) {
  const args = [join(root, "node_modules/vite5/bin/vite.js"), "--port", "0", "--strictPort", "false", "--host", "127.0.0.1", "--clearScreen", "false"];
  if (config) args.push("--config", config);
  else args.push("--config", join(app, "no-config.js"));
  writeFileSync(join(app, "no-config.js"), `export default { server: { proxy: Object.fromEntries(["/api", "/oauth", "/auth"].map((p) => [p, process.env.DEV_SERVER])) } };`);
  const child = spawn(process.execPath, args, { cwd: app, env: { ...process.env, DEV_SERVER: h.origin }, stdio: ["ignore", "pipe", "pipe"] });
  return new Promise((resolve, reject) => {
    let out = "";
    const timer = setTimeout(() => { child.kill(); reject(new Error("vite dev did not start:\n" + out)); }, 30_000);
    const on = (d) => {
      out += d;
      const m = out.replace(/\x1b\[[0-9;]*m/g, "").match(/http:\/\/127\.0\.0\.1:(\d+)/);
      if (m) { clearTimeout(timer); resolve({ origin: `http://127.0.0.1:${m[1]}`, stop: () => child.kill() }); }
    };
    child.stdout.on("data", on);
    child.stderr.on("data", on);
  });
}

test("Vite 5 dev server: with optimizeDeps.exclude the app works; without it, init() says what to add", async () => {
  await h.reset();
  const good = await viteDev(join(app, "vite.dev.config.js"));
  try {
    assert.deepEqual(await run(good.origin + "/index.html"), { before: "no-session", user: "alice", refreshes: 1 });
  } finally {
    good.stop();
  }
  rmSync(join(app, "node_modules/.vite"), { recursive: true, force: true });
  const bad = await viteDev(null);
  try {
    const r = await run(bad.origin + "/index.html");
    assert.equal(typeof r, "string");
    assert.match(r, /optimizeDeps/, r);
  } finally {
    bad.stop();
  }
});
