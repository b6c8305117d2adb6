//! Refresh flights and the proactive timer: a flight is the session's own work (one at a time,
//! under the cross-tab lock with `crossTab`), run in the background, its waiters woken when the
//! core says it is over. Each attempt is the core's [`OwnRequest`] (its one DPoP nonce resend
//! lasts the flight); its verdict is the core's, and so is whether to retry.

use std::rc::Rc;

use js_sys::{Array, Promise};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;
use web_sys::AbortSignal;

use super::{claims_of, Inner};
use crate::core::crosstab::{Handover, HANDOVER_HOLD_MS};
use crate::core::own::OwnRequest;
use crate::core::refresh_answer::RefreshVerdict;
use crate::core::session::{BeforeAttempt, FlightId, RefreshNext, Session, Shared};
use crate::core::token::TokenSet;
use crate::web::{js, locks, refresher, wait};

impl Inner {
    /// Resolves when flight `id` is over (at once if it already is).
    pub(super) fn flight_promise(&self, id: FlightId) -> Promise {
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

    pub(super) async fn run_flight(self: Rc<Self>, id: FlightId) {
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
                locks::with_lock(&name, self.attempt(id, Some(&name), url.as_deref(), &mut req)).await
            } else {
                self.attempt(id, None, url.as_deref(), &mut req).await
            };
            match next {
                RefreshNext::RetryIn(delay) if !self.is_disposed() => {
                    attempt += 1;
                    self.emit_retry(url.as_deref().unwrap_or_default(), status, attempt, delay, true);
                    wait::sleep(delay).await;
                }
                // the tokens the last holder left are on their way (message, storage event): the
                // flight ends when they come, else the attempt is made again
                RefreshNext::AwaitPeer(ms) if !self.is_disposed() => {
                    let (time_up, _timer) = wait::timer(ms);
                    let _ = JsFuture::from(Promise::race(&Array::of2(&self.flight_promise(id), &time_up))).await;
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
    /// With `lock` (the name of the cross-tab lock it runs under), the shared view is read
    /// first: storage, and the hand-over the last holder left ([`Handover`], in the name of a
    /// lock it holds). Storage alone cannot be trusted to be current: every holder writes its
    /// outcome and posts it before the lock is released, but Chromium gives each tab's process
    /// its own copy of local storage, updated from the others asynchronously, with no order
    /// against Web Locks (read at once, the next holder missed a cool-down often enough to
    /// refresh again: `tests/e2e/crosstab.test.mjs`, throttled endpoint). The hand-over is
    /// ordered with the lock (one lock manager grants, releases and lists), so the core can
    /// tell a lagging view from a current one. After its own attempt, the holder leaves its
    /// hand-over in turn, asked for before the lock is released. A terminal answer is never
    /// taken as it is either: storage is read again and newer tokens adopted
    /// (`Session::recheck_terminal`).
    pub(super) async fn attempt(&self, id: FlightId, lock: Option<&str>, url: Option<&str>, req: &mut OwnRequest) -> (RefreshNext, u16) {
        let view = match lock {
            // the held locks listed first, then storage read (fields are evaluated in order)
            Some(name) => Shared {
                handover: Handover::newest(name, locks::held().await.iter().map(String::as_str)),
                tokens: self.store.read().as_ref().and_then(TokenSet::from_record),
                cooldown_until: self.store.read_cooldown(),
            },
            None => Shared::default(),
        };
        let newest = view.handover;
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
        if let Some(name) = lock {
            // asked for now, before the refresh lock is released: the next holder lists it
            let h = self.peek(|s| s.handover(newest.as_ref(), js::now()));
            locks::hold(&h.lock_name(name), HANDOVER_HOLD_MS);
        }
        (next, status)
    }

    // ---- the proactive timer ---------------------------------------------------------------

    /// Sets the timer for the next proactive refresh, if one is due some day.
    pub(super) fn rearm(&self, min_delay: f64) {
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

    pub(super) fn on_timer(&self) {
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
}
