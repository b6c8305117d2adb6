//! The `fetch` interceptor (`session.fetch`, `wrapFetch`).
//!
//! A call to an origin outside `allowedOrigins` goes to the underlying fetch untouched: same
//! arguments, no header, no retry. A call to an allowed origin becomes one `Request` (so every
//! body type — string, `FormData`, `Blob`, `URLSearchParams`, a `Request`'s body — is handled by
//! the browser) and each send is a `clone()` of it with the bearer token set, so replays carry
//! the body too. What to do between sends is the core's [`Call`]'s business.

use std::rc::Rc;

use js_sys::{Function, Promise};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::{future_to_promise, JsFuture};
use web_sys::{Request, RequestInit, Response};

use super::inner::Inner;
use super::js::{call_error, global_fetch, is_abort, now, object, parse_url, random, uuid};
use crate::core::call::{Call, Verdict};
use crate::core::json::Json;
use crate::core::retry::{is_idempotent, Answer};

/// The URL a `fetch(input)` call is for, if it can be read without side effects.
fn input_url(input: &JsValue) -> Option<String> {
    if let Some(r) = input.dyn_ref::<Request>() {
        return Some(r.url());
    }
    if let Some(u) = input.dyn_ref::<web_sys::Url>() {
        return Some(u.href());
    }
    input.as_string()
}

fn send_raw(fetch_impl: Option<&Function>, input: &JsValue, init: &JsValue) -> Promise {
    match fetch_impl {
        Some(f) => super::js::call_to_promise(f, input, init),
        None => global_fetch(input, init).unwrap_or_else(|e| Promise::reject(&e)),
    }
}

pub fn intercept(inner: &Rc<Inner>, fetch_impl: Option<Function>, input: JsValue, init: JsValue) -> Promise {
    if let Err(e) = inner.check_live() {
        return Promise::reject(&e);
    }
    let url = input_url(&input);
    let allowed = url.as_deref().and_then(parse_url).is_some_and(|u| inner.is_allowed_origin(&u.origin()));
    if !allowed {
        return send_raw(fetch_impl.as_ref(), &input, &init);
    }
    let inner = inner.clone();
    future_to_promise(async move { run(&inner, fetch_impl.as_ref(), &input, &init, url.unwrap_or_default()).await })
}

/// The error type of an AWS-style 400: the `x-amzn-ErrorType` header, else the body's `__type`.
async fn aws_error_type(resp: &Response) -> Option<String> {
    if let Ok(Some(t)) = resp.headers().get("x-amzn-errortype") {
        return Some(t);
    }
    let text = JsFuture::from(resp.clone().ok()?.text().ok()?).await.ok()?.as_string()?;
    Json::parse(&text)?.str_field("__type").map(String::from)
}

async fn run(inner: &Inner, fetch_impl: Option<&Function>, input: &JsValue, init: &JsValue, url: String) -> Result<JsValue, JsValue> {
    let init: RequestInit = if init.is_object() { init.clone().unchecked_into() } else { RequestInit::new() };
    let request = match input.dyn_ref::<Request>() {
        Some(r) => Request::new_with_request_and_init(r, &init)?,
        None => Request::new_with_str_and_init(&url, &init)?,
    };
    let headers = request.headers();
    let signal: JsValue = request.signal().into();
    let mut replay_safe = is_idempotent(&request.method());
    if headers.has("idempotency-key").unwrap_or(false) {
        replay_safe = true;
    } else if !replay_safe && inner.session.borrow().config().retry.idempotency_key {
        headers.set("Idempotency-Key", &uuid())?;
        replay_safe = true;
    }
    let mut call = Call::new(&mut inner.session.borrow_mut(), replay_safe);
    loop {
        let token = inner.next_send(&mut call, &signal).await?;
        let attempt = request.clone()?;
        attempt.headers().set("Authorization", &["Bearer ", &token].concat())?;
        let outcome = JsFuture::from(send_raw(fetch_impl, &attempt.into(), &JsValue::UNDEFINED)).await;
        let (status, retry_after, error_type) = match &outcome {
            Ok(v) => match v.dyn_ref::<Response>() {
                Some(resp) => {
                    let h = resp.headers();
                    let status = resp.status();
                    let et = if status == 400 { aws_error_type(resp).await } else { None };
                    (status, h.get("retry-after").ok().flatten(), et)
                }
                // a custom fetch that answers with something else: hand it back as it is
                None => return outcome,
            },
            Err(e) if is_abort(e, &signal) => return outcome,
            Err(_) => (0, None, None),
        };
        let answer = Answer { status, retry_after: retry_after.as_deref(), error_type: error_type.as_deref() };
        let verdict = call.on_answer(&mut inner.session.borrow_mut(), &answer, now(), random());
        inner.flush();
        match verdict {
            Verdict::Deliver => return outcome,
            Verdict::Fail(e) => return Err(call_error(e)),
            Verdict::Again { retry } => {
                if let Some((attempt, delay)) = retry {
                    let detail = object(&[
                        ("url", request.url().into()),
                        ("status", status.into()),
                        ("attempt", attempt.into()),
                        ("delayMs", delay.round().into()),
                    ]);
                    inner.dispatch("retry", &detail);
                }
            }
        }
    }
}
