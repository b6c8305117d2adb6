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

use super::read::{Fields, Value};
use super::retry::aws_error_name;

/// The status the call rules see: Cognito's 400 `NotAuthorizedException` is its 401.
pub fn status_for_rules(status: u16, error_type: Option<&str>) -> u16 {
    match (status, error_type.map(aws_error_name)) {
        (400, Some("NotAuthorizedException")) => 401,
        _ => status,
    }
}

/// Cognito `GetUser`'s answer: `Username` and `UserAttributes: [{ Name, Value }]`.
#[derive(Debug, Clone, Default)]
pub struct CognitoUser {
    pub username: Option<String>,
    /// (name, value); an attribute without a string name or value is skipped.
    pub attributes: Vec<(String, String)>,
}

impl CognitoUser {
    pub fn read<O: Fields>(o: &O) -> CognitoUser {
        let attributes = match o.field("UserAttributes") {
            Value::List(items) => items.iter().filter_map(|a| Some((a.field("Name").text()?, a.field("Value").text()?))).collect(),
            _ => Vec::new(),
        };
        CognitoUser { username: o.field("Username").text(), attributes }
    }

    /// The OIDC-like flat shape: `{ sub, email, ..., username }`, as (key, value) pairs.
    pub fn flatten(&self) -> Vec<(&str, &str)> {
        let mut out: Vec<(&str, &str)> = self.attributes.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
        if let Some(u) = &self.username {
            out.push(("username", u));
        }
        out
    }
}

/// What `userInfo()` does now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[must_use]
pub enum UserInfoStep {
    /// Serve the cached answer.
    Cached,
    /// Join the request in flight.
    Join,
    /// Start request number `.0`; report with `Session::user_info_done`.
    Start(u32),
}

/// The user-info cache and its single flight: at most one request at a time; an answer is
/// served only for the token it was fetched with, within the TTL; a new session (login,
/// logout) forgets both, and a late answer of a forgotten request is dropped.
#[derive(Debug, Clone, Copy, Default)]
pub struct UserInfoFlight {
    rule: CacheRule,
    pending: Option<u32>,
    epoch: u32,
}

impl UserInfoFlight {
    pub fn step(&mut self, authenticated: bool, token_gen: u32, now: Time, ttl_ms: f64) -> UserInfoStep {
        if authenticated && self.rule.fresh(token_gen, now, ttl_ms) {
            return UserInfoStep::Cached;
        }
        if self.pending.is_some() {
            return UserInfoStep::Join;
        }
        self.epoch = self.epoch.wrapping_add(1);
        self.pending = Some(self.epoch);
        UserInfoStep::Start(self.epoch)
    }

    pub fn done(&mut self, epoch: u32, answered_with: Option<u32>, now: Time) -> bool {
        if self.pending != Some(epoch) {
            return false;
        }
        self.pending = None;
        match answered_with {
            Some(gen) => {
                self.rule.stored(gen, now);
                true
            }
            None => false,
        }
    }

    /// A session started or ended: nothing cached or in flight serves the next one.
    pub fn forget(&mut self) {
        *self = UserInfoFlight { epoch: self.epoch, ..UserInfoFlight::default() };
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

#[cfg(all(test, not(target_arch = "wasm32")))]
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
        let u = CognitoUser::read(
            &crate::core::read::tests::json(
                r#"{"Username":"alice","UserAttributes":[{"Name":"sub","Value":"123"},{"Name":"x"},{"Name":"email","Value":"a@x"}]}"#,
            )
            .unwrap(),
        );
        assert_eq!(u.flatten(), vec![("sub", "123"), ("email", "a@x"), ("username", "alice")]);
    }

    #[test]
    fn one_request_at_a_time_and_late_answers_of_a_forgotten_one_are_dropped() {
        let mut f = UserInfoFlight::default();
        let t = Time::from_ms(0.0);
        let UserInfoStep::Start(a) = f.step(true, 1, t, 1000.0) else { panic!() };
        assert_eq!(f.step(true, 1, t, 1000.0), UserInfoStep::Join);
        assert!(f.done(a, Some(1), t));
        assert_eq!(f.step(true, 1, Time::from_ms(10.0), 1000.0), UserInfoStep::Cached);
        assert!(matches!(f.step(false, 1, t, 1000.0), UserInfoStep::Start(_)), "no session: never the cache");
        // forgotten mid-flight: its answer is not kept, and a new request starts
        let mut f = UserInfoFlight::default();
        let UserInfoStep::Start(old) = f.step(true, 1, t, 1000.0) else { panic!() };
        f.forget();
        let UserInfoStep::Start(new) = f.step(true, 2, t, 1000.0) else { panic!() };
        assert!(!f.done(old, Some(1), t));
        assert_eq!(f.step(true, 2, t, 1000.0), UserInfoStep::Join, "the new request is still in flight");
        assert!(f.done(new, Some(2), t));
        // a failure caches nothing
        let UserInfoStep::Start(e) = f.step(true, 3, t, 1000.0) else { panic!() };
        assert!(!f.done(e, None, t));
        assert!(matches!(f.step(true, 3, t, 1000.0), UserInfoStep::Start(_)));
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
