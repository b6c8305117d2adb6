//! Client-side rate limit (`rateLimit: { requestsPerSecond, burst }`), adaptive.
//!
//! A token bucket in GCRA form, handing out *tickets*: a call takes a ticket when it first
//! wants to go, and ticket `k` may be sent at `anchor_time + (k - anchor_ticket) * interval`,
//! less the burst tolerance. Calls therefore leave in FIFO order and none is dropped; a call
//! sleeps until its ticket's time and asks again, so a change of rate moves every queued call,
//! not only the ones that arrive later.
//!
//! It also listens: a throttled answer cuts the rate multiplicatively (at most once per second,
//! since the answers to calls sent before the cut say nothing new) and spends the burst credit;
//! each success gives a little back, never above the configured rate. That is the AIMD idea of
//! the AWS SDKs' "adaptive" retry mode: when the configured rate is above the server's real
//! quota, the client settles near the quota instead of drawing a throttled answer on every
//! other call.

use super::time::Time;

#[derive(Debug, Clone)]
pub struct RateLimiter {
    configured: f64,
    rate: f64,
    burst: f64,
    next_ticket: u64,
    anchor_ticket: u64,
    /// When ticket `anchor_ticket` may go; none before the first ticket.
    anchor_time: Option<Time>,
    /// Burst credit is available (spent by a throttled answer, back once the queue empties).
    burst_on: bool,
    last_cut: Option<Time>,
}

/// How far one throttled answer cuts the rate.
const DECREASE: f64 = 0.7;
/// Share of the configured rate given back per second of successes.
const INCREASE_PER_SEC: f64 = 0.05;
/// Floor, as a share of the configured rate.
const FLOOR: f64 = 0.05;
/// At most one cut per this many ms.
const CUT_WINDOW_MS: f64 = 1_000.0;

impl RateLimiter {
    /// `requests_per_second` > 0; `burst` >= 1 (both checked by the caller).
    pub fn new(requests_per_second: f64, burst: f64) -> RateLimiter {
        RateLimiter {
            configured: requests_per_second,
            rate: requests_per_second,
            burst: burst.max(1.0),
            next_ticket: 0,
            anchor_ticket: 0,
            anchor_time: None,
            burst_on: true,
            last_cut: None,
        }
    }

    fn interval(&self) -> f64 {
        1000.0 / self.rate
    }

    fn slot(&self, ticket: u64) -> Option<Time> {
        Some(self.anchor_time? + (ticket as f64 - self.anchor_ticket as f64) * self.interval())
    }

    /// A place in the queue for a call arriving at `now`.
    pub fn take_ticket(&mut self, now: Time) -> u64 {
        let k = self.next_ticket;
        self.next_ticket += 1;
        if self.slot(k).is_none_or(|slot| slot < now) {
            // The queue is empty: start again from now, with the burst credit back.
            self.anchor_ticket = k;
            self.anchor_time = Some(now);
            self.burst_on = true;
        }
        k
    }

    /// When the call holding `ticket` may be sent. A call asks again when it wakes up, since
    /// the answer moves with the rate.
    pub fn ready_at(&self, ticket: u64) -> Option<Time> {
        let tolerance = if self.burst_on { (self.burst - 1.0) * self.interval() } else { 0.0 };
        Some(self.slot(ticket)? - tolerance)
    }

    /// Moves the anchor to the first ticket not yet due at `now`, keeping its time, so that a
    /// new interval applies from there on.
    fn reanchor(&mut self, now: Time, pause: f64) {
        let Some(anchor) = self.anchor_time else { return };
        // none ahead when `now` is not past the anchor (a negative count casts to 0)
        let ahead = ((now - anchor) / self.interval()).ceil() as u64;
        let k = self.anchor_ticket.saturating_add(ahead).min(self.next_ticket);
        self.anchor_time = self.slot(k);
        self.anchor_ticket = k;
        self.anchor_time = self.anchor_time.map(|a| a.max(now + pause));
    }

    /// The server said "too many": slow down, and spend the burst credit.
    pub fn on_throttled(&mut self, now: Time) {
        if self.last_cut.is_some_and(|cut| now - cut < CUT_WINDOW_MS) {
            return;
        }
        self.last_cut = Some(now);
        self.reanchor(now, 0.0);
        self.rate = (self.rate * DECREASE).max(self.configured * FLOOR);
        self.burst_on = false;
        let pause = self.interval();
        self.reanchor(now, pause);
    }

    pub fn on_success(&mut self, now: Time) {
        if self.rate < self.configured {
            self.reanchor(now, 0.0);
            // one success per interval: about INCREASE_PER_SEC of the configured rate per second
            self.rate = (self.rate + self.configured * INCREASE_PER_SEC / self.rate).min(self.configured);
        }
    }

    pub fn rate(&self) -> f64 {
        self.rate
    }
}

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn t(ms: f64) -> Time {
        Time::from_ms(ms)
    }

    /// When each of `n` calls arriving at `now` may go, in ms.
    fn times(l: &mut RateLimiter, n: usize, now: f64) -> Vec<f64> {
        (0..n)
            .map(|_| {
                let k = l.take_ticket(t(now));
                l.ready_at(k).map_or(now, |at| at.max(t(now)).ms())
            })
            .collect()
    }

    fn ready(l: &RateLimiter, k: u64) -> f64 {
        l.ready_at(k).map_or(f64::NAN, Time::ms)
    }

    #[test]
    fn burst_then_steady_rate() {
        let mut l = RateLimiter::new(10.0, 3.0);
        assert_eq!(times(&mut l, 6, 0.0), vec![0.0, 0.0, 0.0, 100.0, 200.0, 300.0]);
        // after a quiet second the burst is back, and only the burst: then the pace again
        assert_eq!(times(&mut l, 5, 2_000.0), vec![2_000.0, 2_000.0, 2_000.0, 2_100.0, 2_200.0]);
    }

    #[test]
    fn calls_that_keep_the_pace_after_a_429_do_not_bring_the_burst_back() {
        let mut l = RateLimiter::new(10.0, 3.0);
        assert_eq!(times(&mut l, 3, 0.0), vec![0.0; 3]);
        l.on_throttled(t(0.0));
        // a call arriving the very moment its slot is due: the queue has not been empty
        let due = l.slot(l.next_ticket).unwrap();
        let interval = 1_000.0 / l.rate();
        let got = times(&mut l, 2, due.ms());
        assert_eq!(got[0], due.ms());
        assert!((got[1] - (due.ms() + interval)).abs() < 1e-9, "{got:?}: no burst yet");
    }

    #[test]
    fn a_success_at_the_full_rate_leaves_the_schedule_alone() {
        let mut l = RateLimiter::new(10.0, 3.0);
        times(&mut l, 1, 0.0);
        l.on_throttled(t(0.0));
        for i in 0..2_000 {
            l.on_success(t(f64::from(i)));
        }
        assert_eq!(l.rate(), 10.0);
        // a late answer as calls arrive after a quiet while: the burst credit is back for them
        l.on_success(t(10_000.0));
        assert_eq!(times(&mut l, 3, 10_000.0), vec![10_000.0; 3]);
    }

    #[test]
    fn throttling_moves_queued_calls_and_success_recovers() {
        let mut l = RateLimiter::new(100.0, 1.0);
        let tickets: Vec<u64> = (0..10).map(|_| l.take_ticket(t(0.0))).collect();
        assert_eq!(ready(&l, tickets[9]), 90.0);
        l.on_throttled(t(0.0));
        assert!((l.rate() - 70.0).abs() < 1e-9);
        assert!(ready(&l, tickets[9]) > 90.0, "queued calls slow down too");
        l.on_throttled(t(10.0));
        l.on_throttled(t(999.0));
        assert!((l.rate() - 70.0).abs() < 1e-9, "one cut per window");
        l.on_throttled(t(1_000.0));
        assert!((l.rate() - 49.0).abs() < 1e-9, "the next window cuts again");
        for i in 0..1000 {
            l.on_success(t(f64::from(i)));
        }
        assert_eq!(l.rate(), 100.0);
        for i in 0..100 {
            l.on_throttled(t(f64::from(i) * 2_000.0));
        }
        assert!((l.rate() - 5.0).abs() < 1e-9);
    }

    #[test]
    fn a_429_pauses_the_next_call_for_one_new_interval() {
        // 10/s, no burst: one call at 1 s, sent at once; its answer at 1.05 s is a 429
        let mut l = RateLimiter::new(10.0, 1.0);
        assert_eq!(times(&mut l, 1, 0.0), vec![0.0]);
        assert_eq!(times(&mut l, 1, 1_000.0), vec![1_000.0]);
        l.on_throttled(t(1_050.0));
        let interval = 1_000.0 / l.rate();
        assert!((interval - 1_000.0 / 7.0).abs() < 1e-9);
        // the next call waits a whole new interval from the 429, not the old slot (1.1 s)
        let k = l.take_ticket(t(1_050.0));
        assert!((ready(&l, k) - (1_050.0 + interval)).abs() < 1e-9, "{}", ready(&l, k));
        // the pause holds for calls that come during it, and after it the pace is the new one
        let k2 = l.take_ticket(t(1_100.0));
        assert!((ready(&l, k2) - (1_050.0 + 2.0 * interval)).abs() < 1e-9, "{}", ready(&l, k2));
    }

    #[test]
    fn a_429_spends_the_burst_credit_until_the_queue_empties() {
        let mut l = RateLimiter::new(10.0, 3.0);
        let queued: Vec<u64> = (0..3).map(|_| l.take_ticket(t(1_000.0))).collect();
        let k = l.take_ticket(t(1_000.0));
        assert!(l.ready_at(k) < l.slot(k), "the burst credit lets calls go ahead of their slot");
        l.on_throttled(t(1_050.0));
        for k in queued.into_iter().chain([k, l.take_ticket(t(1_060.0))]) {
            assert_eq!(l.ready_at(k), l.slot(k), "after a 429 no call goes ahead of its slot");
        }
        // once the queue is empty, the credit is back
        assert_eq!(times(&mut l, 3, 60_000.0), vec![60_000.0; 3]);
    }

    proptest! {
        #[test]
        fn fifo_and_never_early(arrivals in proptest::collection::vec(0.0f64..10_000.0, 1..200), rps in 1.0f64..500.0, burst in 1.0f64..50.0, cuts in proptest::collection::vec(any::<bool>(), 200)) {
            let mut sorted = arrivals.clone();
            sorted.sort_by(f64::total_cmp);
            let mut l = RateLimiter::new(rps, burst);
            let mut tickets = Vec::new();
            for (i, now) in sorted.iter().enumerate() {
                tickets.push(l.take_ticket(t(*now)));
                if cuts[i] { l.on_throttled(t(*now)) } else { l.on_success(t(*now)) }
            }
            // whatever happened, ticket order is send order
            for w in tickets.windows(2) {
                prop_assert!(ready(&l, w[0]) <= ready(&l, w[1]));
            }
        }

        #[test]
        fn long_run_rate_is_respected(n in 50usize..500, rps in 1.0f64..200.0, burst in 1.0f64..20.0) {
            let mut l = RateLimiter::new(rps, burst);
            let last = times(&mut l, n, 0.0).into_iter().fold(0.0, f64::max);
            // n calls at once: the last goes no earlier than (n - burst) intervals in.
            let expect = (n as f64 - burst).max(0.0) * 1000.0 / rps;
            prop_assert!(last + 1e-6 >= expect);
        }
    }
}
