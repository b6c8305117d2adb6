//! Whole-engine tests in simulated time: many calls, a server, refresh outcomes and clock
//! steps, driven exactly as the browser shell drives the core, with no sleeping.

use super::time::Time;
use alloc::vec::Vec;
use proptest::prelude::*;

use super::call::{Call, Step, Verdict};
use super::refresh_answer::RefreshVerdict;
use super::retry::{Answer, RetryPolicy};
use super::session::{BeforeAttempt, Config, Event, FlightId, RefreshNext, Session, Shared};
use super::token::{is_usable, TokenInput};

#[derive(Debug, Clone, PartialEq)]
enum State {
    Runnable,
    Sleeping(Time),
    Waiting(FlightId),
    /// Sent, answer not yet in.
    InFlight,
    Done,
}

struct Tracked {
    call: Call,
    state: State,
    sends: u32,
}

/// Pseudo-statuses of the simulation: a DPoP nonce challenge with a nonce, and without one.
const NONCE_CHALLENGE: u16 = 1401;
const NONCE_UNREADABLE: u16 = 1402;

/// One scripted action of the property test.
#[derive(Debug, Clone)]
enum Action {
    /// Advance call `i % n`; if it sends, the server answers with this status ([`NONCE_CHALLENGE`]
    /// and [`NONCE_UNREADABLE`]: a 401 asking for a DPoP nonce, with and without one).
    Run(usize, u16),
    /// The refresh in flight gets this outcome: 0 tokens, 1 terminal, 2 transient, 3 unusable.
    Settle(u8),
    Tick(f64),
    Logout,
    SetTokens,
}

fn action() -> impl Strategy<Value = Action> {
    prop_oneof![
        6 => (0usize..64, prop_oneof![Just(200u16), Just(401), Just(429), Just(503), Just(502), Just(0), Just(400), Just(NONCE_CHALLENGE), Just(NONCE_UNREADABLE)]).prop_map(|(i, s)| Action::Run(i, s)),
        2 => (0u8..4).prop_map(Action::Settle),
        2 => (0.0f64..5_000.0).prop_map(Action::Tick),
        1 => Just(Action::Logout),
        1 => Just(Action::SetTokens),
    ]
}

struct World {
    s: Session,
    calls: Vec<Tracked>,
    flight: Option<FlightId>,
    /// Refresh attempt due at (for RetryIn).
    flight_due: Time,
    now: Time,
    flights_started: u32,
    ended_in_this_session: u32,
    token_counter: u32,
    max_sends: u32,
}

impl World {
    fn new(n: usize, cfg: Config) -> World {
        let mut s = Session::new(cfg);
        s.set_tokens(&tokens(0, 10.0), None, Time::from_ms(0.0)).unwrap();
        let calls = (0..n)
            .map(|_| Tracked { call: Call::new(&mut s, if n % 2 == 0 { "GET" } else { "POST" }, false), state: State::Runnable, sends: 0 })
            .collect();
        World {
            s,
            calls,
            flight: None,
            flight_due: Time::from_ms(0.0),
            now: Time::from_ms(0.0),
            flights_started: 0,
            ended_in_this_session: 0,
            token_counter: 1,
            // the sends, the retries, the 401 replay, the DPoP nonce retry
            max_sends: 1 + cfg.retry.max_retries + 1 + 1,
        }
    }

    fn drain_events(&mut self) {
        while let Some(e) = self.s.poll_event() {
            if let Event::SessionExpired { .. } = e {
                self.ended_in_this_session += 1;
                assert!(self.ended_in_this_session <= 1, "a session ended twice");
            }
        }
    }

    fn wake(&mut self) {
        let now = self.now;
        for c in &mut self.calls {
            match c.state {
                State::Sleeping(t) if t <= now => c.state = State::Runnable,
                State::Waiting(id) if !self.s.is_current(id) => c.state = State::Runnable,
                _ => {}
            }
        }
        if self.flight.is_some_and(|id| !self.s.is_current(id)) {
            self.flight = None;
        }
    }

    /// Advances call `i`: a runnable call takes its next step (sending leaves it in flight); a
    /// call in flight gets its answer, `status`.
    fn run(&mut self, i: usize, status: u16) {
        let c = &mut self.calls[i];
        if c.state == State::InFlight {
            // a DPoP nonce challenge is a 401 with a `WWW-Authenticate` (and maybe a nonce)
            let (status, www_authenticate, nonce_given) = match status {
                NONCE_CHALLENGE => (401, Some(r#"DPoP error="use_dpop_nonce""#), true),
                NONCE_UNREADABLE => (401, Some(r#"DPoP error="use_dpop_nonce""#), false),
                s => (s, None, false),
            };
            let error_type = (status == 400).then_some("TooManyRequestsException");
            let answer = Answer { status, retry_after: None, error_type, www_authenticate, nonce_given };
            c.state = match c.call.on_answer(&mut self.s, &answer, self.now, 0.5) {
                Verdict::Deliver | Verdict::Fail(_) => State::Done,
                Verdict::Again { .. } => State::Runnable,
            };
            self.drain_events();
            return;
        }
        if c.state != State::Runnable {
            return;
        }
        match c.call.next(&mut self.s, self.now) {
            Step::Send => {
                let token = self.s.tokens().map(|t| t.access.clone()).unwrap_or_default();
                assert!(is_usable(&token), "sent an unusable token");
                c.sends += 1;
                assert!(c.sends <= self.max_sends, "call sent {} times", c.sends);
                c.state = State::InFlight;
            }
            Step::SleepUntil(t) => c.state = State::Sleeping(t),
            Step::Refresh(id) => {
                match self.s.before_attempt(id, Shared::default(), self.now, 0.5) {
                    BeforeAttempt::Send(rt) => assert!(is_usable(&rt)),
                    other => panic!("a new flight must send: {other:?}"),
                }
                assert!(self.flight.is_none(), "two refreshes in flight");
                self.flight = Some(id);
                self.flight_due = self.now;
                self.flights_started += 1;
                c.state = State::Waiting(id);
            }
            Step::Join(id) => {
                assert_eq!(Some(id), self.flight, "joined a flight that is not running");
                c.state = State::Waiting(id);
            }
            Step::Fail(_) => c.state = State::Done,
        }
        self.drain_events();
    }

    fn settle(&mut self, outcome: u8) {
        let Some(id) = self.flight else { return };
        if self.now < self.flight_due {
            return;
        }
        let verdict = match outcome {
            0 => {
                self.token_counter += 1;
                RefreshVerdict::Tokens(tokens(self.token_counter, 3600.0))
            }
            1 => RefreshVerdict::Terminal,
            2 => RefreshVerdict::Transient { retry_after_ms: None },
            _ => RefreshVerdict::Tokens(TokenInput { access_token: Some("null".into()), ..Default::default() }),
        };
        match self.s.refresh_result(id, verdict, None, self.now, 0.5) {
            RefreshNext::RetryIn(d) => self.flight_due = self.now + d,
            RefreshNext::Settled => self.flight = None,
            RefreshNext::Recheck(_) | RefreshNext::AwaitPeer(_) => unreachable!("not shared"),
        }
        self.drain_events();
    }

    fn step(&mut self, a: &Action) {
        match *a {
            Action::Run(i, status) => {
                let n = self.calls.len();
                self.run(i % n, status);
            }
            Action::Settle(o) => self.settle(o),
            Action::Tick(dt) => self.now = self.now + dt,
            Action::Logout => {
                self.s.logout();
                self.drain_events();
            }
            Action::SetTokens => {
                self.token_counter += 1;
                self.s.set_tokens(&tokens(self.token_counter, 1.0), None, self.now).unwrap();
                self.ended_in_this_session = 0;
                self.drain_events();
            }
        }
        self.wake();
        if let Some(id) = self.flight {
            assert!(self.s.is_current(id));
        }
    }

    /// After the script: the server answers 200, refreshes succeed, time moves on. Every call
    /// must settle within a bounded number of steps.
    fn drain(&mut self) {
        for _ in 0..10_000 {
            if self.calls.iter().all(|c| c.state == State::Done) {
                return;
            }
            for i in 0..self.calls.len() {
                self.run(i, 200);
            }
            self.settle(0);
            self.now = self.now + 1_000.0;
            self.wake();
        }
        panic!("calls did not settle: {:?}", self.calls.iter().map(|c| c.state.clone()).collect::<Vec<_>>());
    }
}

fn tokens(n: u32, expires_in: f64) -> TokenInput {
    TokenInput {
        access_token: Some(alloc::format!("access-{n}")),
        refresh_token: Some(alloc::format!("refresh-{n}")),
        expires_in: Some(expires_in),
        ..Default::default()
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    /// Any interleaving of calls, answers, refresh outcomes, clock steps, logouts and new
    /// sessions: one flight at most, no unusable token sent, sends bounded, one end per session,
    /// every call settles.
    #[test]
    fn engine_invariants(n in 1usize..40, script in proptest::collection::vec(action(), 0..300), max_retries in 0u32..4, expire in any::<bool>()) {
        let cfg = Config { expire_on_transient: expire, retry: RetryPolicy { max_retries, ..Default::default() }, ..Default::default() };
        let mut w = World::new(n, cfg);
        for a in &script {
            w.step(a);
        }
        w.drain();
    }
}

#[test]
fn storm_on_expired_token_is_one_refresh() {
    let mut w = World::new(200, Config::default());
    w.now = Time::from_ms(60_000.0); // token expired
    for i in 0..200 {
        w.run(i, 200);
    }
    assert_eq!(w.flights_started, 1);
    assert_eq!(w.s.stats().coalesced, 199);
    w.settle(0);
    w.wake();
    for _ in 0..2 {
        for i in 0..200 {
            w.run(i, 200);
        }
    }
    assert!(w.calls.iter().all(|c| c.state == State::Done && c.sends == 1));
    assert_eq!(w.s.stats().refreshes, 1);
}

#[test]
fn storm_of_401s_is_one_refresh_and_one_replay_each() {
    let mut w = World::new(200, Config::default());
    for _ in 0..2 {
        for i in 0..200 {
            w.run(i, 401); // all are sent, then the server refuses the (not yet expired) token
        }
    }
    for i in 0..200 {
        w.run(i, 200); // each asks again: one starts the refresh, the rest join
    }
    assert_eq!(w.flights_started, 1);
    w.settle(0);
    w.wake();
    for _ in 0..2 {
        for i in 0..200 {
            w.run(i, 200);
        }
    }
    assert!(w.calls.iter().all(|c| c.state == State::Done && c.sends == 2));
    assert_eq!(w.s.stats().refreshes, 1);
}

#[test]
fn api_that_refuses_every_token_ends_once_and_stops() {
    let mut w = World::new(50, Config::default());
    for _ in 0..10 {
        for i in 0..50 {
            w.run(i, 401);
        }
        w.settle(0);
        w.wake();
    }
    assert!(w.calls.iter().all(|c| c.state == State::Done && c.sends <= 2));
    assert_eq!(w.s.stats().session_expired, 1);
    assert!(!w.s.is_authenticated());
}

/// Outcome of the quota simulation.
#[derive(Debug)]
struct QuotaRun {
    finished_ms: f64,
    attempts: u32,
    throttled: u32,
    failed: u32,
}

/// `calls` calls fired at once against an API that allows `quota` requests/s (a token bucket
/// with one second of burst, as API gateways do), 20 ms round trip.
fn quota_sim(calls: usize, quota: f64, limiter: Option<(f64, f64)>, max_retries: u32, seed: u64) -> QuotaRun {
    let mut s =
        Session::new(Config { retry: RetryPolicy { max_retries, ..Default::default() }, rate_limit: limiter, ..Default::default() });
    s.set_tokens(&TokenInput { access_token: Some("t".into()), ..Default::default() }, None, Time::from_ms(0.0)).unwrap();
    let mut rng = seed;
    let mut rand = move || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        (rng >> 11) as f64 / (1u64 << 53) as f64
    };
    // event queue: (time, call index)
    let mut queue: Vec<(f64, usize)> = (0..calls).map(|i| (0.0, i)).collect();
    let mut cs: Vec<Call> = (0..calls).map(|_| Call::new(&mut s, "GET", false)).collect();
    let (mut bucket, mut bucket_t) = (quota, 0.0f64);
    let mut run = QuotaRun { finished_ms: 0.0, attempts: 0, throttled: 0, failed: 0 };
    while let Some(pos) = (0..queue.len()).min_by(|&a, &b| queue[a].0.total_cmp(&queue[b].0).then(queue[a].1.cmp(&queue[b].1))) {
        let (now, i) = queue.swap_remove(pos);
        match cs[i].next(&mut s, Time::from_ms(now)) {
            Step::Send => {
                run.attempts += 1;
                let arrive = now + 10.0;
                bucket = (bucket + (arrive - bucket_t) * quota / 1000.0).min(quota);
                bucket_t = arrive;
                let status = if bucket >= 1.0 {
                    bucket -= 1.0;
                    200
                } else {
                    run.throttled += 1;
                    429
                };
                let back = arrive + 10.0;
                match cs[i].on_answer(&mut s, &Answer { status, ..Default::default() }, Time::from_ms(back), rand()) {
                    Verdict::Again { .. } => queue.push((back, i)),
                    Verdict::Deliver => {
                        if status != 200 {
                            run.failed += 1;
                        }
                        run.finished_ms = run.finished_ms.max(back);
                    }
                    Verdict::Fail(_) => unreachable!(),
                }
            }
            Step::SleepUntil(t) => queue.push((t.ms(), i)),
            other => panic!("{other:?}"),
        }
    }
    run
}

#[test]
fn quota_simulation_with_rate_limit() {
    // 1,000 calls, quota 100/s: ideal 10 s (less the bucket's first second of burst).
    let r = quota_sim(1000, 100.0, Some((100.0, 10.0)), 3, 1);
    std::println!("rateLimit 100/s burst 10 against quota 100/s: {r:?}");
    assert!(r.finished_ms <= 11_000.0, "{r:?}");
    assert!(f64::from(r.throttled) < 0.05 * f64::from(r.attempts), "{r:?}");
    assert_eq!(r.failed, 0);

    // Configured too high (150/s): the adaptive limiter backs off to the quota.
    let r = quota_sim(1000, 100.0, Some((150.0, 10.0)), 3, 2);
    std::println!("rateLimit 150/s burst 10 against quota 100/s: {r:?}");
    assert!(r.finished_ms <= 11_000.0, "{r:?}");
    assert!(f64::from(r.throttled) < 0.05 * f64::from(r.attempts), "{r:?}");
    assert_eq!(r.failed, 0);
}

#[test]
fn quota_simulation_with_retries_alone() {
    // For the record (no limiter): full-jitter backoff alone, as axios-retry would do it.
    let r = quota_sim(1000, 100.0, None, 3, 3);
    std::println!("retries alone (3) against quota 100/s: {r:?}");
    assert!(r.attempts <= 4 * 1000);
}
