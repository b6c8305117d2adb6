//! The driver: owns the core [`Session`] and carries out what it asks for: storage, the
//! channel, events, refresh flights and the proactive timer.
//!
//! Borrowing rule (SPEC rule 9): the state is a `RefCell` borrowed only inside short,
//! synchronous blocks that never call into JavaScript that could call back (listeners, a custom
//! refresher, axios, a custom fetch); side effects are drained from the core afterwards, and
//! events are dispatched once the state has settled. Nothing is borrowed across an `.await`.

use std::cell::{Cell, RefCell};
use std::rc::{Rc, Weak};

use js_sys::{Function, Promise};
use serde::Serialize;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::{spawn_local, JsFuture};
use web_sys::{AbortSignal, CustomEvent, CustomEventInit, EventTarget};

use super::channel::Channel;
use super::errors::{call_error, disposed};
use super::http;
use super::js;
use super::locks;
use super::options::{Options, Refresher};
use super::port::Parking;
use super::refresher;
use super::storage::Store;
use super::wait;
use crate::core::call::{Call, Verdict};
use crate::core::retry::Answer;
use crate::core::session::{Access, BeforeAttempt, Config, Event, FlightId, RefreshNext, Session, Shared};
use crate::core::time::Time;
use crate::core::token::{jwt_payload, Claims, TokenSet};
use crate::core::userinfo::CacheRule;

/// After taking the cross-tab lock, let the previous holder's storage write and message (which
/// may come from another process) arrive before storage is read.
const SETTLE_MS: f64 = 15.0;
/// How many refreshes one `getAccessToken()` may wait for.
const MAX_WAITS: u32 = 4;

pub struct State {
    pub s: Session,
    /// Waiters of each flight: a promise and its resolver.
    /// (A list: there is one flight at a time, at most a finished one beside it.)
    flights: Vec<(FlightId, Promise, Function)>,
    timer: Option<gloo_timers::callback::Timeout>,
    channel: Option<Channel>,
    /// `Bearer <token>` for token generation `.0`.
    bearer: Option<(u32, JsValue)>,
    pub ui: UserInfoState,
    /// Sorted by URL (a binary search; no hashing code in the module for it).
    origins: Vec<(String, bool)>,
    /// The last URL string given to `fetch`, and whether it may carry the token: calls in a
    /// row to one URL skip the string copy and the lookup.
    last_input: Option<(JsValue, bool)>,
    pub warned_401: bool,
    warned_misuse: bool,
}

#[derive(Default)]
pub struct UserInfoState {
    pub rule: CacheRule,
    pub value: JsValue,
    pub pending: Option<Promise>,
    /// Numbers the requests; a late answer of an older one leaves the state alone.
    pub epoch: u32,
}

pub struct Inner {
    pub st: RefCell<State>,
    /// Outside `st`: storage is the browser's code, run with no borrow held.
    store: Store,
    pub opts: Options,
    /// The platform's fetch as it was when the manager was made: the library's own requests.
    pub own_fetch: Option<Function>,
    target: EventTarget,
    pub disposed: Cell<bool>,
    pub me: Weak<Inner>,
    /// Fast-path calls waiting for their answer.
    pub parked: Parking,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct RetryDetail<'a> {
    url: &'a str,
    status: u16,
    attempt: u32,
    delay_ms: f64,
    #[serde(skip_serializing_if = "core::ops::Not::not")]
    refresh: bool,
}

/// The claims of a JWT access token, read with `JSON.parse`.
pub fn claims_of(token: &str) -> Option<Claims> {
    let obj = js_sys::JSON::parse(&jwt_payload(token)?).ok()?;
    obj.is_object().then(|| serde_wasm_bindgen::from_value(obj).ok()).flatten()
}

impl UserInfoState {
    /// A session ended or started: nothing cached or in flight is served to the next one.
    pub fn forget(&mut self) {
        let epoch = self.epoch.wrapping_add(1);
        *self = UserInfoState { epoch, ..UserInfoState::default() };
    }
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
        let mut s = Session::new(cfg);
        if let Some(rec) = store.read() {
            let _ = s.restore(&rec);
        }
        let own_fetch = http::global_fetch().map(http::raw_fetch);
        let target = EventTarget::new().unwrap_or_else(|_| JsValue::from(js_sys::Object::new()).unchecked_into());
        let state = State {
            s,
            flights: Vec::new(),
            timer: None,
            channel: None,
            bearer: None,
            ui: UserInfoState::default(),
            origins: Vec::new(),
            last_input: None,
            warned_401: false,
            warned_misuse: false,
        };
        let inner = Rc::new_cyclic(|me| Inner {
            st: RefCell::new(state),
            store,
            opts,
            own_fetch,
            target,
            disposed: Cell::new(false),
            me: me.clone(),
            parked: Parking::new(me.clone()),
        });
        if shared {
            let weak = inner.me.clone();
            let ch = Channel::open(&inner.opts.storage_key, move |m| {
                if let Some(i) = weak.upgrade() {
                    if !i.disposed.get() {
                        i.st.borrow_mut().s.handle_peer(m);
                        i.flush();
                    }
                }
            });
            inner.st.borrow_mut().channel = ch;
        }
        inner.flush();
        inner.rearm(0.0);
        inner
    }

    /// Tells the core what the last send of `call` got (with the clock and a random draw for
    /// the backoff jitter, read before the state is borrowed), then carries out its effects.
    pub fn report(&self, call: &mut Call, answer: &Answer) -> Verdict {
        let (now, r) = (js::now(), js::random());
        let verdict = call.on_answer(&mut self.st.borrow_mut().s, answer, now, r);
        self.flush();
        verdict
    }

    pub fn live(&self) -> Result<(), JsValue> {
        if self.disposed.get() {
            Err(disposed())
        } else {
            Ok(())
        }
    }

    fn rc(&self) -> Option<Rc<Inner>> {
        self.me.upgrade()
    }

    // ---- events ----------------------------------------------------------------------------

    pub fn target(&self) -> &EventTarget {
        &self.target
    }

    fn emit<T: Serialize>(&self, kind: &str, detail: &T) {
        let detail = detail.serialize(&serde_wasm_bindgen::Serializer::json_compatible()).unwrap_or(JsValue::NULL);
        let init = CustomEventInit::new();
        init.set_detail(&detail);
        if let Ok(ev) = CustomEvent::new_with_event_init_dict(kind, &init) {
            let _ = self.target.dispatch_event(&ev);
        }
    }

    pub fn emit_retry(&self, url: &str, status: u16, attempt: u32, delay_ms: f64, refresh: bool) {
        self.emit("retry", &RetryDetail { url, status, attempt, delay_ms: delay_ms.round(), refresh });
    }

    /// Carries out the core's queued side effects, one at a time, holding no borrow while
    /// JavaScript runs (listeners may call back in).
    pub fn flush(&self) {
        let mut rearm = false;
        loop {
            let Some(ev) = self.st.borrow_mut().s.poll_event() else {
                break;
            };
            match ev {
                Event::Store(rec) => {
                    if !self.store.write(&rec) {
                        self.st.borrow_mut().s.unshare();
                    }
                    rearm = true;
                }
                Event::Clear => {
                    self.store.clear();
                    self.st.borrow_mut().ui.forget();
                    rearm = true;
                }
                Event::StoreCooldown(until) => self.store.write_cooldown(until),
                Event::Post(msg) => {
                    let ch = self.st.borrow().channel.as_ref().and_then(Channel::handle);
                    if let Some(ch) = ch {
                        Channel::post_on(&ch, &msg);
                    }
                }
                Event::FlightOver(id) => {
                    let waiters = {
                        let mut st = self.st.borrow_mut();
                        st.flights.iter().position(|f| f.0 == id).map(|i| st.flights.swap_remove(i))
                    };
                    if let Some((_, _, resolve)) = waiters {
                        let _ = resolve.call0(&JsValue::UNDEFINED);
                    }
                    rearm = true;
                }
                Event::TokenRefreshed { expires_at } => {
                    #[derive(Serialize)]
                    #[serde(rename_all = "camelCase")]
                    struct D {
                        expires_at: Option<f64>,
                    }
                    self.emit("token-refreshed", &D { expires_at: expires_at.map(Time::ms) });
                }
                Event::SessionExpired(reason) => {
                    #[derive(Serialize)]
                    struct D {
                        reason: &'static str,
                    }
                    self.emit("session-expired", &D { reason: reason.as_str() });
                }
            }
        }
        if rearm {
            self.rearm(0.0);
        }
    }

    // ---- tokens ----------------------------------------------------------------------------

    /// `Bearer <current token>`, rebuilt only when the token changes.
    pub fn bearer(&self) -> Option<JsValue> {
        let (gen, text) = {
            let st = self.st.borrow();
            let gen = st.s.token_generation();
            match &st.bearer {
                Some((g, v)) if *g == gen => return Some(v.clone()),
                _ => (gen, ["Bearer ", &st.s.tokens()?.access].concat()),
            }
        };
        // making a JavaScript string runs JavaScript (the glue's decoder): nothing borrowed
        let v = JsValue::from_str(&text);
        self.st.borrow_mut().bearer = Some((gen, v.clone()));
        Some(v)
    }

    /// [`Inner::allowed`] for a `fetch` input: `None` when it is not a string. The last input
    /// is compared (`===`) first, so calls in a row to one URL skip the copy and the lookup.
    pub fn allowed_input(&self, input: &JsValue) -> Option<bool> {
        // compared with no borrow held (`===` is a call into JavaScript)
        let last = self.st.borrow().last_input.clone();
        if let Some((last, a)) = last {
            if last == *input {
                return Some(a);
            }
        }
        let a = self.allowed(&input.as_string()?);
        self.st.borrow_mut().last_input = Some((input.clone(), a));
        Some(a)
    }

    /// Is `url` (as given: maybe relative) on an allowed origin? Cached per URL.
    pub fn allowed(&self, url: &str) -> bool {
        {
            let st = self.st.borrow();
            if let Ok(i) = st.origins.binary_search_by(|(k, _)| k.as_str().cmp(url)) {
                return st.origins[i].1;
            }
        }
        let a = js::resolve_url(url).is_some_and(|u| self.opts.origins.iter().any(|o| *o == u.origin()));
        let mut st = self.st.borrow_mut();
        if st.origins.len() >= 512 {
            st.origins.clear();
        }
        // looked up again: `resolve_url` ran JavaScript (a `URL` getter may be patched)
        if let Err(i) = st.origins.binary_search_by(|(k, _)| k.as_str().cmp(url)) {
            st.origins.insert(i, (url.to_string(), a));
        }
        a
    }

    // ---- refresh flights -------------------------------------------------------------------

    /// Resolves when flight `id` is over (at once if it already is).
    fn flight_promise(&self, id: FlightId) -> Promise {
        {
            let st = self.st.borrow();
            if !st.s.is_current(id) {
                return Promise::resolve(&JsValue::UNDEFINED);
            }
            if let Some((_, p, _)) = st.flights.iter().find(|f| f.0 == id) {
                return p.clone();
            }
        }
        let mut resolve = None;
        let p = Promise::new(&mut |r, _| resolve = Some(r));
        let resolve = resolve.unwrap_or_else(|| Function::new_no_args(""));
        self.st.borrow_mut().flights.push((id, p.clone(), resolve));
        p
    }

    /// Waits for flight `id` to be over, or for the signal.
    pub async fn wait_flight(&self, id: FlightId, signal: Option<&AbortSignal>) -> Result<(), JsValue> {
        let p = self.flight_promise(id);
        wait::abortable(JsFuture::from(p), signal).await.map(|_| ())
    }

    /// Runs flight `id` (this caller started it) in the background.
    pub fn spawn_flight(&self, id: FlightId) {
        if let Some(me) = self.rc() {
            spawn_local(async move { me.run_flight(id).await });
        }
    }

    fn shared(&self) -> bool {
        self.st.borrow().s.config().shared
    }

    async fn run_flight(self: Rc<Self>, id: FlightId) {
        let url = match &self.opts.refresh {
            Refresher::OAuth2 { token_url, .. } => token_url.clone(),
            Refresher::Cognito { endpoint, .. } => endpoint.clone(),
            _ => String::new(),
        };
        let mut attempt = 0;
        loop {
            let (next, status) = if self.shared() {
                let name = ["sessionguard:", &self.opts.storage_key].concat();
                locks::with_lock(&name, self.attempt(id, true)).await
            } else {
                self.attempt(id, false).await
            };
            match next {
                RefreshNext::RetryIn(delay) if !self.disposed.get() => {
                    attempt += 1;
                    self.emit_retry(&url, status, attempt, delay, true);
                    wait::sleep(delay).await;
                }
                _ => break,
            }
            if self.disposed.get() || !self.st.borrow().s.is_current(id) {
                break;
            }
        }
        // never leave a flight hanging
        if self.st.borrow().s.is_current(id) {
            let now = js::now();
            self.st.borrow_mut().s.refresh_aborted(id, now);
            self.flush();
        }
    }

    /// One attempt of flight `id`, applied (and stored) before it returns.
    async fn attempt(&self, id: FlightId, shared: bool) -> (RefreshNext, u16) {
        if shared {
            wait::sleep(SETTLE_MS).await;
        }
        let view = if shared {
            Shared { tokens: self.store.read().as_ref().and_then(TokenSet::from_record), cooldown_until: self.store.read_cooldown() }
        } else {
            Shared::default()
        };
        let (now, r) = (js::now(), js::random());
        let before = self.st.borrow_mut().s.before_attempt(id, view, now, r);
        self.flush();
        let rt = match before {
            BeforeAttempt::Send(rt) => rt,
            BeforeAttempt::Skip(next) => return (next, 0),
        };
        let Some(fetch) = self.own_fetch.clone().or_else(http::global_fetch) else {
            return (RefreshNext::Settled, 0);
        };
        let a = refresher::attempt(&self.opts.refresh, &fetch, &rt).await;
        if let Some(why) = a.misuse {
            let first = !std::mem::replace(&mut self.st.borrow_mut().warned_misuse, true);
            if first {
                web_sys::console::error_1(&js_sys::TypeError::new(&["sessionguard: ", &why].concat()));
            }
        }
        if self.disposed.get() {
            return (RefreshNext::Settled, a.status);
        }
        let claims = match &a.verdict {
            crate::core::refresh_answer::RefreshVerdict::Tokens(t) => t.access_token.as_deref().and_then(claims_of),
            _ => None,
        };
        let (now, r) = (js::now(), js::random());
        let mut next = self.st.borrow_mut().s.refresh_result(id, a.verdict, claims, now, r);
        self.flush();
        if let RefreshNext::Recheck(grace) = next {
            wait::sleep(grace).await;
            let stored = self.store.read().as_ref().and_then(TokenSet::from_record);
            next = self.st.borrow_mut().s.recheck_terminal(id, stored);
            self.flush();
        }
        (next, a.status)
    }

    /// `getAccessToken()`: a usable token, refreshing first if needed.
    pub async fn token(&self, signal: Option<&AbortSignal>) -> Result<String, JsValue> {
        for _ in 0..=MAX_WAITS {
            self.live()?;
            let now = js::now();
            let a = self.st.borrow_mut().s.access(now);
            self.flush();
            match a {
                Access::Ready => {
                    if let Some(t) = self.st.borrow().s.tokens() {
                        return Ok(t.access.clone());
                    }
                }
                Access::Refresh(id) => {
                    self.spawn_flight(id);
                    self.wait_flight(id, signal).await?;
                }
                Access::Join(id) => self.wait_flight(id, signal).await?,
                Access::Fail(e) => return Err(call_error(e)),
            }
        }
        Err(call_error(crate::core::session::CallError::Unavailable { retry_after_ms: 0.0 }))
    }

    // ---- the proactive timer ---------------------------------------------------------------

    /// Sets the timer for the next proactive refresh, if one is due some day.
    pub fn rearm(&self, min_delay: f64) {
        // the old timer is cancelled (clearTimeout) and the new one set with no borrow held
        let old = self.st.borrow_mut().timer.take();
        drop(old);
        if self.disposed.get() {
            return;
        }
        let Some(at) = self.st.borrow().s.next_wake() else { return };
        let delay = (at - js::now()).max(min_delay);
        let weak = self.me.clone();
        let timer = gloo_timers::callback::Timeout::new(wait::clamp_ms(delay), move || {
            if let Some(i) = weak.upgrade() {
                i.on_timer();
            }
        });
        let replaced = self.st.borrow_mut().timer.replace(timer);
        drop(replaced);
    }

    fn on_timer(&self) {
        if self.disposed.get() {
            return;
        }
        let fired = self.st.borrow_mut().timer.take();
        drop(fired);
        let now = js::now();
        let started = self.st.borrow_mut().s.proactive(now);
        self.flush();
        match started {
            Some(id) => self.spawn_flight(id),
            None => self.rearm(1_000.0), // not due yet: a clamped long delay, or a cool-down
        }
    }

    pub fn dispose(&self) {
        if self.disposed.replace(true) {
            return;
        }
        let (timer, channel, flights) = {
            let mut st = self.st.borrow_mut();
            let flights: Vec<Function> = st.flights.drain(..).map(|(_, _, r)| r).collect();
            (st.timer.take(), st.channel.take(), flights)
        };
        drop(timer);
        if let Some(mut ch) = channel {
            ch.close();
        }
        for r in flights {
            let _ = r.call0(&JsValue::UNDEFINED);
        }
    }
}
