//! One attempt at the token endpoint, in the form the `refresh` option gives, turned into the
//! core's [`RefreshVerdict`]. Every form is bounded (30 s); the function form gets an
//! `AbortSignal` that aborts at that limit.

use js_sys::{Function, Object, Promise};
use serde::de::DeserializeOwned;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;
use web_sys::{AbortController, Response};

use super::errors::describe;
use super::http::{self, Answer, ATTEMPT_TIMEOUT_MS};
use super::js;
use super::options::Refresher;
use super::wait;
use crate::core::refresh_answer::{classify_cognito, classify_oauth2, classify_rejection, CognitoBody, EndpointAnswer, RefreshVerdict};
use crate::core::token::TokenInput;

/// The verdict, the HTTP status seen (0: none), and a description of a programming error in a
/// custom refresher, to report once.
pub struct Attempt {
    pub verdict: RefreshVerdict,
    pub status: u16,
    pub misuse: Option<String>,
}

fn parse<T: DeserializeOwned>(v: &JsValue) -> Option<T> {
    if v.is_object() {
        serde_wasm_bindgen::from_value(v.clone()).ok()
    } else {
        None
    }
}

fn oauth2_verdict(a: &Answer) -> RefreshVerdict {
    let body: Option<TokenInput> = parse(&a.json);
    classify_oauth2(
        EndpointAnswer {
            status: a.status,
            retry_after: a.retry_after.as_deref(),
            error_type: a.error_type.as_deref(),
            body: body.as_ref(),
        },
        js::now(),
    )
}

fn attempt_of(verdict: RefreshVerdict, status: u16) -> Attempt {
    Attempt { verdict, status, misuse: None }
}

pub async fn attempt(refresher: &Refresher, fetch: &Function, refresh_token: &str) -> Attempt {
    match refresher {
        Refresher::None => attempt_of(RefreshVerdict::Terminal, 0),
        Refresher::OAuth2 { token_url, client_id, scope, .. } => {
            let form = web_sys::UrlSearchParams::new().ok();
            let body = form.map(|f| {
                f.append("grant_type", "refresh_token");
                f.append("refresh_token", refresh_token);
                f.append("client_id", client_id);
                if let Some(s) = scope {
                    f.append("scope", s);
                }
                String::from(f.to_string())
            });
            let headers = [("Content-Type", "application/x-www-form-urlencoded"), ("Accept", "application/json")];
            let a = http::send(fetch, token_url, "POST", &headers, body.as_deref()).await;
            attempt_of(oauth2_verdict(&a), a.status)
        }
        Refresher::Cognito { client_id, endpoint } => {
            let body = js::to_json(&InitiateAuth {
                auth_flow: "REFRESH_TOKEN_AUTH",
                client_id,
                auth_parameters: AuthParameters { refresh_token },
            });
            let a = http::send(fetch, endpoint, "POST", &cognito_headers("InitiateAuth"), Some(&body)).await;
            let parsed: Option<CognitoBody> = parse(&a.json);
            let v = classify_cognito(
                EndpointAnswer {
                    status: a.status,
                    retry_after: a.retry_after.as_deref(),
                    error_type: a.error_type.as_deref(),
                    body: parsed.as_ref(),
                },
                js::now(),
            );
            attempt_of(v, a.status)
        }
        Refresher::Function(f) => call_function(f, refresh_token).await,
    }
}

#[derive(serde::Serialize)]
#[serde(rename_all = "PascalCase")]
struct InitiateAuth<'a> {
    auth_flow: &'a str,
    client_id: &'a str,
    auth_parameters: AuthParameters<'a>,
}

#[derive(serde::Serialize)]
struct AuthParameters<'a> {
    #[serde(rename = "REFRESH_TOKEN")]
    refresh_token: &'a str,
}

pub fn cognito_headers(action: &'static str) -> [(&'static str, &'static str); 2] {
    let target = match action {
        "GetUser" => "AWSCognitoIdentityProviderService.GetUser",
        _ => "AWSCognitoIdentityProviderService.InitiateAuth",
    };
    [("Content-Type", "application/x-amz-json-1.1"), ("X-Amz-Target", target)]
}

/// The function form: `refresh(refreshToken, { signal })`.
async fn call_function(f: &Function, refresh_token: &str) -> Attempt {
    let ctl = AbortController::new().ok();
    let ctx = Object::new();
    if let Some(c) = &ctl {
        js::set(&ctx, "signal", &c.signal());
    }
    let result = match f.call2(&JsValue::UNDEFINED, &JsValue::from_str(refresh_token), &ctx) {
        Ok(v) => {
            let p = Promise::resolve(&v);
            match (wait::Race { a: Box::pin(JsFuture::from(p)), b: wait::sleep(ATTEMPT_TIMEOUT_MS) }).await {
                wait::Either::A(r) => Some(r),
                wait::Either::B(()) => None,
            }
        }
        Err(e) => Some(Err(e)),
    };
    let Some(result) = result else {
        if let Some(c) = ctl {
            c.abort();
        }
        return attempt_of(RefreshVerdict::Transient { retry_after_ms: None }, 0);
    };
    match result {
        Ok(v) => resolved(v).await,
        Err(err) => {
            // fetch errors carry `status`, axios errors `response.status`
            let status = js::get_f64(&err, "status").or_else(|| js::get_f64(&js::get(&err, "response"), "status"));
            let terminal = js::get(&err, "terminal").as_bool() == Some(true);
            let v = classify_rejection(status, terminal, js::get_f64(&err, "retryAfterMs"));
            attempt_of(v, status.filter(|s| (0.0..1000.0).contains(s)).map_or(0, |s| s as u16))
        }
    }
}

/// What a refresh function resolved with: a token set (either spelling), or a `Response`.
async fn resolved(v: JsValue) -> Attempt {
    if let Some(res) = v.dyn_ref::<Response>() {
        let a = http::read(res).await;
        return attempt_of(oauth2_verdict(&a), a.status);
    }
    match parse::<TokenInput>(&v) {
        Some(t) if t.access_token.is_some() => attempt_of(RefreshVerdict::Tokens(t), 200),
        _ => Attempt {
            verdict: RefreshVerdict::Transient { retry_after_ms: None },
            status: 0,
            misuse: Some(
                [
                    "the `refresh` function resolved with ",
                    &describe(&v),
                    "; it must resolve with a TokenSet ({ accessToken, refreshToken?, expiresIn? }), an OAuth2 token answer ({ access_token, ... }) or a fetch Response, and reject (with `status` 400/401 or `terminal: true` when the refresh token is dead) on failure",
                ]
                .concat(),
            ),
        },
    }
}
