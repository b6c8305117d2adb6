//! Sign-in with the authorization code flow and PKCE (RFC 6749 §4.1, RFC 7636 S256, OpenID
//! Connect Core §3.1): the secrets of one sign-in, the authorization request, what this tab
//! keeps while the user is away at the identity server, and what the redirect back means.
//!
//! Why the rules are strict: the redirect back is a URL anyone can craft. A `state` that does
//! not match the one this tab kept is refused before anything is sent (login CSRF, RFC 6749
//! §10.12), the kept secrets are used once (a second use of the same redirect finds nothing),
//! and an `iss` parameter that is not the issuer, byte for byte, is refused, as is a redirect
//! without one from a server whose metadata says it sends it (mix-up, RFC 9207 §2.4). Nothing
//! is stored until the ID token's claims are checked ([`super::id_token`]).
//!
//! The code is used once (§4.1.2: a code presented twice may revoke every token issued from
//! it), so its exchange is sent again only when the server said it did not act on it: 429, 503
//! with `Retry-After`, AWS's throttling ([`judge_exchange`]). A network error, a timeout, a 5xx
//! or a 2xx without tokens may have used it up: the sign-in fails and says which.

use alloc::string::String;
use alloc::vec::Vec;

use base64::Engine as _;

use super::dpop::asks_for_nonce;
use super::id_token::IdTokenProblem;
use super::own::Judged;
use super::read::Fields;
use super::retry::{is_throttling_type, parse_retry_after};
use super::time::Time;
use super::token::TokenInput;

/// Random bytes one sign-in needs: 16 for `state`, 16 for `nonce`, 48 for the PKCE verifier
/// (64 characters, within RFC 7636's 43 to 128).
pub const RANDOM_BYTES: usize = 80;

/// base64url without padding: PKCE's encoding (RFC 7636 appendix A), also used for `state`
/// and `nonce`.
pub fn b64url(bytes: &[u8]) -> String {
    super::b64::B64URL.encode(bytes)
}

/// The secrets of one sign-in.
#[derive(Debug, Clone, PartialEq)]
pub struct Secrets {
    pub state: String,
    pub nonce: String,
    pub verifier: String,
}

impl Secrets {
    /// From [`RANDOM_BYTES`] bytes of a cryptographic generator (the caller's).
    pub fn new(random: &[u8; RANDOM_BYTES]) -> Secrets {
        Secrets { state: b64url(&random[..16]), nonce: b64url(&random[16..32]), verifier: b64url(&random[32..]) }
    }
}

/// The S256 `code_challenge`: base64url of the SHA-256 digest of the verifier (the digest is
/// computed by the caller: WebCrypto in the browser).
pub fn challenge(digest: &[u8]) -> String {
    b64url(digest)
}

/// The query of the authorization request, in order; `extra` (the app's own parameters, such
/// as `prompt` or `audience`) never replaces one of the flow's.
pub fn authorize_query<'a>(
    client_id: &'a str,
    redirect_uri: &'a str,
    scope: &'a str,
    secrets: &'a Secrets,
    challenge: &'a str,
    extra: &'a [(String, String)],
) -> Vec<(&'a str, &'a str)> {
    let mut q = alloc::vec![
        ("response_type", "code"),
        ("client_id", client_id),
        ("redirect_uri", redirect_uri),
        ("scope", scope),
        ("state", secrets.state.as_str()),
        ("nonce", secrets.nonce.as_str()),
        ("code_challenge", challenge),
        ("code_challenge_method", "S256"),
    ];
    for (k, v) in extra {
        if !q.iter().any(|(known, _)| known == k) {
            q.push((k.as_str(), v.as_str()));
        }
    }
    q
}

/// What this tab keeps (in `sessionStorage`) while the user is at the identity server: one
/// sign-in at a time; a newer `signIn()` replaces it, a used one is removed.
#[derive(Debug, Clone, PartialEq)]
pub struct Pending {
    pub secrets: Secrets,
    pub redirect_uri: String,
    pub scope: String,
    /// The app's `appState`, as JSON text.
    pub app_state: Option<String>,
}

impl Pending {
    /// Reads a kept record (`{ s, n, v, r, c, a }`); `None` if any required part is missing.
    pub fn read<O: Fields>(o: &O) -> Option<Pending> {
        let text = |k| o.field(k).text().filter(|s| !s.is_empty());
        let secrets = Secrets { state: text("s")?, nonce: text("n")?, verifier: text("v")? };
        Some(Pending { secrets, redirect_uri: text("r")?, scope: text("c")?, app_state: text("a") })
    }
}

/// The parameters of the redirect back that matter.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Callback {
    pub code: Option<String>,
    pub state: Option<String>,
    pub error: Option<String>,
    pub error_description: Option<String>,
    /// RFC 9207's `iss`, where the server sends it.
    pub iss: Option<String>,
}

/// Query parameters the flow added to the app's URL, removed from the address bar after.
pub const CALLBACK_PARAMS: &[&str] = &["code", "state", "iss", "session_state", "error", "error_description", "error_uri"];

/// Why a sign-in failed: `SignInError`'s `detail.code`, and what the message says.
#[derive(Debug, Clone, PartialEq)]
pub enum Failure {
    /// The identity server's own `error` (`access_denied`, `login_required`, ...), and its
    /// description.
    Server {
        error: String,
        description: Option<String>,
    },
    /// No kept sign-in with this `state`: a tampered, foreign or already used redirect.
    StateMismatch,
    /// The redirect's `iss` names another server.
    IssuerMismatch,
    /// The redirect has no `iss`, though the server's metadata says it always sends one
    /// (`authorization_response_iss_parameter_supported`, RFC 9207 §2.4).
    IssuerMissing,
    /// A redirect back without `code` or `error`.
    NoCode,
    /// The token endpoint refused the code (used already, expired, wrong verifier).
    CodeRejected {
        status: u16,
    },
    /// The code exchange got an answer that may have used the code up; it is not sent again.
    ExchangeFailed(ExchangeProblem),
    /// The token endpoint said it did not act (throttled) until the retries were spent; the
    /// HTTP status of its last answer.
    ExchangeThrottled {
        status: u16,
    },
    IdTokenInvalid(IdTokenProblem),
    /// Discovery (`/.well-known/openid-configuration`) failed or disagreed with the options.
    Discovery(String),
    /// `dpop: true` and the DPoP key could not be made or loaded: its cause (before anything
    /// was sent, before the page navigated).
    DpopKeyUnavailable(String),
    /// The options do not say where to sign in, or the page cannot (no WebCrypto).
    Unsupported(&'static str),
}

impl Failure {
    pub fn code(&self) -> &str {
        match self {
            Failure::Server { error, .. } => error,
            Failure::StateMismatch => "state-mismatch",
            Failure::IssuerMismatch => "issuer-mismatch",
            Failure::IssuerMissing => "issuer-missing",
            Failure::NoCode => "no-code",
            Failure::CodeRejected { .. } => "code-rejected",
            Failure::ExchangeFailed(_) => "exchange-failed",
            Failure::ExchangeThrottled { .. } => "exchange-throttled",
            Failure::IdTokenInvalid(_) => "id-token-invalid",
            Failure::Discovery(_) => "discovery-failed",
            Failure::DpopKeyUnavailable(_) => "dpop-key-unavailable",
            Failure::Unsupported(_) => "unsupported",
        }
    }

    /// What happened and what to do, for the error's message.
    pub fn message(&self) -> String {
        let status;
        let parts: &[&str] = match self {
            Failure::Server { error, description } => &[
                "the server refused: ",
                error,
                description.as_deref().map_or("", |_| " ("),
                description.as_deref().unwrap_or(""),
                description.as_deref().map_or("", |_| ")"),
            ],
            Failure::StateMismatch => &["`state` is not this tab's sign-in (forged, replayed, or another tab's)"],
            Failure::IssuerMismatch => &["`iss` names another server"],
            Failure::IssuerMissing => &["the redirect has no `iss`, which this server's metadata says it always sends (RFC 9207)"],
            Failure::NoCode => &["no `code` in the redirect"],
            Failure::CodeRejected { .. } => &["the code was refused (used or expired)"],
            Failure::ExchangeFailed(p) => {
                status = p.status().map(decimal).unwrap_or_default();
                &[p.what(), &status, p.after(), "; the code is not sent twice: sign in again"]
            }
            Failure::ExchangeThrottled { status: s } => {
                status = decimal(*s);
                &["the token endpoint still throttled (HTTP ", &status, ") after the retries: sign in again later"]
            }
            Failure::IdTokenInvalid(p) => &["the ID token's ", p.as_str(), " is wrong"],
            Failure::Discovery(why) => &["OpenID discovery failed: ", why],
            Failure::DpopKeyUnavailable(why) => &["the DPoP key could not be made (", why, "); the page did not go to the server"],
            Failure::Unsupported(why) => &[why],
        };
        parts.concat()
    }

    /// Did this redirect use up the kept sign-in? Everything after a matching `state` does:
    /// the secrets are for one exchange. A mismatch leaves it, so a forged redirect cannot
    /// cancel the user's real sign-in.
    pub fn consumes_pending(&self) -> bool {
        !matches!(self, Failure::StateMismatch)
    }
}

/// An HTTP status (three digits) as text, without integer formatting in the module.
fn decimal(s: u16) -> String {
    let d = |p: u16| b'0' + (s / p % 10) as u8;
    String::from_utf8(alloc::vec![d(100), d(10), d(1)]).unwrap_or_default()
}

/// Why a code exchange failed without saying the server did not act.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExchangeProblem {
    /// No answer: a network error, a timeout, or a redirect (never followed).
    NoAnswer,
    /// An HTTP status that does not say the server did not act (a 5xx, a 503 without
    /// `Retry-After`, ...).
    Status(u16),
    /// A 2xx answer without a usable access token.
    NoToken(u16),
    /// A DPoP nonce challenge again after the one resend, or one whose nonce was unreadable.
    Nonce,
}

impl ExchangeProblem {
    fn status(self) -> Option<u16> {
        match self {
            ExchangeProblem::Status(s) | ExchangeProblem::NoToken(s) => Some(s),
            ExchangeProblem::NoAnswer | ExchangeProblem::Nonce => None,
        }
    }

    fn what(self) -> &'static str {
        match self {
            ExchangeProblem::NoAnswer => "no answer from the token endpoint (network, timeout, redirect)",
            ExchangeProblem::Status(_) | ExchangeProblem::NoToken(_) => "the token endpoint answered HTTP ",
            ExchangeProblem::Nonce => "the token endpoint asked for a DPoP nonce again",
        }
    }

    fn after(self) -> &'static str {
        match self {
            ExchangeProblem::NoToken(_) => " without an access token",
            _ => "",
        }
    }
}

/// What the token endpoint answered a code exchange, as the browser layer read it. `status` 0:
/// no answer (network error, timeout, redirect).
#[derive(Debug, Clone, Copy, Default)]
pub struct ExchangeAnswer<'a> {
    pub status: u16,
    pub retry_after: Option<&'a str>,
    /// AWS's error type (`x-amzn-ErrorType`, else the body's `__type`).
    pub aws_type: Option<&'a str>,
    /// The body's OAuth2 `error`.
    pub error: Option<&'a str>,
    /// The body read as a token answer, when it is a JSON object.
    pub tokens: Option<&'a TokenInput>,
}

/// What one answer of the code exchange means: the tokens, or why not.
pub type Exchange = Result<TokenInput, Failure>;

/// The code exchange's rule, for its [`OwnRequest`](super::own::OwnRequest). The code is sent
/// again only after an answer that says the server did not act on it (RFC 6749 §4.1.2: a code
/// is used once): 429, 503 with `Retry-After`, AWS's 400 throttling; once the retries are spent
/// (or a `Retry-After` is beyond `maxDelayMs`) it is `exchange-throttled`. A DPoP nonce
/// challenge is resent before this verdict counts (once, by the machine).
pub fn judge_exchange(a: &ExchangeAnswer<'_>, now: Time) -> Judged<Exchange> {
    let retry_after_ms = a.retry_after.and_then(|v| parse_retry_after(v, now));
    let fail = |p| Judged::Done(Err(Failure::ExchangeFailed(p)));
    match a.status {
        0 => fail(ExchangeProblem::NoAnswer),
        200..=299 => match a.tokens.filter(|t| t.access_token.is_some()) {
            Some(t) => Judged::Done(Ok(t.clone())),
            None => fail(ExchangeProblem::NoToken(a.status)),
        },
        s if s == 429 || (s == 503 && retry_after_ms.is_some()) || (s == 400 && a.aws_type.is_some_and(is_throttling_type)) => {
            Judged::Again { retry_after_ms, spent: Err(Failure::ExchangeThrottled { status: s }) }
        }
        s if asks_for_nonce(s, a.error, None) => fail(ExchangeProblem::Nonce),
        s @ 400..=499 => Judged::Done(Err(Failure::CodeRejected { status: s })),
        s => fail(ExchangeProblem::Status(s)),
    }
}

/// What the redirect back means: the code to exchange and the kept sign-in it belongs to, or
/// why not. `issuer`: the identity server's, byte for byte (its `iss` parameter must be it);
/// `iss_required`: its metadata says it always sends `iss` (RFC 9207 §2.4).
pub fn judge_callback(cb: &Callback, pending: Option<Pending>, issuer: &str, iss_required: bool) -> Result<(String, Pending), Failure> {
    let pending = pending.ok_or(Failure::StateMismatch)?;
    if cb.state.as_deref() != Some(pending.secrets.state.as_str()) {
        return Err(Failure::StateMismatch);
    }
    match cb.iss.as_deref() {
        Some(iss) if iss != issuer => return Err(Failure::IssuerMismatch),
        None if iss_required => return Err(Failure::IssuerMissing),
        _ => {}
    }
    if let Some(error) = &cb.error {
        return Err(Failure::Server { error: error.clone(), description: cb.error_description.clone() });
    }
    let code = cb.code.clone().filter(|c| !c.is_empty()).ok_or(Failure::NoCode)?;
    Ok((code, pending))
}

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    use super::*;
    use crate::core::own::{NonceSeen, OwnRequest, OwnStep};
    use crate::core::read::tests::json;
    use crate::core::retry::RetryPolicy;
    use proptest::prelude::*;

    fn pending(state: &str) -> Pending {
        let s = Secrets { state: state.into(), nonce: "n".into(), verifier: "v".into() };
        Pending { secrets: s, redirect_uri: "https://app/cb".into(), scope: "openid".into(), app_state: None }
    }

    fn cb(code: Option<&str>, state: Option<&str>) -> Callback {
        Callback { code: code.map(Into::into), state: state.map(Into::into), ..Callback::default() }
    }

    #[test]
    fn the_pkce_challenge_is_rfc_7636s_example() {
        // RFC 7636 appendix B: the verifier's SHA-256, base64url without padding
        let digest = [
            19, 211, 30, 150, 26, 26, 216, 236, 47, 22, 177, 12, 76, 152, 46, 8, 118, 168, 120, 173, 109, 241, 68, 86, 110, 225, 137, 74,
            203, 112, 249, 195,
        ];
        assert_eq!(challenge(&digest), "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM");
    }

    #[test]
    fn secrets_are_distinct_unpadded_base64url_of_the_random_bytes() {
        let mut r = [0u8; RANDOM_BYTES];
        for (i, b) in r.iter_mut().enumerate() {
            *b = i as u8 * 3;
        }
        let s = Secrets::new(&r);
        assert_eq!((s.state.len(), s.nonce.len(), s.verifier.len()), (22, 22, 64));
        assert!(s.verifier.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
        assert_ne!(s.state, s.nonce);
    }

    #[test]
    fn the_apps_extra_parameters_never_replace_the_flows() {
        let s = Secrets { state: "st".into(), nonce: "no".into(), verifier: "v".into() };
        let extra = [("state".into(), "evil".into()), ("prompt".into(), "login".into())];
        let q = authorize_query("spa", "https://app/cb", "openid", &s, "ch", &extra);
        assert_eq!(q.iter().filter(|(k, _)| *k == "state").count(), 1);
        assert!(q.contains(&("state", "st")) && q.contains(&("prompt", "login")) && q.contains(&("code_challenge_method", "S256")));
    }

    #[test]
    fn a_kept_record_reads_back_and_a_partial_one_is_nothing() {
        let o = json(r#"{"s":"st","n":"no","v":"ve","r":"https://app/cb","c":"openid","a":"{\"to\":\"/x\"}"}"#).unwrap();
        let p = Pending::read(&o).unwrap();
        assert_eq!((p.secrets.state.as_str(), p.secrets.verifier.as_str(), p.app_state.as_deref()), ("st", "ve", Some("{\"to\":\"/x\"}")));
        assert_eq!(Pending::read(&json(r#"{"s":"st","n":"no","r":"x","c":"openid"}"#).unwrap()), None);
    }

    #[test]
    fn a_redirect_without_a_kept_sign_in_is_a_state_mismatch() {
        assert_eq!(
            judge_callback(&cb(Some("c"), Some("st")), None, "https://idp", false).map(|(code, _)| code),
            Err(Failure::StateMismatch)
        );
    }

    #[test]
    fn the_servers_error_is_reported_as_its_code_once_the_state_matches() {
        let c = Callback { error: Some("access_denied".into()), state: Some("st".into()), ..Callback::default() };
        let f = judge_callback(&c, Some(pending("st")), "https://idp", false).map(|(code, _)| code).unwrap_err();
        assert_eq!(f.code(), "access_denied");
        assert!(f.consumes_pending());
        // with a wrong state, even an error is only a mismatch, and the kept sign-in stays
        let c = Callback { state: Some("other".into()), ..c };
        let f = judge_callback(&c, Some(pending("st")), "https://idp", false).map(|(code, _)| code).unwrap_err();
        assert_eq!(f, Failure::StateMismatch);
        assert!(!f.consumes_pending());
    }

    #[test]
    fn an_iss_parameter_naming_another_server_is_refused() {
        let c = Callback { iss: Some("https://evil".into()), ..cb(Some("c"), Some("st")) };
        assert_eq!(judge_callback(&c, Some(pending("st")), "https://idp", false).map(|(code, _)| code), Err(Failure::IssuerMismatch));
        let c = Callback { iss: Some("https://idp".into()), ..c };
        assert_eq!(judge_callback(&c, Some(pending("st")), "https://idp", false).map(|(code, _)| code), Ok("c".into()));
    }

    #[test]
    fn an_iss_parameter_is_compared_byte_for_byte() {
        for other in ["https://idp/", "https://IDP", "https://idp ", ""] {
            let c = Callback { iss: Some(other.into()), ..cb(Some("c"), Some("st")) };
            assert_eq!(judge_callback(&c, Some(pending("st")), "https://idp", false).map(|(code, _)| code), Err(Failure::IssuerMismatch));
        }
    }

    #[test]
    fn a_redirect_without_iss_is_refused_where_the_server_says_it_sends_it() {
        let c = cb(Some("c"), Some("st"));
        let f = judge_callback(&c, Some(pending("st")), "https://idp", true).map(|(code, _)| code).unwrap_err();
        assert_eq!((f.code(), f.consumes_pending()), ("issuer-missing", true));
        assert!(f.message().contains("RFC 9207"));
        // a server that does not say so may leave it out
        assert_eq!(judge_callback(&c, Some(pending("st")), "https://idp", false).map(|(code, _)| code), Ok("c".into()));
        // a forged redirect (wrong state) is still only a mismatch, and the kept sign-in stays
        let forged = cb(Some("c"), Some("other"));
        assert_eq!(judge_callback(&forged, Some(pending("st")), "https://idp", true).map(|(code, _)| code), Err(Failure::StateMismatch));
    }

    #[test]
    fn a_redirect_without_code_or_error_is_no_code() {
        assert_eq!(
            judge_callback(&cb(Some(""), Some("st")), Some(pending("st")), "https://idp", false).map(|(code, _)| code),
            Err(Failure::NoCode)
        );
    }

    const POLICY: RetryPolicy = RetryPolicy { max_retries: 2, base_delay_ms: 100.0, max_delay_ms: 10_000.0, idempotency_key: false };

    /// The exchange's machine after `retries` retries, given this answer.
    fn exchange(status: u16, retry_after: Option<&str>, aws_type: Option<&str>, error: Option<&str>, retries: u32) -> OwnStep<Exchange> {
        let a = ExchangeAnswer { status, retry_after, aws_type, error, tokens: None };
        let mut r = OwnRequest::new();
        for _ in 0..retries {
            let _ = r.attempt::<Exchange>(Time::from_ms(0.0));
            let again: Judged<Exchange> = Judged::Again { retry_after_ms: None, spent: Err(Failure::NoCode) };
            assert!(matches!(r.on_answer(NonceSeen::default(), again, &POLICY, Time::from_ms(0.0), 0.5), OwnStep::Backoff { .. }));
        }
        let _ = r.attempt::<Exchange>(Time::from_ms(0.0));
        r.on_answer(NonceSeen::default(), judge_exchange(&a, Time::from_ms(0.0)), &POLICY, Time::from_ms(0.0), 0.5)
    }

    /// The delay of a backoff step.
    fn retry_in(step: OwnStep<Exchange>) -> Option<f64> {
        match step {
            OwnStep::Backoff { delay_ms, .. } => Some(delay_ms),
            _ => None,
        }
    }

    fn failed(e: OwnStep<Exchange>) -> Failure {
        match e {
            OwnStep::Done(Err(f)) => f,
            other => panic!("not a failure: {other:?}"),
        }
    }

    #[test]
    fn code_exchange_is_not_retried_after_a_5xx() {
        for s in [500, 502, 503, 504] {
            let f = failed(exchange(s, None, None, None, 0));
            assert_eq!(f, Failure::ExchangeFailed(ExchangeProblem::Status(s)));
            assert_eq!(f.code(), "exchange-failed");
            assert!(f.message().contains(&decimal(s)) && f.message().contains("not sent twice"), "{}", f.message());
        }
        // an AWS error type that is not throttling says nothing about the code either
        assert_eq!(failed(exchange(500, None, Some("InternalErrorException"), None, 0)).code(), "exchange-failed");
    }

    #[test]
    fn code_exchange_is_not_retried_after_a_network_error() {
        let f = failed(exchange(0, None, None, None, 0));
        assert_eq!(f, Failure::ExchangeFailed(ExchangeProblem::NoAnswer));
        assert!(f.message().contains("no answer"), "{}", f.message());
    }

    #[test]
    fn code_exchange_is_not_retried_after_a_2xx_without_tokens() {
        let f = failed(exchange(200, None, None, None, 0));
        assert_eq!(f, Failure::ExchangeFailed(ExchangeProblem::NoToken(200)));
        assert!(f.message().contains("HTTP 200 without an access token"), "{}", f.message());
        let no_access = TokenInput { access_token: None, refresh_token: Some("R".into()), ..TokenInput::default() };
        let a = ExchangeAnswer { status: 200, tokens: Some(&no_access), ..ExchangeAnswer::default() };
        assert_eq!(judge_exchange(&a, Time::from_ms(0.0)), Judged::Done(Err(Failure::ExchangeFailed(ExchangeProblem::NoToken(200)))));
        let good = TokenInput { access_token: Some("A".into()), ..TokenInput::default() };
        let a = ExchangeAnswer { status: 200, tokens: Some(&good), ..ExchangeAnswer::default() };
        assert_eq!(judge_exchange(&a, Time::from_ms(0.0)), Judged::Done(Ok(good.clone())));
    }

    #[test]
    fn code_exchange_is_retried_only_when_the_server_said_it_did_not_act() {
        assert_eq!(retry_in(exchange(429, None, None, None, 0)), Some(50.0), "jittered backoff");
        assert_eq!(retry_in(exchange(429, Some("2"), None, None, 0)), Some(2000.0), "Retry-After wins");
        assert_eq!(retry_in(exchange(503, Some("1"), None, None, 1)), Some(1000.0));
        assert_eq!(retry_in(exchange(400, None, Some("TooManyRequestsException:http://x"), None, 0)), Some(50.0));
        assert_eq!(retry_in(exchange(400, None, Some("com.amazonaws.cognito#TooManyRequestsException"), None, 0)), Some(50.0));
        // a 503 without Retry-After may have acted
        assert_eq!(failed(exchange(503, None, None, None, 0)), Failure::ExchangeFailed(ExchangeProblem::Status(503)));
        assert_eq!(failed(exchange(503, Some("soon"), None, None, 0)), Failure::ExchangeFailed(ExchangeProblem::Status(503)));
    }

    #[test]
    fn a_throttled_exchange_stops_after_max_retries_and_says_it_was_throttled() {
        let f = failed(exchange(429, None, None, None, POLICY.max_retries));
        assert_eq!(f, Failure::ExchangeThrottled { status: 429 });
        assert_eq!(f.code(), "exchange-throttled");
        assert!(f.message().contains("HTTP 429") && f.message().contains("later"), "{}", f.message());
        // a Retry-After longer than maxDelayMs is not waited for
        assert_eq!(failed(exchange(503, Some("60"), None, None, 0)), Failure::ExchangeThrottled { status: 503 });
    }

    #[test]
    fn a_refused_code_is_code_rejected_and_a_leftover_nonce_challenge_fails() {
        assert_eq!(failed(exchange(400, None, None, Some("invalid_grant"), 0)), Failure::CodeRejected { status: 400 });
        assert_eq!(failed(exchange(401, None, None, Some("invalid_client"), 0)), Failure::CodeRejected { status: 401 });
        assert_eq!(failed(exchange(400, None, Some("NotAuthorizedException"), None, 0)), Failure::CodeRejected { status: 400 });
        // the one nonce resend is made before this verdict; a challenge after it is not retried
        let f = failed(exchange(400, None, None, Some("use_dpop_nonce"), 0));
        assert_eq!(f, Failure::ExchangeFailed(ExchangeProblem::Nonce));
        assert!(f.message().contains("DPoP nonce"));
    }

    #[test]
    fn statuses_are_written_as_three_digits() {
        assert_eq!([decimal(200), decimal(429), decimal(503), decimal(599)], ["200", "429", "503", "599"]);
    }

    #[test]
    fn a_key_that_cannot_be_made_names_its_cause() {
        let f = Failure::DpopKeyUnavailable("NotSupportedError: no".into());
        assert_eq!(f.code(), "dpop-key-unavailable");
        assert!(f.message().contains("NotSupportedError: no"));
    }

    proptest! {
        /// The code goes out again only after an answer that says the server did not act, and
        /// never more than `maxRetries` times.
        #[test]
        fn the_code_is_sent_again_only_when_the_server_did_not_act(
            status in 0u16..600,
            ra in proptest::option::of("[0-9]{1,2}"),
            aws in proptest::option::of(prop_oneof![Just("TooManyRequestsException"), Just("InternalErrorException"), Just("NotAuthorizedException")]),
            error in proptest::option::of(prop_oneof![Just("invalid_grant"), Just("use_dpop_nonce"), Just("slow_down")]),
            attempt in 0u32..=2,
        ) {
            let e = exchange(status, ra.as_deref(), aws, error, attempt);
            let did_not_act = status == 429 || (status == 503 && ra.is_some()) || (status == 400 && aws == Some("TooManyRequestsException"));
            if matches!(e, OwnStep::Backoff { .. }) {
                prop_assert!(did_not_act && attempt < POLICY.max_retries);
            }
            if let OwnStep::Done(Err(f)) = e {
                prop_assert!(!f.message().is_empty());
            }
        }

        /// Only the exact kept `state` lets a code through; anything else changes nothing.
        #[test]
        fn only_the_kept_state_lets_a_code_through(kept in "[A-Za-z0-9_-]{1,24}", got in proptest::option::of("[A-Za-z0-9_-]{0,24}")) {
            let r = judge_callback(&cb(Some("code"), got.as_deref()), Some(pending(&kept)), "https://idp", false).map(|(code, _)| code);
            if got.as_deref() == Some(kept.as_str()) {
                prop_assert_eq!(r, Ok("code".into()));
            } else {
                prop_assert_eq!(r, Err(Failure::StateMismatch));
            }
        }

        /// Every failure after a matching state uses the kept sign-in up; no message is empty.
        #[test]
        fn failures_say_something_and_consume_only_after_a_match(error in proptest::option::of("[a-z_]{1,12}"), desc in proptest::option::of("[ -~]{0,20}")) {
            let c = Callback { error: error.clone(), error_description: desc, state: Some("st".into()), ..Callback::default() };
            if let Err(f) = judge_callback(&c, Some(pending("st")), "https://idp", false).map(|(code, _)| code) {
                prop_assert!(f.consumes_pending());
                prop_assert!(!f.message().is_empty() && !f.code().is_empty());
            }
        }
    }
}
