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

use super::time::Time;
use alloc::string::String;
use serde::Serialize;

use super::dpop::is_bound;
use super::read::{first, Fields};

/// What the app (or a refresher) handed in, before validation. Times: `expires_in` in seconds,
/// `expires_at` in epoch ms. [`TokenInput::read`] takes the camelCase `TokenSet`, the OAuth2
/// token answer (`access_token`, ...) and Cognito's `AuthenticationResult` (`AccessToken`, ...)
/// alike; other keys (`token_type`, `scope`) are ignored.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TokenInput {
    pub access_token: Option<String>,
    pub refresh_token: Option<String>,
    pub id_token: Option<String>,
    pub expires_in: Option<f64>,
    pub expires_at: Option<f64>,
    /// An expiry field that was given but holds no number (`NaN`, `"soon"`, `true`, an object):
    /// its name. The app's own `setTokens` is refused for it; in a refresh answer the field is
    /// ignored instead (the token is good; the expiry comes from the next source, the JWT `exp`,
    /// else it is unknown: see [`TokenSet::from_input`]).
    pub junk_expiry: Option<&'static str>,
    /// `token_type: "DPoP"`: the server bound the token to this client's DPoP key.
    pub dpop_bound: bool,
}

impl TokenInput {
    /// Reads a token set in any of its spellings. Tokens must be strings (anything else is
    /// absent, and [`is_usable`] judges the rest); expiries are numbers or numeric strings.
    pub fn read<O: Fields>(o: &O) -> TokenInput {
        let text = |keys: &[&str]| first(o, keys).text();
        let mut junk = None;
        let mut number = |keys: &[&'static str]| {
            let v = first(o, keys);
            let present = !v.is_absent();
            let n = v.number().filter(|n| !n.is_nan());
            if present && n.is_none() && junk.is_none() {
                junk = keys.iter().copied().find(|k| !o.field(k).is_absent());
            }
            n
        };
        let expires_in = number(&["expires_in", "expiresIn", "ExpiresIn"]);
        let expires_at = number(&["expiresAt", "expires_at"]);
        TokenInput {
            access_token: text(&["access_token", "accessToken", "AccessToken"]),
            refresh_token: text(&["refresh_token", "refreshToken", "RefreshToken"]),
            id_token: text(&["id_token", "idToken", "IdToken"]),
            expires_in,
            expires_at,
            junk_expiry: junk,
            dpop_bound: is_bound(first(o, &["token_type", "tokenType", "TokenType"]).text().as_deref()),
        }
    }
}

/// The claims sessionguard reads from a JWT payload (unverified); times in seconds.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Claims {
    pub exp: Option<f64>,
    pub iat: Option<f64>,
}

impl Claims {
    /// `exp` and `iat`, numbers or numeric strings; anything else is unknown.
    pub fn read<O: Fields>(o: &O) -> Claims {
        Claims { exp: o.field("exp").number(), iat: o.field("iat").number() }
    }
}

/// A validated token set. `expires_at` is on the local clock; `None` means unknown:
/// the token is used until a 401 says otherwise.
#[derive(Debug, Clone, PartialEq)]
pub struct TokenSet {
    pub access: String,
    pub refresh: Option<String>,
    pub id: Option<String>,
    pub expires_at: Option<Time>,
    /// When we received it (local clock), to bound the leeway for short-lived tokens.
    pub received_at: Time,
    /// Bound to this client's DPoP key: sent as `DPoP <token>` with a proof.
    pub dpop_bound: bool,
}

/// The storage record (`v: 1`) of a token set, also what tabs send each other. Only the token
/// set: nothing else about the session.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Record {
    pub v: u8,
    pub a: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub r: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub i: Option<String>,
    /// Expiry and receipt, epoch ms.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub e: Option<f64>,
    pub t: f64,
    /// DPoP-bound (absent: not).
    #[serde(skip_serializing_if = "core::ops::Not::not")]
    pub d: bool,
}

impl Record {
    /// A stored (or received) record: `v` and `a` must be there; `None` for anything else
    /// (another library's value under our key, a corrupt write). Whether it is usable is
    /// [`TokenSet::from_record`]'s rule.
    pub fn read<O: Fields>(o: &O) -> Option<Record> {
        let v = o.field("v").number().filter(|v| v.fract() == 0.0 && (0.0..=255.0).contains(v))?;
        Some(Record {
            v: v as u8,
            a: o.field("a").text()?,
            r: o.field("r").text(),
            i: o.field("i").text(),
            e: o.field("e").number(),
            t: o.field("t").number().unwrap_or(0.0),
            d: o.field("d").flag() == Some(true),
        })
    }
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
    /// `accessToken` missing, empty, `"null"`, `"undefined"`, or not a valid header value.
    UnusableAccessToken,
    /// `expiresIn`/`expiresAt` holds no number (`NaN`, `"soon"`, ...); only the app's own
    /// `setTokens` is refused for it.
    BadExpiry,
}

/// True for a string that may be sent as a bearer token: visible ASCII only (an HTTP header
/// value that every client accepts: no controls, no spaces, nothing above 0x7E), and not one of
/// the words a missing value turns into.
pub fn is_usable(token: &str) -> bool {
    !token.is_empty() && token != "null" && token != "undefined" && token.bytes().all(|b| (0x21..=0x7e).contains(&b))
}

/// A short, non-reversible tag of a token (FNV-1a), so tabs can tell whether they hold the same
/// session without sending tokens around.
pub fn fingerprint(token: &str) -> u32 {
    token.bytes().fold(0x811c_9dc5u32, |h, b| (h ^ u32::from(b)).wrapping_mul(0x0100_0193))
}

/// Largest token we look into, to bound the work done on hostile input.
const MAX_JWT_LEN: usize = 64 * 1024;

/// The payload part of a JWT (base64url, padded or not), if the token has the three parts of
/// one and is not too long to look into. It is decoded where it is read: the browser layer
/// with the platform's `atob` (a base64 decoder in the module would cost 1.5 KB gzip for
/// reading unverified claims).
pub fn jwt_payload_part(token: &str) -> Option<&str> {
    if token.len() > MAX_JWT_LEN {
        return None;
    }
    // by bytes: no `char` searcher in the module for it
    let rest = &token[token.bytes().position(|b| b == b'.')? + 1..];
    // a signature part must follow, even if empty
    Some(&rest[..rest.bytes().position(|b| b == b'.')?])
}

/// Earliest and latest expiry we keep (epoch ms): a year 2286 bound, so that any arithmetic on
/// it stays finite. An expiry beyond it is clamped there, not refused.
const MAX_TIME_MS: f64 = 1.0e13;

/// A JWT time claim (seconds since the epoch, on the server's clock), if plausible.
fn claim_time(secs: Option<f64>) -> Option<Time> {
    let secs = secs?;
    (secs.is_finite() && secs > 0.0 && secs < MAX_TIME_MS / 1000.0).then_some(Time::from_ms(secs * 1000.0))
}

fn usable(s: &Option<String>) -> Option<String> {
    s.as_ref().filter(|t| is_usable(t)).cloned()
}

/// A time from outside, clamped into `[0, MAX_TIME_MS]` (an overflowing `expires_in` is "very
/// late", not an error).
fn clamp_time(epoch_ms: f64) -> Time {
    Time::from_ms(epoch_ms.clamp(0.0, MAX_TIME_MS))
}

impl TokenSet {
    /// Validates `input` received at `now`. `clock_offset` is the server-minus-local offset
    /// learned from an earlier refresh (0 if none). Returns the set and, for a refresh answer
    /// carrying `iat`, the offset it shows.
    /// `claims` are those of the access token, when it is a JWT (decoded by the caller, see
    /// [`jwt_payload_part`]).
    pub fn from_input(
        input: &TokenInput,
        claims: Option<Claims>,
        now: Time,
        source: Source,
        clock_offset: f64,
    ) -> Result<(TokenSet, Option<f64>), TokenError> {
        let access = usable(&input.access_token).ok_or(TokenError::UnusableAccessToken)?;
        // A junk expiry: the app is told (it can mend its call); a server's or refresh
        // function's answer keeps its good token with the expiry unknown (refusing it would
        // turn one bad field into an outage).
        let junk = input.junk_expiry.is_some() || [input.expires_in, input.expires_at].into_iter().flatten().any(f64::is_nan);
        if junk && source == Source::App {
            return Err(TokenError::BadExpiry);
        }
        let (expires_in, expires_at) = (input.expires_in.filter(|v| !v.is_nan()), input.expires_at.filter(|v| !v.is_nan()));
        let iat = claims.and_then(|c| claim_time(c.iat));
        let observed_offset = iat.map(|iat| iat - now);
        let mut expires_at = if let Some(at) = expires_at {
            Some(clamp_time(at))
        } else if let Some(secs) = expires_in {
            Some(clamp_time(now.ms() + secs.clamp(-MAX_TIME_MS, MAX_TIME_MS) * 1000.0))
        } else if let Some(exp) = claims.and_then(|c| claim_time(c.exp)) {
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
            dpop_bound: input.dpop_bound,
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

    pub fn freshness(&self, now: Time, leeway_ms: f64) -> Freshness {
        match self.expires_at {
            None => Freshness::Fresh,
            Some(at) if now >= at => Freshness::Expired,
            Some(at) if now >= at - self.effective_leeway(leeway_ms) => Freshness::NeedsRefresh,
            Some(_) => Freshness::Fresh,
        }
    }

    /// When a proactive refresh is due, if the expiry is known.
    pub fn refresh_due_at(&self, leeway_ms: f64) -> Option<Time> {
        self.expires_at.map(|at| at - self.effective_leeway(leeway_ms))
    }

    /// The storage record of this set.
    pub fn to_record(&self) -> Record {
        Record {
            v: 1,
            a: self.access.clone(),
            r: self.refresh.clone(),
            i: self.id.clone(),
            e: self.expires_at.map(Time::ms),
            t: self.received_at.ms(),
            d: self.dpop_bound,
        }
    }

    /// Reads a storage record; anything foreign or unusable is `None`.
    pub fn from_record(rec: &Record) -> Option<TokenSet> {
        if rec.v != 1 || !is_usable(&rec.a) {
            return None;
        }
        Some(TokenSet {
            access: rec.a.clone(),
            refresh: usable(&rec.r),
            id: usable(&rec.i),
            expires_at: rec.e.filter(|e| !e.is_nan()).map(clamp_time),
            received_at: if rec.t.is_finite() { Time::from_ms(rec.t) } else { Time::default() },
            dpop_bound: rec.d,
        })
    }
}

/// Offsets smaller than this are network latency, not a wrong clock.
const SKEW_NOISE_MS: f64 = 5_000.0;

#[cfg(all(test, not(target_arch = "wasm32")))]
pub(crate) mod tests {
    use super::*;
    use crate::core::b64::B64URL;
    use crate::core::read::tests::json;
    use base64::Engine as _;
    use proptest::prelude::*;

    /// A token set as a test writes one: `access`, maybe a refresh token, maybe an expiry
    /// (epoch ms), received at `received_ms`.
    pub fn token_set(access: &str, refresh: Option<&str>, expires_at_ms: Option<f64>, received_ms: f64) -> TokenSet {
        TokenSet {
            access: access.into(),
            refresh: refresh.map(Into::into),
            id: None,
            expires_at: expires_at_ms.map(Time::from_ms),
            received_at: Time::from_ms(received_ms),
            dpop_bound: false,
        }
    }

    pub fn b64(s: &str) -> String {
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s)
    }

    /// The payload text of a JWT, decoded on the host as the browser layer decodes it (`atob`
    /// takes it padded or not).
    pub fn jwt_payload(token: &str) -> Option<String> {
        String::from_utf8(B64URL.decode(jwt_payload_part(token)?).ok()?).ok()
    }

    /// The claims of a JWT, read on the host as the browser layer reads them with `JSON.parse`.
    pub fn claims_of(token: &str) -> Option<Claims> {
        json(&jwt_payload(token)?).map(|o| Claims::read(&o))
    }

    /// A record as storage would hand it back.
    fn record(text: &str) -> Option<Record> {
        json(text).and_then(|o| Record::read(&o))
    }

    /// `TokenSet::from_input` with the claims read from the access token.
    pub fn from_input(i: &TokenInput, now: Time, source: Source, offset: f64) -> Result<(TokenSet, Option<f64>), TokenError> {
        TokenSet::from_input(i, i.access_token.as_deref().and_then(claims_of), now, source, offset)
    }

    proptest! {
        #[test]
        fn jwt_payload_reads_padded_and_unpadded(bytes in proptest::collection::vec(any::<u8>(), 0..300), pad in any::<bool>()) {
            let engine = if pad { base64::engine::general_purpose::URL_SAFE } else { base64::engine::general_purpose::URL_SAFE_NO_PAD };
            let token = std::format!("h.{}.s", engine.encode(&bytes));
            prop_assert_eq!(jwt_payload(&token), String::from_utf8(bytes).ok());
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
        for bad in ["", "  ", "null", "undefined", "a\nb", "tok€", "a\0b", "a b", "a\u{7f}"] {
            assert_eq!(from_input(&input(bad), Time::from_ms(0.0), Source::App, 0.0), Err(TokenError::UnusableAccessToken));
        }
        assert_eq!(from_input(&TokenInput::default(), Time::from_ms(0.0), Source::App, 0.0), Err(TokenError::UnusableAccessToken));
        let mut i = input("ok");
        i.expires_in = Some(f64::NAN);
        assert_eq!(from_input(&i, Time::from_ms(0.0), Source::App, 0.0), Err(TokenError::BadExpiry));
        // a "null" refresh token is dropped, not stored
        let mut i = input("ok");
        i.refresh_token = Some("null".into());
        assert_eq!(from_input(&i, Time::from_ms(0.0), Source::App, 0.0).unwrap().0.refresh, None);
    }

    #[test]
    fn expiry_precedence() {
        let t = jwt("{\"exp\":2000}");
        let mut i = input(&t);
        i.expires_at = Some(5_000_000.0);
        i.expires_in = Some(60.0);
        let now = 1_000_000.0;
        assert_eq!(from_input(&i, Time::from_ms(now), Source::App, 0.0).unwrap().0.expires_at, Some(Time::from_ms(5_000_000.0)));
        i.expires_at = None;
        assert_eq!(from_input(&i, Time::from_ms(now), Source::App, 0.0).unwrap().0.expires_at, Some(Time::from_ms(now + 60_000.0)));
        i.expires_in = None;
        assert_eq!(from_input(&i, Time::from_ms(now), Source::App, 0.0).unwrap().0.expires_at, Some(Time::from_ms(2_000_000.0)));
        assert_eq!(from_input(&input("opaque"), Time::from_ms(now), Source::App, 0.0).unwrap().0.expires_at, None);
    }

    #[test]
    fn exp_as_float_or_string() {
        let now = 0.0;
        for p in ["{\"exp\":1500.5}", "{\"exp\":\"1500.5\"}"] {
            assert_eq!(
                from_input(&input(&jwt(p)), Time::from_ms(now), Source::App, 0.0).unwrap().0.expires_at,
                Some(Time::from_ms(1_500_500.0))
            );
        }
        // nonsense exp: unknown expiry, not a panic and not "expired"
        for p in ["{\"exp\":\"soon\"}", "{\"exp\":-5}", "{\"exp\":1e300}", "{\"exp\":null}"] {
            assert_eq!(from_input(&input(&jwt(p)), Time::from_ms(now), Source::App, 0.0).unwrap().0.expires_at, None, "{p}");
        }
    }

    #[test]
    fn a_jwt_payload_is_its_second_of_three_parts_within_bounds() {
        assert_eq!(jwt_payload_part("h.p.s"), Some("p"));
        assert_eq!(jwt_payload_part("h.p."), Some("p"), "an empty signature part");
        assert_eq!(jwt_payload_part("only-one-part"), None);
        assert_eq!(jwt_payload_part("a.b"), None);
        assert_eq!(jwt_payload_part(&"a.".repeat(40_000)), None);
        let padded = format!("h.{}==.s", b64("{\"a\":1}"));
        assert_eq!(jwt_payload(&padded).as_deref(), Some("{\"a\":1}"));
        assert_eq!(jwt_payload("a.!!!.c"), None);
    }

    /// An access token as identity servers issue them: an RS256 header with a `kid`, a payload
    /// with groups, roles and scopes, a 256-byte signature; about 2 KB.
    fn realistic_jwt(exp: u64) -> String {
        let groups: Vec<String> = (0..12).map(|i| format!("\"eu-west-1_sgDevPool_department-{i:02}-readers\"")).collect();
        let roles: Vec<String> = (0..8).map(|i| format!("\"arn:aws:iam::123456789012:role/app-role-{i}\"")).collect();
        let payload = format!(
            concat!(
                "{{\"sub\":\"7c1f2a9e-58b4-4c3d-9e0f-1a2b3c4d5e6f\",\"cognito:groups\":[{}],",
                "\"cognito:roles\":[{}],\"iss\":\"https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_sgDevPool\",",
                "\"client_id\":\"3n4b5urk1ft4fl3mg5e62d9ado\",\"origin_jti\":\"0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0\",",
                "\"event_id\":\"9a8b7c6d-5e4f-3a2b-1c0d-ef0123456789\",\"token_use\":\"access\",",
                "\"scope\":\"openid profile email phone aws.cognito.signin.user.admin https://api.example.test/orders.read https://api.example.test/orders.write\",",
                "\"auth_time\":{},\"iat\":{},\"exp\":{},\"jti\":\"11223344-5566-7788-99aa-bbccddeeff00\",",
                "\"username\":\"alice@example.test\"}}"
            ),
            groups.join(","),
            roles.join(","),
            exp - 3600,
            exp - 3600,
            exp
        );
        let header = b64(r#"{"kid":"k3nG7cJ2m0W9xQ1sV5bT8yZ4aL6pR0eU2iO7uY3tH9g=","alg":"RS256","typ":"JWT"}"#);
        let signature = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode([0x5au8; 256]);
        format!("{header}.{}.{signature}", b64(&payload))
    }

    #[test]
    fn a_long_jwt_keeps_its_exp() {
        let now = 1_800_000_000_000.0;
        let exp = 1_800_003_600;
        let token = realistic_jwt(exp);
        assert!((1_500..=3_000).contains(&token.len()), "{}", token.len());
        assert_eq!(claims_of(&token).and_then(|c| c.exp), Some(exp as f64));
        let (set, _) = from_input(&input(&token), Time::from_ms(now), Source::App, 0.0).unwrap();
        assert_eq!(set.expires_at, Some(Time::from_ms(exp as f64 * 1000.0)));
        // looked into up to MAX_JWT_LEN, not beyond (hostile input)
        let at_limit = format!("h.{}.{}", b64(r#"{"exp":2000}"#), "s".repeat(MAX_JWT_LEN - 2 - b64(r#"{"exp":2000}"#).len() - 1));
        assert_eq!(at_limit.len(), MAX_JWT_LEN);
        assert_eq!(claims_of(&at_limit).and_then(|c| c.exp), Some(2000.0));
        assert_eq!(jwt_payload_part(&format!("{at_limit}s")), None);
    }

    #[test]
    fn skew_from_refresh_is_corrected() {
        // Server clock is 10 minutes ahead of ours: iat = server now, exp = iat + 5 min.
        let now = 1_000_000_000.0;
        let server = now + 600_000.0;
        let t = jwt(&format!("{{\"iat\":{},\"exp\":{}}}", server / 1000.0, server / 1000.0 + 300.0));
        let (set, learned) = from_input(&input(&t), Time::from_ms(now), Source::Refresh, 0.0).unwrap();
        assert_eq!(set.expires_at, Some(Time::from_ms(now + 300_000.0)));
        assert_eq!(learned, Some(600_000.0));
        assert_eq!(set.freshness(Time::from_ms(now + 1000.0), 30_000.0), Freshness::Fresh);

        // Our clock is 10 minutes ahead: without correction the token would look dead on arrival.
        let server = now - 600_000.0;
        let t = jwt(&format!("{{\"iat\":{},\"exp\":{}}}", server / 1000.0, server / 1000.0 + 300.0));
        let (set, _) = from_input(&input(&t), Time::from_ms(now), Source::Refresh, 0.0).unwrap();
        assert_eq!(set.expires_at, Some(Time::from_ms(now + 300_000.0)));
    }

    #[test]
    fn app_tokens_only_get_the_safe_correction() {
        let now = 1_000_000_000.0;
        // An old token (issued an hour ago, expired 55 min ago) must not be trusted.
        let t = jwt(&format!("{{\"iat\":{},\"exp\":{}}}", (now - 3_600_000.0) / 1000.0, (now - 3_300_000.0) / 1000.0));
        let (set, _) = from_input(&input(&t), Time::from_ms(now), Source::App, 0.0).unwrap();
        assert_eq!(set.freshness(Time::from_ms(now), 30_000.0), Freshness::Expired);
        // A token issued in our future (our clock is behind): expiry moves earlier.
        let t = jwt(&format!("{{\"iat\":{},\"exp\":{}}}", (now + 600_000.0) / 1000.0, (now + 900_000.0) / 1000.0));
        let (set, _) = from_input(&input(&t), Time::from_ms(now), Source::App, 0.0).unwrap();
        assert_eq!(set.expires_at, Some(Time::from_ms(now + 300_000.0)));
    }

    #[test]
    fn an_app_token_issued_within_the_noise_is_not_moved() {
        let now = 1_000_000_000.0;
        // `iat` up to 5 s in our future is clock noise: `exp` is taken as it is
        for ahead in [1_000.0, SKEW_NOISE_MS] {
            let t = jwt(&format!("{{\"iat\":{},\"exp\":{}}}", (now + ahead) / 1000.0, (now + 900_000.0) / 1000.0));
            let (set, _) = from_input(&input(&t), Time::from_ms(now), Source::App, 0.0).unwrap();
            assert_eq!(set.expires_at, Some(Time::from_ms(now + 900_000.0)), "iat {ahead} ms ahead");
        }
    }

    #[test]
    fn a_refresh_learns_only_an_offset_beyond_the_noise() {
        let now = 1_000_000_000.0;
        for (ahead, learned) in [(SKEW_NOISE_MS, None), (SKEW_NOISE_MS + 1_000.0, Some(SKEW_NOISE_MS + 1_000.0)), (-SKEW_NOISE_MS, None)] {
            let t = jwt(&format!("{{\"iat\":{},\"exp\":{}}}", (now + ahead) / 1000.0, (now + 900_000.0) / 1000.0));
            let (_, got) = from_input(&input(&t), Time::from_ms(now), Source::Refresh, 0.0).unwrap();
            assert_eq!(got, learned, "iat {ahead} ms ahead");
        }
    }

    #[test]
    fn claim_times_are_taken_only_between_the_epoch_and_the_year_2286() {
        assert_eq!(claim_time(Some(1.0)), Some(Time::from_ms(1_000.0)));
        assert_eq!(claim_time(Some(MAX_TIME_MS / 1000.0 - 1.0)), Some(Time::from_ms(MAX_TIME_MS - 1_000.0)));
        for bad in [0.0, -1.0, MAX_TIME_MS / 1000.0, MAX_TIME_MS, f64::INFINITY, f64::NAN] {
            assert_eq!(claim_time(Some(bad)), None, "{bad}");
        }
        assert_eq!(claim_time(None), None);
    }

    #[test]
    fn fingerprints_are_fnv_1a() {
        // the published FNV-1a 32-bit vectors: every tab computes the same tag
        assert_eq!(fingerprint(""), 0x811c_9dc5);
        assert_eq!(fingerprint("a"), 0xe40c_292c);
        assert_eq!(fingerprint("foobar"), 0xbf9c_f968);
    }

    #[test]
    fn refresh_answer_dead_on_arrival_has_unknown_expiry() {
        let mut i = input("opaque");
        i.expires_in = Some(0.0);
        let (set, _) = from_input(&i, Time::from_ms(10.0), Source::Refresh, 0.0).unwrap();
        assert_eq!(set.expires_at, None);
    }

    #[test]
    fn freshness_and_short_lifetimes() {
        let mut i = input("t");
        i.expires_in = Some(3600.0);
        let (set, _) = from_input(&i, Time::from_ms(0.0), Source::App, 0.0).unwrap();
        assert_eq!(set.freshness(Time::from_ms(3_500_000.0), 30_000.0), Freshness::Fresh);
        assert_eq!(set.freshness(Time::from_ms(3_580_000.0), 30_000.0), Freshness::NeedsRefresh);
        assert_eq!(set.freshness(Time::from_ms(3_600_000.0), 30_000.0), Freshness::Expired);
        // 20 s token with a 30 s leeway: refresh in its second half, not at once.
        i.expires_in = Some(20.0);
        let (set, _) = from_input(&i, Time::from_ms(0.0), Source::App, 0.0).unwrap();
        assert_eq!(set.freshness(Time::from_ms(5_000.0), 30_000.0), Freshness::Fresh);
        assert_eq!(set.freshness(Time::from_ms(12_000.0), 30_000.0), Freshness::NeedsRefresh);
        assert_eq!(set.refresh_due_at(30_000.0), Some(Time::from_ms(10_000.0)));
    }

    #[test]
    fn storage_record_round_trip_and_corruption() {
        let set = token_set("a~b", Some("r"), Some(123.0), 7.0);
        let text = serde_json::to_string(&set.to_record()).unwrap();
        let back = record(&text).unwrap();
        assert_eq!(TokenSet::from_record(&back), Some(set.clone()));
        // a DPoP-bound set stays bound through storage and between tabs
        let bound = TokenSet { dpop_bound: true, ..set };
        let text = serde_json::to_string(&bound.to_record()).unwrap();
        assert_eq!(TokenSet::from_record(&record(&text).unwrap()), Some(bound));
        for bad in ["{\"v\":2,\"a\":\"x\"}", "{\"v\":1,\"a\":\"null\"}", "{\"v\":1,\"a\":\"a b\"}"] {
            let rec = record(bad).unwrap();
            assert_eq!(TokenSet::from_record(&rec), None, "{bad}");
        }
        for bad in ["", "{}", "null", "{\"v\":1}", "<html>", "{\"v\":1.5,\"a\":\"x\"}", "{\"v\":1,\"a\":7}"] {
            assert!(record(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn a_token_is_dpop_bound_only_when_its_answer_says_so() {
        let read = |t: &str| TokenInput::read(&json(t).unwrap());
        assert!(read(r#"{"access_token":"A","token_type":"DPoP"}"#).dpop_bound);
        assert!(read(r#"{"accessToken":"A","tokenType":"dpop"}"#).dpop_bound);
        assert!(!read(r#"{"access_token":"A","token_type":"Bearer"}"#).dpop_bound);
        assert!(!read(r#"{"access_token":"A"}"#).dpop_bound);
        let (set, _) = from_input(&read(r#"{"access_token":"A","token_type":"DPoP"}"#), Time::from_ms(0.0), Source::Refresh, 0.0).unwrap();
        assert!(set.dpop_bound);
    }

    #[test]
    fn overflowing_expiry_is_clamped_not_refused() {
        for secs in [f64::INFINITY, f64::MAX, 1e300] {
            let mut i = input("good");
            i.expires_in = Some(secs);
            let (set, _) = from_input(&i, Time::from_ms(1_000.0), Source::Refresh, 0.0).unwrap();
            assert_eq!(set.expires_at, Some(Time::from_ms(MAX_TIME_MS)));
            assert_eq!(set.freshness(Time::from_ms(2_000.0), 30_000.0), Freshness::Fresh);
        }
        let mut i = input("good");
        i.expires_at = Some(f64::NEG_INFINITY);
        assert_eq!(from_input(&i, Time::from_ms(1_000.0), Source::App, 0.0).unwrap().0.expires_at, Some(Time::from_ms(0.0)));
    }

    #[test]
    fn token_answers_of_every_shape_are_read() {
        for text in [
            r#"{"accessToken":"A","refreshToken":"R","expiresIn":60}"#,
            r#"{"access_token":"A","refresh_token":"R","expires_in":"60","token_type":"Bearer"}"#,
            r#"{"AccessToken":"A","RefreshToken":"R","ExpiresIn":60,"TokenType":"Bearer"}"#,
        ] {
            let i = TokenInput::read(&json(text).unwrap());
            assert_eq!((i.access_token.as_deref(), i.refresh_token.as_deref(), i.expires_in), (Some("A"), Some("R"), Some(60.0)), "{text}");
            assert_eq!(i.junk_expiry, None, "{text}: a number is not junk");
        }
        // the first junk field is the one named
        let i = TokenInput::read(&json(r#"{"access_token":"A","expires_in":"soon","expiresAt":"later"}"#).unwrap());
        assert_eq!(i.junk_expiry, Some("expires_in"));
        let i = TokenInput::read(&json(r#"{"access_token":"A","expires_in":60,"expiresAt":"later"}"#).unwrap());
        assert_eq!(i.junk_expiry, Some("expiresAt"));
        let i = TokenInput::read(&json(r#"{"access_token":null,"refresh_token":5}"#).unwrap());
        assert_eq!(i, TokenInput::default());
        let i = TokenInput::read(&json(r#"{"access_token":"A","expires_in":{}}"#).unwrap());
        assert_eq!(i.junk_expiry, Some("expires_in"));
        assert_eq!(i.expires_in, None);
    }

    #[test]
    fn junk_expiry_refuses_set_tokens_but_keeps_a_refreshed_token_with_unknown_expiry() {
        for text in [r#"{"accessToken":"A","expiresIn":"soon"}"#, r#"{"accessToken":"A","expiresAt":true}"#] {
            let i = TokenInput::read(&json(text).unwrap());
            assert!(i.junk_expiry.is_some(), "{text}");
            assert_eq!(from_input(&i, Time::from_ms(0.0), Source::App, 0.0), Err(TokenError::BadExpiry), "{text}");
            let (set, _) = from_input(&i, Time::from_ms(0.0), Source::Refresh, 0.0).unwrap();
            assert_eq!((set.access.as_str(), set.expires_at), ("A", None), "{text}");
        }
        // NaN, as `Number(undefined)` gives it
        let i = TokenInput { access_token: Some("A".into()), expires_in: Some(f64::NAN), ..Default::default() };
        assert_eq!(from_input(&i, Time::from_ms(0.0), Source::Refresh, 0.0).unwrap().0.expires_at, None);
    }

    proptest! {
        #[test]
        fn parsers_never_panic(s in ".{0,300}") {
            let _ = jwt_payload(&s);
            let _ = record(&s).map(|r| TokenSet::from_record(&r));
            let _ = from_input(&input(&s), Time::from_ms(0.0), Source::Refresh, 0.0);
        }

        #[test]
        fn jwt_with_any_payload_never_panics(p in proptest::collection::vec(any::<u8>(), 0..200)) {
            let t = format!("x.{}.y", base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&p));
            let _ = from_input(&input(&t), Time::from_ms(1.0e12), Source::App, 0.0);
        }

        #[test]
        fn accepted_tokens_are_usable(s in ".{0,40}") {
            if let Ok((set, _)) = from_input(&input(&s), Time::from_ms(0.0), Source::App, 0.0) {
                prop_assert!(is_usable(&set.access));
            }
        }
    }
}
