//! Where the identity server's endpoints are: named in the options, or found by OpenID
//! Connect Discovery (`<issuer>/.well-known/openid-configuration`).
//!
//! The document is trusted only for the issuer it was asked about: its `issuer` must be the
//! configured one (Discovery §4.3; a trailing `/` aside), or a server could name endpoints for
//! another. What the options name explicitly wins over what the document says.

use alloc::string::String;

use super::read::Fields;

/// An identity server's endpoints, as the options name them or a discovery document does.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Endpoints {
    /// The issuer exactly as the server spells it (ID tokens carry this `iss`); `None` when
    /// the options name none (then `iss` is not checked).
    pub issuer: Option<String>,
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

/// Two spellings of one issuer (a trailing `/` aside).
pub fn same_issuer(a: &str, b: &str) -> bool {
    unslashed(a) == unslashed(b)
}

impl Endpoints {
    /// Each endpoint from `self` (the options), else from `found` (the document).
    pub fn or(self, found: Endpoints) -> Endpoints {
        Endpoints {
            issuer: found.issuer.or(self.issuer),
            authorization: self.authorization.or(found.authorization),
            token: self.token.or(found.token),
            userinfo: self.userinfo.or(found.userinfo),
            revocation: self.revocation.or(found.revocation),
            end_session: self.end_session.or(found.end_session),
        }
    }

    /// Reads the document fetched for `issuer`; `Err` says why it is not usable.
    pub fn read<O: Fields>(o: &O, issuer: &str) -> Result<Endpoints, &'static str> {
        let issued = o.field("issuer").text().ok_or("no `issuer`")?;
        if !same_issuer(&issued, issuer) {
            return Err("its `issuer` is not the configured one");
        }
        let url = |k| o.field(k).text().filter(|s| s.starts_with("https://") || s.starts_with("http://"));
        Ok(Endpoints {
            issuer: Some(issued),
            authorization: url("authorization_endpoint"),
            token: url("token_endpoint"),
            userinfo: url("userinfo_endpoint"),
            revocation: url("revocation_endpoint"),
            end_session: url("end_session_endpoint"),
        })
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
        let d = Endpoints::read(&doc, "https://idp/").unwrap();
        assert_eq!(d.token.as_deref(), Some("https://idp/token"));
        assert_eq!(d.end_session.as_deref(), Some("https://idp/logout"));
        assert_eq!(d.userinfo, None, "only http(s) endpoints are taken");
        assert_eq!(d.issuer.as_deref(), Some("https://idp"));
        // the options win, but the issuer is spelled as the server spells it
        let given = Endpoints { issuer: Some("https://idp/".into()), token: Some("https://proxy/token".into()), ..Endpoints::default() };
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
    fn the_document_url_has_one_slash() {
        assert_eq!(document_url("https://idp/tenant/"), "https://idp/tenant/.well-known/openid-configuration");
        assert_eq!(document_url("https://idp"), "https://idp/.well-known/openid-configuration");
    }
}
