// The package's types: the module's own declarations (generated from the crate) and the
// error classes of errors.js.
export * from "./sessionguard_glue.js";
export { SessionExpiredError, RefreshUnavailableError, SessionDisposedError, UserInfoError } from "./errors.js";
import type { InitInput, InitOutput, SyncInitInput } from "./sessionguard_glue.js";
/** Loads the wasm module once; without an argument it finds it next to the package's entry (browsers, bundlers, Node >= 18). */
export default function init(moduleOrPath?: InitInput | Promise<InitInput>): Promise<InitOutput>;
export function initSync(module: SyncInitInput): InitOutput;
