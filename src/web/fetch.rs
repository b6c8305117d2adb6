//! The fetch interceptor: `session.fetch`, `wrapFetch(...)`, and the ports JavaScript calls on
//! every request.
//!
//! A call on an allowed origin becomes a core [`Call`] driven by [`driver`]. The common case (a
//! `GET` of a URL string, no `init`, a token at hand) takes the driver's first step
//! synchronously and sends at once; its answer comes back through one `then` to a parked slot,
//! and only an answer the rules look at ([`look`]) continues in the driver. `npm run bench`
//! measures it against the same call through the driver's async path (the README's table).
//!
//! Why ports and not `Closure`s: wasm-bindgen wraps each closure in a JavaScript function that
//! collects its arguments, counts references in a `try`/`finally` and dispatches through a
//! vtable; on a request that costs as much as the interceptor's own work. A method of an
//! exported class, bound with `Function.prototype.bind`, is a direct call into the module.

use std::cell::RefCell;
use std::rc::{Rc, Weak};

use js_sys::{Function, Object, Promise};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;
use web_sys::{AbortSignal, Headers, Request, Response};

use super::dpop::Dpop;
use super::driver::{self, Resume, Sent};
use super::errors::{disposed, type_error};
use super::js::{self, HeadersJs, Name};
use super::state::Inner;
use super::wait;
use crate::core::call::{Call, Step};
use crate::core::retry::{look, Look};
use crate::core::time::Time;

// ---- the ports -------------------------------------------------------------------------------

/// One fetch function's entry point (`fetch`), and where the answers of its parked calls come
/// back (`answer`, the port of the session's [`Parking`]): one exported class for both. `target`
/// is the fetch a wrapper sends with (`None`: the platform's fetch as it was when the session
/// was made).
///
/// Lifetime: a port holds the session strongly, so a function the app still holds (`fetch`, a
/// `wrapFetch()` wrapper) keeps it working after the `SessionManager` object is collected. A
/// fetch port also keeps the parking (`keep`); the parking's own port holds it only weakly (the
/// parking holds that port: a strong reference back would never be collected). Nothing the
/// session owns points back at a port, so a session no function reaches is freed.
#[wasm_bindgen(skip_typescript)]
pub struct Port {
    inner: Rc<Inner>,
    target: Option<Function>,
    parking: Weak<Parking>,
    _keep: Option<Rc<Parking>>,
}

#[wasm_bindgen]
impl Port {
    /// The interceptor: `fetch(input, init)`. (`init` as an `Option`: wasm-bindgen's glue
    /// tells an absent one in JavaScript, without a call back into JavaScript from here.)
    pub fn fetch(&self, input: JsValue, init: Option<Object>) -> Promise {
        let inner = &self.inner;
        let Some(target) = self.target.as_ref().or(inner.own_fetch.as_ref()) else {
            return Promise::reject(&type_error("there is no fetch here: pass one to wrapFetch(fetchImpl)"));
        };
        if inner.is_disposed() {
            // disposed: other origins pass untouched (a wrapper may be the page's `fetch`)
            if input_url(&input).is_some_and(|u| inner.allowed(&u)) {
                return Promise::reject(&disposed());
            }
            return js::send(target, &input, &init.map_or(JsValue::UNDEFINED, Into::into));
        }
        // with DPoP every send waits for its proof: no synchronous first send
        if let (None, Some(parking), None) = (&init, &self._keep, &inner.dpop) {
            if let Some(p) = fast(inner, parking, target, &input) {
                return p;
            }
        }
        let init = init.map_or(JsValue::UNDEFINED, Into::into);
        continued(inner, target, Start::New { input, init })
    }

    /// The answer of a parked call (`tag` = `slot << 1 | failed`).
    pub fn answer(&self, tag: u32, v: JsValue) -> JsValue {
        let failed = tag & 1 == 1;
        match self.parking.upgrade().and_then(|p| p.unpark(tag >> 1)) {
            Some(parked) => on_parked_answer(&self.inner, parked, failed, v),
            None if failed => Promise::reject(&v).into(),
            None => v,
        }
    }
}

/// `object[name]`, a method of an exported class (the same function for every object).
fn method(object: &JsValue, name: &str) -> Function {
    js::get(object, name).unchecked_into()
}

/// A `fetch`-compatible function over `target`, bound to `inner`'s session.
pub fn fetch_fn(inner: &Rc<Inner>, parking: &Rc<Parking>, target: Option<Function>) -> Function {
    let port = JsValue::from(Port { inner: inner.clone(), target, parking: Rc::downgrade(parking), _keep: Some(parking.clone()) });
    method(&port, "fetch").bind0(&port)
}

#[wasm_bindgen]
extern "C" {
    #[wasm_bindgen(js_name = Function)]
    type AnswerFn;
    /// `answer.bind(port, tag)`: the handler for one slot.
    #[wasm_bindgen(method, js_class = Function, js_name = bind)]
    fn bind_tag(this: &AnswerFn, port: &JsValue, tag: u32) -> Function;
}

/// Fast-path calls between their send and their answer, in reusable slots. Each slot's two
/// handlers (`answer` bound to `slot << 1` and to `slot << 1 | 1`, "failed") are made when the
/// slot is first used and serve every later call in it: a slot holds one call at a time, and a
/// promise calls one of its two handlers, once. In the steady state a call makes no function.
pub struct Parking {
    port: JsValue,
    answer: AnswerFn,
    slots: RefCell<Vec<Slot>>,
    free: RefCell<Vec<u32>>,
}

struct Slot {
    call: Option<Parked>,
    handlers: Option<(Function, Function)>,
}

/// A fast-path call between its send and its answer. It keeps its parking (and so the
/// session) alive until the answer comes: a pending call is something the app still waits on.
pub struct Parked {
    _keep: Rc<Parking>,
    call: Call,
    /// What was given: `input` is the URL string.
    out: Outgoing,
    target: Function,
    sent_at: Time,
}

impl Parking {
    /// The parking of one session's fetch functions (all of them share it).
    pub fn new(inner: &Rc<Inner>) -> Rc<Parking> {
        Rc::new_cyclic(|me| {
            let port = JsValue::from(Port { inner: inner.clone(), target: None, parking: me.clone(), _keep: None });
            let answer = method(&port, "answer").unchecked_into();
            Parking { port, answer, slots: RefCell::new(Vec::new()), free: RefCell::new(Vec::new()) }
        })
    }

    /// Keeps a call until its answer comes; returns the handlers of its answer and failure.
    fn park(&self, call: Parked) -> (Function, Function) {
        let reused = self.free.borrow_mut().pop();
        let slot = match reused {
            Some(slot) => {
                let mut slots = self.slots.borrow_mut();
                if let Some(s) = slots.get_mut(slot as usize) {
                    s.call = Some(call);
                    if let Some(h) = &s.handlers {
                        return h.clone();
                    }
                }
                slot
            }
            None => {
                let mut slots = self.slots.borrow_mut();
                slots.push(Slot { call: Some(call), handlers: None });
                (slots.len() - 1) as u32
            }
        };
        // `bind` is JavaScript: called with nothing borrowed
        let h = (self.answer.bind_tag(&self.port, slot << 1), self.answer.bind_tag(&self.port, slot << 1 | 1));
        if let Some(s) = self.slots.borrow_mut().get_mut(slot as usize) {
            s.handlers = Some(h.clone());
        }
        h
    }

    /// The call parked in `slot`, once.
    fn unpark(&self, slot: u32) -> Option<Parked> {
        let call = self.slots.borrow_mut().get_mut(slot as usize)?.call.take()?;
        self.free.borrow_mut().push(slot);
        Some(call)
    }
}

// ---- one call ------------------------------------------------------------------------------------

/// The URL a `fetch` input names (maybe relative), if it is a string, a `Request`, or an object
/// with a string `href` (a `URL`, a `Location`), read without calling into it (a `toString` of
/// the caller's may throw or return anything).
fn input_url(input: &JsValue) -> Option<String> {
    if let Some(s) = input.as_string() {
        return Some(s);
    }
    if let Some(r) = input.dyn_ref::<Request>() {
        return js::prop(r, Name::Url).as_string();
    }
    js::get_str(input, "href")
}

fn has_header(h: &JsValue, name: Name) -> bool {
    if h.is_undefined() || h.is_null() {
        return false;
    }
    Headers::new_with_str_sequence_sequence(h).is_ok_and(|h| request_has(h.unchecked_ref(), name))
}

fn request_has(h: &HeadersJs, name: Name) -> bool {
    js::with_name(name, |n| h.has(n)).unwrap_or(false)
}

fn is_abort(err: &JsValue, signal: Option<&AbortSignal>) -> bool {
    signal.is_some_and(|s| s.aborted()) || js::get_str(err, "name").as_deref() == Some("AbortError")
}

/// The interceptor: `target` is the fetch it sends with.
async fn fetch(inner: &Inner, target: &Function, input: JsValue, init: JsValue) -> Result<JsValue, JsValue> {
    inner.live()?;
    let url = input_url(&input);
    let skip = js::prop(&init, Name::SkipAuth).as_bool() == Some(true);
    let request_in = input.dyn_ref::<Request>();
    let callers_auth = request_in.is_some_and(|r| request_has(&js::headers_of(r), Name::AuthorizationLower))
        || has_header(&js::prop(&init, Name::Headers), Name::AuthorizationLower);
    let Some(url) = url.filter(|u| !skip && !callers_auth && inner.allowed(u)) else {
        // not ours, or the caller's own credentials: untouched
        let res = JsFuture::from(js::send(target, &input, &init)).await?;
        if !(skip || callers_auth) && js::prop(&res, Name::Status).as_f64() == Some(401.0) {
            let url = js::prop(&res, Name::Url).as_string().unwrap_or_default();
            inner.with(|s| s.foreign_unauthorized(url));
        }
        return Ok(res);
    };
    // Calls with a body, or given as a Request, become one Request; each send is a clone of it,
    // so replays carry the body. Others are sent as they came, with the header added.
    let has_body = {
        let b = js::prop(&init, Name::Body);
        !(b.is_undefined() || b.is_null())
    };
    let request = match request_in {
        Some(r) if init.is_undefined() => Some(Clone::clone(r)),
        Some(r) => Some(Request::new_with_request_and_init(r, init.unchecked_ref())?),
        None if has_body => Some(Request::new_with_str_and_init(&url, init.unchecked_ref())?),
        None => None,
    };
    let method = match &request {
        Some(r) => js::prop(r, Name::Method).as_string().unwrap_or_else(|| "GET".into()),
        None => js::prop(&init, Name::Method).as_string().unwrap_or_else(|| "GET".into()),
    };
    let signal: Option<AbortSignal> = match &request {
        Some(r) => wait::signal(js::prop(r, Name::Signal)),
        None => wait::signal(js::prop(&init, Name::Signal)),
    };
    let has_key = match &request {
        Some(r) => request_has(&js::headers_of(r), Name::IdempotencyKeyLower),
        None => has_header(&js::prop(&init, Name::Headers), Name::IdempotencyKeyLower),
    };
    let call = inner.with(|s| Call::new(s, &method, has_key));
    run(inner, target, Outgoing { input, init, request, signal, method: Some(method) }, &url, call, Resume::Ask).await
}

/// Where a call continues in its one `async` frame.
enum Start {
    /// A call the fast path did not take: from the start.
    New { input: JsValue, init: JsValue },
    /// A fast-path call: its step (not `Send`), or asked again.
    Step(Outgoing, Call, Resume),
    /// A fast-path call whose answer the rules look at (read here, then reported).
    Answered(Outgoing, Call, Result<JsValue, JsValue>),
}

/// Every call that does not end synchronously continues here: one `async` frame (one future
/// type, one copy of the driver's machinery) for all of them.
fn continued(inner: &Rc<Inner>, target: &Function, start: Start) -> Promise {
    let (inner, target) = (inner.clone(), target.clone());
    wait::promise(async move {
        let (out, call, resume) = match start {
            Start::New { input, init } => return fetch(&inner, &target, input, init).await,
            Start::Step(out, call, resume) => (out, call, resume),
            Start::Answered(out, call, res) => {
                let first = sent(res, None, None).await;
                (out, call, Resume::Answer(first))
            }
        };
        let url = out.input.as_string().unwrap_or_default();
        run(&inner, &target, out, &url, call, resume).await
    })
}

/// A call as it goes out: what was given, and the `Request` made of it when it has a body.
struct Outgoing {
    input: JsValue,
    init: JsValue,
    request: Option<Request>,
    signal: Option<AbortSignal>,
    /// As given (`None`: `GET`, the fast path's).
    method: Option<String>,
}

impl Outgoing {
    /// The arguments of one send: the call with `Authorization` (and `Idempotency-Key`, and
    /// the DPoP proof) set.
    fn with_headers(&self, bearer: &JsValue, key: Option<&str>, proof: Option<&str>) -> Result<(JsValue, JsValue), JsValue> {
        let h = match &self.request {
            Some(r) => {
                let c = r.clone()?;
                set_header(&js::headers_of(&c), bearer, key, proof)?;
                return Ok((c.into(), JsValue::UNDEFINED));
            }
            None => {
                let given = js::prop(&self.init, Name::Headers);
                if given.is_undefined() || given.is_null() {
                    return Ok((self.input.clone(), self.init_with(&bare_headers(bearer, key, proof))?));
                }
                Headers::new_with_str_sequence_sequence(&given)?
            }
        };
        set_header(h.unchecked_ref(), bearer, key, proof)?;
        Ok((self.input.clone(), self.init_with(&h)?))
    }

    /// A copy of the caller's `init` with these headers (a getter of the caller's that throws
    /// fails the call, through [`js::assign`], never the module).
    fn init_with(&self, headers: &JsValue) -> Result<JsValue, JsValue> {
        let init = match self.init.is_object() {
            true => js::assign(&Object::new(), &self.init)?,
            false => Object::new(),
        };
        js::set_prop(&init, Name::Headers, headers);
        Ok(init.into())
    }
}

/// Headers when the caller gave none: a plain record is cheaper than a `Headers` object.
fn bare_headers(bearer: &JsValue, key: Option<&str>, proof: Option<&str>) -> Object {
    let h = Object::new();
    js::set_prop(&h, Name::Authorization, bearer);
    if let Some(k) = key {
        js::set_prop(&h, Name::IdempotencyKey, &JsValue::from_str(k));
    }
    if let Some(p) = proof {
        js::set_prop(&h, Name::Dpop, &JsValue::from_str(p));
    }
    h
}

#[wasm_bindgen]
extern "C" {
    #[wasm_bindgen(js_name = Promise)]
    type PromiseJs;
    /// `promise.then(f, g)` with functions (js-sys takes only `Closure`s).
    #[wasm_bindgen(method, js_name = then)]
    fn then_with(this: &PromiseJs, on_answer: &Function, on_error: &Function) -> Promise;
}

fn set_header(h: &HeadersJs, bearer: &JsValue, key: Option<&str>, proof: Option<&str>) -> Result<(), JsValue> {
    js::with_name(Name::Authorization, |n| h.set(n, bearer))?;
    for (name, v) in [(Name::IdempotencyKey, key), (Name::Dpop, proof)] {
        if let Some(v) = v {
            js::with_name(name, |n| h.set(n, &JsValue::from_str(v)))?;
        }
    }
    Ok(())
}

/// What one send of `fetch` produced, with as much of the answer read as the rules look at.
/// With DPoP, every answer's `DPoP-Nonce` is learnt (for the origin of its `url`), and a 401's
/// `WWW-Authenticate` read.
async fn sent(res: Result<JsValue, JsValue>, signal: Option<&AbortSignal>, dpop: Option<&Dpop>) -> Sent {
    let v = match res {
        Err(e) if is_abort(&e, signal) => return Sent::Final(Err(e)),
        Err(e) => return Sent::NetworkError(e),
        Ok(v) => v,
    };
    let res = match v.dyn_into::<Response>() {
        Err(other) => return Sent::Final(Ok(other)),
        Ok(res) => res,
    };
    let status = res.status();
    let (mut retry_after, mut error_type) = (None, None);
    match look(status) {
        Look::Nothing => {}
        Look::Headers | Look::HeadersAndBody => {
            let h = js::headers_of(&res);
            retry_after = js::header(&h, Name::RetryAfter);
            error_type = js::header(&h, Name::ErrorType);
            if look(status) == Look::HeadersAndBody && error_type.is_none() {
                error_type = body_error_type(&res).await;
            }
        }
    }
    let dpop = dpop.map(|d| {
        let h = js::headers_of(&res);
        let url = js::prop(&res, Name::Url).as_string().unwrap_or_default();
        let fresh = d.learn(&url, js::header(&h, Name::DpopNonce).as_deref());
        let www = if status == 401 { js::header(&h, Name::WwwAuthenticate) } else { None };
        (www, fresh)
    });
    Sent::Answer { value: Ok(res.into()), status, retry_after, error_type, dpop }
}

async fn run(inner: &Inner, target: &Function, out: Outgoing, url: &str, mut call: Call, resume: Resume) -> Result<JsValue, JsValue> {
    let signal = out.signal.clone();
    let out = &out;
    driver::drive(inner, &mut call, signal.as_ref(), url, resume, &mut |bearer, key| {
        // with DPoP, a proof for the token this send presents (the current one)
        let token = inner.bound_token();
        let key = key.map(String::from);
        let target = target.clone();
        Box::pin(async move {
            let dpop = inner.dpop.as_ref();
            let mut proof = None;
            if let (Some(d), Some(t)) = (dpop, &token) {
                match d.proof(out.method.as_deref().unwrap_or("GET"), url, Some(t)).await {
                    Ok(p) => proof = Some(p),
                    Err(e) => return Sent::Final(Err(e)),
                }
            }
            let (input, init) = match out.with_headers(&bearer, key.as_deref(), proof.as_deref()) {
                Ok(x) => x,
                Err(e) => return Sent::Final(Err(e)),
            };
            sent(JsFuture::from(js::send(&target, &input, &init)).await, out.signal.as_ref(), dpop).await
        })
    })
    .await
}

/// The driver's first step without an `async` frame: a `GET` of a URL string, no `init`. When
/// the step is `Send` it is sent at once and parked; any other step continues in the driver.
/// `None`: not this case, nothing was done.
fn fast(inner: &Rc<Inner>, parking: &Rc<Parking>, target: &Function, input: &JsValue) -> Option<Promise> {
    if !inner.allowed_input(input)? {
        return None;
    }
    let now = js::now();
    let (call, step) = inner.with(|s| {
        let mut call = Call::new(s, "GET", false);
        let step = call.next(s, now);
        (call, step)
    });
    let out = Outgoing { input: input.clone(), init: JsValue::UNDEFINED, request: None, signal: None, method: None };
    let bearer = match (&step, inner.bearer()) {
        (Step::Send, Some(b)) => b,
        _ => return Some(continued(inner, target, Start::Step(out, call, Resume::Step(step)))),
    };
    // no `init` was given: the one sent has only the header
    let init = js::bearer_init(&bearer);
    let (on_answer, on_error) = parking.park(Parked { _keep: parking.clone(), call, out, target: target.clone(), sent_at: now });
    // `js::send` made it a native promise: its own `then`, one crossing
    Some(js::send(target, input, &init).unchecked_ref::<PromiseJs>().then_with(&on_answer, &on_error))
}

/// The answer to a parked call: one the rules do not look at is counted and given back;
/// anything else continues in the driver.
fn on_parked_answer(inner: &Rc<Inner>, parked: Parked, failed: bool, v: JsValue) -> JsValue {
    let Parked { mut call, out, target, sent_at, .. } = parked;
    let plain = if failed { None } else { v.dyn_ref::<Response>().map(Response::status).filter(|s| look(*s) == Look::Nothing) };
    if let Some(status) = plain {
        // only the rate limiter reads the clock on such an answer (one `Date.now()` fewer per
        // call without one), and no backoff is drawn
        let now = if inner.opts.rate_limit.is_some() { js::now() } else { sent_at };
        return match driver::answered_plain(inner, &mut call, status, now, v) {
            Some(Ok(v)) => v,
            Some(Err(e)) => Promise::reject(&e).into(),
            // never for an answer not looked at (a core property test); asked again if it were
            None => continued(inner, &target, Start::Step(out, call, Resume::Ask)).into(),
        };
    }
    let res = if failed { Err(v) } else { Ok(v) };
    continued(inner, &target, Start::Answered(out, call, res)).into()
}

/// The `__type` of an AWS-style JSON error body (read from a clone: the caller still gets the
/// body).
async fn body_error_type(res: &Response) -> Option<String> {
    let text = JsFuture::from(res.clone().ok()?.text().ok()?).await.ok()?;
    js::aws_error_type(&text)
}
