//! The ID token of a sign-in, checked before anything is stored (OpenID Connect Core §3.1.3.7).
//!
//! The token comes straight from the token endpoint over the connection the browser checked,
//! so (as §3.1.3.7 item 6 allows for this flow) its signature is not verified here; what is
//! checked is that it was issued by the configured server (`iss`, byte for byte, always), for
//! this client (`aud`, and `azp` when there are several audiences), for this sign-in (`nonce`:
//! a token replayed from another sign-in fails), and that it is current (`exp`, `iat`), with a
//! clock skew allowed.

use alloc::string::String;
use alloc::vec::Vec;

use super::read::{Fields, Value};
use super::time::Time;

/// How far the browser's clock may be from the server's (oidc-client-ts allows the same).
pub const CLOCK_SKEW_MS: f64 = 300_000.0;

/// Why an ID token was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdTokenProblem {
    /// The scope asked for OpenID Connect and the answer has no ID token.
    Missing,
    /// Not a JWT with a JSON payload.
    Unreadable,
    Issuer,
    Audience,
    Nonce,
    Expired,
    IssuedInFuture,
}

impl IdTokenProblem {
    pub fn as_str(self) -> &'static str {
        match self {
            IdTokenProblem::Missing => "presence (`openid` was asked)",
            IdTokenProblem::Unreadable => "JWT form",
            IdTokenProblem::Issuer => "`iss`",
            IdTokenProblem::Audience => "`aud`/`azp`",
            IdTokenProblem::Nonce => "`nonce`",
            IdTokenProblem::Expired => "`exp` (expired)",
            IdTokenProblem::IssuedInFuture => "`iat` (in the future)",
        }
    }
}

/// The claims checked, as read from the payload.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct IdClaims {
    pub iss: Option<String>,
    /// `aud`: one string or a list of them.
    pub aud: Vec<String>,
    pub azp: Option<String>,
    pub nonce: Option<String>,
    /// Seconds since the epoch.
    pub exp: Option<f64>,
    pub iat: Option<f64>,
}

impl IdClaims {
    pub fn read<O: Fields>(o: &O) -> IdClaims {
        let aud = match o.field("aud") {
            Value::Str(s) => alloc::vec![s],
            Value::Texts(l) => l,
            _ => Vec::new(),
        };
        IdClaims {
            iss: o.field("iss").text(),
            aud,
            azp: o.field("azp").text(),
            nonce: o.field("nonce").text(),
            exp: o.field("exp").number(),
            iat: o.field("iat").number(),
        }
    }
}

/// What the token must say.
#[derive(Debug, Clone, Copy)]
pub struct Expected<'a> {
    /// The identity server's issuer (discovered, the `issuer` option, or Cognito's user pool),
    /// compared byte for byte: always known where sign-in is configured.
    pub issuer: &'a str,
    pub client_id: &'a str,
    pub nonce: &'a str,
}

/// The checks of §3.1.3.7, in its order.
pub fn check(c: &IdClaims, e: Expected<'_>, now: Time) -> Result<(), IdTokenProblem> {
    if c.iss.as_deref() != Some(e.issuer) {
        return Err(IdTokenProblem::Issuer);
    }
    let for_us = c.aud.iter().any(|a| a == e.client_id);
    let azp_ok = match &c.azp {
        Some(azp) => azp == e.client_id,
        None => c.aud.len() == 1,
    };
    if !for_us || !azp_ok {
        return Err(IdTokenProblem::Audience);
    }
    if c.nonce.as_deref() != Some(e.nonce) {
        return Err(IdTokenProblem::Nonce);
    }
    let now = now.ms();
    match c.exp {
        Some(exp) if exp.is_finite() && exp * 1000.0 + CLOCK_SKEW_MS > now => {}
        _ => return Err(IdTokenProblem::Expired),
    }
    if c.iat.is_some_and(|iat| iat.is_nan() || iat * 1000.0 > now + CLOCK_SKEW_MS) {
        return Err(IdTokenProblem::IssuedInFuture);
    }
    Ok(())
}

/// The ID token of a code exchange's answer: `claims` is `None` when the answer has none, and
/// `Some(None)` when it is not a JWT with a JSON payload. One is required when `scope` asked for
/// OpenID Connect (an `openid` answer without one is refused, never taken as a plain OAuth2
/// sign-in); one that is there is always checked.
pub fn check_answer(claims: Option<Option<IdClaims>>, scope: &str, e: Expected<'_>, now: Time) -> Result<(), IdTokenProblem> {
    match claims {
        None if wants_id_token(scope) => Err(IdTokenProblem::Missing),
        None => Ok(()),
        Some(None) => Err(IdTokenProblem::Unreadable),
        Some(Some(c)) => check(&c, e, now),
    }
}

/// Does `scope` ask for OpenID Connect (and so for an ID token)?
pub fn wants_id_token(scope: &str) -> bool {
    scope.as_bytes().split(|b| *b == b' ').any(|s| s == b"openid")
}

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    use super::*;
    use crate::core::read::tests::json;
    use proptest::prelude::*;

    const NOW_S: f64 = 1_800_000_000.0;

    fn good() -> IdClaims {
        IdClaims {
            iss: Some("https://idp".into()),
            aud: alloc::vec!["spa".into()],
            azp: None,
            nonce: Some("n1".into()),
            exp: Some(NOW_S + 600.0),
            iat: Some(NOW_S),
        }
    }

    fn expected() -> Expected<'static> {
        Expected { issuer: "https://idp", client_id: "spa", nonce: "n1" }
    }

    fn at(c: &IdClaims, now_s: f64) -> Result<(), IdTokenProblem> {
        check(c, expected(), Time::from_ms(now_s * 1000.0))
    }

    #[test]
    fn a_token_of_this_sign_in_passes() {
        assert_eq!(at(&good(), NOW_S), Ok(()));
    }

    #[test]
    fn claims_read_from_json_with_aud_as_string_or_list() {
        let c = IdClaims::read(&json(r#"{"iss":"https://idp","aud":["spa","api"],"azp":"spa","nonce":"n1","exp":1,"iat":"2"}"#).unwrap());
        assert_eq!((c.aud.len(), c.azp.as_deref(), c.exp, c.iat), (2, Some("spa"), Some(1.0), Some(2.0)));
        assert_eq!(IdClaims::read(&json(r#"{"aud":"spa"}"#).unwrap()).aud, ["spa"]);
    }

    #[test]
    fn a_wrong_issuer_audience_or_nonce_is_refused() {
        assert_eq!(at(&IdClaims { iss: Some("https://evil".into()), ..good() }, NOW_S), Err(IdTokenProblem::Issuer));
        assert_eq!(at(&IdClaims { iss: None, ..good() }, NOW_S), Err(IdTokenProblem::Issuer));
        assert_eq!(at(&IdClaims { aud: alloc::vec!["other".into()], ..good() }, NOW_S), Err(IdTokenProblem::Audience));
        assert_eq!(at(&IdClaims { nonce: Some("replayed".into()), ..good() }, NOW_S), Err(IdTokenProblem::Nonce));
        assert_eq!(at(&IdClaims { nonce: None, ..good() }, NOW_S), Err(IdTokenProblem::Nonce));
    }

    #[test]
    fn several_audiences_need_azp_naming_this_client() {
        let two = IdClaims { aud: alloc::vec!["api".into(), "spa".into()], ..good() };
        assert_eq!(at(&two, NOW_S), Err(IdTokenProblem::Audience));
        assert_eq!(at(&IdClaims { azp: Some("spa".into()), ..two.clone() }, NOW_S), Ok(()));
        assert_eq!(at(&IdClaims { azp: Some("api".into()), ..two }, NOW_S), Err(IdTokenProblem::Audience));
    }

    #[test]
    fn the_issuer_is_compared_byte_for_byte() {
        assert_eq!(at(&IdClaims { iss: Some("https://idp/".into()), ..good() }, NOW_S), Err(IdTokenProblem::Issuer));
        assert_eq!(at(&IdClaims { iss: Some("https://IDP".into()), ..good() }, NOW_S), Err(IdTokenProblem::Issuer));
        assert_eq!(at(&IdClaims { iss: Some(String::new()), ..good() }, NOW_S), Err(IdTokenProblem::Issuer));
    }

    #[test]
    fn an_openid_answer_without_an_id_token_is_refused() {
        let now = Time::from_ms(NOW_S * 1000.0);
        assert_eq!(check_answer(None, "openid", expected(), now), Err(IdTokenProblem::Missing));
        assert_eq!(check_answer(None, "email openid offline_access", expected(), now), Err(IdTokenProblem::Missing));
        // a plain OAuth2 scope asks for none
        assert_eq!(check_answer(None, "email openidish", expected(), now), Ok(()));
        assert_eq!(check_answer(None, "", expected(), now), Ok(()));
        // one that is there is checked whatever the scope
        assert_eq!(check_answer(Some(None), "email", expected(), now), Err(IdTokenProblem::Unreadable));
        let foreign = IdClaims { iss: Some("https://evil".into()), ..good() };
        assert_eq!(check_answer(Some(Some(foreign)), "email", expected(), now), Err(IdTokenProblem::Issuer));
        assert_eq!(check_answer(Some(Some(good())), "openid", expected(), now), Ok(()));
    }

    #[test]
    fn the_skew_edges_are_exact_to_the_millisecond() {
        // `exp` + skew must be later than now: at the edge itself the token has expired
        let edge_s = NOW_S - CLOCK_SKEW_MS / 1000.0;
        assert_eq!(at(&IdClaims { exp: Some(edge_s), ..good() }, NOW_S), Err(IdTokenProblem::Expired));
        assert_eq!(at(&IdClaims { exp: Some(edge_s + 0.001), ..good() }, NOW_S), Ok(()));
        // `iat` may be as late as now + skew, not a millisecond later
        let late_s = NOW_S + CLOCK_SKEW_MS / 1000.0;
        let c = |iat| IdClaims { iat: Some(iat), exp: Some(NOW_S + 2_000.0), ..good() };
        assert_eq!(at(&c(late_s), NOW_S), Ok(()));
        assert_eq!(at(&c(late_s + 0.001), NOW_S), Err(IdTokenProblem::IssuedInFuture));
    }

    #[test]
    fn each_problem_names_the_check_that_failed() {
        let all = [
            (IdTokenProblem::Missing, "presence"),
            (IdTokenProblem::Unreadable, "JWT"),
            (IdTokenProblem::Issuer, "`iss`"),
            (IdTokenProblem::Audience, "`aud`"),
            (IdTokenProblem::Nonce, "`nonce`"),
            (IdTokenProblem::Expired, "`exp`"),
            (IdTokenProblem::IssuedInFuture, "`iat`"),
        ];
        for (p, names) in all {
            assert!(p.as_str().contains(names), "{p:?}: {:?}", p.as_str());
        }
    }

    proptest! {
        /// `exp` passes exactly while it is later than now minus the skew.
        #[test]
        fn expiry_is_judged_with_the_skew(offset_s in -1_000.0f64..1_000.0) {
            let c = IdClaims { exp: Some(NOW_S + offset_s), ..good() };
            let ok = (NOW_S + offset_s) * 1000.0 + CLOCK_SKEW_MS > NOW_S * 1000.0;
            prop_assert_eq!(at(&c, NOW_S).is_ok(), ok);
        }

        /// `iat` passes exactly while it is not later than now plus the skew.
        #[test]
        fn issued_at_in_the_future_beyond_the_skew_is_refused(offset_s in -1_000.0f64..1_000.0) {
            let c = IdClaims { iat: Some(NOW_S + offset_s), exp: Some(NOW_S + 2_000.0), ..good() };
            let ok = (NOW_S + offset_s) * 1000.0 <= NOW_S * 1000.0 + CLOCK_SKEW_MS;
            prop_assert_eq!(at(&c, NOW_S), if ok { Ok(()) } else { Err(IdTokenProblem::IssuedInFuture) });
        }

        /// A token passes only if every claim is this sign-in's.
        #[test]
        fn any_foreign_claim_fails(iss in "[a-z]{1,3}", aud in "[a-z]{1,3}", nonce in "[a-z0-9]{1,3}") {
            let c = IdClaims { iss: Some(iss.clone()), aud: alloc::vec![aud.clone()], nonce: Some(nonce.clone()), ..good() };
            let e = Expected { issuer: "abc", client_id: "spa", nonce: "n1" };
            let r = check(&c, e, Time::from_ms(NOW_S * 1000.0));
            prop_assert_eq!(r.is_ok(), iss == "abc" && aud == "spa" && nonce == "n1");
        }
    }
}
