//! Bindings-level tests, run in headless Chromium by wasm-bindgen-test (`npm test` runs them):
//! `SessionEngine` driven as the JavaScript shell drives it, and fed the kind of input that
//! must not panic the module (no panic may ever poison the wasm instance).
#![cfg(target_arch = "wasm32")]

use sessionguard::bindings::{aws_error_type, jwt_payload, SessionEngine};
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

const READY: i32 = 0;
const REFRESH: i32 = 1;
const JOIN: i32 = 2;
const FAIL: i32 = 3;
const SLEEP: i32 = 4;

fn engine() -> SessionEngine {
    SessionEngine::new(30_000.0, true, false, 3, 100.0, 10_000.0, false, f64::NAN, f64::NAN)
}

fn s(v: &str) -> Option<String> {
    Some(v.to_string())
}

#[wasm_bindgen_test]
fn set_tokens_codes() {
    let mut e = engine();
    assert_eq!(e.set_tokens(None, None, None, None, None, 0.0), 1);
    assert_eq!(e.set_tokens(s("null"), None, None, None, None, 0.0), 1);
    assert_eq!(e.set_tokens(s(""), None, None, None, None, 0.0), 1);
    assert_eq!(e.set_tokens(s("a"), None, None, Some(f64::NAN), None, 0.0), 2);
    assert_eq!(e.set_tokens(s("a"), None, None, None, Some(f64::INFINITY), 0.0), 2);
    assert!(!e.authenticated(), "refused input changes nothing");
    assert_eq!(e.set_tokens(s("a"), s("r"), s("i"), Some(60.0), None, 0.0), 0);
    assert!(e.authenticated());
    assert_eq!(e.token(0).as_deref(), Some("a"));
    assert_eq!(e.token(1).as_deref(), Some("i"));
    assert_eq!(e.poll_event(), 3, "store");
    assert_eq!(e.poll_event(), 0);
}

#[wasm_bindgen_test]
fn no_session_then_logout() {
    let mut e = engine();
    assert_eq!(e.access(0.0), FAIL);
    assert_eq!(e.out_str().as_deref(), Some("no-session"));
    e.set_tokens(s("a"), None, None, None, None, 0.0);
    e.poll_event();
    e.logout();
    assert_eq!(e.poll_event(), 1);
    assert_eq!(e.out_str().as_deref(), Some("logout"));
    assert_eq!(e.poll_event(), 4, "clear");
    e.logout();
    assert_eq!(e.poll_event(), 4, "a second logout only clears storage again");
    assert_eq!(e.poll_event(), 0);
    assert_eq!(e.access(0.0), FAIL);
    assert_eq!(e.out_str().as_deref(), Some("logout"));
}

#[wasm_bindgen_test]
fn single_flight_through_the_bindings() {
    let mut e = engine();
    e.set_tokens(s("old"), s("rt"), None, Some(0.0), None, 0.0);
    assert_eq!(e.access(1.0), REFRESH);
    let flight = e.out_num();
    assert_eq!(e.out_str().as_deref(), Some("rt"));
    for _ in 0..5 {
        assert_eq!(e.access(1.0), JOIN);
        assert_eq!(e.out_num(), flight);
    }
    assert_eq!(e.classify_oauth2(200, None, r#"{"access_token":"new","expires_in":3600}"#, 2.0), 0);
    assert_eq!(e.apply_refresh(flight, 2.0, 0.5), -1.0);
    assert_eq!(e.access(3.0), READY);
    assert_eq!(e.out_str().as_deref(), Some("new"));
    assert_eq!(e.stats(), vec![0, 0, 0, 1, 0, 5, 0]);
}

#[wasm_bindgen_test]
fn cognito_throttling_is_retried_and_terminal_ends() {
    let mut e = engine();
    e.set_tokens(s("old"), s("rt"), None, Some(0.0), None, 0.0);
    assert_eq!(e.access(1.0), REFRESH);
    let flight = e.out_num();
    let kind = e.classify_cognito(400, None, None, r#"{"__type":"TooManyRequestsException"}"#, 1.0);
    assert_eq!(kind, 2, "transient");
    let delay = e.apply_refresh(flight, 1.0, 0.5);
    assert!(delay >= 0.0);
    assert_eq!(e.refresh_token_for(flight).as_deref(), Some("rt"));
    assert_eq!(e.classify_cognito(400, s("NotAuthorizedException:"), None, "", 2.0), 1, "terminal");
    assert_eq!(e.apply_refresh(flight, 2.0, 0.5), -1.0);
    while e.poll_event() != 1 {}
    assert_eq!(e.out_str().as_deref(), Some("refresh-rejected"));
    assert!(!e.authenticated());
}

#[wasm_bindgen_test]
fn calls_retry_replay_and_close() {
    let mut e = engine();
    e.set_tokens(s("t"), s("rt"), None, None, None, 0.0);
    let id = e.call_start("GET", false, 0.0) >> 5;
    assert_eq!(e.call_next(id, 0.0), READY);
    let gen = e.out_num();
    assert_eq!(e.call_answer(id, 429, s("1"), None, 0.0, 0.5), 2, "retry");
    assert_eq!((e.out_num(), e.out_num2()), (1.0, 1000.0));
    assert_eq!(e.call_next(id, 10.0), SLEEP);
    assert_eq!(e.out_num(), 1000.0);
    assert_eq!(e.call_next(id, 1000.0), READY);
    assert_eq!(e.out_num(), gen);
    assert_eq!(e.call_answer(id, 401, None, None, 1000.0, 0.5), 1, "replay after a refresh");
    assert_eq!(e.call_counts(id), 3, "one retry, replayed");
    assert_eq!(e.call_next(id, 1000.0), REFRESH);
    e.call_close(id);
    e.call_close(id);
    // unknown or closed ids never panic
    assert_eq!(e.call_next(id, 0.0), FAIL);
    assert_eq!(e.call_next(9999, 0.0), FAIL);
    assert_eq!(e.call_answer(9999, 200, None, None, 0.0, 0.5), 0);
    assert_eq!(e.call_counts(9999), 0);
    // the slot is reused
    assert_eq!(e.call_start("POST", false, 0.0) >> 5, id);
}

#[wasm_bindgen_test]
fn hostile_input_does_not_panic() {
    let mut e = SessionEngine::new(f64::NAN, true, true, u32::MAX, -1.0, f64::INFINITY, true, -5.0, f64::NAN);
    let junk = ["", "\u{0}", "{", "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]", "\"\\ud800\"", "é😀", "null"];
    for j in junk {
        assert!(!e.restore(j));
        assert!(!e.adopt(j, true));
        assert!(!e.is_newer(j));
        let _ = e.classify_oauth2(200, s(j), j, f64::NAN);
        let _ = e.classify_cognito(400, s(j), s(j), j, f64::NAN);
        let _ = jwt_payload(j);
        let _ = aws_error_type(j);
        let _ = e.call_start(j, false, f64::NAN);
        e.end_external(j);
    }
    let big = "a.".repeat(100_000);
    assert_eq!(jwt_payload(&big), None);
    let _ = e.apply_refresh(f64::NAN, f64::NAN, f64::NAN);
    let _ = e.adopt_for_flight(-1.0, "x");
    let _ = e.classify_rejection(Some(f64::NAN), false, Some(-1.0));
    let _ = e.classify_tokens(None, None, None, Some(f64::NAN), None);
    assert_eq!(e.access(f64::NAN), FAIL);
    assert!(e.next_wake().is_nan());
    assert!(e.refresh_tag().is_nan());
}

#[wasm_bindgen_test]
fn records_round_trip_between_engines() {
    let mut a = engine();
    a.set_tokens(s("t1"), s("r1"), None, Some(3600.0), None, 0.0);
    let rec = a.record().unwrap();
    let mut b = engine();
    assert!(b.restore(&rec));
    assert_eq!(b.token(0).as_deref(), Some("t1"));
    assert!(!b.is_newer(&rec));
    a.set_tokens(s("t2"), s("r2"), None, Some(3600.0), None, 0.0);
    let rec2 = a.record().unwrap();
    assert!(b.is_newer(&rec2));
    assert!(b.adopt(&rec2, false));
    assert_eq!(b.token(0).as_deref(), Some("t2"));
    assert_eq!(a.refresh_tag(), b.refresh_tag());
}

#[wasm_bindgen_test]
fn call_start_packs_id_key_and_step() {
    let mut e = SessionEngine::new(30_000.0, true, false, 3, 100.0, 10_000.0, true, f64::NAN, f64::NAN);
    assert_eq!(e.call_start("GET", false, 0.0) & 15, FAIL as u32, "no session yet");
    e.set_tokens(s("t"), None, None, None, None, 0.0);
    let r = e.call_start("POST", false, 0.0);
    assert_eq!(r & 7, READY as u32);
    assert_eq!(r & 8, 8, "a POST gets an Idempotency-Key");
    assert_eq!(r & 16, 16, "and may then be replayed");
    let id = r >> 5;
    assert_eq!(e.call_answer(id, 200, None, None, 0.0, 0.5), 0);
    assert_eq!(e.call_next(id, 0.0), FAIL, "delivered calls are closed");
    assert_eq!(e.call_start("POST", true, 0.0) & 24, 16, "it has one already");
    assert_eq!(e.call_start("get", false, 0.0) & 24, 16);
    let mut plain = engine();
    plain.set_tokens(s("t"), None, None, None, None, 0.0);
    assert_eq!(plain.call_start("POST", false, 0.0) & 24, 0, "without retry.idempotencyKey a POST is not replay-safe");
    assert_eq!(plain.call_start_known(0, false, 0.0) & 16, 16, "GET");
    assert_eq!(plain.call_start_known(5, false, 0.0) & 16, 0, "POST");
    assert_eq!(plain.call_start_known(99, false, 0.0) & 16, 0, "unknown index: not idempotent");
}

#[wasm_bindgen_test]
fn helpers() {
    assert_eq!(jwt_payload("e30.eyJzdWIiOiJhIn0.sig").as_deref(), Some("{\"sub\":\"a\"}"));
    assert_eq!(aws_error_type(r#"{"__type":"NotAuthorizedException"}"#).as_deref(), Some("NotAuthorizedException"));
}
