//! `logout({ revoke, redirect })`: the session ends here at once (the core's
//! [`Session::logout_ending`](crate::core::session::Session::logout_ending)); then the refresh
//! token is revoked at the server (RFC 7009, or Cognito's `RevokeToken`) as one of the
//! library's own requests, retried with backoff when throttled; then `session-expired` says
//! whether it was; then, with `redirect`, the page goes to the server's end-session endpoint.
//! What the answers mean is the core's rule ([`crate::core::signout`]).

use std::rc::Rc;

use js_sys::Promise;
use wasm_bindgen::prelude::*;

use super::driver;
use super::errors::type_error;
use super::http;
use super::js;
use super::options::{logout_options, Refresher};
use super::refresher::{cognito_headers, cognito_verdict, oauth2_verdict};
use super::state::Inner;
use super::wait;
use super::write::{self, Out};
use crate::core::discovery::Endpoints;
use crate::core::own::OwnRequest;
use crate::core::session::Ending;
use crate::core::signout::{end_session_query, judge, may_send_token};

/// `logout(options)`: ends the session here at once; the promise settles when the server's
/// part is done (at once for a plain logout). Bad options reject, and end nothing.
pub fn logout(inner: &Rc<Inner>, options: &JsValue) -> Promise {
    let (revoke, redirect) = match logout_options(options) {
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
        // the endpoints once (discovered, when the options name an issuer)
        let endpoints = inner.endpoints().await.ok();
        let request = match &ending {
            Some(e) if revoke => revocation(&inner, e, endpoints.as_deref()),
            _ => None,
        };
        let revoked = match request {
            Some(r) => revoke_token(&inner, r).await,
            None => false,
        };
        let id_token = ending.as_ref().and_then(|e| e.id_token.clone());
        if let Some(e) = ending {
            inner.with(|s| s.logout_done(e, revoked));
        }
        if redirect {
            end_session(&inner, endpoints.as_deref(), id_token.as_deref())?;
        }
        Ok(JsValue::UNDEFINED)
    })
}

/// The origin of `url`, resolved against the page.
fn origin(url: &str) -> String {
    js::resolved(url, "origin").unwrap_or_default()
}

/// A revocation request: where, its headers and body, and whether it is Cognito's.
struct Request {
    url: String,
    headers: [(&'static str, &'static str); 2],
    body: String,
    cognito: bool,
}

/// The request that revokes the ending session's refresh token, if one can be sent.
fn revocation(inner: &Inner, ending: &Ending, endpoints: Option<&Endpoints>) -> Option<Request> {
    let token = ending.refresh_token.as_deref()?;
    let client_id = inner.opts.server.client_id.as_str();
    match &inner.opts.refresh {
        Refresher::Cognito { endpoint } => {
            let body = write::json(&[("Token", Out::Str(token)), ("ClientId", Out::Str(client_id))]);
            Some(Request { url: endpoint.clone(), headers: cognito_headers("RevokeToken"), body, cognito: true })
        }
        Refresher::OAuth2 => {
            let e = endpoints?;
            let (Some(url), Some(token_url)) = (e.revocation.as_ref(), e.token.as_ref()) else {
                js::warn("logout({ revoke }): no revocation endpoint (`revocationUrl`)");
                return None;
            };
            // a refresh token goes only where it came from
            if !may_send_token(&origin(token_url), &origin(url)) {
                js::warn("logout({ revoke }): the revocation endpoint is on another origin than the token endpoint: not sent");
                return None;
            }
            let body = http::form_body(&[("token", token), ("token_type_hint", "refresh_token"), ("client_id", client_id)]);
            Some(Request { url: url.clone(), headers: http::FORM, body, cognito: false })
        }
        _ => None,
    }
}

/// Sends a revocation, retried with backoff while the server is throttled or overloaded (its
/// core machine and rule); true if the server says it revoked.
async fn revoke_token(inner: &Inner, r: Request) -> bool {
    let Some(fetch) = inner.fetch_fn() else { return false };
    let proof = if r.cognito { None } else { inner.proof(None) };
    let body = JsValue::from_str(&r.body);
    let mut req = OwnRequest::new();
    let mut revoked = false;
    let _ = driver::own(
        inner,
        &mut req,
        &inner.opts.retry,
        &r.url,
        &mut |ms| Box::pin(http::send(&fetch, &r.url, "POST", &r.headers, body.clone(), proof, ms)),
        // an error answer is judged by the refresh rules of its form
        &mut |a| {
            let (judged, done) = judge(a.status, || if r.cognito { cognito_verdict(a) } else { oauth2_verdict(a) }).split();
            revoked = done;
            judged
        },
    )
    .await;
    revoked
}

/// To the server's end-session endpoint.
fn end_session(inner: &Inner, endpoints: Option<&Endpoints>, id_token: Option<&str>) -> Result<(), JsValue> {
    let server = &inner.opts.server;
    let cognito = matches!(inner.opts.refresh, Refresher::Cognito { .. });
    let Some(endpoint) = endpoints.and_then(|e| e.end_session.as_ref()) else {
        return Err(type_error("logout({ redirect }): no end-session endpoint (`issuer`, `endSessionUrl`, Cognito's `domain`)"));
    };
    // Cognito's `/logout` needs where to go back to; OpenID's has the server's own page
    let after = server.post_logout_redirect_uri.clone().or_else(|| {
        let page = || js::page_origin().map(|o| o + "/");
        cognito.then(|| server.redirect_uri.clone().or_else(page)).flatten()
    });
    let url = web_sys::Url::new(endpoint)?;
    let q = url.search_params();
    for (k, v) in end_session_query(cognito, &server.client_id, id_token, after.as_deref()) {
        q.append(k, v);
    }
    let loc = js::global_object::<web_sys::Location>("location").ok_or_else(|| type_error("logout({ redirect }): no page to navigate"))?;
    loc.assign(&url.href())
}
