//! The functions JavaScript calls once per request: the `fetch` interceptor and the answer
//! handlers of fast-path calls, which wait here ([`Parking`]) between send and answer.
//!
//! Why not a `Closure`: wasm-bindgen wraps each closure in a JavaScript function that collects
//! its arguments (`...args`), counts references in a `try`/`finally` and dispatches through a
//! vtable; on a request that costs as much as the interceptor's own work. A method of an
//! exported class, bound to its object with `Function.prototype.bind`, is a direct call into
//! the module. The object holds only a `Weak` of the session, so a wrapper kept by the app does
//! not keep a disposed session alive; wasm-bindgen frees the object when JavaScript drops it.

use std::cell::RefCell;
use std::rc::{Rc, Weak};

use js_sys::{Function, Object, Promise};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;

use super::calls::{self, Parked};
use super::engine::Inner;
use super::errors::{disposed, type_error};
use super::js;
use super::wait::promise;

/// One session's entry point; `target` is the fetch that a wrapper sends with (`None`: the
/// platform's fetch as it was when the session was made).
#[wasm_bindgen(skip_typescript)]
pub struct Port {
    inner: Weak<Inner>,
    target: Option<Function>,
}

#[wasm_bindgen]
impl Port {
    /// The interceptor: `fetch(input, init)`. (`init` as an `Option`: wasm-bindgen's glue
    /// tells an absent one in JavaScript, without a call back into JavaScript from here.)
    pub fn fetch(&self, input: JsValue, init: Option<Object>) -> Promise {
        let Some(inner) = self.inner.upgrade() else {
            return Promise::reject(&disposed());
        };
        let Some(target) = self.target.as_ref().or(inner.own_fetch.as_ref()) else {
            return Promise::reject(&type_error("there is no fetch here: pass one to wrapFetch(fetchImpl)"));
        };
        if init.is_none() {
            if let Some(p) = calls::fast(&inner, target, &input) {
                return p;
            }
        }
        let (target, init) = (target.clone(), init.map_or(JsValue::UNDEFINED, Into::into));
        promise(async move { calls::fetch(&inner, &target, input, init).await })
    }

    /// The answer to a parked fast-path call (`tag` = `slot << 1 | failed`).
    pub fn answer(&self, tag: u32, v: JsValue) -> JsValue {
        match self.inner.upgrade() {
            Some(inner) => calls::on_parked_answer(&inner, tag, v),
            None => v,
        }
    }
}

/// `port[name]`, the method of the class (the same function for every port).
fn method(port: &JsValue, name: &str) -> Function {
    js::get(port, name).unchecked_into()
}

/// A `fetch`-compatible function over `target`, bound to `inner`'s session.
pub fn fetch_fn(inner: &Rc<Inner>, target: Option<Function>) -> Function {
    let port = JsValue::from(Port { inner: Rc::downgrade(inner), target });
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
/// handlers (`port.answer` bound to `slot << 1` and to `slot << 1 | 1`, "failed") are made
/// when the slot is first used and serve every later call in it: a slot holds one call at a
/// time, and a promise calls one of its two handlers, once. In the steady state a call costs
/// no allocation of functions at all.
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

impl Parking {
    pub fn new(inner: Weak<Inner>) -> Parking {
        let port = JsValue::from(Port { inner, target: None });
        let answer = method(&port, "answer").unchecked_into();
        Parking { port, answer, slots: RefCell::new(Vec::new()), free: RefCell::new(Vec::new()) }
    }

    /// Keeps a call until its answer comes; returns the handlers of its answer and failure.
    pub fn park(&self, call: Parked) -> (Function, Function) {
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
    pub fn unpark(&self, slot: u32) -> Option<Parked> {
        let call = self.slots.borrow_mut().get_mut(slot as usize)?.call.take()?;
        self.free.borrow_mut().push(slot);
        Some(call)
    }
}
