//! Token sets: validation, JWT payloads, expiry and clock skew.
//!
//! A token set is checked once, when it comes in (`setTokens` or a refresh answer), and its
//! expiry is turned into a time on *this* client's clock right then. Everything after that asks
//! [`TokenSet::freshness`] with the current time.
//!
//! Clock skew: a JWT's `iat` says when the server issued it. For a token that was just issued
//! (a refresh answer) `iat - now` is the server's offset from our clock, and the expiry is moved
//! by it, so a client clock that is minutes off neither refreshes on every call nor trusts a dead
//! token. For a token handed to `setTokens` we cannot tell an old token from a skewed clock, so
//! only the safe direction is applied there (an `iat` in our future moves expiry earlier) plus
//! the offset learned from the last refresh, if any.

use alloc::string::String;

use super::json::{self, Json};
use alloc::vec::Vec;

/// What the app (or a refresher) handed in, before validation. Times: `expires_in` in seconds,
/// `expires_at` in epoch ms.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TokenInput {
    pub access_token: Option<String>,
    pub refresh_token: Option<String>,
    pub id_token: Option<String>,
    pub expires_in: Option<f64>,
    pub expires_at: Option<f64>,
}

/// A validated token set. `expires_at` is on the local clock (epoch ms); `None` means unknown:
/// the token is used until a 401 says otherwise.
#[derive(Debug, Clone, PartialEq)]
pub struct TokenSet {
    pub access: String,
    pub refresh: Option<String>,
    pub id: Option<String>,
    pub expires_at: Option<f64>,
    /// When we received it (local clock), to bound the leeway for short-lived tokens.
    pub received_at: f64,
}

/// Where a token set came from; decides which skew correction is safe (see module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    App,
    Refresh,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Freshness {
    /// Use it.
    Fresh,
    /// Still valid but within the leeway: refresh first if possible.
    NeedsRefresh,
    /// Past its expiry.
    Expired,
}

/// Why a token set was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenError {
    /// `accessToken` missing, empty, `"null"` or `"undefined"`.
    UnusableAccessToken,
    /// `expiresIn`/`expiresAt` is not a finite number.
    BadExpiry,
}

/// True for a string that may be sent as a bearer token.
pub fn is_usable(token: &str) -> bool {
    let t = token.trim();
    !t.is_empty() && t != "null" && t != "undefined" && !t.contains(['\r', '\n'])
}

/// A short, non-reversible tag of a token (FNV-1a), so tabs can tell whether they hold the same
/// session without sending tokens around.
pub fn fingerprint(token: &str) -> u32 {
    token.bytes().fold(0x811c_9dc5u32, |h, b| (h ^ u32::from(b)).wrapping_mul(0x0100_0193))
}

/// Largest token we look into, to bound the work done on hostile input.
const MAX_JWT_LEN: usize = 64 * 1024;

/// The decoded payload text of a JWT (base64url, padded or not), without verification.
pub fn jwt_payload(token: &str) -> Option<String> {
    if token.len() > MAX_JWT_LEN {
        return None;
    }
    let mut parts = token.split('.');
    let (_header, payload) = (parts.next()?, parts.next()?);
    parts.next()?; // a signature part must be there, even if empty
    String::from_utf8(base64url_decode(payload.trim_end_matches('='))?).ok()
}

/// base64url without padding (standard-alphabet `+` and `/` are accepted too). Hand-written:
/// the base64 crate's engine cost 3.5 KB of wasm for this one use.
fn base64url_decode(s: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(s.len() / 4 * 3 + 2);
    let (mut acc, mut bits) = (0u32, 0u32);
    for &c in s.as_bytes() {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'-' | b'+' => 62,
            b'_' | b'/' => 63,
            _ => return None,
        };
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    // one character alone cannot end a group
    (bits < 6).then_some(out)
}

/// The decoded claims of a JWT when its payload is a JSON object.
pub fn jwt_claims(token: &str) -> Option<Json> {
    let claims = Json::parse(&jwt_payload(token)?)?;
    matches!(claims, Json::Obj(_)).then_some(claims)
}

fn claim_ms(claims: &Json, key: &str) -> Option<f64> {
    let secs = claims.get(key)?.as_f64()?;
    (secs.is_finite() && secs > 0.0 && secs < 1.0e11).then_some(secs * 1000.0)
}

fn usable(s: &Option<String>) -> Option<String> {
    s.as_ref().filter(|t| is_usable(t)).cloned()
}

impl TokenSet {
    /// Validates `input` received at `now`. `clock_offset` is the server-minus-local offset
    /// learned from an earlier refresh (0 if none). Returns the set and, for a refresh answer
    /// carrying `iat`, the offset it shows.
    pub fn from_input(input: &TokenInput, now: f64, source: Source, clock_offset: f64) -> Result<(TokenSet, Option<f64>), TokenError> {
        let access = usable(&input.access_token).ok_or(TokenError::UnusableAccessToken)?;
        for v in [input.expires_in, input.expires_at].into_iter().flatten() {
            if !v.is_finite() {
                return Err(TokenError::BadExpiry);
            }
        }
        let claims = jwt_claims(&access);
        let iat = claims.as_ref().and_then(|c| claim_ms(c, "iat"));
        let observed_offset = iat.map(|iat| iat - now);
        let mut expires_at = if let Some(at) = input.expires_at {
            Some(at)
        } else if let Some(secs) = input.expires_in {
            Some(now + secs * 1000.0)
        } else if let Some(exp) = claims.as_ref().and_then(|c| claim_ms(c, "exp")) {
            // exp is on the server's clock: move it onto ours.
            let offset = match (source, observed_offset) {
                (Source::Refresh, Some(o)) => o,
                (Source::App, Some(o)) if o > SKEW_NOISE_MS => o.max(clock_offset),
                _ => clock_offset,
            };
            Some(exp - offset)
        } else {
            None
        };
        if source == Source::Refresh {
            // The server just issued this token: if our arithmetic says it is already dead, our
            // clock is the thing that is wrong. Trust the 401 rule instead of refreshing in a loop.
            if matches!(expires_at, Some(at) if at <= now) {
                expires_at = None;
            }
        }
        let set = TokenSet {
            access,
            refresh: usable(&input.refresh_token),
            id: usable(&input.id_token),
            expires_at,
            received_at: now,
        };
        let learned = if source == Source::Refresh { observed_offset.filter(|o| o.abs() > SKEW_NOISE_MS) } else { None };
        Ok((set, learned))
    }

    /// The leeway actually used: the configured one, but never more than half the token's
    /// lifetime, so a token that lives less than the leeway is not refreshed on every call.
    pub fn effective_leeway(&self, leeway_ms: f64) -> f64 {
        match self.expires_at {
            Some(at) => leeway_ms.min(((at - self.received_at) / 2.0).max(0.0)),
            None => 0.0,
        }
    }

    pub fn freshness(&self, now: f64, leeway_ms: f64) -> Freshness {
        match self.expires_at {
            None => Freshness::Fresh,
            Some(at) if now >= at => Freshness::Expired,
            Some(at) if now >= at - self.effective_leeway(leeway_ms) => Freshness::NeedsRefresh,
            Some(_) => Freshness::Fresh,
        }
    }

    /// When a proactive refresh is due, if the expiry is known.
    pub fn refresh_due_at(&self, leeway_ms: f64) -> Option<f64> {
        self.expires_at.map(|at| at - self.effective_leeway(leeway_ms))
    }

    /// The storage record (`v:1`). Only the token set: nothing else about the session.
    pub fn to_record(&self) -> String {
        let mut out = String::from("{\"v\":1,\"a\":");
        json::write_str(&mut out, &self.access);
        if let Some(r) = &self.refresh {
            out.push_str(",\"r\":");
            json::write_str(&mut out, r);
        }
        if let Some(i) = &self.id {
            out.push_str(",\"i\":");
            json::write_str(&mut out, i);
        }
        if let Some(e) = self.expires_at {
            out.push_str(",\"e\":");
            json::write_int(&mut out, e);
        }
        out.push_str(",\"t\":");
        json::write_int(&mut out, self.received_at);
        out.push('}');
        out
    }

    /// Reads a storage record; anything foreign, corrupt or unusable is `None`.
    pub fn from_record(text: &str) -> Option<TokenSet> {
        let v = Json::parse(text)?;
        if v.get("v")?.as_f64()? != 1.0 {
            return None;
        }
        let s = |k| v.str_field(k).map(String::from);
        let access = s("a").filter(|a| is_usable(a))?;
        Some(TokenSet {
            access,
            refresh: s("r").filter(|t| is_usable(t)),
            id: s("i").filter(|t| is_usable(t)),
            expires_at: v.get("e").and_then(Json::as_f64),
            received_at: v.get("t").and_then(Json::as_f64).unwrap_or(0.0),
        })
    }
}

/// Offsets smaller than this are network latency, not a wrong clock.
const SKEW_NOISE_MS: f64 = 5_000.0;

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use proptest::prelude::*;

    use base64::Engine as _;

    pub fn b64(s: &str) -> String {
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s)
    }

    proptest! {
        /// The hand-written decoder against the base64 crate, padded or not.
        #[test]
        fn base64url_matches_the_reference(bytes in proptest::collection::vec(any::<u8>(), 0..300), pad in any::<bool>()) {
            let engine = if pad { base64::engine::general_purpose::URL_SAFE } else { base64::engine::general_purpose::URL_SAFE_NO_PAD };
            let text = engine.encode(&bytes);
            prop_assert_eq!(base64url_decode(text.trim_end_matches('=')), Some(bytes));
        }

        #[test]
        fn base64url_agrees_on_garbage(s in "[A-Za-z0-9_\\-]{0,50}") {
            let reference = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(&s).ok();
            if let Some(r) = reference {
                prop_assert_eq!(base64url_decode(&s), Some(r));
            }
        }
    }

    /// A JWT with the given payload and a dummy signature.
    pub fn jwt(payload: &str) -> String {
        format!("{}.{}.sig", b64("{\"alg\":\"HS256\"}"), b64(payload))
    }

    fn input(access: &str) -> TokenInput {
        TokenInput { access_token: Some(access.into()), ..Default::default() }
    }

    #[test]
    fn unusable_tokens_are_refused() {
        for bad in ["", "  ", "null", "undefined", "a\nb"] {
            assert_eq!(TokenSet::from_input(&input(bad), 0.0, Source::App, 0.0), Err(TokenError::UnusableAccessToken));
        }
        assert_eq!(TokenSet::from_input(&TokenInput::default(), 0.0, Source::App, 0.0), Err(TokenError::UnusableAccessToken));
        let mut i = input("ok");
        i.expires_in = Some(f64::NAN);
        assert_eq!(TokenSet::from_input(&i, 0.0, Source::App, 0.0), Err(TokenError::BadExpiry));
        // a "null" refresh token is dropped, not stored
        let mut i = input("ok");
        i.refresh_token = Some("null".into());
        assert_eq!(TokenSet::from_input(&i, 0.0, Source::App, 0.0).unwrap().0.refresh, None);
    }

    #[test]
    fn expiry_precedence() {
        let t = jwt("{\"exp\":2000}");
        let mut i = input(&t);
        i.expires_at = Some(5_000_000.0);
        i.expires_in = Some(60.0);
        let now = 1_000_000.0;
        assert_eq!(TokenSet::from_input(&i, now, Source::App, 0.0).unwrap().0.expires_at, Some(5_000_000.0));
        i.expires_at = None;
        assert_eq!(TokenSet::from_input(&i, now, Source::App, 0.0).unwrap().0.expires_at, Some(now + 60_000.0));
        i.expires_in = None;
        assert_eq!(TokenSet::from_input(&i, now, Source::App, 0.0).unwrap().0.expires_at, Some(2_000_000.0));
        assert_eq!(TokenSet::from_input(&input("opaque"), now, Source::App, 0.0).unwrap().0.expires_at, None);
    }

    #[test]
    fn exp_as_float_or_string() {
        let now = 0.0;
        for p in ["{\"exp\":1500.5}", "{\"exp\":\"1500.5\"}"] {
            assert_eq!(TokenSet::from_input(&input(&jwt(p)), now, Source::App, 0.0).unwrap().0.expires_at, Some(1_500_500.0));
        }
        // nonsense exp: unknown expiry, not a panic and not "expired"
        for p in ["{\"exp\":\"soon\"}", "{\"exp\":-5}", "{\"exp\":1e300}", "[1]", "not json"] {
            assert_eq!(TokenSet::from_input(&input(&jwt(p)), now, Source::App, 0.0).unwrap().0.expires_at, None, "{p}");
        }
    }

    #[test]
    fn jwt_payload_padding_and_garbage() {
        let padded = format!("h.{}==.s", b64("{\"a\":1}"));
        assert_eq!(jwt_payload(&padded).as_deref(), Some("{\"a\":1}"));
        assert_eq!(jwt_payload("only-one-part"), None);
        assert_eq!(jwt_payload("a.b"), None);
        assert_eq!(jwt_payload("a.!!!.c"), None);
        assert_eq!(jwt_payload(&"a.".repeat(40_000)), None);
    }

    #[test]
    fn skew_from_refresh_is_corrected() {
        // Server clock is 10 minutes ahead of ours: iat = server now, exp = iat + 5 min.
        let now = 1_000_000_000.0;
        let server = now + 600_000.0;
        let t = jwt(&format!("{{\"iat\":{},\"exp\":{}}}", server / 1000.0, server / 1000.0 + 300.0));
        let (set, learned) = TokenSet::from_input(&input(&t), now, Source::Refresh, 0.0).unwrap();
        assert_eq!(set.expires_at, Some(now + 300_000.0));
        assert_eq!(learned, Some(600_000.0));
        assert_eq!(set.freshness(now + 1000.0, 30_000.0), Freshness::Fresh);

        // Our clock is 10 minutes ahead: without correction the token would look dead on arrival.
        let server = now - 600_000.0;
        let t = jwt(&format!("{{\"iat\":{},\"exp\":{}}}", server / 1000.0, server / 1000.0 + 300.0));
        let (set, _) = TokenSet::from_input(&input(&t), now, Source::Refresh, 0.0).unwrap();
        assert_eq!(set.expires_at, Some(now + 300_000.0));
    }

    #[test]
    fn app_tokens_only_get_the_safe_correction() {
        let now = 1_000_000_000.0;
        // An old token (issued an hour ago, expired 55 min ago) must not be trusted.
        let t = jwt(&format!("{{\"iat\":{},\"exp\":{}}}", (now - 3_600_000.0) / 1000.0, (now - 3_300_000.0) / 1000.0));
        let (set, _) = TokenSet::from_input(&input(&t), now, Source::App, 0.0).unwrap();
        assert_eq!(set.freshness(now, 30_000.0), Freshness::Expired);
        // A token issued in our future (our clock is behind): expiry moves earlier.
        let t = jwt(&format!("{{\"iat\":{},\"exp\":{}}}", (now + 600_000.0) / 1000.0, (now + 900_000.0) / 1000.0));
        let (set, _) = TokenSet::from_input(&input(&t), now, Source::App, 0.0).unwrap();
        assert_eq!(set.expires_at, Some(now + 300_000.0));
    }

    #[test]
    fn refresh_answer_dead_on_arrival_has_unknown_expiry() {
        let mut i = input("opaque");
        i.expires_in = Some(0.0);
        let (set, _) = TokenSet::from_input(&i, 10.0, Source::Refresh, 0.0).unwrap();
        assert_eq!(set.expires_at, None);
    }

    #[test]
    fn freshness_and_short_lifetimes() {
        let mut i = input("t");
        i.expires_in = Some(3600.0);
        let (set, _) = TokenSet::from_input(&i, 0.0, Source::App, 0.0).unwrap();
        assert_eq!(set.freshness(3_500_000.0, 30_000.0), Freshness::Fresh);
        assert_eq!(set.freshness(3_580_000.0, 30_000.0), Freshness::NeedsRefresh);
        assert_eq!(set.freshness(3_600_000.0, 30_000.0), Freshness::Expired);
        // 20 s token with a 30 s leeway: refresh in its second half, not at once.
        i.expires_in = Some(20.0);
        let (set, _) = TokenSet::from_input(&i, 0.0, Source::App, 0.0).unwrap();
        assert_eq!(set.freshness(5_000.0, 30_000.0), Freshness::Fresh);
        assert_eq!(set.freshness(12_000.0, 30_000.0), Freshness::NeedsRefresh);
        assert_eq!(set.refresh_due_at(30_000.0), Some(10_000.0));
    }

    #[test]
    fn storage_record_round_trip_and_corruption() {
        let set = TokenSet { access: "a\"b".into(), refresh: Some("r".into()), id: None, expires_at: Some(123.0), received_at: 7.0 };
        assert_eq!(TokenSet::from_record(&set.to_record()), Some(set));
        for bad in ["", "{}", "null", "{\"v\":2,\"a\":\"x\"}", "{\"v\":1,\"a\":\"null\"}", "{\"v\":1}", "<html>"] {
            assert_eq!(TokenSet::from_record(bad), None, "{bad}");
        }
    }

    proptest! {
        #[test]
        fn parsers_never_panic(s in ".{0,300}") {
            let _ = jwt_payload(&s);
            let _ = TokenSet::from_record(&s);
            let _ = TokenSet::from_input(&input(&s), 0.0, Source::Refresh, 0.0);
        }

        #[test]
        fn jwt_with_any_payload_never_panics(p in proptest::collection::vec(any::<u8>(), 0..200)) {
            let t = format!("x.{}.y", base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&p));
            let _ = TokenSet::from_input(&input(&t), 1.0e12, Source::App, 0.0);
        }

        #[test]
        fn accepted_tokens_are_usable(s in ".{0,40}") {
            if let Ok((set, _)) = TokenSet::from_input(&input(&s), 0.0, Source::App, 0.0) {
                prop_assert!(is_usable(&set.access));
            }
        }
    }
}
