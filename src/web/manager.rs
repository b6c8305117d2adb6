//! `SessionManager`, the class the npm package exports. Each method checks what JavaScript
//! handed it (a bad value is a `TypeError`, and the instance keeps working) and hands over to
//! [`Inner`] and the core.

use std::rc::Rc;

use js_sys::{Function, Promise};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::future_to_promise;

use super::inner::Inner;
use super::js::{get, object, type_error};
use super::options::{Options, Refresh};
use super::storage::Store;
use super::{axios, fetch, userinfo};
use crate::core::session::{Config, Session};
use crate::core::token::{jwt_payload, TokenError, TokenInput};

#[wasm_bindgen]
pub struct SessionManager {
    inner: Rc<Inner>,
}

fn opt_token_string(v: &JsValue, key: &str) -> Result<Option<String>, JsValue> {
    let x = get(v, key);
    if x.is_undefined() || x.is_null() {
        return Ok(None);
    }
    x.as_string().map(Some).ok_or_else(|| type_error(&["sessionguard: setTokens: `", key, "` must be a string"].concat()))
}

fn opt_token_number(v: &JsValue, key: &str) -> Result<Option<f64>, JsValue> {
    let x = get(v, key);
    if x.is_undefined() || x.is_null() {
        return Ok(None);
    }
    x.as_f64().filter(|n| n.is_finite()).map(Some).ok_or_else(|| type_error(&["sessionguard: setTokens: `", key, "` must be a finite number"].concat()))
}

fn event_type(ty: &JsValue) -> Result<String, JsValue> {
    ty.as_string().ok_or_else(|| type_error("sessionguard: the event type must be a string"))
}

/// `setTokens` input, strictly: wrong types are a `TypeError`.
fn strict_token_input(v: &JsValue) -> Result<TokenInput, JsValue> {
    if !v.is_object() {
        return Err(type_error("sessionguard: setTokens needs a token set object { accessToken, refreshToken?, ... }"));
    }
    Ok(TokenInput {
        access_token: opt_token_string(v, "accessToken")?,
        refresh_token: opt_token_string(v, "refreshToken")?,
        id_token: opt_token_string(v, "idToken")?,
        expires_in: opt_token_number(v, "expiresIn")?,
        expires_at: opt_token_number(v, "expiresAt")?,
    })
}

#[wasm_bindgen]
impl SessionManager {
    #[wasm_bindgen(constructor)]
    pub fn new(#[wasm_bindgen(unchecked_optional_param_type = "SessionManagerOptions")] options: JsValue) -> Result<SessionManager, JsValue> {
        let opts = Options::parse(&options)?;
        let mut session = Session::new(Config {
            leeway_ms: opts.leeway_ms,
            can_refresh: !matches!(opts.refresh, Refresh::None),
            expire_on_transient: opts.expire_on_transient,
            retry: opts.retry,
        });
        session.limiter = opts.rate_limit.map(|(rps, burst)| crate::core::ratelimit::RateLimiter::new(rps, burst));
        let store = Store::open(opts.storage, &opts.storage_key);
        if let Some(saved) = store.read() {
            session.restore(saved);
        }
        let target = web_sys::EventTarget::new()?;
        let inner = Inner::new(opts, session, target, store);
        inner.connect_tabs();
        inner.rearm();
        Ok(SessionManager { inner })
    }

    /// Starts or replaces the session.
    #[wasm_bindgen(js_name = setTokens)]
    pub fn set_tokens(&self, #[wasm_bindgen(unchecked_param_type = "TokenSet")] tokens: JsValue) -> Result<(), JsValue> {
        self.inner.check_live()?;
        let input = strict_token_input(&tokens)?;
        let r = self.inner.session.borrow_mut().set_tokens(&input, super::js::now());
        match r {
            Ok(()) => {
                self.inner.userinfo.borrow_mut().clear();
                self.inner.settle_flight(None);
                self.inner.flush();
                self.inner.rearm();
                Ok(())
            }
            Err(TokenError::UnusableAccessToken) => Err(type_error("sessionguard: setTokens: `accessToken` must be a non-empty string (not \"null\" or \"undefined\")")),
            Err(TokenError::BadExpiry) => Err(type_error("sessionguard: setTokens: `expiresIn`/`expiresAt` must be finite numbers")),
        }
    }

    /// A valid access token, refreshing first if needed.
    #[wasm_bindgen(js_name = getAccessToken, unchecked_return_type = "Promise<string>")]
    pub fn get_access_token(&self) -> Promise {
        let inner = self.inner.clone();
        future_to_promise(async move { inner.access_token(&JsValue::UNDEFINED).await.map(JsValue::from) })
    }

    /// Same signature as `fetch`.
    #[wasm_bindgen(unchecked_return_type = "Promise<Response>")]
    pub fn fetch(
        &self,
        #[wasm_bindgen(unchecked_param_type = "RequestInfo | URL")] input: JsValue,
        #[wasm_bindgen(unchecked_optional_param_type = "RequestInit")] init: JsValue,
    ) -> Promise {
        fetch::intercept(&self.inner, None, input, init)
    }

    /// A `fetch`-compatible function bound to this session.
    #[wasm_bindgen(js_name = wrapFetch, unchecked_return_type = "typeof fetch")]
    pub fn wrap_fetch(&self, #[wasm_bindgen(unchecked_optional_param_type = "typeof fetch")] fetch_impl: JsValue) -> Result<Function, JsValue> {
        let fetch_impl = if fetch_impl.is_undefined() || fetch_impl.is_null() {
            None
        } else {
            Some(fetch_impl.dyn_into::<Function>().map_err(|_| type_error("sessionguard: wrapFetch needs a fetch function"))?)
        };
        let inner = self.inner.clone();
        let f = Closure::<dyn Fn(JsValue, JsValue) -> Promise>::new(move |input, init| fetch::intercept(&inner, fetch_impl.clone(), input, init));
        Ok(f.into_js_value().unchecked_into())
    }

    /// Installs the interceptors on an axios instance; the result removes them.
    #[wasm_bindgen(js_name = attachAxios, unchecked_return_type = "() => void")]
    pub fn attach_axios(&self, #[wasm_bindgen(unchecked_param_type = "AxiosLike")] instance: JsValue) -> Result<Function, JsValue> {
        self.inner.check_live()?;
        axios::attach(&self.inner, &instance)
    }

    /// The decoded payload of the access (default) or ID token, not verified; `null` if there is
    /// none or it is not a JWT.
    #[wasm_bindgen(unchecked_return_type = "Record<string, unknown> | null")]
    pub fn claims(&self, #[wasm_bindgen(unchecked_optional_param_type = "\"access\" | \"id\"")] which: JsValue) -> Result<JsValue, JsValue> {
        let id = match which.as_string().as_deref() {
            _ if which.is_undefined() || which.is_null() => false,
            Some("access") => false,
            Some("id") => true,
            _ => return Err(type_error("sessionguard: claims() takes \"access\" or \"id\"")),
        };
        let token = {
            let s = self.inner.session.borrow();
            s.tokens().and_then(|t| if id { t.id.clone() } else { Some(t.access.clone()) })
        };
        let parsed = token.and_then(|t| jwt_payload(&t)).and_then(|p| js_sys::JSON::parse(&p).ok());
        Ok(parsed.filter(|v| v.is_object() && !js_sys::Array::is_array(v)).unwrap_or(JsValue::NULL))
    }

    /// Cognito `GetUser` or the OIDC `userInfoUrl`, cached and single flight.
    #[wasm_bindgen(js_name = userInfo, unchecked_return_type = "Promise<Record<string, unknown>>")]
    pub fn user_info(&self) -> Promise {
        let inner = self.inner.clone();
        future_to_promise(userinfo::user_info(inner))
    }

    #[wasm_bindgen(js_name = isAuthenticated)]
    pub fn is_authenticated(&self) -> bool {
        !self.inner.disposed.get() && self.inner.session.borrow().is_authenticated()
    }

    /// Ends the session (`session-expired` with reason `"logout"`).
    pub fn logout(&self) {
        self.inner.session.borrow_mut().logout();
        self.inner.settle_flight(None);
        self.inner.flush();
    }

    #[wasm_bindgen(unchecked_return_type = "SessionStats")]
    pub fn stats(&self) -> JsValue {
        let s = self.inner.session.borrow().stats;
        object(&[
            ("requests", s.requests.into()),
            ("retries", s.retries.into()),
            ("throttled", s.throttled.into()),
            ("refreshes", s.refreshes.into()),
            ("refreshFailures", s.refresh_failures.into()),
            ("coalesced", s.coalesced.into()),
            ("sessionExpired", s.session_expired.into()),
        ])
    }

    #[wasm_bindgen(js_name = addEventListener, skip_typescript)]
    pub fn add_event_listener(&self, #[wasm_bindgen(js_name = type, unchecked_param_type = "string")] ty: JsValue, listener: JsValue) -> Result<(), JsValue> {
        let ty = event_type(&ty)?;
        if listener.is_undefined() || listener.is_null() {
            return Ok(());
        }
        if !listener.is_function() && !get(&listener, "handleEvent").is_function() {
            return Err(type_error("sessionguard: addEventListener needs a function"));
        }
        self.inner.target.add_event_listener_with_event_listener(&ty, listener.unchecked_ref())
    }

    #[wasm_bindgen(js_name = removeEventListener, skip_typescript)]
    pub fn remove_event_listener(&self, #[wasm_bindgen(js_name = type, unchecked_param_type = "string")] ty: JsValue, listener: JsValue) -> Result<(), JsValue> {
        let ty = event_type(&ty)?;
        if listener.is_undefined() || listener.is_null() {
            return Ok(());
        }
        self.inner.target.remove_event_listener_with_event_listener(&ty, listener.unchecked_ref())
    }

    /// Stops timers and channels; later calls reject.
    pub fn dispose(&self) {
        self.inner.dispose();
    }
}
