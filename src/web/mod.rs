//! The browser layer: what JavaScript sees (`SessionManager`), driving the core with `web-sys`,
//! `js-sys` and `wasm-bindgen-futures`. One concern per module, each importing only those
//! below it:
//!
//! - [`fetch`], [`axios`], [`userinfo`]: the three kinds of intercepted call;
//! - [`driver`]: the one loop that takes a core `Call` to a send, for all of them;
//! - [`state`]: the one owner of the core session, its events and its refresh flights;
//! - [`refresher`]: one attempt at the token endpoint, in each `refresh` form;
//! - [`signin`], [`signout`], [`endpoints`]: sign-in with code + PKCE, revocation and the
//!   end-session redirect, where the identity server's endpoints are;
//! - [`http`]: the library's own requests (no redirects, no interceptor, 30 s bound);
//! - [`channel`], [`storage`], [`locks`]: the cross-tab transport, storage, Web Locks;
//! - [`options`], [`read`]: what JavaScript hands in, read and checked;
//! - [`wait`], [`errors`], [`js`], [`types`]: timers and aborts, the error classes, safe
//!   property access, the TypeScript declarations.
//!
//! Every method takes `&self` (wasm-bindgen then never refuses a call from a listener that runs
//! inside another method), returns `Result` for bad input (a `TypeError`, never a panic), and
//! async methods return promises driven by futures that hold `Rc`s, not borrows.

// The lite build (no `signin` feature) leaves the sign-in's helpers unused; the full build, which
// clippy checks with -D warnings, still reports dead code.
#![cfg_attr(not(feature = "signin"), allow(dead_code))]

mod axios;
mod channel;
#[cfg(feature = "dpop")]
mod dpop;
#[cfg(not(feature = "dpop"))]
#[path = "dpop_off.rs"]
mod dpop;
mod driver;
mod endpoints;
mod errors;
mod fetch;
mod http;
mod js;
mod locks;
mod options;
mod read;
mod refresher;
#[cfg(feature = "signin")]
mod signin;
#[cfg(feature = "signin")]
mod signout;
mod state;
mod storage;
#[cfg(test)]
mod tests;
mod types;
mod userinfo;
mod wait;
mod write;

use std::rc::Rc;

use js_sys::{Function, Promise};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;

use crate::core::call::Call;
use crate::core::token::{TokenError, TokenInput};
use errors::{describe, type_error};
use fetch::Parking;
use state::{claims_of, Inner};
use wait::promise;

/// A small free-list allocator instead of std's dlmalloc: the module allocates little and is
/// single-threaded.
#[global_allocator]
static ALLOC: lol_alloc::AssumeSingleThreaded<lol_alloc::FreeListAllocator> =
    // SAFETY: wasm32 without threads: there is only one thread.
    unsafe { lol_alloc::AssumeSingleThreaded::new(lol_alloc::FreeListAllocator::new()) };

/// Keeps the tokens, attaches them, refreshes them once, retries throttled calls, and says once
/// when the session is over.
#[wasm_bindgen(skip_typescript)]
pub struct SessionManager {
    inner: Rc<Inner>,
    /// Where this session's fast-path fetch calls wait for their answers.
    parking: Rc<Parking>,
    /// `fetch`, bound to this session.
    bound_fetch: JsValue,
    /// The functions `wrapFetch` handed out.
    own_wrappers: js_sys::WeakSet,
}

#[wasm_bindgen]
impl SessionManager {
    #[wasm_bindgen(constructor)]
    pub fn new(options: JsValue) -> Result<SessionManager, JsValue> {
        crate::core::retry::use_platform_date_parser(js::http_date);
        let opts = options::parse(&options)?;
        let inner = Inner::new(opts);
        let parking = Parking::new(&inner);
        let bound_fetch = fetch::fetch_fn(&inner, &parking, None).into();
        Ok(SessionManager { inner, parking, bound_fetch, own_wrappers: js_sys::WeakSet::new() })
    }

    /// Starts or replaces the session (after login).
    #[wasm_bindgen(js_name = setTokens)]
    pub fn set_tokens(&self, tokens: JsValue) -> Result<(), JsValue> {
        self.inner.live()?;
        const SHAPE: &str =
            "setTokens() takes { accessToken, refreshToken?, idToken?, expiresIn?, expiresAt? } or an OAuth2 answer { access_token, ... }";
        if !tokens.is_object() || js_sys::Array::is_array(&tokens) {
            return Err(type_error(&[SHAPE, "; got ", &describe(&tokens)].concat()));
        }
        let input = TokenInput::read(&read::Obj(tokens.clone()));
        if let Some(key) = input.junk_expiry {
            return Err(type_error(&["setTokens(): `", key, "` must be a number, got ", &describe(&js::get(&tokens, key))].concat()));
        }
        if input.access_token.is_none() {
            let hint = if js::get(&tokens, "data").is_object() { " (an axios response? pass response.data)" } else { "" };
            return Err(type_error(&[SHAPE, "; got ", &describe(&tokens), hint].concat()));
        }
        let claims = input.access_token.as_deref().and_then(claims_of);
        let now = js::now();
        match self.inner.with(|s| s.set_tokens(&input, claims, now)) {
            Ok(()) => Ok(()),
            Err(TokenError::UnusableAccessToken) => Err(type_error(
                "setTokens(): `accessToken` must be a non-empty header value (visible ASCII), not \"null\" or \"undefined\"",
            )),
            Err(TokenError::BadExpiry) => Err(type_error("setTokens(): `expiresIn`/`expiresAt` must be numbers")),
        }
    }

    /// A valid access token, refreshing first if needed (single flight).
    #[wasm_bindgen(js_name = getAccessToken)]
    pub fn get_access_token(&self) -> Promise {
        let inner = self.inner.clone();
        promise(async move {
            let mut call = Call::token();
            driver::until_send(&inner, &mut call, None, None).await?;
            let token = inner.access_token().map(|(t, _)| t);
            token.map(JsValue::from).ok_or_else(|| errors::call_error(crate::core::session::CallError::NoSession))
        })
    }

    /// The interceptor, bound: `const { fetch } = session` works.
    #[wasm_bindgen(getter)]
    pub fn fetch(&self) -> JsValue {
        self.bound_fetch.clone()
    }

    /// A `fetch`-compatible function bound to this session, sending with `fetchImpl` or with
    /// the global `fetch` as it is now (so installing the result as `window.fetch` is safe, and
    /// installing it twice does not stack).
    #[wasm_bindgen(js_name = wrapFetch)]
    pub fn wrap_fetch(&self, fetch_impl: JsValue) -> Result<JsValue, JsValue> {
        self.inner.live()?;
        let target = if fetch_impl.is_undefined() || fetch_impl.is_null() {
            http::global_fetch().ok_or_else(|| type_error("there is no global fetch here: pass one to wrapFetch(fetchImpl)"))?
        } else {
            fetch_impl
                .dyn_into::<Function>()
                .map_err(|v| type_error(&["wrapFetch() takes a fetch function, got ", &describe(&v)].concat()))?
        };
        // our own wrapper (of this session) is unwrapped: wrapping twice does not stack
        let mut target = target;
        while let Some(inner_target) = http::wrapped(&target).filter(|_| self.own_wrappers.has(&target)) {
            target = inner_target;
        }
        let f: JsValue = fetch::fetch_fn(&self.inner, &self.parking, Some(target.clone())).into();
        http::register_wrapper(&f, &target);
        self.own_wrappers.add(f.unchecked_ref());
        Ok(f)
    }

    /// Installs request/response interceptors on an axios instance; the result removes them.
    #[wasm_bindgen(js_name = attachAxios)]
    pub fn attach_axios(&self, instance: JsValue) -> Result<Function, JsValue> {
        axios::attach(&self.inner, instance)
    }

    /// The decoded payload of the access (default) or ID token, not verified; `null` if none.
    pub fn claims(&self, which: JsValue) -> Result<JsValue, JsValue> {
        let id = match which.as_string().as_deref() {
            _ if which.is_undefined() || which.is_null() => false,
            Some("access") => false,
            Some("id") => true,
            _ => return Err(type_error(&["claims() takes \"access\" or \"id\", got ", &describe(&which)].concat())),
        };
        if self.inner.is_disposed() {
            return Ok(JsValue::NULL);
        }
        let token = self.inner.peek(|s| s.tokens().and_then(|t| if id { t.id.clone() } else { Some(t.access.clone()) }));
        let parsed = token.as_deref().and_then(js::jwt_payload).and_then(|p| js_sys::JSON::parse(&p).ok());
        Ok(parsed.filter(|v| v.is_object() && !js_sys::Array::is_array(v)).unwrap_or(JsValue::NULL))
    }

    /// Cognito `GetUser` or the OIDC `userInfoUrl`, cached for `userInfoTtlSeconds`, single flight.
    #[wasm_bindgen(js_name = userInfo)]
    pub fn user_info(&self) -> Promise {
        userinfo::user_info_promise(&self.inner)
    }

    #[wasm_bindgen(js_name = isAuthenticated)]
    pub fn is_authenticated(&self) -> bool {
        !self.inner.is_disposed() && self.inner.peek(|s| s.is_authenticated())
    }

    /// Ends the session here and, with `crossTab`, in every tab; with `{ revoke: true }` also at
    /// the server (revoking the refresh token), with `{ redirect: true }` then at the server's
    /// end-session page. Resolves once that is done (at once without options).
    pub fn logout(&self, options: JsValue) -> Promise {
        if self.inner.is_disposed() {
            return Promise::resolve(&JsValue::UNDEFINED);
        }
        #[cfg(feature = "signin")]
        return signout::logout(&self.inner, &options);
        // the lite build: here only
        #[cfg(not(feature = "signin"))]
        match options::logout_options(&options) {
            Ok((false, false)) => {
                self.inner.with(|s| s.logout());
                Promise::resolve(&JsValue::UNDEFINED)
            }
            Ok(_) => Promise::reject(&type_error(errors::FULL_ONLY_SIGNOUT)),
            Err(e) => Promise::reject(&e),
        }
    }

    /// Signs in with the authorization code flow and PKCE: to the identity server's login page,
    /// or (with `returnUrl: true`) the URL of it.
    #[cfg(feature = "signin")]
    #[wasm_bindgen(js_name = signIn)]
    pub fn sign_in(&self, options: JsValue) -> Promise {
        signin::sign_in(&self.inner, options)
    }

    /// The redirect back from the identity server (default: `location.href`): checked,
    /// exchanged, and the session started; resolves with the `appState` given to `signIn`.
    #[cfg(feature = "signin")]
    #[wasm_bindgen(js_name = handleRedirect)]
    pub fn handle_redirect(&self, url: JsValue) -> Promise {
        signin::handle_redirect(&self.inner, url)
    }

    pub fn stats(&self) -> JsValue {
        let s = self.inner.peek(|s| s.stats());
        write::stats(&s)
    }

    /// As `EventTarget`'s: `options` may be `{ once, signal }`.
    #[wasm_bindgen(js_name = addEventListener)]
    pub fn add_event_listener(&self, kind: JsValue, listener: JsValue, options: JsValue) -> Result<(), JsValue> {
        let kind = kind.as_string().ok_or_else(|| type_error("addEventListener(): the event type must be a string"))?;
        if listener.is_undefined() || listener.is_null() {
            return Ok(());
        }
        if !listener.is_function() && js::get_fn(&listener, "handleEvent").is_none() {
            return Err(type_error(&["addEventListener() needs a function, got ", &describe(&listener)].concat()));
        }
        types::add_listener(&self.inner.target(), &kind, &listener, &options)
    }

    #[wasm_bindgen(js_name = removeEventListener)]
    pub fn remove_event_listener(&self, kind: JsValue, listener: JsValue, options: JsValue) -> Result<(), JsValue> {
        let kind = kind.as_string().ok_or_else(|| type_error("removeEventListener(): the event type must be a string"))?;
        if listener.is_undefined() || listener.is_null() {
            return Ok(());
        }
        types::remove_listener(&self.inner.target(), &kind, &listener, &options)
    }

    /// Stops timers and channels; later calls reject with `SessionDisposedError`.
    pub fn dispose(&self) {
        self.inner.dispose();
    }
}

// No `Drop` that disposes: `free()` (or the garbage collector, where wasm-bindgen registers the
// object) lets go of this handle only. The session lives while anything the app can call holds
// it (`fetch`, a wrapper, axios interceptors, a pending call); the last one gone drops `Inner`,
// whose `Drop` disposes.
