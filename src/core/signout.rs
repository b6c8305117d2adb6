//! Ending the session at the server: revoking the refresh token (RFC 7009, or Cognito's
//! `RevokeToken`) and the end-session redirect (OpenID Connect RP-Initiated Logout, or
//! Cognito's `/logout`).
//!
//! A revocation is one of the library's own requests: bounded, never redirected, retried with
//! the same backoff as a refresh when the server is throttled or overloaded. Whatever it ends
//! in, the session is already over here; the outcome only goes into the event's detail. A
//! token is sent only to the origin of the token endpoint that issued it.

use alloc::vec::Vec;

use super::own::Judged;
use super::refresh_answer::RefreshVerdict;

/// A revocation's rule, for its [`OwnRequest`](super::own::OwnRequest): `true` when the
/// server says it revoked (a 2xx: RFC 7009 §2.2 answers 200 for an unknown token too). An error
/// answer gets the verdict the refresh rules of its form give it (`as_refresh`: the same line
/// between "slow down" and "no" as for that token endpoint): transient is retried with backoff,
/// anything else is refused for good.
pub fn judge(status: u16, as_refresh: impl FnOnce() -> RefreshVerdict) -> Judged<bool> {
    if (200..300).contains(&status) {
        return Judged::Done(true);
    }
    match as_refresh() {
        RefreshVerdict::Transient { retry_after_ms } => Judged::Again { retry_after_ms, spent: false },
        _ => Judged::Done(false),
    }
}

/// May a token for the token endpoint at `token_origin` go to `target_origin`?
pub fn may_send_token(token_origin: &str, target_origin: &str) -> bool {
    !token_origin.is_empty() && token_origin != "null" && token_origin == target_origin
}

/// The end-session query. OpenID's: `id_token_hint`, `post_logout_redirect_uri`, `client_id`;
/// Cognito's `/logout`: `client_id`, `logout_uri`.
pub fn end_session_query<'a>(
    cognito: bool,
    client_id: &'a str,
    id_token: Option<&'a str>,
    after: Option<&'a str>,
) -> Vec<(&'a str, &'a str)> {
    let hint = if cognito { None } else { id_token.map(|t| ("id_token_hint", t)) };
    let after = after.map(|a| (if cognito { "logout_uri" } else { "post_logout_redirect_uri" }, a));
    let mut q = alloc::vec![("client_id", client_id)];
    for p in [hint, after].into_iter().flatten() {
        q.push(p);
    }
    q
}

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    use super::*;

    #[test]
    fn a_2xx_revokes_and_errors_follow_the_refresh_line() {
        assert_eq!(judge(200, || unreachable!()), Judged::Done(true));
        assert_eq!(
            judge(503, || RefreshVerdict::Transient { retry_after_ms: Some(5.0) }),
            Judged::Again { retry_after_ms: Some(5.0), spent: false }
        );
        assert_eq!(judge(400, || RefreshVerdict::Terminal), Judged::Done(false));
    }

    #[test]
    fn tokens_go_only_to_the_token_endpoints_origin() {
        assert!(may_send_token("https://idp", "https://idp"));
        assert!(!may_send_token("https://idp", "https://evil"));
        assert!(!may_send_token("null", "null"));
        assert!(!may_send_token("", ""));
    }

    #[test]
    fn the_end_session_query_is_the_servers_kind() {
        let q = end_session_query(false, "spa", Some("idt"), Some("https://app/"));
        assert_eq!(q, [("client_id", "spa"), ("id_token_hint", "idt"), ("post_logout_redirect_uri", "https://app/")]);
        let q = end_session_query(true, "spa", Some("idt"), Some("https://app/"));
        assert_eq!(q, [("client_id", "spa"), ("logout_uri", "https://app/")]);
    }
}
