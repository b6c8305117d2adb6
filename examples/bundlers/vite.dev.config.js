// Vite 5's dev server pre-bundles dependencies into node_modules/.vite/deps, away from the
// .wasm file; this one line keeps sessionguard out of it (Vite 6 and later need nothing).
export default {
  optimizeDeps: { exclude: ["sessionguard"] },
  server: { proxy: Object.fromEntries(["/api", "/oauth", "/auth"].map((p) => [p, process.env.DEV_SERVER])) },
};
