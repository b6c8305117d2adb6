//! Bindings to `js/support.js` and small helpers for reading JavaScript values safely.
//!
//! Everything here turns JS failures into values: a getter that throws, a missing property or
//! a value of the wrong type never panics (a panic would poison the whole wasm instance).

use js_sys::{Function, Promise, Reflect};
use wasm_bindgen::prelude::*;

use crate::core::session::CallError;

#[wasm_bindgen(module = "/js/support.js")]
extern "C" {
    #[wasm_bindgen(js_name = SessionExpiredError)]
    pub type SessionExpiredErrorJs;
    #[wasm_bindgen(constructor, js_class = "SessionExpiredError")]
    pub fn new(reason: &str) -> SessionExpiredErrorJs;
}

#[wasm_bindgen(module = "/js/support.js")]
extern "C" {
    #[wasm_bindgen(js_name = RefreshUnavailableError)]
    pub type RefreshUnavailableErrorJs;
    #[wasm_bindgen(constructor, js_class = "RefreshUnavailableError")]
    pub fn new(retry_after_ms: f64) -> RefreshUnavailableErrorJs;
}

#[wasm_bindgen(module = "/js/support.js")]
extern "C" {
    pub fn race(promise: &Promise, signal: &JsValue) -> Promise;
    pub fn sleep(ms: f64, signal: &JsValue) -> Promise;
    #[wasm_bindgen(js_name = timeoutSignal)]
    pub fn timeout_signal(ms: f64) -> JsValue;
    pub fn uuid() -> String;
    #[wasm_bindgen(js_name = hasLocks)]
    pub fn has_locks() -> bool;
    #[wasm_bindgen(js_name = withLock)]
    pub fn with_lock(name: &str, timeout_ms: f64, f: &JsValue) -> Promise;
    #[wasm_bindgen(js_name = globalFetch, catch)]
    pub fn global_fetch(input: &JsValue, init: &JsValue) -> Result<Promise, JsValue>;
}

/// `obj[key]`, or `undefined` if `obj` is not an object or the getter throws.
pub fn get(obj: &JsValue, key: &str) -> JsValue {
    if !obj.is_object() && !obj.is_function() {
        return JsValue::UNDEFINED;
    }
    Reflect::get(obj, &JsValue::from_str(key)).unwrap_or(JsValue::UNDEFINED)
}

/// `obj[key] = value`, ignoring failures (frozen objects, setters that throw).
pub fn set(obj: &JsValue, key: &str, value: &JsValue) {
    let _ = Reflect::set(obj, &JsValue::from_str(key), value);
}

pub fn get_string(obj: &JsValue, key: &str) -> Option<String> {
    get(obj, key).as_string()
}

pub fn type_error(msg: &str) -> JsValue {
    js_sys::TypeError::new(msg).into()
}

/// An `Error` with a `name`.
pub fn named_error(name: &str, msg: &str) -> JsValue {
    let e = js_sys::Error::new(msg);
    e.set_name(name);
    e.into()
}

pub fn now() -> f64 {
    js_sys::Date::now()
}

pub fn random() -> f64 {
    js_sys::Math::random()
}

/// The JS error for a call that cannot go out.
pub fn call_error(e: CallError) -> JsValue {
    match e {
        CallError::NoSession => SessionExpiredErrorJs::new("no-session").into(),
        CallError::Expired(r) => SessionExpiredErrorJs::new(r.as_str()).into(),
        CallError::Unavailable { retry_after_ms } => RefreshUnavailableErrorJs::new(retry_after_ms.max(0.0).ceil()).into(),
    }
}

/// Calls `f(args…)` and turns the result into a promise (a sync throw becomes a rejection).
pub fn call_to_promise(f: &Function, a: &JsValue, b: &JsValue) -> Promise {
    match f.call2(&JsValue::UNDEFINED, a, b) {
        Ok(v) => Promise::resolve(&v),
        Err(e) => Promise::reject(&e),
    }
}

/// A plain object from key/value pairs.
pub fn object(pairs: &[(&str, JsValue)]) -> JsValue {
    let o: JsValue = js_sys::Object::new().into();
    for (k, v) in pairs {
        set(&o, k, v);
    }
    o
}

/// The page's URL (window or worker), to resolve relative URLs against.
pub fn page_href() -> Option<String> {
    get_string(&get(&js_sys::global(), "location"), "href")
}

/// Parses `url` against the page; `None` if it is not a URL.
pub fn parse_url(url: &str) -> Option<web_sys::Url> {
    match page_href() {
        Some(base) => web_sys::Url::new_with_base(url, &base).ok(),
        None => web_sys::Url::new(url).ok(),
    }
}

/// Is `e` an abort (the caller's signal, or an `AbortError`)?
pub fn is_abort(e: &JsValue, signal: &JsValue) -> bool {
    get(signal, "aborted").as_bool() == Some(true) || get_string(e, "name").as_deref() == Some("AbortError")
}
