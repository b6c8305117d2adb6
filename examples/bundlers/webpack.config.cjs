// webpack 5: nothing sessionguard-specific. The module's `new URL("./sessionguard_bg.wasm",
// import.meta.url)` is an asset webpack emits on its own.
const path = require("node:path");
module.exports = {
  mode: "production",
  entry: "./main.js",
  output: { path: path.resolve(process.env.OUT_DIR || "dist-webpack"), filename: "main.js", publicPath: "auto", clean: true },
};
