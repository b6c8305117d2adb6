//! `new SessionManager(options)`: the options object, checked once. Each value is read with a
//! small reader for its type; a wrong type, a bad value or an unknown key (with the nearest
//! known one) is a `TypeError` that says which option and what was received (the first such
//! problem, in the order the options are read).

use js_sys::{Array, Function, Object};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;

use super::errors::{describe, type_error};
use super::js;
use crate::core::discovery::{missing_issuer, pool_issuer, Endpoints};
use crate::core::retry::RetryPolicy;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StorageKind {
    Memory,
    Session,
    Local,
}

/// The `refresh` option.
#[derive(Debug, Clone)]
pub enum Refresher {
    None,
    Function(Function),
    /// RFC 6749 §6 at the token endpoint of [`Options::server`] (named, or discovered).
    OAuth2,
    /// Cognito's API at `endpoint`.
    Cognito {
        endpoint: String,
    },
}

/// The server options of the `refresh` form: the client, its endpoints (the token endpoint
/// included), where sign-in and sign-out come back to, the scope.
#[derive(Debug, Clone, Default)]
pub struct Server {
    pub client_id: String,
    /// As the options name them; discovery at `endpoints.issuer` fills the gaps when
    /// `discover` (the `issuer` option; not a Cognito `userPoolId`, whose issuer is known).
    pub endpoints: Endpoints,
    pub discover: bool,
    pub redirect_uri: Option<String>,
    pub post_logout_redirect_uri: Option<String>,
    pub scope: Option<String>,
}

#[derive(Debug, Clone)]
pub struct Options {
    pub refresh: Refresher,
    pub server: Server,
    pub storage: StorageKind,
    pub storage_key: String,
    pub origins: Vec<String>,
    pub leeway_ms: f64,
    pub retry: RetryPolicy,
    pub rate_limit: Option<(f64, f64)>,
    pub cross_tab: bool,
    pub user_info_ttl_ms: f64,
    pub expire_on_transient: bool,
    /// DPoP proofs on every request that uses the tokens (the `oauth2` form only).
    pub dpop: bool,
}

const TOP: &[&str] = &[
    "refresh",
    "storage",
    "storageKey",
    "allowedOrigins",
    "refreshLeewaySeconds",
    "retry",
    "rateLimit",
    "crossTab",
    "userInfoTtlSeconds",
    "expireOnTransientFailure",
    "dpop",
];
const RETRY: &[&str] = &["maxRetries", "baseDelayMs", "maxDelayMs", "idempotencyKey"];
const RATE: &[&str] = &["requestsPerSecond", "burst"];
const OAUTH2: &[&str] = &[
    "type",
    "tokenUrl",
    "clientId",
    "scope",
    "userInfoUrl",
    "issuer",
    "authorizationUrl",
    "revocationUrl",
    "endSessionUrl",
    "redirectUri",
    "postLogoutRedirectUri",
];
/// The server options only sign-in and discovery use (refused by the lite build).
const SIGN_IN_KEYS: &[&str] =
    &["issuer", "authorizationUrl", "revocationUrl", "endSessionUrl", "redirectUri", "postLogoutRedirectUri", "domain", "userPoolId"];
const COGNITO: &[&str] =
    &["type", "region", "clientId", "endpoint", "domain", "userPoolId", "issuer", "scope", "redirectUri", "postLogoutRedirectUri"];

/// Reads options and keeps the first problem. Every reader returns a usable value (the default)
/// even after a problem, so reading is one straight line with one check at the end, in the
/// order the options are read (not an early return, and its clean-up, after every field).
pub struct Check {
    first: Option<JsValue>,
}

impl Check {
    pub fn new() -> Check {
        Check { first: None }
    }

    /// `value`, or the first problem met.
    pub fn finish<T>(self, value: T) -> Result<T, JsValue> {
        match self.first {
            Some(e) => Err(e),
            None => Ok(value),
        }
    }

    pub fn fail(&mut self, msg: &[&str]) {
        if self.first.is_none() {
            self.first = Some(type_error(&msg.concat()));
        }
    }

    /// Refuses keys that are not in `known`, naming the nearest known one.
    pub fn keys(&mut self, obj: &JsValue, known: &[&str], path: &str) {
        for key in js::keys(obj).iter().filter_map(|k| k.as_string()) {
            if !known.contains(&key.as_str()) {
                let nearest = crate::core::read::nearest(known, &key);
                let known = known.join(", ");
                self.fail(&["unknown option `", path, &key, "`: did you mean `", path, nearest, "`? (known: ", &known, ")"]);
                return;
            }
        }
    }

    /// `obj[key]`, or `None` when it is `undefined`/`null`; a value `ok` refuses is a problem
    /// that names the option, what it must be (`what`) and what it got.
    #[inline(never)]
    fn field(&mut self, obj: &JsValue, key: &str, path: &str, what: &str, ok: fn(&JsValue) -> bool) -> Option<JsValue> {
        let v = js::get(obj, key);
        if v.is_undefined() || v.is_null() {
            return None;
        }
        if ok(&v) {
            return Some(v);
        }
        self.fail(&["option `", path, key, "` must be ", what, ", got ", &describe(&v)]);
        None
    }

    /// An object option (`retry`, `rateLimit`), its keys checked; `None` when absent.
    pub fn object(&mut self, obj: &JsValue, key: &str, shape: &str, known: &[&str]) -> Option<JsValue> {
        let ok: fn(&JsValue) -> bool = |v| v.is_object() && !v.is_function();
        let v = self.field(obj, key, "", shape, ok)?;
        self.keys(&v, known, &[key, "."].concat());
        Some(v)
    }

    fn number(&mut self, obj: &JsValue, key: &str, path: &str) -> Option<f64> {
        let ok: fn(&JsValue) -> bool = |v| v.as_f64().is_some_and(|n| n.is_finite() && n >= 0.0);
        self.field(obj, key, path, "a finite number >= 0", ok)?.as_f64()
    }

    pub fn flag(&mut self, obj: &JsValue, key: &str, path: &str) -> Option<bool> {
        let ok: fn(&JsValue) -> bool = |v| v.as_bool().is_some();
        self.field(obj, key, path, "a boolean", ok)?.as_bool()
    }

    pub fn text(&mut self, obj: &JsValue, key: &str, path: &str) -> Option<String> {
        let ok: fn(&JsValue) -> bool = |v| v.as_string().is_some_and(|s| !s.is_empty());
        self.field(obj, key, path, "a non-empty string", ok)?.as_string()
    }

    /// An http(s) URL, resolved against the page.
    pub fn url(&mut self, obj: &JsValue, key: &str, path: &str) -> Option<String> {
        let s = self.text(obj, key, path)?;
        let parsed = js::resolve_url(&s).map(|u| (js::get_str(&u, "protocol"), js::get_str(&u, "href")));
        match parsed {
            Some((Some(p), Some(href))) if p == "http:" || p == "https:" => Some(href),
            _ => {
                self.fail(&["option `", path, key, "` must be an http(s) URL, got \"", &s, "\""]);
                None
            }
        }
    }

    /// `value`, or a problem when it is missing.
    fn required(&mut self, value: Option<String>, msg: &str) -> String {
        if value.is_none() {
            self.fail(&[msg]);
        }
        value.unwrap_or_default()
    }

    /// The server options both forms share (where to come back to after sign-in and out, the
    /// scope, the issuer), from `r`.
    fn server(&mut self, r: &JsValue, client_id: &str) -> Server {
        let p = "refresh.";
        if !cfg!(feature = "signin") {
            // the lite build: no sign-in, no discovery; its options say where the full build is
            if let Some(key) = SIGN_IN_KEYS.iter().find(|k| !js::get(r, k).is_undefined()) {
                self.fail(&["option `refresh.", key, "` is for sign-in and discovery, which are not in sessionguard/lite: import from \"sessionguard\" (the full build), or name `tokenUrl` and `userInfoUrl`"]);
            }
            return Server { client_id: client_id.into(), scope: self.text(r, "scope", p), ..Server::default() };
        }
        // the issuer as the user spells it (compared byte for byte with the server's)
        let issuer = self.url(r, "issuer", p).and(js::get_str(r, "issuer"));
        Server {
            client_id: client_id.into(),
            discover: issuer.is_some(),
            endpoints: Endpoints { issuer, ..Endpoints::default() },
            redirect_uri: self.url(r, "redirectUri", p),
            post_logout_redirect_uri: self.url(r, "postLogoutRedirectUri", p),
            scope: self.text(r, "scope", p),
        }
    }

    /// Sign-in configured without an issuer is refused now, naming what to add (the core's
    /// rule), never left to skip the `iss` checks.
    fn issuer_for_sign_in(&mut self, server: &Server, cognito: bool) {
        let e = &server.endpoints;
        if let Some(why) = missing_issuer(cognito, e.authorization.is_some(), e.issuer.is_some()) {
            self.fail(&[why]);
        }
    }

    fn refresher(&mut self, r: &JsValue) -> (Refresher, Server) {
        if r.is_undefined() || r.is_null() {
            return (Refresher::None, Server::default());
        }
        if let Some(f) = r.dyn_ref::<Function>() {
            return (Refresher::Function(f.clone()), Server::default());
        }
        if !r.is_object() {
            self.fail(&["option `refresh` must be a function or { type: \"oauth2\" | \"cognito\", ... }, got ", &describe(r)]);
            return (Refresher::None, Server::default());
        }
        let p = "refresh.";
        match js::get_str(r, "type").as_deref() {
            Some("oauth2") => {
                self.keys(r, OAUTH2, p);
                let client_id = self.text(r, "clientId", p);
                let client_id = self.required(client_id, "option `refresh.clientId` is required");
                let mut server = self.server(r, &client_id);
                let token_url = self.url(r, "tokenUrl", p);
                if token_url.is_none() && server.endpoints.issuer.is_none() && cfg!(feature = "signin") {
                    self.fail(&[
                        "option `refresh.tokenUrl` (or `refresh.issuer`, for OpenID discovery) is required for `type: \"oauth2\"`",
                    ]);
                }
                if token_url.is_none() && !cfg!(feature = "signin") {
                    self.fail(&["option `refresh.tokenUrl` is required for `type: \"oauth2\"`"]);
                }
                let e = &mut server.endpoints;
                e.token = token_url;
                e.userinfo = self.url(r, "userInfoUrl", p);
                if cfg!(feature = "signin") {
                    e.authorization = self.url(r, "authorizationUrl", p);
                    e.revocation = self.url(r, "revocationUrl", p);
                    e.end_session = self.url(r, "endSessionUrl", p);
                    self.issuer_for_sign_in(&server, false);
                }
                (Refresher::OAuth2, server)
            }
            Some("cognito") => {
                self.keys(r, COGNITO, p);
                let endpoint = match self.url(r, "endpoint", p) {
                    Some(e) => e,
                    None => {
                        let region = self.text(r, "region", p);
                        let region = self.required(region, "option `refresh.region` (\"eu-west-1\") or `refresh.endpoint` is required");
                        if !region.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-') {
                            self.fail(&["option `refresh.region` must be an AWS region such as \"eu-west-1\", got \"", &region, "\""]);
                        }
                        ["https://cognito-idp.", &region, ".amazonaws.com/"].concat()
                    }
                };
                let client_id = self.text(r, "clientId", p);
                let client_id = self.required(client_id, "option `refresh.clientId` is required");
                let mut server = self.server(r, &client_id);
                if !cfg!(feature = "signin") {
                    return (Refresher::Cognito { endpoint }, server);
                }
                // the hosted UI (its OAuth2 endpoints) at `domain`
                if let Some(domain) = self.url(r, "domain", p) {
                    let at = |path: &str| Some([crate::core::discovery::unslashed(&domain), path].concat());
                    let e = &mut server.endpoints;
                    (e.authorization, e.token, e.end_session) = (at("/oauth2/authorize"), at("/oauth2/token"), at("/logout"));
                }
                // the user pool's issuer (its ID tokens' `iss`), known without discovery
                if let Some(pool) = self.text(r, "userPoolId", p) {
                    let issuer = pool_issuer(&pool).filter(|_| !server.discover);
                    if issuer.is_none() {
                        self.fail(&["option `refresh.userPoolId` must be a user pool id such as \"eu-west-1_AbCdEf123\" (and gives the issuer: no `refresh.issuer` beside it)"]);
                    }
                    server.endpoints.issuer = issuer;
                }
                self.issuer_for_sign_in(&server, true);
                // `scope` is the hosted UI's; a Cognito refresh takes none
                (Refresher::Cognito { endpoint }, server)
            }
            _ => {
                self.fail(&["option `refresh.type` must be \"oauth2\" or \"cognito\", got ", &describe(&js::get(r, "type"))]);
                (Refresher::None, Server::default())
            }
        }
    }

    fn origins(&mut self, o: &JsValue) -> Vec<String> {
        let Some(list) = self.field(o, "allowedOrigins", "", "an array of origin strings", Array::is_array) else {
            return js::page_origin().into_iter().collect();
        };
        let mut out = Vec::new();
        for item in list.unchecked_ref::<Array>().iter() {
            let Some(s) = item.as_string() else {
                self.fail(&["option `allowedOrigins` must be an array of origin strings, got ", &describe(&item), " in it"]);
                break;
            };
            match web_sys::Url::new(&s).ok().and_then(|u| js::get_str(&u, "origin")) {
                Some(origin) if origin != "null" => out.push(origin),
                _ => {
                    self.fail(&["option `allowedOrigins` takes origins like \"https://api.example.com\", got \"", &s, "\""]);
                    break;
                }
            }
        }
        out
    }
}

pub fn parse(o: &JsValue) -> Result<Options, JsValue> {
    let o = if o.is_undefined() || o.is_null() { &JsValue::from(Object::new()) } else { o };
    if !o.is_object() || o.is_function() {
        return Err(type_error(&["options must be an object, got ", &describe(o)].concat()));
    }
    let mut c = Check::new();
    c.keys(o, TOP, "");
    let storage = match c.text(o, "storage", "").as_deref() {
        None | Some("memory") => StorageKind::Memory,
        Some("session") => StorageKind::Session,
        Some("local") => StorageKind::Local,
        Some(other) => {
            c.fail(&["option `storage` must be \"memory\", \"session\" or \"local\", got \"", other, "\""]);
            StorageKind::Memory
        }
    };
    let mut retry = RetryPolicy::default();
    if let Some(r) = c.object(o, "retry", "an object", RETRY) {
        if let Some(m) = c.number(&r, "maxRetries", "retry.") {
            if m.fract() != 0.0 || m > 20.0 {
                c.fail(&["option `retry.maxRetries` must be an integer from 0 to 20"]);
            }
            retry.max_retries = m as u32;
        }
        retry.base_delay_ms = c.number(&r, "baseDelayMs", "retry.").unwrap_or(retry.base_delay_ms);
        retry.max_delay_ms = c.number(&r, "maxDelayMs", "retry.").unwrap_or(retry.max_delay_ms);
        retry.idempotency_key = c.flag(&r, "idempotencyKey", "retry.").unwrap_or(false);
    }
    let rate_limit = match js::get(o, "rateLimit").as_bool() {
        Some(false) => None,
        _ => c.object(o, "rateLimit", "{ requestsPerSecond, burst? }", RATE).map(|rl| {
            let rps = c.number(&rl, "requestsPerSecond", "rateLimit.").filter(|v| *v > 0.0);
            if rps.is_none() {
                c.fail(&["option `rateLimit.requestsPerSecond` must be a number > 0"]);
            }
            let burst = c.number(&rl, "burst", "rateLimit.").unwrap_or(1.0);
            if burst < 1.0 {
                c.fail(&["option `rateLimit.burst` must be a number >= 1"]);
            }
            (rps.unwrap_or(1.0), burst.floor())
        }),
    };
    let (refresh, server) = c.refresher(&js::get(o, "refresh"));
    let dpop = c.flag(o, "dpop", "").unwrap_or(false);
    if dpop && !cfg!(feature = "dpop") {
        c.fail(&[super::errors::FULL_ONLY_DPOP]);
    }
    if dpop && !matches!(refresh, Refresher::OAuth2) {
        let form = match refresh {
            Refresher::Cognito { .. } => "Cognito does not support DPoP",
            Refresher::Function(_) => "a refresh function's own requests cannot carry proofs",
            _ => "there is no token endpoint to bind the tokens",
        };
        c.fail(&["option `dpop` needs `refresh: { type: \"oauth2\", ... }` (", form, ")"]);
    }
    if dpop && js::subtle().is_none() {
        c.fail(&["option `dpop` needs WebCrypto (`crypto.subtle`), which pages have only on https or localhost"]);
    }
    let opts = Options {
        refresh,
        server,
        storage,
        storage_key: c.text(o, "storageKey", "").unwrap_or_else(|| "sessionguard".into()),
        origins: c.origins(o),
        leeway_ms: c.number(o, "refreshLeewaySeconds", "").unwrap_or(30.0) * 1000.0,
        retry,
        rate_limit,
        cross_tab: c.flag(o, "crossTab", "").unwrap_or(true),
        user_info_ttl_ms: c.number(o, "userInfoTtlSeconds", "").unwrap_or(300.0) * 1000.0,
        expire_on_transient: c.flag(o, "expireOnTransientFailure", "").unwrap_or(false),
        dpop,
    };
    c.finish(opts)
}

/// What `logout(options)` was asked: revoke at the server, then redirect to it.
pub fn logout_options(options: &JsValue) -> Result<(bool, bool), JsValue> {
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
