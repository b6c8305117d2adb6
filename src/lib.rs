//! sessionguard: a browser session manager in Rust, compiled to WebAssembly.
//!
//! The crate has two halves. [`core`] holds every decision (token state, expiry and skew,
//! single-flight refresh, the 401 rule, retries and backoff, rate limiting), platform-free and
//! tested on the host. `web` (wasm32 only) is the thin shell that moves bytes, timers and events
//! between the browser and the core: the `SessionManager` class that the npm package exports.

extern crate alloc;

pub mod core;

#[cfg(target_arch = "wasm32")]
pub mod web;
