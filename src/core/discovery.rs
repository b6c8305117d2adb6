//! Where the identity server's endpoints are: named in the options, or found by OpenID
//! Connect Discovery (`<issuer>/.well-known/openid-configuration`).
//!
//! The document is trusted only for the issuer it was asked about: its `issuer` must be the
//! configured one, byte for byte (Discovery §4.3: "MUST be identical"; a trailing `/` is a
//! different issuer), or a server could name endpoints for another. What the options name
//! explicitly wins over what the document says.
//!
//! Sign-in always has an issuer to check `iss` against: discovered, the `issuer` option, or a
//! Cognito user pool's ([`pool_issuer`]); options that configure sign-in without one are refused
//! when the manager is made ([`missing_issuer`]).

use alloc::string::String;

use super::read::Fields;

/// An identity server's endpoints, as the options name them or a discovery document does.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Endpoints {
    /// The issuer exactly as the server spells it (ID tokens carry this `iss`); `None` when
    /// the options configure no sign-in.
    pub issuer: Option<String>,
    /// The metadata's `authorization_response_iss_parameter_supported`: a redirect back
    /// without `iss` is refused (RFC 9207 §2.4).
    pub iss_parameter: bool,
    pub authorization: Option<String>,
    pub token: Option<String>,
    pub userinfo: Option<String>,
    pub revocation: Option<String>,
    pub end_session: Option<String>,
}

/// `url` without its trailing `/`s (bytes: no `char` searcher in the module).
pub fn unslashed(url: &str) -> &str {
    let mut end = url.len();
    while end > 0 && url.as_bytes()[end - 1] == b'/' {
        end -= 1;
    }
    &url[..end]
}

/// The document's address for `issuer`.
pub fn document_url(issuer: &str) -> String {
    [unslashed(issuer), "/.well-known/openid-configuration"].concat()
}

impl Endpoints {
    /// Each endpoint from `self` (the options), else from `found` (the document).
    pub fn or(self, found: Endpoints) -> Endpoints {
        Endpoints {
            issuer: found.issuer.or(self.issuer),
            iss_parameter: found.iss_parameter,
            authorization: self.authorization.or(found.authorization),
            token: self.token.or(found.token),
            userinfo: self.userinfo.or(found.userinfo),
            revocation: self.revocation.or(found.revocation),
            end_session: self.end_session.or(found.end_session),
        }
    }

    /// Reads the document fetched for `issuer`; `Err` says why it is not usable.
    pub fn read<O: Fields>(o: &O, issuer: &str) -> Result<Endpoints, String> {
        let issued = o.field("issuer").text().ok_or_else(|| String::from("no `issuer`"))?;
        if issued != issuer {
            return Err(["its `issuer` is \"", &issued, "\", not `refresh.issuer` (compared byte for byte)"].concat());
        }
        let url = |k| o.field(k).text().filter(|s| s.starts_with("https://") || s.starts_with("http://"));
        Ok(Endpoints {
            issuer: Some(issued),
            authorization: url("authorization_endpoint"),
            token: url("token_endpoint"),
            userinfo: url("userinfo_endpoint"),
            revocation: url("revocation_endpoint"),
            end_session: url("end_session_endpoint"),
            iss_parameter: o.field("authorization_response_iss_parameter_supported").flag() == Some(true),
        })
    }
}

/// The issuer of a Cognito user pool (`eu-west-1_AbCdEf123`): `https://cognito-idp.<region>.
/// amazonaws.com/<poolId>`, the `iss` of its ID tokens, in the pool id's own region. `None`:
/// not a user pool id.
pub fn pool_issuer(pool_id: &str) -> Option<String> {
    let i = pool_id.bytes().position(|c| c == b'_')?;
    let (region, id) = (&pool_id[..i], &pool_id.as_bytes()[i + 1..]);
    let region_ok = !region.is_empty() && region.bytes().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'-');
    (region_ok && !id.is_empty() && id.iter().all(u8::is_ascii_alphanumeric))
        .then(|| ["https://cognito-idp.", region, ".amazonaws.com/", pool_id].concat())
}

/// Options that configure sign-in (`authorization`: an authorization endpoint named, Cognito's
/// hosted-UI `domain` included) without anything that gives its issuer: the `TypeError` at
/// construction, naming what to add. Without an issuer the ID token's `iss` and the redirect's
/// could not be checked, and sign-in is never allowed to skip them.
pub fn missing_issuer(cognito: bool, authorization: bool, issuer: bool) -> Option<&'static str> {
    match (authorization && !issuer, cognito) {
        (false, _) => None,
        (true, false) => Some("option `refresh.authorizationUrl` needs `refresh.issuer` (the `iss` of the server's ID tokens, exactly)"),
        (true, true) => {
            Some("option `refresh.domain` needs `refresh.userPoolId` (or `refresh.issuer`): sign-in checks the ID token's `iss`")
        }
    }
}

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    use super::*;
    use crate::core::read::tests::json;

    #[test]
    fn the_document_names_the_endpoints() {
        let doc = json(
            r#"{"issuer":"https://idp","authorization_endpoint":"https://idp/auth","token_endpoint":"https://idp/token",
            "revocation_endpoint":"https://idp/revoke","end_session_endpoint":"https://idp/logout","userinfo_endpoint":"javascript:x"}"#,
        )
        .unwrap();
        let d = Endpoints::read(&doc, "https://idp").unwrap();
        assert_eq!(d.token.as_deref(), Some("https://idp/token"));
        assert_eq!(d.end_session.as_deref(), Some("https://idp/logout"));
        assert_eq!(d.userinfo, None, "only http(s) endpoints are taken");
        assert_eq!(d.issuer.as_deref(), Some("https://idp"));
        // the options win, but the issuer is spelled as the server spells it
        let given = Endpoints { issuer: Some("https://idp".into()), token: Some("https://proxy/token".into()), ..Endpoints::default() };
        let both = given.or(d);
        assert_eq!((both.issuer.as_deref(), both.token.as_deref()), (Some("https://idp"), Some("https://proxy/token")));
        assert_eq!(both.authorization.as_deref(), Some("https://idp/auth"));
    }

    #[test]
    fn a_document_for_another_issuer_is_refused() {
        let doc = json(r#"{"issuer":"https://evil","token_endpoint":"https://evil/token"}"#).unwrap();
        assert!(Endpoints::read(&doc, "https://idp").is_err());
        assert!(Endpoints::read(&json("{}").unwrap(), "https://idp").is_err());
    }

    #[test]
    fn a_document_whose_issuer_differs_by_a_trailing_slash_is_refused() {
        let doc = json(r#"{"issuer":"https://idp/tenant/","token_endpoint":"https://idp/token"}"#).unwrap();
        let why = Endpoints::read(&doc, "https://idp/tenant").unwrap_err();
        assert!(why.contains("\"https://idp/tenant/\"") && why.contains("byte for byte"), "{why}");
        let doc = json(r#"{"issuer":"https://idp/tenant","token_endpoint":"https://idp/token"}"#).unwrap();
        assert!(Endpoints::read(&doc, "https://idp/tenant/").is_err());
        assert!(Endpoints::read(&doc, "https://IDP/tenant").is_err());
        assert!(Endpoints::read(&doc, "https://idp/tenant").is_ok());
    }

    #[test]
    fn the_metadata_says_whether_the_redirect_must_carry_iss() {
        let read = |doc: &str| Endpoints::read(&json(doc).unwrap(), "https://idp").unwrap().iss_parameter;
        assert!(read(r#"{"issuer":"https://idp","authorization_response_iss_parameter_supported":true}"#));
        assert!(!read(r#"{"issuer":"https://idp","authorization_response_iss_parameter_supported":false}"#));
        assert!(!read(r#"{"issuer":"https://idp","authorization_response_iss_parameter_supported":"true"}"#));
        assert!(!read(r#"{"issuer":"https://idp"}"#));
        let found = Endpoints { issuer: Some("https://idp".into()), iss_parameter: true, ..Endpoints::default() };
        assert!(Endpoints::default().or(found).iss_parameter, "the document's word is kept");
    }

    #[test]
    fn a_user_pool_gives_its_issuer() {
        assert_eq!(pool_issuer("eu-west-1_AbC123").as_deref(), Some("https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_AbC123"));
        assert_eq!(pool_issuer("us-east-2_x").as_deref(), Some("https://cognito-idp.us-east-2.amazonaws.com/us-east-2_x"));
        for bad in ["", "_abc", "eu-west-1_", "eu-west-1", "eu-west-1_a/b", "EU_abc", "eu-west-1_a_b", "https://x_y"] {
            assert_eq!(pool_issuer(bad), None, "{bad}");
        }
    }

    #[test]
    fn sign_in_without_an_issuer_is_refused_at_construction() {
        assert!(missing_issuer(false, true, false).unwrap().contains("`refresh.issuer`"));
        assert!(missing_issuer(true, true, false).unwrap().contains("`refresh.userPoolId`"));
        // with an issuer, or without sign-in (a refresh-only configuration), nothing to add
        assert_eq!(missing_issuer(false, true, true), None);
        assert_eq!(missing_issuer(true, true, true), None);
        assert_eq!(missing_issuer(false, false, false), None);
        assert_eq!(missing_issuer(true, false, false), None);
    }

    #[test]
    fn an_address_of_slashes_alone_unslashes_to_nothing() {
        assert_eq!(unslashed(""), "");
        assert_eq!(unslashed("///"), "");
        assert_eq!(unslashed("https://idp//"), "https://idp");
    }

    #[test]
    fn the_document_url_has_one_slash() {
        assert_eq!(document_url("https://idp/tenant/"), "https://idp/tenant/.well-known/openid-configuration");
        assert_eq!(document_url("https://idp"), "https://idp/.well-known/openid-configuration");
    }
}
