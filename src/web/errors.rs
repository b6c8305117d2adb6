//! The errors JavaScript sees. The five sessionguard classes are JavaScript classes (only those
//! can extend `Error`), defined in `js/errors.js`, which the package entry also exports: one
//! class on both sides, so `instanceof` works. Bad input is a plain `TypeError`.

use wasm_bindgen::prelude::*;

use crate::core::session::CallError;

// The package ships `errors.js` beside the glue; the browser tests (no package) take the same
// file as a wasm-bindgen snippet.
#[cfg_attr(not(test), wasm_bindgen(raw_module = "./errors.js"))]
#[cfg_attr(test, wasm_bindgen(module = "/js/errors.js"))]
extern "C" {
    #[wasm_bindgen(js_name = SessionExpiredError)]
    type JsSessionExpiredError;
    #[wasm_bindgen(constructor, js_class = "SessionExpiredError")]
    fn new(reason: &str) -> JsSessionExpiredError;

    #[wasm_bindgen(js_name = RefreshUnavailableError)]
    type JsRefreshUnavailableError;
    #[wasm_bindgen(constructor, js_class = "RefreshUnavailableError")]
    fn new(retry_after_ms: f64) -> JsRefreshUnavailableError;

    #[wasm_bindgen(js_name = SessionDisposedError)]
    type JsSessionDisposedError;
    #[wasm_bindgen(constructor, js_class = "SessionDisposedError")]
    fn new() -> JsSessionDisposedError;

    #[wasm_bindgen(js_name = UserInfoError)]
    type JsUserInfoError;
    #[wasm_bindgen(constructor, js_class = "UserInfoError")]
    fn new(status: u16, why: &str) -> JsUserInfoError;

    #[wasm_bindgen(js_name = SignInError)]
    type JsSignInError;
    #[wasm_bindgen(constructor, js_class = "SignInError")]
    fn new(code: &str, why: &str) -> JsSignInError;
}

/// The error a call gets when it cannot go out.
pub fn call_error(e: CallError) -> JsValue {
    match e {
        CallError::NoSession => JsSessionExpiredError::new("no-session").into(),
        CallError::Expired(r) => JsSessionExpiredError::new(r.as_str()).into(),
        CallError::Unavailable { retry_after_ms } => JsRefreshUnavailableError::new(retry_after_ms.max(0.0).ceil()).into(),
    }
}

pub fn disposed() -> JsValue {
    JsSessionDisposedError::new().into()
}

pub fn user_info(status: u16, why: &str) -> JsValue {
    JsUserInfoError::new(status, why).into()
}

/// A sign-in that failed and stored nothing.
pub fn sign_in(f: &crate::core::signin::Failure) -> JsValue {
    JsSignInError::new(f.code(), &f.message()).into()
}

/// What an error JavaScript threw or rejected with says: `name: message` for an `Error`, else
/// what it is.
pub fn cause(e: &JsValue) -> String {
    match (super::js::get_str(e, "name"), super::js::get_str(e, "message")) {
        (Some(name), Some(message)) => [name.as_str(), ": ", &message].concat(),
        _ => e.as_string().unwrap_or_else(|| describe(e)),
    }
}

/// `TypeError("sessionguard: ...")`.
pub fn type_error(msg: &str) -> JsValue {
    js_sys::TypeError::new(&["sessionguard: ", msg].concat()).into()
}

/// What the lite build says when asked for what only the full build has (the lite entry says
/// the same of `signIn` and `handleRedirect`, which its class does not have).
#[cfg(not(feature = "dpop"))]
pub const FULL_ONLY_DPOP: &str = "option `dpop` is not in sessionguard/lite: import from \"sessionguard\" (the full build) for DPoP";
#[cfg(feature = "dpop")]
pub const FULL_ONLY_DPOP: &str = "";
#[cfg(not(feature = "signin"))]
pub const FULL_ONLY_SIGNOUT: &str = "logout({ revoke, redirect }) is not in sessionguard/lite: import from \"sessionguard\" (the full build) to sign out at the identity server";

/// A short description of a value JavaScript handed in, for error messages: its type, or for
/// an object its keys.
pub fn describe(v: &JsValue) -> String {
    if v.is_undefined() {
        return "undefined".into();
    }
    if v.is_null() {
        return "null".into();
    }
    if let Some(s) = v.as_string() {
        // its first 20 bytes, cut at a character boundary
        let end = (0..=s.len().min(20)).rev().find(|&i| s.is_char_boundary(i)).unwrap_or(0);
        return ["a string (\"", &s[..end], "\")"].concat();
    }
    if v.is_function() {
        return "a function".into();
    }
    if v.is_object() {
        let mut out = String::from("an object with keys {");
        let keys = super::js::keys(v);
        for (i, k) in keys.iter().take(8).filter_map(|k| k.as_string()).enumerate() {
            if i > 0 {
                out.push_str(", ");
            }
            out.push_str(&k);
        }
        out.push('}');
        return out;
    }
    v.js_typeof().as_string().unwrap_or_default()
}
