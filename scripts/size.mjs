// Prints (and with --json, returns) the raw / gzip / brotli size of what the package ships.
import { readFileSync, readdirSync, statSync } from "node:fs";
import { gzipSync, brotliCompressSync, constants } from "node:zlib";
import { join } from "node:path";

const root = new URL("../pkg/", import.meta.url).pathname;
function files(dir) {
  return readdirSync(dir).flatMap((f) => {
    const p = join(dir, f);
    return statSync(p).isDirectory() ? files(p) : [p];
  });
}
function measure(paths) {
  const out = { raw: 0, gzip: 0, brotli: 0 };
  for (const p of paths) {
    const b = readFileSync(p);
    out.raw += b.length;
    out.gzip += gzipSync(b, { level: 9 }).length;
    out.brotli += brotliCompressSync(b, { params: { [constants.BROTLI_PARAM_QUALITY]: 11 } }).length;
  }
  return out;
}
export function sizes() {
  const all = files(root);
  const wasm = all.filter((p) => p.endsWith(".wasm"));
  const js = all.filter((p) => p.endsWith(".js"));
  return { wasm: measure(wasm), js: measure(js), total: measure([...wasm, ...js]) };
}
if (import.meta.url === `file://${process.argv[1]}`) {
  const s = sizes();
  const kb = (n) => (n / 1024).toFixed(1) + " KB";
  for (const [k, v] of Object.entries(s)) {
    console.log(`size: ${k.padEnd(5)} raw ${kb(v.raw).padStart(9)}  gzip ${kb(v.gzip).padStart(8)}  brotli ${kb(v.brotli).padStart(8)}`);
  }
}
