//! One intercepted call, driven through the core's [`Call`]: ask what to do (send, sleep, run or
//! join a refresh, fail), do it, report the answer, repeat. Used by the fetch interceptor and by
//! `userInfo()`; axios keeps its counts on the request config instead (see `axios`).

use core::future::Future;
use core::pin::Pin;

use std::rc::Rc;

use js_sys::{Function, Object, Promise};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;
use web_sys::{AbortSignal, Headers, Request, RequestInit, Response};

use super::engine::Inner;
use super::errors::call_error;
use super::js::{self, Name};
use super::wait;
use crate::core::call::{Call, Step, Verdict};
use crate::core::retry::Answer;
use crate::core::time::Time;

/// What one send produced.
pub enum Sent {
    /// An HTTP answer; `status`, `retry_after` and `error_type` are what the rules read.
    Answer { value: JsValue, status: u16, retry_after: Option<String>, error_type: Option<String> },
    /// No answer (status 0): the error to give the caller if it is not retried.
    NetworkError(JsValue),
    /// Give this to the caller as it is (an abort, or a custom fetch's own non-`Response`).
    Final(Result<JsValue, JsValue>),
}

/// Where a call resumes: ask the core for its next step, take a step it already gave, or
/// handle the answer to a send made before (the synchronous fast path of `fetch`).
pub enum Pending {
    Ask,
    Step(Step),
    Answer(Sent),
}

/// One send of a call: `(bearer, idempotency_key)` to what it produced. `bearer` is the
/// cached `Bearer <token>` string.
pub type SendFn<'a> = dyn FnMut(JsValue, Option<String>) -> Pin<Box<dyn Future<Output = Sent> + 'a>> + 'a;

/// Drives one call to its end. One body for every kind of call (fetch, `userInfo`): the sends
/// differ, the loop does not.
pub async fn drive(
    inner: &Inner,
    mut call: Call,
    signal: Option<&AbortSignal>,
    url: &str,
    pending: Pending,
    send: &mut SendFn<'_>,
) -> Result<JsValue, JsValue> {
    let key = call.needs_idempotency_key().then(js::uuid);
    let mut pending = pending;
    loop {
        inner.live()?;
        let step = match core::mem::replace(&mut pending, Pending::Ask) {
            Pending::Ask => {
                let step = {
                    let now = js::now();
                    call.next(&mut inner.st.borrow_mut().s, now)
                };
                inner.flush();
                step
            }
            Pending::Step(step) => step,
            Pending::Answer(sent) => match answered(inner, &mut call, url, sent)? {
                Some(value) => return value,
                None => continue,
            },
        };
        match step {
            Step::Send => {
                if let Some(s) = signal.filter(|s| s.aborted()) {
                    return Err(wait::abort_reason(s));
                }
                let Some(bearer) = inner.bearer() else { continue };
                pending = Pending::Answer(send(bearer, key.clone()).await);
            }
            Step::SleepUntil(t) => wait::abortable(wait::sleep(t - js::now()), signal).await?,
            Step::Refresh(id) => {
                inner.spawn_flight(id);
                inner.wait_flight(id, signal).await?;
            }
            Step::Join(id) => inner.wait_flight(id, signal).await?,
            Step::Fail(e) => return Err(call_error(e)),
        }
    }
}

/// Reports an answer to the core: `Some(result)` when the call is over, `None` to go on.
#[allow(clippy::type_complexity)]
fn answered(inner: &Inner, call: &mut Call, url: &str, sent: Sent) -> Result<Option<Result<JsValue, JsValue>>, JsValue> {
    let (status, retry_after, error_type, value) = match sent {
        Sent::Final(r) => return Ok(Some(r)),
        Sent::NetworkError(e) => (0, None, None, Err(e)),
        Sent::Answer { value, status, retry_after, error_type } => (status, retry_after, error_type, Ok(value)),
    };
    let answer = Answer { status, retry_after: retry_after.as_deref(), error_type: error_type.as_deref() };
    match inner.report(call, &answer) {
        Verdict::Deliver => Ok(Some(value)),
        Verdict::Fail(e) => Err(call_error(e)),
        Verdict::Again { retry } => {
            if let Some((attempt, delay)) = retry {
                inner.emit_retry(url, status, attempt, delay, false);
            }
            Ok(None)
        }
    }
}

/// The URL a `fetch` input names (maybe relative), if it is a string, a `URL` or a `Request`.
fn input_url(input: &JsValue) -> Option<String> {
    if let Some(s) = input.as_string() {
        return Some(s);
    }
    if let Some(r) = input.dyn_ref::<Request>() {
        return Some(r.url());
    }
    if let Some(u) = input.dyn_ref::<web_sys::Url>() {
        return Some(u.href());
    }
    None
}

/// Calls a fetch implementation; a synchronous throw becomes a rejected promise.
fn call_fetch(f: &Function, input: &JsValue, init: &JsValue) -> Promise {
    match f.call2(&JsValue::UNDEFINED, input, init) {
        Ok(v) => Promise::resolve(&v),
        Err(e) => Promise::reject(&e),
    }
}

fn has_header(h: &JsValue, name: Name) -> bool {
    if h.is_undefined() || h.is_null() {
        return false;
    }
    Headers::new_with_str_sequence_sequence(h).is_ok_and(|h| request_has(&h, name))
}

fn request_has(h: &Headers, name: Name) -> bool {
    js::with_name(name, |n| h.unchecked_ref::<HeadersJs>().has(n)).unwrap_or(false)
}

fn is_abort(err: &JsValue, signal: Option<&AbortSignal>) -> bool {
    signal.is_some_and(|s| s.aborted()) || js::get_str(err, "name").as_deref() == Some("AbortError")
}

/// The fetch interceptor: `target` is the fetch it sends with.
pub async fn fetch(inner: &Inner, target: &Function, input: JsValue, init: JsValue) -> Result<JsValue, JsValue> {
    inner.live()?;
    let url = input_url(&input);
    let skip = js::prop(&init, Name::SkipAuth).as_bool() == Some(true);
    let request_in = input.dyn_ref::<Request>();
    let callers_auth = request_in.is_some_and(|r| request_has(&r.headers(), Name::AuthorizationLower))
        || has_header(&js::prop(&init, Name::Headers), Name::AuthorizationLower);
    let Some(url) = url.filter(|u| !skip && !callers_auth && inner.allowed(u)) else {
        // not ours, or the caller's own credentials: untouched
        let p = call_fetch(target, &input, &init);
        let res = JsFuture::from(p).await?;
        warn_foreign_401(inner, &res, skip || callers_auth);
        return Ok(res);
    };
    // Calls with a body, or given as a Request, become one Request; each send is a clone of it,
    // so replays carry the body. Others are sent as they came, with the header added.
    let has_body = {
        let b = js::prop(&init, Name::Body);
        !(b.is_undefined() || b.is_null())
    };
    let request = match request_in {
        Some(r) if init.is_undefined() => Some(Clone::clone(r)),
        Some(r) => Some(Request::new_with_request_and_init(r, init.unchecked_ref())?),
        None if has_body => Some(Request::new_with_str_and_init(&url, init.unchecked_ref())?),
        None => None,
    };
    let method = match &request {
        Some(r) => r.method(),
        None => js::prop(&init, Name::Method).as_string().unwrap_or_else(|| "GET".into()),
    };
    let signal: Option<AbortSignal> = match &request {
        Some(r) => Some(r.signal()),
        None => js::prop(&init, Name::Signal).dyn_into::<AbortSignal>().ok(),
    };
    let has_key = match &request {
        Some(r) => request_has(&r.headers(), Name::IdempotencyKeyLower),
        None => has_header(&js::prop(&init, Name::Headers), Name::IdempotencyKeyLower),
    };
    let call = Call::new(&mut inner.st.borrow_mut().s, &method, has_key);
    run(inner, target, Outgoing { input, init, request, signal }, &url, call, Pending::Ask).await
}

/// A call as it goes out: what was given, and the `Request` made of it when it has a body.
struct Outgoing {
    input: JsValue,
    init: JsValue,
    request: Option<Request>,
    signal: Option<AbortSignal>,
}

impl Outgoing {
    /// The arguments of one send: the call with `Authorization` (and `Idempotency-Key`) set.
    fn with_headers(&self, bearer: &JsValue, key: Option<&str>) -> Result<(JsValue, JsValue), JsValue> {
        let h = match &self.request {
            Some(r) => {
                let c = r.clone()?;
                let h = c.headers();
                set_header(&h, bearer, key)?;
                return Ok((c.into(), JsValue::UNDEFINED));
            }
            None => {
                let given = js::prop(&self.init, Name::Headers);
                if given.is_undefined() || given.is_null() {
                    return Ok((self.input.clone(), self.init_with(&bare_headers(bearer, key))));
                }
                Headers::new_with_str_sequence_sequence(&given)?
            }
        };
        set_header(&h, bearer, key)?;
        Ok((self.input.clone(), self.init_with(&h)))
    }

    /// A copy of the caller's `init` with these headers.
    fn init_with(&self, headers: &JsValue) -> JsValue {
        let init = if self.init.is_undefined() {
            RequestInit::new()
        } else {
            match self.init.dyn_ref::<Object>() {
                Some(given) => Object::assign(&Object::new(), given).unchecked_into(),
                None => RequestInit::new(),
            }
        };
        init.set_headers(headers);
        init.into()
    }
}

/// Headers when the caller gave none: a plain record is cheaper than a `Headers` object.
fn bare_headers(bearer: &JsValue, key: Option<&str>) -> Object {
    let h = Object::new();
    js::set_prop(&h, Name::Authorization, bearer);
    if let Some(k) = key {
        js::set_prop(&h, Name::IdempotencyKey, &JsValue::from_str(k));
    }
    h
}

// The `init` of a fast-path send, `{ headers: { Authorization } }`, as one object literal. From
// Rust it takes four calls into JavaScript (two objects, a property, a setter) and leaves
// objects of a slower shape; this literal made the whole fast path 30 % cheaper (0.91 →
// 0.62 µs per call). The only JavaScript here: it decides nothing.
#[wasm_bindgen(inline_js = "export function bearer_init(bearer) { return { headers: { Authorization: bearer } }; }")]
extern "C" {
    fn bearer_init(bearer: &JsValue) -> JsValue;
}

#[wasm_bindgen]
extern "C" {
    /// `Headers` with names and values that are JavaScript strings already (the names of
    /// [`Name`], the cached bearer): no copy per call.
    #[wasm_bindgen(js_name = Headers)]
    type HeadersJs;
    #[wasm_bindgen(method, catch, js_name = set)]
    fn set(this: &HeadersJs, name: &JsValue, value: &JsValue) -> Result<(), JsValue>;
    #[wasm_bindgen(method, catch, js_name = has)]
    fn has(this: &HeadersJs, name: &JsValue) -> Result<bool, JsValue>;
    #[wasm_bindgen(js_name = Promise)]
    type PromiseJs;
    /// `promise.then(f, g)` with functions (js-sys takes only `Closure`s).
    #[wasm_bindgen(method, js_name = then)]
    fn then_with(this: &PromiseJs, on_answer: &Function, on_error: &Function) -> Promise;
}

fn set_header(h: &Headers, bearer: &JsValue, key: Option<&str>) -> Result<(), JsValue> {
    let h = h.unchecked_ref::<HeadersJs>();
    js::with_name(Name::Authorization, |n| h.set(n, bearer))?;
    if let Some(k) = key {
        js::with_name(Name::IdempotencyKey, |n| h.set(n, &JsValue::from_str(k)))?;
    }
    Ok(())
}

/// What one send of `fetch` produced.
async fn sent(res: Result<JsValue, JsValue>, signal: Option<&AbortSignal>) -> Sent {
    match res {
        Err(e) if is_abort(&e, signal) => Sent::Final(Err(e)),
        Err(e) => Sent::NetworkError(e),
        Ok(v) => match v.dyn_into::<Response>() {
            Err(other) => Sent::Final(Ok(other)),
            Ok(res) => {
                let status = res.status();
                let mut error_type = None;
                let mut retry_after = None;
                if status >= 400 {
                    let h = res.headers();
                    retry_after = h.get("retry-after").ok().flatten();
                    error_type = h.get("x-amzn-errortype").ok().flatten();
                    if status == 400 && error_type.is_none() {
                        error_type = body_error_type(&res).await;
                    }
                }
                Sent::Answer { value: res.into(), status, retry_after, error_type }
            }
        },
    }
}

async fn run(inner: &Inner, target: &Function, out: Outgoing, url: &str, call: Call, pending: Pending) -> Result<JsValue, JsValue> {
    let event_url = js::resolve_url(url).map_or_else(|| url.to_string(), |u| u.href());
    let signal = out.signal.clone();
    drive(inner, call, signal.as_ref(), &event_url, pending, &mut |bearer, key| {
        let attempt = out.with_headers(&bearer, key.as_deref());
        let sig = out.signal.clone();
        let target = target.clone();
        Box::pin(async move {
            let (input, init) = match attempt {
                Ok(x) => x,
                Err(e) => return Sent::Final(Err(e)),
            };
            sent(JsFuture::from(call_fetch(&target, &input, &init)).await, sig.as_ref()).await
        })
    })
    .await
}

/// The common case without an `async` frame: a `GET` of a URL string, no `init`, with a token at
/// hand. It is sent at once and its answer comes back through one `then`; anything else (no
/// token yet, an answer the rules act on) continues as an ordinary call. `None`: not the
/// common case, nothing was done.
pub fn fast(inner: &Rc<Inner>, target: &Function, input: &JsValue) -> Option<Promise> {
    if inner.disposed.get() {
        return None;
    }
    if !inner.allowed_input(input)? {
        return None;
    }
    let mut call = Call::new(&mut inner.st.borrow_mut().s, "GET", false);
    let now = js::now();
    let step = call.next(&mut inner.st.borrow_mut().s, now);
    inner.flush();
    let out = Outgoing { input: input.clone(), init: JsValue::UNDEFINED, request: None, signal: None };
    let bearer = match (&step, inner.bearer()) {
        (Step::Send, Some(b)) => b,
        _ => {
            let (inner, target, url) = (inner.clone(), target.clone(), input.as_string().unwrap_or_default());
            return Some(wait::promise(async move { run(&inner, &target, out, &url, call, Pending::Step(step)).await }));
        }
    };
    // no `init` was given: the one sent has only the header
    let init = bearer_init(&bearer);
    // The answer comes back to the session's answer port through the handlers of the call's
    // slot (made once per slot, not per call).
    let (on_answer, on_error) = inner.parked.park(Parked { call, out, target: target.clone(), sent_at: now });
    // `call_fetch` made it a native promise: its own `then`, one crossing
    Some(call_fetch(target, input, &init).unchecked_ref::<PromiseJs>().then_with(&on_answer, &on_error))
}

/// A fast-path call between its send and its answer.
pub struct Parked {
    call: Call,
    /// What was given: `input` is the URL string.
    out: Outgoing,
    target: Function,
    sent_at: Time,
}

/// The answer to a parked call (`tag` = `slot << 1 | failed`):
/// the answer, or why the send failed.
pub fn on_parked_answer(inner: &Rc<Inner>, tag: u32, v: JsValue) -> JsValue {
    let failed = tag & 1 == 1;
    let Some(Parked { mut call, out, target, sent_at }) = inner.parked.unpark(tag >> 1) else {
        return if failed { Promise::reject(&v).into() } else { v };
    };
    let ok = if failed { None } else { v.dyn_ref::<Response>().map(|r| r.status()).filter(|s| *s < 400) };
    if let Some(status) = ok {
        // the common answer: tell the core (rate limiter), give it back
        let answer = Answer { status, retry_after: None, error_type: None };
        // a 2xx/3xx is "done" at any time; only the rate limiter reads the clock (one
        // `Date.now()` fewer per call without one)
        let now = if inner.opts.rate_limit.is_some() { js::now() } else { sent_at };
        let _ = call.on_answer(&mut inner.st.borrow_mut().s, &answer, now, 0.5);
        inner.flush();
        return v;
    }
    let res = if failed { Err(v) } else { Ok(v) };
    let (inner, url) = (inner.clone(), out.input.as_string().unwrap_or_default());
    wait::promise(async move {
        let first = sent(res, None).await;
        run(&inner, &target, out, &url, call, Pending::Answer(first)).await
    })
    .into()
}

/// The `__type` of an AWS-style JSON error body (read from a clone: the caller still gets the
/// body).
async fn body_error_type(res: &Response) -> Option<String> {
    let text = JsFuture::from(res.clone().ok()?.text().ok()?).await.ok()?;
    js::aws_error_type(&text)
}

/// A 401 from an origin outside `allowedOrigins` while a session is held: say once that the
/// origin may be missing from the option.
fn warn_foreign_401(inner: &Inner, res: &JsValue, deliberate: bool) {
    if deliberate || js::prop(res, Name::Status).as_f64() != Some(401.0) {
        return;
    }
    let mut st = inner.st.borrow_mut();
    if st.warned_401 || !st.s.is_authenticated() {
        return;
    }
    st.warned_401 = true;
    drop(st);
    let url = js::prop(res, Name::Url).as_string().unwrap_or_default();
    // joined as `&str`s: the one `join` instance the module carries
    js::warn(
        &[
            "a request to ",
            &url,
            " answered 401 and carried no session token, because its origin is not in `allowedOrigins` (",
            &inner.opts.origins.iter().map(String::as_str).collect::<Vec<_>>().join(", "),
            "). If that API expects the session's token, add its origin to `allowedOrigins`.",
        ]
        .concat(),
    );
}
