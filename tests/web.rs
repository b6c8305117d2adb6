//! Bindings-level tests, run in headless Chromium by wasm-bindgen-test (`npm test` runs them).
//! They call the exported class from Rust the way JavaScript would, with bad input of every kind.
#![cfg(target_arch = "wasm32")]

use js_sys::{Function, Object, Promise, Reflect};
use sessionguard::web::manager::SessionManager;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

fn obj(json: &str) -> JsValue {
    js_sys::JSON::parse(json).unwrap()
}

fn get(v: &JsValue, k: &str) -> JsValue {
    Reflect::get(v, &k.into()).unwrap()
}

fn is_type_error(e: &JsValue) -> bool {
    e.is_instance_of::<js_sys::TypeError>()
}

/// A JWT-shaped token with the given payload (unsigned: the bindings do not verify).
fn jwt(payload: &str) -> String {
    let b64 = |s: &str| {
        let w = web_sys::window().unwrap();
        w.btoa(s).unwrap().replace('+', "-").replace('/', "_").trim_end_matches('=').to_string()
    };
    [b64("{\"alg\":\"none\"}"), b64(payload), "sig".into()].join(".")
}

#[wasm_bindgen_test]
fn bad_options_are_type_errors() {
    for bad in [
        r#"{"storage":"disk"}"#,
        r#"{"refresh":{"type":"saml"}}"#,
        r#"{"refresh":{"type":"oauth2","clientId":"x"}}"#,
        r#"{"refresh":{"type":"cognito","clientId":"x","region":"EU WEST"}}"#,
        r#"{"retry":{"maxRetries":-1}}"#,
        r#"{"retry":{"maxRetries":2.5}}"#,
        r#"{"rateLimit":{"requestsPerSecond":0}}"#,
        r#"{"allowedOrigins":["not a url"]}"#,
        r#"{"allowedOrigins":"https://a.example"}"#,
        r#"{"refreshLeewaySeconds":"30"}"#,
        r#"{"crossTab":"yes"}"#,
        r#"7"#,
    ] {
        let err = SessionManager::new(obj(bad)).err().unwrap_or_else(|| panic!("accepted {bad}"));
        assert!(is_type_error(&err), "{bad}: not a TypeError");
    }
    assert!(SessionManager::new(JsValue::UNDEFINED).is_ok());
    assert!(SessionManager::new(obj(r#"{"refresh":{"type":"cognito","clientId":"c","region":"eu-west-1"},"rateLimit":{"requestsPerSecond":5}}"#)).is_ok());
}

#[wasm_bindgen_test]
fn bad_tokens_are_type_errors_and_change_nothing() {
    let s = SessionManager::new(JsValue::UNDEFINED).unwrap();
    for bad in [r#"{}"#, r#"{"accessToken":""}"#, r#"{"accessToken":"null"}"#, r#"{"accessToken":"undefined"}"#, r#"{"accessToken":5}"#, r#"{"accessToken":"a","expiresIn":"soon"}"#, r#"null"#, r#""tok""#] {
        let err = s.set_tokens(obj(bad)).err().unwrap_or_else(|| panic!("accepted {bad}"));
        assert!(is_type_error(&err), "{bad}");
        assert!(!s.is_authenticated());
    }
    s.set_tokens(obj(r#"{"accessToken":"good","expiresIn":3600}"#)).unwrap();
    assert!(s.is_authenticated());
}

#[wasm_bindgen_test]
fn claims_are_decoded_locally() {
    let s = SessionManager::new(JsValue::UNDEFINED).unwrap();
    assert!(s.claims(JsValue::UNDEFINED).unwrap().is_null());
    let set = Object::new();
    Reflect::set(&set, &"accessToken".into(), &jwt(r#"{"sub":"alice","exp":9999999999}"#).into()).unwrap();
    Reflect::set(&set, &"idToken".into(), &jwt(r#"{"email":"a@example.test"}"#).into()).unwrap();
    s.set_tokens(set.into()).unwrap();
    assert_eq!(get(&s.claims(JsValue::UNDEFINED).unwrap(), "sub"), "alice");
    assert_eq!(get(&s.claims("id".into()).unwrap(), "email"), "a@example.test");
    assert!(is_type_error(&s.claims("refresh".into()).unwrap_err()));
    s.set_tokens(obj(r#"{"accessToken":"opaque"}"#)).unwrap();
    assert!(s.claims(JsValue::UNDEFINED).unwrap().is_null());
}

#[wasm_bindgen_test]
async fn no_session_rejects_with_a_real_error() {
    let s = SessionManager::new(JsValue::UNDEFINED).unwrap();
    let err = JsFuture::from(s.get_access_token()).await.unwrap_err();
    assert!(err.is_instance_of::<js_sys::Error>());
    assert_eq!(get(&err, "name"), "SessionExpiredError");
    assert_eq!(get(&err, "reason"), "no-session");
}

#[wasm_bindgen_test]
async fn function_refresher_single_flight() {
    let calls = std::rc::Rc::new(std::cell::Cell::new(0));
    let c = calls.clone();
    let refresher = Closure::<dyn FnMut(JsValue) -> Promise>::new(move |rt: JsValue| {
        assert_eq!(rt, "R1");
        c.set(c.get() + 1);
        Promise::resolve(&obj(r#"{"accessToken":"A2","expiresIn":3600}"#))
    });
    let opts = Object::new();
    Reflect::set(&opts, &"refresh".into(), refresher.as_ref()).unwrap();
    let s = SessionManager::new(opts.into()).unwrap();
    s.set_tokens(obj(r#"{"accessToken":"A1","refreshToken":"R1","expiresIn":0}"#)).unwrap();
    let all: js_sys::Array = (0..5).map(|_| s.get_access_token()).collect();
    let tokens = JsFuture::from(Promise::all(&all)).await.unwrap();
    let tokens: js_sys::Array = tokens.unchecked_into();
    assert!(tokens.iter().all(|t| t == "A2"));
    assert_eq!(calls.get(), 1);
    let stats = s.stats();
    assert_eq!(get(&stats, "refreshes"), 1);
    assert_eq!(get(&stats, "coalesced"), 4);
}

#[wasm_bindgen_test]
async fn terminal_rejection_ends_the_session_once() {
    let refresher = Function::new_with_args("rt", "return Promise.reject(Object.assign(new Error('nope'), { status: 401 }))");
    let opts = Object::new();
    Reflect::set(&opts, &"refresh".into(), &refresher).unwrap();
    let s = SessionManager::new(opts.into()).unwrap();
    let reasons = js_sys::Array::new();
    let r = reasons.clone();
    let listener = Closure::<dyn FnMut(web_sys::CustomEvent)>::new(move |e: web_sys::CustomEvent| {
        r.push(&get(&e.detail(), "reason"));
    });
    s.add_event_listener("session-expired".into(), listener.as_ref().clone()).unwrap();
    s.set_tokens(obj(r#"{"accessToken":"A1","refreshToken":"R1","expiresIn":0}"#)).unwrap();
    let a = JsFuture::from(s.get_access_token());
    let b = JsFuture::from(s.get_access_token());
    let (ea, eb) = (a.await.unwrap_err(), b.await.unwrap_err());
    assert_eq!(get(&ea, "reason"), "refresh-rejected");
    assert_eq!(get(&eb, "reason"), "refresh-rejected");
    assert_eq!(reasons.length(), 1);
    assert!(!s.is_authenticated());
    // bad listener input is a TypeError, and the instance keeps working
    assert!(is_type_error(&s.add_event_listener(5.into(), JsValue::UNDEFINED).unwrap_err()));
    assert!(is_type_error(&s.add_event_listener("x".into(), 5.into()).unwrap_err()));
    s.set_tokens(obj(r#"{"accessToken":"B","expiresIn":3600}"#)).unwrap();
    assert_eq!(JsFuture::from(s.get_access_token()).await.unwrap(), "B");
}

#[wasm_bindgen_test]
fn corrupt_storage_is_ignored() {
    let storage = web_sys::window().unwrap().local_storage().unwrap().unwrap();
    for junk in ["garbage", "{\"v\":1,\"a\":null}", "{\"v\":9}", "null"] {
        storage.set_item("sg-test-corrupt", junk).unwrap();
        let s = SessionManager::new(obj(r#"{"storage":"local","storageKey":"sg-test-corrupt","crossTab":false}"#)).unwrap();
        assert!(!s.is_authenticated(), "{junk}");
    }
    let s = SessionManager::new(obj(r#"{"storage":"local","storageKey":"sg-test-corrupt","crossTab":false}"#)).unwrap();
    s.set_tokens(obj(r#"{"accessToken":"T","refreshToken":"R","expiresIn":3600}"#)).unwrap();
    let again = SessionManager::new(obj(r#"{"storage":"local","storageKey":"sg-test-corrupt","crossTab":false}"#)).unwrap();
    assert!(again.is_authenticated(), "a stored session is resumed");
    s.logout();
    assert_eq!(storage.get_item("sg-test-corrupt").unwrap(), None, "logout clears storage");
}
