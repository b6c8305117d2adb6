//! sessionguard: a browser session manager in Rust, compiled to WebAssembly.
//!
//! Two layers, like quinn and quinn-proto:
//! - [`core`] holds every decision (token state, expiry and skew, single-flight refresh, the 401
//!   rule, retries and backoff, rate limiting, the cross-tab protocol), platform-free and tested
//!   on the host;
//! - `web` (wasm32 only) drives it in the browser with `web-sys`, `js-sys` and
//!   `wasm-bindgen-futures`: the `SessionManager` class that JavaScript sees, the fetch and axios
//!   interceptors, the refreshers, storage, timers, locks, the channel and the events. It moves
//!   bytes, timers and events, and decides nothing.

#![deny(clippy::await_holding_refcell_ref)]

extern crate alloc;

pub mod core;

#[cfg(target_arch = "wasm32")]
pub mod web;
