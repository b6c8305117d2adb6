//! Which answers are retried, and after how long.
//!
//! The rules (guarantee 5 in the README): 429, 503 with `Retry-After`, and the throttling answer of AWS
//! services (HTTP 400 with error type `TooManyRequestsException`) are retried for any method,
//! since the server did not act on the call. 502/503/504 and network errors are retried only for
//! idempotent methods, or for calls that carry an `Idempotency-Key`. Delays are exponential with
//! full jitter; a `Retry-After` (seconds or HTTP date) wins over the computed delay, and one
//! longer than `maxDelayMs` is not waited for at all: the answer goes back to the caller.

use super::dpop::asks_for_nonce;
use super::read::parse_decimal;
use super::time::Time;

/// `retry` option. Delays in ms.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RetryPolicy {
    pub max_retries: u32,
    pub base_delay_ms: f64,
    pub max_delay_ms: f64,
    pub idempotency_key: bool,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy { max_retries: 3, base_delay_ms: 100.0, max_delay_ms: 10_000.0, idempotency_key: false }
    }
}

impl RetryPolicy {
    /// The upper bound of the delay before retry number `attempt + 1` (0-based):
    /// `min(maxDelay, base * 2^attempt)`.
    pub fn cap(&self, attempt: u32) -> f64 {
        let exp = self.base_delay_ms * f64::from(2u32.saturating_pow(attempt.min(30)));
        exp.min(self.max_delay_ms).max(0.0)
    }

    /// Full jitter: uniform in `[0, cap]`, `rand` in `[0, 1)` supplied by the caller.
    pub fn jittered(&self, attempt: u32, rand: f64) -> f64 {
        let r = if rand.is_finite() { rand.clamp(0.0, 1.0) } else { 0.5 };
        r * self.cap(attempt)
    }

    /// The delay before the next attempt: the server's `Retry-After` if it gave one, else the
    /// jittered backoff. `None`: do not retry (a `Retry-After` beyond `maxDelayMs`).
    pub fn delay(&self, attempt: u32, rand: f64, retry_after_ms: Option<f64>) -> Option<f64> {
        match retry_after_ms {
            Some(ra) if ra > self.max_delay_ms => None,
            Some(ra) => Some(ra),
            None => Some(self.jittered(attempt, rand)),
        }
    }

    /// The delay before retry number `attempt + 1` (0-based) of one of the library's own
    /// requests, if it is to be retried at all.
    pub fn retry_in(&self, attempt: u32, rand: f64, retry_after_ms: Option<f64>) -> Option<f64> {
        if attempt >= self.max_retries {
            return None;
        }
        self.delay(attempt, rand, retry_after_ms)
    }
}

/// Methods that may be sent twice without harm (RFC 9110 §9.2.2).
pub fn is_idempotent(method: &str) -> bool {
    ["GET", "HEAD", "OPTIONS", "PUT", "DELETE", "TRACE"].iter().any(|m| m.eq_ignore_ascii_case(method))
}

/// The names AWS services (Cognito among them) give "slow down".
const THROTTLING_TYPES: [&str; 7] = [
    "TooManyRequestsException",
    "ThrottlingException",
    "Throttling",
    "ThrottledException",
    "RequestThrottled",
    "RequestLimitExceeded",
    "SlowDown",
];

/// Error types that AWS services (Cognito among them) use for "slow down".
pub fn is_throttling_type(error_type: &str) -> bool {
    THROTTLING_TYPES.contains(&aws_error_name(error_type))
}

/// `x-amzn-ErrorType: NotAuthorizedException:http://...` and
/// `{"__type": "com.amazonaws.cognito#NotAuthorizedException"}` both name `NotAuthorizedException`.
pub fn aws_error_name(raw: &str) -> &str {
    // by bytes (both separators are ASCII): no string searcher in the module for it
    let t = raw.bytes().position(|b| b == b':').map_or(raw, |i| &raw[..i]);
    t.bytes().rposition(|b| b == b'#').map_or(t, |i| &t[i + 1..]).trim_ascii()
}

/// The parts of an HTTP answer that the retry rules look at. `status` 0 is a network error.
#[derive(Debug, Clone, Copy, Default)]
pub struct Answer<'a> {
    pub status: u16,
    pub retry_after: Option<&'a str>,
    /// `x-amzn-ErrorType` header, else the body's `__type`.
    pub error_type: Option<&'a str>,
    /// With DPoP: a 401's `WWW-Authenticate`, and whether the answer brought a usable nonce
    /// (see [`crate::core::dpop`]).
    pub www_authenticate: Option<&'a str>,
    pub nonce_given: bool,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ApiClass {
    /// Give it to the caller (success or a final error).
    Done,
    /// 401: the 401 rule decides.
    Unauthorized,
    /// A 401 that asks for a DPoP nonce (not about the token: no refresh). `fresh`: the answer
    /// brought one, so one retry with it may be made.
    UseNonce { fresh: bool },
    /// Worth another attempt. `throttled`: the server said "too many".
    Retry { throttled: bool, retry_after_ms: Option<f64> },
}

/// Classifies an answer to an API call. `replay_safe`: the method is idempotent or the call
/// carries an `Idempotency-Key`.
pub fn classify_api(a: &Answer, replay_safe: bool, now: Time) -> ApiClass {
    let ra = a.retry_after.and_then(|v| parse_retry_after(v, now));
    match a.status {
        401 if asks_for_nonce(401, None, a.www_authenticate) => ApiClass::UseNonce { fresh: a.nonce_given },
        401 => ApiClass::Unauthorized,
        429 => ApiClass::Retry { throttled: true, retry_after_ms: ra },
        400 if a.error_type.is_some_and(is_throttling_type) => ApiClass::Retry { throttled: true, retry_after_ms: ra },
        503 if ra.is_some() => ApiClass::Retry { throttled: true, retry_after_ms: ra },
        0 | 502 | 503 | 504 if replay_safe => ApiClass::Retry { throttled: false, retry_after_ms: ra },
        _ => ApiClass::Done,
    }
}

/// How much of an answer the driver must read before [`classify_api`] can judge it. Reading
/// headers and bodies costs crossings into JavaScript on every call, so only the statuses the
/// rules act on are looked at; for all others the answer is [`ApiClass::Done`] whatever its
/// headers say (a property test holds the two functions together).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Look {
    /// Deliver it: no header or body changes the verdict.
    Nothing,
    /// `Retry-After` and `x-amzn-ErrorType`.
    Headers,
    /// The headers, and when they name no error type, the JSON body's `__type` (AWS services
    /// answer throttling with 400 and say so in the body; emulators only there).
    HeadersAndBody,
}

pub fn look(status: u16) -> Look {
    match status {
        400 => Look::HeadersAndBody,
        0 | 401 | 429 | 502..=504 => Look::Headers,
        _ => Look::Nothing,
    }
}

/// Longest `Retry-After` we read (a day); anything above is clamped to it.
pub const MAX_RETRY_AFTER_MS: f64 = 86_400_000.0;

/// `Retry-After` as delay-seconds or an HTTP date, in ms from `now`. Past dates are 0.
pub fn parse_retry_after(v: &str, now: Time) -> Option<f64> {
    let v = v.trim_ascii();
    if v.is_empty() {
        return None;
    }
    if v.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        let secs = parse_decimal(v)?;
        return Some((secs * 1000.0).min(MAX_RETRY_AFTER_MS));
    }
    let at = http_date(v)?;
    Some((at - now).clamp(0.0, MAX_RETRY_AFTER_MS))
}

/// The platform's HTTP-date parser, when it has one (the browser layer gives `Date.parse`,
/// which reads the same three forms: the module then carries no calendar code of its own).
/// Parsing a date is the platform's service, like its clock; what the date means (a delay from
/// now, 0 when past, clamped) stays the rule above.
pub type DateParser = fn(&str) -> Option<Time>;

#[cfg(target_arch = "wasm32")]
use platform::http_date;
#[cfg(target_arch = "wasm32")]
pub use platform::use_platform_date_parser;

/// Where the platform's parser is kept (wasm32 only: the host tests never build it, so
/// `npm run mutants` leaves `platform::` out; the browser tests compare it with the core's).
#[cfg(target_arch = "wasm32")]
mod platform {
    use super::{DateParser, Time};

    thread_local! {
        static PLATFORM_DATE: core::cell::Cell<Option<DateParser>> = const { core::cell::Cell::new(None) };
    }

    /// Gives the core the platform's HTTP-date parser (elsewhere the core's own is used).
    pub fn use_platform_date_parser(p: DateParser) {
        PLATFORM_DATE.with(|d| d.set(Some(p)));
    }

    pub(super) fn http_date(v: &str) -> Option<Time> {
        PLATFORM_DATE.with(|d| d.get()).and_then(|p| p(v))
    }
}

#[cfg(not(target_arch = "wasm32"))]
fn http_date(v: &str) -> Option<Time> {
    parse_http_date(v)
}

/// Parses an HTTP date (RFC 9110 §5.6.7): IMF-fixdate `Sun, 06 Nov 1994 08:49:37 GMT`, the
/// obsolete RFC 850 `Sunday, 06-Nov-94 08:49:37 GMT` and asctime `Sun Nov  6 08:49:37 1994`.
// over bytes: `str` patterns and `char` searchers are code the module does not need. The
// reference the platform's parser is tested against (`web/tests.rs`); not in the release module.
#[cfg(any(test, not(target_arch = "wasm32")))]
pub fn parse_http_date(v: &str) -> Option<Time> {
    let v = v.as_bytes();
    let rest = v.iter().position(|b| *b == b',').map_or(v, |i| &v[i + 1..]);
    let mut f = rest.split(|b| *b == b' ' || *b == b'-').filter(|s| !s.is_empty());
    let (a, b, c, d, e) = (f.next()?, f.next()?, f.next()?, f.next()?, f.next()?);
    if f.next().is_some() {
        return None;
    }
    // IMF-fixdate / RFC 850: 06 Nov 1994 08:49:37 GMT; asctime: Sun Nov 6 08:49:37 1994
    let (day, mon, year, time) = if e == b"GMT" { (a, b, c, d) } else { (c, b, e, d) };
    let day = digits(day)?;
    let month = b"JanFebMarAprMayJunJulAugSepOctNovDec".chunks(3).position(|m| m == mon)? as u32 + 1;
    let mut year = i64::from(digits(year)?);
    if year < 100 {
        year += if year < 70 { 2000 } else { 1900 };
    }
    let mut hms = time.split(|b| *b == b':');
    let (h, m, s) = (digits(hms.next()?)?, digits(hms.next()?)?, digits(hms.next()?)?);
    if hms.next().is_some() || !(1..=31).contains(&day) || h > 23 || m > 59 || s > 60 || !(1970..=9999).contains(&year) {
        return None;
    }
    let days = days_from_civil(year, month, day);
    Some(Time::from_ms(((days * 86_400) + i64::from(h * 3600 + m * 60 + s)) as f64 * 1000.0))
}

/// 1 to 4 ASCII digits.
#[cfg(any(test, not(target_arch = "wasm32")))]
fn digits(s: &[u8]) -> Option<u32> {
    if s.is_empty() || s.len() > 4 {
        return None;
    }
    s.iter().try_fold(0u32, |n, b| b.is_ascii_digit().then(|| n * 10 + u32::from(b - b'0')))
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm).
#[cfg(any(test, not(target_arch = "wasm32")))]
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = i64::from((m + 9) % 12);
    let doy = (153 * mp + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn http_dates() {
        let t = 784_111_777_000.0; // 1994-11-06T08:49:37Z
        assert_eq!(parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT"), Some(Time::from_ms(t)));
        assert_eq!(parse_http_date("Sunday, 06-Nov-94 08:49:37 GMT"), Some(Time::from_ms(t)));
        assert_eq!(parse_http_date("Sun Nov  6 08:49:37 1994"), Some(Time::from_ms(t)));
        assert_eq!(parse_http_date("Thu, 01 Jan 1970 00:00:00 GMT"), Some(Time::from_ms(0.0)));
        assert_eq!(parse_http_date("Sun, 06 Foo 1994 08:49:37 GMT"), None);
        assert_eq!(parse_http_date("Sun, 06 Nov 1994 25:49:37 GMT"), None);
    }

    #[test]
    fn decimals() {
        assert_eq!(parse_decimal("3600"), Some(3600.0));
        assert_eq!(parse_decimal(" 1.5 "), Some(1.5));
        assert_eq!(parse_decimal("-2"), Some(-2.0));
        assert_eq!(parse_decimal(".5"), Some(0.5));
        for bad in ["", ".", "-", "1e3", "inf", "NaN", "1.2.3", "0x10", "12a"] {
            assert_eq!(parse_decimal(bad), None, "{bad}");
        }
    }

    #[test]
    fn retry_after_forms() {
        assert_eq!(parse_retry_after("120", Time::from_ms(0.0)), Some(120_000.0));
        assert_eq!(parse_retry_after(" 1.5 ", Time::from_ms(0.0)), Some(1_500.0));
        assert_eq!(parse_retry_after("Thu, 01 Jan 1970 00:00:10 GMT", Time::from_ms(4_000.0)), Some(6_000.0));
        assert_eq!(parse_retry_after("Thu, 01 Jan 1970 00:00:10 GMT", Time::from_ms(99_000.0)), Some(0.0));
        assert_eq!(parse_retry_after("99999999", Time::from_ms(0.0)), Some(MAX_RETRY_AFTER_MS));
        assert_eq!(parse_retry_after("soon", Time::from_ms(0.0)), None);
        assert_eq!(parse_retry_after("-1", Time::from_ms(0.0)), None);
    }

    #[test]
    fn classification() {
        let a = |status, ra, et| Answer { status, retry_after: ra, error_type: et, ..Default::default() };
        assert_eq!(classify_api(&a(200, None, None), false, Time::from_ms(0.0)), ApiClass::Done);
        assert_eq!(classify_api(&a(401, None, None), false, Time::from_ms(0.0)), ApiClass::Unauthorized);
        assert_eq!(
            classify_api(&a(429, Some("2"), None), false, Time::from_ms(0.0)),
            ApiClass::Retry { throttled: true, retry_after_ms: Some(2000.0) }
        );
        let cognito = a(400, None, Some("TooManyRequestsException:http://internal.amazon.com/coral/com.amazon.coral.service/"));
        assert_eq!(classify_api(&cognito, false, Time::from_ms(0.0)), ApiClass::Retry { throttled: true, retry_after_ms: None });
        let typed = a(400, None, Some("com.amazonaws.cognito.identity.idp.model#TooManyRequestsException"));
        assert!(matches!(classify_api(&typed, false, Time::from_ms(0.0)), ApiClass::Retry { .. }));
        assert_eq!(classify_api(&a(400, None, Some("NotAuthorizedException")), true, Time::from_ms(0.0)), ApiClass::Done);
        assert_eq!(classify_api(&a(400, None, None), true, Time::from_ms(0.0)), ApiClass::Done);
        // 503 with Retry-After: any method; without: idempotent only
        assert!(matches!(classify_api(&a(503, Some("1"), None), false, Time::from_ms(0.0)), ApiClass::Retry { .. }));
        assert_eq!(classify_api(&a(503, None, None), false, Time::from_ms(0.0)), ApiClass::Done);
        for s in [0, 502, 503, 504] {
            assert!(matches!(classify_api(&a(s, None, None), true, Time::from_ms(0.0)), ApiClass::Retry { throttled: false, .. }));
            assert_eq!(classify_api(&a(s, None, None), false, Time::from_ms(0.0)), ApiClass::Done, "{s}");
        }
        assert_eq!(classify_api(&a(500, None, None), true, Time::from_ms(0.0)), ApiClass::Done);
    }

    #[test]
    fn idempotent_methods() {
        for m in ["GET", "get", "HEAD", "PUT", "DELETE", "OPTIONS"] {
            assert!(is_idempotent(m));
        }
        for m in ["POST", "PATCH", "CONNECT", ""] {
            assert!(!is_idempotent(m));
        }
    }

    #[test]
    fn http_dates_are_read_up_to_each_fields_edge_and_no_further() {
        let at = |v| parse_http_date(v).map(Time::ms);
        // the last valid value of each field
        assert_eq!(at("Thu, 31 Dec 1970 23:59:59 GMT"), Some(31_535_999_000.0));
        assert_eq!(at("Thu, 31 Dec 1970 23:59:60 GMT"), Some(31_536_000_000.0), "a leap second");
        assert!(at("Fri, 31 Dec 9999 23:59:59 GMT").is_some());
        // one past it, one field at a time
        for bad in [
            "Thu, 00 Jan 1970 00:00:00 GMT",
            "Thu, 32 Jan 1970 00:00:00 GMT",
            "Thu, 01 Jan 1970 24:00:00 GMT",
            "Thu, 01 Jan 1970 00:60:00 GMT",
            "Thu, 01 Jan 1970 00:00:61 GMT",
            "Wed, 31 Dec 1969 23:59:59 GMT",
            "Thu, 01 Jan 0100 00:00:00 GMT",
            "Thu, 01 Jan 19700 00:00:00 GMT",
            "Thu, 01 Jan 1970 00::00 GMT",
            "Thu, 01 Jan 1970 00:00:00:00 GMT",
        ] {
            assert_eq!(at(bad), None, "{bad}");
        }
        // two-digit years (RFC 850): 70–99 are the 1900s, 00–69 the 2000s
        assert_eq!(at("Thursday, 01-Jan-70 00:00:00 GMT"), Some(0.0));
        assert_eq!(at("Saturday, 01-Jan-00 00:00:00 GMT"), Some(946_684_800_000.0));
        assert_eq!(at("Sunday, 01-Jan-69 00:00:00 GMT"), Some(3_124_224_000_000.0));
    }

    #[test]
    fn retry_after_wins_but_is_bounded_by_max_delay() {
        let p = RetryPolicy::default();
        assert_eq!(p.delay(0, 0.9, Some(2_000.0)), Some(2_000.0));
        assert_eq!(p.delay(0, 0.9, Some(20_000.0)), None);
        // `maxDelayMs` itself is within the bound
        assert_eq!(p.delay(0, 0.9, Some(p.max_delay_ms)), Some(p.max_delay_ms));
        assert_eq!(p.delay(0, 0.9, Some(p.max_delay_ms + 1.0)), None);
        assert_eq!(p.delay(2, 0.5, None), Some(200.0));
    }

    #[test]
    fn cognitos_throttling_400_is_read_from_the_body_and_retried_not_delivered() {
        // Cognito answers throttling with a 400 whose JSON body says `__type`, and emulators
        // send no `x-amzn-ErrorType`: the body of a 400 must be read
        assert_eq!(look(400), Look::HeadersAndBody);
        for s in [0, 401, 429, 502, 503, 504] {
            assert_eq!(look(s), Look::Headers, "{s}");
        }
        for s in [200, 204, 304, 403, 404, 500] {
            assert_eq!(look(s), Look::Nothing, "{s}");
        }
        let now = Time::from_ms(0.0);
        for body_type in ["TooManyRequestsException", "com.amazonaws.cognito.identity.idp.model#TooManyRequestsException"] {
            let a = Answer { status: 400, error_type: Some(body_type), ..Default::default() };
            // any method: the server did not act on the call
            assert_eq!(classify_api(&a, false, now), ApiClass::Retry { throttled: true, retry_after_ms: None }, "{body_type}");
        }
        // each name with the prefixes and suffixes AWS puts around it, and no other error
        for name in THROTTLING_TYPES {
            assert!(is_throttling_type(&["com.amazonaws.cognito#", name, ":http://internal"].concat()), "{name}");
        }
        assert!(!is_throttling_type("NotAuthorizedException") && !is_throttling_type("Throttled"));
        for name in ["NotAuthorizedException", "InvalidParameterException", "", "TooManyRequests"] {
            assert!(!is_throttling_type(name), "{name}");
        }
        assert_eq!(aws_error_name(" com.amazonaws.cognito#TooManyRequestsException:http://x "), "TooManyRequestsException");
    }

    #[test]
    fn an_own_request_is_retried_max_retries_times_after_a_real_wait() {
        // the refresh, the code exchange and the revocation ask `retry_in` after each failure
        let p = RetryPolicy::default();
        let waits: Vec<f64> = (0..).map_while(|attempt| p.retry_in(attempt, 0.5, None)).take(100).collect();
        assert_eq!(waits, vec![50.0, 100.0, 200.0], "3 retries, jittered, not at once and not endless");
        assert_eq!(p.retry_in(2, 0.5, Some(1_500.0)), Some(1_500.0), "Retry-After wins");
        assert_eq!(p.retry_in(3, 0.5, Some(1_500.0)), None, "even with Retry-After: the budget is spent");
        assert_eq!(p.retry_in(0, 0.5, Some(20_000.0)), None, "too long to wait");
        let none = RetryPolicy { max_retries: 0, ..p };
        assert_eq!(none.retry_in(0, 0.5, None), None, "maxRetries 0: never again");
        assert_eq!(none.retry_in(0, 0.5, Some(1.0)), None);
    }

    proptest! {
        #[test]
        fn delays_within_bounds(base in 0.0f64..10_000.0, max in 0.0f64..100_000.0, attempt in 0u32..100, r in 0.0f64..1.0) {
            let p = RetryPolicy { max_retries: 3, base_delay_ms: base, max_delay_ms: max, idempotency_key: false };
            let d = p.jittered(attempt, r);
            prop_assert!(d >= 0.0 && d <= p.cap(attempt) && d <= max);
            prop_assert!(p.cap(attempt) <= p.cap(attempt + 1) || p.cap(attempt) == max);
        }

        #[test]
        fn answers_not_looked_at_are_done_whatever_their_headers(
            status in 0u16..1000, ra in proptest::option::of("[0-9]{1,3}"),
            et in proptest::option::of(prop_oneof![Just("TooManyRequestsException"), Just("ThrottlingException"), Just("x")]),
            safe in any::<bool>(), www in proptest::option::of(Just(r#"DPoP error="use_dpop_nonce""#)), nonce_given in any::<bool>(),
        ) {
            let a = Answer { status, retry_after: ra.as_deref(), error_type: et, www_authenticate: www, nonce_given };
            let class = classify_api(&a, safe, Time::from_ms(0.0));
            if look(status) == Look::Nothing {
                prop_assert_eq!(class, ApiClass::Done);
            }
            if look(status) == Look::Headers && et.is_some() {
                // the body is read only where a header may be missing and the status cares
                prop_assert!(status != 400);
            }
        }

        #[test]
        fn parsers_never_panic(s in ".{0,80}", now in 0.0f64..1e13) {
            let _ = parse_retry_after(&s, Time::from_ms(now));
            let _ = parse_http_date(&s);
            let _ = aws_error_name(&s);
        }

        #[test]
        fn retry_after_is_never_negative(secs in 0u64..10_000_000, now in 0.0f64..1e13) {
            let ms = parse_retry_after(&secs.to_string(), Time::from_ms(now)).unwrap();
            prop_assert!((0.0..=MAX_RETRY_AFTER_MS).contains(&ms));
        }
    }
}
