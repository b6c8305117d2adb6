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
//! Refresh flights run here too: a flight is the session's own work (one at a time, under the
//! cross-tab lock), and its waiters are handles this module owns.

use std::cell::{Cell, RefCell};
use std::rc::{Rc, Weak};

use js_sys::{Function, Promise};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use web_sys::{AbortSignal, CustomEvent, EventTarget};

use super::channel::Channel;
use super::dpop::Dpop;
use super::driver;
use super::endpoints;
use super::errors::disposed;
use super::http::{self, Proof};
use super::js;
use super::locks;
use super::options::{Options, Refresher, StorageKind};
use super::read;
use super::refresher;
use super::storage::Store;
use super::wait;
use super::write::{self, Out};
use crate::core::discovery::Endpoints;
use crate::core::dpop;
use crate::core::own::{Judged, OwnRequest};
use crate::core::refresh_answer::RefreshVerdict;
use crate::core::session::{BeforeAttempt, Config, Event, FlightId, RefreshNext, Session, Shared, Warning};
use crate::core::signin::Failure;
use crate::core::token::{Claims, TokenSet};

/// After taking the cross-tab lock, how long to let the previous holder's storage write reach
/// this process. Not an ordering: see `attempt`.
const SETTLE_MS: f64 = 15.0;

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

    /// The `fetch` of the library's own requests: the platform's as it was when the manager
    /// was made, else the global one now.
    pub fn fetch_fn(&self) -> Option<Function> {
        self.own_fetch.clone().or_else(http::global_fetch)
    }

    /// The identity server's endpoints: the options' own, completed by discovery when they
    /// name an issuer (once: a failure is not kept, the next use tries again).
    pub async fn endpoints(&self) -> Result<Rc<Endpoints>, Failure> {
        if let Some(e) = self.handles.borrow().endpoints.clone() {
            return Ok(e);
        }
        let server = &self.opts.server;
        let found = match endpoints::document(server) {
            None => server.endpoints.clone(),
            Some(url) => {
                let fetch = self.fetch_fn().ok_or_else(|| Failure::Discovery("there is no fetch here".into()))?;
                let mut req = OwnRequest::new();
                let mut send =
                    |ms| Box::pin(http::send(&fetch, &url, "GET", &[("Accept", "application/json")], JsValue::UNDEFINED, None, ms)) as _;
                let mut found = Err(Failure::Discovery("the session was disposed".into()));
                let _ = driver::own(self, &mut req, &self.opts.retry, &url, &mut send, &mut |a| {
                    found = endpoints::from_answer(server, a);
                    Judged::Done(())
                })
                .await;
                found?
            }
        };
        let found = Rc::new(found);
        self.handles.borrow_mut().endpoints = Some(found.clone());
        Ok(found)
    }

    /// An endpoint of the identity server: the one the options name, else the discovered one
    /// (no discovery when the options name it). `None` when it cannot be known now.
    pub async fn endpoint(&self, pick: fn(&Endpoints) -> Option<&String>) -> Option<String> {
        if let Some(url) = pick(&self.opts.server.endpoints) {
            return Some(url.clone());
        }
        if !cfg!(feature = "signin") {
            return None; // the lite build: no discovery
        }
        self.endpoints().await.ok().and_then(|e| pick(&e).cloned())
    }

    /// Where a refresh goes: the `oauth2` form's token endpoint, Cognito's API, nowhere for a
    /// function.
    async fn token_url(&self) -> Option<String> {
        match &self.opts.refresh {
            Refresher::OAuth2 => self.endpoint(|e| e.token.as_ref()).await,
            Refresher::Cognito { endpoint } => Some(endpoint.clone()),
            _ => Some(String::new()),
        }
    }

    // ---- refresh flights -------------------------------------------------------------------

    /// Resolves when flight `id` is over (at once if it already is).
    fn flight_promise(&self, id: FlightId) -> Promise {
        if !self.session.borrow().is_current(id) {
            return Promise::resolve(&JsValue::UNDEFINED);
        }
        if let Some((_, p, _)) = self.handles.borrow().waiters.iter().find(|f| f.0 == id) {
            return p.clone();
        }
        let (p, resolve) = wait::deferred();
        self.handles.borrow_mut().waiters.push((id, p.clone(), resolve));
        p
    }

    /// Waits for flight `id` to be over, or for the signal.
    pub async fn wait_flight(&self, id: FlightId, signal: Option<&AbortSignal>) -> Result<(), JsValue> {
        let p = self.flight_promise(id);
        wait::abortable(p, signal).await.map(|_| ())
    }

    /// Runs flight `id` (a caller or the timer started it) in the background.
    pub fn spawn_flight(&self, id: FlightId) {
        if let Some(me) = self.me.upgrade() {
            // through the module's one `future_to_promise` (the promise is not needed)
            let _ = wait::promise(async move {
                me.run_flight(id).await;
                Ok(JsValue::UNDEFINED)
            });
        }
    }

    async fn run_flight(self: Rc<Self>, id: FlightId) {
        let shared = self.peek(|s| s.config().shared);
        let mut attempt = 0;
        // one own request for the whole refresh: its one DPoP nonce resend, whatever the retries
        let mut req = OwnRequest::new();
        loop {
            // discovered before the lock is taken: under it, one bounded request (the core's
            // rule in `crosstab`: the lock covers its work)
            let url = self.token_url().await;
            let (next, status) = if shared {
                let name = ["sessionguard:", &self.opts.storage_key].concat();
                locks::with_lock(&name, self.attempt(id, true, url.as_deref(), &mut req)).await
            } else {
                self.attempt(id, false, url.as_deref(), &mut req).await
            };
            match next {
                RefreshNext::RetryIn(delay) if !self.is_disposed() => {
                    attempt += 1;
                    self.emit_retry(url.as_deref().unwrap_or_default(), status, attempt, delay, true);
                    wait::sleep(delay).await;
                }
                _ => break,
            }
            if self.is_disposed() || !self.peek(|s| s.is_current(id)) {
                break;
            }
        }
        // never leave a flight hanging
        if self.peek(|s| s.is_current(id)) {
            let now = js::now();
            self.with(|s| s.refresh_aborted(id, now));
        }
    }

    /// One attempt of flight `id` at `url` (`None`: the token endpoint could not be discovered),
    /// applied (and stored) before it returns.
    ///
    /// With `shared`, it runs under the cross-tab lock. Every holder writes what it got (tokens,
    /// a cool-down, the end) to storage, and posts it, inside `with`, synchronously, before this
    /// returns and `with_lock` releases; the next holder is granted after that release. But
    /// Chromium gives each tab's process its own copy of local storage, updated from the
    /// others asynchronously, with no order against Web Locks: read at once, the next holder
    /// missed the previous one's cool-down often enough to refresh again
    /// (`tests/e2e/crosstab.test.mjs`, throttled endpoint). So it still waits `SETTLE_MS` first:
    /// a heuristic, not an ordering (one that is would keep the shared record in IndexedDB,
    /// whose transactions are ordered across processes). A terminal answer is never taken as it
    /// is either: storage is read again and newer tokens adopted (`Session::recheck_terminal`).
    async fn attempt(&self, id: FlightId, shared: bool, url: Option<&str>, req: &mut OwnRequest) -> (RefreshNext, u16) {
        if shared {
            wait::sleep(SETTLE_MS).await;
        }
        let view = if shared {
            Shared { tokens: self.store.read().as_ref().and_then(TokenSet::from_record), cooldown_until: self.store.read_cooldown() }
        } else {
            Shared::default()
        };
        let (now, r) = (js::now(), js::random());
        let rt = match self.with(|s| s.before_attempt(id, view, now, r)) {
            BeforeAttempt::Send(rt) => rt,
            BeforeAttempt::Skip(next) => return (next, 0),
        };
        let (verdict, status) = match url {
            Some(url) => refresher::attempt(self, req, url, &rt).await,
            // an undiscoverable token endpoint: an outage, not a dead session
            None => (RefreshVerdict::Transient { retry_after_ms: None }, 0),
        };
        if self.is_disposed() {
            return (RefreshNext::Settled, status);
        }
        let claims = match &verdict {
            RefreshVerdict::Tokens(t) => t.access_token.as_deref().and_then(claims_of),
            _ => None,
        };
        let (now, r) = (js::now(), js::random());
        let mut next = self.with(|s| s.refresh_result(id, verdict, claims, now, r));
        if let RefreshNext::Recheck(grace) = next {
            wait::sleep(grace).await;
            let stored = self.store.read().as_ref().and_then(TokenSet::from_record);
            next = self.with(|s| s.recheck_terminal(id, stored));
        }
        (next, status)
    }

    // ---- the proactive timer ---------------------------------------------------------------

    /// Sets the timer for the next proactive refresh, if one is due some day.
    fn rearm(&self, min_delay: f64) {
        // the old timer is cancelled (clearTimeout) with nothing borrowed
        let old = self.handles.borrow_mut().timer.take();
        drop(old);
        if self.is_disposed() {
            return;
        }
        let Some(at) = self.peek(Session::next_wake) else { return };
        let delay = (at - js::now()).max(min_delay);
        let weak = self.me.clone();
        let timer = gloo_timers::callback::Timeout::new(wait::clamp_ms(delay), move || {
            if let Some(i) = weak.upgrade() {
                i.on_timer();
            }
        });
        let replaced = self.handles.borrow_mut().timer.replace(timer);
        drop(replaced);
    }

    fn on_timer(&self) {
        if self.is_disposed() {
            return;
        }
        let fired = self.handles.borrow_mut().timer.take();
        drop(fired);
        let now = js::now();
        match self.with(|s| s.proactive(now)) {
            Some(id) => self.spawn_flight(id),
            None => self.rearm(1_000.0), // not due yet: a clamped long delay, or a cool-down
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
