// The build steps that rewrite wasm-bindgen's or the linker's output stop the build when their
// precondition does not hold, rather than emit a module that could trap (CONTRIBUTING.md, "Build
// steps"). Each is fed the input it must refuse, made from this build's own linked module.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import binaryen from "binaryen";

const root = new URL("../..", import.meta.url).pathname;
const env = Object.fromEntries(readFileSync(join(root, "target/toolchain.env"), "utf8").split("\n")
  .map((l) => l.match(/^(?:export )?(\w+)=(.*)$/)).filter(Boolean).map(([, k, v]) => [k, v.replace(/^"|"$/g, "")]));
const linked = join(root, "target/wasm32-unknown-unknown/release/sessionguard.wasm");
let dir;
before(() => {
  assert.ok(existsSync(linked), "the build ran first (npm test builds before its tiers)");
  dir = mkdtempSync(join(tmpdir(), "sg-steps-"));
  execFileSync(env.WASM_BINDGEN, ["--target", "web", "--out-dir", dir, "--out-name", "g", linked]);
});
after(() => { if (dir) rmSync(dir, { recursive: true, force: true }); });

const run = (script, ...args) => spawnSync(process.execPath, [join(root, "scripts", script), ...args], { encoding: "utf8" });
const opt = (...args) => execFileSync(join(root, "node_modules/.bin/wasm-opt"), ["--enable-bulk-memory", "--enable-nontrapping-float-to-int", "--enable-sign-ext", "--enable-mutable-globals", ...args]);

test("drop-dead-slots takes wasm-bindgen's output as it is, and refuses a module without names or with its table exported", () => {
  const good = join(dir, "good.wasm");
  writeFileSync(good, readFileSync(join(dir, "g_bg.wasm")));
  const ok = run("drop-dead-slots.mjs", good);
  assert.equal(ok.status, 0, ok.stderr);
  assert.match(ok.stdout, /[1-9]\d* closure shims/);

  const stripped = join(dir, "stripped.wasm");
  opt("--strip-debug", join(dir, "g_bg.wasm"), "-o", stripped);
  const before = readFileSync(stripped);
  const noNames = run("drop-dead-slots.mjs", stripped);
  assert.notEqual(noNames.status, 0);
  assert.match(noNames.stderr, /renamed its closure shims, or the name section is gone/);
  assert.deepEqual(readFileSync(stripped), before, "the module was left as it was");

  const mod = binaryen.readBinary(readFileSync(join(dir, "g_bg.wasm")));
  mod.addTableExport(binaryen.getTableInfo(mod.getTableByIndex(0)).name, "table");
  const exported = join(dir, "exported.wasm");
  writeFileSync(exported, mod.emitBinary());
  const r = run("drop-dead-slots.mjs", exported);
  assert.notEqual(r.status, 0);
  assert.match(r.stderr, /the function table is exported/);
});

test("order-functions' check refuses a module whose functions are not in the chosen order, or lost one", () => {
  const named = join(dir, "named.wasm");
  const made = spawnSync(process.execPath, [join(root, "scripts/order-functions.mjs"), join(dir, "g_bg.wasm"), named], { encoding: "utf8", env: { ...process.env, SG_ORDER_QUICK: "1" } });
  assert.equal(made.status, 0, made.stderr);
  const count = readFileSync(named + ".count", "utf8");
  const sorted = join(dir, "sorted.wasm");
  opt("--reorder-functions-by-name", "--debuginfo", named, "-o", sorted);
  assert.equal(run("order-functions.mjs", "--check", sorted, count).status, 0, "binaryen put them in the chosen order");
  const r = run("order-functions.mjs", "--check", named, count);
  assert.notEqual(r.status, 0, "not reordered yet");
  assert.match(r.stderr, /not in the chosen order/);
  assert.notEqual(run("order-functions.mjs", "--check", sorted, String(Number(count) + 1)).status, 0, "a function lost");
});

test("minify-names refuses a glue that wasm-bindgen wrote differently (its import object, its default module URL)", () => {
  const min = join(dir, "min.wasm");
  const names = execFileSync(join(root, "node_modules/.bin/wasm-opt"), ["--minify-imports-and-exports-and-modules", "--enable-bulk-memory", "--enable-nontrapping-float-to-int", "--enable-sign-ext", "--enable-mutable-globals", "--enable-reference-types", "--enable-multivalue", join(dir, "g_bg.wasm"), "-o", min], { encoding: "utf8" });
  writeFileSync(join(dir, "names.json"), names);
  const glue = readFileSync(join(dir, "g.js"), "utf8");
  const tryGlue = (text) => {
    writeFileSync(join(dir, "t.js"), text);
    writeFileSync(join(dir, "t.wasm"), readFileSync(min));
    writeFileSync(join(dir, "t.d.ts"), readFileSync(join(dir, "g_bg.wasm.d.ts")));
    return run("minify-names.mjs", join(dir, "names.json"), join(dir, "t.wasm"), join(dir, "t.js"), join(dir, "t.d.ts"), "g");
  };
  const ok = tryGlue(glue);
  assert.equal(ok.status, 0, ok.stderr);
  const noDefault = tryGlue(glue.replace("new URL('g_bg.wasm', import.meta.url)", "new URL('other.wasm', import.meta.url)"));
  assert.notEqual(noDefault.status, 0);
  assert.match(noDefault.stderr, /default module URL/);
  const otherImports = tryGlue(glue.replace('"./g_bg.js": import0,', '"./h_bg.js": import0,'));
  assert.notEqual(otherImports.status, 0);
  assert.match(otherImports.stderr, /import object/);
});
