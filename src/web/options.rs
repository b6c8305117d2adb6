//! `new SessionManager(options)`: the options object, checked once. Each value is read with a
//! small reader for its type; a wrong type, a bad value or an unknown key (with the nearest
//! known one) is a `TypeError` that says which option and what was received.

use js_sys::{Array, Function, Object};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;

use super::errors::{describe, type_error};
use super::js;
use crate::core::retry::RetryPolicy;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StorageKind {
    Memory,
    Session,
    Local,
}

/// The `refresh` option.
#[derive(Debug, Clone)]
pub enum Refresher {
    None,
    Function(Function),
    OAuth2 { token_url: String, client_id: String, scope: Option<String>, user_info_url: Option<String> },
    Cognito { client_id: String, endpoint: String },
}

#[derive(Debug, Clone)]
pub struct Options {
    pub refresh: Refresher,
    pub storage: StorageKind,
    pub storage_key: String,
    pub origins: Vec<String>,
    pub leeway_ms: f64,
    pub retry: RetryPolicy,
    pub rate_limit: Option<(f64, f64)>,
    pub cross_tab: bool,
    pub user_info_ttl_ms: f64,
    pub expire_on_transient: bool,
}

const TOP: &[&str] = &[
    "refresh",
    "storage",
    "storageKey",
    "allowedOrigins",
    "refreshLeewaySeconds",
    "retry",
    "rateLimit",
    "crossTab",
    "userInfoTtlSeconds",
    "expireOnTransientFailure",
];
const RETRY: &[&str] = &["maxRetries", "baseDelayMs", "maxDelayMs", "idempotencyKey"];
const RATE: &[&str] = &["requestsPerSecond", "burst"];
const OAUTH2: &[&str] = &["type", "tokenUrl", "clientId", "scope", "userInfoUrl"];
const COGNITO: &[&str] = &["type", "region", "clientId", "endpoint"];

/// Refuses keys that are not in `known`, naming the nearest known one.
fn check_keys(obj: &JsValue, known: &[&str], path: &str) -> Result<(), JsValue> {
    for key in Object::keys(obj.unchecked_ref::<Object>()).iter().filter_map(|k| k.as_string()) {
        if !known.contains(&key.as_str()) {
            let nearest = crate::core::read::nearest(known, &key);
            return Err(type_error(
                &["unknown option `", path, &key, "`: did you mean `", path, nearest, "`? (known: ", &known.join(", "), ")"].concat(),
            ));
        }
    }
    Ok(())
}

/// `obj[key]`, or `None` when it is `undefined`/`null`; a value `ok` refuses is a `TypeError`
/// that names the option, what it must be (`what`) and what it got. One body for every kind of
/// option (not one copy per type: the constructor is the module's largest function).
#[inline(never)]
fn field(obj: &JsValue, key: &str, path: &str, what: &str, ok: fn(&JsValue) -> bool) -> Result<Option<JsValue>, JsValue> {
    let v = js::get(obj, key);
    if v.is_undefined() || v.is_null() {
        return Ok(None);
    }
    if ok(&v) {
        Ok(Some(v))
    } else {
        Err(type_error(&["option `", path, key, "` must be ", what, ", got ", &describe(&v)].concat()))
    }
}

fn non_negative(obj: &JsValue, key: &str, path: &str) -> Result<Option<f64>, JsValue> {
    let ok: fn(&JsValue) -> bool = |v| v.as_f64().is_some_and(|n| n.is_finite() && n >= 0.0);
    Ok(field(obj, key, path, "a finite number >= 0", ok)?.and_then(|v| v.as_f64()))
}

fn flag(obj: &JsValue, key: &str, path: &str) -> Result<Option<bool>, JsValue> {
    let ok: fn(&JsValue) -> bool = |v| v.as_bool().is_some();
    Ok(field(obj, key, path, "a boolean", ok)?.and_then(|v| v.as_bool()))
}

fn text(obj: &JsValue, key: &str, path: &str) -> Result<Option<String>, JsValue> {
    let ok: fn(&JsValue) -> bool = |v| v.as_string().is_some_and(|s| !s.is_empty());
    Ok(field(obj, key, path, "a non-empty string", ok)?.and_then(|v| v.as_string()))
}

fn http_url(obj: &JsValue, key: &str, path: &str) -> Result<Option<String>, JsValue> {
    let Some(s) = text(obj, key, path)? else {
        return Ok(None);
    };
    let parsed = js::resolve_url(&s).map(|u| (js::get_str(&u, "protocol"), js::get_str(&u, "href")));
    match parsed {
        Some((Some(p), Some(href))) if p == "http:" || p == "https:" => Ok(Some(href)),
        _ => Err(type_error(&["option `", path, key, "` must be an http(s) URL, got \"", &s, "\""].concat())),
    }
}

fn refresher(r: &JsValue) -> Result<Refresher, JsValue> {
    if r.is_undefined() || r.is_null() {
        return Ok(Refresher::None);
    }
    if let Some(f) = r.dyn_ref::<Function>() {
        return Ok(Refresher::Function(f.clone()));
    }
    if !r.is_object() {
        return Err(type_error(
            &["option `refresh` must be a function or { type: \"oauth2\" | \"cognito\", ... }, got ", &describe(r)].concat(),
        ));
    }
    let p = "refresh.";
    let client_id = || text(r, "clientId", p)?.ok_or_else(|| type_error("option `refresh.clientId` is required"));
    match js::get_str(r, "type").as_deref() {
        Some("oauth2") => {
            check_keys(r, OAUTH2, p)?;
            let token_url =
                http_url(r, "tokenUrl", p)?.ok_or_else(|| type_error("option `refresh.tokenUrl` is required for `type: \"oauth2\"`"))?;
            Ok(Refresher::OAuth2 {
                token_url,
                client_id: client_id()?,
                scope: text(r, "scope", p)?,
                user_info_url: http_url(r, "userInfoUrl", p)?,
            })
        }
        Some("cognito") => {
            check_keys(r, COGNITO, p)?;
            let endpoint = match http_url(r, "endpoint", p)? {
                Some(e) => e,
                None => {
                    let region = text(r, "region", p)?.ok_or_else(|| {
                        type_error("option `refresh.region` (e.g. \"eu-west-1\") is required unless `refresh.endpoint` is given")
                    })?;
                    if !region.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-') {
                        return Err(type_error(
                            &["option `refresh.region` must be an AWS region such as \"eu-west-1\", got \"", &region, "\""].concat(),
                        ));
                    }
                    ["https://cognito-idp.", &region, ".amazonaws.com/"].concat()
                }
            };
            Ok(Refresher::Cognito { client_id: client_id()?, endpoint })
        }
        _ => Err(type_error(&["option `refresh.type` must be \"oauth2\" or \"cognito\", got ", &describe(&js::get(r, "type"))].concat())),
    }
}

fn origins(o: &JsValue) -> Result<Vec<String>, JsValue> {
    let Some(list) = field(o, "allowedOrigins", "", "an array of origin strings", Array::is_array)? else {
        return Ok(js::page_origin().into_iter().collect());
    };
    let mut out = Vec::new();
    for item in list.unchecked_ref::<Array>().iter() {
        let Some(s) = item.as_string() else {
            return Err(type_error(
                &["option `allowedOrigins` must be an array of origin strings, got ", &describe(&item), " in it"].concat(),
            ));
        };
        match web_sys::Url::new(&s).ok().and_then(|u| js::get_str(&u, "origin")) {
            Some(origin) if origin != "null" => out.push(origin),
            _ => {
                return Err(type_error(
                    &["option `allowedOrigins` takes origins like \"https://api.example.com\", got \"", &s, "\""].concat(),
                ))
            }
        }
    }
    Ok(out)
}

pub fn parse(o: &JsValue) -> Result<Options, JsValue> {
    let o = if o.is_undefined() || o.is_null() { &JsValue::from(Object::new()) } else { o };
    if !o.is_object() || o.is_function() {
        return Err(type_error(&["options must be an object, got ", &describe(o)].concat()));
    }
    check_keys(o, TOP, "")?;
    let storage = match text(o, "storage", "")?.as_deref() {
        None | Some("memory") => StorageKind::Memory,
        Some("session") => StorageKind::Session,
        Some("local") => StorageKind::Local,
        Some(other) => {
            return Err(type_error(&["option `storage` must be \"memory\", \"session\" or \"local\", got \"", other, "\""].concat()))
        }
    };
    let mut retry = RetryPolicy::default();
    let r = js::get(o, "retry");
    if !(r.is_undefined() || r.is_null()) {
        if !r.is_object() {
            return Err(type_error(&["option `retry` must be an object, got ", &describe(&r)].concat()));
        }
        check_keys(&r, RETRY, "retry.")?;
        if let Some(m) = non_negative(&r, "maxRetries", "retry.")? {
            if m.fract() != 0.0 || m > 20.0 {
                return Err(type_error("option `retry.maxRetries` must be an integer from 0 to 20"));
            }
            retry.max_retries = m as u32;
        }
        retry.base_delay_ms = non_negative(&r, "baseDelayMs", "retry.")?.unwrap_or(retry.base_delay_ms);
        retry.max_delay_ms = non_negative(&r, "maxDelayMs", "retry.")?.unwrap_or(retry.max_delay_ms);
        retry.idempotency_key = flag(&r, "idempotencyKey", "retry.")?.unwrap_or(false);
    }
    let rl = js::get(o, "rateLimit");
    let rate_limit = if rl.is_undefined() || rl.is_null() || rl.as_bool() == Some(false) {
        None
    } else {
        if !rl.is_object() {
            return Err(type_error(&["option `rateLimit` must be { requestsPerSecond, burst? }, got ", &describe(&rl)].concat()));
        }
        check_keys(&rl, RATE, "rateLimit.")?;
        let rps = non_negative(&rl, "requestsPerSecond", "rateLimit.")?
            .filter(|v| *v > 0.0)
            .ok_or_else(|| type_error("option `rateLimit.requestsPerSecond` must be a number > 0"))?;
        let burst = non_negative(&rl, "burst", "rateLimit.")?.unwrap_or(1.0);
        if burst < 1.0 {
            return Err(type_error("option `rateLimit.burst` must be a number >= 1"));
        }
        Some((rps, burst.floor()))
    };
    Ok(Options {
        refresh: refresher(&js::get(o, "refresh"))?,
        storage,
        storage_key: text(o, "storageKey", "")?.unwrap_or_else(|| "sessionguard".into()),
        origins: origins(o)?,
        leeway_ms: non_negative(o, "refreshLeewaySeconds", "")?.unwrap_or(30.0) * 1000.0,
        retry,
        rate_limit,
        cross_tab: flag(o, "crossTab", "")?.unwrap_or(true),
        user_info_ttl_ms: non_negative(o, "userInfoTtlSeconds", "")?.unwrap_or(300.0) * 1000.0,
        expire_on_transient: flag(o, "expireOnTransientFailure", "")?.unwrap_or(false),
    })
}
