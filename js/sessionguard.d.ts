// The package's types: the module's own declarations (generated from the crate, src/web/types.rs)
// and the error classes of errors.js. Only public names: nothing of the module's internals.
export type {
  TokenSet,
  OAuth2TokenAnswer,
  RefreshRejection,
  RefreshFunction,
  RefreshOption,
  ServerOptions,
  OAuth2RefreshOptions,
  CognitoRefreshOptions,
  SignInOptions,
  LogoutOptions,
  RetryOptions,
  SessionManagerOptions,
  SessionStats,
  SessionExpiredReason,
  SessionEventMap,
  SessionRequestInit,
  AxiosLike,
} from "./sessionguard_glue.js";
export { SessionManager } from "./sessionguard_glue.js";
export { SessionExpiredError, RefreshUnavailableError, SessionDisposedError, UserInfoError, SignInError } from "./errors.js";
export type { SignInErrorCode } from "./errors.js";

/** What `init` accepts: the module's URL, a `Response`, its bytes, or a compiled module. */
export type InitInput = RequestInfo | URL | Response | BufferSource | WebAssembly.Module;
/** The loaded module (opaque). */
export interface InitOutput {
  readonly memory: WebAssembly.Memory;
}
/** Loads the wasm module once; without an argument it finds it next to the package's entry (browsers, bundlers, Node >= 18). */
export default function init(moduleOrPath?: InitInput | Promise<InitInput>): Promise<InitOutput>;
/** `init` from bytes or a compiled `WebAssembly.Module`, synchronously. */
export function initSync(module: BufferSource | WebAssembly.Module): InitOutput;

// `skipAuth: true` in an axios request config (attachAxios passes such a call through
// untouched), typed where axios is installed. Without axios this augmentation is ignored: in a
// declaration file an augmentation of a module that cannot be found is no error (also under
// `strict` without `skipLibCheck`; tests/types and tests/e2e/package.test.mjs check both).
// No type parameters: every axios 1.x declares `AxiosRequestConfig<D = any, …>` with defaults,
// which merges with a declaration that has none.
declare module "axios" {
  interface AxiosRequestConfig {
    /** sessionguard: send this call untouched, without the session */
    skipAuth?: boolean;
  }
}
