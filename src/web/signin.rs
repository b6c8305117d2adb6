//! `signIn()` and `handleRedirect()`: the authorization code flow with PKCE, as transport. The
//! rules (the secrets, the request, what the redirect back means, the ID token's checks) are
//! the core's ([`crate::core::signin`], [`crate::core::id_token`]); here are WebCrypto (random
//! bytes, SHA-256), `sessionStorage`, the address bar and the code exchange, which is one of
//! the library's own requests (the captured `fetch`, no redirects, 30 s), sent again only when
//! the core's [`judge_exchange`] says the server did not act on it.

use std::rc::Rc;

use js_sys::{Array, Promise, Uint8Array};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;

use super::driver;
use super::errors::{self, describe, type_error};
use super::http;
use super::js;
use super::options::Check;
use super::read;
use super::state::{claims_of, Inner};
use super::storage;
use super::wait;
use super::write::{self, Out};
use crate::core::discovery::Endpoints;
use crate::core::id_token::{self, Expected, IdClaims, IdTokenProblem};
use crate::core::own::{Judged, OwnRequest};
use crate::core::signin::{authorize_query, challenge, judge_callback, judge_exchange, Callback, Exchange, ExchangeAnswer, Failure};
use crate::core::signin::{ExchangeProblem, Pending, Secrets, CALLBACK_PARAMS, RANDOM_BYTES};
use crate::core::token::TokenInput;

const SIGN_IN: &[&str] = &["appState", "redirectUri", "scope", "returnUrl", "extraParams"];
const NOT_CONFIGURED: &str = "sign-in needs `refresh: { type: \"oauth2\", issuer, clientId }` (or `authorizationUrl` and `tokenUrl` beside `issuer`) or `{ type: \"cognito\", domain, userPoolId, clientId }`";

/// What `signIn(options)` was asked.
struct Asked {
    app_state: Option<String>,
    redirect_uri: Option<String>,
    scope: Option<String>,
    return_url: bool,
    extra: Vec<(String, String)>,
}

fn asked(o: &JsValue) -> Result<Asked, JsValue> {
    if o.is_undefined() || o.is_null() {
        return Ok(Asked { app_state: None, redirect_uri: None, scope: None, return_url: false, extra: Vec::new() });
    }
    if !o.is_object() || o.is_function() {
        return Err(type_error(
            &["signIn() takes { appState?, redirectUri?, scope?, returnUrl?, extraParams? }, got ", &describe(o)].concat(),
        ));
    }
    let mut c = Check::new();
    c.keys(o, SIGN_IN, "signIn.");
    let state = js::get(o, "appState");
    let app_state = match state.is_undefined() {
        true => None,
        false => match js_sys::JSON::stringify(&state).ok().and_then(|s| s.as_string()) {
            Some(s) => Some(s),
            None => {
                c.fail(&["signIn(): `appState` must be JSON, got ", &describe(&state)]);
                None
            }
        },
    };
    let mut extra = Vec::new();
    let params = js::get(o, "extraParams");
    if params.is_object() && !params.is_function() {
        let Some(list) = js::entries(&params) else {
            return Err(type_error("signIn(): reading `extraParams` threw"));
        };
        for entry in list.iter() {
            let pair = entry.unchecked_ref::<Array>();
            match (pair.get(0).as_string(), pair.get(1).as_string()) {
                (Some(k), Some(v)) => extra.push((k, v)),
                (k, _) => c.fail(&["signIn(): `extraParams.", &k.unwrap_or_default(), "` must be a string"]),
            }
        }
    } else if !params.is_undefined() && !params.is_null() {
        c.fail(&["signIn(): `extraParams` must hold strings, got ", &describe(&params)]);
    }
    let asked = Asked {
        app_state,
        redirect_uri: c.url(o, "redirectUri", "signIn."),
        scope: c.text(o, "scope", "signIn."),
        return_url: c.flag(o, "returnUrl", "signIn.").unwrap_or(false),
        extra,
    };
    c.finish(asked)
}

fn failed(f: Failure) -> JsValue {
    errors::sign_in(&f)
}

/// The page's address without query and fragment: the default redirect URI.
fn page_address() -> Option<String> {
    let loc = js::global_get("location");
    let mut at = js::get_str(&loc, "origin")?;
    at.push_str(&js::get_str(&loc, "pathname")?);
    Some(at)
}

/// Where this tab keeps its sign-in.
fn pending_key(inner: &Inner) -> String {
    [inner.opts.storage_key.as_str(), ":signin"].concat()
}

/// What `signIn` has before it waits: what it was asked, the secrets, and the digest of the
/// verifier in progress (WebCrypto's `digest` is asynchronous) together with, with DPoP, the
/// key's loading (`[digest, [privateKey, header] | [error]]`: one wait).
struct Started {
    asked: Asked,
    secrets: Secrets,
    digest: Promise,
}

/// The synchronous start of `signIn`: the options, WebCrypto, the secrets.
fn start(inner: &Inner, options: &JsValue) -> Result<Started, JsValue> {
    inner.live()?;
    let asked = asked(options)?;
    if inner.opts.server.client_id.is_empty() {
        return Err(failed(Failure::Unsupported(NOT_CONFIGURED)));
    }
    // getRandomValues and digest are catching bindings: see `js::global_object`
    let (Some(crypto), Some(subtle)) = (js::global_object::<web_sys::Crypto>("crypto"), js::subtle()) else {
        return Err(failed(Failure::Unsupported("signIn() needs WebCrypto (https or localhost)")));
    };
    let mut random = [0u8; RANDOM_BYTES];
    crypto.get_random_values_with_u8_array(&mut random)?;
    let secrets = Secrets::new(&random);
    let digest = subtle.digest_with_str_and_u8_array("SHA-256", secrets.verifier.as_bytes())?;
    let key = inner.dpop.as_ref().map_or(JsValue::UNDEFINED, |d| d.key().into());
    Ok(Started { asked, secrets, digest: Promise::all(&Array::of2(&digest, &key)) })
}

/// The synchronous end of `signIn`: the authorization URL, the kept record, the navigation.
fn finish(inner: &Inner, s: Started, endpoints: &Endpoints, waited: &JsValue) -> Result<JsValue, JsValue> {
    let server = &inner.opts.server;
    let Started { asked, secrets, .. } = s;
    let waited = waited.unchecked_ref::<Array>();
    // with DPoP, the key the code exchange will prove: made (or loaded) before the user leaves,
    // or the sign-in fails here with its cause, not after the whole login
    if inner.dpop.is_some() {
        let key = waited.get(1).unchecked_into::<Array>();
        if key.length() != 2 {
            let err = failed(Failure::DpopKeyUnavailable(errors::cause(&key.get(0))));
            web_sys::console::error_1(&err);
            return Err(err);
        }
    }
    let digest = waited.get(0);
    // where to sign in, and the issuer that will be checked when the user comes back
    let authorize = endpoints.authorization.as_ref().filter(|_| endpoints.issuer.is_some());
    let authorize = authorize.ok_or_else(|| failed(Failure::Unsupported(NOT_CONFIGURED)))?;
    // what `digest` resolved with is an ArrayBuffer, unless the page patched WebCrypto
    let digest = digest.dyn_ref::<js_sys::ArrayBuffer>().ok_or_else(|| type_error("crypto.subtle.digest did not give an ArrayBuffer"))?;
    let challenge = challenge(&Uint8Array::new(digest).to_vec());
    let redirect_uri = asked.redirect_uri.or_else(|| server.redirect_uri.clone()).or_else(page_address).unwrap_or_default();
    let scope = asked.scope.or_else(|| server.scope.clone()).unwrap_or_else(|| "openid".into());
    let url = web_sys::Url::new(authorize)?;
    let query = url.search_params();
    for (k, v) in authorize_query(&server.client_id, &redirect_uri, &scope, &secrets, &challenge, &asked.extra) {
        query.append(k, v);
    }
    let pending = Pending { secrets, redirect_uri, scope, app_state: asked.app_state };
    let kept = storage::session_storage().is_some_and(|s| s.set_item(&pending_key(inner), &pending_json(&pending)).is_ok());
    if !kept {
        return Err(failed(Failure::Unsupported("signIn() needs sessionStorage")));
    }
    let href = url.href();
    if !asked.return_url {
        let loc = js::global_object::<web_sys::Location>("location");
        loc.ok_or_else(|| type_error("signIn(): no page to navigate: use `returnUrl: true`"))?.assign(&href)?;
        return Ok(JsValue::UNDEFINED);
    }
    Ok(href.into())
}

/// `signIn(options)`: to the identity server's login page (or its URL, with `returnUrl`).
pub fn sign_in(inner: &Rc<Inner>, options: JsValue) -> Promise {
    let inner = inner.clone();
    wait::promise(async move {
        let started = start(&inner, &options)?;
        let endpoints = inner.endpoints().await.map_err(failed)?;
        let digest = JsFuture::from(started.digest.clone()).await?;
        finish(&inner, started, &endpoints, &digest)
    })
}

/// The kept record, as [`Pending::read`] reads it.
fn pending_json(p: &Pending) -> String {
    write::json(&[
        ("s", Out::Str(&p.secrets.state)),
        ("n", Out::Str(&p.secrets.nonce)),
        ("v", Out::Str(&p.secrets.verifier)),
        ("r", Out::Str(&p.redirect_uri)),
        ("c", Out::Str(&p.scope)),
        ("a", p.app_state.as_deref().map_or(Out::Null, Out::Str)),
    ])
}

/// The redirect back, as read: its URL, the callback's parameters, the kept sign-in.
struct Redirect {
    url: web_sys::Url,
    /// Is it the page's own address (then the address bar is cleaned)?
    here: bool,
    callback: Callback,
    pending: Option<Pending>,
}

/// The synchronous start of `handleRedirect`.
fn read_redirect(inner: &Inner, url: &JsValue) -> Result<Redirect, JsValue> {
    inner.live()?;
    let here = js::get_str(&js::global_get("location"), "href");
    let given = match url.as_string() {
        _ if url.is_undefined() || url.is_null() => here.clone(),
        Some(s) => Some(s),
        None => js::get_str(url, "href").filter(|_| url.is_object()),
    };
    let parsed = given.as_deref().and_then(|g| web_sys::Url::new(g).ok());
    let parsed = parsed.ok_or_else(|| type_error(&["handleRedirect() takes the redirect's URL, got ", &describe(url)].concat()))?;
    let q = parsed.search_params();
    let callback = Callback {
        code: q.get("code"),
        state: q.get("state"),
        error: q.get("error"),
        error_description: q.get("error_description"),
        iss: q.get("iss"),
    };
    let kept = storage::session_storage().and_then(|s| s.get_item(&pending_key(inner)).ok().flatten());
    let pending = kept.and_then(|t| read::json(&t)).and_then(|o| Pending::read(&o));
    Ok(Redirect { url: parsed, here: here.is_some() && here == given, callback, pending })
}

/// The core's judgement of the redirect: the code and the kept sign-in, or why not. A
/// redirect that used the kept sign-in up removes it, and the flow's parameters from the
/// address bar.
fn judge(inner: &Inner, r: Redirect, issuer: &str, iss_required: bool) -> Result<(String, Pending), JsValue> {
    let judged = judge_callback(&r.callback, r.pending, issuer, iss_required);
    if judged.as_ref().map_or_else(Failure::consumes_pending, |_| true) {
        if let Some(s) = storage::session_storage() {
            let _ = s.remove_item(&pending_key(inner));
        }
        if r.here {
            clean_address_bar(&r.url);
        }
    }
    judged.map_err(failed)
}

/// The synchronous end of `handleRedirect`: the ID token checked, the session started, the
/// app's state handed back.
fn begin(inner: &Inner, tokens: TokenInput, pending: Pending, issuer: &str) -> Result<JsValue, JsValue> {
    let expected = Expected { issuer, client_id: &inner.opts.server.client_id, nonce: &pending.secrets.nonce };
    check_id_token(&tokens, &pending.scope, expected).map_err(|p| failed(Failure::IdTokenInvalid(p)))?;
    inner.live()?;
    let claims = tokens.access_token.as_deref().and_then(claims_of);
    let now = js::now();
    inner.with(|s| s.set_tokens(&tokens, claims, now)).map_err(|_| failed(Failure::ExchangeFailed(ExchangeProblem::NoToken(200))))?;
    Ok(pending.app_state.and_then(|t| js_sys::JSON::parse(&t).ok()).unwrap_or(JsValue::UNDEFINED))
}

/// `handleRedirect(url = location.href)`: the redirect back, checked and exchanged; resolves
/// with the `appState` given to `signIn`. The same redirect handled again while the first is
/// in flight (React's StrictMode runs effects twice) gets its promise: one exchange, one answer.
pub fn handle_redirect(inner: &Rc<Inner>, url: JsValue) -> Promise {
    let redirect = match read_redirect(inner, &url) {
        Ok(r) => r,
        Err(e) => return Promise::reject(&e),
    };
    let state = redirect.callback.state.clone().unwrap_or_default();
    if let Some(p) = inner.redirect_handled(&state) {
        return p;
    }
    let me = inner.clone();
    let key = state.clone();
    let p = wait::promise(async move {
        let done = async {
            let endpoints = me.endpoints().await.map_err(failed)?;
            // sign-in always has an issuer (refused at construction otherwise)
            let issuer = endpoints.issuer.as_deref().ok_or_else(|| failed(Failure::Unsupported(NOT_CONFIGURED)))?;
            let (code, pending) = judge(&me, redirect, issuer, endpoints.iss_parameter)?;
            // the code for tokens at the token endpoint (RFC 6749 §4.1.3, with the PKCE verifier)
            let url = endpoints.token.as_deref().ok_or_else(|| failed(Failure::Unsupported(NOT_CONFIGURED)))?;
            let fetch = me.fetch_fn().ok_or_else(|| failed(Failure::ExchangeFailed(ExchangeProblem::NoAnswer)))?;
            let form = [
                ("grant_type", "authorization_code"),
                ("code", code.as_str()),
                ("redirect_uri", &pending.redirect_uri),
                ("client_id", &me.opts.server.client_id),
                ("code_verifier", &pending.secrets.verifier),
            ];
            // one own request: retried only when the server said it did not act (the core's rule)
            let body = JsValue::from_str(&http::form_body(&form));
            let mut req = OwnRequest::new();
            let mut outcome: Exchange = Err(Failure::ExchangeFailed(ExchangeProblem::NoAnswer));
            driver::own(
                &me,
                &mut req,
                &me.opts.retry,
                url,
                &mut |ms| Box::pin(http::send(&fetch, url, "POST", &http::FORM, body.clone(), me.proof(None), ms)),
                &mut |a| {
                    let (judged, o) = exchange_verdict(a).split();
                    outcome = o;
                    judged
                },
            )
            .await?;
            let tokens = outcome.map_err(failed)?;
            begin(&me, tokens, pending, issuer)
        }
        .await;
        me.redirect_over(&key); // a later call (after a discovery outage, say) tries again
        done
    });
    inner.set_redirect_handled(state, p.clone());
    p
}

/// The code exchange's rule on an answer of the token endpoint (the core's `judge_exchange`).
fn exchange_verdict(a: &http::Answer) -> Judged<Exchange> {
    let body = read::object(&a.json).map(|o| TokenInput::read(&o));
    let error = js::get_str(&a.json, "error");
    let aws_type = a.error_type.clone().or_else(|| js::aws_error_type(&a.json));
    let answer = ExchangeAnswer {
        status: a.status,
        retry_after: a.retry_after.as_deref(),
        aws_type: aws_type.as_deref(),
        error: error.as_deref(),
        tokens: body.as_ref(),
    };
    judge_exchange(&answer, js::now())
}

/// The ID token of the answer, read and checked by the core's rule (required when the scope
/// asked for OpenID Connect).
fn check_id_token(tokens: &TokenInput, scope: &str, expected: Expected<'_>) -> Result<(), IdTokenProblem> {
    let claims = tokens.id_token.as_deref().map(|t| js::jwt_payload(t).and_then(|p| read::json(&p)).map(|o| IdClaims::read(&o)));
    id_token::check_answer(claims, scope, expected, js::now())
}

/// The address bar without the flow's parameters (a reload must not replay the redirect).
fn clean_address_bar(url: &web_sys::Url) {
    let q = url.search_params();
    for p in CALLBACK_PARAMS {
        q.delete(p);
    }
    if let Some(history) = js::global_object::<web_sys::History>("history") {
        let state = history.state().unwrap_or(JsValue::NULL);
        let _ = history.replace_state_with_url(&state, "", Some(&url.href()));
    }
}
