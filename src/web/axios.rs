//! axios interceptors. axios replays a request by running the whole chain again
//! (`instance.request(config)`), so a call's counts travel on its config (`__sessionguard`)
//! and each step resumes a core [`Call`] from them. The request interceptor takes the driver's
//! first step synchronously (the common case: the token is at hand) and hands any other to
//! [`driver::until_send`]; the response interceptor hands answers to [`driver::answered`], as the
//! fetch interceptor does, and a replay is carried to its send by the driver. Which
//! answers are looked at is the core's [`look`].

use std::rc::Rc;

use js_sys::{Function, Object, Promise};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;
use web_sys::AbortSignal;

use super::driver::{self, Sent};
use super::errors::{call_error, type_error};
use super::js::{self, Name};
use super::state::Inner;
use super::wait;
use crate::core::call::{Call, Step};
use crate::core::retry::{look, Look};

/// A call's counts, kept on its config.
struct Counts {
    safe: bool,
    retries: u32,
    replayed: bool,
    nonce_retried: bool,
    /// The driver already carried the call to `Send` for this replay (its backoff, its wait
    /// for a refresh, the rate limiter's ticket): the request interceptor only authorizes it.
    ready: bool,
    gen: Option<u32>,
}

/// The counts packed into one number (one property write per request, none of them an
/// object): bits 0-4 retries, 5 replayed, 6 replay-safe, 7 DPoP nonce retried, 8 ready, 9..
/// token generation + 1 (0: none).
fn read_counts(config: &JsValue) -> Option<Counts> {
    let n = js::prop(config, Name::State).as_f64()?;
    if !(0.0..9.0e15).contains(&n) {
        return None;
    }
    let n = n as u64;
    Some(Counts {
        retries: (n & 31) as u32,
        replayed: n & 32 != 0,
        safe: n & 64 != 0,
        nonce_retried: n & 128 != 0,
        ready: n & 256 != 0,
        gen: (n >> 9).checked_sub(1).and_then(|g| u32::try_from(g).ok()),
    })
}

fn write_counts(config: &JsValue, c: &Counts) {
    let gen = c.gen.map_or(0, |g| u64::from(g) + 1);
    let n = u64::from(c.retries.min(31))
        | u64::from(c.replayed) << 5
        | u64::from(c.safe) << 6
        | u64::from(c.nonce_retried) << 7
        | u64::from(c.ready) << 8
        | gen << 9;
    js::set_prop(config, Name::State, &JsValue::from(n as f64)); // enumerable: axios copies it into a replay's config
}

fn header_get(headers: &JsValue, name: Name) -> Option<String> {
    if !headers.is_object() {
        return None;
    }
    if let Ok(get) = js::prop(headers, Name::Get).dyn_into::<Function>() {
        return js::with_name(name, |n| get.call1(headers, n)).ok().and_then(|v| v.as_string());
    }
    let keys = js::keys(headers);
    let name = js::with_name(name, JsValue::as_string).unwrap_or_default();
    keys.iter().filter_map(|k| k.as_string()).find(|k| k.eq_ignore_ascii_case(&name)).and_then(|k| js::get_str(headers, &k))
}

fn header_set(config: &JsValue, name: Name, value: &JsValue) {
    let mut h = js::prop(config, Name::Headers);
    if !h.is_object() {
        h = Object::new().into();
        js::set_prop(config, Name::Headers, &h);
    }
    match js::prop(&h, Name::Set).dyn_into::<Function>() {
        Ok(set) => {
            let _ = js::with_name(name, |n| set.call2(&h, n, value));
        }
        Err(_) => {
            js::set_prop(&h, name, value);
        }
    }
}

/// The URL of a config as axios builds it (`buildFullPath`); maybe relative.
fn config_url(config: &JsValue) -> String {
    let url = js::prop(config, Name::Url).as_string().unwrap_or_default();
    let base = js::prop(config, Name::BaseUrl).as_string().unwrap_or_default();
    if base.is_empty() || is_absolute(url.as_bytes()) {
        return url;
    }
    if url.is_empty() {
        return base;
    }
    // `base` without its trailing slashes, `/`, `url` without its leading ones
    let end = base.bytes().rposition(|b| b != b'/').map_or(0, |i| i + 1);
    let start = url.bytes().position(|b| b != b'/').unwrap_or(url.len());
    [&base[..end], "/", &url[start..]].concat()
}

/// axios's `isAbsoluteURL`: `/^([a-z][a-z\d+\-.]*:)?\/\//i`.
fn is_absolute(url: &[u8]) -> bool {
    let scheme = url.iter().position(|b| !(b.is_ascii_alphanumeric() || b"+-.".contains(b))).unwrap_or(url.len());
    let rest = match url.get(scheme) {
        Some(b':') if url[0].is_ascii_alphabetic() => &url[scheme + 1..],
        _ => url,
    };
    rest.starts_with(b"//")
}

fn signal_of(config: &JsValue) -> Option<AbortSignal> {
    wait::signal(js::prop(config, Name::Signal))
}

fn authorize(inner: &Inner, config: &JsValue, mut c: Counts) -> Result<JsValue, JsValue> {
    let bearer = inner.bearer().ok_or_else(|| call_error(crate::core::session::CallError::NoSession))?;
    // A property, as an app's own interceptor sets it: axios (0.x plain objects, 1.x
    // AxiosHeaders) takes own properties as headers; no header of that name is there (checked).
    let h = js::prop(config, Name::Headers);
    if h.is_object() {
        js::set_prop(&h, Name::Authorization, &bearer);
    } else {
        header_set(config, Name::Authorization, &bearer);
    }
    c.gen = Some(inner.peek(|s| s.token_generation()));
    write_counts(config, &c);
    Ok(config.clone())
}

/// [`authorize`], and with DPoP the proof for the token it presents.
async fn authorize_proved(inner: &Inner, config: &JsValue, c: Counts) -> Result<JsValue, JsValue> {
    let token = inner.bound_token();
    let config = authorize(inner, config, c)?;
    if let (Some(dpop), Some(t)) = (&inner.dpop, token) {
        // axios sends the method upper-cased
        let method = js::prop(&config, Name::Method).as_string().unwrap_or_else(|| "get".into()).to_ascii_uppercase();
        let proof = dpop.proof(&method, &config_url(&config), Some(&t)).await?;
        header_set(&config, Name::Dpop, &JsValue::from_str(&proof));
    }
    Ok(config)
}

/// The request interceptor.
fn on_request(inner: &Rc<Inner>, config: JsValue) -> Result<JsValue, JsValue> {
    let url = config_url(&config);
    if !inner.allowed(&url) {
        return Ok(config); // also once disposed: other origins pass untouched
    }
    inner.live()?;
    if js::prop(&config, Name::SkipAuth).as_bool() == Some(true) {
        return Ok(config);
    }
    let resumed = read_counts(&config);
    if resumed.is_none() && header_get(&js::prop(&config, Name::Headers), Name::AuthorizationLower).is_some() {
        return Ok(config); // the caller's own credentials: untouched
    }
    let (mut call, counts) = match resumed {
        // a replay the driver made ready (`on_answer`): authorized as it is
        Some(c) if c.ready => {
            let c = Counts { ready: false, ..c };
            if inner.dpop.is_none() {
                return authorize(inner, &config, c);
            }
            let inner = inner.clone();
            return Ok(wait::promise(async move { authorize_proved(&inner, &config, c).await }).into());
        }
        Some(c) => (Call::resume(c.safe, c.retries, c.replayed, c.nonce_retried, None), c),
        None => {
            let method = js::prop(&config, Name::Method).as_string().unwrap_or_else(|| "get".into());
            // only a non-idempotent call cares whether it carries a key
            let has_key = !crate::core::retry::is_idempotent(&method)
                && header_get(&js::prop(&config, Name::Headers), Name::IdempotencyKeyLower).is_some();
            let call = inner.with(|s| Call::new(s, &method, has_key));
            if call.needs_idempotency_key() {
                header_set(&config, Name::IdempotencyKey, &JsValue::from_str(&js::uuid()));
            }
            let c = Counts { safe: call.replay_safe(), retries: 0, replayed: false, nonce_retried: false, ready: false, gen: None };
            (call, c)
        }
    };
    let step = driver::first_step(inner, &mut call);
    if step == Step::Send && inner.dpop.is_none() {
        return authorize(inner, &config, counts);
    }
    let inner = inner.clone();
    Ok(wait::promise(async move {
        let signal = signal_of(&config);
        driver::until_send(&inner, &mut call, signal.as_ref(), Some(step)).await?;
        authorize_proved(&inner, &config, counts).await
    })
    .into())
}

/// An answer (or error) the rules may act on: retry, replay after a 401, or deliver. It goes
/// through the driver as a fetch call's answer does ([`driver::answered`]: the core's verdict,
/// the `retry` event); a call to go on is carried to its next send by [`driver::until_send`]
/// (the backoff, a refresh to wait for) and replayed through the instance, ready.
async fn on_answer(
    inner: Rc<Inner>,
    instance: JsValue,
    config: JsValue,
    res: JsValue,
    status: u16,
    err: Option<JsValue>,
) -> Result<JsValue, JsValue> {
    let value = match err {
        Some(e) => Err(e),
        None => Ok(res.clone()),
    };
    let Some(mut counts) = read_counts(&config) else {
        return value;
    };
    let (mut retry_after, mut error_type) = (None, None);
    let headers = js::prop(&res, Name::Headers);
    if look(status) != Look::Nothing {
        error_type = header_get(&headers, Name::ErrorType);
        if error_type.is_none() && look(status) == Look::HeadersAndBody {
            error_type = js::aws_error_type(&js::prop(&res, Name::Data));
        }
        retry_after = header_get(&headers, Name::RetryAfter);
    }
    let dpop = inner.dpop.is_some().then(|| {
        let fresh = learn_nonce(&inner, &config, &headers);
        (if status == 401 { header_get(&headers, Name::WwwAuthenticate) } else { None }, fresh)
    });
    let mut call = Call::resume(counts.safe, counts.retries, counts.replayed, counts.nonce_retried, counts.gen);
    let url = config_url(&config);
    if let Some(done) = driver::answered(&inner, &mut call, &url, Sent::Answer { value, status, retry_after, error_type, dpop }) {
        return done;
    }
    driver::until_send(&inner, &mut call, signal_of(&config).as_ref(), None).await?;
    counts.retries = call.retries();
    counts.replayed = call.replayed();
    counts.nonce_retried = call.nonce_retried();
    counts.ready = true;
    write_counts(&config, &counts);
    let request = js::get_fn(&instance, "request").ok_or_else(|| type_error("the axios instance has no request()"))?;
    JsFuture::from(Promise::resolve(&request.call1(&instance, &config)?)).await
}

/// With DPoP: keeps the `DPoP-Nonce` of an answer to the call of `config`; true when new.
fn learn_nonce(inner: &Inner, config: &JsValue, headers: &JsValue) -> bool {
    match &inner.dpop {
        Some(d) => d.learn(&d.href(&config_url(config)), header_get(headers, Name::DpopNonce).as_deref()),
        None => false,
    }
}

/// `attachAxios(instance)`: installs the interceptors; returns the function that removes them.
pub fn attach(inner: &Rc<Inner>, instance: JsValue) -> Result<Function, JsValue> {
    inner.live()?;
    let ic = js::get(&instance, "interceptors");
    let (req, res) = (js::get(&ic, "request"), js::get(&ic, "response"));
    let (Some(req_use), Some(res_use)) = (js::get_fn(&req, "use"), js::get_fn(&res, "use")) else {
        return Err(type_error("attachAxios needs an axios instance (axios.create() or axios itself)"));
    };
    if js::get_fn(&instance, "request").is_none() {
        return Err(type_error("attachAxios needs an axios instance (axios.create() or axios itself)"));
    }
    // one closure type for all four functions (each closure type costs its own shims): the
    // request interceptor refuses with a rejected promise, as axios takes it.
    // Lifetime: the interceptors hold the session strongly (an attached instance keeps it
    // working after the `SessionManager` object is collected), and the instance only through
    // a `WeakRef`: the instance holds them, and a strong reference back from a closure would
    // never be collected.
    let i = inner.clone();
    let on_req = Closure::<dyn FnMut(JsValue) -> JsValue>::new(move |config: JsValue| {
        on_request(&i, config).unwrap_or_else(|e| Promise::reject(&e).into())
    });
    let (i, inst) = (inner.clone(), js::weak(&instance));
    let on_ok = Closure::<dyn FnMut(JsValue) -> JsValue>::new(move |res: JsValue| {
        let status = js::prop(&res, Name::Status).as_f64().map_or(0, |s| s as u16);
        if i.is_disposed() {
            res
        } else if look(status) != Look::Nothing {
            wait::promise(on_answer(
                i.clone(),
                inst.call0(&JsValue::UNDEFINED).unwrap_or_default(),
                js::prop(&res, Name::Config),
                res,
                status,
                None,
            ))
            .into()
        } else {
            if i.dpop.is_some() {
                learn_nonce(&i, &js::prop(&res, Name::Config), &js::prop(&res, Name::Headers));
            }
            res
        }
    });
    let (i, inst) = (inner.clone(), js::weak(&instance));
    let on_err = Closure::<dyn FnMut(JsValue) -> JsValue>::new(move |err: JsValue| {
        let config = js::prop(&err, Name::Config);
        let ours = read_counts(&config).is_some() && js::prop(&err, Name::Code).as_string().as_deref() != Some("ERR_CANCELED");
        if ours && !i.is_disposed() {
            let res = js::prop(&err, Name::Response);
            let status = js::prop(&res, Name::Status).as_f64().map_or(0, |s| s as u16);
            wait::promise(on_answer(i.clone(), inst.call0(&JsValue::UNDEFINED).unwrap_or_default(), config, res, status, Some(err))).into()
        } else {
            Promise::reject(&err).into()
        }
    });
    let req_id = req_use.call1(&req, &on_req.into_js_value())?;
    let res_id = res_use.call2(&res, &on_ok.into_js_value(), &on_err.into_js_value())?;
    let eject = Closure::<dyn FnMut(JsValue) -> JsValue>::new(move |_| {
        for (side, id) in [(&req, &req_id), (&res, &res_id)] {
            if let Some(f) = js::get_fn(side, "eject") {
                let _ = f.call1(side, id);
            }
        }
        JsValue::UNDEFINED
    });
    Ok(eject.into_js_value().unchecked_into())
}
