//! `userInfo()`: Cognito `GetUser` or an OIDC userinfo endpoint, cached and single-flight.
//!
//! The request is an ordinary call of the engine ([`super::call::Call`], replay-safe): it is
//! retried on throttling (Cognito's 400 `TooManyRequestsException`, 429 + `Retry-After`) and
//! overload with the same backoff as API calls, and a refused token goes through the 401 rule
//! once. What is special is decided here: Cognito refuses a token with 400
//! `NotAuthorizedException` rather than 401, the answer is cached per access token for
//! `userInfoTtlSeconds`, and Cognito's attribute list is flattened into the OIDC shape.

use super::time::Time;
use alloc::string::String;
use alloc::vec::Vec;
use serde::Deserialize;

use super::retry::aws_error_name;

/// The status the call rules see: Cognito's 400 `NotAuthorizedException` is its 401.
pub fn status_for_rules(status: u16, error_type: Option<&str>) -> u16 {
    match (status, error_type.map(aws_error_name)) {
        (400, Some("NotAuthorizedException")) => 401,
        _ => status,
    }
}

/// Cognito `GetUser`'s answer.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct CognitoUser {
    #[serde(rename = "Username")]
    pub username: Option<String>,
    #[serde(rename = "UserAttributes")]
    pub attributes: Vec<CognitoAttribute>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct CognitoAttribute {
    #[serde(rename = "Name")]
    pub name: String,
    #[serde(rename = "Value")]
    pub value: String,
}

impl CognitoUser {
    /// The OIDC-like flat shape: `{ sub, email, ..., username }`, as (key, value) pairs.
    pub fn flatten(&self) -> Vec<(&str, &str)> {
        let mut out: Vec<(&str, &str)> = self.attributes.iter().map(|a| (a.name.as_str(), a.value.as_str())).collect();
        if let Some(u) = &self.username {
            out.push(("username", u));
        }
        out
    }
}

/// When a cached answer may be served: for the token it was fetched with, within the TTL.
#[derive(Debug, Clone, Copy, Default)]
pub struct CacheRule {
    /// Token generation and time of the cached answer.
    pub cached: Option<(u32, Time)>,
}

impl CacheRule {
    pub fn fresh(&self, token_gen: u32, now: Time, ttl_ms: f64) -> bool {
        self.cached.is_some_and(|(g, at)| g == token_gen && now - at < ttl_ms)
    }

    pub fn stored(&mut self, token_gen: u32, now: Time) {
        self.cached = Some((token_gen, now));
    }

    pub fn clear(&mut self) {
        self.cached = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cognito_refusal_is_a_401_for_the_rules() {
        assert_eq!(status_for_rules(400, Some("NotAuthorizedException:http://x")), 401);
        assert_eq!(status_for_rules(400, Some("TooManyRequestsException")), 400);
        assert_eq!(status_for_rules(400, None), 400);
        assert_eq!(status_for_rules(200, Some("NotAuthorizedException")), 200);
    }

    #[test]
    fn cognito_user_is_flattened_like_oidc() {
        let u: CognitoUser =
            serde_json::from_str(r#"{"Username":"alice","UserAttributes":[{"Name":"sub","Value":"123"},{"Name":"email","Value":"a@x"}]}"#)
                .unwrap();
        assert_eq!(u.flatten(), vec![("sub", "123"), ("email", "a@x"), ("username", "alice")]);
    }

    #[test]
    fn cache_serves_only_the_same_token_within_ttl() {
        let mut c = CacheRule::default();
        assert!(!c.fresh(1, Time::from_ms(0.0), 1000.0));
        c.stored(1, Time::from_ms(0.0));
        assert!(c.fresh(1, Time::from_ms(999.0), 1000.0));
        assert!(!c.fresh(1, Time::from_ms(1000.0), 1000.0));
        assert!(!c.fresh(2, Time::from_ms(10.0), 1000.0));
        c.clear();
        assert!(!c.fresh(1, Time::from_ms(10.0), 1000.0));
    }
}
