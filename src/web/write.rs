//! What the module hands out (event details, `stats()`, stored records, peer messages, request
//! bodies), written with serde-wasm-bindgen as plain objects.
//!
//! Why a list of fields and not `#[derive(Serialize)]` per type: each derived type compiles its
//! own serializer, and serde-wasm-bindgen's struct path keeps a cache of field-name strings (a
//! hash map). One map writer for every output is one instance of each.

use serde::ser::{Serialize, SerializeMap, Serializer};
use wasm_bindgen::prelude::*;

use crate::core::crosstab::PeerMessage;
use crate::core::session::Stats;
use crate::core::token::Record;

/// One value of an output object.
pub enum Out<'a> {
    Str(&'a str),
    Num(f64),
    Bool(bool),
    Null,
    Obj(&'a [(&'a str, Out<'a>)]),
}

struct Fields<'a>(&'a [(&'a str, Out<'a>)]);

impl Serialize for Fields<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(self.0.len()))?;
        for (k, v) in self.0 {
            m.serialize_entry(k, v)?;
        }
        m.end()
    }
}

impl Serialize for Out<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Out::Str(v) => s.serialize_str(v),
            Out::Num(v) => s.serialize_f64(*v),
            Out::Bool(v) => s.serialize_bool(*v),
            Out::Null => s.serialize_unit(),
            Out::Obj(f) => Fields(f).serialize(s),
        }
    }
}

/// A plain object with these fields.
pub fn object(fields: &[(&str, Out)]) -> JsValue {
    Fields(fields).serialize(&serde_wasm_bindgen::Serializer::json_compatible()).unwrap_or(JsValue::NULL)
}

/// `JSON.stringify` of [`object`].
pub fn json(fields: &[(&str, Out)]) -> String {
    js_sys::JSON::stringify(&object(fields)).ok().and_then(|s| s.as_string()).unwrap_or_default()
}

/// An optional value: `Null` when absent (`JSON.stringify` keeps it; readers take it as absent).
fn opt(v: &Option<String>) -> Out<'_> {
    v.as_deref().map_or(Out::Null, Out::Str)
}

/// The fields of a stored record (`{ v, a, r, i, e, t, d }`, as `Record::read` reads them).
fn record_fields(r: &Record) -> [(&'static str, Out<'_>); 7] {
    [
        ("v", Out::Num(f64::from(r.v))),
        ("a", Out::Str(&r.a)),
        ("r", opt(&r.r)),
        ("i", opt(&r.i)),
        ("e", r.e.map_or(Out::Null, Out::Num)),
        ("t", Out::Num(r.t)),
        ("d", Out::Bool(r.d)),
    ]
}

pub fn record_json(r: &Record) -> String {
    json(&record_fields(r))
}

/// A peer message as it travels (`{ t: "tokens", rec, login }` or `{ t: "end", reason, tag }`,
/// as `PeerMessage::read` reads them).
pub fn message(m: &PeerMessage) -> JsValue {
    match m {
        PeerMessage::Tokens { rec, login } => {
            let rec = record_fields(rec);
            object(&[("t", Out::Str("tokens")), ("rec", Out::Obj(&rec)), ("login", Out::Bool(*login))])
        }
        PeerMessage::End { reason, tag } => object(&[
            ("t", Out::Str("end")),
            ("reason", Out::Str(reason.as_str())),
            ("tag", tag.map_or(Out::Null, |t| Out::Num(f64::from(t)))),
        ]),
    }
}

pub fn stats(s: &Stats) -> JsValue {
    let n = |v: u32| Out::Num(f64::from(v));
    object(&[
        ("requests", n(s.requests)),
        ("retries", n(s.retries)),
        ("throttled", n(s.throttled)),
        ("refreshes", n(s.refreshes)),
        ("refreshFailures", n(s.refresh_failures)),
        ("coalesced", n(s.coalesced)),
        ("sessionExpired", n(s.session_expired)),
    ])
}
