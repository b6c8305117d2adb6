//! One attempt at the token endpoint, in each of the three forms of the `refresh` option.
//! The answer is handed to the core's classifiers as it came; this module decides nothing.
//!
//! Every attempt has a 30 s timeout: a hanging token endpoint must not leave every call
//! waiting forever. A timeout, like any network error, is transient.

use js_sys::{Function, Promise};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::Response;

use super::js::{get, global_fetch, object, timeout_signal};
use super::options::Refresh;
use crate::core::json::write_str;
use crate::core::refresh_answer::{classify_cognito, classify_oauth2, classify_rejection, RefreshVerdict};
use crate::core::token::TokenInput;

const ATTEMPT_TIMEOUT_MS: f64 = 30_000.0;

fn transient() -> RefreshVerdict {
    RefreshVerdict::Transient { retry_after_ms: None }
}

/// A `TokenSet` object from JS, read leniently: a field of the wrong type is missing, and the
/// session decides whether what is left is usable.
pub fn token_input(v: &JsValue) -> TokenInput {
    let num = |k| get(v, k).as_f64().filter(|n| n.is_finite());
    TokenInput {
        access_token: get(v, "accessToken").as_string(),
        refresh_token: get(v, "refreshToken").as_string(),
        id_token: get(v, "idToken").as_string(),
        expires_in: num("expiresIn"),
        expires_at: num("expiresAt"),
    }
}

pub async fn attempt(refresh: &Refresh, refresh_token: &str) -> RefreshVerdict {
    match refresh {
        Refresh::None => RefreshVerdict::Terminal,
        Refresh::Function(f) => call_function(f, refresh_token).await,
        Refresh::OAuth2 { token_url, client_id, scope, .. } => {
            let form = web_sys::UrlSearchParams::new().ok();
            let Some(form) = form else { return transient() };
            form.append("grant_type", "refresh_token");
            form.append("refresh_token", refresh_token);
            form.append("client_id", client_id);
            if let Some(s) = scope {
                form.append("scope", s);
            }
            let headers = object(&[("Content-Type", "application/x-www-form-urlencoded".into()), ("Accept", "application/json".into())]);
            match post(token_url, &headers, &form.into()).await {
                Some((status, _, retry_after, body)) => classify_oauth2(status, retry_after.as_deref(), &body, super::js::now()),
                None => transient(),
            }
        }
        Refresh::Cognito { endpoint, client_id } => {
            let mut body = String::from("{\"AuthFlow\":\"REFRESH_TOKEN_AUTH\",\"ClientId\":");
            write_str(&mut body, client_id);
            body.push_str(",\"AuthParameters\":{\"REFRESH_TOKEN\":");
            write_str(&mut body, refresh_token);
            body.push_str("}}");
            match post(endpoint, &cognito_headers("InitiateAuth"), &body.into()).await {
                Some((status, error_type, retry_after, text)) => {
                    classify_cognito(status, error_type.as_deref(), retry_after.as_deref(), &text, super::js::now())
                }
                None => transient(),
            }
        }
    }
}

pub fn cognito_headers(action: &str) -> JsValue {
    object(&[
        ("Content-Type", "application/x-amz-json-1.1".into()),
        ("X-Amz-Target", ["AWSCognitoIdentityProviderService.", action].concat().into()),
    ])
}

async fn call_function(f: &Function, refresh_token: &str) -> RefreshVerdict {
    let result = match f.call1(&JsValue::UNDEFINED, &refresh_token.into()) {
        Ok(v) => JsFuture::from(Promise::resolve(&v)).await,
        Err(e) => Err(e),
    };
    match result {
        Ok(v) if v.is_object() => RefreshVerdict::Tokens(token_input(&v)),
        Ok(_) => transient(),
        Err(e) => classify_rejection(get(&e, "status").as_f64(), get(&e, "terminal").as_bool() == Some(true), get(&e, "retryAfterMs").as_f64()),
    }
}

/// POSTs `body` and reads the whole answer: `(status, x-amzn-ErrorType, Retry-After, body)`.
/// `None` for a network error or timeout.
pub async fn post(url: &str, headers: &JsValue, body: &JsValue) -> Option<(u16, Option<String>, Option<String>, String)> {
    let init = object(&[
        ("method", "POST".into()),
        ("headers", headers.clone()),
        ("body", body.clone()),
        ("credentials", "omit".into()),
        ("cache", "no-store".into()),
        ("signal", timeout_signal(ATTEMPT_TIMEOUT_MS)),
    ]);
    send(url, &init).await
}

pub async fn send(url: &str, init: &JsValue) -> Option<(u16, Option<String>, Option<String>, String)> {
    let resp = JsFuture::from(global_fetch(&url.into(), init).ok()?).await.ok()?;
    let resp: Response = resp.dyn_into().ok()?;
    let h = resp.headers();
    let error_type = h.get("x-amzn-errortype").ok().flatten();
    let retry_after = h.get("retry-after").ok().flatten();
    let text = JsFuture::from(resp.text().ok()?).await.ok()?.as_string().unwrap_or_default();
    Some((resp.status(), error_type, retry_after, text))
}
