// The package entry, one source for four files (scripts/build.sh sets the three constants):
//   SG_NODE  false: the browser entry (browsers, workers, bundlers: the `browser`, `worker` and
//            `default` export conditions), which never names a `node:` module;
//            true: the Node entry (the `node` condition: Node, test runners with or without a
//            DOM shim, server-side rendering), which reads the module from disk;
//   SG_LITE  the lite flavour (sessionguard/lite), whose class has no sign-in;
//   SG_FILE  the module's file name, beside this one.
// The wasm module cannot load itself, so this file does what only JavaScript can: find and
// instantiate the module, say clearly why when it cannot, refuse to be used too early, and export
// the error classes. Everything else is the module's own `SessionManager` (src/web/).
/* global SG_NODE, SG_LITE, SG_FILE */
import initGlue, { initSync as initSyncGlue, SessionManager as Manager } from "./sessionguard_glue.js";
// the module's own classes (js/errors.js, bundled with the glue by scripts/build.sh)
export { SessionExpiredError, RefreshUnavailableError, SessionDisposedError, UserInfoError, SignInError } from "./sessionguard_glue.js";

// The `fetch` of the page as it was when this module loaded: the module is never fetched through
// a `fetch` that a test mocks or a framework patches afterwards.
const loadFetch = globalThis.fetch;

let loading = null;
let ready = false;

const fail = (why) => new Error("sessionguard: " + why);
const onServer = () => typeof document === "undefined" && !!globalThis.process?.versions?.node;

/** The module's own file: beside this entry. */
const own = SG_NODE
  // not `new URL("./…", import.meta.url)`, not even through a variable (Turbopack follows it):
  // bundlers for the server make that a URL of their own (Next.js: "/_next/static/media/…"),
  // which a server cannot read; the file's own URL, its name replaced, stays the file
  ? () => new URL(import.meta.url.replace(/[^/]*$/, SG_FILE))
  : () => new URL("./" + SG_FILE, import.meta.url);

/** The module at `url` (a file, or fetched with the `fetch` of the page as it was at load). */
async function load(url) {
  if (url.protocol === "file:") {
    // Node, whatever DOM shim is installed; the browser entry gets here only in a Node test
    // runner that resolved it, and reads the file through what needs no `node:` import
    const fs = SG_NODE ? await import("node:fs/promises") : globalThis.process?.getBuiltinModule?.("fs")?.promises;
    if (!fs) throw fail(`cannot read ${url} here: pass the module, init(bytes)`);
    return fs.readFile(url).catch((e) => {
      throw fail(`cannot read ${url} (${e?.code || e}): reinstall the package, or pass the module, init(bytes)`);
    });
  }
  if (!/^(https?|blob|data):$/.test(url.protocol) && onServer()) {
    throw fail(`a server cannot fetch ${url.href} (a browser bundle, rendered on the server): let the server import sessionguard from node_modules (Next.js: serverExternalPackages: ["sessionguard"]), or create the SessionManager in the browser only`);
  }
  const res = await loadFetch(url);
  if (ok(res)) return res;
  // Vite 5–7's dev server pre-bundles dependencies into node_modules/.vite, away from the file:
  // take it where the package is installed
  const vite = url.pathname.indexOf("/.vite/");
  if (vite >= 0) {
    const moved = new URL(url.pathname.slice(0, vite) + "/sessionguard/pkg/" + SG_FILE, url);
    const again = await loadFetch(moved).catch(() => null);
    if (again && ok(again)) return again;
    throw fail(`Vite's dev server moved this package into ${url.pathname.slice(0, vite + 7)}, and its module is not at ${moved.pathname} either: add optimizeDeps: { exclude: ["sessionguard"] } to vite.config (Vite 5, 6 and 7, dev server only)`);
  }
  const type = res.headers.get("content-type") || "no type";
  throw fail(`${url} answered ${res.status} (${type}), not the wasm module: ` + (res.status == 404 || type.includes("text/html")
    ? `the server has no such file; serve ${SG_FILE} beside the package's entry, or pass its URL: init(url)`
    : "was fetch mocked before sessionguard was imported? Pass the module: init(bytes)"));
}

const ok = (res) => res.ok && !(res.headers.get("content-type") || "").includes("text/html");

/** Loads the wasm module (once; later calls return the same promise). Without an argument it
 * finds the module next to this file: in browsers, workers, bundlers and Node >= 18; a URL is
 * loaded the same way; bytes, a `Response` or a `WebAssembly.Module` are taken as they are. */
export default function init(moduleOrPath) {
  if (!loading) {
    loading = (async () => {
      let source = await (moduleOrPath === undefined ? own() : moduleOrPath);
      // a URL is loaded as the default one is: never with a `fetch` patched after load
      if (typeof source === "string" || source instanceof URL) source = await load(new URL(source, globalThis.location?.href));
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

const notReady = () => fail('the module is not initialised: call `await init()` first (import init from "sessionguard"), or use `await SessionManager.create(options)`');

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

if (SG_LITE) {
  // the lite class has no sign-in: say where it is
  for (const m of ["signIn", "handleRedirect"]) {
    Manager.prototype[m] = () => Promise.reject(new TypeError(`sessionguard: ${m}() is not in sessionguard/lite: import from "sessionguard" (the full build) to sign in`));
  }
}
