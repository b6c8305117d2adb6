//! The lite build's DPoP (`--no-default-features`): no key, no proofs. `Dpop` has no values, so
//! `Option<Dpop>` is always `None` and every path that would prove compiles away; the options
//! refuse `dpop: true` with an error that names the full entry (`options.rs`). Its items mirror
//! `dpop.rs`, which the full build uses.

use wasm_bindgen::JsValue;

/// Never said: no proofs, so no nonces.
pub const NONCE_UNREADABLE: &str = "";

pub fn warn_nonce_unreadable() {}

pub enum Dpop {}

impl Dpop {
    pub fn start(_scope: Option<String>, _ready: impl FnOnce(bool, bool) + 'static) -> Option<Dpop> {
        None
    }

    pub async fn proof(&self, _method: &str, _url: &str, _token: Option<&str>) -> Result<String, JsValue> {
        match *self {}
    }

    pub fn href(&self, _url: &str) -> String {
        match *self {}
    }

    pub fn learn(&self, _url: &str, _nonce: Option<&str>) -> bool {
        match *self {}
    }
}
