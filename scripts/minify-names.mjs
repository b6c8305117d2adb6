// Short import and export names, as Emscripten does it: `wasm-opt
// --minify-imports-and-exports-and-modules` renames the module's imports, exports and import
// modules to one or two letters and prints the map; this applies the map to wasm-bindgen's glue
// as wasm-bindgen wrote it (before any minifier: its layout is fixed by the pinned wasm-bindgen
// version alone), and to the module's `.d.ts`. wasm-bindgen names each import after its JavaScript name plus a
// 16-digit hash, and each closure export after its full Rust type: about 11 KB of names that
// appeared twice (module and glue) and that gzip cannot shrink much (the hashes are random).
//
//   node scripts/minify-names.mjs <map.json> <module.wasm> <glue.js> <module.wasm.d.ts> <out-name>
//
// (<out-name>: wasm-bindgen's --out-name, such as `sessionguard_glue`.) It also drops the glue's
// own default URL of the module (the entry always hands the module over).
//
// Every rename must match exactly where it is expected; anything else stops the build, so a
// wasm-bindgen that writes its glue differently fails here, not in a user's page.
import { readFileSync, writeFileSync } from "node:fs";
import { encodeName, leb, readLeb, readName, replaced, sections } from "./wasm-bytes.mjs";

const [mapFile, wasmFile, glueFile, dtsFile, outName] = process.argv.slice(2);
const fail = (why) => {
  console.error(`minify-names: ${why}`);
  process.exit(1);
};

// wasm-opt prints the map as JSON with trailing commas, possibly after other output
const text = readFileSync(mapFile, "utf8");
const json = text.slice(text.indexOf("{"), text.lastIndexOf("}") + 1).replace(/,(\s*[\]}])/g, "$1");
const map = JSON.parse(json);

// `memory` keeps its name: `init()` resolves to the module's exports, and the package's types
// promise `InitOutput.memory`.
const KEEP = "memory";
const kept = map.exports.find(([name]) => name === KEEP);
if (!kept) fail(`the module exports no ${KEEP}`);
writeFileSync(wasmFile, renameExport(readFileSync(wasmFile), kept[1], KEEP));
map.exports = map.exports.filter(([name]) => name !== KEEP);

const modules = [...new Set(WebAssembly.Module.imports(new WebAssembly.Module(readFileSync(wasmFile))).map((i) => i.module))];
if (modules.length !== 1) fail(`expected one import module after minifying, found ${modules.length}`);
const module = modules[0];

const escape = (s) => s.replace(/[$.*+?^(){}[\]|\\/]/g, "\\$&");
let js = readFileSync(glueFile, "utf8");

// 1. the glue's own imports: `name: function…` keys of `import0`, handed over under the module's
// name (`"<module>": import0`); snippet modules are handed over whole (`"<module>": importN`)
if (!outName) fail("usage: minify-names.mjs <map.json> <module.wasm> <glue.js> <module.wasm.d.ts> <out-name>");
const MAIN = `./${outName}_bg.js`;
const keyOf = `"${MAIN}": import0,`;
if (js.split(keyOf).length !== 2) fail(`the glue's import object "${MAIN}" was not found once`);
js = js.replace(keyOf, `${JSON.stringify(module)}: import0,`);
const objectStart = "const import0 = {\n        __proto__: null,";
if (js.split(objectStart).length !== 2) fail("the glue's import object does not start as expected");
const extra = [];
for (const [from, name, short] of map.imports) {
  if (from === MAIN) {
    const re = new RegExp(`(?<![\\w$])${escape(name)}(?=:)`, "g");
    const n = (js.match(re) || []).length;
    if (n !== 1) fail(`import ${name} appears ${n} times as a key in the glue`);
    js = js.replace(re, short);
  } else {
    // a snippet module, given whole: `"<module>": importN`; its function moves under the one
    // minified module
    const entry = new RegExp(`\\n\\s*"${escape(from)}": (import\\d+),`);
    const m = js.match(entry);
    if (!m) fail(`the glue does not hand over the module ${from}`);
    extra.push(`${short}: ${m[1]}.${name}`);
  }
}
for (const from of new Set(map.imports.filter(([f]) => f !== MAIN).map(([f]) => f))) {
  js = js.replace(new RegExp(`\\n\\s*"${escape(from)}": import\\d+,`), "");
}
if (extra.length) js = js.replace(objectStart, `${objectStart}\n        ${extra.join(",\n        ")},`);

// 2. the exports, used as `<exports>.name`
for (const [name, short] of map.exports) {
  js = js.replace(new RegExp(`\\.${escape(name)}(?![\\w$])`, "g"), `.${short}`);
}
// nothing of the old names may be left
// (wasm-bindgen also names local JavaScript functions after closure exports; the minifier
// renames those, and build.sh checks that none is left after it)
const left = js.match(/__wbg_[\w$]+_[0-9a-f]{16}(?=:)|\.wasm_bindgen_[0-9a-f]{16}___convert|"\.\/[^"]+": import/);
if (left) fail(`the glue still names ${left[0]}`);
// the glue's own default, a URL fetched with the global `fetch`, goes: the package's entries
// always hand the glue the module (read from disk, or fetched with the `fetch` captured when the
// entry loaded), and a second `new URL(…, import.meta.url)` would only make bundlers emit the
// file twice, and Next.js's server bundles rewrite it into a URL that cannot be fetched
const fallback = `\n    if (module_or_path === undefined) {\n        module_or_path = new URL('${outName}_bg.wasm', import.meta.url);\n    }\n`;
if (js.split(fallback).length !== 2) fail(`the glue's default module URL (${outName}_bg.wasm) was not found once`);
if (js.split(`${outName}_bg.wasm`).length !== 2) fail(`the glue names ${outName}_bg.wasm elsewhere too`);
writeFileSync(glueFile, js.replace(fallback, "\n"));

// 3. the module's declarations
const exports = new Map(map.exports);
const dts = readFileSync(dtsFile, "utf8").replace(/export const ([\w$]+)/g, (all, name) => (exports.has(name) ? `export const ${exports.get(name)}` : all));
writeFileSync(dtsFile, dts);
console.log(`minify-names: ${map.imports.length} imports, ${map.exports.length} exports renamed`);

/** The module with export `from` renamed `to` (the export section rewritten; nothing else moves). */
function renameExport(bytes, from, to) {
  const s = sections(bytes).find((x) => x.id === 7);
  if (!s) fail("the module has no export section");
  let [count, p] = readLeb(bytes, s.body);
  const body = [leb(count)];
  let renamed = 0;
  for (let i = 0; i < count; i++) {
    let text;
    [text, p] = readName(bytes, p);
    const [, r] = readLeb(bytes, p + 1); // kind byte, then index
    if (text === from) {
      text = to;
      renamed++;
    }
    body.push(encodeName(text), bytes.subarray(p, r));
    p = r;
  }
  if (renamed !== 1 || p !== s.end) fail(`could not rename the export ${from} to ${to}`);
  return replaced(bytes, s, 7, Buffer.concat(body));
}
