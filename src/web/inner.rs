//! The state behind one `SessionManager`, and the shell's side of the core's decisions:
//! running refresh flights, waking the proactive timer, storing tokens, firing events.
//!
//! Borrow discipline: `session` is borrowed only inside short blocks that end before any
//! `.await` and before any call into JavaScript that could call back (listeners, storage is
//! fine). Core events are drained one at a time with the borrow released in between, so a
//! listener may call any method of the manager.

use std::cell::{Cell, RefCell};
use std::rc::{Rc, Weak};

use gloo_timers::callback::Timeout;
use js_sys::{Function, Promise};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::{spawn_local, JsFuture};

use super::crosstab::Channel;
use super::js::{call_error, named_error, now, object, race, random, sleep, with_lock};
use super::options::{Options, StorageKind};
use super::refresher;
use super::storage::Store;
use crate::core::call::{Call, Step};
use crate::core::refresh_answer::RefreshVerdict;
use crate::core::session::{Access, CallError, EndReason, Event, FlightId, RefreshNext, Session};

/// `setTimeout` takes a signed 32-bit delay; longer ones fire at once.
const MAX_TIMER_MS: f64 = 2_147_483_647.0;
/// How many times `getAccessToken` may wait for a refresh before giving up.
const MAX_WAITS: u32 = 4;
/// How long a tab waits for the cross-tab refresh lock before stealing it (longer than one
/// refresh attempt's 30 s timeout).
const LOCK_TIMEOUT_MS: f64 = 35_000.0;
/// Without Web Locks: how long a terminal answer waits for another tab's fresh tokens.
const TERMINAL_GRACE_MS: f64 = 1_000.0;

struct FlightWait {
    id: FlightId,
    promise: Promise,
    resolve: Function,
}

pub struct Inner {
    pub opts: Options,
    pub session: RefCell<Session>,
    pub target: web_sys::EventTarget,
    pub store: Store,
    flight: RefCell<Option<FlightWait>>,
    timer: RefCell<Option<Timeout>>,
    pub disposed: Cell<bool>,
    pub userinfo: RefCell<super::userinfo::Cache>,
    channel: RefCell<Option<Channel>>,
    me: Weak<Inner>,
}

impl Inner {
    pub fn new(opts: Options, session: Session, target: web_sys::EventTarget, store: Store) -> Rc<Inner> {
        Rc::new_cyclic(|me| Inner {
            opts,
            session: RefCell::new(session),
            target,
            store,
            flight: RefCell::new(None),
            timer: RefCell::new(None),
            disposed: Cell::new(false),
            userinfo: RefCell::new(Default::default()),
            channel: RefCell::new(None),
            me: me.clone(),
        })
    }

    /// Opens the cross-tab channel when tabs share this session.
    pub fn connect_tabs(&self) {
        if self.shares_tabs() {
            *self.channel.borrow_mut() = Channel::open(self.me.clone(), &self.opts.storage_key);
        }
    }

    /// Tabs share the session: `storage: "local"` (and available) with `crossTab`.
    pub fn shares_tabs(&self) -> bool {
        self.opts.storage == StorageKind::Local && self.opts.cross_tab && self.store.is_persistent()
    }

    /// News from another tab: new tokens in storage, or the session ended there.
    pub fn on_remote(&self, msg: &JsValue) {
        if self.disposed.get() {
            return;
        }
        match super::js::get_string(msg, "t").as_deref() {
            Some("tokens") => {
                let sent = super::js::get_string(msg, "rec").and_then(|r| crate::core::token::TokenSet::from_record(&r));
                let Some(set) = sent.or_else(|| self.store.read()) else { return };
                let login = super::js::get(msg, "login").as_bool() == Some(true);
                let changed = self.session.borrow_mut().adopt(set, login);
                if changed {
                    self.settle_flight(None);
                    self.flush();
                    self.rearm();
                }
            }
            Some("end") => {
                let reason = super::js::get_string(msg, "r").and_then(|r| EndReason::parse(&r)).unwrap_or(EndReason::Logout);
                // A logout ends every tab. A terminal answer about another refresh token (this
                // tab already holds newer tokens) does not end this one.
                let tag = super::js::get(msg, "f").as_f64();
                let ours = self.refresh_tag().map(f64::from);
                if reason != EndReason::Logout && tag.is_some() && tag != ours {
                    return;
                }
                self.session.borrow_mut().end_external(reason);
                self.flush();
            }
            _ => {}
        }
    }

    fn refresh_tag(&self) -> Option<u32> {
        self.session.borrow().tokens().and_then(|t| t.refresh.as_deref().map(crate::core::token::fingerprint))
    }

    /// A token set another tab stored that differs from ours, if any.
    fn newer_stored(&self) -> Option<crate::core::token::TokenSet> {
        let stored = self.store.read()?;
        let ours = self.session.borrow().tokens().map(|t| t.access.clone());
        (ours.as_deref() != Some(stored.access.as_str())).then_some(stored)
    }

    fn rc(&self) -> Option<Rc<Inner>> {
        self.me.upgrade()
    }

    pub fn check_live(&self) -> Result<(), JsValue> {
        if self.disposed.get() {
            Err(named_error("SessionDisposedError", "sessionguard: this SessionManager was disposed"))
        } else {
            Ok(())
        }
    }

    pub fn is_allowed_origin(&self, origin: &str) -> bool {
        self.opts.allowed_origins.iter().any(|o| o == origin)
    }

    pub fn dispatch(&self, ty: &str, detail: &JsValue) {
        let init = web_sys::CustomEventInit::new();
        init.set_detail(detail);
        if let Ok(ev) = web_sys::CustomEvent::new_with_event_init_dict(ty, &init) {
            let _ = self.target.dispatch_event(&ev);
        }
    }

    /// Carries out the core's queued side effects. Call after every session change, with no
    /// borrow held.
    pub fn flush(&self) {
        let mut rearm = false;
        // the refresh token of the session as it was before an end event, for other tabs
        let mut tag = self.refresh_tag();
        let mut refreshed = false;
        loop {
            let ev = self.session.borrow_mut().poll_event();
            let Some(ev) = ev else { break };
            match ev {
                Event::Store => {
                    let set = self.session.borrow().tokens().cloned();
                    if let Some(set) = set {
                        let record = set.to_record();
                        self.store.write_record(&record);
                        if let Some(c) = self.channel.borrow().as_ref() {
                            c.post_tokens(&record, !refreshed);
                        }
                        tag = set.refresh.as_deref().map(crate::core::token::fingerprint);
                    }
                    rearm = true;
                }
                Event::Clear => {
                    self.store.clear();
                    self.userinfo.borrow_mut().clear();
                    rearm = true;
                }
                Event::TokenRefreshed { expires_at } => {
                    refreshed = true;
                    let at = expires_at.map_or(JsValue::NULL, JsValue::from_f64);
                    self.dispatch("token-refreshed", &object(&[("expiresAt", at)]));
                }
                Event::SessionExpired(reason) => {
                    if let Some(c) = self.channel.borrow().as_ref() {
                        c.post_end(reason.as_str(), tag);
                    }
                    self.settle_flight(None);
                    self.dispatch("session-expired", &object(&[("reason", reason.as_str().into())]));
                }
            }
        }
        if rearm {
            self.rearm();
        }
    }

    // ---- refresh flights ----------------------------------------------------------------

    /// Starts the refresh the core just asked for, in the background.
    pub fn spawn_refresh(&self, id: FlightId, refresh_token: String) {
        let Some(me) = self.rc() else { return };
        let mut resolve = None;
        let promise = Promise::new(&mut |res, _rej| resolve = Some(res));
        if let Some(resolve) = resolve {
            *self.flight.borrow_mut() = Some(FlightWait { id, promise, resolve });
        }
        spawn_local(async move { me.run_refresh(id, refresh_token).await });
    }

    async fn run_refresh(&self, id: FlightId, mut refresh_token: String) {
        loop {
            let next = if self.shares_tabs() { self.locked_step(id, refresh_token).await } else { self.refresh_step(id, refresh_token).await };
            if self.disposed.get() {
                break;
            }
            match next {
                RefreshNext::Settled => break,
                RefreshNext::RetryIn(delay) => {
                    let _ = JsFuture::from(sleep(delay, &JsValue::UNDEFINED)).await;
                    let rt = self.session.borrow().refresh_token_for(id);
                    match rt {
                        Some(rt) if !self.disposed.get() => refresh_token = rt,
                        _ => break,
                    }
                }
            }
        }
        self.settle_flight(Some(id));
        self.rearm();
    }

    /// One attempt of flight `id`, applied to the session (and stored) before it returns. With
    /// tabs sharing the session this runs under the cross-tab lock: see `crosstab`.
    async fn refresh_step(&self, id: FlightId, refresh_token: String) -> RefreshNext {
        if !self.session.borrow().is_current(id) || self.disposed.get() {
            return RefreshNext::Settled;
        }
        let shared = self.shares_tabs();
        if shared {
            if let Some(stored) = self.newer_stored() {
                let next = self.session.borrow_mut().refresh_adopted(id, stored);
                self.flush();
                return next;
            }
        }
        let cooldown = if shared { self.store.read_cooldown() - now() } else { 0.0 };
        let verdict = if cooldown > 0.0 {
            RefreshVerdict::Transient { retry_after_ms: Some(cooldown) }
        } else {
            refresher::attempt(&self.opts.refresh, &refresh_token).await
        };
        if shared && verdict == RefreshVerdict::Terminal {
            if !super::js::has_locks() {
                // Without the lock another tab may be refreshing right now with the same
                // (rotating) refresh token: give its tokens a moment to arrive.
                let _ = JsFuture::from(sleep(TERMINAL_GRACE_MS, &JsValue::UNDEFINED)).await;
                if !self.session.borrow().is_current(id) {
                    return RefreshNext::Settled;
                }
            }
            if let Some(stored) = self.newer_stored() {
                let next = self.session.borrow_mut().refresh_adopted(id, stored);
                self.flush();
                return next;
            }
        }
        let next = self.session.borrow_mut().refresh_result(id, verdict, now(), random());
        self.flush();
        if shared {
            let until = self.session.borrow().cooldown_until();
            if until > now() && cooldown <= 0.0 {
                self.store.write_cooldown(until);
            }
        }
        next
    }

    /// `refresh_step` under the cross-tab Web Lock.
    async fn locked_step(&self, id: FlightId, refresh_token: String) -> RefreshNext {
        let Some(me) = self.rc() else { return RefreshNext::Settled };
        let step = Closure::once_into_js(move || {
            wasm_bindgen_futures::future_to_promise(async move {
                let next = me.refresh_step(id, refresh_token).await;
                Ok(JsValue::from_f64(match next {
                    RefreshNext::Settled => -1.0,
                    RefreshNext::RetryIn(d) => d,
                }))
            })
        });
        let name = ["sessionguard:", &self.opts.storage_key].concat();
        match JsFuture::from(with_lock(&name, LOCK_TIMEOUT_MS, &step)).await.ok().and_then(|v| v.as_f64()) {
            Some(d) if d >= 0.0 => RefreshNext::RetryIn(d),
            Some(_) => RefreshNext::Settled,
            // The lock machinery itself failed: do the step without it rather than leave the
            // flight unsettled.
            None => {
                let rt = self.session.borrow().refresh_token_for(id);
                match rt {
                    Some(rt) => Box::pin(self.refresh_step(id, rt)).await,
                    None => RefreshNext::Settled,
                }
            }
        }
    }

    /// Wakes everyone waiting on the flight (`id`, or whichever is running).
    pub fn settle_flight(&self, id: Option<FlightId>) {
        let taken = {
            let mut f = self.flight.borrow_mut();
            if f.as_ref().is_some_and(|w| id.is_none_or(|id| w.id == id)) {
                f.take()
            } else {
                None
            }
        };
        if let Some(w) = taken {
            let _ = w.resolve.call0(&JsValue::UNDEFINED);
        }
    }

    /// Waits until the running flight settles (at once if none), or the signal aborts.
    pub async fn wait_flight(&self, signal: &JsValue) -> Result<(), JsValue> {
        let p = self.flight.borrow().as_ref().map(|w| w.promise.clone());
        if let Some(p) = p {
            JsFuture::from(race(&p, signal)).await?;
        }
        Ok(())
    }

    /// Runs `call.next` until it says "send": waits for the rate limiter, backoff and refreshes
    /// on the way, each abortable by `signal`. Returns the token to send with.
    pub async fn next_send(&self, call: &mut Call, signal: &JsValue) -> Result<String, JsValue> {
        loop {
            self.check_live()?;
            let step = call.next(&mut self.session.borrow_mut(), now());
            self.flush();
            match step {
                Step::Send(token) => return Ok(token),
                Step::SleepUntil(t) => {
                    JsFuture::from(sleep(t - now(), signal)).await?;
                }
                Step::Refresh(id, rt) => {
                    self.spawn_refresh(id, rt);
                    self.wait_flight(signal).await?;
                }
                Step::Join(_) => self.wait_flight(signal).await?,
                Step::Fail(e) => return Err(call_error(e)),
            }
        }
    }

    /// `getAccessToken()`: a usable token, refreshing first if needed.
    pub async fn access_token(&self, signal: &JsValue) -> Result<String, JsValue> {
        for _ in 0..=MAX_WAITS {
            self.check_live()?;
            let access = self.session.borrow_mut().access(now());
            self.flush();
            match access {
                Access::Ready(t) => return Ok(t),
                Access::Refresh(id, rt) => {
                    self.spawn_refresh(id, rt);
                    self.wait_flight(signal).await?;
                }
                Access::Join(_) => self.wait_flight(signal).await?,
                Access::Fail(e) => return Err(call_error(e)),
            }
        }
        Err(call_error(CallError::Unavailable { retry_after_ms: 0.0 }))
    }

    // ---- proactive timer ------------------------------------------------------------------

    /// (Re)arms the proactive refresh timer from the core's `next_wake`.
    pub fn rearm(&self) {
        self.rearm_with(0.0);
    }

    fn rearm_with(&self, min_delay: f64) {
        let wake = self.session.borrow().next_wake();
        let mut timer = self.timer.borrow_mut();
        *timer = None; // dropping a Timeout cancels it
        let (Some(at), false) = (wake, self.disposed.get()) else { return };
        let delay = (at - now()).clamp(min_delay, MAX_TIMER_MS);
        let me = self.me.clone();
        *timer = Some(Timeout::new(delay as u32, move || {
            // Not inside the timer's own callback: rearming drops the Timeout that runs it.
            spawn_local(async move {
                if let Some(me) = me.upgrade() {
                    me.on_timer();
                }
            });
        }));
    }

    fn on_timer(&self) {
        if self.disposed.get() {
            return;
        }
        let started = self.session.borrow_mut().proactive(now());
        self.flush();
        match started {
            Some((id, rt)) => self.spawn_refresh(id, rt),
            // Not due (a clamped long delay, or a cool-down): look again later.
            None => self.rearm_with(1_000.0),
        }
    }

    pub fn dispose(&self) {
        self.disposed.set(true);
        if let Some(c) = self.channel.borrow_mut().take() {
            c.close();
        }
        *self.timer.borrow_mut() = None;
        self.settle_flight(None);
    }
}
