//! `attachAxios(instance)`: the same behaviour for axios, through its interceptors.
//!
//! The request interceptor asks the core for a token (waiting for a refresh, the rate limiter
//! or a backoff like `fetch` does) and sets `Authorization`. The response interceptors report
//! the answer to the core; for a replay or a retry they sleep if told to and send the same
//! config again through `instance.request`, which runs the request interceptor again. A call's
//! counts travel on the config (`config.__sessionguard`), so the bound on sends holds across
//! those round trips and nothing is left behind when a call ends.

use std::rc::Rc;

use js_sys::{Function, Promise};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::{future_to_promise, JsFuture};

use super::inner::Inner;
use super::js::{call_error, get, get_string, now, object, parse_url, random, set, sleep, type_error, uuid};
use crate::core::call::{Call, Verdict};
use crate::core::json::Json;
use crate::core::retry::{is_idempotent, Answer};

const STATE: &str = "__sessionguard";

/// `headers.get(name)` for AxiosHeaders, or a case-insensitive look-up in a plain object.
fn header_get(headers: &JsValue, name: &str) -> Option<String> {
    if let Ok(f) = get(headers, "get").dyn_into::<Function>() {
        return f.call1(headers, &name.into()).ok().and_then(|v| v.as_string());
    }
    if headers.is_object() {
        for key in js_sys::Object::keys(headers.unchecked_ref::<js_sys::Object>()).iter() {
            if key.as_string().is_some_and(|k| k.eq_ignore_ascii_case(name)) {
                return js_sys::Reflect::get(headers, &key).ok()?.as_string();
            }
        }
    }
    None
}

fn header_set(config: &JsValue, name: &str, value: &str) {
    let mut headers = get(config, "headers");
    if !headers.is_object() {
        headers = js_sys::Object::new().into();
        set(config, "headers", &headers);
    }
    match get(&headers, "set").dyn_into::<Function>() {
        Ok(f) => {
            let _ = f.call2(&headers, &name.into(), &value.into());
        }
        Err(_) => set(&headers, name, &value.into()),
    }
}

/// The absolute URL of an axios request config (axios's `buildFullPath`).
fn config_url(config: &JsValue) -> Option<String> {
    let url = get_string(config, "url").unwrap_or_default();
    let absolute = url.starts_with("//") || url.split_once("://").is_some_and(|(scheme, _)| !scheme.is_empty() && scheme.bytes().all(|b| b.is_ascii_alphanumeric() || b"+-.".contains(&b)));
    let full = match get_string(config, "baseURL") {
        Some(base) if !absolute && !base.is_empty() => {
            if url.is_empty() {
                base
            } else {
                [base.trim_end_matches('/'), "/", url.trim_start_matches('/')].concat()
            }
        }
        _ => url,
    };
    Some(parse_url(&full)?.href())
}

fn abort_signal(config: &JsValue) -> JsValue {
    let s = get(config, "signal");
    if s.is_object() && get(&s, "aborted").as_bool().is_some() {
        s
    } else {
        JsValue::UNDEFINED
    }
}

pub fn attach(inner: &Rc<Inner>, instance: &JsValue) -> Result<Function, JsValue> {
    let interceptors = get(instance, "interceptors");
    let requests = get(&interceptors, "request");
    let responses = get(&interceptors, "response");
    let not_axios = || type_error("sessionguard: attachAxios needs an axios instance");
    let use_req: Function = get(&requests, "use").dyn_into().map_err(|_| not_axios())?;
    let use_res: Function = get(&responses, "use").dyn_into().map_err(|_| not_axios())?;
    let request_fn: Function = get(instance, "request").dyn_into().map_err(|_| not_axios())?;

    let i = inner.clone();
    let on_request = Closure::<dyn FnMut(JsValue) -> Promise>::new(move |config: JsValue| {
        let i = i.clone();
        future_to_promise(async move { on_request(&i, config).await })
    })
    .into_js_value();
    let (i, inst, req) = (inner.clone(), instance.clone(), request_fn.clone());
    let on_fulfilled = Closure::<dyn FnMut(JsValue) -> Promise>::new(move |response: JsValue| {
        let status = get(&response, "status").as_f64().unwrap_or(200.0) as u16;
        if !matches!(status, 400 | 401 | 429 | 502..=504) {
            return Promise::resolve(&response);
        }
        let (i, inst, req) = (i.clone(), inst.clone(), req.clone());
        let config = get(&response, "config");
        future_to_promise(async move { on_answer(&i, &inst, &req, config, response.clone(), status, Ok(response)).await })
    })
    .into_js_value();
    let (i, inst, req) = (inner.clone(), instance.clone(), request_fn);
    let on_rejected = Closure::<dyn FnMut(JsValue) -> Promise>::new(move |error: JsValue| {
        let config = get(&error, "config");
        if !get(&config, STATE).is_object() || get_string(&error, "code").as_deref() == Some("ERR_CANCELED") {
            return Promise::reject(&error);
        }
        let response = get(&error, "response");
        let status = if response.is_object() { get(&response, "status").as_f64().unwrap_or(0.0) as u16 } else { 0 };
        let (i, inst, req) = (i.clone(), inst.clone(), req.clone());
        future_to_promise(async move { on_answer(&i, &inst, &req, config, response, status, Err(error)).await })
    })
    .into_js_value();

    let req_id = use_req.call1(&requests, &on_request)?;
    let res_id = use_res.call2(&responses, &on_fulfilled, &on_rejected)?;
    let eject = Closure::<dyn FnMut()>::new(move || {
        for (manager, id) in [(&requests, &req_id), (&responses, &res_id)] {
            if let Ok(f) = get(manager, "eject").dyn_into::<Function>() {
                let _ = f.call1(manager, id);
            }
        }
    });
    Ok(eject.into_js_value().unchecked_into())
}

async fn on_request(inner: &Inner, config: JsValue) -> Result<JsValue, JsValue> {
    inner.check_live()?;
    let allowed = config_url(&config).and_then(|u| parse_url(&u)).is_some_and(|u| inner.is_allowed_origin(&u.origin()));
    if !allowed {
        return Ok(config);
    }
    let mut state = get(&config, STATE);
    let mut call = if state.is_object() {
        let safe = get(&state, "safe").as_bool() == Some(true);
        let retries = get(&state, "retries").as_f64().unwrap_or(0.0) as u32;
        let replayed = get(&state, "replayed").as_bool() == Some(true);
        Call::resume(safe, retries, replayed, None)
    } else {
        let method = get_string(&config, "method").unwrap_or_else(|| "get".into());
        let mut safe = is_idempotent(&method);
        if header_get(&get(&config, "headers"), "idempotency-key").is_some() {
            safe = true;
        } else if !safe && inner.session.borrow().config().retry.idempotency_key {
            header_set(&config, "Idempotency-Key", &uuid());
            safe = true;
        }
        state = object(&[("safe", safe.into()), ("retries", 0.into()), ("replayed", false.into())]);
        set(&config, STATE, &state);
        Call::new(&mut inner.session.borrow_mut(), safe)
    };
    let token = inner.next_send(&mut call, &abort_signal(&config)).await?;
    header_set(&config, "Authorization", &["Bearer ", &token].concat());
    set(&state, "token", &token.into());
    Ok(config)
}

#[allow(clippy::too_many_arguments)]
async fn on_answer(
    inner: &Inner,
    instance: &JsValue,
    request_fn: &Function,
    config: JsValue,
    response: JsValue,
    status: u16,
    outcome: Result<JsValue, JsValue>,
) -> Result<JsValue, JsValue> {
    let state = get(&config, STATE);
    if !state.is_object() {
        return outcome;
    }
    let headers = get(&response, "headers");
    let retry_after = header_get(&headers, "retry-after");
    let mut error_type = header_get(&headers, "x-amzn-errortype");
    if error_type.is_none() && status == 400 {
        let data = get(&response, "data");
        error_type = match data.as_string() {
            Some(text) => Json::parse(&text).and_then(|j| j.str_field("__type").map(String::from)),
            None => get_string(&data, "__type"),
        };
    }
    let mut call = Call::resume(
        get(&state, "safe").as_bool() == Some(true),
        get(&state, "retries").as_f64().unwrap_or(0.0) as u32,
        get(&state, "replayed").as_bool() == Some(true),
        get_string(&state, "token"),
    );
    let answer = Answer { status, retry_after: retry_after.as_deref(), error_type: error_type.as_deref() };
    let verdict = call.on_answer(&mut inner.session.borrow_mut(), &answer, now(), random());
    inner.flush();
    match verdict {
        Verdict::Deliver => outcome,
        Verdict::Fail(e) => Err(call_error(e)),
        Verdict::Again { retry } => {
            set(&state, "retries", &call.retries().into());
            set(&state, "replayed", &call.replayed().into());
            if let Some((attempt, delay)) = retry {
                let detail = object(&[
                    ("url", config_url(&config).unwrap_or_default().into()),
                    ("status", status.into()),
                    ("attempt", attempt.into()),
                    ("delayMs", delay.round().into()),
                ]);
                inner.dispatch("retry", &detail);
                JsFuture::from(sleep(delay, &abort_signal(&config))).await?;
            }
            let again = request_fn.call1(instance, &config)?;
            JsFuture::from(Promise::resolve(&again)).await
        }
    }
}
