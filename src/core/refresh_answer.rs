//! What a token endpoint's answer means: new tokens, a dead session, or "try again later".
//!
//! The line between *terminal* and *transient* is what keeps users logged in through outages
//! (Amplify's random-logout bugs came from getting it wrong) and out of refresh storms: only an
//! answer that says the refresh token itself is bad ends the session. Throttling, 5xx, network
//! errors and 2xx answers without a usable access token (an HTML error page, broken JSON, a null
//! token) are transient: nothing from them is stored or sent.

use super::retry::{aws_error_name, is_throttling_type, parse_retry_after};
use super::time::Time;
use super::token::TokenInput;
use alloc::string::String;

use super::read::{Fields, Value};

#[derive(Debug, Clone, PartialEq)]
pub enum RefreshVerdict {
    Tokens(TokenInput),
    /// The refresh token is refused: the session is over.
    Terminal,
    /// Worth trying again later (after `retry_after_ms` if the server said).
    Transient {
        retry_after_ms: Option<f64>,
    },
    /// The refresh function resolved with something that is not a token set (described): a
    /// programming error, reported once and taken as a transient failure (never as an outage
    /// that ends the session, never silently).
    Misuse(String),
}

/// The JSON body of a Cognito answer: `AuthenticationResult` on success, `__type` on error.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CognitoBody {
    pub result: Option<TokenInput>,
    pub error_type: Option<String>,
}

impl CognitoBody {
    pub fn read<O: Fields>(o: &O) -> CognitoBody {
        CognitoBody { result: o.field("AuthenticationResult").object().map(|r| TokenInput::read(&r)), error_type: o.field("__type").text() }
    }
}

/// An answer of the token endpoint, as the browser layer hands it over: the status (0 for a
/// network error, a timeout or a redirect, which is never followed), two headers, and the body
/// already parsed as JSON into the form's type (`None`: not JSON, or not that shape).
#[derive(Debug, Clone, Copy)]
pub struct EndpointAnswer<'a, B> {
    pub status: u16,
    pub retry_after: Option<&'a str>,
    /// The error the answer names: Cognito's error type (header or `__type`); for the `oauth2`
    /// form, the body's `error`.
    pub error_type: Option<&'a str>,
    pub body: Option<&'a B>,
}

fn transient(retry_after: Option<&str>, now: Time) -> RefreshVerdict {
    RefreshVerdict::Transient { retry_after_ms: retry_after.and_then(|v| parse_retry_after(v, now)) }
}

/// A usable-looking token answer (the session checks the token itself).
fn tokens(t: Option<&TokenInput>) -> Option<RefreshVerdict> {
    t.filter(|t| t.access_token.is_some()).map(|t| RefreshVerdict::Tokens(t.clone()))
}

/// RFC 6749 §5.1/§5.2 answer of a `grant_type=refresh_token` request.
pub fn classify_oauth2(a: EndpointAnswer<'_, TokenInput>, now: Time) -> RefreshVerdict {
    match a.status {
        200..=299 => tokens(a.body).unwrap_or_else(|| transient(a.retry_after, now)),
        // a DPoP nonce challenge that could not be answered (its nonce unreadable, or asked
        // for twice) says nothing about the refresh token
        400 | 401 if a.error_type == Some("use_dpop_nonce") => transient(a.retry_after, now),
        // Throttling and overload say nothing about the refresh token.
        0 | 408 | 425 | 429 | 500..=599 => transient(a.retry_after, now),
        // `invalid_grant` and every other 400/401 answer is terminal (guarantee 14), and so is
        // anything else the endpoint should never answer
        _ => RefreshVerdict::Terminal,
    }
}

/// Cognito `InitiateAuth` (`REFRESH_TOKEN_AUTH`) answer. The error type comes from the
/// `x-amzn-ErrorType` header, else the body's `__type` (emulators send only the body).
pub fn classify_cognito(a: EndpointAnswer<'_, CognitoBody>, now: Time) -> RefreshVerdict {
    if (200..300).contains(&a.status) {
        return tokens(a.body.and_then(|b| b.result.as_ref())).unwrap_or_else(|| transient(a.retry_after, now));
    }
    let body_type = a.body.and_then(|b| b.error_type.as_deref());
    let kind = a.error_type.filter(|t| !t.is_empty()).or(body_type).map(aws_error_name);
    match (a.status, kind) {
        (_, Some(k)) if is_throttling_type(k) || k == "InternalErrorException" || k == "ServiceUnavailableException" => {
            transient(a.retry_after, now)
        }
        (0 | 408 | 429 | 500..=599, _) => transient(a.retry_after, now),
        _ => RefreshVerdict::Terminal,
    }
}

/// What a refresh function resolved with (a `Response` is read by the driver and judged by
/// [`classify_oauth2`]): a token set in either spelling, else [`RefreshVerdict::Misuse`] with
/// `got()`'s description of it.
pub fn classify_resolved<O: Fields>(v: Value<O>, got: impl FnOnce() -> String) -> RefreshVerdict {
    if let Value::Obj(o) = v {
        let t = TokenInput::read(&o);
        if t.access_token.is_some() {
            return RefreshVerdict::Tokens(t);
        }
    }
    RefreshVerdict::Misuse(got())
}

/// The function form: a rejection whose `status` is 400 or 401, or whose `terminal` is true, is
/// terminal; any other rejection is transient.
pub fn classify_rejection(status: Option<f64>, terminal: bool, retry_after_ms: Option<f64>) -> RefreshVerdict {
    if terminal || matches!(status, Some(s) if s == 400.0 || s == 401.0) {
        RefreshVerdict::Terminal
    } else {
        RefreshVerdict::Transient { retry_after_ms: retry_after_ms.filter(|v| v.is_finite() && *v >= 0.0) }
    }
}

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    use super::*;
    use crate::core::read::tests::json;
    use proptest::prelude::*;

    fn oauth2(status: u16, ra: Option<&str>, body: &str) -> RefreshVerdict {
        let parsed = json(body).map(|o| TokenInput::read(&o));
        classify_oauth2(EndpointAnswer { status, retry_after: ra, error_type: None, body: parsed.as_ref() }, Time::from_ms(0.0))
    }

    fn cognito(status: u16, et: Option<&str>, body: &str) -> RefreshVerdict {
        let parsed = json(body).map(|o| CognitoBody::read(&o));
        classify_cognito(EndpointAnswer { status, retry_after: None, error_type: et, body: parsed.as_ref() }, Time::from_ms(0.0))
    }

    #[test]
    fn oauth2_answers() {
        match oauth2(200, None, r#"{"access_token":"A","refresh_token":"R","expires_in":3600,"token_type":"Bearer"}"#) {
            RefreshVerdict::Tokens(t) => {
                assert_eq!(t.access_token.as_deref(), Some("A"));
                assert_eq!(t.refresh_token.as_deref(), Some("R"));
                assert_eq!(t.expires_in, Some(3600.0));
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(oauth2(400, None, r#"{"error":"invalid_grant"}"#), RefreshVerdict::Terminal);
        assert_eq!(oauth2(401, None, ""), RefreshVerdict::Terminal);
        assert_eq!(oauth2(403, None, ""), RefreshVerdict::Terminal);
        assert_eq!(oauth2(400, None, r#"{"error":"invalid_request"}"#), RefreshVerdict::Terminal);
        assert_eq!(oauth2(429, Some("3"), ""), RefreshVerdict::Transient { retry_after_ms: Some(3000.0) });
        assert_eq!(oauth2(503, None, "<html>"), RefreshVerdict::Transient { retry_after_ms: None });
        assert_eq!(oauth2(0, None, ""), RefreshVerdict::Transient { retry_after_ms: None });
    }

    #[test]
    fn a_dpop_nonce_challenge_left_unanswered_is_not_a_dead_refresh_token() {
        let asked = |status| {
            classify_oauth2(
                EndpointAnswer { status, retry_after: None, error_type: Some("use_dpop_nonce"), body: None },
                Time::from_ms(0.0),
            )
        };
        assert_eq!(asked(400), RefreshVerdict::Transient { retry_after_ms: None });
        assert_eq!(asked(401), RefreshVerdict::Transient { retry_after_ms: None });
        let refused = EndpointAnswer { status: 400, retry_after: None, error_type: Some("invalid_dpop_proof"), body: None };
        assert_eq!(classify_oauth2(refused, Time::from_ms(0.0)), RefreshVerdict::Terminal);
    }

    #[test]
    fn unusable_success_bodies_are_transient() {
        for body in ["<html>oops</html>", "{\"access_token\":", "{\"access_token\":null}", "{}", "[]", ""] {
            assert_eq!(oauth2(200, None, body), RefreshVerdict::Transient { retry_after_ms: None }, "{body}");
            assert_eq!(cognito(200, None, body), RefreshVerdict::Transient { retry_after_ms: None }, "{body}");
        }
        // "null" as a string passes here but not token validation (done by the session).
        assert!(matches!(oauth2(200, None, "{\"access_token\":\"null\"}"), RefreshVerdict::Tokens(_)));
    }

    #[test]
    fn cognito_answers() {
        let body =
            r#"{"AuthenticationResult":{"AccessToken":"A","IdToken":"I","ExpiresIn":3600,"TokenType":"Bearer"},"ChallengeParameters":{}}"#;
        match cognito(200, None, body) {
            RefreshVerdict::Tokens(t) => {
                assert_eq!(t.access_token.as_deref(), Some("A"));
                assert_eq!(t.id_token.as_deref(), Some("I"));
                assert_eq!(t.refresh_token, None);
            }
            other => panic!("{other:?}"),
        }
        let throttled = r#"{"__type":"TooManyRequestsException","message":"Rate exceeded"}"#;
        assert_eq!(cognito(400, None, throttled), RefreshVerdict::Transient { retry_after_ms: None });
        assert_eq!(cognito(400, Some("TooManyRequestsException:http://x"), ""), RefreshVerdict::Transient { retry_after_ms: None });
        assert_eq!(cognito(500, Some("InternalErrorException"), ""), RefreshVerdict::Transient { retry_after_ms: None });
        // the error type decides, whatever the status a proxy or an emulator puts on it
        for outage in ["InternalErrorException", "ServiceUnavailableException", "ThrottlingException"] {
            assert_eq!(cognito(400, Some(outage), ""), RefreshVerdict::Transient { retry_after_ms: None }, "{outage}");
        }
        assert_eq!(cognito(400, None, r#"{"__type":"NotAuthorizedException"}"#), RefreshVerdict::Terminal);
        assert_eq!(cognito(400, None, r#"{"__type":"com.amazonaws#NotAuthorizedException"}"#), RefreshVerdict::Terminal);
        assert_eq!(cognito(400, None, r#"{"__type":"ResourceNotFoundException"}"#), RefreshVerdict::Terminal);
        assert_eq!(cognito(502, None, "<html>"), RefreshVerdict::Transient { retry_after_ms: None });
    }

    #[test]
    fn function_rejections() {
        assert_eq!(classify_rejection(Some(401.0), false, None), RefreshVerdict::Terminal);
        assert_eq!(classify_rejection(Some(400.0), false, None), RefreshVerdict::Terminal);
        assert_eq!(classify_rejection(None, true, None), RefreshVerdict::Terminal);
        assert_eq!(classify_rejection(Some(503.0), false, Some(500.0)), RefreshVerdict::Transient { retry_after_ms: Some(500.0) });
        // a `retryAfterMs` that is no delay is not one
        for junk in [f64::NAN, f64::INFINITY, -5.0] {
            assert_eq!(classify_rejection(None, false, Some(junk)), RefreshVerdict::Transient { retry_after_ms: None }, "{junk}");
        }
        assert_eq!(classify_rejection(None, false, Some(0.0)), RefreshVerdict::Transient { retry_after_ms: Some(0.0) });
    }

    proptest! {
        #[test]
        fn never_panics(status in 0u16..1000, body in ".{0,200}", et in proptest::option::of(".{0,30}")) {
            let _ = oauth2(status, et.as_deref(), &body);
            let _ = cognito(status, et.as_deref(), &body);
        }
    }
}
