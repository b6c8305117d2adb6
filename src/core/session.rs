//! The session: token state, the single-flight refresh, the 401 rule and the end of a session.
//!
//! This is the one place where sessionguard decides what happens to a session. It does no I/O:
//! every method takes `now` (epoch ms, the caller's clock) and, where chance is involved, a
//! random number in `[0, 1)`; results are values, and side effects for the shell (store the
//! tokens, clear storage, fire an event) are queued as [`Event`]s to be drained with
//! [`Session::poll_event`] *after* the shell has let go of the session, since listeners may call
//! back in.
//!
//! # The refresh rule
//! A call asks [`Session::access`] for a token:
//! - the token is fresh → use it;
//! - it is within the leeway, expired, or was refused by a 401 → join the refresh in flight if
//!   there is one (counted as `coalesced`), else start one, unless no refresh is possible (then
//!   the session ends with `no-refresh-token`, or a token still inside its lifetime is used) or a
//!   transient failure put refreshing on cool-down (then `RefreshUnavailable`, or the still-valid
//!   token).
//! There is at most one flight at a time. Its result is delivered with
//! [`Session::refresh_result`]: new tokens; a terminal answer (the session ends,
//! `refresh-rejected`); or a transient one, retried with backoff inside the same flight up to
//! `maxRetries`, after which refreshing cools down for the server's `Retry-After` or the last
//! backoff (or the session ends with `refresh-failed` under `expireOnTransientFailure`). Waiters
//! then ask `access` again and get that outcome. A result for a flight that is no longer current
//! (the session was replaced or ended meanwhile) is dropped, so a late answer never resurrects a
//! session.
//!
//! # The 401 rule
//! See [`Session::unauthorized`]: a 401 for a token that is no longer current replays with the
//! current one (no refresh); a 401 for the current token marks it refused, so the replay goes
//! through the refresh above; a 401 on that replay ends the session
//! (`unauthorized-after-refresh`). One replay per call, so nothing loops.

use alloc::collections::VecDeque;
use alloc::string::String;

use super::ratelimit::RateLimiter;
use super::refresh_answer::RefreshVerdict;
use super::retry::RetryPolicy;
use super::token::{Freshness, Source, TokenError, TokenInput, TokenSet};

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Config {
    pub leeway_ms: f64,
    /// A refresher is configured.
    pub can_refresh: bool,
    pub expire_on_transient: bool,
    pub retry: RetryPolicy,
}

impl Default for Config {
    fn default() -> Self {
        Config { leeway_ms: 30_000.0, can_refresh: true, expire_on_transient: false, retry: RetryPolicy::default() }
    }
}

/// Why a session ended (`session-expired` `detail.reason`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndReason {
    RefreshRejected,
    RefreshFailed,
    NoRefreshToken,
    UnauthorizedAfterRefresh,
    Logout,
}

impl EndReason {
    pub fn parse(s: &str) -> Option<EndReason> {
        [EndReason::RefreshRejected, EndReason::RefreshFailed, EndReason::NoRefreshToken, EndReason::UnauthorizedAfterRefresh, EndReason::Logout]
            .into_iter()
            .find(|r| r.as_str() == s)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            EndReason::RefreshRejected => "refresh-rejected",
            EndReason::RefreshFailed => "refresh-failed",
            EndReason::NoRefreshToken => "no-refresh-token",
            EndReason::UnauthorizedAfterRefresh => "unauthorized-after-refresh",
            EndReason::Logout => "logout",
        }
    }
}

/// Why a call cannot go out.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum CallError {
    /// `SessionExpiredError`, reason `"no-session"`.
    NoSession,
    /// `SessionExpiredError` with the session's end reason.
    Expired(EndReason),
    /// `RefreshUnavailableError`.
    Unavailable { retry_after_ms: f64 },
}

/// Side effects for the shell, in order.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    SessionExpired(EndReason),
    TokenRefreshed { expires_at: Option<f64> },
    /// Write the current token set to storage.
    Store,
    /// Remove the token set from storage.
    Clear,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Stats {
    pub requests: u32,
    pub retries: u32,
    pub throttled: u32,
    pub refreshes: u32,
    pub refresh_failures: u32,
    pub coalesced: u32,
    pub session_expired: u32,
}

/// Identifies one refresh flight.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FlightId(pub u64);

#[derive(Debug, Clone)]
pub enum Access {
    /// Send with the current token.
    Ready,
    /// You started flight `FlightId`: run the refresh with this refresh token, then ask again.
    Refresh(FlightId, String),
    /// Wait for this flight to settle, then ask again.
    Join(FlightId),
    Fail(CallError),
}

/// What to do with a call after a 401.
#[derive(Debug, Clone, PartialEq)]
pub enum On401 {
    /// Ask `access` again and send once more.
    Replay,
    /// Give the 401 to the caller.
    Deliver,
    Fail(CallError),
}

/// What the refresher should do next.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum RefreshNext {
    /// Try the token endpoint again after this delay (same flight).
    RetryIn(f64),
    /// The flight is over; waiters may ask `access` again.
    Settled,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Status {
    Never,
    Active,
    Ended(EndReason),
}

#[derive(Debug, Clone, Copy)]
struct Flight {
    id: u64,
    attempt: u32,
}

/// Shortest refresh cool-down after a transient failure.
const MIN_COOLDOWN_MS: f64 = 1_000.0;

#[derive(Debug)]
pub struct Session {
    cfg: Config,
    status: Status,
    tokens: Option<TokenSet>,
    /// The current access token was refused by a 401.
    refused: bool,
    flight: Option<Flight>,
    next_flight: u64,
    cooldown_until: f64,
    clock_offset: f64,
    events: VecDeque<Event>,
    /// Changes whenever the access token does (so the shell can cache strings).
    token_gen: u32,
    pub limiter: Option<RateLimiter>,
    pub stats: Stats,
}

impl Session {
    pub fn new(cfg: Config) -> Session {
        Session {
            cfg,
            status: Status::Never,
            tokens: None,
            refused: false,
            flight: None,
            next_flight: 1,
            cooldown_until: 0.0,
            clock_offset: 0.0,
            events: VecDeque::new(),
            token_gen: 0,
            limiter: None,
            stats: Stats::default(),
        }
    }

    pub fn config(&self) -> &Config {
        &self.cfg
    }

    pub fn tokens(&self) -> Option<&TokenSet> {
        self.tokens.as_ref()
    }

    /// A number that changes whenever the access token does.
    pub fn token_generation(&self) -> u32 {
        self.token_gen
    }

    /// The generation moves only when the access token string does, so that handing the same
    /// token back (`setTokens` with a new expiry) leaves calls in flight current.
    fn replace_tokens(&mut self, set: Option<TokenSet>) {
        let same = matches!((&self.tokens, &set), (Some(a), Some(b)) if a.access == b.access);
        self.tokens = set;
        if !same {
            self.token_gen = self.token_gen.wrapping_add(1);
        }
    }

    pub fn is_authenticated(&self) -> bool {
        self.status == Status::Active && self.tokens.is_some()
    }

    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// Starts a new session (`setTokens`). Invalid input changes nothing.
    pub fn set_tokens(&mut self, input: &TokenInput, now: f64) -> Result<(), TokenError> {
        let (set, _) = TokenSet::from_input(input, now, Source::App, self.clock_offset)?;
        self.begin(set);
        self.events.push_back(Event::Store);
        Ok(())
    }

    /// Resumes a session from storage (at start-up, or written by another tab).
    pub fn restore(&mut self, set: TokenSet) {
        self.begin(set);
    }

    fn begin(&mut self, set: TokenSet) {
        self.replace_tokens(Some(set));
        self.status = Status::Active;
        self.refused = false;
        self.flight = None; // a flight of the old session settles into nothing
        self.cooldown_until = 0.0;
    }

    /// `logout()`: ends the session with `"logout"`.
    pub fn logout(&mut self) {
        if !self.end(EndReason::Logout) {
            self.events.push_back(Event::Clear);
        }
    }

    /// Ends an active session once: one event, storage cleared, flight dropped. False if there
    /// was no active session.
    fn end(&mut self, reason: EndReason) -> bool {
        if self.status != Status::Active {
            return false;
        }
        self.status = Status::Ended(reason);
        self.replace_tokens(None);
        self.refused = false;
        self.flight = None;
        self.stats.session_expired += 1;
        self.events.push_back(Event::SessionExpired(reason));
        self.events.push_back(Event::Clear);
        true
    }

    fn no_token_error(&self) -> CallError {
        match self.status {
            Status::Ended(r) => CallError::Expired(r),
            _ => CallError::NoSession,
        }
    }

    fn start_flight(&mut self, refresh_token: String) -> Access {
        let id = self.next_flight;
        self.next_flight += 1;
        self.flight = Some(Flight { id, attempt: 0 });
        self.stats.refreshes += 1;
        Access::Refresh(FlightId(id), refresh_token)
    }

    /// The refresh rule (module docs): may a call use the current token, or what to do instead.
    /// `Ready` carries no copy of the token (this is the hot path of every call): read it from
    /// [`Session::tokens`], or just its [`Session::token_generation`].
    pub fn access(&mut self, now: f64) -> Access {
        let Some(t) = &self.tokens else {
            return Access::Fail(self.no_token_error());
        };
        let fresh = if self.refused { Freshness::Expired } else { t.freshness(now, self.cfg.leeway_ms) };
        if fresh == Freshness::Fresh {
            return Access::Ready;
        }
        if let Some(f) = self.flight {
            self.stats.coalesced += 1;
            return Access::Join(FlightId(f.id));
        }
        let still_valid = fresh == Freshness::NeedsRefresh;
        let refresh_token = t.refresh.clone().filter(|_| self.cfg.can_refresh);
        match refresh_token {
            None if still_valid => Access::Ready,
            None => {
                self.end(EndReason::NoRefreshToken);
                Access::Fail(CallError::Expired(EndReason::NoRefreshToken))
            }
            Some(_) if now < self.cooldown_until => {
                if still_valid {
                    Access::Ready
                } else {
                    Access::Fail(CallError::Unavailable { retry_after_ms: self.cooldown_until - now })
                }
            }
            Some(rt) => self.start_flight(rt),
        }
    }

    /// The proactive timer fired: start a refresh if one is due and none is running.
    pub fn proactive(&mut self, now: f64) -> Option<(FlightId, String)> {
        let t = self.tokens.as_ref()?;
        if self.flight.is_some() || now < self.cooldown_until || !self.cfg.can_refresh {
            return None;
        }
        if t.freshness(now, self.cfg.leeway_ms) == Freshness::Fresh && !self.refused {
            return None;
        }
        match self.start_flight(t.refresh.clone()?) {
            Access::Refresh(id, rt) => Some((id, rt)),
            _ => None,
        }
    }

    /// When the proactive timer should next fire, if ever.
    pub fn next_wake(&self) -> Option<f64> {
        let t = self.tokens.as_ref()?;
        if !self.cfg.can_refresh || t.refresh.is_none() || self.flight.is_some() {
            return None;
        }
        Some(t.refresh_due_at(self.cfg.leeway_ms)?.max(self.cooldown_until))
    }

    /// Is `id` the flight in progress?
    pub fn is_current(&self, id: FlightId) -> bool {
        self.flight.is_some_and(|f| f.id == id.0)
    }

    /// The refresh token to use for another attempt of flight `id`, if it is still current.
    pub fn refresh_token_for(&self, id: FlightId) -> Option<String> {
        if self.is_current(id) {
            self.tokens.as_ref()?.refresh.clone()
        } else {
            None
        }
    }

    /// Delivers the outcome of one attempt of flight `id` (see the module docs).
    pub fn refresh_result(&mut self, id: FlightId, verdict: RefreshVerdict, now: f64, rand: f64) -> RefreshNext {
        if !self.is_current(id) {
            return RefreshNext::Settled;
        }
        let retry_after_ms = match verdict {
            RefreshVerdict::Tokens(input) => {
                match TokenSet::from_input(&input, now, Source::Refresh, self.clock_offset) {
                    Ok((mut set, learned)) => {
                        if set.refresh.is_none() {
                            set.refresh = self.tokens.as_ref().and_then(|t| t.refresh.clone());
                        }
                        if let Some(o) = learned {
                            self.clock_offset = o;
                        }
                        self.settle_with(set);
                        self.events.push_back(Event::Store);
                        return RefreshNext::Settled;
                    }
                    // 2xx without a usable token: transient, nothing stored.
                    Err(_) => None,
                }
            }
            RefreshVerdict::Terminal => {
                self.stats.refresh_failures += 1;
                self.end(EndReason::RefreshRejected);
                return RefreshNext::Settled;
            }
            RefreshVerdict::Transient { retry_after_ms } => retry_after_ms,
        };
        let retry = self.cfg.retry;
        let attempt = self.flight.map_or(0, |f| f.attempt);
        if attempt < retry.max_retries {
            if let Some(delay) = retry.delay(attempt, rand, retry_after_ms) {
                if let Some(f) = &mut self.flight {
                    f.attempt += 1;
                }
                self.stats.retries += 1;
                return RefreshNext::RetryIn(delay);
            }
        }
        self.flight = None;
        self.stats.refresh_failures += 1;
        if self.cfg.expire_on_transient {
            self.end(EndReason::RefreshFailed);
        } else {
            let wait = retry_after_ms.unwrap_or_else(|| retry.cap(attempt)).max(MIN_COOLDOWN_MS);
            self.cooldown_until = now + wait;
        }
        RefreshNext::Settled
    }

    /// The 401 rule (module docs). `sent_gen` is the [`Session::token_generation`] of the token
    /// the refused call carried; `replayed` says whether that call was already a replay.
    pub fn unauthorized(&mut self, sent_gen: u32, replayed: bool) -> On401 {
        if self.tokens.is_none() {
            return match self.status {
                Status::Ended(r) => On401::Fail(CallError::Expired(r)),
                _ => On401::Deliver,
            };
        }
        if sent_gen != self.token_gen {
            return if replayed { On401::Deliver } else { On401::Replay };
        }
        if replayed {
            self.end(EndReason::UnauthorizedAfterRefresh);
            return On401::Fail(CallError::Expired(EndReason::UnauthorizedAfterRefresh));
        }
        self.refused = true;
        On401::Replay
    }

    /// Flight `id` is settled by a token set another tab stored while we waited for the
    /// cross-tab lock (or stored before our terminal answer): use it instead of refreshing or
    /// ending the session.
    pub fn refresh_adopted(&mut self, id: FlightId, set: TokenSet) -> RefreshNext {
        if self.is_current(id) {
            self.settle_with(set);
        }
        RefreshNext::Settled
    }

    /// The flight is over and `set` is the new token set (the caller stores it, if needed).
    fn settle_with(&mut self, set: TokenSet) {
        let expires_at = set.expires_at;
        self.replace_tokens(Some(set));
        self.refused = false;
        self.flight = None;
        self.cooldown_until = 0.0;
        self.events.push_back(Event::TokenRefreshed { expires_at });
    }

    /// The session was ended in another tab (same reason, one event here too).
    pub fn end_external(&mut self, reason: EndReason) {
        self.end(reason);
    }

    /// Until when refreshing is on cool-down (0 if it is not).
    pub fn cooldown_until(&self) -> f64 {
        self.cooldown_until
    }

    /// Adopts a token set that another tab stored, if it differs from ours. Returns true if
    /// adopted. `new_session`: it comes from a `setTokens` (a login), which also revives an
    /// ended session here; refreshed tokens never do (a late refresh must not undo a logout).
    pub fn adopt(&mut self, set: TokenSet, new_session: bool) -> bool {
        if self.tokens.as_ref().is_some_and(|t| t.access == set.access) {
            return false;
        }
        if !new_session && self.status != Status::Active {
            return false;
        }
        let was_active = self.status == Status::Active;
        self.begin(set);
        if was_active {
            self.events.push_back(Event::TokenRefreshed { expires_at: self.tokens.as_ref().and_then(|t| t.expires_at) });
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::token::tests::jwt;

    fn input(access: &str, refresh: Option<&str>, expires_in: Option<f64>) -> TokenInput {
        TokenInput { access_token: Some(access.into()), refresh_token: refresh.map(Into::into), expires_in, ..Default::default() }
    }

    fn session() -> Session {
        Session::new(Config::default())
    }

    /// `access` says Ready, and the current token is `token`.
    fn ready_with(s: &mut Session, now: f64, token: &str) -> bool {
        matches!(s.access(now), Access::Ready) && s.tokens().is_some_and(|t| t.access == token)
    }

    fn drain(s: &mut Session) -> Vec<Event> {
        core::iter::from_fn(|| s.poll_event()).collect()
    }

    fn new_tokens(a: &str) -> RefreshVerdict {
        RefreshVerdict::Tokens(input(a, None, Some(3600.0)))
    }

    #[test]
    fn no_session_fails_without_event() {
        let mut s = session();
        assert!(matches!(s.access(0.0), Access::Fail(CallError::NoSession)));
        s.logout();
        assert_eq!(drain(&mut s), vec![Event::Clear]);
        assert!(matches!(s.access(0.0), Access::Fail(CallError::NoSession)));
    }

    #[test]
    fn fresh_token_is_used() {
        let mut s = session();
        s.set_tokens(&input("A", Some("R"), Some(3600.0)), 0.0).unwrap();
        assert_eq!(drain(&mut s), vec![Event::Store]);
        assert!(ready_with(&mut s, 1000.0, "A"));
        assert!(s.is_authenticated());
    }

    #[test]
    fn single_flight_and_coalescing() {
        let mut s = session();
        s.set_tokens(&input("A", Some("R"), Some(60.0)), 0.0).unwrap();
        let now = 59_000.0;
        let Access::Refresh(id, rt) = s.access(now) else { panic!() };
        assert_eq!(rt, "R");
        for _ in 0..10 {
            assert!(matches!(s.access(now), Access::Join(j) if j == id));
        }
        assert_eq!(s.stats.refreshes, 1);
        assert_eq!(s.stats.coalesced, 10);
        assert_eq!(s.refresh_result(id, new_tokens("B"), now, 0.5), RefreshNext::Settled);
        assert!(ready_with(&mut s, now, "B"));
        // the old refresh token is kept when the answer has none
        assert_eq!(s.tokens().unwrap().refresh.as_deref(), Some("R"));
        drain(&mut s);
    }

    #[test]
    fn terminal_answer_ends_once() {
        let mut s = session();
        s.set_tokens(&input("A", Some("R"), Some(0.0)), 0.0).unwrap();
        drain(&mut s);
        let Access::Refresh(id, _) = s.access(1.0) else { panic!() };
        assert!(matches!(s.access(1.0), Access::Join(_)));
        s.refresh_result(id, RefreshVerdict::Terminal, 2.0, 0.0);
        assert_eq!(drain(&mut s), vec![Event::SessionExpired(EndReason::RefreshRejected), Event::Clear]);
        assert!(matches!(s.access(3.0), Access::Fail(CallError::Expired(EndReason::RefreshRejected))));
        s.logout();
        assert_eq!(drain(&mut s), vec![Event::Clear], "ended sessions do not fire again");
        assert_eq!(s.stats.session_expired, 1);
        // a new session starts after setTokens
        s.set_tokens(&input("B", None, None), 4.0).unwrap();
        assert!(matches!(s.access(5.0), Access::Ready));
        s.logout();
        assert_eq!(drain(&mut s), vec![Event::Store, Event::SessionExpired(EndReason::Logout), Event::Clear]);
    }

    #[test]
    fn transient_failures_retry_then_cool_down() {
        let mut s = session();
        s.set_tokens(&input("A", Some("R"), Some(0.0)), 0.0).unwrap();
        let Access::Refresh(id, _) = s.access(1.0) else { panic!() };
        let mut now = 1.0;
        for i in 0..3 {
            match s.refresh_result(id, RefreshVerdict::Transient { retry_after_ms: None }, now, 0.5) {
                RefreshNext::RetryIn(d) => assert!(d <= s.config().retry.cap(i)),
                other => panic!("{other:?}"),
            }
            now += 100.0;
        }
        assert_eq!(s.refresh_result(id, RefreshVerdict::Transient { retry_after_ms: Some(5_000.0) }, now, 0.5), RefreshNext::Settled);
        // calls fail fast with the server's Retry-After, without a new flight
        match s.access(now + 1_000.0) {
            Access::Fail(CallError::Unavailable { retry_after_ms }) => assert_eq!(retry_after_ms, 4_000.0),
            other => panic!("{other:?}"),
        }
        assert_eq!(s.stats.refreshes, 1);
        assert_eq!(s.stats.refresh_failures, 1);
        assert!(s.is_authenticated(), "the session is kept");
        // after the cool-down a refresh is tried again
        assert!(matches!(s.access(now + 5_000.0), Access::Refresh(..)));
    }

    #[test]
    fn long_retry_after_skips_retries() {
        let mut s = session();
        s.set_tokens(&input("A", Some("R"), Some(0.0)), 0.0).unwrap();
        let Access::Refresh(id, _) = s.access(1.0) else { panic!() };
        assert_eq!(s.refresh_result(id, RefreshVerdict::Transient { retry_after_ms: Some(60_000.0) }, 1.0, 0.5), RefreshNext::Settled);
        assert!(matches!(s.access(2.0), Access::Fail(CallError::Unavailable { .. })));
    }

    #[test]
    fn expire_on_transient_failure() {
        let mut s = Session::new(Config { expire_on_transient: true, retry: RetryPolicy { max_retries: 0, ..Default::default() }, ..Default::default() });
        s.set_tokens(&input("A", Some("R"), Some(0.0)), 0.0).unwrap();
        drain(&mut s);
        let Access::Refresh(id, _) = s.access(1.0) else { panic!() };
        s.refresh_result(id, RefreshVerdict::Transient { retry_after_ms: None }, 1.0, 0.5);
        assert_eq!(drain(&mut s), vec![Event::SessionExpired(EndReason::RefreshFailed), Event::Clear]);
    }

    #[test]
    fn still_valid_token_is_used_when_refresh_is_impossible() {
        let mut s = Session::new(Config { can_refresh: false, ..Default::default() });
        s.set_tokens(&input("A", Some("R"), Some(20.0)), 0.0).unwrap();
        assert!(matches!(s.access(15_000.0), Access::Ready));
        assert!(matches!(s.access(20_000.0), Access::Fail(CallError::Expired(EndReason::NoRefreshToken))));
        // without a refresh token, same
        let mut s = session();
        s.set_tokens(&input("A", None, Some(20.0)), 0.0).unwrap();
        drain(&mut s);
        assert!(matches!(s.access(21_000.0), Access::Fail(CallError::Expired(EndReason::NoRefreshToken))));
        assert_eq!(drain(&mut s), vec![Event::SessionExpired(EndReason::NoRefreshToken), Event::Clear]);
    }

    #[test]
    fn unusable_refresh_answer_is_transient_and_not_stored() {
        let mut s = session();
        s.set_tokens(&input("A", Some("R"), Some(0.0)), 0.0).unwrap();
        drain(&mut s);
        let Access::Refresh(id, _) = s.access(1.0) else { panic!() };
        let bad = RefreshVerdict::Tokens(input("null", None, None));
        assert!(matches!(s.refresh_result(id, bad, 1.0, 0.5), RefreshNext::RetryIn(_)));
        assert_eq!(s.tokens().unwrap().access, "A");
        assert_eq!(drain(&mut s), vec![]);
    }

    #[test]
    fn late_result_after_logout_or_new_session_is_dropped() {
        let mut s = session();
        s.set_tokens(&input("A", Some("R"), Some(0.0)), 0.0).unwrap();
        let Access::Refresh(id, _) = s.access(1.0) else { panic!() };
        s.logout();
        assert_eq!(s.refresh_result(id, new_tokens("B"), 2.0, 0.5), RefreshNext::Settled);
        assert!(!s.is_authenticated());
        assert!(matches!(s.access(3.0), Access::Fail(CallError::Expired(EndReason::Logout))));

        s.set_tokens(&input("C", Some("R2"), Some(0.0)), 4.0).unwrap();
        let Access::Refresh(id2, rt) = s.access(5.0) else { panic!() };
        assert_eq!(rt, "R2");
        s.set_tokens(&input("D", Some("R3"), Some(3600.0)), 6.0).unwrap();
        s.refresh_result(id2, RefreshVerdict::Terminal, 7.0, 0.5);
        assert!(ready_with(&mut s, 8.0, "D"), "a stale terminal answer does not end the new session");
        assert_eq!(s.refresh_token_for(id2), None);
    }

    #[test]
    fn the_401_rule() {
        let mut s = session();
        s.set_tokens(&input("A", Some("R"), None), 0.0).unwrap();
        drain(&mut s);
        let a = s.token_generation();
        // 401 for the current token: refused, the replay goes through a refresh
        assert_eq!(s.unauthorized(a, false), On401::Replay);
        let Access::Refresh(id, _) = s.access(1.0) else { panic!() };
        assert!(matches!(s.access(1.0), Access::Join(_)), "other 401s join");
        s.refresh_result(id, new_tokens("B"), 2.0, 0.5);
        let b = s.token_generation();
        // a 401 that answered the old token: replay with the current one, no refresh
        assert_eq!(s.unauthorized(a, false), On401::Replay);
        assert!(ready_with(&mut s, 3.0, "B"));
        assert_eq!(s.stats.refreshes, 1);
        // a 401 on the replay with the current token ends the session
        assert_eq!(s.unauthorized(b, true), On401::Fail(CallError::Expired(EndReason::UnauthorizedAfterRefresh)));
        assert_eq!(drain(&mut s), vec![Event::TokenRefreshed { expires_at: Some(3_600_002.0) }, Event::Store, Event::SessionExpired(EndReason::UnauthorizedAfterRefresh), Event::Clear]);
        // and a stale replay 401 after the end rejects
        assert_eq!(s.unauthorized(b, true), On401::Fail(CallError::Expired(EndReason::UnauthorizedAfterRefresh)));
    }

    #[test]
    fn stale_replay_refused_again_is_delivered() {
        let mut s = session();
        s.set_tokens(&input("A", Some("R"), None), 0.0).unwrap();
        s.set_tokens(&input("B", Some("R"), None), 0.0).unwrap();
        assert_eq!(s.unauthorized(9_999, true), On401::Deliver);
    }

    #[test]
    fn proactive_refresh_is_the_same_flight() {
        let mut s = session();
        s.set_tokens(&input("A", Some("R"), Some(3600.0)), 0.0).unwrap();
        assert_eq!(s.next_wake(), Some(3_570_000.0));
        assert_eq!(s.proactive(1_000.0), None, "not due yet");
        let (id, _) = s.proactive(3_575_000.0).unwrap();
        assert_eq!(s.next_wake(), None);
        assert!(matches!(s.access(3_575_000.0), Access::Join(j) if j == id), "a call joins the timer's refresh");
        s.refresh_result(id, new_tokens("B"), 3_576_000.0, 0.5);
        assert_eq!(s.next_wake(), Some(3_576_000.0 + 3_570_000.0));
    }

    #[test]
    fn skewed_clock_does_not_refresh_every_call() {
        // Our clock is 10 minutes ahead of the server; tokens live 5 minutes.
        let mut s = session();
        s.set_tokens(&input("A", Some("R"), Some(0.0)), 0.0).unwrap();
        let mut now = 1_000_000_000.0;
        let Access::Refresh(id, _) = s.access(now) else { panic!() };
        let server = now - 600_000.0;
        let t = jwt(&format!("{{\"iat\":{},\"exp\":{}}}", server / 1000.0, server / 1000.0 + 300.0));
        s.refresh_result(id, RefreshVerdict::Tokens(TokenInput { access_token: Some(t), ..Default::default() }), now, 0.5);
        for _ in 0..100 {
            now += 1_000.0;
            assert!(matches!(s.access(now), Access::Ready));
        }
        assert_eq!(s.stats.refreshes, 1);
    }

    #[test]
    fn adopted_tokens_settle_the_flight() {
        let mut s = session();
        s.set_tokens(&input("A", Some("R"), Some(0.0)), 0.0).unwrap();
        drain(&mut s);
        let Access::Refresh(id, _) = s.access(1.0) else { panic!() };
        let other = TokenSet { access: "B".into(), refresh: Some("R2".into()), id: None, expires_at: Some(1e13), received_at: 0.0 };
        assert_eq!(s.refresh_adopted(id, other.clone()), RefreshNext::Settled);
        assert!(ready_with(&mut s, 2.0, "B"));
        assert_eq!(drain(&mut s), vec![Event::TokenRefreshed { expires_at: Some(1e13) }], "adopted tokens are not stored again");
        // a stale flight adopts nothing
        s.set_tokens(&input("C", Some("R"), None), 3.0).unwrap();
        assert_eq!(s.refresh_adopted(id, other), RefreshNext::Settled);
        assert_eq!(s.tokens().unwrap().access, "C");
    }

    #[test]
    fn external_end_fires_once() {
        let mut s = session();
        s.set_tokens(&input("A", Some("R"), None), 0.0).unwrap();
        drain(&mut s);
        s.end_external(EndReason::RefreshRejected);
        s.end_external(EndReason::Logout);
        assert_eq!(drain(&mut s), vec![Event::SessionExpired(EndReason::RefreshRejected), Event::Clear]);
    }

    #[test]
    fn adopt_replaces_tokens() {
        let mut s = session();
        s.set_tokens(&input("A", Some("R"), Some(0.0)), 0.0).unwrap();
        drain(&mut s);
        let other = TokenSet { access: "B".into(), refresh: Some("R2".into()), id: None, expires_at: Some(1e13), received_at: 0.0 };
        assert!(s.adopt(other.clone(), false));
        assert!(!s.adopt(other.clone(), false));
        assert!(ready_with(&mut s, 1.0, "B"));
        // after a logout, refreshed tokens from elsewhere do not revive the session; a login does
        s.logout();
        let newer = TokenSet { access: "C".into(), ..other };
        assert!(!s.adopt(newer.clone(), false));
        assert!(!s.is_authenticated());
        assert!(s.adopt(newer, true));
        assert!(s.is_authenticated());
    }
}
