//! Waiting: timers (gloo-timers, clamped), and making any wait give way to an `AbortSignal`.
//!
//! Every wait is a promise: a timer is a gloo `Timeout` that resolves one (cancelled when
//! dropped), and a wait that must give way to a signal is a `Promise.race` with the signal's
//! abort. So one future type (`JsFuture`) serves every wait, instead of one per kind of wait.
//!
//! Guarantee 11 (README): a call whose signal aborts while it waits (for a refresh, a backoff or the
//! rate limiter) rejects at once with the signal's reason and is not sent.

use core::future::Future;
use core::pin::Pin;
use core::task::{Context, Poll};

use gloo_timers::callback::Timeout;
use js_sys::{Array, Promise};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;
use web_sys::AbortSignal;

use super::js::Target;

/// `setTimeout`'s largest delay: larger ones (gloo takes a `u32`, the browser an `i32`) fire at
/// once, so every delay is clamped to it; a long wait simply wakes up and asks again.
pub const MAX_TIMER_MS: f64 = 2_147_483_647.0;

pub fn clamp_ms(ms: f64) -> u32 {
    if ms.is_nan() {
        return 0;
    }
    ms.clamp(0.0, MAX_TIMER_MS).ceil() as u32
}

/// A promise that resolves after `ms` (clamped), and its timer: dropping the timer cancels it
/// (the promise then never resolves).
pub fn timer(ms: f64) -> (Promise, Timeout) {
    let (p, resolve) = deferred();
    let t = Timeout::new(clamp_ms(ms), move || {
        let _ = resolve.call0(&JsValue::UNDEFINED);
    });
    (p, t)
}

/// Resolves after `ms` (clamped).
pub async fn sleep(ms: f64) {
    let (p, _timer) = timer(ms);
    let _ = JsFuture::from(p).await;
}

/// Sleeps `ms`, or stops with the signal's reason as soon as it aborts.
pub async fn sleep_or_abort(ms: f64, signal: Option<&AbortSignal>) -> Result<(), JsValue> {
    let (p, _timer) = timer(ms);
    abortable(p, signal).await.map(|_| ())
}

/// `f`, or `None` if `ms` pass first (`f` is then dropped).
pub async fn within<F: Future>(ms: f64, f: F) -> Option<F::Output> {
    let (p, _timer) = timer(ms);
    match (Race { a: Box::pin(f), b: JsFuture::from(p) }).await {
        Either::A(v) => Some(v),
        Either::B(_) => None,
    }
}

/// An `AbortSignal` given in a call's options, if it is one (its getters are the platform's,
/// which never throw; an object of the caller's could, through the module).
pub fn signal(v: JsValue) -> Option<AbortSignal> {
    v.dyn_into().ok()
}

/// The reason an aborted signal carries (an `AbortError` `DOMException` unless the caller gave
/// one).
pub fn abort_reason(signal: &AbortSignal) -> JsValue {
    let r = signal.reason();
    if r.is_undefined() {
        web_sys::DomException::new_with_message_and_name("The operation was aborted.", "AbortError").map(Into::into).unwrap_or(r)
    } else {
        r
    }
}

/// The `abort` listener of one wait: removed when the wait is over, whichever way it ends, so
/// a long-lived signal collects no listeners (and the module no closures) across waits.
struct AbortGuard {
    signal: AbortSignal,
    listener: Closure<dyn FnMut()>,
}

impl Drop for AbortGuard {
    fn drop(&mut self) {
        let _ = self.signal.unchecked_ref::<Target>().unlisten("abort", self.listener.as_ref(), &JsValue::UNDEFINED);
    }
}

/// A promise that rejects with the signal's reason when it aborts, and the guard that stops
/// listening.
fn on_abort(signal: &AbortSignal) -> (Promise, AbortGuard) {
    let mut reject = None;
    let p = Promise::new(&mut |_, rj| reject = Some(rj));
    let s2 = signal.clone();
    let listener = Closure::<dyn FnMut()>::new(move || {
        if let Some(rj) = &reject {
            let _ = rj.call1(&JsValue::UNDEFINED, &abort_reason(&s2));
        }
    });
    let _ = signal.unchecked_ref::<Target>().listen("abort", listener.as_ref(), &JsValue::UNDEFINED);
    (p, AbortGuard { signal: signal.clone(), listener })
}

/// What `p` settles with, or the signal's reason as soon as it aborts.
pub async fn abortable(p: Promise, signal: Option<&AbortSignal>) -> Result<JsValue, JsValue> {
    let Some(signal) = signal else {
        return JsFuture::from(p).await;
    };
    if signal.aborted() {
        return Err(abort_reason(signal));
    }
    let (aborted, _guard) = on_abort(signal);
    JsFuture::from(Promise::race(&Array::of2(&p, &aborted))).await
}

pub enum Either<A, B> {
    A(A),
    B(B),
}

/// The first of two futures to finish (the other is dropped).
pub struct Race<A: Future, B: Future> {
    pub a: Pin<Box<A>>,
    pub b: B,
}

impl<A: Future, B: Future + Unpin> Future for Race<A, B> {
    type Output = Either<A::Output, B::Output>;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        if let Poll::Ready(v) = self.a.as_mut().poll(cx) {
            return Poll::Ready(Either::A(v));
        }
        if let Poll::Ready(v) = Pin::new(&mut self.b).poll(cx) {
            return Poll::Ready(Either::B(v));
        }
        Poll::Pending
    }
}

/// A promise and the function that resolves it.
pub fn deferred() -> (Promise, js_sys::Function) {
    let mut resolve = None;
    let p = Promise::new(&mut |r, _| resolve = Some(r));
    // the executor runs at once: `resolve` is always there (a stand-in that throws otherwise)
    (p, resolve.unwrap_or_else(|| JsValue::UNDEFINED.unchecked_into()))
}

/// A promise driven by `f`. Every async entry point goes through this one boxed instance of
/// `future_to_promise`, instead of one copy of its machinery per future type.
pub fn promise(f: impl Future<Output = Result<JsValue, JsValue>> + 'static) -> js_sys::Promise {
    let f: Pin<Box<dyn Future<Output = Result<JsValue, JsValue>>>> = Box::pin(f);
    wasm_bindgen_futures::future_to_promise(f)
}
