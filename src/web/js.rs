//! Small, safe helpers over what JavaScript hands us: property reads that never throw, the
//! global scope (window, worker or Node), the clock, the console.

use js_sys::{Function, Object, Promise, Reflect};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;

/// `obj[key]`, or `undefined` when `obj` is not an object or the getter throws.
pub fn get(obj: &JsValue, key: &str) -> JsValue {
    if !obj.is_object() && !obj.is_function() {
        return JsValue::UNDEFINED;
    }
    Reflect::get(obj, &JsValue::from_str(key)).unwrap_or(JsValue::UNDEFINED)
}

#[wasm_bindgen]
extern "C" {
    /// Any `EventTarget` (a signal, the window, our own target): one binding of
    /// `addEventListener`/`removeEventListener` for all, with `options` as JavaScript gave it.
    #[wasm_bindgen(js_name = EventTarget)]
    pub type Target;
    #[wasm_bindgen(method, catch, js_name = addEventListener)]
    pub fn listen(this: &Target, kind: &str, listener: &JsValue, options: &JsValue) -> Result<(), JsValue>;
    #[wasm_bindgen(method, catch, js_name = removeEventListener)]
    pub fn unlisten(this: &Target, kind: &str, listener: &JsValue, options: &JsValue) -> Result<(), JsValue>;
}

// Two `init` objects as literals: the fast path's `{ headers: { Authorization } }` (from Rust it
// takes four calls into JavaScript and leaves objects of a slower shape; the literal made the
// fast path 30 % cheaper), and the library's own requests' (one call instead of seven setters).
// And `send`, which calls a fetch from a microtask: a request started with wasm frames on the
// stack cost about 80 µs more (3.5 % of a real call to the dev server) in Chromium with a
// DevTools protocol client attached, which records every request's initiator stack; from a
// microtask it cost 1 %. They decide nothing.
#[wasm_bindgen(inline_js = "export function bearer_init(b) { return { headers: { Authorization: b } }; }
export function own_init(method, headers, body, signal) { return { method, headers, body, signal, redirect: 'manual', credentials: 'omit', cache: 'no-store' }; }
export function send(f, input, init) { return Promise.resolve().then(() => f(input, init)); }
export function weak(v) { const r = new WeakRef(v); return () => r.deref(); }
export function key_facts(k) { try { const a = k.algorithm; return k instanceof CryptoKey ? [k.type, k.extractable, a.name, a.namedCurve, ...k.usages].join(' ') : ''; } catch { return ''; } }")]
extern "C" {
    pub fn bearer_init(bearer: &JsValue) -> JsValue;
    /// No redirects followed, no cookies, no cache.
    pub fn own_init(method: &str, headers: &JsValue, body: &JsValue, signal: &JsValue) -> JsValue;
    /// `f(input, init)` from a microtask; a throw becomes a rejection.
    pub fn send(f: &Function, input: &JsValue, init: &JsValue) -> Promise;
    /// A stored key's `type`, `extractable`, `algorithm.name`, `algorithm.namedCurve` and
    /// `usages`, space-separated, as [`crate::core::dpop::trusted_pair`] reads them (`""` for
    /// anything but a `CryptoKey`, or one whose properties throw).
    pub fn key_facts(key: &JsValue) -> String;
    /// A function that gives `v` back while it lives (a `WeakRef`'s `deref`): reaching a value
    /// without keeping it.
    pub fn weak(v: &JsValue) -> Function;
}

#[wasm_bindgen]
extern "C" {
    /// `Headers`, called with names and values that are JavaScript strings already (the names
    /// of [`Name`], the cached bearer): no copy per call.
    #[wasm_bindgen(js_name = Headers)]
    pub type HeadersJs;
    #[wasm_bindgen(method, catch, js_name = set)]
    pub fn set(this: &HeadersJs, name: &JsValue, value: &JsValue) -> Result<(), JsValue>;
    #[wasm_bindgen(method, catch, js_name = has)]
    pub fn has(this: &HeadersJs, name: &JsValue) -> Result<bool, JsValue>;
    #[wasm_bindgen(method, catch, js_name = get)]
    fn get_js(this: &HeadersJs, name: &JsValue) -> Result<JsValue, JsValue>;
}

/// The `headers` of a `Request` or `Response` (or anything with such a property).
pub fn headers_of(r: &JsValue) -> HeadersJs {
    prop(r, Name::Headers).unchecked_into()
}

/// `headers.get(name)`, if there is such a header (never throws).
pub fn header(h: &HeadersJs, name: Name) -> Option<String> {
    if !h.is_object() {
        return None;
    }
    with_name(name, |n| h.get_js(n)).ok().and_then(|v| v.as_string())
}

/// `obj[key] = value`; false when it throws (a frozen object).
pub fn set(obj: &JsValue, key: &str, value: &JsValue) -> bool {
    obj.is_object() && Reflect::set(obj, &JsValue::from_str(key), value).unwrap_or(false)
}

/// The enum [`Name`] and its texts, written once, side by side.
macro_rules! names {
    ($(#[$meta:meta])* enum Name { $($name:ident = $text:literal,)* }) => {
        $(#[$meta])*
        #[derive(Clone, Copy)]
        pub enum Name {
            $($name,)*
        }
        /// The text of each [`Name`], in its order.
        const NAMES: &[&str] = &[$($text,)*];
    };
}

names! {
    /// The names the per-call paths hand to JavaScript: property keys of `init`, axios configs
    /// and answers, and header names. Each is made into a JavaScript string once; a `&str` is
    /// decoded (`TextDecoder`) on every crossing, which showed in the per-call profile. A fixed
    /// table, not wasm-bindgen's `enable-interning` (a hash map and a hasher in the module, and
    /// a hash of every string passed).
    enum Name {
        Authorization = "Authorization",
        AuthorizationLower = "authorization",
        IdempotencyKey = "Idempotency-Key",
        IdempotencyKeyLower = "idempotency-key",
        Headers = "headers",
        Get = "get",
        Set = "set",
        Url = "url",
        BaseUrl = "baseURL",
        Method = "method",
        SkipAuth = "skipAuth",
        Signal = "signal",
        Status = "status",
        Config = "config",
        Response = "response",
        Code = "code",
        Body = "body",
        Data = "data",
        State = "__sessionguard",
        RetryAfter = "retry-after",
        ErrorType = "x-amzn-errortype",
        Dpop = "DPoP",
        DpopNonce = "dpop-nonce",
        WwwAuthenticate = "www-authenticate",
    }
}

thread_local! {
    // never borrowed mutably: a getter that calls back in while a name is in use is fine
    static MADE: Vec<JsValue> = NAMES.iter().map(|n| JsValue::from_str(n)).collect();
}

/// `f` with the JavaScript string of `n`.
pub fn with_name<R>(n: Name, f: impl FnOnce(&JsValue) -> R) -> R {
    MADE.with(|m| f(&m[n as usize]))
}

/// `obj[n]`, as [`get`].
pub fn prop(obj: &JsValue, n: Name) -> JsValue {
    if !obj.is_object() && !obj.is_function() {
        return JsValue::UNDEFINED;
    }
    with_name(n, |k| Reflect::get(obj, k).unwrap_or(JsValue::UNDEFINED))
}

/// `obj[n] = value`, as [`set`].
pub fn set_prop(obj: &JsValue, n: Name, value: &JsValue) -> bool {
    obj.is_object() && with_name(n, |k| Reflect::set(obj, k, value).unwrap_or(false))
}

pub fn get_str(obj: &JsValue, key: &str) -> Option<String> {
    get(obj, key).as_string()
}

pub fn get_f64(obj: &JsValue, key: &str) -> Option<f64> {
    get(obj, key).as_f64()
}

pub fn get_fn(obj: &JsValue, key: &str) -> Option<Function> {
    get(obj, key).dyn_into::<Function>().ok()
}

#[wasm_bindgen]
extern "C" {
    /// `Object.assign(target, source)`, catching what a getter of `source` throws.
    #[wasm_bindgen(catch, js_namespace = Object, js_name = assign)]
    pub fn assign(target: &Object, source: &JsValue) -> Result<Object, JsValue>;

    /// `Object.keys(o)`, catching what a proxy's `ownKeys` trap throws.
    #[wasm_bindgen(catch, js_namespace = Object, js_name = keys)]
    fn keys_or_throw(o: &JsValue) -> Result<js_sys::Array, JsValue>;

    /// `Object.entries(o)`, catching what a getter or a proxy throws.
    #[wasm_bindgen(catch, js_namespace = Object, js_name = entries)]
    fn entries_or_throw(o: &JsValue) -> Result<js_sys::Array, JsValue>;
}

/// The own enumerable keys of `o`; none if reading them throws. (An exception thrown through
/// the module's frames would skip its clean-up: what JavaScript hands in is read with catching
/// bindings only.)
pub fn keys(o: &JsValue) -> js_sys::Array {
    keys_or_throw(o).unwrap_or_default()
}

/// `[key, value]` pairs of `o`; `None` if reading them throws.
pub fn entries(o: &JsValue) -> Option<js_sys::Array> {
    entries_or_throw(o).ok()
}

/// `globalThis`: a window, a worker or Node.
pub fn global() -> Object {
    js_sys::global()
}

pub fn global_get(key: &str) -> JsValue {
    get(&global(), key)
}

/// The wall clock, as the core counts time.
pub fn now() -> crate::core::time::Time {
    crate::core::time::Time::from_ms(js_sys::Date::now())
}

/// An HTTP date (`Retry-After`), read by `Date.parse` (the core's parser for the platform).
/// asctime's form names no zone, which `Date.parse` would take as local time: HTTP dates are GMT.
pub fn http_date(v: &str) -> Option<crate::core::time::Time> {
    let t = if v.ends_with("GMT") { js_sys::Date::parse(v) } else { js_sys::Date::parse(&[v, " GMT"].concat()) };
    t.is_finite().then(|| crate::core::time::Time::from_ms(t))
}

pub fn random() -> f64 {
    js_sys::Math::random()
}

pub fn warn(msg: &str) {
    web_sys::console::warn_1(&JsValue::from_str(&["sessionguard: ", msg].concat()));
}

/// A number as JavaScript writes it (`String(n)`): no formatting code in the module.
pub fn number_text(n: f64) -> String {
    js_sys::Number::from(n).to_string_with_radix(10).ok().map(String::from).unwrap_or_default()
}

/// `url` resolved against the page's location (as `fetch` resolves it), if it parses.
pub fn resolve_url(url: &str) -> Option<web_sys::Url> {
    let base = get_str(&global_get("location"), "href");
    match base {
        Some(b) => web_sys::Url::new_with_base(url, &b).ok(),
        None => web_sys::Url::new(url).ok(),
    }
}

/// One part (`"href"`, `"origin"`) of `url` resolved against the page, if it parses.
#[inline(never)]
pub fn resolved(url: &str, part: &str) -> Option<String> {
    get_str(&resolve_url(url)?.into(), part)
}

/// The page's origin, if there is a page.
pub fn page_origin() -> Option<String> {
    get_str(&global_get("location"), "origin").filter(|o| o != "null")
}

/// A fresh random UUID (for `Idempotency-Key`).
pub fn uuid() -> String {
    let crypto = global_get("crypto");
    if let Some(f) = get_fn(&crypto, "randomUUID") {
        if let Some(s) = f.call0(&crypto).ok().and_then(|v| v.as_string()) {
            return s;
        }
    }
    // no crypto.randomUUID (insecure context): Math.random is enough for a de-duplication key
    let mut id = *b"xxxxxxxx-xxxx-4xxx-axxx-xxxxxxxxxxxx";
    for c in id.iter_mut().filter(|c| **c == b'x') {
        *c = b"0123456789abcdef"[(random() * 16.0) as usize & 15];
    }
    core::str::from_utf8(&id).unwrap_or_default().into()
}

/// The `__type` of an AWS-style JSON error body (`{"__type": "TooManyRequestsException"}`),
/// given as its text or already parsed.
pub fn aws_error_type(body: &JsValue) -> Option<String> {
    match body.as_string() {
        Some(text) => get_str(&js_sys::JSON::parse(&text).ok()?, "__type"),
        None => get_str(body, "__type"),
    }
}

#[wasm_bindgen]
extern "C" {
    /// The platform's base64 decoder (forgiving: padding optional), as a "binary string".
    #[wasm_bindgen(catch, js_name = atob)]
    fn atob(data: &str) -> Result<String, JsValue>;
}

/// The decoded payload text of a JWT (the core's [`jwt_payload_part`], base64url, padded or
/// not), without verification; `None` when it is not base64url or not UTF-8.
///
/// [`jwt_payload_part`]: crate::core::token::jwt_payload_part
pub fn jwt_payload(token: &str) -> Option<String> {
    let part = crate::core::token::jwt_payload_part(token)?;
    // base64url to base64 (`atob` would take `+` and `/`, which base64url has not)
    let mut b64 = Vec::with_capacity(part.len());
    for b in part.bytes() {
        b64.push(match b {
            b'-' => b'+',
            b'_' => b'/',
            b'+' | b'/' => return None,
            b => b,
        });
    }
    // `atob` says what is not base64; each char of its answer is one byte (below 256: one or
    // two bytes of UTF-8 here)
    let bin = atob(core::str::from_utf8(&b64).ok()?).ok()?;
    let mut bytes = Vec::with_capacity(bin.len());
    let mut it = bin.bytes();
    while let Some(b) = it.next() {
        bytes.push(if b < 0x80 { b } else { b << 6 | (it.next()? & 0x3f) });
    }
    String::from_utf8(bytes).ok()
}

/// WebCrypto's `subtle`, where the page has it (https or localhost). Its methods are called
/// through catching bindings (see [`global_object`]).
pub fn subtle() -> Option<web_sys::SubtleCrypto> {
    Some(get(&global_get("crypto"), "subtle")).filter(JsValue::is_object).map(JsCast::unchecked_into)
}

/// `globalThis[name]` as a `T`, if it is an object. Not an `instanceof` check (one import
/// fewer each): use it only for types whose methods the module calls through catching bindings,
/// so that a page's impostor object gives an error, never an exception through the module.
pub fn global_object<T: JsCast>(name: &str) -> Option<T> {
    Some(global_get(name)).filter(JsValue::is_object).map(JsCast::unchecked_into)
}
