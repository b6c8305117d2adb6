//! The one owner of a manager's state: the core [`Session`], and beside it the JavaScript
//! handles that serve it (the proactive timer, the channel, flight waiters, string caches).
//!
//! Why it is built this way: listeners, a custom refresher, axios and a custom fetch all call
//! back into the module, and a `RefCell` borrowed while JavaScript runs would trap on the
//! nested call and poison the instance. So the session is private to this module and reached
//! only through [`Inner::with`], which lends it to plain Rust (the core) and, once it has let
//! go, carries out the events the core queued, dispatching them after the state has settled.
//! The handles sit in their own cell, borrowed only to take or put a value. Nothing is borrowed
//! across an `.await` (clippy's `await_holding_refcell_ref` is denied).
//!
//! Split by what it owns: this file the session, its events and the JavaScript handles;
//! [`flight`] the refresh flights and the proactive timer (a flight is the session's own work,
//! its waiters are handles owned here); [`server`] the identity server's endpoints and the
//! `fetch` of the own requests.

use std::cell::{Cell, RefCell};
use std::rc::{Rc, Weak};

use js_sys::{Function, Promise};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use web_sys::{CustomEvent, EventTarget};

use super::channel::Channel;
use super::dpop::Dpop;
use super::errors::disposed;
use super::http::{self, Proof};
use super::js;
use super::locks;
use super::options::{Options, Refresher, StorageKind};
use super::read;
use super::storage::Store;
use super::write::{self, Out};
use crate::core::discovery::Endpoints;
use crate::core::dpop;
use crate::core::session::{Config, Event, FlightId, Session, Warning};
use crate::core::token::Claims;

mod flight;
mod server;

/// JavaScript handles and caches; none of them decides anything.
#[derive(Default)]
struct Handles {
    timer: Option<gloo_timers::callback::Timeout>,
    channel: Option<Channel>,
    /// Waiters of each flight: a promise and its resolver (one flight at a time, at most a
    /// finished one beside it: a list).
    waiters: Vec<(FlightId, Promise, Function)>,
    /// `Bearer <token>` for token generation `.0`.
    bearer: Option<(u32, JsValue)>,
    /// Is this URL on an allowed origin? Sorted by URL (a binary search; no hashing code).
    origins: Vec<(String, bool)>,
    /// The last URL string given to `fetch`, and whether it may carry the token: calls in a
    /// row to one URL skip the string copy and the lookup.
    last_input: Option<(JsValue, bool)>,
    /// The cached `userInfo()` answer, and the promise of the request in flight (the core's
    /// user-info rule says which to serve).
    user_info: JsValue,
    user_info_pending: Option<Promise>,
    /// The identity server's endpoints, once known (discovered at most once per manager).
    endpoints: Option<Rc<Endpoints>>,
    /// The `state` of the redirect `handleRedirect` is handling, and its promise.
    redirect: Option<(String, Promise)>,
}

pub struct Inner {
    session: RefCell<Session>,
    handles: RefCell<Handles>,
    /// Outside both cells: storage is the browser's code, run with nothing borrowed.
    store: Store,
    pub opts: Options,
    /// The platform's fetch as it was when the manager was made: the library's own requests.
    pub own_fetch: Option<Function>,
    /// The DPoP key and nonces, with `dpop: true`.
    pub dpop: Option<Dpop>,
    /// Where the listeners are: replaced by an empty one on `dispose()`, so a listener that holds
    /// the manager (a cycle through this handle, which the garbage collector cannot see) is let go.
    target: RefCell<EventTarget>,
    disposed: Cell<bool>,
    me: Weak<Inner>,
}

/// A new `EventTarget` (a plain object where there is none: listeners are then refused).
fn new_target() -> EventTarget {
    EventTarget::new().unwrap_or_else(|_| JsValue::from(js_sys::Object::new()).unchecked_into())
}

/// The claims of a JWT access token, read with `JSON.parse`.
pub fn claims_of(token: &str) -> Option<Claims> {
    read::json(&js::jwt_payload(token)?).map(|o| Claims::read(&o))
}

impl Inner {
    pub fn new(opts: Options) -> Rc<Inner> {
        let store = Store::new(opts.storage, &opts.storage_key);
        let shared = store.is_local() && opts.cross_tab;
        let cfg = Config {
            leeway_ms: opts.leeway_ms,
            can_refresh: !matches!(opts.refresh, Refresher::None),
            expire_on_transient: opts.expire_on_transient,
            retry: opts.retry,
            rate_limit: opts.rate_limit,
            shared,
            locks: locks::available(),
        };
        let mut session = Session::new(cfg);
        if let Some(rec) = store.read() {
            let _ = session.restore(&rec);
        }
        let own_fetch = http::global_fetch().map(http::raw_fetch);
        let target = new_target();
        let inner = Rc::new_cyclic(|me: &Weak<Inner>| {
            // the key is kept where the tokens are: in memory with them, else in IndexedDB;
            // once it is there, the core says what it means for the session (before any proof)
            let weak = me.clone();
            let scope = (opts.storage != StorageKind::Memory).then(|| opts.storage_key.clone());
            let dpop = if opts.dpop {
                Dpop::start(scope, move |kept, shared| {
                    if let Some(i) = weak.upgrade() {
                        i.with(|s| s.dpop_key(kept, shared));
                    }
                })
            } else {
                None
            };
            Inner {
                session: RefCell::new(session),
                handles: RefCell::new(Handles::default()),
                target: RefCell::new(target),
                store,
                opts,
                own_fetch,
                dpop,
                disposed: Cell::new(false),
                me: me.clone(),
            }
        });
        if shared {
            let weak = inner.me.clone();
            let ch = Channel::open(&inner.opts.storage_key, move |m| {
                if let Some(i) = weak.upgrade().filter(|i| !i.is_disposed()) {
                    i.with(|s| s.handle_peer(m));
                }
            });
            inner.handles.borrow_mut().channel = ch;
        }
        inner.flush();
        inner.rearm(0.0);
        inner
    }

    /// The one way to the session: `f` (plain Rust: the core) runs with it borrowed; then the
    /// events it queued are carried out with nothing borrowed. Read the clock and draw random
    /// numbers *before* (both are JavaScript, and can be patched to call back in).
    pub fn with<R>(&self, f: impl FnOnce(&mut Session) -> R) -> R {
        let r = f(&mut self.session.borrow_mut());
        self.flush();
        r
    }

    pub fn is_disposed(&self) -> bool {
        self.disposed.get()
    }

    pub fn live(&self) -> Result<(), JsValue> {
        if self.disposed.get() {
            Err(disposed())
        } else {
            Ok(())
        }
    }

    /// Where the listeners are (an empty one once disposed).
    pub fn target(&self) -> EventTarget {
        self.target.borrow().clone()
    }

    // ---- events ----------------------------------------------------------------------------

    fn emit(&self, kind: &str, detail: &[(&str, Out)]) {
        let detail = write::object(detail);
        let init = js_sys::Object::new();
        js::set(&init, "detail", &detail);
        if let Ok(ev) = CustomEvent::new_with_event_init_dict(kind, init.unchecked_ref()) {
            let _ = self.target().dispatch_event(&ev);
        }
    }

    pub fn emit_retry(&self, url: &str, status: u16, attempt: u32, delay_ms: f64, refresh: bool) {
        let fields = [
            ("url", Out::Str(url)),
            ("status", Out::Num(f64::from(status))),
            ("attempt", Out::Num(f64::from(attempt))),
            ("delayMs", Out::Num(delay_ms.round())),
            ("refresh", Out::Bool(true)),
        ];
        // `refresh` only on the token endpoint's retries
        self.emit("retry", &fields[..if refresh { 5 } else { 4 }]);
    }

    /// Carries out the core's queued events, one at a time, holding no borrow while JavaScript
    /// runs (listeners may call back in; a nested `with` drains the rest in order).
    fn flush(&self) {
        let mut rearm = false;
        loop {
            let Some(ev) = self.session.borrow_mut().poll_event() else {
                break;
            };
            match ev {
                Event::Store(rec) => {
                    if !self.store.write(&rec) {
                        self.session.borrow_mut().unshare();
                    }
                    rearm = true;
                }
                Event::Clear => {
                    self.store.clear();
                    // the core no longer serves it (its user-info rule forgot it); nor is the
                    // ended session's user kept in memory
                    self.handles.borrow_mut().user_info = JsValue::UNDEFINED;
                    rearm = true;
                }
                Event::StoreCooldown(until) => self.store.write_cooldown(until),
                Event::Post(msg) => {
                    let ch = self.handles.borrow().channel.as_ref().map(Channel::poster);
                    if let Some(ch) = ch {
                        ch.post(&msg);
                    }
                }
                Event::FlightOver(id) => {
                    let waiters = {
                        let mut h = self.handles.borrow_mut();
                        h.waiters.iter().position(|f| f.0 == id).map(|i| h.waiters.swap_remove(i))
                    };
                    if let Some((_, _, resolve)) = waiters {
                        let _ = resolve.call0(&JsValue::UNDEFINED);
                    }
                    rearm = true;
                }
                Event::TokenRefreshed { expires_at } => {
                    self.emit("token-refreshed", &[("expiresAt", expires_at.map_or(Out::Null, |t| Out::Num(t.ms())))])
                }
                Event::SessionExpired { reason, revoked } => {
                    let detail = [("reason", Out::Str(reason.as_str())), ("revoked", Out::Bool(revoked.unwrap_or(false)))];
                    // `revoked` only after `logout({ revoke })`
                    self.emit("session-expired", &detail[..if revoked.is_some() { 2 } else { 1 }]);
                }
                Event::Warn(w) => warn(&w, &self.opts.origins),
                Event::KeepInMemory => self.store.keep_in_memory(),
            }
        }
        if rearm {
            self.rearm(0.0);
        }
    }

    // ---- tokens and origins ----------------------------------------------------------------

    /// `Bearer <current token>` (`DPoP <token>` for a token bound to the DPoP key), rebuilt
    /// only when the token changes; `None` without one.
    pub fn bearer(&self) -> Option<JsValue> {
        let (gen, text) = {
            let s = self.session.borrow();
            let gen = s.token_generation();
            match &self.handles.borrow().bearer {
                Some((g, v)) if *g == gen => return Some(v.clone()),
                _ => {
                    let t = s.tokens()?;
                    (gen, [dpop::scheme(t.dpop_bound && self.dpop.is_some()), &t.access].concat())
                }
            }
        };
        let v = JsValue::from_str(&text);
        self.handles.borrow_mut().bearer = Some((gen, v.clone()));
        Some(v)
    }

    /// A DPoP proof for an own request presenting `token`, with `dpop: true`.
    pub fn proof<'a>(&'a self, token: Option<&'a str>) -> Option<Proof<'a>> {
        self.dpop.as_ref().map(|dpop| Proof { dpop, token })
    }

    /// The access token a call with DPoP must prove it holds: the current one, when it is bound
    /// and `dpop` is on.
    pub fn bound_token(&self) -> Option<String> {
        self.dpop.as_ref()?;
        self.peek(|s| s.tokens().filter(|t| t.dpop_bound).map(|t| t.access.clone()))
    }

    /// The current access token and its generation.
    pub fn access_token(&self) -> Option<(String, u32)> {
        let s = self.session.borrow();
        Some((s.tokens()?.access.clone(), s.token_generation()))
    }

    /// A read of the session that runs no JavaScript and queues nothing.
    pub fn peek<R>(&self, f: impl FnOnce(&Session) -> R) -> R {
        f(&self.session.borrow())
    }

    /// [`Inner::allowed`] for a `fetch` input: `None` when it is not a string. The last input
    /// is compared (`===`) first, so calls in a row to one URL skip the copy and the lookup.
    pub fn allowed_input(&self, input: &JsValue) -> Option<bool> {
        let last = self.handles.borrow().last_input.clone();
        if let Some((last, a)) = last {
            if last == *input {
                return Some(a);
            }
        }
        let a = self.allowed(&input.as_string()?);
        self.handles.borrow_mut().last_input = Some((input.clone(), a));
        Some(a)
    }

    /// Is `url` (as given: maybe relative) on an allowed origin? Cached per URL.
    pub fn allowed(&self, url: &str) -> bool {
        {
            let h = self.handles.borrow();
            if let Ok(i) = h.origins.binary_search_by(|(k, _)| k.as_str().cmp(url)) {
                return h.origins[i].1;
            }
        }
        let origin = js::resolved(url, "origin");
        let a = origin.is_some_and(|origin| self.opts.origins.contains(&origin));
        let mut h = self.handles.borrow_mut();
        if h.origins.len() >= 512 {
            h.origins.clear();
        }
        // looked up again: `resolve_url` ran JavaScript (a `URL` getter may be patched)
        if let Err(i) = h.origins.binary_search_by(|(k, _)| k.as_str().cmp(url)) {
            h.origins.insert(i, (url.to_string(), a));
        }
        a
    }

    /// The cached `userInfo()` answer, and the promise of the one in flight.
    pub fn user_info_handles(&self) -> (JsValue, Option<Promise>) {
        let h = self.handles.borrow();
        (h.user_info.clone(), h.user_info_pending.clone())
    }

    pub fn set_user_info_pending(&self, p: Option<Promise>) {
        self.handles.borrow_mut().user_info_pending = p;
    }

    pub fn set_user_info(&self, v: JsValue) {
        self.handles.borrow_mut().user_info = v;
    }

    /// The promise of the redirect with this `state`, if `handleRedirect` is handling it.
    pub fn redirect_handled(&self, state: &str) -> Option<Promise> {
        self.handles.borrow().redirect.as_ref().filter(|(s, _)| s == state).map(|(_, p)| p.clone())
    }

    pub fn set_redirect_handled(&self, state: String, p: Promise) {
        self.handles.borrow_mut().redirect = Some((state, p));
    }

    /// The redirect with this `state` is no longer in flight.
    pub fn redirect_over(&self, state: &str) {
        let mut h = self.handles.borrow_mut();
        if h.redirect.as_ref().is_some_and(|(s, _)| s == state) {
            h.redirect = None;
        }
    }

    /// Stops the timer and the channel and wakes every waiter (they then see the disposal).
    pub fn dispose(&self) {
        if self.disposed.replace(true) {
            return;
        }
        let handles = core::mem::take(&mut *self.handles.borrow_mut());
        // dropped here, with nothing borrowed: the timer is cleared, the channel closed
        let Handles { waiters, timer, channel, .. } = handles;
        drop(timer);
        drop(channel);
        // the listeners go with the old one
        let old = self.target.replace(new_target());
        drop(old);
        for (_, _, resolve) in waiters {
            let _ = resolve.call0(&JsValue::UNDEFINED);
        }
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.dispose();
    }
}

/// The console line of a [`Warning`].
fn warn(w: &Warning, origins: &[String]) {
    match w {
        Warning::JunkExpiry(field) => js::warn(
            &["a refresh answer's `", field, "` is not a number; it is ignored (expiry from the token's `exp`, else unknown)"].concat(),
        ),
        Warning::RefreshMisuse(got) => web_sys::console::error_1(&js_sys::TypeError::new(
            &[
                "sessionguard: the `refresh` function resolved with ",
                got,
                "; resolve with a TokenSet, an OAuth2 token answer or a Response, and reject (`status` 400/401 or `terminal: true` for a dead refresh token) on failure",
            ]
            .concat(),
        )),
        Warning::Foreign401(url) => js::warn(
            &[
                "a request to ",
                url,
                " answered 401 without the session's token: its origin is not in `allowedOrigins` (",
                &origins.iter().map(String::as_str).collect::<Vec<_>>().join(", "),
                "); add it there if that API expects the token",
            ]
            .concat(),
        ),
        Warning::NonceUnreadable => js::warn(super::dpop::NONCE_UNREADABLE),
    }
}
