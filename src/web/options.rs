//! `new SessionManager(options)`: reading and checking the options object.
//!
//! Options are read with `Reflect` rather than serde: serde + serde-wasm-bindgen cost about
//! 15 KB of gzipped wasm in our measurements, for a dozen fields. Every bad value is a
//! `TypeError` naming the option; nothing is half-applied.

use js_sys::Function;
use wasm_bindgen::{JsCast, JsValue};

use super::js::{get, parse_url, type_error};
use crate::core::retry::RetryPolicy;

pub enum Refresh {
    None,
    Function(Function),
    OAuth2 { token_url: String, client_id: String, scope: Option<String>, userinfo_url: Option<String> },
    Cognito { endpoint: String, client_id: String },
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub enum StorageKind {
    Memory,
    Session,
    Local,
}

pub struct Options {
    pub refresh: Refresh,
    pub storage: StorageKind,
    pub storage_key: String,
    /// Serialized origins (`https://api.example.com`).
    pub allowed_origins: Vec<String>,
    pub leeway_ms: f64,
    pub retry: RetryPolicy,
    pub rate_limit: Option<(f64, f64)>,
    pub cross_tab: bool,
    pub userinfo_ttl_ms: f64,
    pub expire_on_transient: bool,
}

fn bad(key: &str, what: &str) -> JsValue {
    type_error(&["sessionguard: option `", key, "` must be ", what].concat())
}

fn absent(v: &JsValue) -> bool {
    v.is_undefined() || v.is_null()
}

pub fn opt_string(obj: &JsValue, key: &str) -> Result<Option<String>, JsValue> {
    let v = get(obj, key);
    if absent(&v) {
        return Ok(None);
    }
    v.as_string().filter(|s| !s.is_empty()).map(Some).ok_or_else(|| bad(key, "a non-empty string"))
}

fn req_string(obj: &JsValue, key: &str) -> Result<String, JsValue> {
    opt_string(obj, key)?.ok_or_else(|| bad(key, "a non-empty string"))
}

/// A finite number >= 0.
pub fn opt_number(obj: &JsValue, key: &str) -> Result<Option<f64>, JsValue> {
    let v = get(obj, key);
    if absent(&v) {
        return Ok(None);
    }
    match v.as_f64() {
        Some(n) if n.is_finite() && n >= 0.0 => Ok(Some(n)),
        _ => Err(bad(key, "a finite number >= 0")),
    }
}

fn opt_bool(obj: &JsValue, key: &str) -> Result<Option<bool>, JsValue> {
    let v = get(obj, key);
    if absent(&v) {
        return Ok(None);
    }
    v.as_bool().map(Some).ok_or_else(|| bad(key, "a boolean"))
}

fn absolute_url(key: &str, s: &str) -> Result<String, JsValue> {
    let u = parse_url(s).ok_or_else(|| bad(key, "a URL"))?;
    let proto = u.protocol();
    if proto != "https:" && proto != "http:" {
        return Err(bad(key, "an http(s) URL"));
    }
    Ok(u.href())
}

fn parse_refresh(v: &JsValue) -> Result<Refresh, JsValue> {
    if absent(v) {
        return Ok(Refresh::None);
    }
    if let Some(f) = v.dyn_ref::<Function>() {
        return Ok(Refresh::Function(f.clone()));
    }
    if !v.is_object() {
        return Err(bad("refresh", "a function or an object with a `type`"));
    }
    match opt_string(v, "type")?.as_deref() {
        Some("oauth2") => Ok(Refresh::OAuth2 {
            token_url: absolute_url("refresh.tokenUrl", &req_string(v, "tokenUrl").map_err(|_| bad("refresh.tokenUrl", "a URL"))?)?,
            client_id: req_string(v, "clientId").map_err(|_| bad("refresh.clientId", "a non-empty string"))?,
            scope: opt_string(v, "scope").map_err(|_| bad("refresh.scope", "a string"))?,
            userinfo_url: match opt_string(v, "userInfoUrl").map_err(|_| bad("refresh.userInfoUrl", "a URL"))? {
                Some(u) => Some(absolute_url("refresh.userInfoUrl", &u)?),
                None => None,
            },
        }),
        Some("cognito") => {
            let client_id = req_string(v, "clientId").map_err(|_| bad("refresh.clientId", "a non-empty string"))?;
            let endpoint = match opt_string(v, "endpoint").map_err(|_| bad("refresh.endpoint", "a URL"))? {
                Some(e) => absolute_url("refresh.endpoint", &e)?,
                None => {
                    let region = req_string(v, "region").map_err(|_| bad("refresh.region", "an AWS region such as \"eu-west-1\""))?;
                    if !region.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-') {
                        return Err(bad("refresh.region", "an AWS region such as \"eu-west-1\""));
                    }
                    ["https://cognito-idp.", &region, ".amazonaws.com/"].concat()
                }
            };
            Ok(Refresh::Cognito { endpoint, client_id })
        }
        _ => Err(bad("refresh.type", "\"oauth2\" or \"cognito\"")),
    }
}

impl Options {
    pub fn parse(v: &JsValue) -> Result<Options, JsValue> {
        let empty: JsValue = js_sys::Object::new().into();
        let v = if absent(v) { &empty } else { v };
        if !v.is_object() {
            return Err(type_error("sessionguard: options must be an object"));
        }
        let storage = match opt_string(v, "storage")?.as_deref() {
            None | Some("memory") => StorageKind::Memory,
            Some("session") => StorageKind::Session,
            Some("local") => StorageKind::Local,
            Some(_) => return Err(bad("storage", "\"memory\", \"session\" or \"local\"")),
        };
        let allowed_origins = match get(v, "allowedOrigins") {
            a if absent(&a) => parse_url("/").map(|u| u.origin()).into_iter().collect(),
            a if js_sys::Array::is_array(&a) => {
                let mut out = Vec::new();
                for item in js_sys::Array::from(&a).iter() {
                    let s = item.as_string().ok_or_else(|| bad("allowedOrigins", "an array of origin strings"))?;
                    let u = web_sys::Url::new(&s).map_err(|_| bad("allowedOrigins", "an array of absolute origins like \"https://api.example.com\""))?;
                    let origin = u.origin();
                    if origin == "null" {
                        return Err(bad("allowedOrigins", "an array of http(s) origins"));
                    }
                    out.push(origin);
                }
                out
            }
            _ => return Err(bad("allowedOrigins", "an array of origin strings")),
        };
        let mut retry = RetryPolicy::default();
        let r = get(v, "retry");
        if !absent(&r) {
            if !r.is_object() {
                return Err(bad("retry", "an object"));
            }
            if let Some(n) = opt_number(&r, "maxRetries").map_err(|_| bad("retry.maxRetries", "an integer from 0 to 20"))? {
                if n.fract() != 0.0 || n > 20.0 {
                    return Err(bad("retry.maxRetries", "an integer from 0 to 20"));
                }
                retry.max_retries = n as u32;
            }
            if let Some(n) = opt_number(&r, "baseDelayMs").map_err(|_| bad("retry.baseDelayMs", "a finite number >= 0"))? {
                retry.base_delay_ms = n;
            }
            if let Some(n) = opt_number(&r, "maxDelayMs").map_err(|_| bad("retry.maxDelayMs", "a finite number >= 0"))? {
                retry.max_delay_ms = n;
            }
            if let Some(b) = opt_bool(&r, "idempotencyKey").map_err(|_| bad("retry.idempotencyKey", "a boolean"))? {
                retry.idempotency_key = b;
            }
        }
        let rl = get(v, "rateLimit");
        let rate_limit = if absent(&rl) || rl.as_bool() == Some(false) {
            None
        } else {
            if !rl.is_object() {
                return Err(bad("rateLimit", "an object { requestsPerSecond, burst }"));
            }
            let rps = opt_number(&rl, "requestsPerSecond")
                .ok()
                .flatten()
                .filter(|n| *n > 0.0)
                .ok_or_else(|| bad("rateLimit.requestsPerSecond", "a number > 0"))?;
            let burst = match opt_number(&rl, "burst") {
                Ok(None) => 1.0,
                Ok(Some(b)) if b >= 1.0 => b.floor(),
                _ => return Err(bad("rateLimit.burst", "a number >= 1")),
            };
            Some((rps, burst))
        };
        Ok(Options {
            refresh: parse_refresh(&get(v, "refresh"))?,
            storage,
            storage_key: opt_string(v, "storageKey")?.unwrap_or_else(|| "sessionguard".into()),
            allowed_origins,
            leeway_ms: opt_number(v, "refreshLeewaySeconds")?.unwrap_or(30.0) * 1000.0,
            retry,
            rate_limit,
            cross_tab: opt_bool(v, "crossTab")?.unwrap_or(true),
            userinfo_ttl_ms: opt_number(v, "userInfoTtlSeconds")?.unwrap_or(300.0) * 1000.0,
            expire_on_transient: opt_bool(v, "expireOnTransientFailure")?.unwrap_or(false),
        })
    }
}
