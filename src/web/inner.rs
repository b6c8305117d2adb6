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
use wasm_bindgen::JsValue;
use wasm_bindgen_futures::{spawn_local, JsFuture};

use super::js::{call_error, named_error, now, object, race, random, sleep};
use super::options::Options;
use super::refresher;
use super::storage::Store;
use crate::core::call::{Call, Step};
use crate::core::session::{Access, CallError, Event, FlightId, RefreshNext, Session};

/// `setTimeout` takes a signed 32-bit delay; longer ones fire at once.
const MAX_TIMER_MS: f64 = 2_147_483_647.0;
/// How many times `getAccessToken` may wait for a refresh before giving up.
const MAX_WAITS: u32 = 4;

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
            me: me.clone(),
        })
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
        loop {
            let ev = self.session.borrow_mut().poll_event();
            let Some(ev) = ev else { break };
            match ev {
                Event::Store => {
                    let set = self.session.borrow().tokens().cloned();
                    if let Some(set) = set {
                        self.store.write(&set);
                    }
                    rearm = true;
                }
                Event::Clear => {
                    self.store.clear();
                    self.userinfo.borrow_mut().clear();
                    rearm = true;
                }
                Event::TokenRefreshed { expires_at } => {
                    let at = expires_at.map_or(JsValue::NULL, JsValue::from_f64);
                    self.dispatch("token-refreshed", &object(&[("expiresAt", at)]));
                }
                Event::SessionExpired(reason) => {
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
            let verdict = refresher::attempt(&self.opts.refresh, &refresh_token).await;
            if self.disposed.get() {
                break;
            }
            let next = self.session.borrow_mut().refresh_result(id, verdict, now(), random());
            self.flush();
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
        *self.timer.borrow_mut() = None;
        self.settle_flight(None);
    }
}
