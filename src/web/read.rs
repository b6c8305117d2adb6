//! What JavaScript hands in, read through the core's [`Fields`]: each field with `Reflect.get`
//! (a throwing getter reads as absent) and sorted by its type. The core's readers
//! (`TokenInput::read`, `Record::read`, `PeerMessage::read`, ...) decide what the fields mean.

use js_sys::Array;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;

use super::js;
use crate::core::read::{Fields, Value};

/// A JavaScript object (or anything: reading a field of a non-object gives `Absent`).
pub struct Obj(pub JsValue);

impl Fields for Obj {
    fn field(&self, key: &str) -> Value<Obj> {
        value(&js::get(&self.0, key))
    }
}

/// `v` sorted into what the rules tell apart.
pub fn value(v: &JsValue) -> Value<Obj> {
    if v.is_undefined() || v.is_null() {
        Value::Absent
    } else if let Some(b) = v.as_bool() {
        Value::Bool(b)
    } else if let Some(n) = v.as_f64() {
        Value::Num(n)
    } else if let Some(s) = v.as_string() {
        Value::Str(s)
    } else if Array::is_array(v) {
        // objects (others skipped), unless every element is a string
        let (mut objects, mut texts, mut only_texts) = (Vec::new(), Vec::new(), true);
        for e in v.unchecked_ref::<Array>().iter() {
            match e.as_string() {
                Some(t) => texts.push(t),
                None => {
                    only_texts = false;
                    if e.is_object() && !Array::is_array(&e) {
                        objects.push(Obj(e));
                    }
                }
            }
        }
        if only_texts && !texts.is_empty() {
            return Value::Texts(texts);
        }
        Value::List(objects)
    } else if v.is_object() && !v.is_function() {
        Value::Obj(Obj(v.clone()))
    } else {
        Value::Other
    }
}

/// `v` if it is a plain object (not an array, not a function).
pub fn object(v: &JsValue) -> Option<Obj> {
    match value(v) {
        Value::Obj(o) => Some(o),
        _ => None,
    }
}

/// `JSON.parse(text)`, if it is an object.
pub fn json(text: &str) -> Option<Obj> {
    object(&js_sys::JSON::parse(text).ok()?)
}
