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
