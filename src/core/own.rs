//! One of the library's own requests (the code exchange, a refresh, a revocation, discovery),
//! as a machine: how many times it is sent, how long each attempt may take, when it waits and
//! resends, and when it is over. The browser layer's one driver sends when told, hands every
//! answer back here with the verdict of the request's own rule ([`Judged`]: the exchange's
//! `signin::judge_exchange`, the revocation's `signout::judge`, a refresh's
//! `refresh_answer`), and carries out the [`OwnStep`] it gets, deciding nothing.
//!
//! What holds for every own request, whatever its kind, lives here once:
//! - each attempt is bounded by [`ATTEMPT_TIMEOUT_MS`], a DPoP nonce resend included (the
//!   resend gets what is left of the attempt's time, not a new bound): a refresh holds the
//!   cross-tab lock for one attempt, which the lock's bound must outlast (`crosstab`);
//! - a DPoP nonce challenge that brought a nonce is resent once per request, ever, whatever its
//!   retries ([`NonceResend`]);
//! - an answer that says "the server did not act, try later" is retried with the session's
//!   backoff and `Retry-After`, at most `maxRetries` times ([`RetryPolicy::retry_in`]), then
//!   ends in the outcome its rule gave for that case.
//!
//! A refresh's retries are the session's (they wait outside the cross-tab lock, and a
//! cool-down is shared between tabs): its rule judges every answer [`Judged::Done`], and its
//! machine lives for the whole flight so that its one nonce resend does too.

use super::dpop::{NonceResend, OnNonce};
use super::retry::RetryPolicy;
use super::time::Time;

/// Longest one attempt of an own request may take, a DPoP nonce resend included.
pub const ATTEMPT_TIMEOUT_MS: f64 = 30_000.0;

/// What one answer means to the request that got it, by the rule of its kind.
#[derive(Debug, Clone, PartialEq)]
pub enum Judged<T> {
    /// The request is over, with this outcome.
    Done(T),
    /// The server said it did not act (throttled, overloaded): worth another attempt after
    /// the backoff (or its `Retry-After`, in ms); `spent` is the outcome once the retries are.
    Again { retry_after_ms: Option<f64>, spent: T },
}

impl<T> Judged<T> {
    /// The verdict without its outcome, and the outcome: a driver that keeps the outcome where
    /// the request's kind is known runs one machine (one copy of it) for every kind.
    pub fn split(self) -> (Judged<()>, T) {
        match self {
            Judged::Done(t) => (Judged::Done(()), t),
            Judged::Again { retry_after_ms, spent } => (Judged::Again { retry_after_ms, spent: () }, spent),
        }
    }
}

/// What the driver does next.
#[derive(Debug, Clone, PartialEq)]
#[must_use]
pub enum OwnStep<T> {
    /// Send the request (again), to be answered within `within_ms`.
    Send { within_ms: f64 },
    /// Wait `delay_ms`, then [`OwnRequest::attempt`]; `retry` is this retry's number (1-based,
    /// the `retry` event's `attempt`).
    Backoff { retry: u32, delay_ms: f64 },
    /// Over.
    Done(T),
}

/// A DPoP nonce challenge as the driver saw it in an answer.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NonceSeen {
    /// The answer asks for a nonce (`dpop::asks_for_nonce`).
    pub asks: bool,
    /// It brought one, now kept (`dpop::Nonces::learn`).
    pub fresh: bool,
}

/// One own request.
#[derive(Debug, Clone, Default)]
pub struct OwnRequest {
    /// Retries made so far.
    retries: u32,
    nonce: NonceResend,
    /// When the current attempt's time is up.
    until: Option<Time>,
    /// A nonce challenge came without a nonce that could be read (said once, by the driver).
    unreadable_nonce: bool,
}

impl OwnRequest {
    pub fn new() -> OwnRequest {
        OwnRequest::default()
    }

    /// Starts an attempt (the first, or one after a [`OwnStep::Backoff`]): its time starts now.
    pub fn attempt<T>(&mut self, now: Time) -> OwnStep<T> {
        self.until = Some(now + ATTEMPT_TIMEOUT_MS);
        OwnStep::Send { within_ms: ATTEMPT_TIMEOUT_MS }
    }

    /// An answer to the last send, with the nonce challenge it carried and its rule's verdict.
    /// `rand` in `[0, 1)` draws the backoff's jitter.
    pub fn on_answer<T>(&mut self, nonce: NonceSeen, judged: Judged<T>, policy: &RetryPolicy, now: Time, rand: f64) -> OwnStep<T> {
        match self.nonce.on_answer(nonce.asks, nonce.fresh) {
            OnNonce::Resend => {
                let left = self.until.map_or(ATTEMPT_TIMEOUT_MS, |u| u - now);
                return OwnStep::Send { within_ms: left.clamp(0.0, ATTEMPT_TIMEOUT_MS) };
            }
            OnNonce::Unreadable => self.unreadable_nonce = true,
            OnNonce::NotAsked | OnNonce::Spent => {}
        }
        match judged {
            Judged::Done(outcome) => OwnStep::Done(outcome),
            Judged::Again { retry_after_ms, spent } => match policy.retry_in(self.retries, rand, retry_after_ms) {
                Some(delay_ms) => {
                    self.retries += 1;
                    self.until = None;
                    OwnStep::Backoff { retry: self.retries, delay_ms }
                }
                None => OwnStep::Done(spent),
            },
        }
    }

    /// Did an answer ask for a nonce without one that could be read? (Once: the flag is taken.)
    pub fn take_unreadable_nonce(&mut self) -> bool {
        core::mem::take(&mut self.unreadable_nonce)
    }

    /// Retries made so far.
    pub fn retries(&self) -> u32 {
        self.retries
    }
}

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const POLICY: RetryPolicy = RetryPolicy { max_retries: 2, base_delay_ms: 100.0, max_delay_ms: 10_000.0, idempotency_key: false };
    const NONE: NonceSeen = NonceSeen { asks: false, fresh: false };
    const CHALLENGE: NonceSeen = NonceSeen { asks: true, fresh: true };
    fn t(ms: f64) -> Time {
        Time::from_ms(ms)
    }
    fn again(retry_after_ms: Option<f64>) -> Judged<&'static str> {
        Judged::Again { retry_after_ms, spent: "spent" }
    }

    #[test]
    fn an_answer_its_rule_calls_final_ends_the_request() {
        let mut r = OwnRequest::new();
        assert_eq!(r.attempt::<()>(t(0.0)), OwnStep::Send { within_ms: ATTEMPT_TIMEOUT_MS });
        assert_eq!(r.on_answer(NONE, Judged::Done("tokens"), &POLICY, t(5.0), 0.5), OwnStep::Done("tokens"));
    }

    #[test]
    fn a_server_that_did_not_act_is_retried_with_backoff_then_the_spent_outcome() {
        let mut r = OwnRequest::new();
        let _ = r.attempt::<()>(t(0.0));
        assert_eq!(r.on_answer(NONE, again(None), &POLICY, t(1.0), 0.5), OwnStep::Backoff { retry: 1, delay_ms: 50.0 });
        let _ = r.attempt::<()>(t(60.0));
        assert_eq!(
            r.on_answer(NONE, again(Some(2_000.0)), &POLICY, t(61.0), 0.5),
            OwnStep::Backoff { retry: 2, delay_ms: 2_000.0 },
            "Retry-After wins"
        );
        let _ = r.attempt::<()>(t(3_000.0));
        assert_eq!(r.on_answer(NONE, again(None), &POLICY, t(3_001.0), 0.5), OwnStep::Done("spent"), "maxRetries: 2");
        assert_eq!(r.retries(), 2);
        // a Retry-After beyond maxDelayMs is not waited for
        let mut r = OwnRequest::new();
        let _ = r.attempt::<()>(t(0.0));
        assert_eq!(r.on_answer(NONE, again(Some(60_000.0)), &POLICY, t(1.0), 0.5), OwnStep::Done("spent"));
    }

    #[test]
    fn a_nonce_challenge_is_resent_once_within_what_is_left_of_the_attempt() {
        let mut r = OwnRequest::new();
        let _ = r.attempt::<()>(t(1_000.0));
        assert_eq!(r.on_answer(CHALLENGE, again(None), &POLICY, t(11_000.0), 0.5), OwnStep::Send { within_ms: 20_000.0 });
        // asked again: the rule's verdict stands, and the retries have their backoff
        assert_eq!(r.on_answer(CHALLENGE, again(None), &POLICY, t(12_000.0), 0.5), OwnStep::Backoff { retry: 1, delay_ms: 50.0 });
        // a later attempt is never resent again, whatever the server hands out
        let _ = r.attempt::<()>(t(20_000.0));
        assert_eq!(r.on_answer(CHALLENGE, again(None), &POLICY, t(20_001.0), 0.5), OwnStep::Backoff { retry: 2, delay_ms: 100.0 });
        let _ = r.attempt::<()>(t(30_000.0));
        assert_eq!(r.on_answer(CHALLENGE, Judged::Done("over"), &POLICY, t(30_001.0), 0.5), OwnStep::Done("over"));
        // a resend after the attempt's time is up gets none left
        let mut r = OwnRequest::new();
        let _ = r.attempt::<()>(t(0.0));
        assert_eq!(r.on_answer(CHALLENGE, Judged::Done(()), &POLICY, t(40_000.0), 0.5), OwnStep::Send { within_ms: 0.0 });
    }

    #[test]
    fn a_split_verdict_keeps_its_outcome_apart() {
        assert_eq!(Judged::Done(7).split(), (Judged::Done(()), 7));
        assert_eq!(
            Judged::Again { retry_after_ms: Some(5.0), spent: 8 }.split(),
            (Judged::Again { retry_after_ms: Some(5.0), spent: () }, 8)
        );
    }

    #[test]
    fn a_challenge_without_a_readable_nonce_is_not_resent_and_is_said() {
        let mut r = OwnRequest::new();
        let _ = r.attempt::<()>(t(0.0));
        let seen = NonceSeen { asks: true, fresh: false };
        assert_eq!(r.on_answer(seen, Judged::Done("failed"), &POLICY, t(1.0), 0.5), OwnStep::Done("failed"));
        assert!(r.take_unreadable_nonce());
        assert!(!r.take_unreadable_nonce(), "said once");
    }

    proptest! {
        /// Whatever the answers, a request is sent at most `1 + maxRetries` attempts plus one
        /// nonce resend, each within its bound, and always ends.
        #[test]
        fn sends_are_bounded(answers in proptest::collection::vec((any::<bool>(), any::<bool>(), 0u8..3, proptest::option::of(0.0f64..20_000.0)), 1..40), max_retries in 0u32..5) {
            let policy = RetryPolicy { max_retries, ..POLICY };
            let mut r = OwnRequest::new();
            let mut now = 0.0;
            let mut step = r.attempt::<u8>(t(now));
            let (mut sends, mut resends) = (0u32, 0u32);
            let mut answers = answers.into_iter().cycle();
            loop {
                match step {
                    OwnStep::Send { within_ms } => {
                        prop_assert!((0.0..=ATTEMPT_TIMEOUT_MS).contains(&within_ms));
                        sends += 1;
                        prop_assert!(sends <= 2 + max_retries, "{} sends", sends);
                        let (asks, fresh, kind, ra) = answers.next().unwrap_or_default();
                        now += 10.0;
                        let judged = if kind == 0 { Judged::Done(1) } else { Judged::Again { retry_after_ms: ra, spent: 2 } };
                        let before = r.retries();
                        step = r.on_answer(NonceSeen { asks, fresh }, judged, &policy, t(now), 0.5);
                        if matches!(step, OwnStep::Send { .. }) {
                            resends += 1;
                            prop_assert_eq!(r.retries(), before);
                        }
                    }
                    OwnStep::Backoff { retry, delay_ms } => {
                        prop_assert!(retry <= max_retries && delay_ms >= 0.0);
                        now += delay_ms;
                        step = r.attempt(t(now));
                    }
                    OwnStep::Done(_) => break,
                }
            }
            prop_assert!(resends <= 1);
        }
    }
}
