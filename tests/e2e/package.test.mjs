// Packaging: `npm pack` the package as it would be published, unpack the tarball, and load the
// module its package.json `exports` names in a page; a broken `files` or `exports` fails here.
// Also type-checks a TypeScript user of the package against the generated .d.ts.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { start } from "./harness.mjs";
import { sizes } from "../../scripts/size.mjs";

const root = new URL("../..", import.meta.url).pathname;
let h, dir, files;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), "sg-pack-"));
  const out = execFileSync("npm", ["pack", "--json", "--pack-destination", dir], { cwd: root, encoding: "utf8" });
  const info = JSON.parse(out)[0];
  files = info.files.map((f) => f.path);
  execFileSync("tar", ["-xzf", join(dir, info.filename), "-C", dir]);
  h = await start({ extraStatic: { "/packed/": join(dir, "package") } });
});
after(async () => {
  await h?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

test("the tarball holds the package and nothing else", () => {
  for (const f of ["package.json", "README.md", "pkg/sessionguard.js", "pkg/sessionguard.node.js", "pkg/sessionguard_bg.wasm", "pkg/sessionguard.d.ts",
    "pkg/lite.js", "pkg/lite.node.js", "pkg/sessionguard_lite_bg.wasm", "pkg/lite.d.ts"]) {
    assert.ok(files.includes(f), `${f} is in the tarball`);
  }
  const stray = files.filter((f) => !/^(package\.json|README\.md|LICENSE.*|pkg\/.*)$/.test(f));
  assert.deepEqual(stray, []);
});

test("the module named by exports['.'] loads from the tarball and works", async () => {
  const pkg = JSON.parse(readFileSync(join(dir, "package", "package.json"), "utf8"));
  const entry = pkg.exports["."].default;
  assert.equal(entry, "./pkg/sessionguard.js");
  const t = await h.login();
  const r = await h.page.evaluate(async ({ url, t }) => {
    const mod = await import(url);
    await mod.default();
    const s = new mod.SessionManager({});
    let noSession;
    try { await s.fetch("/api/me"); } catch (e) { noSession = e instanceof mod.SessionExpiredError && e.reason; }
    s.setTokens({ accessToken: t.access_token });
    const status = (await s.fetch("/api/me")).status;
    return { status, noSession, classes: typeof mod.RefreshUnavailableError };
  }, { url: "/packed/" + entry.slice(2), t });
  assert.deepEqual(r, { status: 200, noSession: "no-session", classes: "function" });
});

const tsc = (args, cwd = root) => {
  try {
    execFileSync(join(root, "node_modules/.bin/tsc"), args, { cwd, encoding: "utf8", stdio: "pipe" });
  } catch (e) {
    assert.fail(`tsc ${args.join(" ")} (in ${cwd}):\n${e.stdout}${e.stderr}`);
  }
};

test("TypeScript: a typed user of both flavours (and of axios) compiles against the generated .d.ts", () => {
  // tests/types: usage.ts (the full build, every event's detail, every error's fields), lite.ts
  // (sessionguard/lite lacks signIn, handleRedirect, dpop, logout at the server), axios.ts
  // (`skipAuth` in an axios config), tsc --strict without skipLibCheck
  tsc(["-p", join(root, "tests/types/tsconfig.json")]);
});

test("TypeScript: the packed package, installed in an app without axios, compiles through its exports", () => {
  // the tarball as npm installs it (no paths: package.json `exports` and its `types`
  // conditions), in an app with no axios anywhere above it: the package's axios augmentation
  // must not break it. no-axios.ts fails if axios is found after all.
  const app = join(dir, "app");
  mkdirSync(join(app, "node_modules"), { recursive: true });
  cpSync(join(dir, "package"), join(app, "node_modules/sessionguard"), { recursive: true });
  for (const f of ["check.ts", "usage.ts", "lite.ts", "no-axios.ts"]) cpSync(join(root, "tests/types", f), join(app, f));
  writeFileSync(join(app, "package.json"), JSON.stringify({ name: "app", private: true, type: "module" }));
  const base = ["--strict", "--noEmit", "--skipLibCheck", "false", "--target", "es2020", "--lib", "es2020,dom", "check.ts", "usage.ts", "lite.ts", "no-axios.ts"];
  tsc([...base, "--module", "es2020", "--moduleResolution", "bundler"], app);
  tsc([...base, "--module", "nodenext", "--moduleResolution", "nodenext"], app);
});

for (const flavour of ["full", "lite"]) {
  test(`size: the ${flavour} flavour (its module and all the JS its browser entry loads) stays within its guard in bench/size-budget.json`, () => {
    const { budget, guard } = JSON.parse(readFileSync(join(root, "bench/size-budget.json"), "utf8"));
    const s = sizes()[flavour];
    const over = s.total.gzip - budget[flavour];
    console.log(`# size: ${flavour} ${s.total.gzip} B gzip (wasm ${s.wasm.gzip} + JS ${s.js.gzip}), budget ${budget[flavour]} B (${over > 0 ? `${over} B over` : `${-over} B under`}), guard ${guard[flavour]} B`);
    assert.ok(s.total.gzip <= guard[flavour], `${flavour}: ${s.total.gzip} B gzip > guard ${guard[flavour]} B`);
  });
}
