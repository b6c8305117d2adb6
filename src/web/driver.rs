//! The driver: how a core [`Call`] becomes sends. Every kind of call (the fetch interceptor,
//! axios, `getAccessToken()`, `userInfo()`) goes through [`until_send`]: ask the core for the
//! next step, carry it out (sleep, run or join a refresh, fail), until the core says "send".
//! What a send produced goes back to the core through [`report`]. The library's own requests
//! (discovery, the code exchange, a refresh attempt, a revocation) are core [`OwnRequest`]s,
//! carried out by [`own`] the same way. The steps are matched exhaustively; nothing here
//! decides anything.

use core::future::Future;
use core::pin::Pin;

use wasm_bindgen::prelude::*;
use web_sys::AbortSignal;

use super::errors::call_error;
use super::http;
use super::js;
use super::state::Inner;
use super::wait;
use crate::core::call::{Call, Step, Verdict};
use crate::core::own::{Judged, OwnRequest, OwnStep};
use crate::core::retry::{Answer, RetryPolicy};
use crate::core::time::Time;

/// The call's first step, synchronously: the fetch interceptor sends at once when it is
/// [`Step::Send`] (the common case, without an `async` frame), and hands any other step to
/// [`until_send`].
pub fn first_step(inner: &Inner, call: &mut Call) -> Step {
    let now = js::now();
    inner.with(|s| call.next(s, now))
}

/// Carries out the core's steps for `call` until it may be sent (`Ok`), or fails (`Err`: the
/// error the caller gets, or the signal's reason when it aborts while waiting). `first`: a step
/// already asked for.
pub async fn until_send(inner: &Inner, call: &mut Call, signal: Option<&AbortSignal>, first: Option<Step>) -> Result<(), JsValue> {
    let mut step = first;
    loop {
        inner.live()?;
        let now_step = match step.take() {
            Some(s) => s,
            None => first_step(inner, call),
        };
        match now_step {
            Step::Send => {
                return match signal.filter(|s| s.aborted()) {
                    Some(s) => Err(wait::abort_reason(s)),
                    None => Ok(()),
                }
            }
            Step::SleepUntil(t) => wait::sleep_or_abort(t - js::now(), signal).await?,
            Step::Refresh(id) => {
                inner.spawn_flight(id);
                inner.wait_flight(id, signal).await?;
            }
            Step::Join(id) => inner.wait_flight(id, signal).await?,
            Step::Fail(e) => return Err(call_error(e)),
        }
    }
}

/// Tells the core what the last send of `call` got (with the clock and a random draw for the
/// backoff jitter, read before the session is lent).
pub fn report(inner: &Inner, call: &mut Call, answer: &Answer) -> Verdict {
    let (now, r) = (js::now(), js::random());
    inner.with(|s| call.on_answer(s, answer, now, r))
}

/// What one send produced.
pub enum Sent {
    /// An HTTP answer; `status`, `retry_after`, `error_type` and, with DPoP, `www_authenticate`
    /// and whether it brought a new nonce are what the rules read. `value`: what the caller
    /// gets when it is delivered (axios rejects error statuses).
    Answer {
        value: Result<JsValue, JsValue>,
        status: u16,
        retry_after: Option<String>,
        error_type: Option<String>,
        dpop: Option<(Option<String>, bool)>,
    },
    /// No answer (status 0): the error to give the caller if it is not retried.
    NetworkError(JsValue),
    /// Give this to the caller as it is (an abort, or a custom fetch's own non-`Response`).
    Final(Result<JsValue, JsValue>),
}

/// One send of a call, with the cached `Bearer <token>` and the call's `Idempotency-Key`.
pub type SendFn<'a> = dyn FnMut(JsValue, Option<&str>) -> Pin<Box<dyn Future<Output = Sent> + 'a>> + 'a;

/// A whole call whose sends are made here (fetch, `userInfo()`): until it may be sent, send,
/// report, until the core says deliver or fail. `url`: as given (maybe relative), for the `retry`
/// event. `resume`: where it starts: a step already asked for, or the answer of a send already
/// made (the fetch interceptor's synchronous first send).
pub async fn drive(
    inner: &Inner,
    call: &mut Call,
    signal: Option<&AbortSignal>,
    url: &str,
    mut resume: Resume,
    send: &mut SendFn<'_>,
) -> Result<JsValue, JsValue> {
    let key = call.needs_idempotency_key().then(js::uuid);
    loop {
        let first = match core::mem::replace(&mut resume, Resume::Ask) {
            Resume::Answer(sent) => match answered(inner, call, url, sent) {
                Some(done) => return done,
                None => continue,
            },
            Resume::Ask => None,
            Resume::Step(s) => Some(s),
        };
        until_send(inner, call, signal, first).await?;
        // `Send` came with a token; none now means the session ended in between: ask again
        let Some(bearer) = inner.bearer() else { continue };
        resume = Resume::Answer(send(bearer, key.as_deref()).await);
    }
}

/// Where [`drive`] starts.
pub enum Resume {
    Ask,
    Step(Step),
    Answer(Sent),
}

/// Reports what a send produced: `Some(result)` when the call is over, `None` to go on (with
/// [`until_send`], which carries out the backoff the core set). `url`: as given, for the
/// `retry` event.
pub fn answered(inner: &Inner, call: &mut Call, url: &str, sent: Sent) -> Option<Result<JsValue, JsValue>> {
    let (status, retry_after, error_type, dpop, value) = match sent {
        Sent::Final(r) => return Some(r),
        Sent::NetworkError(e) => (0, None, None, None, Err(e)),
        Sent::Answer { value, status, retry_after, error_type, dpop } => (status, retry_after, error_type, dpop, value),
    };
    let (www_authenticate, nonce_given) = dpop.unwrap_or_default();
    let answer = Answer {
        status,
        retry_after: retry_after.as_deref(),
        error_type: error_type.as_deref(),
        www_authenticate: www_authenticate.as_deref(),
        nonce_given,
    };
    let verdict = report(inner, call, &answer);
    if let Verdict::Again { retry: Some((attempt, delay)) } = verdict {
        // the event names the URL resolved, as `fetch` resolved it (only now: most calls are
        // never retried, and resolving costs a `URL` each)
        let href = js::resolved(url, "href");
        inner.emit_retry(href.as_deref().unwrap_or(url), status, attempt, delay, false);
    }
    outcome(verdict, value)
}

/// Reports an answer the rules do not look at (its status alone; [`crate::core::retry::look`]
/// says which), received at `now`, without reading headers or drawing a backoff: the fetch
/// interceptor's fast path. The same outcome as [`answered`].
pub fn answered_plain(inner: &Inner, call: &mut Call, status: u16, now: Time, value: JsValue) -> Option<Result<JsValue, JsValue>> {
    let answer = Answer { status, ..Answer::default() };
    // no backoff is drawn for such an answer (a core property test): the jitter is not read
    let verdict = inner.with(|s| call.on_answer(s, &answer, now, 0.5));
    outcome(verdict, Ok(value))
}

/// What the core's verdict means for the call: `Some(result)` when it is over (`value`: what
/// the send produced), `None` to go on with [`until_send`].
fn outcome(verdict: Verdict, value: Result<JsValue, JsValue>) -> Option<Result<JsValue, JsValue>> {
    match verdict {
        Verdict::Deliver => Some(value),
        Verdict::Fail(e) => Some(Err(call_error(e))),
        Verdict::Again { .. } => None,
    }
}

/// One send of an own request, answered within the time given (ms).
pub type SendOwn<'a> = dyn FnMut(f64) -> Pin<Box<dyn Future<Output = http::Answer> + 'a>> + 'a;

/// Carries out the core's steps for the own request `req` (an attempt of it, when it has
/// already made some) until it is over: sends with `send`, hands each answer to the core with
/// `judge`'s verdict (the request's own rule), waits out backoffs (announced by the `retry`
/// event for `url`). `judge` keeps each answer's outcome itself ([`Judged::split`]): one copy
/// of this loop serves every kind (boxed: an `async fn` called from four frames would be
/// inlined into each). `Err`: the session was disposed while it waited.
pub fn own<'a>(
    inner: &'a Inner,
    req: &'a mut OwnRequest,
    policy: &'a RetryPolicy,
    url: &'a str,
    send: &'a mut SendOwn<'_>,
    judge: &'a mut dyn FnMut(&http::Answer) -> Judged<()>,
) -> Pin<Box<dyn Future<Output = Result<(), JsValue>> + 'a>> {
    Box::pin(own_loop(inner, req, policy, url, send, judge))
}

async fn own_loop(
    inner: &Inner,
    req: &mut OwnRequest,
    policy: &RetryPolicy,
    url: &str,
    send: &mut SendOwn<'_>,
    judge: &mut dyn FnMut(&http::Answer) -> Judged<()>,
) -> Result<(), JsValue> {
    let mut step = req.attempt(js::now());
    loop {
        match step {
            OwnStep::Send { within_ms } => {
                let a = send(within_ms).await;
                let judged = judge(&a);
                step = req.on_answer(a.nonce_seen(), judged, policy, js::now(), js::random());
                if req.take_unreadable_nonce() {
                    super::dpop::warn_nonce_unreadable();
                }
                if let OwnStep::Backoff { retry, delay_ms } = step {
                    inner.emit_retry(url, a.status, retry, delay_ms, true);
                }
            }
            OwnStep::Backoff { delay_ms, .. } => {
                wait::sleep(delay_ms).await;
                inner.live()?;
                step = req.attempt(js::now());
            }
            OwnStep::Done(()) => return Ok(()),
        }
    }
}
