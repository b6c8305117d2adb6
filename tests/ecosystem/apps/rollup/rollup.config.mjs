// A Rollup user's config: node-resolve finds the package, and
// @web/rollup-plugin-import-meta-assets emits the module that `new URL("./….wasm",
// import.meta.url)` names (Rollup alone leaves that URL pointing at a file it never copies).
import { nodeResolve } from "@rollup/plugin-node-resolve";
import { importMetaAssets } from "@web/rollup-plugin-import-meta-assets";

export default {
  input: "main.js",
  output: { dir: process.env.OUT_DIR || "dist", format: "es" },
  plugins: [nodeResolve({ browser: true }), importMetaAssets()],
};
