//! `userInfo()`: Cognito `GetUser` or the OIDC `userInfoUrl`, as an ordinary call of the driver
//! (so it backs off when throttled and goes through the 401 rule). Its cache and single flight
//! are the core's ([`crate::core::userinfo`]); here are the promise, the cached value and the
//! request.

use std::cell::Cell;
use std::rc::Rc;

use js_sys::{Object, Promise};
use wasm_bindgen::prelude::*;

use super::driver::{self, Resume, Sent};
use super::errors::{type_error, user_info};
use super::http::{self, ATTEMPT_TIMEOUT_MS};
use super::js;
use super::options::Refresher;
use super::read;
use super::refresher::cognito_headers;
use super::state::Inner;
use super::wait;
use super::write::{self, Out};
use crate::core::call::Call;
use crate::core::dpop;
use crate::core::userinfo::{status_for_rules, CognitoUser, UserInfoStep};

/// `userInfo()`: the cached answer, the request in flight, or a new request.
pub fn user_info_promise(inner: &Rc<Inner>) -> Promise {
    if let Err(e) = inner.live() {
        return Promise::reject(&e);
    }
    let now = js::now();
    let ttl = inner.opts.user_info_ttl_ms;
    let (cached, pending) = inner.user_info_handles();
    let epoch = match inner.with(|s| s.user_info(now, ttl)) {
        UserInfoStep::Cached => return Promise::resolve(&cached),
        UserInfoStep::Join => match pending {
            Some(p) => return p,
            None => return Promise::reject(&type_error("userInfo(): the request in flight was lost")),
        },
        UserInfoStep::Start(epoch) => epoch,
    };
    let me = inner.clone();
    let p = wait::promise(async move {
        let r = fetch(&me).await;
        let now = js::now();
        let answered_with = r.as_ref().ok().map(|(_, gen)| *gen);
        if me.with(|s| s.user_info_done(epoch, answered_with, now)) {
            if let Ok((v, _)) = &r {
                me.set_user_info(v.clone());
            }
        }
        r.map(|(v, _)| v)
    });
    inner.set_user_info_pending(Some(p.clone()));
    p
}

/// The answer, and the generation of the token it was fetched with.
async fn fetch(inner: &Inner) -> Result<(JsValue, u32), JsValue> {
    let (url, cognito) = match &inner.opts.refresh {
        Refresher::Cognito { endpoint } => (Some(endpoint.clone()), true),
        // named, else the issuer's discovered `userinfo_endpoint`
        Refresher::OAuth2 => (inner.endpoint(|e| e.userinfo.as_ref()).await, false),
        _ => (None, false),
    };
    let Some(url) = url else {
        return Err(type_error("userInfo() needs `refresh` of `type: \"cognito\"`, or `\"oauth2\"` with `userInfoUrl` (or `issuer`)"));
    };
    let fetch = inner.fetch_fn().ok_or_else(|| type_error("there is no fetch here"))?;
    let mut call = inner.with(|s| Call::new(s, "GET", false));
    // the HTTP status of the last answer (the rules may have read it as another)
    let status = Cell::new(0u16);
    let status = &status;
    let json = driver::drive(inner, &mut call, None, &url, Resume::Ask, &mut |_bearer, _key| {
        let (url, fetch) = (url.clone(), fetch.clone());
        let (token, _) = inner.access_token().unwrap_or_default();
        let bound = inner.bound_token();
        Box::pin(async move {
            let a = if cognito {
                let body = write::json(&[("AccessToken", Out::Str(&token))]);
                http::send(&fetch, &url, "POST", &cognito_headers("GetUser"), JsValue::from_str(&body), None, ATTEMPT_TIMEOUT_MS).await
            } else {
                let bearer = [dpop::scheme(bound.is_some()), &token].concat();
                let headers = [("Authorization", bearer.as_str()), ("Accept", "application/json")];
                // a nonce challenge goes to the call's rules (its one resend, whatever its retries)
                let proof = bound.as_deref().and_then(|t| inner.proof(Some(t)));
                http::send(&fetch, &url, "GET", &headers, JsValue::UNDEFINED, proof, ATTEMPT_TIMEOUT_MS).await
            };
            if let Some(why) = a.failure {
                return Sent::NetworkError(user_info(0, why));
            }
            status.set(a.status);
            let error_type = a.error_type.clone().or_else(|| js::aws_error_type(&a.json));
            let rules_status = status_for_rules(a.status, error_type.as_deref());
            let dpop = bound.is_some().then(|| (a.www_authenticate.clone(), a.fresh));
            Sent::Answer { retry_after: a.retry_after, error_type, status: rules_status, value: Ok(a.json), dpop }
        })
    })
    .await?;
    let status = status.get();
    if !(200..300).contains(&status) {
        return Err(user_info(status, &["the endpoint answered HTTP ", &js::number_text(f64::from(status))].concat()));
    }
    let Some(obj) = read::object(&json) else {
        return Err(user_info(status, "the answer is not a JSON object"));
    };
    // the generation of the token the answer is for: the call's last send
    let sent_gen = call.sent_generation().unwrap_or(0);
    if !cognito {
        return Ok((json, sent_gen));
    }
    let flat = Object::new();
    for (k, v) in CognitoUser::read(&obj).flatten() {
        js::set(&flat, k, &JsValue::from_str(v));
    }
    // the raw answer stays reachable, out of the way of JSON and spreads
    let desc = Object::new();
    js::set(&desc, "value", &json);
    let _ = Object::define_property(&flat, &JsValue::from_str("raw"), &desc);
    Ok((flat.into(), sent_gen))
}
