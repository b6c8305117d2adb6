//! One attempt at the token endpoint, in the form the `refresh` option gives; what the answer
//! means is the core's rule ([`crate::core::refresh_answer`]). Every form is bounded (30 s);
//! the function form gets an `AbortSignal` that aborts at that limit.

use js_sys::{Function, Object, Promise};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;
use web_sys::{AbortController, Response};

use super::driver;
use super::errors::describe;
use super::http::{self, Answer, ATTEMPT_TIMEOUT_MS};
use super::js;
use super::options::Refresher;
use super::read;
use super::state::Inner;
use super::wait;
use super::write::{self, Out};
use crate::core::own::{Judged, OwnRequest};
use crate::core::refresh_answer::{
    classify_cognito, classify_oauth2, classify_rejection, classify_resolved, CognitoBody, EndpointAnswer, RefreshVerdict,
};
use crate::core::token::TokenInput;

/// What the core's classifiers read of an answer: the error the form names, and its body read
/// as `B`.
fn answer_of<'a, B>(a: &'a Answer, error_type: Option<&'a str>, body: Option<&'a B>) -> EndpointAnswer<'a, B> {
    EndpointAnswer { status: a.status, retry_after: a.retry_after.as_deref(), error_type, body }
}

/// What Cognito's answer means, by the `cognito` form's rules (refresh and revocation).
pub fn cognito_verdict(a: &Answer) -> RefreshVerdict {
    let parsed = read::object(&a.json).map(|o| CognitoBody::read(&o));
    classify_cognito(answer_of(a, a.error_type.as_deref(), parsed.as_ref()), js::now())
}

/// What a token endpoint's answer means, by the `oauth2` form's rules (refresh, code exchange,
/// revocation).
pub fn oauth2_verdict(a: &Answer) -> RefreshVerdict {
    let body = read::object(&a.json).map(|o| TokenInput::read(&o));
    // the error this form names is the body's `error`
    let error = js::get_str(&a.json, "error");
    classify_oauth2(answer_of(a, error.as_deref(), body.as_ref()), js::now())
}

/// One attempt: the verdict, and the HTTP status seen (0: none). `url`: where the server forms
/// send it (the token endpoint, or Cognito's API). `req`: the flight's own request (its one
/// DPoP nonce resend lasts the whole flight); its retries are the session's, so every answer
/// is final here.
pub async fn attempt(inner: &Inner, req: &mut OwnRequest, url: &str, refresh_token: &str) -> (RefreshVerdict, u16) {
    let server = &inner.opts.server;
    let client_id = server.client_id.as_str();
    let (body, headers, proof, cognito) = match &inner.opts.refresh {
        Refresher::None => return (RefreshVerdict::Terminal, 0),
        Refresher::Function(f) => return call_function(f, refresh_token).await,
        Refresher::OAuth2 => {
            let mut form = vec![("grant_type", "refresh_token"), ("refresh_token", refresh_token), ("client_id", client_id)];
            if let Some(s) = &server.scope {
                form.push(("scope", s));
            }
            (http::form_body(&form), http::FORM, inner.proof(None), false)
        }
        Refresher::Cognito { .. } => {
            let params = [("REFRESH_TOKEN", Out::Str(refresh_token))];
            let body = write::json(&[
                ("AuthFlow", Out::Str("REFRESH_TOKEN_AUTH")),
                ("ClientId", Out::Str(client_id)),
                ("AuthParameters", Out::Obj(&params)),
            ]);
            (body, cognito_headers("InitiateAuth"), None, true)
        }
    };
    let Some(fetch) = inner.fetch_fn() else {
        return (RefreshVerdict::Transient { retry_after_ms: None }, 0);
    };
    let body = JsValue::from_str(&body);
    let mut status = 0;
    // disposed meanwhile: the flight is over, this verdict is dropped
    let mut verdict = RefreshVerdict::Transient { retry_after_ms: None };
    let _ = driver::own(
        inner,
        req,
        &inner.opts.retry,
        url,
        &mut |ms| Box::pin(http::send(&fetch, url, "POST", &headers, body.clone(), proof, ms)),
        &mut |a| {
            status = a.status;
            verdict = if cognito { cognito_verdict(a) } else { oauth2_verdict(a) };
            Judged::Done(())
        },
    )
    .await;
    (verdict, status)
}

pub fn cognito_headers(action: &'static str) -> [(&'static str, &'static str); 2] {
    let target = match action {
        "GetUser" => "AWSCognitoIdentityProviderService.GetUser",
        "RevokeToken" => "AWSCognitoIdentityProviderService.RevokeToken",
        _ => "AWSCognitoIdentityProviderService.InitiateAuth",
    };
    [("Content-Type", "application/x-amz-json-1.1"), ("X-Amz-Target", target)]
}

/// The function form: `refresh(refreshToken, { signal })`. Bounded as a request is: the
/// function's promise and the body of a `Response` it resolves with, 30 s in all.
async fn call_function(f: &Function, refresh_token: &str) -> (RefreshVerdict, u16) {
    let ctl = AbortController::new().ok();
    let ctx = Object::new();
    if let Some(c) = &ctl {
        js::set(&ctx, "signal", &c.signal());
    }
    let result = match f.call2(&JsValue::UNDEFINED, &JsValue::from_str(refresh_token), &ctx) {
        Ok(v) => {
            let p = Promise::resolve(&v);
            wait::within(ATTEMPT_TIMEOUT_MS, async {
                let v = JsFuture::from(p).await?;
                Ok(match v.dyn_ref::<Response>() {
                    Some(res) => wait::Either::B(http::read(res).await),
                    None => wait::Either::A(v),
                })
            })
            .await
        }
        Err(e) => Some(Err(e)),
    };
    let Some(result) = result else {
        if let Some(c) = ctl {
            c.abort();
        }
        return (RefreshVerdict::Transient { retry_after_ms: None }, 0);
    };
    match result {
        // a `Response`, read
        Ok(wait::Either::B(a)) => (oauth2_verdict(&a), a.status),
        Ok(wait::Either::A(v)) => {
            let verdict = classify_resolved(read::value(&v), || describe(&v));
            let status = if matches!(verdict, RefreshVerdict::Tokens(_)) { 200 } else { 0 };
            (verdict, status)
        }
        Err(err) => {
            // fetch errors carry `status`, axios errors `response.status`
            let status = js::get_f64(&err, "status").or_else(|| js::get_f64(&js::get(&err, "response"), "status"));
            let terminal = js::get(&err, "terminal").as_bool() == Some(true);
            let v = classify_rejection(status, terminal, js::get_f64(&err, "retryAfterMs"));
            (v, status.filter(|s| (0.0..1000.0).contains(s)).map_or(0, |s| s as u16))
        }
    }
}
