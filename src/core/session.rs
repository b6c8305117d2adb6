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
//!
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

use super::time::Time;
use alloc::collections::VecDeque;
use alloc::string::String;

use super::crosstab::{Handover, PeerMessage, HANDOVER_WAIT_MS};
pub use super::end::EndReason;
use super::ratelimit::RateLimiter;
use super::refresh_answer::RefreshVerdict;
use super::retry::RetryPolicy;
use super::token::{fingerprint, Claims, Freshness, Record, Source, TokenError, TokenInput, TokenSet};
use super::userinfo::{UserInfoFlight, UserInfoStep};

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Config {
    pub leeway_ms: f64,
    /// A refresher is configured.
    pub can_refresh: bool,
    pub expire_on_transient: bool,
    pub retry: RetryPolicy,
    /// `rateLimit`: (requests per second, burst).
    pub rate_limit: Option<(f64, f64)>,
    /// Tabs share this session (local storage that works, and `crossTab`): tokens, ends and the
    /// cool-down are published for the other tabs (see [`super::crosstab`]).
    pub shared: bool,
    /// Web Locks serialise refreshes across tabs. Without them a terminal answer waits
    /// [`TERMINAL_GRACE_MS`] for another tab's rotated tokens before it ends the session.
    pub locks: bool,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            leeway_ms: 30_000.0,
            can_refresh: true,
            expire_on_transient: false,
            retry: RetryPolicy::default(),
            rate_limit: None,
            shared: false,
            locks: true,
        }
    }
}

/// Without Web Locks, how long a terminal answer waits for another tab's tokens.
pub const TERMINAL_GRACE_MS: f64 = 1_000.0;

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

/// Side effects for the driver, in order. Drained with [`Session::poll_event`] once the driver
/// holds no borrow of the session, since listeners may call back in.
#[derive(Debug, Clone, PartialEq)]
#[must_use]
pub enum Event {
    /// `session-expired`. `revoked`: after `logout({ revoke })`, whether the server revoked
    /// the refresh token (the event then waits for its answer); `None` for every other end.
    SessionExpired {
        reason: EndReason,
        revoked: Option<bool>,
    },
    TokenRefreshed {
        expires_at: Option<Time>,
    },
    /// Write this record to storage.
    Store(Record),
    /// Remove the token set (and the shared cool-down) from storage.
    Clear,
    /// Write the shared refresh cool-down (epoch ms) to storage.
    StoreCooldown(Time),
    /// Post this to the other tabs.
    Post(PeerMessage),
    /// Flight `FlightId` is over, whatever ended it: wake its waiters.
    FlightOver(FlightId),
    /// Tell the developer, on the console (each kind once per manager).
    Warn(Warning),
    /// From now on keep the token set in this tab's memory only (not in storage, which other
    /// tabs and reloads read): its DPoP key lives only here.
    KeepInMemory,
}

/// A session ended here by `logout({ revoke, redirect })` whose server side is still to do:
/// the tokens the server needs. Finish it with [`Session::logout_done`], or no `session-expired`
/// is dispatched.
#[derive(Debug)]
#[must_use = "finish it with `Session::logout_done`, or no event is dispatched"]
pub struct Ending {
    pub refresh_token: Option<String>,
    pub id_token: Option<String>,
    generation: u32,
}

/// What the developer is told once: a mistake that sessionguard works around, but that they
/// should mend.
#[derive(Debug, Clone, PartialEq)]
pub enum Warning {
    /// A refresh answer's expiry field (named) held no number: its token is used with that
    /// field ignored (the expiry from the JWT `exp`, else unknown until a 401).
    JunkExpiry(&'static str),
    /// The refresh function resolved with something that is not a token set (described): a
    /// programming error, taken as a transient failure.
    RefreshMisuse(String),
    /// A 401 from an origin outside `allowedOrigins` (its URL) while a session is held: that
    /// origin may be missing from the option.
    Foreign401(String),
    /// A server asked for a DPoP nonce in an answer whose `DPoP-Nonce` header could not be read
    /// (missing, malformed, or not exposed to the page by CORS): the call was not retried.
    NonceUnreadable,
}

impl Warning {
    fn bit(&self) -> u8 {
        match self {
            Warning::JunkExpiry(_) => 1,
            Warning::RefreshMisuse(_) => 2,
            Warning::Foreign401(_) => 4,
            Warning::NonceUnreadable => 8,
        }
    }
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
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FlightId(pub u64);

#[derive(Debug, Clone)]
#[must_use]
pub enum Access {
    /// Send with the current token.
    Ready,
    /// You started flight `FlightId`: run it with [`Session::before_attempt`], then ask again
    /// once it is over.
    Refresh(FlightId),
    /// Wait for this flight to be over, then ask again.
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

/// What the refresher does next.
#[derive(Debug, Clone, Copy, PartialEq)]
#[must_use]
pub enum RefreshNext {
    /// Try the token endpoint again after this delay (same flight).
    RetryIn(f64),
    /// Another tab may hold newer tokens: wait this long, read storage, and hand what is there
    /// to [`Session::recheck_terminal`].
    Recheck(f64),
    /// The last holder of the lock left newer tokens than this tab can read yet
    /// ([`Handover`]): wait for them (the flight ends when they come) at most this long, then
    /// make the attempt again.
    AwaitPeer(f64),
    /// The flight is over.
    Settled,
}

/// What a refresher does before it contacts the token endpoint.
#[derive(Debug, Clone, PartialEq)]
#[must_use]
pub enum BeforeAttempt {
    /// Send the refresh request with this refresh token; report with [`Session::refresh_result`].
    Send(String),
    /// No request: the flight went on without one (tokens of another tab adopted, a shared
    /// cool-down applied, or the flight is no longer current).
    Skip(RefreshNext),
}

/// What another tab has left in shared storage, read by the driver when it is asked.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Shared {
    pub tokens: Option<TokenSet>,
    pub cooldown_until: Option<Time>,
    /// What the last holder of the lock said it left, in order with the lock.
    pub handover: Option<Handover>,
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
    /// It waited once for tokens a hand-over named.
    awaited_peer: bool,
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
    cooldown_until: Option<Time>,
    clock_offset: f64,
    events: VecDeque<Event>,
    /// Changes whenever the access token does (so the driver can cache strings).
    token_gen: u32,
    limiter: Option<RateLimiter>,
    stats: Stats,
    /// The [`Warning`]s given (one bit each).
    warned: u8,
    user_info: UserInfoFlight,
    /// The DPoP key lives in this tab's memory only: other tabs' tokens and ends are not ours.
    tab_only: bool,
    /// The token set is the one read from storage at start-up (bound, if at all, to a key from
    /// before this manager).
    restored: bool,
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
            cooldown_until: None,
            clock_offset: 0.0,
            events: VecDeque::new(),
            token_gen: 0,
            limiter: cfg.rate_limit.map(|(rps, burst)| RateLimiter::new(rps, burst)),
            stats: Stats::default(),
            warned: 0,
            user_info: UserInfoFlight::default(),
            tab_only: false,
            restored: false,
        }
    }

    /// Queues `w` unless a warning of its kind was given already.
    pub fn warn_once(&mut self, w: Warning) {
        if self.warned & w.bit() == 0 {
            self.warned |= w.bit();
            self.events.push_back(Event::Warn(w));
        }
    }

    /// A 401 from an origin that gets no token: worth a warning only while a session is held.
    pub fn foreign_unauthorized(&mut self, url: String) {
        if self.is_authenticated() {
            self.warn_once(Warning::Foreign401(url));
        }
    }

    /// `userInfo()` asks: serve the cached answer, join the request in flight, or start one.
    /// `ttl_ms`: `userInfoTtlSeconds`. The cache serves only the token it was fetched with.
    pub fn user_info(&mut self, now: Time, ttl_ms: f64) -> UserInfoStep {
        let gen = self.token_gen;
        self.user_info.step(self.is_authenticated(), gen, now, ttl_ms)
    }

    /// The user-info request `epoch` is over; `answered_with`: the token generation it was
    /// answered for, when it succeeded. True: keep the answer (it is now the cached one). A
    /// late answer of a request the session forgot (a new login, a logout) is dropped.
    pub fn user_info_done(&mut self, epoch: u32, answered_with: Option<u32>, now: Time) -> bool {
        self.user_info.done(epoch, answered_with, now)
    }

    pub fn config(&self) -> &Config {
        &self.cfg
    }

    pub fn stats(&self) -> Stats {
        self.stats
    }

    pub(crate) fn stats_mut(&mut self) -> &mut Stats {
        &mut self.stats
    }

    pub(crate) fn limiter_mut(&mut self) -> Option<&mut RateLimiter> {
        self.limiter.as_mut()
    }

    /// Storage stopped working (full, refused): nothing is shared with other tabs any more.
    pub fn unshare(&mut self) {
        self.cfg.shared = false;
    }

    pub fn tokens(&self) -> Option<&TokenSet> {
        self.tokens.as_ref()
    }

    /// A number that changes whenever the access token does.
    pub fn token_generation(&self) -> u32 {
        self.token_gen
    }

    /// The flight in progress, if any.
    pub fn flight(&self) -> Option<FlightId> {
        self.flight.map(|f| FlightId(f.id))
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

    fn drop_flight(&mut self) {
        if let Some(f) = self.flight.take() {
            self.events.push_back(Event::FlightOver(FlightId(f.id)));
        }
    }

    pub fn is_authenticated(&self) -> bool {
        self.status == Status::Active && self.tokens.is_some()
    }

    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    fn store_and_publish(&mut self, login: bool) {
        if let Some(rec) = self.tokens.as_ref().map(TokenSet::to_record) {
            if self.cfg.shared && !self.tab_only {
                self.events.push_back(Event::Post(PeerMessage::Tokens { rec: rec.clone(), login }));
            }
            self.events.push_back(Event::Store(rec));
        }
    }

    /// Starts a new session (`setTokens`). Invalid input changes nothing. `claims`: those of
    /// the access token, when it is a JWT.
    pub fn set_tokens(&mut self, input: &TokenInput, claims: Option<Claims>, now: Time) -> Result<(), TokenError> {
        let (set, _) = TokenSet::from_input(input, claims, now, Source::App, self.clock_offset)?;
        self.begin(set);
        self.store_and_publish(true);
        Ok(())
    }

    /// Resumes a session from storage at start-up.
    pub fn restore(&mut self, rec: &Record) -> bool {
        match TokenSet::from_record(rec) {
            Some(set) => {
                self.begin(set);
                self.restored = true;
                true
            }
            None => false,
        }
    }

    fn begin(&mut self, set: TokenSet) {
        self.user_info.forget();
        self.replace_tokens(Some(set));
        self.status = Status::Active;
        self.refused = false;
        self.drop_flight(); // a flight of the old session settles into nothing
        self.cooldown_until = None;
        self.restored = false;
    }

    /// `logout()`: ends the session with `"logout"` (in every tab when shared).
    pub fn logout(&mut self) {
        if !self.end(EndReason::Logout, true) {
            self.events.push_back(Event::Clear);
        }
    }

    /// `logout({ revoke, redirect })`: ends the session here at once, as [`Session::logout`]
    /// does (calls reject, storage cleared, other tabs told), but holds its event back until
    /// [`Session::logout_done`] says whether the server revoked it. Hands back the tokens the
    /// server needs; `None` without an active session (nothing to revoke, no event).
    pub fn logout_ending(&mut self) -> Option<Ending> {
        let tokens = self.tokens.clone()?;
        if !self.end_inner(EndReason::Logout, true, false) {
            return None;
        }
        Some(Ending { refresh_token: tokens.refresh, id_token: tokens.id, generation: self.token_gen })
    }

    /// The server's part of a [`Session::logout_ending`] is over: its event, unless a new
    /// session began meanwhile (its listeners must not hear of the old one's end).
    pub fn logout_done(&mut self, ending: Ending, revoked: bool) {
        if self.token_gen == ending.generation && self.status == Status::Ended(EndReason::Logout) {
            self.events.push_back(Event::SessionExpired { reason: EndReason::Logout, revoked: Some(revoked) });
        }
    }

    /// Ends an active session once: one event, storage cleared, flight dropped; `publish`: tell
    /// the other tabs (not when the news came from one). False if there was no active session.
    fn end(&mut self, reason: EndReason, publish: bool) -> bool {
        self.end_inner(reason, publish, true)
    }

    /// [`Session::end`]; `announce`: queue its event now (not when a revocation must finish).
    fn end_inner(&mut self, reason: EndReason, publish: bool, announce: bool) -> bool {
        if self.status != Status::Active {
            return false;
        }
        let tag = self.tokens.as_ref().and_then(|t| t.refresh.as_deref()).map(fingerprint);
        self.user_info.forget();
        self.status = Status::Ended(reason);
        self.replace_tokens(None);
        self.refused = false;
        self.drop_flight();
        self.stats.session_expired += 1;
        // a tab-only session tells the other tabs of a logout only (the user's wish for all)
        if publish && self.cfg.shared && (!self.tab_only || reason == EndReason::Logout) {
            self.events.push_back(Event::Post(PeerMessage::End { reason, tag }));
        }
        self.events.push_back(Event::Clear);
        // last: listeners see the settled state
        if announce {
            self.events.push_back(Event::SessionExpired { reason, revoked: None });
        }
        true
    }

    fn no_token_error(&self) -> CallError {
        match self.status {
            Status::Ended(r) => CallError::Expired(r),
            _ => CallError::NoSession,
        }
    }

    fn start_flight(&mut self) -> FlightId {
        let id = self.next_flight;
        self.next_flight += 1;
        self.flight = Some(Flight { id, attempt: 0, awaited_peer: false });
        self.stats.refreshes += 1;
        FlightId(id)
    }

    fn cooling(&self, now: Time) -> Option<Time> {
        self.cooldown_until.filter(|&u| now < u)
    }

    /// The refresh rule (module docs): may a call use the current token, or what to do instead.
    /// `Ready` carries no copy of the token (this is the hot path of every call): read it from
    /// [`Session::tokens`], or just its [`Session::token_generation`].
    pub fn access(&mut self, now: Time) -> Access {
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
        let can_refresh = t.refresh.is_some() && self.cfg.can_refresh;
        match (can_refresh, self.cooling(now)) {
            (false, _) if still_valid => Access::Ready,
            (false, _) => {
                self.end(EndReason::NoRefreshToken, true);
                Access::Fail(CallError::Expired(EndReason::NoRefreshToken))
            }
            (true, Some(_)) if still_valid => Access::Ready,
            (true, Some(until)) => Access::Fail(CallError::Unavailable { retry_after_ms: until - now }),
            (true, None) => Access::Refresh(self.start_flight()),
        }
    }

    /// The proactive timer fired: start a refresh if one is due and none is running.
    pub fn proactive(&mut self, now: Time) -> Option<FlightId> {
        let t = self.tokens.as_ref()?;
        if self.flight.is_some() || self.cooling(now).is_some() || !self.cfg.can_refresh || t.refresh.is_none() {
            return None;
        }
        if t.freshness(now, self.cfg.leeway_ms) == Freshness::Fresh && !self.refused {
            return None;
        }
        Some(self.start_flight())
    }

    /// When the proactive timer should next fire, if ever.
    pub fn next_wake(&self) -> Option<Time> {
        let t = self.tokens.as_ref()?;
        if !self.cfg.can_refresh || t.refresh.is_none() || self.flight.is_some() {
            return None;
        }
        let due = t.refresh_due_at(self.cfg.leeway_ms)?;
        Some(self.cooldown_until.map_or(due, |c| due.max(c)))
    }

    /// Is `id` the flight in progress?
    pub fn is_current(&self, id: FlightId) -> bool {
        self.flight.is_some_and(|f| f.id == id.0)
    }

    /// Before each attempt of flight `id`. `shared` is what storage holds, read by the driver
    /// after it took the cross-tab lock (default when not shared): another tab's newer tokens
    /// are adopted instead of refreshing (with a rotating refresh token, ours may already be
    /// spent), and another tab's cool-down is honoured instead of sending.
    pub fn before_attempt(&mut self, id: FlightId, shared: Shared, now: Time, rand: f64) -> BeforeAttempt {
        if !self.is_current(id) {
            return BeforeAttempt::Skip(RefreshNext::Settled);
        }
        let named = shared.handover.and_then(|h| h.tokens);
        let have = |t: &TokenSet| Some(fingerprint(&t.access)) == named;
        let stored_has = shared.tokens.as_ref().is_some_and(have);
        if let Some(set) = shared.tokens.filter(|s| self.is_newer(s)) {
            self.settle_with(set, false);
            return BeforeAttempt::Skip(RefreshNext::Settled);
        }
        // the last holder left tokens neither storage (yet) nor this session has: its refresh
        // token may already be spent; wait for them, once
        if named.is_some() && !stored_has && !self.tokens.as_ref().is_some_and(have) {
            if let Some(f) = self.flight.as_mut().filter(|f| !f.awaited_peer) {
                f.awaited_peer = true;
                return BeforeAttempt::Skip(RefreshNext::AwaitPeer(HANDOVER_WAIT_MS));
            }
        }
        // a stored cool-down further away than any sessionguard writes (the longest
        // `Retry-After` it reads) is not one of its own: ignored; the hand-over's is as good
        let own = |u: Time| u > now && u - now <= super::retry::MAX_RETRY_AFTER_MS + MIN_COOLDOWN_MS;
        let cooldown = match (shared.cooldown_until, shared.handover.and_then(|h| h.cooldown_until)) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        };
        if let Some(until) = cooldown.filter(|&u| own(u)) {
            // another tab's cool-down: fail this flight as it failed there, without a request
            if let Some(f) = &mut self.flight {
                f.attempt = self.cfg.retry.max_retries;
            }
            return BeforeAttempt::Skip(self.transient(now, Some(until - now), rand, false));
        }
        match self.tokens.as_ref().and_then(|t| t.refresh.clone()) {
            Some(rt) => BeforeAttempt::Send(rt),
            None => BeforeAttempt::Skip(RefreshNext::Settled),
        }
    }

    /// What this tab leaves for the next holder of the lock after an attempt, having seen
    /// `newest`: its cool-down, its tokens.
    pub fn handover(&self, newest: Option<&Handover>, now: Time) -> Handover {
        let tokens = self.tokens.as_ref().filter(|_| self.status == Status::Active).map(|t| fingerprint(&t.access));
        Handover::after(newest, self.cooldown_until.filter(|&u| u > now), tokens)
    }

    fn is_newer(&self, set: &TokenSet) -> bool {
        self.tokens.as_ref().is_none_or(|t| t.access != set.access)
    }

    /// Delivers the outcome of one attempt of flight `id` (see the module docs). `claims`: those
    /// of the new access token, when the answer carries one that is a JWT.
    pub fn refresh_result(&mut self, id: FlightId, verdict: RefreshVerdict, claims: Option<Claims>, now: Time, rand: f64) -> RefreshNext {
        if !self.is_current(id) {
            return RefreshNext::Settled;
        }
        let retry_after_ms = match verdict {
            RefreshVerdict::Tokens(input) => {
                if let Some(field) = input.junk_expiry {
                    self.warn_once(Warning::JunkExpiry(field));
                }
                match TokenSet::from_input(&input, claims, now, Source::Refresh, self.clock_offset) {
                    Ok((mut set, learned)) => {
                        if set.refresh.is_none() {
                            set.refresh = self.tokens.as_ref().and_then(|t| t.refresh.clone());
                        }
                        if let Some(o) = learned {
                            self.clock_offset = o;
                        }
                        self.settle_with(set, true);
                        return RefreshNext::Settled;
                    }
                    // 2xx without a usable token: transient, nothing stored.
                    Err(_) => None,
                }
            }
            RefreshVerdict::Terminal if self.cfg.shared => {
                return RefreshNext::Recheck(if self.cfg.locks { 0.0 } else { TERMINAL_GRACE_MS });
            }
            RefreshVerdict::Terminal => return self.terminal(),
            RefreshVerdict::Transient { retry_after_ms } => retry_after_ms,
            RefreshVerdict::Misuse(got) => {
                self.warn_once(Warning::RefreshMisuse(got));
                None
            }
        };
        self.transient(now, retry_after_ms, rand, true)
    }

    /// After [`RefreshNext::Recheck`]: adopt what another tab stored, else the terminal answer
    /// ends the session.
    pub fn recheck_terminal(&mut self, id: FlightId, stored: Option<TokenSet>) -> RefreshNext {
        if !self.is_current(id) {
            return RefreshNext::Settled;
        }
        match stored.filter(|s| self.is_newer(s)) {
            Some(set) => {
                self.settle_with(set, false);
                RefreshNext::Settled
            }
            None => self.terminal(),
        }
    }

    fn terminal(&mut self) -> RefreshNext {
        self.stats.refresh_failures += 1;
        self.end(EndReason::RefreshRejected, true);
        RefreshNext::Settled
    }

    /// A transient failure of the current flight: retry inside it, or end it with a cool-down
    /// (published to the other tabs when `publish`).
    fn transient(&mut self, now: Time, retry_after_ms: Option<f64>, rand: f64, publish: bool) -> RefreshNext {
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
        self.drop_flight();
        self.stats.refresh_failures += 1;
        if self.cfg.expire_on_transient {
            self.end(EndReason::RefreshFailed, true);
        } else {
            let until = now + retry_after_ms.unwrap_or_else(|| retry.cap(attempt)).max(MIN_COOLDOWN_MS);
            self.cooldown_until = Some(until);
            if publish && self.cfg.shared {
                self.events.push_back(Event::StoreCooldown(until));
            }
        }
        RefreshNext::Settled
    }

    /// The refresher itself failed unexpectedly (a bug or a thrown exception in the driver):
    /// the flight ends as a transient failure, never left hanging.
    pub fn refresh_aborted(&mut self, id: FlightId, now: Time) {
        if self.is_current(id) {
            if let Some(f) = &mut self.flight {
                f.attempt = self.cfg.retry.max_retries;
            }
            let _ = self.transient(now, None, 0.5, true);
        }
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
            self.end(EndReason::UnauthorizedAfterRefresh, true);
            return On401::Fail(CallError::Expired(EndReason::UnauthorizedAfterRefresh));
        }
        self.refused = true;
        On401::Replay
    }

    /// The flight is over and `set` is the new token set; `store` it (and tell the other tabs)
    /// unless it came from storage. `token-refreshed` is queued last, so its listeners see the
    /// settled state.
    fn settle_with(&mut self, set: TokenSet, store: bool) {
        let expires_at = set.expires_at;
        self.replace_tokens(Some(set));
        self.refused = false;
        self.drop_flight();
        self.cooldown_until = None;
        if store {
            self.store_and_publish(false);
        }
        self.events.push_back(Event::TokenRefreshed { expires_at });
    }

    /// Until when refreshing is on cool-down, if it is.
    pub fn cooldown_until(&self) -> Option<Time> {
        self.cooldown_until
    }

    /// The DPoP key is ready. `kept`: it is the one stored before this manager was made (else
    /// it was made now: any earlier one is gone, or was distrusted and replaced); `shared`: it
    /// is kept where other tabs and reloads find it (IndexedDB), else in this tab's memory only.
    ///
    /// - Tokens read from storage and bound to a key this tab no longer has (the key was made
    ///   anew) cannot be used: the server refuses their
    ///   refresh with a proof from another key. The session ends as that refusal would end it
    ///   (`refresh-rejected`, the closest reason the contract names), here only, without sending
    ///   the refresh token anywhere.
    /// - With a key in memory only, the tokens bound to it are this tab's alone: they are kept in
    ///   memory (never in storage, where another tab or a reload would use them with another
    ///   key; a copy stored while the key was being made is removed), not posted to other tabs,
    ///   and other tabs' tokens are not taken; its end (say, a refused refresh) is its own and
    ///   ends no other tab. Logouts still go both ways: the user's wish is for every tab.
    pub fn dpop_key(&mut self, kept: bool, shared: bool) {
        if !shared {
            self.tab_only = true;
            if !self.restored && self.tokens.as_ref().is_some_and(|t| t.dpop_bound) {
                self.events.push_back(Event::Clear);
            }
            self.events.push_back(Event::KeepInMemory);
        }
        if !kept && self.restored && self.tokens.as_ref().is_some_and(|t| t.dpop_bound) {
            self.end(EndReason::RefreshRejected, false);
        }
    }

    /// A message from another tab (see [`super::crosstab`]).
    pub fn handle_peer(&mut self, msg: PeerMessage) {
        // a tab-only session takes no other tab's tokens, and of their ends only a logout
        if self.tab_only && !matches!(msg, PeerMessage::End { reason: EndReason::Logout, .. }) {
            return;
        }
        match msg {
            PeerMessage::Tokens { rec, login } => {
                if let Some(set) = TokenSet::from_record(&rec) {
                    self.adopt(set, login);
                }
            }
            PeerMessage::End { reason, tag } => {
                // A terminal answer about a refresh token this tab no longer holds (it adopted
                // newer tokens meanwhile) does not end it; a logout always does.
                let ours = self.tokens.as_ref().and_then(|t| t.refresh.as_deref()).map(fingerprint);
                if reason == EndReason::Logout || tag.is_none() || tag == ours {
                    self.end(reason, false);
                }
            }
        }
    }

    /// Adopts a token set that another tab stored, if it differs from ours. Returns true if
    /// adopted. `new_session`: it comes from a `setTokens` (a login), which also revives an
    /// ended session here; refreshed tokens never do (a late refresh must not undo a logout).
    fn adopt(&mut self, set: TokenSet, new_session: bool) -> bool {
        if !self.is_newer(&set) {
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

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    use super::*;
    use crate::core::call::{Call, Step};
    use crate::core::token::fingerprint;
    use crate::core::token::tests::{claims_of, jwt, token_set};

    fn input(access: &str, refresh: Option<&str>, expires_in: Option<f64>) -> TokenInput {
        TokenInput { access_token: Some(access.into()), refresh_token: refresh.map(Into::into), expires_in, ..Default::default() }
    }

    fn session() -> Session {
        Session::new(Config::default())
    }

    /// `access` says Ready, and the current token is `token`.
    fn ready_with(s: &mut Session, now: Time, token: &str) -> bool {
        matches!(s.access(now), Access::Ready) && s.tokens().is_some_and(|t| t.access == token)
    }

    /// A session whose token "A" (refresh token "R") has expired, its events drained, and the
    /// flight a call at t = 1 ms started.
    fn refreshing() -> (Session, FlightId) {
        let mut s = session();
        s.set_tokens(&input("A", Some("R"), Some(0.0)), None, Time::from_ms(0.0)).unwrap();
        drain(&mut s);
        let Access::Refresh(id) = s.access(Time::from_ms(1.0)) else { panic!("no refresh started") };
        (s, id)
    }

    fn drain(s: &mut Session) -> Vec<Event> {
        core::iter::from_fn(|| s.poll_event()).collect()
    }

    /// What another tab stored: "B", refreshable with "R2", long-lived.
    fn another_tabs_tokens() -> TokenSet {
        token_set("B", Some("R2"), Some(1e13), 0.0)
    }

    fn new_tokens(a: &str) -> RefreshVerdict {
        RefreshVerdict::Tokens(input(a, None, Some(3600.0)))
    }

    #[test]
    fn junk_expiry_in_a_refresh_answer_keeps_the_token_and_warns_once() {
        let mut s = session();
        s.set_tokens(&input("A", Some("R"), Some(0.0)), None, Time::from_ms(0.0)).unwrap();
        drain(&mut s);
        for (i, next) in ["B", "C"].into_iter().enumerate() {
            let Access::Refresh(id) = s.access(Time::from_ms(1.0)) else { panic!() };
            let junk = TokenInput { junk_expiry: Some("expiresIn"), expires_in: None, ..input(next, Some("R"), None) };
            assert_eq!(s.refresh_result(id, RefreshVerdict::Tokens(junk), None, Time::from_ms(1.0), 0.5), RefreshNext::Settled);
            assert_eq!(s.tokens().map(|t| (t.access.as_str(), t.expires_at)), Some((next, None)));
            let warned = drain(&mut s).into_iter().filter(|e| matches!(e, Event::Warn(Warning::JunkExpiry("expiresIn")))).count();
            assert_eq!(warned, usize::from(i == 0), "once");
            s.refused = true; // so that the next round refreshes again
        }
    }

    #[test]
    fn a_refresh_function_misuse_is_transient_and_told_once() {
        let (mut s, id) = refreshing();
        for _ in 0..2 {
            assert!(matches!(
                s.refresh_result(id, RefreshVerdict::Misuse("undefined".into()), None, Time::from_ms(1.0), 0.5),
                RefreshNext::RetryIn(_)
            ));
        }
        assert_eq!(drain(&mut s), vec![Event::Warn(Warning::RefreshMisuse("undefined".into()))]);
        assert!(s.is_authenticated());
    }

    #[test]
    fn token_calls_join_like_calls_but_are_neither_counted_nor_paced() {
        let mut s = Session::new(Config { rate_limit: Some((1.0, 1.0)), ..Default::default() });
        s.set_tokens(&input("A", Some("R"), None), None, Time::from_ms(0.0)).unwrap();
        for _ in 0..5 {
            assert_eq!(Call::token().next(&mut s, Time::from_ms(0.0)), Step::Send);
        }
        assert_eq!(s.stats().requests, 0);
        // the join budget: a refresh that keeps settling without a token gives up
        s.refused = true;
        let mut c = Call::token();
        let Step::Refresh(_) = c.next(&mut s, Time::from_ms(0.0)) else { panic!() };
        let steps: Vec<Step> = (0..6).map(|_| c.next(&mut s, Time::from_ms(0.0))).collect();
        assert!(matches!(steps.last(), Some(Step::Fail(CallError::Unavailable { .. }))), "{steps:?}");
    }

    #[test]
    fn foreign_401_is_told_once_and_only_with_a_session() {
        let mut s = session();
        s.foreign_unauthorized("u".into());
        assert_eq!(drain(&mut s), vec![]);
        s.set_tokens(&input("A", Some("R"), None), None, Time::from_ms(0.0)).unwrap();
        drain(&mut s);
        s.foreign_unauthorized("u".into());
        s.foreign_unauthorized("v".into());
        assert_eq!(drain(&mut s), vec![Event::Warn(Warning::Foreign401("u".into()))]);
    }

    fn bound(access: &str) -> TokenInput {
        TokenInput { dpop_bound: true, ..input(access, Some("R"), Some(3600.0)) }
    }

    fn restored_bound(cfg: Config) -> Session {
        let mut s = Session::new(cfg);
        let set = TokenSet { dpop_bound: true, ..token_set("A", Some("R"), Some(1e13), 0.0) };
        assert!(s.restore(&set.to_record()));
        s
    }

    #[test]
    fn stored_tokens_bound_to_a_key_made_anew_end_the_session_here_only() {
        let mut s = restored_bound(Config { shared: true, ..Default::default() });
        s.dpop_key(false, true);
        assert_eq!(
            drain(&mut s),
            vec![Event::Clear, Event::SessionExpired { reason: EndReason::RefreshRejected, revoked: None }],
            "no message to other tabs: each one judges its own key"
        );
        assert!(!s.is_authenticated());
    }

    #[test]
    fn a_kept_key_keeps_its_bound_tokens_and_tokens_set_here_or_unbound_need_no_check() {
        let mut s = restored_bound(Config::default());
        s.dpop_key(true, true);
        assert_eq!(drain(&mut s), vec![]);
        assert!(s.is_authenticated());
        // set by the app while the key was being made: proved with the key made now
        let mut s = restored_bound(Config::default());
        s.set_tokens(&bound("B"), None, Time::from_ms(0.0)).unwrap();
        drain(&mut s);
        s.dpop_key(false, true);
        assert_eq!(drain(&mut s), vec![]);
        let mut s = session();
        s.set_tokens(&input("A", Some("R"), None), None, Time::from_ms(0.0)).unwrap();
        drain(&mut s);
        s.dpop_key(false, true);
        assert_eq!(drain(&mut s), vec![]);
        assert!(s.is_authenticated());
    }

    #[test]
    fn a_memory_only_key_keeps_the_session_in_this_tab() {
        let mut s = Session::new(Config { shared: true, ..Default::default() });
        s.dpop_key(false, false);
        assert_eq!(drain(&mut s), vec![Event::KeepInMemory]);
        s.set_tokens(&bound("A"), None, Time::from_ms(0.0)).unwrap();
        assert!(drain(&mut s).iter().all(|e| !matches!(e, Event::Post(_))), "nothing posted to other tabs");
        // another tab's tokens (bound to its own key) and its end do not touch this session
        s.handle_peer(PeerMessage::Tokens { rec: token_set("B", Some("R2"), Some(1e13), 0.0).to_record(), login: true });
        s.handle_peer(PeerMessage::End { reason: EndReason::RefreshRejected, tag: None });
        assert!(ready_with(&mut s, Time::from_ms(1.0), "A"));
        drain(&mut s);
        // its terminal end is its own
        s.refused = true;
        let Access::Refresh(id) = s.access(Time::from_ms(2.0)) else { panic!() };
        if let RefreshNext::Recheck(_) = s.refresh_result(id, RefreshVerdict::Terminal, None, Time::from_ms(3.0), 0.5) {
            let _ = s.recheck_terminal(id, None); // nothing newer stored (storage is memory)
        }
        assert!(!s.is_authenticated());
        assert!(drain(&mut s).iter().all(|e| !matches!(e, Event::Post(_))), "no end posted");
        // a logout goes both ways
        s.set_tokens(&bound("C"), None, Time::from_ms(4.0)).unwrap();
        s.handle_peer(PeerMessage::End { reason: EndReason::Logout, tag: None });
        assert!(!s.is_authenticated(), "another tab's logout");
        s.set_tokens(&bound("D"), None, Time::from_ms(5.0)).unwrap();
        drain(&mut s);
        s.logout();
        assert!(drain(&mut s).iter().any(|e| matches!(e, Event::Post(PeerMessage::End { reason: EndReason::Logout, .. }))), "its logout");
    }

    #[test]
    fn a_bound_session_set_while_the_key_was_made_in_memory_is_removed_from_storage() {
        let mut s = Session::new(Config { shared: true, ..Default::default() });
        s.set_tokens(&bound("A"), None, Time::from_ms(0.0)).unwrap();
        drain(&mut s);
        s.dpop_key(false, false);
        assert_eq!(drain(&mut s), vec![Event::Clear, Event::KeepInMemory]);
        assert!(s.is_authenticated(), "kept, in this tab's memory");
    }

    #[test]
    fn no_session_fails_without_event() {
        let mut s = session();
        assert!(matches!(s.access(Time::from_ms(0.0)), Access::Fail(CallError::NoSession)));
        s.logout();
        assert_eq!(drain(&mut s), vec![Event::Clear]);
        assert!(matches!(s.access(Time::from_ms(0.0)), Access::Fail(CallError::NoSession)));
    }

    #[test]
    fn a_dpop_nonce_challenge_is_retried_once_without_a_refresh_or_the_401_replay() {
        use crate::core::call::Verdict;
        use crate::core::retry::Answer;
        let mut s = session();
        s.set_tokens(&input("A", Some("R"), Some(3600.0)), None, Time::from_ms(0.0)).unwrap();
        drain(&mut s);
        let t = Time::from_ms(1.0);
        let ask = |nonce_given| Answer {
            status: 401,
            www_authenticate: Some(r#"DPoP error="use_dpop_nonce""#),
            nonce_given,
            ..Default::default()
        };
        let mut call = Call::new(&mut s, "POST", false);
        assert_eq!(call.next(&mut s, t), Step::Send);
        assert_eq!(call.on_answer(&mut s, &ask(true), t, 0.5), Verdict::Again { retry: None });
        assert!(!call.replayed(), "the 401 replay is still there for a dead token");
        assert_eq!(call.next(&mut s, t), Step::Send, "no refresh: the token is fine");
        // a second challenge is not retried again: nothing loops
        assert_eq!(call.on_answer(&mut s, &ask(true), t, 0.5), Verdict::Deliver);
        // a challenge without a readable nonce: delivered, and the console told once
        let mut other = Call::new(&mut s, "GET", false);
        assert_eq!(other.next(&mut s, t), Step::Send);
        assert_eq!(other.on_answer(&mut s, &ask(false), t, 0.5), Verdict::Deliver);
        let mut third = Call::new(&mut s, "GET", false);
        assert_eq!(third.next(&mut s, t), Step::Send);
        assert_eq!(third.on_answer(&mut s, &ask(false), t, 0.5), Verdict::Deliver);
        assert_eq!(drain(&mut s), vec![Event::Warn(Warning::NonceUnreadable)]);
        // the nonce retry and the 401 replay are counted apart: after a nonce retry, a 401 about
        // the token still refreshes and replays
        let mut fourth = Call::new(&mut s, "GET", false);
        assert_eq!(fourth.next(&mut s, t), Step::Send);
        assert_eq!(fourth.on_answer(&mut s, &ask(true), t, 0.5), Verdict::Again { retry: None });
        assert_eq!(fourth.next(&mut s, t), Step::Send);
        let dead = Answer { status: 401, ..Default::default() };
        assert_eq!(fourth.on_answer(&mut s, &dead, t, 0.5), Verdict::Again { retry: None });
        assert!(fourth.replayed());
        assert!(matches!(fourth.next(&mut s, t), Step::Refresh(_)));
        assert_eq!(s.stats().refreshes, 1);
    }

    #[test]
    fn fresh_token_is_used() {
        let mut s = session();
        s.set_tokens(&input("A", Some("R"), Some(3600.0)), None, Time::from_ms(0.0)).unwrap();
        assert!(matches!(drain(&mut s)[..], [Event::Store(_)]));
        assert!(ready_with(&mut s, Time::from_ms(1000.0), "A"));
        assert!(s.is_authenticated());
    }

    #[test]
    fn single_flight_and_coalescing() {
        let mut s = session();
        s.set_tokens(&input("A", Some("R"), Some(60.0)), None, Time::from_ms(0.0)).unwrap();
        let now = 59_000.0;
        let Access::Refresh(id) = s.access(Time::from_ms(now)) else { panic!() };
        assert_eq!(s.before_attempt(id, Shared::default(), Time::from_ms(now), 0.5), BeforeAttempt::Send("R".into()));
        for _ in 0..10 {
            assert!(matches!(s.access(Time::from_ms(now)), Access::Join(j) if j == id));
        }
        assert_eq!(s.stats().refreshes, 1);
        assert_eq!(s.stats().coalesced, 10);
        assert_eq!(s.refresh_result(id, new_tokens("B"), None, Time::from_ms(now), 0.5), RefreshNext::Settled);
        assert!(ready_with(&mut s, Time::from_ms(now), "B"));
        // the old refresh token is kept when the answer has none
        assert_eq!(s.tokens().unwrap().refresh.as_deref(), Some("R"));
        drain(&mut s);
    }

    #[test]
    fn terminal_answer_ends_once() {
        let (mut s, id) = refreshing();
        assert!(matches!(s.access(Time::from_ms(1.0)), Access::Join(_)));
        let _ = s.refresh_result(id, RefreshVerdict::Terminal, None, Time::from_ms(2.0), 0.0);
        assert_eq!(
            drain(&mut s),
            vec![Event::FlightOver(id), Event::Clear, Event::SessionExpired { reason: EndReason::RefreshRejected, revoked: None }]
        );
        assert!(matches!(s.access(Time::from_ms(3.0)), Access::Fail(CallError::Expired(EndReason::RefreshRejected))));
        s.logout();
        assert_eq!(drain(&mut s), vec![Event::Clear], "ended sessions do not fire again");
        assert_eq!(s.stats().session_expired, 1);
        // a new session starts after setTokens
        s.set_tokens(&input("B", None, None), None, Time::from_ms(4.0)).unwrap();
        assert!(matches!(s.access(Time::from_ms(5.0)), Access::Ready));
        s.logout();
        let ev = drain(&mut s);
        assert!(
            matches!(ev[..], [Event::Store(_), Event::Clear, Event::SessionExpired { reason: EndReason::Logout, revoked: None }]),
            "{ev:?}"
        );
    }

    #[test]
    fn a_revoking_logout_ends_at_once_and_announces_when_the_server_is_done() {
        let (mut s, id) = refreshing();
        let ending = s.logout_ending().expect("an active session");
        assert_eq!(ending.refresh_token.as_deref(), Some("R"));
        // ended here at once: the flight dropped, storage cleared, calls refused; no event yet
        assert_eq!(drain(&mut s), vec![Event::FlightOver(id), Event::Clear]);
        assert!(matches!(s.access(Time::from_ms(2.0)), Access::Fail(CallError::Expired(EndReason::Logout))));
        assert!(s.logout_ending().is_none(), "nothing left to end");
        s.logout_done(ending, true);
        assert_eq!(drain(&mut s), vec![Event::SessionExpired { reason: EndReason::Logout, revoked: Some(true) }]);
        assert_eq!(s.stats().session_expired, 1);
    }

    #[test]
    fn a_late_revocation_result_after_a_new_login_is_dropped() {
        let mut s = session();
        s.set_tokens(&input("A", Some("R"), None), None, Time::from_ms(0.0)).unwrap();
        let ending = s.logout_ending().unwrap();
        s.set_tokens(&input("B", Some("R2"), None), None, Time::from_ms(1.0)).unwrap();
        drain(&mut s);
        s.logout_done(ending, false);
        assert_eq!(drain(&mut s), vec![], "the new session's listeners hear nothing of the old one");
        assert!(s.is_authenticated());
    }

    #[test]
    fn the_old_sessions_logout_event_does_not_reach_a_new_session_even_one_logged_out_since() {
        let mut s = session();
        s.set_tokens(&input("A", Some("R"), None), None, Time::from_ms(0.0)).unwrap();
        let ending = s.logout_ending().unwrap();
        // a new session begins (setTokens after the logout) and ends with a logout of its own
        s.set_tokens(&input("B", Some("R2"), None), None, Time::from_ms(1.0)).unwrap();
        s.logout();
        let ev = drain(&mut s);
        assert_eq!(ev.iter().filter(|e| matches!(e, Event::SessionExpired { .. })).count(), 1, "{ev:?}");
        // the revocation of the first one is answered late: its listeners heard their one end
        s.logout_done(ending, true);
        assert_eq!(drain(&mut s), vec![]);
    }

    /// A session whose token "A" lives 60 s (refresh due at 30 s), its refresh failed
    /// transiently at 31 s with the server's `Retry-After` (ms), no retries: cooling down until
    /// 31 s + it.
    fn cooling_down(retry_after_ms: f64) -> Session {
        let mut s = Session::new(Config { retry: RetryPolicy { max_retries: 0, ..Default::default() }, ..Default::default() });
        s.set_tokens(&input("A", Some("R"), Some(60.0)), None, Time::from_ms(0.0)).unwrap();
        let Access::Refresh(id) = s.access(Time::from_ms(31_000.0)) else { panic!("no refresh started") };
        let failed = RefreshVerdict::Transient { retry_after_ms: Some(retry_after_ms) };
        assert_eq!(s.refresh_result(id, failed, None, Time::from_ms(31_000.0), 0.5), RefreshNext::Settled);
        assert_eq!(s.cooldown_until(), Some(Time::from_ms(31_000.0 + retry_after_ms)));
        drain(&mut s);
        s
    }

    #[test]
    fn the_proactive_timer_does_not_start_a_second_flight() {
        let mut s = session();
        s.set_tokens(&input("A", Some("R"), Some(60.0)), None, Time::from_ms(0.0)).unwrap();
        let Access::Refresh(id) = s.access(Time::from_ms(31_000.0)) else { panic!() };
        assert_eq!(s.proactive(Time::from_ms(31_000.0)), None, "a call's flight is running");
        assert_eq!(s.proactive(Time::from_ms(59_000.0)), None);
        assert!(s.is_current(id));
        assert_eq!(s.flight(), Some(id));
        assert_eq!(s.stats().refreshes, 1);
    }

    #[test]
    fn the_proactive_timer_does_not_refresh_without_a_refresh_token_or_a_refresher() {
        let mut s = session();
        s.set_tokens(&input("A", None, Some(60.0)), None, Time::from_ms(0.0)).unwrap();
        assert_eq!(s.next_wake(), None);
        assert_eq!(s.proactive(Time::from_ms(31_000.0)), None, "no refresh token");
        let mut s = Session::new(Config { can_refresh: false, ..Default::default() });
        s.set_tokens(&input("A", Some("R"), Some(60.0)), None, Time::from_ms(0.0)).unwrap();
        assert_eq!(s.next_wake(), None);
        assert_eq!(s.proactive(Time::from_ms(31_000.0)), None, "no refresher");
        assert_eq!(s.stats().refreshes, 0);
    }

    #[test]
    fn the_proactive_timer_does_not_refresh_during_a_cool_down() {
        let mut s = cooling_down(5_000.0);
        assert_eq!(s.next_wake(), Some(Time::from_ms(36_000.0)), "the timer is set for the end of the cool-down");
        assert_eq!(s.proactive(Time::from_ms(32_000.0)), None);
        assert_eq!(s.proactive(Time::from_ms(35_999.0)), None);
        assert_eq!(s.stats().refreshes, 1);
        assert!(s.proactive(Time::from_ms(36_000.0)).is_some(), "over: refreshed");
    }

    #[test]
    fn a_valid_token_is_not_refused_during_a_cool_down() {
        let mut s = cooling_down(10_000.0);
        // due for a refresh but still valid: used, without a flight
        assert!(ready_with(&mut s, Time::from_ms(32_000.0), "A"));
        assert!(ready_with(&mut s, Time::from_ms(40_999.0), "A"));
        assert_eq!(s.flight(), None);
        // once the cool-down is over, the due refresh is made
        assert!(matches!(s.access(Time::from_ms(41_000.0)), Access::Refresh(_)));
        // expired during a cool-down: refused, with how long to wait
        let mut s = cooling_down(10_000.0);
        s.cooldown_until = Some(Time::from_ms(70_000.0));
        let refused = s.access(Time::from_ms(61_000.0));
        assert!(matches!(refused, Access::Fail(CallError::Unavailable { retry_after_ms }) if retry_after_ms == 9_000.0), "{refused:?}");
    }

    #[test]
    fn a_failing_refresher_does_not_leave_its_flight_hanging() {
        let (mut s, id) = refreshing();
        s.refresh_aborted(id, Time::from_ms(2.0));
        assert_eq!(s.flight(), None, "the flight is over");
        assert_eq!(drain(&mut s), vec![Event::FlightOver(id)], "its waiters are woken");
        // as a transient failure: a cool-down (at least MIN_COOLDOWN_MS), the session kept
        assert_eq!(s.cooldown_until(), Some(Time::from_ms(2.0 + MIN_COOLDOWN_MS)));
        assert_eq!(s.stats().refresh_failures, 1);
        assert!(s.is_authenticated());
        assert!(matches!(s.access(Time::from_ms(3.0)), Access::Fail(CallError::Unavailable { .. })));
        let Access::Refresh(next) = s.access(Time::from_ms(2.0 + MIN_COOLDOWN_MS)) else { panic!("no new refresh after the cool-down") };
        // a late abort of the old flight leaves the new one alone
        s.refresh_aborted(id, Time::from_ms(1_100.0));
        assert!(s.is_current(next));
        assert_eq!(drain(&mut s), vec![]);
    }

    #[test]
    fn transient_failures_retry_then_cool_down() {
        let mut s = session();
        s.set_tokens(&input("A", Some("R"), Some(0.0)), None, Time::from_ms(0.0)).unwrap();
        let Access::Refresh(id) = s.access(Time::from_ms(1.0)) else { panic!() };
        let mut now = 1.0;
        for i in 0..3 {
            match s.refresh_result(id, RefreshVerdict::Transient { retry_after_ms: None }, None, Time::from_ms(now), 0.5) {
                RefreshNext::RetryIn(d) => assert!(d <= s.config().retry.cap(i)),
                other => panic!("{other:?}"),
            }
            now += 100.0;
        }
        assert_eq!(
            s.refresh_result(id, RefreshVerdict::Transient { retry_after_ms: Some(5_000.0) }, None, Time::from_ms(now), 0.5),
            RefreshNext::Settled
        );
        // calls fail fast with the server's Retry-After, without a new flight
        match s.access(Time::from_ms(now + 1_000.0)) {
            Access::Fail(CallError::Unavailable { retry_after_ms }) => {
                assert_eq!(retry_after_ms, 4_000.0)
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(s.stats().refreshes, 1);
        assert_eq!(s.stats().refresh_failures, 1);
        assert!(s.is_authenticated(), "the session is kept");
        // after the cool-down a refresh is tried again
        assert!(matches!(s.access(Time::from_ms(now + 5_000.0)), Access::Refresh(..)));
    }

    #[test]
    fn long_retry_after_skips_retries() {
        let mut s = session();
        s.set_tokens(&input("A", Some("R"), Some(0.0)), None, Time::from_ms(0.0)).unwrap();
        let Access::Refresh(id) = s.access(Time::from_ms(1.0)) else { panic!() };
        assert_eq!(
            s.refresh_result(id, RefreshVerdict::Transient { retry_after_ms: Some(60_000.0) }, None, Time::from_ms(1.0), 0.5),
            RefreshNext::Settled
        );
        assert!(matches!(s.access(Time::from_ms(2.0)), Access::Fail(CallError::Unavailable { .. })));
    }

    #[test]
    fn expire_on_transient_failure() {
        let mut s = Session::new(Config {
            expire_on_transient: true,
            retry: RetryPolicy { max_retries: 0, ..Default::default() },
            ..Default::default()
        });
        s.set_tokens(&input("A", Some("R"), Some(0.0)), None, Time::from_ms(0.0)).unwrap();
        drain(&mut s);
        let Access::Refresh(id) = s.access(Time::from_ms(1.0)) else { panic!() };
        let _ = s.refresh_result(id, RefreshVerdict::Transient { retry_after_ms: None }, None, Time::from_ms(1.0), 0.5);
        assert_eq!(
            drain(&mut s),
            vec![Event::FlightOver(id), Event::Clear, Event::SessionExpired { reason: EndReason::RefreshFailed, revoked: None }]
        );
    }

    #[test]
    fn still_valid_token_is_used_when_refresh_is_impossible() {
        let mut s = Session::new(Config { can_refresh: false, ..Default::default() });
        s.set_tokens(&input("A", Some("R"), Some(20.0)), None, Time::from_ms(0.0)).unwrap();
        assert!(matches!(s.access(Time::from_ms(15_000.0)), Access::Ready));
        assert!(matches!(s.access(Time::from_ms(20_000.0)), Access::Fail(CallError::Expired(EndReason::NoRefreshToken))));
        // without a refresh token, same
        let mut s = session();
        s.set_tokens(&input("A", None, Some(20.0)), None, Time::from_ms(0.0)).unwrap();
        drain(&mut s);
        assert!(matches!(s.access(Time::from_ms(21_000.0)), Access::Fail(CallError::Expired(EndReason::NoRefreshToken))));
        assert_eq!(drain(&mut s), vec![Event::Clear, Event::SessionExpired { reason: EndReason::NoRefreshToken, revoked: None }]);
    }

    #[test]
    fn unusable_refresh_answer_is_transient_and_not_stored() {
        let (mut s, id) = refreshing();
        let bad = RefreshVerdict::Tokens(input("null", None, None));
        assert!(matches!(s.refresh_result(id, bad, None, Time::from_ms(1.0), 0.5), RefreshNext::RetryIn(_)));
        assert_eq!(s.tokens().unwrap().access, "A");
        assert_eq!(drain(&mut s), vec![]);
    }

    #[test]
    fn late_result_after_logout_or_new_session_is_dropped() {
        let mut s = session();
        s.set_tokens(&input("A", Some("R"), Some(0.0)), None, Time::from_ms(0.0)).unwrap();
        let Access::Refresh(id) = s.access(Time::from_ms(1.0)) else { panic!() };
        s.logout();
        assert_eq!(s.refresh_result(id, new_tokens("B"), None, Time::from_ms(2.0), 0.5), RefreshNext::Settled);
        assert!(!s.is_authenticated());
        assert!(matches!(s.access(Time::from_ms(3.0)), Access::Fail(CallError::Expired(EndReason::Logout))));

        s.set_tokens(&input("C", Some("R2"), Some(0.0)), None, Time::from_ms(4.0)).unwrap();
        let Access::Refresh(id2) = s.access(Time::from_ms(5.0)) else { panic!() };
        assert_eq!(s.before_attempt(id2, Shared::default(), Time::from_ms(5.0), 0.5), BeforeAttempt::Send("R2".into()));
        s.set_tokens(&input("D", Some("R3"), Some(3600.0)), None, Time::from_ms(6.0)).unwrap();
        let _ = s.refresh_result(id2, RefreshVerdict::Terminal, None, Time::from_ms(7.0), 0.5);
        assert!(ready_with(&mut s, Time::from_ms(8.0), "D"), "a stale terminal answer does not end the new session");
        assert_eq!(s.before_attempt(id2, Shared::default(), Time::from_ms(9.0), 0.5), BeforeAttempt::Skip(RefreshNext::Settled));
    }

    #[test]
    /// (Listener events come after the storage events they follow from: see the order below.)
    fn the_401_rule() {
        let mut s = session();
        s.set_tokens(&input("A", Some("R"), None), None, Time::from_ms(0.0)).unwrap();
        drain(&mut s);
        let a = s.token_generation();
        // 401 for the current token: refused, the replay goes through a refresh
        assert_eq!(s.unauthorized(a, false), On401::Replay);
        let Access::Refresh(id) = s.access(Time::from_ms(1.0)) else { panic!() };
        assert!(matches!(s.access(Time::from_ms(1.0)), Access::Join(_)), "other 401s join");
        let _ = s.refresh_result(id, new_tokens("B"), None, Time::from_ms(2.0), 0.5);
        let b = s.token_generation();
        // a 401 that answered the old token: replay with the current one, no refresh
        assert_eq!(s.unauthorized(a, false), On401::Replay);
        assert!(ready_with(&mut s, Time::from_ms(3.0), "B"));
        assert_eq!(s.stats().refreshes, 1);
        // a 401 on the replay with the current token ends the session
        assert_eq!(s.unauthorized(b, true), On401::Fail(CallError::Expired(EndReason::UnauthorizedAfterRefresh)));
        let ev = drain(&mut s);
        assert!(
            matches!(
                ev[..],
                [
                    Event::FlightOver(_),
                    Event::Store(_),
                    Event::TokenRefreshed { expires_at: Some(at) },
                    Event::Clear,
                    Event::SessionExpired { reason: EndReason::UnauthorizedAfterRefresh, revoked: None }
                ] if at == Time::from_ms(3_600_002.0)
            ),
            "{ev:?}"
        );
        // and a stale replay 401 after the end rejects
        assert_eq!(s.unauthorized(b, true), On401::Fail(CallError::Expired(EndReason::UnauthorizedAfterRefresh)));
    }

    #[test]
    fn stale_replay_refused_again_is_delivered() {
        let mut s = session();
        s.set_tokens(&input("A", Some("R"), None), None, Time::from_ms(0.0)).unwrap();
        s.set_tokens(&input("B", Some("R"), None), None, Time::from_ms(0.0)).unwrap();
        assert_eq!(s.unauthorized(9_999, true), On401::Deliver);
    }

    #[test]
    fn proactive_refresh_is_the_same_flight() {
        let mut s = session();
        s.set_tokens(&input("A", Some("R"), Some(3600.0)), None, Time::from_ms(0.0)).unwrap();
        assert_eq!(s.next_wake(), Some(Time::from_ms(3_570_000.0)));
        assert_eq!(s.proactive(Time::from_ms(1_000.0)), None, "not due yet");
        let id = s.proactive(Time::from_ms(3_575_000.0)).unwrap();
        assert_eq!(s.next_wake(), None);
        assert!(matches!(s.access(Time::from_ms(3_575_000.0)), Access::Join(j) if j == id), "a call joins the timer's refresh");
        let _ = s.refresh_result(id, new_tokens("B"), None, Time::from_ms(3_576_000.0), 0.5);
        assert_eq!(s.next_wake(), Some(Time::from_ms(3_576_000.0 + 3_570_000.0)));
    }

    #[test]
    fn skewed_clock_does_not_refresh_every_call() {
        // Our clock is 10 minutes ahead of the server; tokens live 5 minutes.
        let mut s = session();
        s.set_tokens(&input("A", Some("R"), Some(0.0)), None, Time::from_ms(0.0)).unwrap();
        let mut now = 1_000_000_000.0;
        let Access::Refresh(id) = s.access(Time::from_ms(now)) else { panic!() };
        let server = now - 600_000.0;
        let t = jwt(&format!("{{\"iat\":{},\"exp\":{}}}", server / 1000.0, server / 1000.0 + 300.0));
        let claims = claims_of(&t);
        let _ = s.refresh_result(
            id,
            RefreshVerdict::Tokens(TokenInput { access_token: Some(t), ..Default::default() }),
            claims,
            Time::from_ms(now),
            0.5,
        );
        for _ in 0..100 {
            now += 1_000.0;
            assert!(matches!(s.access(Time::from_ms(now)), Access::Ready));
        }
        assert_eq!(s.stats().refreshes, 1);
    }

    #[test]
    fn adopted_tokens_settle_the_flight() {
        let (mut s, id) = refreshing();
        let other = another_tabs_tokens();
        let shared = Shared { tokens: Some(other.clone()), cooldown_until: None, handover: None };
        assert_eq!(s.before_attempt(id, shared.clone(), Time::from_ms(2.0), 0.5), BeforeAttempt::Skip(RefreshNext::Settled));
        assert!(ready_with(&mut s, Time::from_ms(2.0), "B"));
        assert_eq!(
            drain(&mut s),
            vec![Event::FlightOver(id), Event::TokenRefreshed { expires_at: Some(Time::from_ms(1e13)) }],
            "adopted tokens are not stored again"
        );
        // a stale flight adopts nothing
        s.set_tokens(&input("C", Some("R"), None), None, Time::from_ms(3.0)).unwrap();
        assert_eq!(s.before_attempt(id, shared, Time::from_ms(4.0), 0.5), BeforeAttempt::Skip(RefreshNext::Settled));
        assert_eq!(s.tokens().unwrap().access, "C");
    }

    #[test]
    fn a_stored_cooldown_longer_than_any_sessionguard_writes_is_ignored() {
        let (mut s, id) = refreshing();
        let planted = Shared { tokens: None, cooldown_until: Some(Time::from_ms(1e15)), handover: None };
        assert!(matches!(s.before_attempt(id, planted, Time::from_ms(1.0), 0.5), BeforeAttempt::Send(_)));
    }

    #[test]
    fn a_shared_cooldown_counts_until_its_instant_and_up_to_the_longest_sessionguard_writes() {
        let longest = crate::core::retry::MAX_RETRY_AFTER_MS + MIN_COOLDOWN_MS;
        let attempt = |until: f64| {
            let mut s = Session::new(Config { shared: true, ..Default::default() });
            s.set_tokens(&input("A", Some("R"), Some(0.0)), None, Time::from_ms(0.0)).unwrap();
            let Access::Refresh(id) = s.access(Time::from_ms(1_000.0)) else { panic!() };
            let shared = Shared { tokens: None, cooldown_until: Some(Time::from_ms(until)), handover: None };
            s.before_attempt(id, shared, Time::from_ms(1_000.0), 0.5)
        };
        assert_eq!(attempt(1_000.0), BeforeAttempt::Send("R".into()), "over at its instant");
        assert_eq!(attempt(1_000.0 + longest), BeforeAttempt::Skip(RefreshNext::Settled), "the longest it writes");
        assert_eq!(attempt(1_001.0 + longest), BeforeAttempt::Send("R".into()), "longer: not one of its own");
        // what a holder hands over: a cool-down still running, not one over at this instant
        let mut s =
            Session::new(Config { shared: true, retry: RetryPolicy { max_retries: 0, ..Default::default() }, ..Default::default() });
        s.set_tokens(&input("A", Some("R"), Some(0.0)), None, Time::from_ms(0.0)).unwrap();
        let Access::Refresh(id) = s.access(Time::from_ms(1.0)) else { panic!() };
        let _ = s.refresh_result(id, RefreshVerdict::Transient { retry_after_ms: Some(5_000.0) }, None, Time::from_ms(1.0), 0.5);
        assert_eq!(s.handover(None, Time::from_ms(5_000.0)).cooldown_until, Some(Time::from_ms(5_001.0)));
        assert_eq!(s.handover(None, Time::from_ms(5_001.0)).cooldown_until, None);
    }

    #[test]
    fn another_tabs_refresh_is_a_token_refresh_here_and_another_tabs_login_is_not() {
        let mut s = session();
        s.set_tokens(&input("A", Some("R"), Some(3_600.0)), None, Time::from_ms(0.0)).unwrap();
        drain(&mut s);
        let rec = another_tabs_tokens().to_record();
        s.handle_peer(PeerMessage::Tokens { rec: rec.clone(), login: false });
        assert!(drain(&mut s).iter().any(|e| matches!(e, Event::TokenRefreshed { .. })), "a refresh elsewhere refreshes this tab");
        // an ended tab logged in by another tab's login: a new session, not a refresh
        let mut s = session();
        s.set_tokens(&input("A", Some("R"), Some(3_600.0)), None, Time::from_ms(0.0)).unwrap();
        s.logout();
        drain(&mut s);
        s.handle_peer(PeerMessage::Tokens { rec, login: true });
        assert!(s.is_authenticated());
        assert!(!drain(&mut s).iter().any(|e| matches!(e, Event::TokenRefreshed { .. })));
    }

    #[test]
    fn failures_and_retries_of_refreshes_are_counted_one_each() {
        let mut s = Session::new(Config { retry: RetryPolicy { max_retries: 2, ..Default::default() }, ..Default::default() });
        s.set_tokens(&input("A", Some("R"), Some(0.0)), None, Time::from_ms(0.0)).unwrap();
        let Access::Refresh(id) = s.access(Time::from_ms(1.0)) else { panic!() };
        let _ = s.refresh_result(id, RefreshVerdict::Transient { retry_after_ms: None }, None, Time::from_ms(1.0), 0.5);
        let _ = s.refresh_result(id, RefreshVerdict::Transient { retry_after_ms: None }, None, Time::from_ms(2.0), 0.5);
        assert_eq!(s.stats().retries, 2);
        let _ = s.refresh_result(id, RefreshVerdict::Terminal, None, Time::from_ms(3.0), 0.5);
        assert_eq!(s.stats().refresh_failures, 1);
    }

    #[test]
    fn one_kind_of_warning_does_not_silence_another() {
        let mut s = Session::new(Config::default());
        for w in [
            Warning::JunkExpiry("expiresIn"),
            Warning::RefreshMisuse("x".into()),
            Warning::Foreign401("u".into()),
            Warning::NonceUnreadable,
        ] {
            s.warn_once(w.clone());
            s.warn_once(w.clone());
            assert_eq!(drain(&mut s), vec![Event::Warn(w)], "each kind once");
        }
    }

    #[test]
    fn a_user_info_answer_is_kept_only_for_the_request_the_session_waits_for() {
        let mut s = Session::new(Config::default());
        s.set_tokens(&input("A", Some("R"), Some(3_600.0)), None, Time::from_ms(0.0)).unwrap();
        let UserInfoStep::Start(epoch) = s.user_info(Time::from_ms(1.0), 60_000.0) else { panic!("a first request starts") };
        let gen = s.token_generation();
        assert!(s.user_info_done(epoch, Some(gen), Time::from_ms(2.0)), "its answer is kept");
        assert!(!s.user_info_done(epoch, Some(gen), Time::from_ms(3.0)), "a second answer of the same request is not");
        assert_eq!(s.user_info(Time::from_ms(4.0), 60_000.0), UserInfoStep::Cached);
    }

    #[test]
    fn a_session_whose_storage_stopped_working_tells_other_tabs_nothing() {
        let mut s = Session::new(Config { shared: true, ..Default::default() });
        s.set_tokens(&input("A", Some("R"), Some(0.0)), None, Time::from_ms(0.0)).unwrap();
        s.unshare();
        assert!(!s.config().shared);
        let Access::Refresh(id) = s.access(Time::from_ms(1.0)) else { panic!() };
        drain(&mut s);
        let _ = s.refresh_result(id, RefreshVerdict::Tokens(input("B", Some("R2"), Some(3_600.0))), None, Time::from_ms(1.0), 0.5);
        assert!(!drain(&mut s).iter().any(|e| matches!(e, Event::Post(_))), "no message to other tabs");
    }

    #[test]
    fn a_tab_whose_storage_lags_the_handover_waits_for_the_tokens_once_instead_of_spending_its_refresh_token() {
        let mut s = Session::new(Config { shared: true, ..Default::default() });
        s.set_tokens(&input("A", Some("R"), Some(0.0)), None, Time::from_ms(0.0)).unwrap();
        let Access::Refresh(id) = s.access(Time::from_ms(1.0)) else { panic!() };
        // storage still shows this tab's own tokens; the last holder says it left "B"
        let stale = s.tokens().cloned();
        let handover = Some(Handover { seq: 3, cooldown_until: None, tokens: Some(fingerprint("B")) });
        let lagging = Shared { tokens: stale, cooldown_until: None, handover };
        let t = Time::from_ms(1.0);
        assert_eq!(s.before_attempt(id, lagging.clone(), t, 0.5), BeforeAttempt::Skip(RefreshNext::AwaitPeer(HANDOVER_WAIT_MS)));
        assert!(s.is_current(id), "the flight waits; it is not over");
        // once: if the tokens never come, the attempt is made from storage
        assert_eq!(s.before_attempt(id, lagging, t, 0.5), BeforeAttempt::Send("R".into()));
    }

    #[test]
    fn a_handover_naming_tokens_this_tab_can_read_changes_nothing() {
        let mut s = Session::new(Config { shared: true, ..Default::default() });
        s.set_tokens(&input("A", Some("R"), Some(0.0)), None, Time::from_ms(0.0)).unwrap();
        let Access::Refresh(id) = s.access(Time::from_ms(1.0)) else { panic!() };
        let handover = Some(Handover { seq: 0, cooldown_until: None, tokens: Some(fingerprint("A")) });
        let shared = Shared { tokens: s.tokens().cloned(), cooldown_until: None, handover };
        assert_eq!(s.before_attempt(id, shared, Time::from_ms(1.0), 0.5), BeforeAttempt::Send("R".into()));
        // the tokens it names arrived in storage: adopted, no request
        let mut s = Session::new(Config { shared: true, ..Default::default() });
        s.set_tokens(&input("A", Some("R"), Some(0.0)), None, Time::from_ms(0.0)).unwrap();
        let Access::Refresh(id) = s.access(Time::from_ms(1.0)) else { panic!() };
        let newer = TokenSet::from_input(&input("B", Some("R2"), Some(3_600.0)), None, Time::from_ms(1.0), Source::Refresh, 0.0).unwrap().0;
        let handover = Some(Handover { seq: 0, cooldown_until: None, tokens: Some(fingerprint("B")) });
        let shared = Shared { tokens: Some(newer), cooldown_until: None, handover };
        assert_eq!(s.before_attempt(id, shared, Time::from_ms(1.0), 0.5), BeforeAttempt::Skip(RefreshNext::Settled));
        assert_eq!(s.tokens().map(|t| t.access.as_str()), Some("B"));
    }

    #[test]
    fn the_handovers_cooldown_is_honoured_before_storage_shows_it() {
        let mut s = Session::new(Config { shared: true, ..Default::default() });
        s.set_tokens(&input("A", Some("R"), Some(0.0)), None, Time::from_ms(0.0)).unwrap();
        let Access::Refresh(id) = s.access(Time::from_ms(1.0)) else { panic!() };
        let handover = Some(Handover { seq: 1, cooldown_until: Some(Time::from_ms(30_001.0)), tokens: None });
        let shared = Shared { tokens: None, cooldown_until: None, handover };
        assert_eq!(s.before_attempt(id, shared, Time::from_ms(1.0), 0.5), BeforeAttempt::Skip(RefreshNext::Settled));
        assert!(
            matches!(s.access(Time::from_ms(2.0)), Access::Fail(CallError::Unavailable { retry_after_ms }) if retry_after_ms == 29_999.0)
        );
        // the later of the two when both say one
        let mut s = Session::new(Config { shared: true, ..Default::default() });
        s.set_tokens(&input("A", Some("R"), Some(0.0)), None, Time::from_ms(0.0)).unwrap();
        let Access::Refresh(id) = s.access(Time::from_ms(1.0)) else { panic!() };
        let handover = Some(Handover { seq: 1, cooldown_until: Some(Time::from_ms(10_001.0)), tokens: None });
        let shared = Shared { tokens: None, cooldown_until: Some(Time::from_ms(20_001.0)), handover };
        let _ = s.before_attempt(id, shared, Time::from_ms(1.0), 0.5);
        assert!(
            matches!(s.access(Time::from_ms(2.0)), Access::Fail(CallError::Unavailable { retry_after_ms }) if retry_after_ms == 19_999.0)
        );
    }

    #[test]
    fn a_holder_hands_over_its_tokens_or_its_cooldown_numbered_after_the_newest() {
        let mut s =
            Session::new(Config { shared: true, retry: RetryPolicy { max_retries: 0, ..Default::default() }, ..Default::default() });
        s.set_tokens(&input("A", Some("R"), Some(0.0)), None, Time::from_ms(0.0)).unwrap();
        let Access::Refresh(id) = s.access(Time::from_ms(1.0)) else { panic!() };
        let _ = s.refresh_result(id, RefreshVerdict::Transient { retry_after_ms: Some(5_000.0) }, None, Time::from_ms(1.0), 0.5);
        let seen = Handover { seq: 6, ..Handover::default() };
        let h = s.handover(Some(&seen), Time::from_ms(2.0));
        assert_eq!(h, Handover { seq: 7, cooldown_until: Some(Time::from_ms(5_001.0)), tokens: Some(fingerprint("A")) });
        let mut s = Session::new(Config { shared: true, ..Default::default() });
        s.set_tokens(&input("A", Some("R"), Some(0.0)), None, Time::from_ms(0.0)).unwrap();
        let Access::Refresh(id) = s.access(Time::from_ms(1.0)) else { panic!() };
        let _ = s.refresh_result(id, RefreshVerdict::Tokens(input("B", Some("R2"), Some(3_600.0))), None, Time::from_ms(1.0), 0.5);
        assert_eq!(s.handover(None, Time::from_ms(2.0)), Handover { seq: 0, cooldown_until: None, tokens: Some(fingerprint("B")) });
    }

    #[test]
    fn shared_cooldown_of_another_tab_is_honoured_without_a_request() {
        let mut s = Session::new(Config { shared: true, ..Default::default() });
        s.set_tokens(&input("A", Some("R"), Some(0.0)), None, Time::from_ms(0.0)).unwrap();
        let Access::Refresh(id) = s.access(Time::from_ms(1.0)) else { panic!() };
        let shared = Shared { tokens: None, cooldown_until: Some(Time::from_ms(30_001.0)), handover: None };
        assert_eq!(s.before_attempt(id, shared, Time::from_ms(1.0), 0.5), BeforeAttempt::Skip(RefreshNext::Settled));
        match s.access(Time::from_ms(2.0)) {
            Access::Fail(CallError::Unavailable { retry_after_ms }) => {
                assert_eq!(retry_after_ms, 29_999.0)
            }
            other => panic!("{other:?}"),
        }
        // our own transient failure publishes the cool-down
        let mut s =
            Session::new(Config { shared: true, retry: RetryPolicy { max_retries: 0, ..Default::default() }, ..Default::default() });
        s.set_tokens(&input("A", Some("R"), Some(0.0)), None, Time::from_ms(0.0)).unwrap();
        let Access::Refresh(id) = s.access(Time::from_ms(1.0)) else { panic!() };
        drain(&mut s);
        let _ = s.refresh_result(id, RefreshVerdict::Transient { retry_after_ms: Some(5_000.0) }, None, Time::from_ms(1.0), 0.5);
        assert!(drain(&mut s).contains(&Event::StoreCooldown(Time::from_ms(5_001.0))));
    }

    #[test]
    fn shared_terminal_answer_adopts_newer_tokens_of_another_tab() {
        for locks in [true, false] {
            let mut s = Session::new(Config { shared: true, locks, ..Default::default() });
            s.set_tokens(&input("A", Some("R"), Some(0.0)), None, Time::from_ms(0.0)).unwrap();
            let Access::Refresh(id) = s.access(Time::from_ms(1.0)) else { panic!() };
            let wait = if locks { 0.0 } else { TERMINAL_GRACE_MS };
            assert_eq!(s.refresh_result(id, RefreshVerdict::Terminal, None, Time::from_ms(1.0), 0.5), RefreshNext::Recheck(wait));
            let newer = token_set("B", Some("R2"), None, 0.0);
            assert_eq!(s.recheck_terminal(id, Some(newer)), RefreshNext::Settled);
            assert!(ready_with(&mut s, Time::from_ms(2.0), "B"));
        }
        // nothing newer: the terminal answer ends it
        let mut s = Session::new(Config { shared: true, ..Default::default() });
        s.set_tokens(&input("A", Some("R"), Some(0.0)), None, Time::from_ms(0.0)).unwrap();
        let Access::Refresh(id) = s.access(Time::from_ms(1.0)) else { panic!() };
        let _ = s.refresh_result(id, RefreshVerdict::Terminal, None, Time::from_ms(1.0), 0.5);
        let same = s.tokens().cloned();
        assert_eq!(s.recheck_terminal(id, same), RefreshNext::Settled);
        assert!(!s.is_authenticated());
    }

    #[test]
    fn external_end_fires_once() {
        let mut s = session();
        s.set_tokens(&input("A", Some("R"), None), None, Time::from_ms(0.0)).unwrap();
        drain(&mut s);
        s.handle_peer(PeerMessage::End { reason: EndReason::RefreshRejected, tag: Some(fingerprint("R")) });
        s.handle_peer(PeerMessage::End { reason: EndReason::Logout, tag: None });
        assert_eq!(
            drain(&mut s),
            vec![Event::Clear, Event::SessionExpired { reason: EndReason::RefreshRejected, revoked: None }],
            "no echo to the other tabs"
        );
    }

    #[test]
    fn terminal_end_about_a_refresh_token_no_longer_held_is_ignored() {
        let mut s = session();
        s.set_tokens(&input("A", Some("R-new"), None), None, Time::from_ms(0.0)).unwrap();
        s.handle_peer(PeerMessage::End { reason: EndReason::RefreshRejected, tag: Some(fingerprint("R-old")) });
        assert!(s.is_authenticated());
        s.handle_peer(PeerMessage::End { reason: EndReason::Logout, tag: Some(fingerprint("R-old")) });
        assert!(!s.is_authenticated(), "a logout always ends it");
    }

    #[test]
    fn adopt_replaces_tokens() {
        let mut s = session();
        s.set_tokens(&input("A", Some("R"), Some(0.0)), None, Time::from_ms(0.0)).unwrap();
        drain(&mut s);
        let other = another_tabs_tokens();
        assert!(s.adopt(other.clone(), false));
        assert!(!s.adopt(other.clone(), false));
        s.handle_peer(PeerMessage::Tokens { rec: TokenSet { access: "B2".into(), ..other.clone() }.to_record(), login: false });
        assert!(ready_with(&mut s, Time::from_ms(1.0), "B2"));
        // after a logout, refreshed tokens from elsewhere do not revive the session; a login does
        s.logout();
        let newer = TokenSet { access: "C".into(), ..other };
        assert!(!s.adopt(newer.clone(), false));
        assert!(!s.is_authenticated());
        assert!(s.adopt(newer, true));
        assert!(s.is_authenticated());
    }
}
