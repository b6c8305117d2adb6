//! The library's own requests (token endpoint, user info): sent with the `fetch` captured when
//! the manager was made, never through an interceptor, never following a redirect (a refresh
//! token must not be re-posted to another origin), and bounded in time (30 s, then aborted).

use std::cell::RefCell;

use js_sys::{Function, Promise};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;
use web_sys::{AbortController, Response};

use super::dpop::Dpop;
use super::js::{self, Name};
use super::wait;
use crate::core::dpop::asks_for_nonce;
use crate::core::own::NonceSeen;
pub use crate::core::own::ATTEMPT_TIMEOUT_MS;

thread_local! {
    /// Every fetch wrapper sessionguard handed out, mapped to what it wraps.
    static WRAPPERS: js_sys::WeakMap = js_sys::WeakMap::new();
}

pub fn register_wrapper(wrapper: &JsValue, target: &Function) {
    WRAPPERS.with(|w| {
        if wrapper.is_function() {
            w.set(wrapper.unchecked_ref(), target);
        }
    });
}

/// What `f` wraps, if it is one of our wrappers.
pub fn wrapped(f: &Function) -> Option<Function> {
    WRAPPERS.with(|w| w.get(f.unchecked_ref()).dyn_into::<Function>().ok())
}

/// The platform's `fetch` under any of our wrappers: what the library's own requests use.
pub fn raw_fetch(f: Function) -> Function {
    let mut f = f;
    for _ in 0..64 {
        match wrapped(&f) {
            Some(inner) => f = inner,
            None => break,
        }
    }
    f
}

/// The global `fetch` now, if there is one.
pub fn global_fetch() -> Option<Function> {
    js::global_get("fetch").dyn_into::<Function>().ok()
}

/// An answer of the identity provider. `status` 0: network error, timeout or redirect.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub retry_after: Option<String>,
    pub error_type: Option<String>,
    /// The body parsed as JSON (`undefined` if it is not JSON).
    pub json: JsValue,
    /// Why the request failed, when it did (for messages).
    pub failure: Option<&'static str>,
    /// `DPoP-Nonce` and `WWW-Authenticate` (DPoP's nonce challenge).
    pub nonce: Option<String>,
    pub www_authenticate: Option<String>,
    /// With a DPoP proof: the answer brought a nonce, now kept for the next proof.
    pub fresh: bool,
    /// It answered a send with a DPoP proof.
    pub proved: bool,
}

impl Answer {
    pub fn failed(why: &'static str) -> Answer {
        Answer {
            status: 0,
            retry_after: None,
            error_type: None,
            json: JsValue::UNDEFINED,
            failure: Some(why),
            nonce: None,
            www_authenticate: None,
            fresh: false,
            proved: false,
        }
    }

    /// The DPoP nonce challenge in this answer, as its machine reads it.
    pub fn nonce_seen(&self) -> NonceSeen {
        // (the lite build sends no proof: nothing to read)
        let asks = cfg!(feature = "dpop")
            && self.proved
            && asks_for_nonce(self.status, js::get_str(&self.json, "error").as_deref(), self.www_authenticate.as_deref());
        NonceSeen { asks, fresh: self.fresh }
    }
}

/// A DPoP proof for one send of an own request: the key, and the access token the request
/// presents (userInfo), if any.
#[derive(Clone, Copy)]
pub struct Proof<'a> {
    pub dpop: &'a Dpop,
    pub token: Option<&'a str>,
}

thread_local! {
    static WARNED_REDIRECT: RefCell<bool> = const { RefCell::new(false) };
}

/// Reads a `Response` into an [`Answer`] (the body is read within the same time bound).
pub async fn read(res: &Response) -> Answer {
    // a redirect not followed: `opaqueredirect` (status 0), or a 3xx as it is
    if res.status() == 0 || (300..400).contains(&res.status()) {
        if !WARNED_REDIRECT.with(|w| w.replace(true)) {
            js::warn(
                &[
                    "the identity provider answered ",
                    &js::prop(res, Name::Url).as_string().unwrap_or_default(),
                    " with a redirect, never followed for requests that carry tokens: use the final URL",
                ]
                .concat(),
            );
        }
        return Answer::failed("the endpoint answered with a redirect, which is not followed");
    }
    let h = js::headers_of(res);
    let text = match res.text() {
        Ok(p) => JsFuture::from(p).await.ok().and_then(|t| t.as_string()),
        Err(_) => None,
    };
    let json = text.and_then(|t| js_sys::JSON::parse(&t).ok()).unwrap_or(JsValue::UNDEFINED);
    Answer {
        status: res.status(),
        retry_after: js::header(&h, Name::RetryAfter),
        error_type: js::header(&h, Name::ErrorType),
        json,
        failure: None,
        nonce: js::header(&h, Name::DpopNonce),
        www_authenticate: js::header(&h, Name::WwwAuthenticate),
        fresh: false,
        proved: false,
    }
}

/// Sends one request with `fetch`: no redirects, no cookies, no cache, answered within `ms`
/// (then aborted). With a DPoP `proof` it carries a fresh proof, and the answer's nonce is
/// learnt. Whether it is sent again is its machine's to say ([`OwnRequest`](crate::core::own::OwnRequest), carried out by
/// `driver::own`), or its call's (userInfo).
pub async fn send(
    fetch: &Function,
    url: &str,
    method: &str,
    headers: &[(&str, &str)],
    body: JsValue,
    proof: Option<Proof<'_>>,
    ms: f64,
) -> Answer {
    let mut signed = None;
    if let Some(p) = proof {
        match p.dpop.proof(method, url, p.token).await {
            Ok(v) => signed = Some(v),
            Err(_) => return Answer::failed("a DPoP proof could not be made"),
        }
    }
    let mut a = send_once(fetch, url, method, headers, signed.as_deref(), &body, ms).await;
    if let Some(p) = proof {
        a.fresh = p.dpop.learn(url, a.nonce.as_deref());
        a.proved = true;
    }
    a
}

/// One send, given `ms` to be answered.
async fn send_once(
    fetch: &Function,
    url: &str,
    method: &str,
    headers: &[(&str, &str)],
    proof: Option<&str>,
    body: &JsValue,
    ms: f64,
) -> Answer {
    let h = js_sys::Object::new();
    for (k, v) in headers {
        js::set(&h, k, &JsValue::from_str(v));
    }
    if let Some(p) = proof {
        js::set_prop(&h, Name::Dpop, &JsValue::from_str(p));
    }
    let ctl = AbortController::new().ok();
    let signal = ctl.as_ref().map_or(JsValue::UNDEFINED, |c| c.signal().into());
    let init = js::own_init(method, &h, body, &signal);
    let work = async {
        let p = match fetch.call2(&js::global(), &JsValue::from_str(url), &init) {
            Ok(p) => Promise::resolve(&p),
            Err(_) => return Answer::failed("fetch threw"),
        };
        match JsFuture::from(p).await.map(|r| r.dyn_into::<Response>()) {
            Ok(Ok(res)) => read(&res).await,
            Ok(Err(_)) => Answer::failed("fetch resolved with something that is not a Response"),
            Err(_) => Answer::failed("network error"),
        }
    };
    let out = wait::within(ms, work).await.unwrap_or_else(|| Answer::failed("no answer within 30 s"));
    if let Some(c) = ctl {
        c.abort(); // nothing left to wait for: frees the connection of a timed-out request
    }
    out
}

/// The headers of a form POST answered in JSON: the token endpoint's requests (refresh, code
/// exchange) and RFC 7009 revocation.
pub const FORM: [(&str, &str); 2] = [("Content-Type", "application/x-www-form-urlencoded"), ("Accept", "application/json")];

/// `pairs`, form-encoded.
pub fn form_body(pairs: &[(&str, &str)]) -> String {
    let Ok(form) = web_sys::UrlSearchParams::new() else { return String::new() };
    for (k, v) in pairs {
        form.append(k, v);
    }
    form.to_string().into()
}
