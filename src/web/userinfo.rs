//! `userInfo()`: Cognito `GetUser` or the OIDC `userInfoUrl`, as an engine call (so it backs
//! off when throttled and goes through the 401 rule), cached per token and single flight. The
//! rules are in [`crate::core::userinfo`].

use std::cell::Cell;
use std::rc::Rc;

use js_sys::{Object, Promise};
use wasm_bindgen::prelude::*;

use super::calls::{drive, Pending, Sent};
use super::engine::Inner;
use super::errors::{type_error, user_info};
use super::http;
use super::js;
use super::options::Refresher;
use super::refresher::cognito_headers;
use super::wait;
use crate::core::call::Call;
use crate::core::userinfo::{status_for_rules, CognitoUser};

/// `userInfo()`: the cached answer, the request in flight, or a new request.
pub fn user_info_promise(inner: &Rc<Inner>) -> Promise {
    if let Err(e) = inner.live() {
        return Promise::reject(&e);
    }
    // the clock and `Promise.resolve` are JavaScript: neither runs with the state borrowed
    let now = js::now();
    let cached = {
        let st = inner.st.borrow();
        if st.s.is_authenticated() && st.ui.rule.fresh(st.s.token_generation(), now, inner.opts.user_info_ttl_ms) {
            Some(st.ui.value.clone())
        } else if let Some(p) = &st.ui.pending {
            return p.clone();
        } else {
            None
        }
    };
    if let Some(v) = cached {
        return Promise::resolve(&v);
    }
    let me = inner.clone();
    let epoch = {
        let mut st = inner.st.borrow_mut();
        st.ui.epoch = st.ui.epoch.wrapping_add(1);
        st.ui.epoch
    };
    let p = wait::promise(async move {
        let r = fetch(&me).await;
        let now = js::now();
        let mut st = me.st.borrow_mut();
        // a new session (setTokens, logout) started another request meanwhile: leave it be
        if st.ui.epoch == epoch {
            st.ui.pending = None;
            if let Ok((v, sent_gen)) = &r {
                st.ui.value = v.clone();
                st.ui.rule.stored(*sent_gen, now); // served only while that token is current
            }
        }
        r.map(|(v, _)| v)
    });
    inner.st.borrow_mut().ui.pending = Some(p.clone());
    p
}

/// The answer, and the generation of the token it was fetched with.
async fn fetch(inner: &Inner) -> Result<(JsValue, u32), JsValue> {
    let (url, cognito) = match &inner.opts.refresh {
        Refresher::Cognito { endpoint, .. } => (endpoint.clone(), true),
        Refresher::OAuth2 { user_info_url: Some(u), .. } => (u.clone(), false),
        _ => {
            return Err(type_error(
                "userInfo() needs `refresh: { type: \"cognito\", ... }` or `refresh: { type: \"oauth2\", userInfoUrl, ... }`",
            ))
        }
    };
    let fetch = inner.own_fetch.clone().or_else(http::global_fetch).ok_or_else(|| type_error("there is no fetch here"))?;
    let call = Call::new(&mut inner.st.borrow_mut().s, "GET", false);
    let sent_gen = Cell::new(0);
    // the HTTP status of the last answer (the rules may have read it as another)
    let status = Cell::new(0u16);
    let status = &status;
    let json = drive(inner, call, None, &url, Pending::Ask, &mut |_bearer, _key| {
        let (url, fetch) = (url.clone(), fetch.clone());
        let (token, gen) = {
            let st = inner.st.borrow();
            (st.s.tokens().map(|t| t.access.clone()).unwrap_or_default(), st.s.token_generation())
        };
        sent_gen.set(gen);
        Box::pin(async move {
            let a = if cognito {
                #[derive(serde::Serialize)]
                struct GetUser<'a> {
                    #[serde(rename = "AccessToken")]
                    access_token: &'a str,
                }
                let body = js::to_json(&GetUser { access_token: &token });
                http::send(&fetch, &url, "POST", &cognito_headers("GetUser"), Some(&body)).await
            } else {
                let bearer = ["Bearer ", &token].concat();
                http::send(&fetch, &url, "GET", &[("Authorization", bearer.as_str()), ("Accept", "application/json")], None).await
            };
            if let Some(why) = a.failure {
                return Sent::NetworkError(user_info(0, why));
            }
            status.set(a.status);
            let error_type = a.error_type.clone().or_else(|| js::aws_error_type(&a.json));
            let rules_status = status_for_rules(a.status, error_type.as_deref());
            Sent::Answer { retry_after: a.retry_after, error_type, status: rules_status, value: a.json }
        })
    })
    .await?;
    let status = status.get();
    if !(200..300).contains(&status) {
        return Err(user_info(status, &["the endpoint answered HTTP ", &status.to_string()].concat()));
    }
    if !json.is_object() {
        return Err(user_info(status, "the answer is not a JSON object"));
    }
    let sent_gen = sent_gen.get();
    if !cognito {
        return Ok((json, sent_gen));
    }
    let user: CognitoUser = serde_wasm_bindgen::from_value(json.clone()).unwrap_or_default();
    let flat = Object::new();
    for (k, v) in user.flatten() {
        js::set(&flat, k, &JsValue::from_str(v));
    }
    // the raw answer stays reachable, out of the way of JSON and spreads
    let desc = Object::new();
    js::set(&desc, "value", &json);
    let _ = Object::define_property(&flat, &JsValue::from_str("raw"), &desc);
    Ok((flat.into(), sent_gen))
}
