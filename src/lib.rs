//! sessionguard: a browser session manager in Rust, compiled to WebAssembly.
//!
//! Three layers:
//! - [`core`] holds every decision (token state, expiry and skew, single-flight refresh, the 401
//!   rule, retries and backoff, rate limiting), platform-free and tested on the host;
//! - `bindings` (wasm32 only) exposes it to JavaScript as `SessionEngine`, a synchronous API of
//!   numbers and strings;
//! - `js/session-manager.js` is the browser shell, `SessionManager`: fetch and axios, refreshers,
//!   storage, timers, locks and events, asking the engine at every turn. The build appends it
//!   to wasm-bindgen's output, so `pkg/sessionguard.js` exports it.

extern crate alloc;

pub mod core;

#[cfg(target_arch = "wasm32")]
pub mod bindings;
