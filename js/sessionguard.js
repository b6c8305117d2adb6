// The package entry. The wasm module cannot load itself, so this file does what only
// JavaScript can: find and instantiate the module (in browsers, bundlers and Node), say so
// clearly when it is used too early, and export the error classes. Everything else is the
// module's own `SessionManager` (src/web/), re-exported as it is.
import initGlue, { initSync as initSyncGlue, SessionManager as Manager } from "./sessionguard_glue.js";
// the module's own classes (js/errors.js, bundled with the glue by scripts/build.sh)
export { SessionExpiredError, RefreshUnavailableError, SessionDisposedError, UserInfoError, SignInError } from "./sessionguard_glue.js";

let loading = null;
let ready = false;

const isNode = typeof process === "object" && process !== null && !!(process.versions && process.versions.node) && typeof window === "undefined";

async function defaultSource() {
  const url = new URL("./sessionguard_bg.wasm", import.meta.url);
  if (isNode && url.protocol === "file:") {
    // Node's fetch cannot read files; hidden from bundlers, which never take this branch.
    const fs = await import(/* webpackIgnore: true */ /* @vite-ignore */ "node:fs/promises");
    return fs.readFile(url);
  }
  const res = await fetch(url);
  const type = res.headers.get("content-type") || "";
  if (!res.ok || type.includes("text/html")) {
    // A dev server that moved this file (Vite 5's dependency pre-bundling) answers with its page.
    throw new Error(`sessionguard: ${url} answered ${res.status} ${type || "(no type)"}, not the wasm module. ` +
      'With Vite 5, add `optimizeDeps: { exclude: ["sessionguard"] }` to vite.config; elsewhere, serve ' +
      "sessionguard_bg.wasm next to the package's entry, or pass its URL: init(url).");
  }
  return res;
}

/** Loads the wasm module (once; later calls return the same promise). Without an argument it
 * finds `sessionguard_bg.wasm` next to this file, in browsers, bundlers and Node >= 18. */
export default function init(moduleOrPath) {
  if (!loading) {
    loading = (async () => {
      const source = moduleOrPath === undefined ? await defaultSource() : moduleOrPath;
      const out = await initGlue({ module_or_path: source });
      ready = true;
      return out;
    })();
    loading.catch(() => { loading = null; });
  }
  return loading;
}

/** Synchronous `init` from bytes or a compiled `WebAssembly.Module`. */
export function initSync(module) {
  const out = initSyncGlue({ module });
  ready = true;
  loading = Promise.resolve(out);
  return out;
}

const notReady = () => new Error('sessionguard: the module is not initialised: call `await init()` first (import init from "sessionguard"), or use `await SessionManager.create(options)`');

/** `SessionManager`, refusing clearly to be made before `init()`. */
export const SessionManager = new Proxy(Manager, {
  construct(target, args, newTarget) {
    if (!ready) throw notReady();
    return Reflect.construct(target, args, newTarget);
  },
});

/** Initialises the module if needed, then makes a `SessionManager` (one step, like `createAuth0Client`). */
Manager.create = async function create(options) {
  await init();
  return new Manager(options);
};
