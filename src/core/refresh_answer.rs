//! What a token endpoint's answer means: new tokens, a dead session, or "try again later".
//!
//! The line between *terminal* and *transient* is what keeps users logged in through outages
//! (Amplify's random-logout bugs came from getting it wrong) and out of refresh storms: only an
//! answer that says the refresh token itself is bad ends the session. Throttling, 5xx, network
//! errors and 2xx answers without a usable access token (an HTML error page, broken JSON, a null
//! token) are transient: nothing from them is stored or sent.

use super::json::Json;
use super::retry::{aws_error_name, is_throttling_type, parse_retry_after};
use super::token::TokenInput;
use alloc::string::String;

#[derive(Debug, Clone, PartialEq)]
pub enum RefreshVerdict {
    Tokens(TokenInput),
    /// The refresh token is refused: the session is over.
    Terminal,
    /// Worth trying again later (after `retry_after_ms` if the server said).
    Transient { retry_after_ms: Option<f64> },
}

fn transient(retry_after: Option<&str>, now: f64) -> RefreshVerdict {
    RefreshVerdict::Transient { retry_after_ms: retry_after.and_then(|v| parse_retry_after(v, now)) }
}

fn s(v: &Json, key: &str) -> Option<String> {
    v.str_field(key).map(String::from)
}

/// RFC 6749 §5.1/§5.2 answer of a `grant_type=refresh_token` request.
pub fn classify_oauth2(status: u16, retry_after: Option<&str>, body: &str, now: f64) -> RefreshVerdict {
    match status {
        200..=299 => match Json::parse(body) {
            Some(v) if v.str_field("access_token").is_some() => RefreshVerdict::Tokens(TokenInput {
                access_token: s(&v, "access_token"),
                refresh_token: s(&v, "refresh_token"),
                id_token: s(&v, "id_token"),
                expires_in: v.get("expires_in").and_then(Json::as_f64),
                expires_at: None,
            }),
            _ => transient(retry_after, now),
        },
        // SPEC: `invalid_grant` and every other 400/401 answer is terminal.
        400 | 401 => RefreshVerdict::Terminal,
        // Throttling and overload say nothing about the refresh token.
        0 | 408 | 425 | 429 | 500..=599 => transient(retry_after, now),
        _ => RefreshVerdict::Terminal,
    }
}

/// Cognito `InitiateAuth` (`REFRESH_TOKEN_AUTH`) answer. `error_type` is the
/// `x-amzn-ErrorType` header; the body's `__type` is read when it is missing.
pub fn classify_cognito(status: u16, error_type: Option<&str>, retry_after: Option<&str>, body: &str, now: f64) -> RefreshVerdict {
    let json = Json::parse(body);
    if (200..300).contains(&status) {
        let result = json.as_ref().and_then(|v| v.get("AuthenticationResult"));
        return match result {
            Some(r) if r.str_field("AccessToken").is_some() => RefreshVerdict::Tokens(TokenInput {
                access_token: s(r, "AccessToken"),
                refresh_token: s(r, "RefreshToken"),
                id_token: s(r, "IdToken"),
                expires_in: r.get("ExpiresIn").and_then(Json::as_f64),
                expires_at: None,
            }),
            _ => transient(retry_after, now),
        };
    }
    let body_type = json.as_ref().and_then(|v| v.str_field("__type"));
    let kind = error_type.filter(|t| !t.is_empty()).or(body_type).map(aws_error_name);
    match (status, kind) {
        (_, Some(k)) if is_throttling_type(k) || k == "InternalErrorException" || k == "ServiceUnavailableException" => {
            transient(retry_after, now)
        }
        (0 | 408 | 429 | 500..=599, _) => transient(retry_after, now),
        _ => RefreshVerdict::Terminal,
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn oauth2_answers() {
        let ok = classify_oauth2(200, None, r#"{"access_token":"A","refresh_token":"R","expires_in":3600,"token_type":"Bearer"}"#, 0.0);
        match ok {
            RefreshVerdict::Tokens(t) => {
                assert_eq!(t.access_token.as_deref(), Some("A"));
                assert_eq!(t.refresh_token.as_deref(), Some("R"));
                assert_eq!(t.expires_in, Some(3600.0));
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(classify_oauth2(400, None, r#"{"error":"invalid_grant"}"#, 0.0), RefreshVerdict::Terminal);
        assert_eq!(classify_oauth2(401, None, "", 0.0), RefreshVerdict::Terminal);
        assert_eq!(classify_oauth2(403, None, "", 0.0), RefreshVerdict::Terminal);
        assert_eq!(classify_oauth2(400, None, r#"{"error":"invalid_request"}"#, 0.0), RefreshVerdict::Terminal);
        assert_eq!(classify_oauth2(429, Some("3"), "", 0.0), RefreshVerdict::Transient { retry_after_ms: Some(3000.0) });
        assert_eq!(classify_oauth2(503, None, "<html>", 0.0), RefreshVerdict::Transient { retry_after_ms: None });
        assert_eq!(classify_oauth2(0, None, "", 0.0), RefreshVerdict::Transient { retry_after_ms: None });
    }

    #[test]
    fn unusable_success_bodies_are_transient() {
        for body in ["<html>oops</html>", "{\"access_token\":", "{\"access_token\":null}", "{\"access_token\":\"\"}", "{}", "[]", ""] {
            assert_eq!(classify_oauth2(200, None, body, 0.0), RefreshVerdict::Transient { retry_after_ms: None }, "{body}");
            assert_eq!(classify_cognito(200, None, None, body, 0.0), RefreshVerdict::Transient { retry_after_ms: None }, "{body}");
        }
        // "null" as a string passes the parser but not token validation (done by the session).
        assert!(matches!(classify_oauth2(200, None, "{\"access_token\":\"null\"}", 0.0), RefreshVerdict::Tokens(_)));
    }

    #[test]
    fn cognito_answers() {
        let body = r#"{"AuthenticationResult":{"AccessToken":"A","IdToken":"I","ExpiresIn":3600,"TokenType":"Bearer"},"ChallengeParameters":{}}"#;
        match classify_cognito(200, None, None, body, 0.0) {
            RefreshVerdict::Tokens(t) => {
                assert_eq!(t.access_token.as_deref(), Some("A"));
                assert_eq!(t.id_token.as_deref(), Some("I"));
                assert_eq!(t.refresh_token, None);
            }
            other => panic!("{other:?}"),
        }
        let throttled = r#"{"__type":"TooManyRequestsException","message":"Rate exceeded"}"#;
        assert_eq!(classify_cognito(400, None, None, throttled, 0.0), RefreshVerdict::Transient { retry_after_ms: None });
        assert_eq!(classify_cognito(400, Some("TooManyRequestsException:http://x"), None, "", 0.0), RefreshVerdict::Transient { retry_after_ms: None });
        assert_eq!(classify_cognito(500, Some("InternalErrorException"), None, "", 0.0), RefreshVerdict::Transient { retry_after_ms: None });
        assert_eq!(classify_cognito(400, None, None, r#"{"__type":"NotAuthorizedException"}"#, 0.0), RefreshVerdict::Terminal);
        assert_eq!(classify_cognito(400, None, None, r#"{"__type":"com.amazonaws#NotAuthorizedException"}"#, 0.0), RefreshVerdict::Terminal);
        assert_eq!(classify_cognito(400, None, None, r#"{"__type":"ResourceNotFoundException"}"#, 0.0), RefreshVerdict::Terminal);
        assert_eq!(classify_cognito(502, None, None, "<html>", 0.0), RefreshVerdict::Transient { retry_after_ms: None });
    }

    #[test]
    fn function_rejections() {
        assert_eq!(classify_rejection(Some(401.0), false, None), RefreshVerdict::Terminal);
        assert_eq!(classify_rejection(Some(400.0), false, None), RefreshVerdict::Terminal);
        assert_eq!(classify_rejection(None, true, None), RefreshVerdict::Terminal);
        assert_eq!(classify_rejection(Some(503.0), false, Some(500.0)), RefreshVerdict::Transient { retry_after_ms: Some(500.0) });
        assert_eq!(classify_rejection(None, false, Some(f64::NAN)), RefreshVerdict::Transient { retry_after_ms: None });
    }

    proptest! {
        #[test]
        fn never_panics(status in 0u16..1000, body in ".{0,200}", et in proptest::option::of(".{0,30}")) {
            let _ = classify_oauth2(status, et.as_deref(), &body, 0.0);
            let _ = classify_cognito(status, et.as_deref(), et.as_deref(), &body, 0.0);
        }
    }
}
