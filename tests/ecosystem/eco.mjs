// The ecosystem tier's shared set-up: the apps of tests/ecosystem/apps installed once into
// target/ecosystem/ (an npm workspace: ONE `npm install` for all, each app with its own versions;
// run again only when a package.json changes), the packed tarball unpacked into each app's
// node_modules as `npm install sessionguard-*.tgz` would (again only when the tarball changes),
// the dev server (identity server and API) and headless Chromium.
import { execFileSync, spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { cpSync, existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { createRequire } from "node:module";
import { join } from "node:path";
import { chromium } from "playwright-core";
import { createDevServer } from "../../server/dev-server.mjs";
import { CHROME, CHROME_ARGS } from "../e2e/harness.mjs";

export const root = new URL("../..", import.meta.url).pathname;
const src = join(root, "tests/ecosystem");
export const eco = join(root, "target/ecosystem");
export const app = (name) => join(eco, "apps", name);
/** The apps that are web pages: each gets the shared page (tests/ecosystem/web). */
const WEB_APPS = ["vite5", "vite6", "vite7", "vite8", "webpack", "esbuild", "rollup"];

const sha = (...parts) => {
  const h = createHash("sha256");
  for (const p of parts) h.update(p);
  return h.digest("hex");
};
const run = (cmd, args, opts = {}) => execFileSync(cmd, args, { encoding: "utf8", stdio: "pipe", ...opts });

/** Installs the apps (if their package.json files changed) and the tarball (if it changed). */
export function prepare() {
  mkdirSync(eco, { recursive: true });
  // the sources, copied over the cached installs
  cpSync(join(src, "package.json"), join(eco, "package.json"));
  if (existsSync(join(src, "package-lock.json"))) cpSync(join(src, "package-lock.json"), join(eco, "package-lock.json"));
  cpSync(join(src, "apps"), join(eco, "apps"), { recursive: true });
  for (const a of WEB_APPS) cpSync(join(src, "web"), app(a), { recursive: true });
  // the same app without top-level await (README: for Vite 5 and 6's default build target)
  for (const a of ["vite5", "vite6"]) cpSync(join(root, "examples/bundlers"), join(app(a), "then"), { recursive: true });

  const manifests = [join(src, "package.json"), ...readdirSync(join(src, "apps")).sort().map((a) => join(src, "apps", a, "package.json"))];
  const installHash = sha(...manifests.map((f) => f + readFileSync(f)), existsSync(join(src, "package-lock.json")) ? readFileSync(join(src, "package-lock.json")) : "");
  const stamp = join(eco, ".install-stamp");
  if (!existsSync(stamp) || readFileSync(stamp, "utf8") !== installHash) {
    run("npm", ["install", "--no-audit", "--no-fund", "--loglevel=error"], { cwd: eco });
    writeFileSync(stamp, installHash);
    rmSync(join(eco, ".tarball-stamp"), { force: true });
  }

  // the package as published: `npm pack` (under the build lock: never a half-built pkg/), only
  // when what it packs has changed since the last time
  const pkg = JSON.parse(readFileSync(join(root, "package.json"), "utf8"));
  const packed = ["package.json", "README.md", ...pkg.files].filter((f) => existsSync(join(root, f)));
  const sourceHash = sha(...packed.map((f) => f + sha(readFileSync(join(root, f)))));
  const tstamp = join(eco, ".tarball-stamp");
  if (existsSync(tstamp) && readFileSync(tstamp, "utf8") === sourceHash) return;
  const packDir = join(eco, "pack");
  rmSync(packDir, { recursive: true, force: true });
  mkdirSync(packDir);
  const info = JSON.parse(run("flock", ["/tmp/sg-build.lock", "npm", "pack", "--json", "--pack-destination", packDir], { cwd: root }))[0];
  const tarball = join(packDir, info.filename);
  run("tar", ["-xzf", tarball, "-C", packDir]);
  // the stamp: what was packed (pkg/ may have been rebuilt while this waited for the lock)
  const packedHash = sha(...packed.map((f) => f + sha(readFileSync(join(packDir, "package", f)))));
  for (const a of readdirSync(join(eco, "apps"))) {
    const modules = join(app(a), "node_modules");
    rmSync(join(modules, "sessionguard"), { recursive: true, force: true });
    rmSync(join(modules, ".vite"), { recursive: true, force: true }); // Vite's pre-bundled copy of the old one
    mkdirSync(modules, { recursive: true });
    cpSync(join(packDir, "package"), join(modules, "sessionguard"), { recursive: true });
  }
  writeFileSync(tstamp, packedHash);
}

/** The path of `bin` of package `pkg`, as resolved from the app (its own version). */
export function bin(appName, pkg, file) {
  const req = createRequire(join(app(appName), "package.json"));
  return join(req.resolve(`${pkg}/package.json`).slice(0, -"/package.json".length), file);
}

/** A tool's command line: JavaScript through this Node, a native binary (esbuild) as it is. */
const command = (binPath, args) => (/\.[cm]?js$|\/rollup$|\/next$/.test(binPath) ? [process.execPath, [binPath, ...args]] : [binPath, args]);

/** Runs a tool of an app to completion; resolves with its output, rejects with it on a non-zero
 * exit. */
export function tool(appName, binPath, args, env = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(...command(binPath, args), { cwd: app(appName), env: { ...process.env, NO_COLOR: "1", ...env }, stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    child.stdout.on("data", (d) => { out += d; });
    child.stderr.on("data", (d) => { out += d; });
    child.on("error", reject);
    child.on("close", (code) => (code === 0 ? resolve(out) : reject(Object.assign(new Error(`${args.join(" ")} exited ${code}:\n${out}`), { output: out }))));
  });
}

/** A free port on 127.0.0.1. */
export function freePort() {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.on("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

const children = new Set();
/** Starts a long-running tool of an app (a dev server, `next start`); resolves once its output
 * matches `ready`. `stop()` ends it; `output()` is all it printed. */
export function serve(appName, binPath, args, ready, env = {}) {
  const child = spawn(...command(binPath, args), { cwd: app(appName), env: { ...process.env, NO_COLOR: "1", ...env }, stdio: ["ignore", "pipe", "pipe"], detached: true });
  children.add(child);
  let out = "";
  let err = "";
  const stop = () => {
    if (child.exitCode === null && child.signalCode === null) {
      try { process.kill(-child.pid, "SIGTERM"); } catch { /* gone */ }
    }
    children.delete(child);
  };
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => { stop(); reject(new Error(`${args.join(" ")}: not ready after 60 s:\n${out}`)); }, 60_000);
    const on = (d) => {
      out += d;
      const m = out.replace(/\x1b\[[0-9;]*m/g, "").match(ready);
      if (m) { clearTimeout(timer); resolve({ match: m, stop, output: () => out, stderr: () => err }); }
    };
    child.stdout.on("data", on);
    child.stderr.on("data", (d) => { err += d; on(d); });
    child.on("close", (code) => { clearTimeout(timer); reject(new Error(`${args.join(" ")} exited ${code} before it was ready:\n${out}`)); });
  });
}

/** The dev server (identity server and API) and headless Chromium. */
export async function startBrowser(extraStatic = {}) {
  const dev = createDevServer({ extraStatic });
  const port = await dev.listen(0, "127.0.0.1");
  const origin = `http://127.0.0.1:${port}`;
  const browser = await chromium.launch({ executablePath: CHROME, args: CHROME_ARGS, headless: true });
  return {
    origin,
    /** Opens `url` in a fresh context whose /api, /oauth and /auth calls go to the dev server
     * (the app's own origin stands for its backend); resolves with window.exampleResult, or
     * throws window.exampleError. */
    async open(url, { flag = "exampleResult" } = {}) {
      await fetch(origin + "/__control/reset", { method: "POST", body: "{}" });
      const context = await browser.newContext();
      const errors = [];
      try {
        await context.route((u) => /^\/(api|oauth|auth)\//.test(u.pathname) && u.origin !== origin, async (route) => {
          const u = new URL(route.request().url());
          const response = await route.fetch({ url: origin + u.pathname + u.search });
          await route.fulfill({ response });
        });
        const page = await context.newPage();
        page.on("pageerror", (e) => errors.push(String(e)));
        page.on("console", (m) => { if (m.type() === "error") errors.push(m.text()); });
        await page.goto(url);
        await page.waitForFunction((f) => window[f] || window.exampleError, flag, { timeout: 30_000 })
          .catch((e) => { throw new Error(e.message + "\n" + errors.join("\n")); });
        const [result, error] = await page.evaluate((f) => [window[f], window.exampleError], flag);
        if (error) throw new Error("the app failed: " + error + "\n" + errors.join("\n"));
        return result;
      } finally {
        await context.close();
      }
    },
    async close() {
      await browser.close();
      await dev.close();
    },
  };
}

/** Ends every child process still running (for `after`). */
export function stopAll() {
  for (const c of [...children]) {
    try { process.kill(-c.pid, "SIGTERM"); } catch { /* gone */ }
    children.delete(c);
  }
}

/** What the shared app reports once it has signed in and made its authenticated call. */
export const SIGNED_IN = { before: "no-session", user: "alice", refreshes: 1 };
