//! The core's surface for the JavaScript shell (`js/session-manager.js`): `SessionEngine`, one
//! per `SessionManager`, with a synchronous API of numbers and strings.
//!
//! Why this shape: the browser side of the job is promises, timers, `fetch`, axios, locks and
//! events. Written in Rust, each `async fn` and each closure handed to JavaScript becomes a state
//! machine plus glue, and every `web_sys` call is another import shim. That cost 50+ KB of
//! gzipped wasm in our first version. So the shell is plain JavaScript that never decides
//! anything: it asks the engine ("a call wants to go: what now?") and does what the answer says.
//! All the rules stay here, in Rust, in [`crate::core`].
//!
//! Conventions: methods return a small integer code, and details go in the `out*` slots, read
//! right after the call. Times are epoch ms; `NaN` means "none". No method panics on any input.

use alloc::string::String;
use alloc::vec::Vec;
use wasm_bindgen::prelude::*;

use crate::core::call::{Call, Step, Verdict};
use crate::core::json::Json;
use crate::core::ratelimit::RateLimiter;
use crate::core::refresh_answer::{classify_cognito, classify_oauth2, classify_rejection, RefreshVerdict};
use crate::core::retry::{Answer, RetryPolicy};
use crate::core::session::{Access, CallError, Config, EndReason, Event, FlightId, RefreshNext, Session};
use crate::core::token::{self, TokenError, TokenInput, TokenSet};

/// A small free-list allocator instead of std's dlmalloc: the engine allocates little (token
/// strings, a few small vectors) and is single-threaded.
#[global_allocator]
static ALLOC: lol_alloc::AssumeSingleThreaded<lol_alloc::FreeListAllocator> = unsafe { lol_alloc::AssumeSingleThreaded::new(lol_alloc::FreeListAllocator::new()) };

// Step codes (access, call_next, proactive).
const READY: i32 = 0;
const REFRESH: i32 = 1;
const JOIN: i32 = 2;
const FAIL: i32 = 3;
const SLEEP: i32 = 4;
// Verdict codes (call_answer).
const DELIVER: i32 = 0;
const AGAIN: i32 = 1;
const RETRY: i32 = 2;
// Event codes (poll_event).
const EV_NONE: i32 = 0;
const EV_EXPIRED: i32 = 1;
const EV_REFRESHED: i32 = 2;
const EV_STORE: i32 = 3;
const EV_CLEAR: i32 = 4;
// Refresh verdict kinds (classify_*).
const KIND_TOKENS: i32 = 0;
const KIND_TERMINAL: i32 = 1;
const KIND_TRANSIENT: i32 = 2;

#[wasm_bindgen(skip_typescript)]
pub struct SessionEngine {
    s: Session,
    calls: Vec<Option<Call>>,
    free: Vec<u32>,
    verdict: Option<RefreshVerdict>,
    out_str: Option<String>,
    out_num: f64,
    out_num2: f64,
}

fn opt_time(v: Option<f64>) -> f64 {
    v.unwrap_or(f64::NAN)
}

fn finite(v: Option<f64>) -> Option<f64> {
    v.filter(|n| n.is_finite())
}

#[wasm_bindgen]
impl SessionEngine {
    /// Options are checked by the shell; the engine clamps what it must.
    #[wasm_bindgen(constructor)]
    #[allow(clippy::too_many_arguments)]
    pub fn new(leeway_ms: f64, can_refresh: bool, expire_on_transient: bool, max_retries: u32, base_delay_ms: f64, max_delay_ms: f64, idempotency_key: bool, rps: f64, burst: f64) -> SessionEngine {
        let pos = |v: f64, d: f64| if v.is_finite() && v >= 0.0 { v } else { d };
        let mut s = Session::new(Config {
            leeway_ms: pos(leeway_ms, 30_000.0),
            can_refresh,
            expire_on_transient,
            retry: RetryPolicy { max_retries: max_retries.min(20), base_delay_ms: pos(base_delay_ms, 100.0), max_delay_ms: pos(max_delay_ms, 10_000.0), idempotency_key },
        });
        if rps.is_finite() && rps > 0.0 {
            s.limiter = Some(RateLimiter::new(rps, if burst.is_finite() { burst.max(1.0) } else { 1.0 }));
        }
        SessionEngine { s, calls: Vec::new(), free: Vec::new(), verdict: None, out_str: None, out_num: f64::NAN, out_num2: f64::NAN }
    }

    // ---- out slots ------------------------------------------------------------------------

    /// The string result of the last call (taken).
    #[wasm_bindgen(js_name = outStr)]
    pub fn out_str(&mut self) -> Option<String> {
        self.out_str.take()
    }

    #[wasm_bindgen(js_name = outNum)]
    pub fn out_num(&self) -> f64 {
        self.out_num
    }

    #[wasm_bindgen(js_name = outNum2)]
    pub fn out_num2(&self) -> f64 {
        self.out_num2
    }

    fn fail(&mut self, e: CallError) -> i32 {
        match e {
            CallError::NoSession => {
                self.out_str = Some("no-session".into());
                self.out_num = f64::NAN;
            }
            CallError::Expired(r) => {
                self.out_str = Some(r.as_str().into());
                self.out_num = f64::NAN;
            }
            CallError::Unavailable { retry_after_ms } => {
                self.out_str = None;
                self.out_num = retry_after_ms.max(0.0).ceil();
            }
        }
        FAIL
    }

    // ---- tokens and the session -----------------------------------------------------------

    /// `setTokens`. 0: done; 1: unusable access token; 2: bad expiry.
    #[wasm_bindgen(js_name = setTokens)]
    pub fn set_tokens(&mut self, access: Option<String>, refresh: Option<String>, id: Option<String>, expires_in: Option<f64>, expires_at: Option<f64>, now: f64) -> u32 {
        let input = TokenInput { access_token: access, refresh_token: refresh, id_token: id, expires_in, expires_at };
        match self.s.set_tokens(&input, now) {
            Ok(()) => 0,
            Err(TokenError::UnusableAccessToken) => 1,
            Err(TokenError::BadExpiry) => 2,
        }
    }

    /// Resumes from a storage record; false if it is corrupt or foreign.
    pub fn restore(&mut self, record: &str) -> bool {
        match TokenSet::from_record(record) {
            Some(set) => {
                self.s.restore(set);
                true
            }
            None => false,
        }
    }

    /// Takes a record stored by another tab (see `Session::adopt`).
    pub fn adopt(&mut self, record: &str, login: bool) -> bool {
        TokenSet::from_record(record).is_some_and(|set| self.s.adopt(set, login))
    }

    /// The storage record of the current token set.
    pub fn record(&self) -> Option<String> {
        self.s.tokens().map(TokenSet::to_record)
    }

    /// The access (0) or ID (1) token.
    pub fn token(&self, which: u32) -> Option<String> {
        let t = self.s.tokens()?;
        if which == 1 {
            t.id.clone()
        } else {
            Some(t.access.clone())
        }
    }

    /// Changes whenever the access token does.
    #[wasm_bindgen(js_name = tokenGen)]
    pub fn token_gen(&self) -> u32 {
        self.s.token_generation()
    }

    /// A tag of the refresh token (for cross-tab messages), NaN if none.
    #[wasm_bindgen(js_name = refreshTag)]
    pub fn refresh_tag(&self) -> f64 {
        opt_time(self.s.tokens().and_then(|t| t.refresh.as_deref()).map(|r| f64::from(token::fingerprint(r))))
    }

    /// Is this record's access token different from ours?
    #[wasm_bindgen(js_name = isNewer)]
    pub fn is_newer(&self, record: &str) -> bool {
        TokenSet::from_record(record).is_some_and(|set| self.s.tokens().is_none_or(|t| t.access != set.access))
    }

    pub fn authenticated(&self) -> bool {
        self.s.is_authenticated()
    }

    pub fn logout(&mut self) {
        self.s.logout();
    }

    /// The session ended in another tab with `reason`.
    #[wasm_bindgen(js_name = endExternal)]
    pub fn end_external(&mut self, reason: &str) {
        self.s.end_external(EndReason::parse(reason).unwrap_or(EndReason::Logout));
    }

    /// The next side effect: 0 none; 1 session expired (outStr: reason); 2 token refreshed
    /// (outNum: expiresAt or NaN); 3 store the record; 4 clear storage.
    #[wasm_bindgen(js_name = pollEvent)]
    pub fn poll_event(&mut self) -> i32 {
        match self.s.poll_event() {
            None => EV_NONE,
            Some(Event::SessionExpired(r)) => {
                self.out_str = Some(r.as_str().into());
                EV_EXPIRED
            }
            Some(Event::TokenRefreshed { expires_at }) => {
                self.out_num = opt_time(expires_at);
                EV_REFRESHED
            }
            Some(Event::Store) => EV_STORE,
            Some(Event::Clear) => EV_CLEAR,
        }
    }

    fn access_step(&mut self, a: Access) -> i32 {
        match a {
            Access::Ready => {
                self.out_str = self.s.tokens().map(|t| t.access.clone());
                READY
            }
            Access::Refresh(FlightId(id), rt) => {
                self.out_num = id as f64;
                self.out_str = Some(rt);
                REFRESH
            }
            Access::Join(FlightId(id)) => {
                self.out_num = id as f64;
                JOIN
            }
            Access::Fail(e) => self.fail(e),
        }
    }

    /// `getAccessToken`: READY (outStr token), REFRESH (outNum flight, outStr refresh token: run
    /// it), JOIN (outNum flight: wait for it), FAIL (outStr reason, or outNum retryAfterMs).
    pub fn access(&mut self, now: f64) -> i32 {
        let a = self.s.access(now);
        self.access_step(a)
    }

    /// The proactive timer: REFRESH (start it) or READY (nothing to do).
    pub fn proactive(&mut self, now: f64) -> i32 {
        match self.s.proactive(now) {
            Some((FlightId(id), rt)) => {
                self.out_num = id as f64;
                self.out_str = Some(rt);
                REFRESH
            }
            None => READY,
        }
    }

    #[wasm_bindgen(js_name = nextWake)]
    pub fn next_wake(&self) -> f64 {
        opt_time(self.s.next_wake())
    }

    #[wasm_bindgen(js_name = isCurrent)]
    pub fn is_current(&self, flight: f64) -> bool {
        self.s.is_current(FlightId(flight as u64))
    }

    #[wasm_bindgen(js_name = refreshTokenFor)]
    pub fn refresh_token_for(&self, flight: f64) -> Option<String> {
        self.s.refresh_token_for(FlightId(flight as u64))
    }

    #[wasm_bindgen(js_name = cooldownUntil)]
    pub fn cooldown_until(&self) -> f64 {
        self.s.cooldown_until()
    }

    // ---- refresh answers --------------------------------------------------------------------
    // classify* reads an answer and keeps the verdict; its kind comes back (0 tokens,
    // 1 terminal, 2 transient) so the shell can look for another tab's tokens before a terminal
    // answer is applied; applyRefresh then delivers it.

    fn keep(&mut self, v: RefreshVerdict) -> i32 {
        let kind = match v {
            RefreshVerdict::Tokens(_) => KIND_TOKENS,
            RefreshVerdict::Terminal => KIND_TERMINAL,
            RefreshVerdict::Transient { .. } => KIND_TRANSIENT,
        };
        self.verdict = Some(v);
        kind
    }

    #[wasm_bindgen(js_name = classifyOAuth2)]
    pub fn classify_oauth2(&mut self, status: u16, retry_after: Option<String>, body: &str, now: f64) -> i32 {
        self.keep(classify_oauth2(status, retry_after.as_deref(), body, now))
    }

    #[wasm_bindgen(js_name = classifyCognito)]
    pub fn classify_cognito(&mut self, status: u16, error_type: Option<String>, retry_after: Option<String>, body: &str, now: f64) -> i32 {
        self.keep(classify_cognito(status, error_type.as_deref(), retry_after.as_deref(), body, now))
    }

    /// A token set resolved by a refresh function.
    #[wasm_bindgen(js_name = classifyTokens)]
    pub fn classify_tokens(&mut self, access: Option<String>, refresh: Option<String>, id: Option<String>, expires_in: Option<f64>, expires_at: Option<f64>) -> i32 {
        self.keep(RefreshVerdict::Tokens(TokenInput { access_token: access, refresh_token: refresh, id_token: id, expires_in: finite(expires_in), expires_at: finite(expires_at) }))
    }

    /// A rejection of a refresh function.
    #[wasm_bindgen(js_name = classifyRejection)]
    pub fn classify_rejection(&mut self, status: Option<f64>, terminal: bool, retry_after_ms: Option<f64>) -> i32 {
        self.keep(classify_rejection(status, terminal, retry_after_ms))
    }

    /// A network error, a timeout or a cool-down shared by another tab.
    #[wasm_bindgen(js_name = classifyTransient)]
    pub fn classify_transient(&mut self, retry_after_ms: Option<f64>) -> i32 {
        self.keep(RefreshVerdict::Transient { retry_after_ms: finite(retry_after_ms).filter(|v| *v >= 0.0) })
    }

    /// Delivers the kept verdict to flight `flight`: -1 settled, else retry after that many ms.
    #[wasm_bindgen(js_name = applyRefresh)]
    pub fn apply_refresh(&mut self, flight: f64, now: f64, rand: f64) -> f64 {
        let v = self.verdict.take().unwrap_or(RefreshVerdict::Transient { retry_after_ms: None });
        next_code(self.s.refresh_result(FlightId(flight as u64), v, now, rand))
    }

    /// Settles `flight` with a record another tab stored.
    #[wasm_bindgen(js_name = adoptForFlight)]
    pub fn adopt_for_flight(&mut self, flight: f64, record: &str) -> bool {
        match TokenSet::from_record(record) {
            Some(set) => {
                self.s.refresh_adopted(FlightId(flight as u64), set);
                true
            }
            None => false,
        }
    }

    // ---- calls ------------------------------------------------------------------------------

    fn slot(&mut self, call: Call) -> u32 {
        match self.free.pop() {
            Some(i) => {
                if let Some(s) = self.calls.get_mut(i as usize) {
                    *s = Some(call);
                }
                i
            }
            None => {
                self.calls.push(Some(call));
                (self.calls.len() - 1) as u32
            }
        }
    }

    /// A new intercepted call; returns its id (free it with `callClose`).
    fn call_open(&mut self, replay_safe: bool) -> u32 {
        let c = Call::new(&mut self.s, replay_safe);
        self.slot(c)
    }

    /// The hot path: opens a call for `method` and takes its first step, in one crossing.
    /// Returns `id << 5 | safe << 4 | addKey << 3 | code`: `code` as from `callNext`; `safe`
    /// when the call may be replayed after overload (idempotent or keyed: keep it for
    /// `callResume`); `addKey` when the shell must give this call an `Idempotency-Key`
    /// (`retry.idempotencyKey` and a non-idempotent method without one).
    #[wasm_bindgen(js_name = callStart)]
    pub fn call_start(&mut self, method: &str, has_key: bool, now: f64) -> u32 {
        let idempotent = crate::core::retry::is_idempotent(method);
        self.start(idempotent, has_key, now)
    }

    /// `callStart` for a method given by its index in [`METHODS`] (no string to copy).
    #[wasm_bindgen(js_name = callStartKnown)]
    pub fn call_start_known(&mut self, method: u32, has_key: bool, now: f64) -> u32 {
        let idempotent = METHODS.get(method as usize).is_some_and(|m| crate::core::retry::is_idempotent(m));
        self.start(idempotent, has_key, now)
    }

    fn start(&mut self, idempotent: bool, has_key: bool, now: f64) -> u32 {
        let add_key = !idempotent && !has_key && self.s.config().retry.idempotency_key;
        let safe = idempotent || has_key || add_key;
        let id = self.call_open(safe);
        let code = self.call_next(id, now) as u32;
        (id << 5) | (u32::from(safe) << 4) | (u32::from(add_key) << 3) | code
    }

    /// A call resumed with counts kept on the request (axios): `sent_gen` is the `tokenGen`
    /// of the token its last send carried.
    #[wasm_bindgen(js_name = callResume)]
    pub fn call_resume(&mut self, replay_safe: bool, retries: u32, replayed: bool, sent_gen: Option<u32>) -> u32 {
        self.slot(Call::resume(replay_safe, retries, replayed, sent_gen))
    }

    #[wasm_bindgen(js_name = callClose)]
    pub fn call_close(&mut self, id: u32) {
        if let Some(s) = self.calls.get_mut(id as usize) {
            if s.take().is_some() {
                self.free.push(id);
            }
        }
    }

    /// What call `id` does next: READY (outNum: token generation; send with `token(0)`),
    /// SLEEP (outNum: until), REFRESH (outNum flight, outStr refresh token), JOIN (outNum
    /// flight), FAIL.
    #[wasm_bindgen(js_name = callNext)]
    pub fn call_next(&mut self, id: u32, now: f64) -> i32 {
        let Some(Some(call)) = self.calls.get_mut(id as usize) else {
            return self.fail(CallError::Unavailable { retry_after_ms: 0.0 });
        };
        match call.next(&mut self.s, now) {
            Step::Send => {
                self.out_num = f64::from(self.s.token_generation());
                READY
            }
            Step::SleepUntil(t) => {
                self.out_num = t;
                SLEEP
            }
            Step::Refresh(f, rt) => self.access_step(Access::Refresh(f, rt)),
            Step::Join(f) => self.access_step(Access::Join(f)),
            Step::Fail(e) => self.fail(e),
        }
    }

    /// The answer to call `id`'s last send: DELIVER, AGAIN (replay now), RETRY (outNum
    /// attempt, outNum2 delay ms; then `callNext` sleeps), FAIL. After DELIVER and FAIL the
    /// call is closed.
    #[wasm_bindgen(js_name = callAnswer)]
    pub fn call_answer(&mut self, id: u32, status: u16, retry_after: Option<String>, error_type: Option<String>, now: f64, rand: f64) -> i32 {
        let Some(Some(call)) = self.calls.get_mut(id as usize) else { return DELIVER };
        let answer = Answer { status, retry_after: retry_after.as_deref(), error_type: error_type.as_deref() };
        let code = match call.on_answer(&mut self.s, &answer, now, rand) {
            Verdict::Deliver => DELIVER,
            Verdict::Again { retry: None } => AGAIN,
            Verdict::Again { retry: Some((attempt, delay)) } => {
                self.out_num = f64::from(attempt);
                self.out_num2 = delay;
                RETRY
            }
            Verdict::Fail(e) => self.fail(e),
        };
        if code == DELIVER || code == FAIL {
            self.call_close(id);
        }
        code
    }

    /// (retries, replayed) of call `id`, to keep on an axios config: retries * 2 + replayed.
    #[wasm_bindgen(js_name = callCounts)]
    pub fn call_counts(&self, id: u32) -> u32 {
        match self.calls.get(id as usize) {
            Some(Some(c)) => c.retries() * 2 + u32::from(c.replayed()),
            _ => 0,
        }
    }

    /// `stats()`: requests, retries, throttled, refreshes, refreshFailures, coalesced,
    /// sessionExpired.
    pub fn stats(&self) -> Vec<u32> {
        let s = self.s.stats;
        alloc::vec![s.requests, s.retries, s.throttled, s.refreshes, s.refresh_failures, s.coalesced, s.session_expired]
    }
}

/// Method names by index, for `callStartKnown` (the shell keeps the same list).
pub const METHODS: [&str; 7] = ["GET", "HEAD", "OPTIONS", "PUT", "DELETE", "POST", "PATCH"];

fn next_code(n: RefreshNext) -> f64 {
    match n {
        RefreshNext::Settled => -1.0,
        RefreshNext::RetryIn(d) => d,
    }
}

/// The decoded payload of a JWT (not verified), as JSON text.
#[wasm_bindgen(js_name = jwtPayload, skip_typescript)]
pub fn jwt_payload(token: &str) -> Option<String> {
    token::jwt_payload(token)
}

/// The `__type` of an AWS-style JSON error body.
#[wasm_bindgen(js_name = awsErrorType, skip_typescript)]
pub fn aws_error_type(body: &str) -> Option<String> {
    Json::parse(body)?.str_field("__type").map(String::from)
}

