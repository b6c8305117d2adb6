// Prints (and returns) the raw / gzip / brotli size of each flavour as a browser loads it: the
// module and all the JS its entry loads (the browser entry and its glue; the Node entry is
// never sent to a browser), each file compressed on its own, as a server sends them.
import { readFileSync } from "node:fs";
import { gzipSync, brotliCompressSync, constants } from "node:zlib";

const root = new URL("../pkg/", import.meta.url).pathname;
/** What each flavour's browser entry loads. */
export const FLAVOURS = {
  full: { entry: "sessionguard", wasm: ["sessionguard_bg.wasm"], js: ["sessionguard.js"] },
  lite: { entry: "sessionguard/lite", wasm: ["sessionguard_lite_bg.wasm"], js: ["lite.js"] },
};
function measure(names) {
  const out = { raw: 0, gzip: 0, brotli: 0 };
  for (const n of names) {
    const b = readFileSync(root + n);
    out.raw += b.length;
    out.gzip += gzipSync(b, { level: 9 }).length;
    out.brotli += brotliCompressSync(b, { params: { [constants.BROTLI_PARAM_QUALITY]: 11 } }).length;
  }
  return out;
}
/** `{ full: { wasm, js, total }, lite: { … } }`, each `{ raw, gzip, brotli }` in bytes. */
export function sizes() {
  return Object.fromEntries(Object.entries(FLAVOURS).map(([k, f]) => [k, { wasm: measure(f.wasm), js: measure(f.js), total: measure([...f.wasm, ...f.js]) }]));
}
if (import.meta.url === `file://${process.argv[1]}`) {
  const kb = (n) => (n / 1024).toFixed(1) + " KB";
  for (const [name, s] of Object.entries(sizes())) {
    for (const [k, v] of Object.entries(s)) {
      console.log(`size: ${name.padEnd(4)} ${k.padEnd(5)} raw ${kb(v.raw).padStart(9)}  gzip ${kb(v.gzip).padStart(8)} (${v.gzip} B)  brotli ${kb(v.brotli).padStart(8)}`);
    }
  }
}
