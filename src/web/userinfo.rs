//! `userInfo()`: the user's profile from Cognito `GetUser` or the OIDC `userInfoUrl`, cached
//! for `userInfoTtlSeconds` per access token and fetched once however many callers ask.
//! (Apps that call GetUser on every page load are one of the ways Cognito quotas run out; and
//! most of what they want is already in the ID token: see `claims("id")`.)

use std::rc::Rc;

use js_sys::Promise;
use wasm_bindgen::JsValue;
use wasm_bindgen_futures::{future_to_promise, JsFuture};

use super::inner::Inner;
use super::js::{named_error, now, object, timeout_signal, type_error};
use super::options::Refresh;
use super::refresher::{cognito_headers, post, send};
use crate::core::json::write_str;

#[derive(Default)]
pub struct Cache {
    /// (access token it was fetched with, when, value)
    value: Option<(String, f64, JsValue)>,
    pending: Option<Promise>,
}

impl Cache {
    pub fn clear(&mut self) {
        self.value = None;
        self.pending = None;
    }
}

fn failed(status: u16) -> JsValue {
    let e = named_error("UserInfoError", "sessionguard: the user-info request failed");
    super::js::set(&e, "status", &status.into());
    e
}

pub async fn user_info(inner: Rc<Inner>) -> Result<JsValue, JsValue> {
    let token = inner.access_token(&JsValue::UNDEFINED).await?;
    let (cached, pending) = {
        let c = inner.userinfo.borrow();
        let fresh = c.value.as_ref().filter(|(t, at, _)| *t == token && now() - at < inner.opts.userinfo_ttl_ms).map(|(_, _, v)| v.clone());
        (fresh, c.pending.clone())
    };
    if let Some(v) = cached {
        return Ok(v);
    }
    let p = match pending {
        Some(p) => p,
        None => {
            let me = inner.clone();
            let p = future_to_promise(async move {
                let r = fetch_user_info(&me, token).await;
                let mut c = me.userinfo.borrow_mut();
                c.pending = None;
                if let Ok((t, v)) = &r {
                    c.value = Some((t.clone(), now(), v.clone()));
                }
                r.map(|(_, v)| v)
            });
            inner.userinfo.borrow_mut().pending = Some(p.clone());
            p
        }
    };
    JsFuture::from(p).await
}

/// Fetches the profile; on a 401 (or Cognito's NotAuthorizedException) applies the 401 rule
/// once: refresh or pick up the current token, and ask again.
async fn fetch_user_info(inner: &Inner, mut token: String) -> Result<(String, JsValue), JsValue> {
    for attempt in 0..2 {
        let answer = match &inner.opts.refresh {
            Refresh::Cognito { endpoint, .. } => {
                let mut body = String::from("{\"AccessToken\":");
                write_str(&mut body, &token);
                body.push('}');
                post(endpoint, &cognito_headers("GetUser"), &body.into()).await
            }
            Refresh::OAuth2 { userinfo_url: Some(url), .. } => {
                let headers = object(&[("Authorization", ["Bearer ", &token].concat().into()), ("Accept", "application/json".into())]);
                let init = object(&[("headers", headers), ("signal", timeout_signal(30_000.0))]);
                send(url, &init).await
            }
            _ => return Err(type_error("sessionguard: userInfo() needs a `cognito` refresh or an `oauth2` refresh with `userInfoUrl`")),
        };
        let Some((status, error_type, _, body)) = answer else { return Err(failed(0)) };
        let refused = status == 401 || (status == 400 && error_type.as_deref().map(crate::core::retry::aws_error_name) == Some("NotAuthorizedException"))
            || (status == 400 && body.contains("NotAuthorizedException"));
        if (200..300).contains(&status) {
            return js_sys::JSON::parse(&body).map(|v| (token, v)).map_err(|_| failed(status));
        }
        if refused && attempt == 0 {
            let on401 = inner.session.borrow_mut().unauthorized(&token, false);
            inner.flush();
            if let crate::core::session::On401::Fail(e) = on401 {
                return Err(super::js::call_error(e));
            }
            token = inner.access_token(&JsValue::UNDEFINED).await?;
            continue;
        }
        return Err(failed(status));
    }
    Err(failed(401))
}
