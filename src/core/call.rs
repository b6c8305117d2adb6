//! One intercepted call, from first send to the answer the caller gets.
//!
//! The shell drives it like a quinn-proto connection: ask [`Call::next`] what to do (send with
//! this token, sleep until t, run or join a refresh, fail), do it, report the answer with
//! [`Call::on_answer`], repeat. The call keeps its own counts, so it is bounded by construction:
//! at most `1 + maxRetries` sends for throttling and overload, plus one replay after a 401, plus
//! one resend when a server asks for a DPoP nonce.

use super::dpop::{NonceResend, OnNonce};
use super::retry::{classify_api, is_idempotent, Answer, ApiClass};
use super::session::{Access, CallError, FlightId, On401, Session, Warning};
use super::time::Time;

/// How often one call may join a refresh before it gives up (guards against a refresh that
/// keeps settling without changing anything; never reached in normal operation).
const MAX_JOINS: u32 = 4;

#[derive(Debug, Clone, PartialEq)]
#[must_use]
pub enum Step {
    /// Send now with the session's current access token (its generation is the call's
    /// `sent_generation`).
    Send,
    /// Wait until this time (backoff or rate limit), then ask again.
    SleepUntil(Time),
    /// Run refresh flight `FlightId` (this call started it), then ask again once it is over.
    Refresh(FlightId),
    /// Wait for flight `FlightId` to settle, then ask again.
    Join(FlightId),
    Fail(CallError),
}

#[derive(Debug, Clone, Copy, PartialEq)]
#[must_use]
pub enum Verdict {
    /// Give the last answer to the caller as it is.
    Deliver,
    /// Ask `next` again. `retry`: this is retry number `attempt`, after `delay_ms` (for the
    /// `retry` event).
    Again {
        retry: Option<(u32, f64)>,
    },
    Fail(CallError),
}

#[derive(Debug, Clone)]
pub struct Call {
    replay_safe: bool,
    retries: u32,
    replayed: bool,
    /// The one resend a DPoP nonce challenge allows, whatever the other retries.
    nonce: NonceResend,
    joins: u32,
    /// `Session::token_generation` of the token of the last send.
    sent_gen: Option<u32>,
    wait_until: Option<Time>,
    /// Place in the rate limiter's queue, while waiting for it.
    ticket: Option<u64>,
    add_key: bool,
    /// Counted as a request and paced by the rate limiter (not so for `getAccessToken`).
    request: bool,
}

/// Is a call replay-safe, and must the driver give it an `Idempotency-Key`? Guarantee 5 (README): a call
/// may be replayed after the server may have acted on it only if its method is idempotent or it
/// carries a key; with `retry.idempotencyKey`, a non-idempotent call without one gets one.
pub fn replay_safety(method: &str, has_key: bool, add_keys: bool) -> (bool, bool) {
    let idempotent = is_idempotent(method);
    let add_key = !idempotent && !has_key && add_keys;
    (idempotent || has_key || add_key, add_key)
}

impl Call {
    /// A new call of `method`; `has_key` when it carries an `Idempotency-Key` already.
    pub fn new(session: &mut Session, method: &str, has_key: bool) -> Call {
        session.stats_mut().requests += 1;
        let (replay_safe, add_key) = replay_safety(method, has_key, session.config().retry.idempotency_key);
        Call {
            replay_safe,
            retries: 0,
            replayed: false,
            nonce: NonceResend::default(),
            joins: 0,
            sent_gen: None,
            wait_until: None,
            ticket: None,
            add_key,
            request: true,
        }
    }

    /// `getAccessToken()`: the same steps up to `Send` (wait for a refresh, join one, fail),
    /// with the same join budget, but nothing is sent: not counted, not rate-limited.
    pub fn token() -> Call {
        Call { request: false, ..Call::resume(true, 0, false, false, None) }
    }

    /// A call resumed by an interceptor that keeps its counts on the request (axios config).
    pub fn resume(replay_safe: bool, retries: u32, replayed: bool, nonce_retried: bool, sent_gen: Option<u32>) -> Call {
        Call {
            replay_safe,
            retries,
            replayed,
            nonce: NonceResend::resumed(nonce_retried),
            joins: 0,
            sent_gen,
            wait_until: None,
            ticket: None,
            add_key: false,
            request: true,
        }
    }

    /// The driver must give this call an `Idempotency-Key` (the same on every send).
    pub fn needs_idempotency_key(&self) -> bool {
        self.add_key
    }

    pub fn replay_safe(&self) -> bool {
        self.replay_safe
    }

    /// The generation of the token the last send carried.
    pub fn sent_generation(&self) -> Option<u32> {
        self.sent_gen
    }

    pub fn retries(&self) -> u32 {
        self.retries
    }

    pub fn replayed(&self) -> bool {
        self.replayed
    }

    pub fn nonce_retried(&self) -> bool {
        self.nonce.spent()
    }

    pub fn next(&mut self, session: &mut Session, now: Time) -> Step {
        if let Some(until) = self.wait_until {
            if now < until {
                return Step::SleepUntil(until);
            }
            self.wait_until = None;
        }
        if let Some(limiter) = session.limiter_mut().filter(|_| self.request) {
            let ticket = *self.ticket.get_or_insert_with(|| limiter.take_ticket(now));
            if let Some(at) = limiter.ready_at(ticket).filter(|&at| at > now) {
                return Step::SleepUntil(at);
            }
        }
        match session.access(now) {
            Access::Ready => {
                self.ticket = None;
                self.sent_gen = Some(session.token_generation());
                Step::Send
            }
            Access::Refresh(id) => Step::Refresh(id),
            Access::Join(id) => {
                self.joins += 1;
                if self.joins > MAX_JOINS {
                    Step::Fail(CallError::Unavailable { retry_after_ms: 0.0 })
                } else {
                    Step::Join(id)
                }
            }
            Access::Fail(e) => Step::Fail(e),
        }
    }

    /// Reports the answer to the last send. `rand` in `[0, 1)` for the backoff jitter.
    pub fn on_answer(&mut self, session: &mut Session, answer: &Answer, now: Time, rand: f64) -> Verdict {
        match classify_api(answer, self.replay_safe, now) {
            ApiClass::Unauthorized => {
                // unknown (a resumed call that never said): treat as stale, which only replays
                let sent = self.sent_gen.unwrap_or(u32::MAX);
                // one replay per call: the session never answers `Replay` to a replayed call
                match session.unauthorized(sent, self.replayed) {
                    On401::Replay => {
                        self.replayed = true;
                        Verdict::Again { retry: None }
                    }
                    On401::Deliver => Verdict::Deliver,
                    On401::Fail(e) => Verdict::Fail(e),
                }
            }
            // a nonce challenge: sent again once with the new nonce (the server has not acted on
            // it); a second one, or one without a readable nonce, goes back as it is
            ApiClass::UseNonce { fresh } => match self.nonce.on_answer(true, fresh) {
                OnNonce::Resend => Verdict::Again { retry: None },
                OnNonce::Unreadable => {
                    session.warn_once(Warning::NonceUnreadable);
                    Verdict::Deliver
                }
                OnNonce::Spent | OnNonce::NotAsked => Verdict::Deliver,
            },
            ApiClass::Done => {
                if (200..400).contains(&answer.status) {
                    if let Some(l) = session.limiter_mut() {
                        l.on_success(now);
                    }
                }
                Verdict::Deliver
            }
            ApiClass::Retry { throttled, retry_after_ms } => {
                if throttled {
                    session.stats_mut().throttled += 1;
                    if let Some(l) = session.limiter_mut() {
                        l.on_throttled(now);
                    }
                }
                let policy = session.config().retry;
                if self.retries >= policy.max_retries {
                    return Verdict::Deliver;
                }
                match policy.delay(self.retries, rand, retry_after_ms) {
                    None => Verdict::Deliver,
                    Some(delay) => {
                        self.retries += 1;
                        session.stats_mut().retries += 1;
                        self.wait_until = Some(now + delay);
                        Verdict::Again { retry: Some((self.retries, delay)) }
                    }
                }
            }
        }
    }
}

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    use super::*;
    use crate::core::retry::RetryPolicy;
    use crate::core::session::Config;
    use crate::core::token::TokenInput;

    fn t(ms: f64) -> Time {
        Time::from_ms(ms)
    }

    /// A session holding a fresh token (an hour), with `retry.idempotencyKey` as given.
    fn session(add_keys: bool) -> Session {
        let retry = RetryPolicy { idempotency_key: add_keys, ..Default::default() };
        let mut s = Session::new(Config { retry, ..Default::default() });
        let input =
            TokenInput { access_token: Some("A".into()), refresh_token: Some("R".into()), expires_in: Some(3600.0), ..Default::default() };
        s.set_tokens(&input, None, t(0.0)).unwrap();
        s
    }

    fn answer(status: u16, retry_after: Option<&str>) -> Answer<'_> {
        Answer { status, retry_after, ..Default::default() }
    }

    #[test]
    fn a_post_without_a_key_is_not_replay_safe() {
        // (method, has a key, retry.idempotencyKey) → (replay-safe, the driver adds a key)
        let table = [
            ("POST", false, false, (false, false)),
            ("POST", true, false, (true, false)),
            ("POST", false, true, (true, true)),
            ("POST", true, true, (true, false)),
            ("PATCH", false, false, (false, false)),
            ("GET", false, false, (true, false)),
            ("GET", false, true, (true, false)),
            ("put", true, true, (true, false)),
        ];
        for (method, has_key, add_keys, want) in table {
            assert_eq!(replay_safety(method, has_key, add_keys), want, "{method} key={has_key} add={add_keys}");
        }
        // and what it means: a 502 on a POST without a key goes back to the caller, not again
        let mut s = session(false);
        let mut post = Call::new(&mut s, "POST", false);
        assert!(!post.replay_safe());
        assert_eq!(post.next(&mut s, t(1.0)), Step::Send);
        assert_eq!(post.on_answer(&mut s, &answer(502, None), t(2.0), 0.5), Verdict::Deliver);
        let mut keyed = Call::new(&mut s, "POST", true);
        assert!(keyed.replay_safe());
        assert_eq!(keyed.next(&mut s, t(1.0)), Step::Send);
        assert!(matches!(keyed.on_answer(&mut s, &answer(502, None), t(2.0), 0.5), Verdict::Again { retry: Some((1, _)) }));
    }

    #[test]
    fn only_a_non_idempotent_call_without_a_key_is_given_one_and_only_when_asked() {
        let mut s = session(true);
        assert!(Call::new(&mut s, "POST", false).needs_idempotency_key());
        assert!(!Call::new(&mut s, "POST", true).needs_idempotency_key(), "it has one");
        assert!(!Call::new(&mut s, "GET", false).needs_idempotency_key(), "idempotent");
        let mut s = session(false);
        assert!(!Call::new(&mut s, "POST", false).needs_idempotency_key(), "retry.idempotencyKey is off");
        assert!(!Call::resume(true, 0, false, false, None).needs_idempotency_key());
        assert!(!Call::token().needs_idempotency_key());
    }

    #[test]
    fn a_retry_waits_its_backoff_and_not_a_moment_less() {
        let mut s = session(false);
        let mut c = Call::new(&mut s, "GET", false);
        assert_eq!(c.next(&mut s, t(1_000.0)), Step::Send);
        // the server's Retry-After: 2 s from the answer
        assert_eq!(c.on_answer(&mut s, &answer(429, Some("2")), t(1_000.0), 0.5), Verdict::Again { retry: Some((1, 2_000.0)) });
        assert_eq!(c.next(&mut s, t(1_000.0)), Step::SleepUntil(t(3_000.0)), "not resent at once");
        assert_eq!(c.next(&mut s, t(2_999.0)), Step::SleepUntil(t(3_000.0)), "woken early: sleeps again");
        assert_eq!(c.next(&mut s, t(3_000.0)), Step::Send, "due: sent");
        // the jittered backoff: attempt 2 of base 100 ms, cap 200 ms, half of it
        assert_eq!(c.on_answer(&mut s, &answer(503, None), t(4_000.0), 0.5), Verdict::Again { retry: Some((2, 100.0)) });
        assert_eq!(c.next(&mut s, t(4_000.0)), Step::SleepUntil(t(4_100.0)));
        assert_eq!(c.next(&mut s, t(4_100.0)), Step::Send);
        assert_eq!(c.retries(), 2);
        assert_eq!(s.stats().retries, 2);
    }

    #[test]
    fn a_call_resumed_from_its_saved_counts_goes_on_where_it_was() {
        // axios keeps a call's counts on the request's config and resumes it from them
        let save = |c: &Call| Call::resume(c.replay_safe(), c.retries(), c.replayed(), c.nonce_retried(), c.sent_generation());
        let mut s = session(false);
        let again =
            TokenInput { access_token: Some("B".into()), refresh_token: Some("R".into()), expires_in: Some(3600.0), ..Default::default() };
        s.set_tokens(&again, None, t(0.0)).unwrap();
        let mut c = Call::new(&mut s, "POST", false);
        assert_eq!(c.sent_generation(), None);
        assert_eq!(c.next(&mut s, t(1.0)), Step::Send);
        assert_eq!(c.sent_generation(), Some(s.token_generation()));
        assert!(s.token_generation() > 1);
        // a DPoP nonce challenge, answered once
        let challenge =
            Answer { status: 401, www_authenticate: Some(r#"DPoP error="use_dpop_nonce""#), nonce_given: true, ..Default::default() };
        assert!(!c.nonce_retried());
        assert_eq!(c.on_answer(&mut s, &challenge, t(2.0), 0.5), Verdict::Again { retry: None });
        assert!(c.nonce_retried());
        let mut c = save(&c);
        assert_eq!(c.next(&mut s, t(3.0)), Step::Send);
        assert_eq!(c.on_answer(&mut s, &challenge, t(4.0), 0.5), Verdict::Deliver, "the one nonce resend is spent");
        // a 401 for the token the call carried: refused, so the replay refreshes first
        let mut c = save(&c);
        let dead = Answer { status: 401, ..Default::default() };
        assert_eq!(c.on_answer(&mut s, &dead, t(5.0), 0.5), Verdict::Again { retry: None });
        assert!(matches!(c.next(&mut s, t(5.0)), Step::Refresh(_)), "not a replay with the same token");
    }

    #[test]
    fn a_call_joins_a_refresh_at_most_four_times_then_fails() {
        let mut s = session(false);
        let gen = s.token_generation();
        assert_eq!(s.unauthorized(gen, false), crate::core::session::On401::Replay, "the token is refused");
        let mut c = Call::new(&mut s, "GET", false);
        let Step::Refresh(id) = c.next(&mut s, t(1.0)) else { panic!("no refresh") };
        // the flight keeps settling into nothing: each wake-up joins it again
        let mut other = Call::new(&mut s, "GET", false);
        for i in 0..MAX_JOINS {
            assert_eq!(other.next(&mut s, t(2.0)), Step::Join(id), "join {i}");
        }
        assert_eq!(other.next(&mut s, t(2.0)), Step::Fail(CallError::Unavailable { retry_after_ms: 0.0 }));
    }

    #[test]
    fn a_rate_limited_call_sleeps_until_its_turn_and_then_goes() {
        let mut s = Session::new(Config { rate_limit: Some((1.0, 1.0)), ..Default::default() });
        let input = TokenInput { access_token: Some("A".into()), expires_in: Some(3600.0), ..Default::default() };
        s.set_tokens(&input, None, t(0.0)).unwrap();
        let mut first = Call::new(&mut s, "GET", false);
        let mut second = Call::new(&mut s, "GET", false);
        assert_eq!(first.next(&mut s, t(0.0)), Step::Send, "its turn is now");
        assert_eq!(second.next(&mut s, t(0.0)), Step::SleepUntil(t(1_000.0)));
        assert_eq!(second.next(&mut s, t(999.0)), Step::SleepUntil(t(1_000.0)));
        assert_eq!(second.next(&mut s, t(1_000.0)), Step::Send);
    }

    #[test]
    fn a_call_is_retried_max_retries_times_then_delivered() {
        let mut s = session(false);
        let mut c = Call::new(&mut s, "GET", false);
        let mut now = 0.0;
        for i in 1..=3 {
            assert_eq!(c.next(&mut s, t(now)), Step::Send);
            assert!(matches!(c.on_answer(&mut s, &answer(429, Some("1")), t(now), 0.5), Verdict::Again { retry: Some((n, _)) } if n == i));
            now += 1_000.0;
        }
        assert_eq!(c.next(&mut s, t(now)), Step::Send);
        assert_eq!(c.on_answer(&mut s, &answer(429, Some("1")), t(now), 0.5), Verdict::Deliver, "maxRetries 3: the fourth 429 goes back");
        assert_eq!(s.stats().throttled, 4);
    }
}
