//! The browser layer's own tests, in headless Chromium (`wasm-bindgen-test`): the readers and
//! writers against real JavaScript values, and the driver against a real session. They run in
//! seconds, beside the end-to-end tier (the package through its public API), which stays the
//! contract.

use std::rc::Rc;

use js_sys::{Function, Object, Promise, Reflect};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;
use wasm_bindgen_test::*;

use super::driver::{first_step, until_send};
use super::options;
use super::read::{self, Obj};
use super::state::Inner;
use super::write;
use super::{js, wait};
use crate::core::call::{Call, Step};
use crate::core::crosstab::{self, PeerMessage};
use crate::core::read::{Fields, Value};
use crate::core::session::EndReason;
use crate::core::token::{Record, TokenInput};

wasm_bindgen_test_configure!(run_in_browser);

fn parse(json: &str) -> JsValue {
    js_sys::JSON::parse(json).unwrap_or(JsValue::NULL)
}

fn inner(options: &str) -> Rc<Inner> {
    match options::parse(&parse(options)) {
        Ok(o) => Inner::new(o),
        Err(e) => panic!("options refused: {:?}", e.as_string()),
    }
}

fn tokens(access: &str, refresh: &str, expires_in: f64) -> TokenInput {
    TokenInput {
        access_token: Some(access.into()),
        refresh_token: Some(refresh.into()),
        expires_in: Some(expires_in),
        ..Default::default()
    }
}

fn name_of(e: &JsValue) -> String {
    js::get_str(e, "name").unwrap_or_default()
}

#[wasm_bindgen_test]
fn the_reader_sorts_every_javascript_type_and_survives_a_throwing_getter() {
    let o = parse(r#"{"n":1.5,"s":"x","b":true,"a":[{},1,[]],"t":["spa","api"],"e":[],"o":{},"z":null}"#);
    let _ = Reflect::set(&o, &"nan".into(), &JsValue::from_f64(f64::NAN));
    let _ = Reflect::set(&o, &"f".into(), &Function::new_no_args(""));
    let desc = Object::new();
    let _ = Reflect::set(&desc, &"get".into(), &Function::new_no_args("throw new Error('getter')"));
    let _ = Object::define_property(o.unchecked_ref::<Object>(), &"boom".into(), &desc);
    let r = Obj(o);
    assert!(matches!(r.field("n"), Value::Num(n) if n == 1.5));
    assert!(matches!(r.field("nan"), Value::Num(n) if n.is_nan()));
    assert_eq!(r.field("s").text().as_deref(), Some("x"));
    assert_eq!(r.field("b").flag(), Some(true));
    assert!(matches!(r.field("a"), Value::List(l) if l.len() == 1), "only the object elements of an array");
    assert!(matches!(r.field("t"), Value::Texts(t) if t == ["spa", "api"]), "an array of strings (an ID token's `aud`)");
    assert!(matches!(r.field("e"), Value::List(l) if l.is_empty()), "an empty array has no strings");
    assert!(r.field("o").object().is_some());
    assert!(r.field("z").is_absent());
    assert!(r.field("missing").is_absent());
    assert!(matches!(r.field("f"), Value::Other));
    assert!(r.field("boom").is_absent(), "a throwing getter reads as absent");
    assert!(read::object(&JsValue::from_str("{}")).is_none(), "a string is not an object");
}

#[wasm_bindgen_test]
fn a_token_set_is_read_in_every_spelling_and_a_junk_expiry_is_named() {
    let camel = TokenInput::read(&Obj(parse(r#"{"accessToken":"A","refreshToken":"R","expiresIn":"60"}"#)));
    assert_eq!((camel.access_token.as_deref(), camel.expires_in), (Some("A"), Some(60.0)));
    let o = parse(r#"{"access_token":"A"}"#);
    let _ = Reflect::set(&o, &"expires_in".into(), &JsValue::from_f64(f64::NAN)); // Number(undefined)
    let junk = TokenInput::read(&Obj(o));
    assert_eq!((junk.expires_in, junk.junk_expiry), (None, Some("expires_in")));
}

#[wasm_bindgen_test]
fn what_is_written_reads_back_the_same() {
    let rec = Record { v: 1, a: "A".into(), r: Some("R".into()), i: None, e: Some(1.7e12), t: 5.0, d: true };
    let back = read::json(&write::record_json(&rec)).and_then(|o| Record::read(&o));
    assert_eq!(back, Some(rec.clone()));
    for m in [PeerMessage::Tokens { rec, login: true }, PeerMessage::End { reason: EndReason::RefreshRejected, tag: Some(7) }] {
        let obj = read::object(&write::message(&m)).map(|o| PeerMessage::read(&o));
        assert_eq!(obj, Some(Some(m.clone())));
        // through local storage's text, as the `storage` fallback carries it
        let text = js_sys::JSON::stringify(&write::message(&m)).ok().and_then(|s| s.as_string()).unwrap_or_default();
        let heard = crosstab::storage_event("k", Some("k:msg"), read::json(&text).as_ref());
        assert_eq!(heard, Some(m));
    }
    let stats = write::stats(&Default::default());
    assert_eq!(js::get(&stats, "refreshFailures").as_f64(), Some(0.0));
}

#[wasm_bindgen_test]
async fn the_driver_sends_at_once_with_a_fresh_token_and_fails_without_a_session() {
    let i = inner("{}");
    let mut call = Call::token();
    let err = until_send(&i, &mut call, None, None).await.err().unwrap_or(JsValue::NULL);
    assert_eq!(name_of(&err), "SessionExpiredError");
    let now = js::now();
    let _ = i.with(|s| s.set_tokens(&tokens("A", "R", 3600.0), None, now));
    let mut call = Call::token();
    assert_eq!(first_step(&i, &mut call), Step::Send);
    assert!(until_send(&i, &mut call, None, Some(Step::Send)).await.is_ok());
}

#[wasm_bindgen_test]
async fn the_driver_gives_way_to_an_aborted_signal_before_sending() {
    let i = inner("{}");
    let now = js::now();
    let _ = i.with(|s| s.set_tokens(&tokens("A", "R", 3600.0), None, now));
    let ctl = web_sys::AbortController::new().unwrap_or_else(|_| panic!("AbortController"));
    ctl.abort();
    let mut call = Call::token();
    let err = until_send(&i, &mut call, Some(&ctl.signal()), None).await.err().unwrap_or(JsValue::NULL);
    assert_eq!(name_of(&err), "AbortError");
}

#[wasm_bindgen_test]
async fn many_callers_of_the_driver_share_one_refresh() {
    // a refresh function that answers after 20 ms
    let body = "return new Promise((r) => setTimeout(() => r({ accessToken: 'B', refreshToken: 'R2', expiresIn: 3600 }), 20));";
    let refresh = Function::new_with_args("rt, ctx", body);
    let opts = Object::new();
    js::set(&opts, "refresh", &refresh);
    let i = match options::parse(&opts) {
        Ok(o) => Inner::new(o),
        Err(_) => panic!("options"),
    };
    let now = js::now();
    let _ = i.with(|s| s.set_tokens(&tokens("A", "R", 0.0), None, now));
    let waits: js_sys::Array = (0..8)
        .map(|_| {
            let i = i.clone();
            JsValue::from(wait::promise(async move {
                let mut call = Call::token();
                until_send(&i, &mut call, None, None).await?;
                Ok(i.access_token().map(|(t, _)| JsValue::from(t)).unwrap_or(JsValue::NULL))
            }))
        })
        .collect();
    let all = JsFuture::from(Promise::all(&waits)).await.unwrap_or(JsValue::NULL);
    let got: Vec<Option<String>> = js_sys::Array::from(&all).iter().map(|v| v.as_string()).collect();
    assert_eq!(got, vec![Some("B".to_string()); 8]);
    let stats = i.peek(|s| s.stats());
    assert_eq!((stats.refreshes, stats.coalesced), (1, 7));
}

#[wasm_bindgen_test]
async fn a_disposed_session_wakes_its_waiters_and_refuses_calls() {
    let body = "return new Promise(() => {});"; // never answers
    let opts = Object::new();
    js::set(&opts, "refresh", &Function::new_with_args("rt, ctx", body));
    let i = match options::parse(&opts) {
        Ok(o) => Inner::new(o),
        Err(_) => panic!("options"),
    };
    let now = js::now();
    let _ = i.with(|s| s.set_tokens(&tokens("A", "R", 0.0), None, now));
    let waiter = {
        let i = i.clone();
        wait::promise(async move {
            let mut call = Call::token();
            until_send(&i, &mut call, None, None).await.map(|_| JsValue::TRUE)
        })
    };
    wait::sleep(10.0).await;
    i.dispose();
    let err = JsFuture::from(waiter).await.err().unwrap_or(JsValue::NULL);
    assert_eq!(name_of(&err), "SessionDisposedError");
}

#[wasm_bindgen_test]
async fn a_dpop_proof_verifies_with_the_key_in_its_header_and_says_what_the_request_is() {
    use super::dpop::Dpop;
    use crate::core::b64::B64URL;
    use base64::Engine as _;
    let d = Dpop::new(None, |_, _| {});
    assert!(d.learn("https://api.example/x", Some("n-1")));
    assert!(!d.learn("https://api.example/x", Some("bad nonce")));
    let p = d.proof("post", "https://api.example/path?q=1#f", Some("tok")).await.unwrap_or_else(|e| panic!("{:?}", e.as_string()));
    let parts: Vec<&str> = p.split('.').collect();
    assert_eq!(parts.len(), 3);
    let part = |i: usize| parse(&String::from_utf8(B64URL.decode(parts[i]).unwrap_or_default()).unwrap_or_default());
    let (header, claims) = (part(0), part(1));
    let jwk = js::get(&header, "jwk");
    assert_eq!((js::get_str(&header, "typ"), js::get_str(&header, "alg")), (Some("dpop+jwt".into()), Some("ES256".into())));
    assert_eq!((js::get_str(&jwk, "kty"), js::get_str(&jwk, "crv")), (Some("EC".into()), Some("P-256".into())));
    assert!(js::get(&jwk, "d").is_undefined(), "no private part in the header");
    assert_eq!(js::get_str(&claims, "htm").as_deref(), Some("POST"));
    assert_eq!(js::get_str(&claims, "htu").as_deref(), Some("https://api.example/path"));
    assert_eq!(js::get_str(&claims, "nonce").as_deref(), Some("n-1"));
    // ath: base64url(SHA-256("tok")), as a server computes it
    assert_eq!(js::get_str(&claims, "ath").as_deref(), Some("GnZ0607njffhrEOak8P6jjyUV4TU3sn9jjARc4svHWI"));
    let iat = js::get_f64(&claims, "iat").unwrap_or(0.0);
    assert!((iat - js::now().ms() / 1000.0).abs() < 5.0 && iat.fract() == 0.0);
    // the signature verifies with the key the header names, over the first two parts
    let verify = Function::new_with_args(
        "jwk, data, sig",
        "return crypto.subtle.importKey('jwk', jwk, { name: 'ECDSA', namedCurve: 'P-256' }, true, ['verify'])
           .then((k) => crypto.subtle.verify({ name: 'ECDSA', hash: 'SHA-256' }, k, Uint8Array.from(atob(sig.replace(/-/g, '+').replace(/_/g, '/')), (c) => c.charCodeAt(0)), new TextEncoder().encode(data)));",
    );
    let data = [parts[0], ".", parts[1]].concat();
    let ok = verify.call3(&JsValue::NULL, &jwk, &data.into(), &parts[2].into()).unwrap_or(JsValue::NULL);
    assert_eq!(JsFuture::from(Promise::from(ok)).await.ok().and_then(|v| v.as_bool()), Some(true));
    // every proof is new; without a token there is no `ath`
    let q = d.proof("GET", "https://other.example/", None).await.unwrap_or_default();
    let claims2 = parse(&String::from_utf8(B64URL.decode(q.split('.').nth(1).unwrap_or("")).unwrap_or_default()).unwrap_or_default());
    assert_ne!(js::get_str(&claims2, "jti"), js::get_str(&claims, "jti"));
    assert!(js::get(&claims2, "ath").is_undefined() && js::get(&claims2, "nonce").is_undefined());
}

#[wasm_bindgen_test]
fn a_jwt_payload_is_decoded_by_the_platform_padded_or_not_and_utf8_checked() {
    use crate::core::b64::B64URL;
    use base64::Engine as _;
    let text = r#"{"sub":"zoë","name":"😀 ok","n":[1,2,3]}"#;
    let part = B64URL.encode(text);
    let padded = [part.as_str(), &"=="[..(4 - part.len() % 4) % 4]].concat();
    assert_ne!(part, padded, "this payload needs padding");
    for p in [part, padded] {
        assert_eq!(js::jwt_payload(&["h.", &p, ".s"].concat()).as_deref(), Some(text), "{p}");
    }
    // every length of payload, through every base64url tail
    for n in 0..40 {
        let t: String = "é-a_b".chars().cycle().take(n).collect();
        assert_eq!(js::jwt_payload(&["h.", &B64URL.encode(&t), ".s"].concat()), Some(t));
    }
    assert_eq!(js::jwt_payload("h.!!!.s"), None, "not base64url");
    assert_eq!(js::jwt_payload("h.a+b/.s"), None, "base64, not base64url");
    assert_eq!(js::jwt_payload(&["h.", &B64URL.encode([0xff, 0xfe]), ".s"].concat()), None, "not UTF-8");
    assert_eq!(js::jwt_payload("h.abcde.s"), None, "a length no base64 has");
    assert_eq!(js::jwt_payload("just-one-part"), None);
}

#[wasm_bindgen_test]
fn the_platform_reads_http_dates_as_the_core_does() {
    use crate::core::retry::parse_http_date;
    for v in [
        "Sun, 06 Nov 1994 08:49:37 GMT",
        "Sunday, 06-Nov-94 08:49:37 GMT",
        "Sun Nov  6 08:49:37 1994",
        "Thu, 01 Jan 1970 00:00:10 GMT",
        "Wed, 31 Dec 2036 23:59:59 GMT",
    ] {
        assert_eq!(js::http_date(v), parse_http_date(v), "{v}");
        assert!(js::http_date(v).is_some(), "{v}");
    }
    for v in ["soon", "", "Sun, 06 Foo 1994 08:49:37 GMT"] {
        assert_eq!(js::http_date(v), None, "{v}");
    }
}
