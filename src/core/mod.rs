//! The platform-free core: every decision sessionguard makes, with no `web_sys`, no `js_sys`,
//! no clock and no randomness of its own. Time comes in as `now` (a [`time::Time`]) and chance as a
//! number in `[0, 1)`; decisions come out as values. It builds and is tested on the host.
//!
//! - [`time`]: instants, kept apart from durations;
//! - [`token`]: token sets, JWT payloads, expiry and clock skew, the storage record;
//! - [`retry`]: which API answers are retried, backoff with full jitter, `Retry-After`;
//! - [`refresh_answer`]: what a token endpoint's answer means (tokens, terminal, transient);
//! - [`ratelimit`]: the client-side, adaptive rate limit;
//! - [`session`]: the refresh rule, single flight, the 401 rule, the end of a session;
//! - [`call`]: one intercepted call, driven step by step by the browser layer;
//! - [`crosstab`]: what tabs tell each other, and what they do with it;
//! - [`userinfo`]: the user-info request's own rules and cache;
//! - [`signin`], [`id_token`], [`discovery`]: sign-in with code + PKCE, the ID token's checks,
//!   where the endpoints are;
//! - [`signout`]: revocation and the end-session redirect;
//! - [`dpop`]: proofs of possession (RFC 9449): their claims, server nonces, the scheme.
//!
//! - [`read`]: how what comes in from outside (token sets, answers, records, messages) is read.
//!
//! Its tests run on the host (`cargo test --lib`); under wasm32 only the browser layer's run.
//!
//! JSON is never parsed here: the browser layer parses with `JSON.parse` and hands objects over
//! through [`read::Fields`]; host tests read `serde_json` values the same way. Nor is base64
//! decoded here: the core says which part of a JWT is its payload, the browser layer decodes
//! it with `atob` (host tests with the base64 crate).

#![deny(unsafe_code)]

pub mod call;
pub mod crosstab;
pub mod discovery;
pub mod dpop;
pub mod id_token;
pub mod ratelimit;
pub mod read;
pub mod refresh_answer;
pub mod retry;
pub mod session;
pub mod signin;
pub mod signout;
pub mod time;
pub mod token;
pub mod userinfo;

#[cfg(all(test, not(target_arch = "wasm32")))]
mod sim;
