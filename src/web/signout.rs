//! `logout({ revoke, redirect })`: the session ends here at once (the core's
//! [`Session::logout_ending`](crate::core::session::Session::logout_ending)); then the refresh
//! token is revoked at the server (RFC 7009, or Cognito's `RevokeToken`) as one of the
//! library's own requests, retried with backoff when throttled; then `session-expired` says
//! whether it was; then, with `redirect`, the page goes to the server's end-session endpoint.
//! What the answers mean is the core's rule ([`crate::core::signout`]).

use std::rc::Rc;

use js_sys::Promise;
use wasm_bindgen::prelude::*;

use super::errors::{describe, type_error};
use super::http::{self, Answer};
use super::js;
use super::options::{Check, Refresher};
use super::read;
use super::refresher::cognito_headers;
use super::state::Inner;
use super::wait;
use super::write::{self, Out};
use crate::core::refresh_answer::{classify_cognito, classify_oauth2, CognitoBody, EndpointAnswer};
use crate::core::session::Ending;
use crate::core::signout::{end_session_query, judge, may_send_token, Revocation};
use crate::core::token::TokenInput;

/// What `logout(options)` was asked: revoke at the server, then redirect to it.
fn asked(options: &JsValue) -> Result<(bool, bool), JsValue> {
    if options.is_undefined() || options.is_null() {
        return Ok((false, false));
    }
    if !options.is_object() || options.is_function() {
        return Err(type_error(&["logout() takes { revoke?, redirect? }, got ", &describe(options)].concat()));
    }
    let mut c = Check::new();
    c.keys(options, &["revoke", "redirect"], "logout.");
    let revoke = c.flag(options, "revoke", "logout.").unwrap_or(false);
    let redirect = c.flag(options, "redirect", "logout.").unwrap_or(false);
    c.finish((revoke, redirect))
}

/// `logout(options)`: ends the session here at once; the promise settles when the server's
/// part is done (at once for a plain logout). Bad options reject, and end nothing.
pub fn logout(inner: &Rc<Inner>, options: &JsValue) -> Promise {
    let (revoke, redirect) = match asked(options) {
        Ok(a) => a,
        Err(e) => return Promise::reject(&e),
    };
    let ending = inner.with(|s| {
        let e = if revoke || redirect { s.logout_ending() } else { None };
        if e.is_none() {
            s.logout(); // plain, or no session: storage is cleared all the same
        }
        e
    });
    if ending.is_none() && !redirect {
        return Promise::resolve(&JsValue::UNDEFINED);
    }
    let inner = inner.clone();
    wait::promise(async move {
        let revoked = match &ending {
            Some(e) if revoke => revoke_token(&inner, e).await,
            _ => false,
        };
        let id_token = ending.as_ref().and_then(|e| e.id_token.clone());
        if let Some(e) = ending {
            inner.with(|s| s.logout_done(e, revoked));
        }
        if redirect {
            end_session(&inner, id_token.as_deref()).await?;
        }
        Ok(JsValue::UNDEFINED)
    })
}

/// The origin of `url`, resolved against the page.
fn origin(url: &str) -> String {
    js::resolve_url(url).and_then(|u| js::get_str(&u, "origin")).unwrap_or_default()
}

/// Revokes the ending session's refresh token; true if the server says it did.
async fn revoke_token(inner: &Inner, ending: &Ending) -> bool {
    let (Some(token), Some(fetch)) = (ending.refresh_token.as_deref(), inner.fetch_fn()) else {
        return false;
    };
    let client_id = inner.opts.server.client_id.as_str();
    let (url, headers, body, cognito) = match &inner.opts.refresh {
        Refresher::Cognito { endpoint, .. } => {
            let body = write::json(&[("Token", Out::Str(token)), ("ClientId", Out::Str(client_id))]);
            (endpoint.clone(), cognito_headers("RevokeToken"), body, true)
        }
        Refresher::OAuth2 { .. } => {
            let Ok(e) = inner.endpoints().await else { return false };
            let (Some(url), Some(token_url)) = (e.revocation.clone(), e.token.clone()) else {
                js::warn("logout({ revoke }): no revocation endpoint (`revocationUrl`)");
                return false;
            };
            // a refresh token goes only where it came from
            if !may_send_token(&origin(&token_url), &origin(&url)) {
                js::warn("logout({ revoke }): the revocation endpoint is on another origin than the token endpoint: not sent");
                return false;
            }
            let body = http::form_body(&[("token", token), ("token_type_hint", "refresh_token"), ("client_id", client_id)]);
            (url, http::FORM, body, false)
        }
        _ => return false,
    };
    let mut attempt = 0;
    loop {
        let a = http::send(&fetch, &url, "POST", &headers, Some(&body)).await;
        match judge(a.status, || verdict(&a, cognito)) {
            Revocation::Revoked => return true,
            Revocation::Refused => return false,
            Revocation::Transient { retry_after_ms } => match inner.opts.retry.retry_in(attempt, js::random(), retry_after_ms) {
                Some(delay) => {
                    attempt += 1;
                    inner.emit_retry(&url, a.status, attempt, delay, true);
                    wait::sleep(delay).await;
                }
                None => return false,
            },
        }
    }
}

/// An error answer, judged by the refresh rules of its form.
fn verdict(a: &Answer, cognito: bool) -> crate::core::refresh_answer::RefreshVerdict {
    let now = js::now();
    if cognito {
        let body = read::object(&a.json).map(|o| CognitoBody::read(&o));
        let e = EndpointAnswer {
            status: a.status,
            retry_after: a.retry_after.as_deref(),
            error_type: a.error_type.as_deref(),
            body: body.as_ref(),
        };
        classify_cognito(e, now)
    } else {
        let e: EndpointAnswer<'_, TokenInput> =
            EndpointAnswer { status: a.status, retry_after: a.retry_after.as_deref(), error_type: None, body: None };
        classify_oauth2(e, now)
    }
}

/// To the server's end-session endpoint.
async fn end_session(inner: &Inner, id_token: Option<&str>) -> Result<(), JsValue> {
    let server = &inner.opts.server;
    let endpoint = inner.endpoints().await.ok().and_then(|e| e.end_session.clone());
    let Some(endpoint) = endpoint else {
        return Err(type_error("logout({ redirect }): no end-session endpoint (`issuer`, `endSessionUrl`, Cognito's `domain`)"));
    };
    let page = js::global_get("location");
    // Cognito's `/logout` needs where to go back to; OpenID's has the server's own page
    let after = server.post_logout_redirect_uri.clone().or_else(|| {
        server.cognito.then(|| server.redirect_uri.clone().or_else(|| js::get_str(&page, "origin").map(|o| o + "/"))).flatten()
    });
    let url = web_sys::Url::new(&endpoint)?;
    let q = url.search_params();
    for (k, v) in end_session_query(server.cognito, &server.client_id, id_token, after.as_deref()) {
        q.append(k, v);
    }
    let loc = js::global_object::<web_sys::Location>("location").ok_or_else(|| type_error("logout({ redirect }): no page to navigate"))?;
    loc.assign(&url.href())
}
