//! DPoP (RFC 9449): proofs of possession that bind the tokens to a key pair held in the browser.
//!
//! Why: a refresh token read out of `localStorage` by an injected script works anywhere. With
//! DPoP the server binds it to a public key, and every request that uses it must carry a proof
//! signed with the private key, which WebCrypto keeps non-extractable. What is decided here:
//!
//! - what one proof says ([`claims`]): `htm`, `htu` without query and fragment, `iat`, a unique
//!   `jti`, `ath` (the access token's hash) for calls that present a token, and the server's
//!   `nonce` for that origin when it gave one;
//! - the header (`typ: dpop+jwt`, `alg: ES256`, the public `jwk`) and the compact form;
//! - server nonces ([`Nonces`]): learnt from every `DPoP-Nonce` header of an origin, kept per
//!   origin, bounded, and only if they are what the RFC allows (`NQCHAR`s);
//! - when an answer asks for a nonce ([`asks_for_nonce`]): the token endpoint's 400
//!   `use_dpop_nonce`, an API's 401 with `WWW-Authenticate: DPoP error="use_dpop_nonce"`. Such an
//!   answer is sent once more with the new nonce, once per request whatever its other retries
//!   ([`NonceResend`], for API calls and the library's own requests alike): it is not a 401
//!   about the token, so it neither refreshes nor uses the call's one replay;
//! - which scheme a token is sent with ([`scheme`]): `DPoP` when the server said it bound it
//!   (`token_type: DPoP`), else `Bearer`.
//!
//! The signature itself is WebCrypto's (ES256, which gives `r || s` as JWS wants it); hashes
//! (`ath`) are WebCrypto's `digest`. Both are the browser layer's.

use alloc::string::String;
use alloc::vec::Vec;
use base64::Engine as _;

use super::b64::B64URL;

/// The public key every proof's header carries (its JWK's `x` and `y`, base64url).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicKey {
    pub x: String,
    pub y: String,
}

impl PublicKey {
    /// A P-256 public key as WebCrypto exports it `"raw"`: `0x04 || x || y`, 32 bytes each.
    pub fn from_raw(raw: &[u8]) -> Option<PublicKey> {
        (raw.len() == 65 && raw[0] == 4).then(|| PublicKey { x: B64URL.encode(&raw[1..33]), y: B64URL.encode(&raw[33..]) })
    }
}

/// Only what sessionguard made is trusted: a stored pair is used only if its private half is a
/// non-extractable ECDSA P-256 key usable only to sign (no script can have a copy of it) and
/// its public half the ECDSA P-256 key to verify with (what WebCrypto's `generateKey` gives for
/// `extractable: false`, `["sign", "verify"]`). Anything else (an extractable key planted by a
/// script, another curve or algorithm, a look-alike object) is discarded and replaced.
///
/// Each half as the browser layer describes it: its `type`, `extractable`, `algorithm.name`,
/// `algorithm.namedCurve` and `usages`, space-separated (`""` for anything that is not a
/// `CryptoKey`): one string from JavaScript instead of five properties and an array.
pub fn trusted_pair(private: &str, public: &str) -> bool {
    private == "private false ECDSA P-256 sign" && public == "public true ECDSA P-256 verify"
}

/// The claims of one proof (RFC 9449 §4.2), for the browser layer to write as JSON.
#[derive(Debug, Clone, PartialEq)]
pub struct Claims<'a> {
    /// Unique per proof (a random UUID).
    pub jti: &'a str,
    pub htm: &'a str,
    pub htu: &'a str,
    /// Seconds since the epoch (whole).
    pub iat: f64,
    /// base64url of the SHA-256 of the access token the request presents.
    pub ath: Option<&'a str>,
    pub nonce: Option<&'a str>,
}

/// The claims of a proof for `method` on `url` (absolute, as `URL` resolved it) at `now_ms`
/// (epoch ms), with a fresh random `jti`.
pub fn claims<'a>(method: &'a str, url: &'a str, now_ms: f64, jti: &'a str, ath: Option<&'a str>, nonce: Option<&'a str>) -> Claims<'a> {
    Claims { jti, htm: method, htu: htu(url), iat: (now_ms / 1000.0).floor(), ath, nonce }
}

/// `htm`: the method as `fetch` sends it, which upper-cases only the six standard methods
/// (`patch` goes out as `patch`).
pub fn htm(method: &str) -> String {
    let standard = ["DELETE", "GET", "HEAD", "OPTIONS", "POST", "PUT"].iter().any(|m| m.eq_ignore_ascii_case(method));
    if standard {
        method.to_ascii_uppercase()
    } else {
        method.into()
    }
}

/// `htu`: the URL without query and fragment (RFC 9449 §4.2).
pub fn htu(url: &str) -> &str {
    let end = url.bytes().position(|b| b == b'?' || b == b'#').unwrap_or(url.len());
    &url[..end]
}

/// The origin of an absolute URL as `URL` writes it (`scheme://host[:port]`), the key nonces are
/// kept under. `""` for anything else.
pub fn origin(url: &str) -> &str {
    let Some(i) = url.as_bytes().windows(3).position(|w| w == b"://") else { return "" };
    let rest = &url[i + 3..];
    let end = rest.bytes().position(|b| b == b'/' || b == b'?' || b == b'#').unwrap_or(rest.len());
    &url[..i + 3 + end]
}

/// `base64url(header) . base64url(payload)`: what is signed.
pub fn signing_input(header_json: &str, payload_json: &str) -> String {
    [B64URL.encode(header_json), B64URL.encode(payload_json)].join(".")
}

/// The proof: the signed input and the 64-byte ES256 signature (`r || s`).
pub fn compact(signing_input: &str, signature: &[u8]) -> String {
    [signing_input, &B64URL.encode(signature)].join(".")
}

/// The `Authorization` scheme of a token: `DPoP` when the server bound it.
pub fn scheme(bound: bool) -> &'static str {
    if bound {
        "DPoP "
    } else {
        "Bearer "
    }
}

/// Did the token answer say the token is bound (`token_type: DPoP`, any case)?
pub fn is_bound(token_type: Option<&str>) -> bool {
    token_type.is_some_and(|t| t.eq_ignore_ascii_case("DPoP"))
}

/// A nonce as RFC 9449 §8.1 allows it: 1 or more `NQCHAR` (`%x21 / %x23-5B / %x5D-7E`), bounded.
pub fn is_nonce(v: &str) -> bool {
    (1..=1024).contains(&v.len()) && v.bytes().all(|b| matches!(b, 0x21 | 0x23..=0x5b | 0x5d..=0x7e))
}

/// Does this answer ask for a (new) nonce? `error`: the JSON body's `error` (the token
/// endpoint's way, §8); `www_authenticate`: the header (a resource server's way, §9).
pub fn asks_for_nonce(status: u16, error: Option<&str>, www_authenticate: Option<&str>) -> bool {
    match status {
        400 | 401 if error == Some("use_dpop_nonce") => true,
        401 => www_authenticate.is_some_and(challenges_for_nonce),
        _ => false,
    }
}

/// A `WWW-Authenticate` value with a `DPoP` challenge that names `use_dpop_nonce`
/// (`DPoP error="use_dpop_nonce", algs="ES256"`; other challenges may come before it). The
/// scheme is a word of its own, at the start or after a comma, followed by its parameters.
// over bytes: `str` patterns bring a string searcher into the module
fn challenges_for_nonce(v: &str) -> bool {
    let b = v.as_bytes();
    (0..b.len()).any(|i| {
        let scheme = b[i..].get(..4).is_some_and(|w| w.eq_ignore_ascii_case(b"dpop"));
        scheme
            && b[..i].iter().rev().find(|c| !c.is_ascii_whitespace()).is_none_or(|c| *c == b',')
            && b.get(i + 4).is_some_and(u8::is_ascii_whitespace)
            && contains(&b[i + 4..], b"use_dpop_nonce")
    })
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

/// What to do with an answer, as far as nonces go ([`NonceResend::on_answer`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[must_use]
pub enum OnNonce {
    /// It does not ask for a nonce: the other rules judge it.
    NotAsked,
    /// Send it again now, with the nonce it brought (the server did not act on it).
    Resend,
    /// It asks, but brought no nonce the page could read: give it to the other rules, and say
    /// so on the console (a server on another origin must expose `DPoP-Nonce`).
    Unreadable,
    /// It asks again after the one resend: give it to the other rules, never resent.
    Spent,
}

/// The one nonce resend of one request (a call, a refresh, a code exchange, a revocation, a
/// user-info request): kept by whoever keeps the request's retries, so that backoff retries,
/// which each meet the challenge again from a server that hands a new nonce every time, never
/// resend again. A request is so sent at most `1 + maxRetries` times, plus this one resend.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NonceResend {
    spent: bool,
}

impl NonceResend {
    /// A request resumed with its resend already made (`true`) or not.
    pub fn resumed(spent: bool) -> NonceResend {
        NonceResend { spent }
    }

    /// Was the resend made?
    pub fn spent(self) -> bool {
        self.spent
    }

    /// An answer to this request: `asks` ([`asks_for_nonce`]), `fresh` (it brought a nonce that
    /// was kept, [`Nonces::learn`]).
    pub fn on_answer(&mut self, asks: bool, fresh: bool) -> OnNonce {
        match (asks, fresh) {
            (false, _) => OnNonce::NotAsked,
            (true, false) => OnNonce::Unreadable,
            (true, true) if self.spent => OnNonce::Spent,
            (true, true) => {
                self.spent = true;
                OnNonce::Resend
            }
        }
    }
}

/// Most origins whose nonce is kept: an app calls a handful (its API, the identity server).
const MAX_ORIGINS: usize = 16;

/// The last nonce each origin gave (§8.2, §9: a server may hand a new one on any answer).
#[derive(Debug, Clone, Default)]
pub struct Nonces {
    by_origin: Vec<(String, String)>,
}

impl Nonces {
    /// Keeps `nonce` (a `DPoP-Nonce` header) for `origin`, if it is a nonce. `true` when it
    /// was kept: a challenge that came with it may be answered with one retry. (Not "when it
    /// changed": calls sent together before the nonce was known are all challenged with the
    /// same one, and each may retry once.)
    pub fn learn(&mut self, origin: &str, nonce: &str) -> bool {
        if origin.is_empty() || !is_nonce(nonce) {
            return false;
        }
        if let Some(i) = self.by_origin.iter().position(|(o, _)| o == origin) {
            self.by_origin.remove(i);
        } else if self.by_origin.len() >= MAX_ORIGINS {
            self.by_origin.remove(0); // the least recently learnt
        }
        self.by_origin.push((origin.into(), nonce.into()));
        true
    }

    pub fn get(&self, origin: &str) -> Option<&str> {
        self.by_origin.iter().find(|(o, _)| o == origin).map(|(_, n)| n.as_str())
    }
}

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn only_a_pair_sessionguard_made_is_trusted() {
        let (private, public) = ("private false ECDSA P-256 sign", "public true ECDSA P-256 verify");
        assert!(trusted_pair(private, public));
        let planted_private = [
            "private true ECDSA P-256 sign",         // extractable: a script kept a copy
            "private false ECDSA P-384 sign",        // another curve
            "private false RSASSA-PKCS1-v1_5  sign", // another algorithm
            "private false ECDSA P-256 sign verify",
            "private false ECDSA P-256 deriveBits",
            "private false ECDSA P-256 ", // usable for nothing
            "secret false HMAC  sign",
            "public true ECDSA P-256 verify", // the halves swapped
            "",                               // not a CryptoKey (a look-alike object)
        ];
        for p in planted_private {
            assert!(!trusted_pair(p, public), "{p:?}");
        }
        for p in ["", "public true ECDSA P-384 verify", "private false ECDSA P-256 sign", "public true ECDSA P-256 "] {
            assert!(!trusted_pair(private, p), "public half {p:?}");
        }
    }

    #[test]
    fn htu_drops_query_and_fragment_only() {
        assert_eq!(htu("https://api.example/a/b?x=1#f"), "https://api.example/a/b");
        assert_eq!(htu("https://api.example/a#f?x"), "https://api.example/a");
        assert_eq!(htu("https://api.example/"), "https://api.example/");
    }

    #[test]
    fn htm_is_the_method_fetch_sends() {
        assert_eq!(htm("get"), "GET");
        assert_eq!(htm("Delete"), "DELETE");
        assert_eq!(htm("patch"), "patch");
        assert_eq!(htm("PATCH"), "PATCH");
    }

    #[test]
    fn origin_is_scheme_host_and_port() {
        assert_eq!(origin("http://127.0.0.1:8080/token?x"), "http://127.0.0.1:8080");
        assert_eq!(origin("https://idp.example"), "https://idp.example");
        assert_eq!(origin("https://idp.example#x"), "https://idp.example");
        assert_eq!(origin("relative/path"), "");
    }

    #[test]
    fn claims_carry_what_the_request_is() {
        let c = claims("POST", "https://idp/token?a=b", 1_700_000_000_999.0, "j-1", None, Some("n-1"));
        assert_eq!((c.htm, c.htu, c.iat, c.nonce, c.ath, c.jti), ("POST", "https://idp/token", 1_700_000_000.0, Some("n-1"), None, "j-1"));
    }

    #[test]
    fn a_proof_is_three_base64url_parts() {
        let input = signing_input(r#"{"typ":"dpop+jwt"}"#, r#"{"htm":"GET"}"#);
        let p = compact(&input, &[1; 64]);
        let parts: Vec<_> = p.split('.').collect();
        assert_eq!(parts.len(), 3);
        assert_eq!(B64URL.decode(parts[0]).unwrap(), br#"{"typ":"dpop+jwt"}"#);
        assert_eq!(B64URL.decode(parts[1]).unwrap(), br#"{"htm":"GET"}"#);
        assert_eq!(B64URL.decode(parts[2]).unwrap(), [1; 64]);
        assert!(p.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.'));
    }

    #[test]
    fn only_an_uncompressed_p256_point_is_a_public_key() {
        let mut raw = [7u8; 65];
        raw[0] = 4;
        raw[33..].fill(9);
        let k = PublicKey::from_raw(&raw).unwrap();
        assert_eq!((B64URL.decode(&k.x).unwrap(), B64URL.decode(&k.y).unwrap()), (vec![7; 32], vec![9; 32]));
        assert_eq!(k.x.len(), 43, "unpadded base64url, as a JWK writes it");
        raw[0] = 2; // compressed
        assert!(PublicKey::from_raw(&raw).is_none());
        assert!(PublicKey::from_raw(&[4; 97]).is_none(), "P-384");
        assert!(PublicKey::from_raw(&[]).is_none());
    }

    #[test]
    fn the_scheme_follows_what_the_server_bound() {
        assert_eq!(scheme(is_bound(Some("DPoP"))), "DPoP ");
        assert_eq!(scheme(is_bound(Some("dpop"))), "DPoP ");
        assert_eq!(scheme(is_bound(Some("Bearer"))), "Bearer ");
        assert_eq!(scheme(is_bound(None)), "Bearer ");
    }

    #[test]
    fn nonce_challenges_are_recognised_and_nothing_else() {
        assert!(asks_for_nonce(400, Some("use_dpop_nonce"), None));
        assert!(asks_for_nonce(
            401,
            None,
            Some(r#"DPoP error="use_dpop_nonce", error_description="Resource server requires nonce in DPoP proof""#)
        ));
        assert!(asks_for_nonce(401, None, Some(r#"Bearer realm="x", DPoP algs="ES256", error="use_dpop_nonce""#)));
        assert!(asks_for_nonce(401, None, Some("dpop error=use_dpop_nonce")));
        assert!(!asks_for_nonce(401, None, Some(r#"DPoP error="invalid_token""#)));
        assert!(!asks_for_nonce(401, None, Some(r#"Bearer error="invalid_token", error_description="no dpop here""#)));
        assert!(!asks_for_nonce(401, None, Some(r#"Bearer error="use_dpop_nonce""#)));
        assert!(!asks_for_nonce(400, Some("invalid_grant"), None));
        assert!(!asks_for_nonce(500, Some("use_dpop_nonce"), None));
        assert!(!asks_for_nonce(200, None, Some(r#"DPoP error="use_dpop_nonce""#)));
    }

    #[test]
    fn nonces_are_kept_per_origin_and_only_a_valid_one_allows_a_retry() {
        let mut n = Nonces::default();
        assert!(n.learn("https://api", "a1"));
        assert!(n.learn("https://api", "a1"), "calls challenged together each get the nonce");
        assert!(n.learn("https://idp", "i1"));
        assert!(n.learn("https://api", "a2"));
        assert_eq!((n.get("https://api"), n.get("https://idp"), n.get("https://other")), (Some("a2"), Some("i1"), None));
        assert!(!n.learn("https://api", "has space"));
        assert!(!n.learn("https://api", "quote\"d"));
        assert!(!n.learn("", "x"));
        assert_eq!(n.get("https://api"), Some("a2"));
    }

    #[test]
    fn nonces_are_bounded_and_forget_the_oldest_origin() {
        let mut n = Nonces::default();
        for i in 0..40 {
            n.learn(&alloc::format!("https://o{i}"), "v");
        }
        assert_eq!(n.by_origin.len(), MAX_ORIGINS);
        assert_eq!(n.get("https://o0"), None);
        assert_eq!(n.get("https://o39"), Some("v"));
    }

    #[test]
    fn a_request_resends_for_a_nonce_once_whatever_its_retries() {
        // a server that answers every proof with `use_dpop_nonce` and a new nonce, and a request
        // retried with backoff after each answer: one resend in all, not one per retry
        let mut r = NonceResend::default();
        assert_eq!(r.on_answer(true, true), OnNonce::Resend);
        for _ in 0..5 {
            assert_eq!(r.on_answer(true, true), OnNonce::Spent);
        }
        assert!(r.spent());
        assert_eq!(NonceResend::resumed(true).on_answer(true, true), OnNonce::Spent);
        assert_eq!(NonceResend::default().on_answer(false, true), OnNonce::NotAsked);
        let mut unreadable = NonceResend::default();
        assert_eq!(unreadable.on_answer(true, false), OnNonce::Unreadable);
        assert!(!unreadable.spent(), "nothing was resent");
    }

    proptest! {
        /// Whatever the answers, a request is resent for a nonce at most once.
        #[test]
        fn at_most_one_nonce_resend_per_request(answers in proptest::collection::vec((any::<bool>(), any::<bool>()), 0..30)) {
            let mut r = NonceResend::default();
            let resends = answers.iter().filter(|(asks, fresh)| r.on_answer(*asks, *fresh) == OnNonce::Resend).count();
            prop_assert!(resends <= 1);
            prop_assert_eq!(resends == 1, answers.iter().any(|(asks, fresh)| *asks && *fresh));
        }

        #[test]
        fn recognising_never_panics(status in any::<u16>(), e in proptest::option::of(".{0,40}"), w in proptest::option::of(".{0,80}")) {
            let _ = asks_for_nonce(status, e.as_deref(), w.as_deref());
        }

        #[test]
        fn kept_nonces_are_always_valid(origin in "[a-z:/.]{0,20}", v in ".{0,40}") {
            let mut n = Nonces::default();
            n.learn(&origin, &v);
            if let Some(kept) = n.get(&origin) {
                prop_assert!(is_nonce(kept));
                prop_assert_eq!(kept, v.as_str());
            }
        }

        #[test]
        fn htu_is_a_prefix_without_query_or_fragment(u in ".{0,60}") {
            let h = htu(&u);
            prop_assert!(u.starts_with(h));
            prop_assert!(!h.contains('?') && !h.contains('#'));
        }
    }
}
