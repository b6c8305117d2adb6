//! The session engine driven by arbitrary scripts of calls, answers, refresh outcomes, clock
//! steps, logouts and new sessions, checking the invariants of SPEC: at most one refresh in
//! flight, no unusable token sent, sends bounded, the session ends at most once per session.
//! Run: `cargo +nightly fuzz run engine`.
#![no_main]
use libfuzzer_sys::fuzz_target;
use sessionguard::core::time::Time;
use sessionguard::core::call::{Call, Step, Verdict};
use sessionguard::core::refresh_answer::RefreshVerdict;
use sessionguard::core::retry::Answer;
use sessionguard::core::session::{BeforeAttempt, Config, Event, FlightId, RefreshNext, Session, Shared};
use sessionguard::core::token::{is_usable, TokenInput};

fn tokens(n: u32, expires_in: f64) -> TokenInput {
    TokenInput { access_token: Some(format!("a{n}")), refresh_token: Some(format!("r{n}")), expires_in: Some(expires_in), ..Default::default() }
}

fuzz_target!(|data: &[u8]| {
    let mut s = Session::new(Config::default());
    let _ = s.set_tokens(&tokens(0, 5.0), None, Time::from_ms(0.0));
    let mut calls: Vec<(Call, u32, bool)> = (0..8).map(|i| (Call::new(&mut s, if i % 2 == 0 { "GET" } else { "POST" }, false), 0, false)).collect();
    let mut flight: Option<FlightId> = None;
    let (mut now, mut n, mut ended) = (Time::from_ms(0.0), 1u32, 0u32);
    for pair in data.chunks(2) {
        let (op, arg) = (pair[0], *pair.get(1).unwrap_or(&0));
        match op % 6 {
            0 | 1 => {
                let (c, sends, done) = &mut calls[usize::from(arg) % 8];
                if *done {
                    continue;
                }
                match c.next(&mut s, now) {
                    Step::Send => {
                        assert!(s.tokens().is_some_and(|t| is_usable(&t.access)));
                        *sends += 1;
                        assert!(*sends <= 1 + 3 + 1);
                        let status = [200u16, 401, 429, 503, 0, 400][usize::from(arg) % 6];
                        let v = c.on_answer(&mut s, &Answer { status, retry_after: None, error_type: Some("TooManyRequestsException") }, now, 0.5);
                        *done = matches!(v, Verdict::Deliver | Verdict::Fail(_));
                    }
                    Step::Refresh(id) => {
                        assert!(flight.is_none() || flight.is_some_and(|f| !s.is_current(f)));
                        match s.before_attempt(id, Shared::default(), now, 0.5) {
                            BeforeAttempt::Send(rt) => assert!(is_usable(&rt)),
                            BeforeAttempt::Skip(_) => unreachable!("a new flight sends"),
                        }
                        flight = Some(id);
                    }
                    Step::Fail(_) => *done = true,
                    Step::SleepUntil(_) | Step::Join(_) => {}
                }
            }
            2 => {
                if let Some(id) = flight {
                    let v = match arg % 3 {
                        0 => RefreshVerdict::Tokens(tokens(n, 60.0)),
                        1 => RefreshVerdict::Terminal,
                        _ => RefreshVerdict::Transient { retry_after_ms: None },
                    };
                    n += 1;
                    if s.refresh_result(id, v, None, now, 0.5) == RefreshNext::Settled {
                        flight = None;
                    }
                }
            }
            3 => now = now + f64::from(arg) * 100.0,
            4 => s.logout(),
            _ => {
                n += 1;
                let _ = s.set_tokens(&tokens(n, 5.0), None, now);
                ended = 0;
            }
        }
        while let Some(e) = s.poll_event() {
            if matches!(e, Event::SessionExpired(_)) {
                ended += 1;
                assert!(ended <= 1);
            }
        }
    }
});
