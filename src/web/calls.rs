//! One intercepted call, driven through the core's [`Call`]: ask what to do (send, sleep, run or
//! join a refresh, fail), do it, report the answer, repeat. Used by the fetch interceptor and by
//! `userInfo()`; axios keeps its counts on the request config instead (see `axios`).

use core::future::Future;

use js_sys::{Function, Object, Promise};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;
use web_sys::{AbortSignal, Headers, Request, Response};

use super::engine::Inner;
use super::errors::call_error;
use super::js;
use super::wait;
use crate::core::call::{Call, Step, Verdict};
use crate::core::retry::Answer;

/// What one send produced.
pub enum Sent<T> {
    /// An HTTP answer; `status`, `retry_after` and `error_type` are what the rules read.
    Answer { value: T, status: u16, retry_after: Option<String>, error_type: Option<String> },
    /// No answer (status 0): the error to give the caller if it is not retried.
    NetworkError(JsValue),
    /// Give this to the caller as it is (an abort, or a custom fetch's own non-`Response`).
    Final(Result<T, JsValue>),
}

/// Drives one call to its end. `send(bearer_token, idempotency_key)` sends once.
pub async fn drive<T, S, F>(inner: &Inner, mut call: Call, signal: Option<&AbortSignal>, url: &str, mut send: S) -> Result<T, JsValue>
where
    S: FnMut(String, Option<String>) -> F,
    F: Future<Output = Sent<T>>,
{
    let key = call.needs_idempotency_key().then(js::uuid);
    loop {
        inner.live()?;
        let step = call.next(&mut inner.st.borrow_mut().s, js::now());
        inner.flush();
        match step {
            Step::Send => {
                if let Some(s) = signal.filter(|s| s.aborted()) {
                    return Err(wait::abort_reason(s));
                }
                let Some(token) = inner.st.borrow().s.tokens().map(|t| t.access.clone()) else {
                    continue;
                };
                let (status, retry_after, error_type, value) = match send(token, key.clone()).await {
                    Sent::Final(r) => return r,
                    Sent::NetworkError(e) => (0, None, None, Err(e)),
                    Sent::Answer { value, status, retry_after, error_type } => (status, retry_after, error_type, Ok(value)),
                };
                let answer = Answer { status, retry_after: retry_after.as_deref(), error_type: error_type.as_deref() };
                let verdict = call.on_answer(&mut inner.st.borrow_mut().s, &answer, js::now(), js::random());
                inner.flush();
                match verdict {
                    Verdict::Deliver => return value,
                    Verdict::Fail(e) => return Err(call_error(e)),
                    Verdict::Again { retry: Some((attempt, delay)) } => inner.emit_retry(url, status, attempt, delay, false),
                    Verdict::Again { retry: None } => {}
                }
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

fn has_header(h: &JsValue, name: &str) -> bool {
    if h.is_undefined() || h.is_null() {
        return false;
    }
    Headers::new_with_str_sequence_sequence(h).ok().and_then(|h| h.has(name).ok()).unwrap_or(false)
}

fn is_abort(err: &JsValue, signal: Option<&AbortSignal>) -> bool {
    signal.is_some_and(|s| s.aborted()) || js::get_str(err, "name").as_deref() == Some("AbortError")
}

/// The fetch interceptor: `target` is the fetch it sends with.
pub async fn fetch(inner: &Inner, target: &Function, input: JsValue, init: JsValue) -> Result<JsValue, JsValue> {
    inner.live()?;
    let url = input_url(&input);
    let skip = js::get(&init, "skipAuth").as_bool() == Some(true);
    let request_in = input.dyn_ref::<Request>();
    let callers_auth = request_in.is_some_and(|r| r.headers().has("authorization").unwrap_or(false))
        || has_header(&js::get(&init, "headers"), "authorization");
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
        let b = js::get(&init, "body");
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
        None => js::get_str(&init, "method").unwrap_or_else(|| "GET".into()),
    };
    let signal: Option<AbortSignal> = match &request {
        Some(r) => Some(r.signal()),
        None => js::get(&init, "signal").dyn_into::<AbortSignal>().ok(),
    };
    let has_key = match &request {
        Some(r) => r.headers().has("idempotency-key").unwrap_or(false),
        None => has_header(&js::get(&init, "headers"), "idempotency-key"),
    };
    let call = Call::new(&mut inner.st.borrow_mut().s, &method, has_key);
    let event_url = js::resolve_url(&url).map_or_else(|| url.clone(), |u| u.href());
    let sig = signal.clone();
    drive(inner, call, signal.as_ref(), &event_url, |token, key| {
        let attempt = match &request {
            Some(r) => r.clone().map(|c| {
                let h = c.headers();
                let _ = h.set("Authorization", &["Bearer ", &token].concat());
                if let Some(k) = &key {
                    let _ = h.set("Idempotency-Key", k);
                }
                (JsValue::from(c), JsValue::UNDEFINED)
            }),
            None => Headers::new_with_str_sequence_sequence(&js::get(&init, "headers")).or_else(|_| Headers::new()).map(|h| {
                let _ = h.set("Authorization", &["Bearer ", &token].concat());
                if let Some(k) = &key {
                    let _ = h.set("Idempotency-Key", k);
                }
                let copy = Object::assign(&Object::new(), init.dyn_ref::<Object>().unwrap_or(&Object::new()));
                js::set(&copy, "headers", &h);
                (input.clone(), JsValue::from(copy))
            }),
        };
        let sig = sig.clone();
        let target = target.clone();
        async move {
            let (inp, ini) = match attempt {
                Ok(x) => x,
                Err(e) => return Sent::Final(Err(e)),
            };
            match JsFuture::from(call_fetch(&target, &inp, &ini)).await {
                Err(e) if is_abort(&e, sig.as_ref()) => Sent::Final(Err(e)),
                Err(e) => Sent::NetworkError(e),
                Ok(v) => match v.dyn_into::<Response>() {
                    Err(other) => Sent::Final(Ok(other)),
                    Ok(res) => {
                        let status = res.status();
                        let h = res.headers();
                        let mut error_type = None;
                        let mut retry_after = None;
                        if status >= 400 {
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
    })
    .await
}

/// The `__type` of an AWS-style JSON error body (read from a clone: the caller still gets the
/// body).
async fn body_error_type(res: &Response) -> Option<String> {
    let text = JsFuture::from(res.clone().ok()?.text().ok()?).await.ok()?.as_string()?;
    js::get_str(&js_sys::JSON::parse(&text).ok()?, "__type")
}

/// A 401 from an origin outside `allowedOrigins` while a session is held: say once that the
/// origin may be missing from the option.
fn warn_foreign_401(inner: &Inner, res: &JsValue, deliberate: bool) {
    if deliberate || js::get_f64(res, "status") != Some(401.0) {
        return;
    }
    let mut st = inner.st.borrow_mut();
    if st.warned_401 || !st.s.is_authenticated() {
        return;
    }
    st.warned_401 = true;
    drop(st);
    let url = js::get_str(res, "url").unwrap_or_default();
    js::warn(
        &[
            "a request to ",
            &url,
            " answered 401 and carried no session token, because its origin is not in `allowedOrigins` (",
            &inner.opts.origins.join(", "),
            "). If that API expects the session's token, add its origin to `allowedOrigins`.",
        ]
        .concat(),
    );
}
