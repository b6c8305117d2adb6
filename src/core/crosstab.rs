//! The cross-tab protocol, as values: what a tab publishes and what it does with what it reads.
//!
//! Tabs of one origin that keep the session in local storage (`storage: "local"`, `crossTab`)
//! share it. The driver carries three things between them and decides none of them:
//! - a lock (Web Locks) around every refresh attempt, so one tab refreshes and the others wait;
//! - storage, read after taking the lock and handed to [`Session::before_attempt`] as
//!   [`Shared`](super::session::Shared): a newer token set written by another tab is adopted
//!   instead of refreshing (with rotating refresh tokens ours may already be spent), a shared
//!   cool-down is honoured instead of sending;
//! - a channel (BroadcastChannel) carrying [`PeerMessage`]s, which the session queues as
//!   [`Event::Post`](super::session::Event::Post) and reads with [`Session::handle_peer`].
//!
//! The rules that make this safe live in [`Session`]: refreshed tokens never revive a tab that
//! logged out (a login does); an end caused by a terminal refresh answer names the refresh
//! token it was about (a tag, not the token), so a tab that already holds newer tokens ignores
//! it; before a terminal answer ends the session, storage is read once more (after a grace
//! period when there are no locks) and newer tokens are adopted instead.
//!
//! The record travels inside the message because another process's view of local storage can
//! lag behind the message.

use super::session::EndReason;
#[allow(unused_imports)]
use super::session::Session;
use super::token::Record;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq)]
pub enum PeerMessage {
    /// New tokens: `login` for a `setTokens`, else a refresh.
    Tokens { rec: Record, login: bool },
    /// The session ended there. `tag`: fingerprint of the refresh token it ended with.
    End { reason: EndReason, tag: Option<u32> },
}

/// A [`PeerMessage`] as it travels: one flat object (`{ t: "tokens", rec, login }` or
/// `{ t: "end", reason, tag }`), which reads without serde's buffering of tagged enums.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Wire {
    pub t: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rec: Option<Record>,
    #[serde(skip_serializing_if = "core::ops::Not::not")]
    pub login: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tag: Option<u32>,
}

impl From<&PeerMessage> for Wire {
    fn from(m: &PeerMessage) -> Wire {
        match m {
            PeerMessage::Tokens { rec, login } => Wire { t: "tokens".into(), rec: Some(rec.clone()), login: *login, ..Wire::default() },
            PeerMessage::End { reason, tag } => {
                Wire { t: "end".into(), reason: Some(reason.as_str().into()), tag: *tag, ..Wire::default() }
            }
        }
    }
}

impl Wire {
    /// The message, if this is one (anything else on the channel is ignored).
    pub fn message(self) -> Option<PeerMessage> {
        match self.t.as_str() {
            "tokens" => Some(PeerMessage::Tokens { rec: self.rec?, login: self.login }),
            "end" => Some(PeerMessage::End { reason: EndReason::parse(self.reason.as_deref()?)?, tag: self.tag }),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    //! N tabs over a shared fake storage, channel and lock, against a token endpoint that rotates
    //! refresh tokens and treats reuse of a rotated one as theft (revoking the grant), as
    //! oidc-provider and Cognito with rotation do.
    use super::*;
    use crate::core::refresh_answer::RefreshVerdict;
    use crate::core::session::{Access, BeforeAttempt, Config, Event, FlightId, RefreshNext, Shared};
    use crate::core::time::Time;
    use crate::core::token::tests::token_set;
    use crate::core::token::{TokenInput, TokenSet};
    use alloc::collections::VecDeque;
    use alloc::format;
    use alloc::string::String;
    use alloc::vec::Vec;
    use proptest::prelude::*;

    struct Server {
        current_rt: String,
        next: u32,
        revoked: bool,
        grants: u32,
        reuse: u32,
    }

    impl Server {
        fn refresh(&mut self, rt: &str) -> RefreshVerdict {
            if self.revoked {
                return RefreshVerdict::Terminal;
            }
            if rt != self.current_rt {
                self.reuse += 1;
                self.revoked = true;
                return RefreshVerdict::Terminal;
            }
            self.next += 1;
            self.grants += 1;
            self.current_rt = format!("R{}", self.next);
            RefreshVerdict::Tokens(TokenInput {
                access_token: Some(format!("A{}", self.next)),
                refresh_token: Some(self.current_rt.clone()),
                expires_in: Some(3600.0),
                ..Default::default()
            })
        }
    }

    struct Tab {
        s: Session,
        flight: Option<FlightId>,
        inbox: VecDeque<PeerMessage>,
        expired: u32,
    }

    struct World {
        tabs: Vec<Tab>,
        storage: Option<Record>,
        cooldown: Option<Time>,
        /// Which tab holds the lock (and the flight it runs under it).
        lock: Option<usize>,
        server: Server,
        now: Time,
    }

    impl World {
        fn new(n: usize, locks: bool) -> World {
            let cfg = Config { shared: true, locks, ..Default::default() };
            let rec = token_set("A0", Some("R0"), Some(0.0), 0.0).to_record();
            let tabs = (0..n)
                .map(|_| {
                    let mut s = Session::new(cfg);
                    assert!(s.restore(&rec));
                    Tab { s, flight: None, inbox: VecDeque::new(), expired: 0 }
                })
                .collect();
            World {
                tabs,
                storage: Some(rec),
                cooldown: None,
                lock: None,
                server: Server { current_rt: "R0".into(), next: 0, revoked: false, grants: 0, reuse: 0 },
                now: Time::from_ms(1.0),
            }
        }

        /// Carries out tab `i`'s side effects: storage, channel.
        fn drain(&mut self, i: usize) {
            while let Some(ev) = self.tabs[i].s.poll_event() {
                match ev {
                    Event::Store(rec) => self.storage = Some(rec),
                    Event::Clear => {
                        self.storage = None;
                        self.cooldown = None;
                    }
                    Event::StoreCooldown(u) => self.cooldown = Some(u),
                    Event::Post(m) => {
                        for (j, t) in self.tabs.iter_mut().enumerate() {
                            if j != i {
                                t.inbox.push_back(m.clone());
                            }
                        }
                    }
                    Event::SessionExpired(_) => self.tabs[i].expired += 1,
                    Event::FlightOver(_) | Event::TokenRefreshed { .. } => {}
                }
            }
        }

        /// Tab `i` takes one step: deliver a message, start a call, or run its refresh.
        fn step(&mut self, i: usize, what: u8) {
            match what % 3 {
                0 => {
                    if let Some(m) = self.tabs[i].inbox.pop_front() {
                        self.tabs[i].s.handle_peer(m);
                    }
                }
                1 => {
                    if self.tabs[i].flight.is_none() {
                        if let Access::Refresh(id) = self.tabs[i].s.access(self.now) {
                            self.tabs[i].flight = Some(id);
                        }
                    }
                }
                _ => self.run_refresh(i),
            }
            self.drain(i);
        }

        /// One attempt of tab `i`'s flight, as the driver runs it: under the lock (or without
        /// one), storage read first, the answer, and the recheck of a terminal answer.
        fn run_refresh(&mut self, i: usize) {
            let Some(id) = self.tabs[i].flight else {
                return;
            };
            let locks = self.tabs[i].s.config().locks;
            if locks {
                if self.lock.is_some_and(|h| h != i) {
                    return; // wait for the lock
                }
                self.lock = Some(i);
            }
            let shared = Shared { tokens: self.storage.as_ref().and_then(TokenSet::from_record), cooldown_until: self.cooldown };
            let mut next = match self.tabs[i].s.before_attempt(id, shared, self.now, 0.5) {
                BeforeAttempt::Send(rt) => {
                    let v = self.server.refresh(&rt);
                    self.tabs[i].s.refresh_result(id, v, None, self.now, 0.5)
                }
                BeforeAttempt::Skip(n) => n,
            };
            if let RefreshNext::Recheck(_) = next {
                self.drain(i);
                let stored = self.storage.as_ref().and_then(TokenSet::from_record);
                next = self.tabs[i].s.recheck_terminal(id, stored);
            }
            self.drain(i);
            if next == RefreshNext::Settled || !self.tabs[i].s.is_current(id) {
                self.tabs[i].flight = None;
            }
            if self.lock == Some(i) {
                self.lock = None;
            }
        }

        fn quiesce(&mut self) {
            for _ in 0..100 {
                for i in 0..self.tabs.len() {
                    for w in 0..3 {
                        self.step(i, w);
                    }
                }
            }
        }
    }

    #[test]
    fn tabs_storm_with_locks_makes_one_grant() {
        let mut w = World::new(5, true);
        for i in 0..5 {
            w.step(i, 1);
        }
        w.quiesce();
        assert_eq!(w.server.grants, 1);
        assert_eq!(w.server.reuse, 0);
        for t in &w.tabs {
            assert!(t.s.is_authenticated());
            assert_eq!(t.s.tokens().unwrap().access, "A1");
            assert_eq!(t.expired, 0);
        }
    }

    #[test]
    fn messages_round_trip_on_the_wire() {
        let rec = token_set("A", None, None, 1.0).to_record();
        for m in [PeerMessage::Tokens { rec, login: true }, PeerMessage::End { reason: EndReason::RefreshRejected, tag: Some(7) }] {
            let text = serde_json::to_string(&Wire::from(&m)).unwrap();
            assert_eq!(serde_json::from_str::<Wire>(&text).unwrap().message(), Some(m));
        }
        for junk in ["{}", r#"{"t":"end","reason":"bogus"}"#, r#"{"t":"tokens"}"#, r#"{"t":"x"}"#] {
            assert_eq!(serde_json::from_str::<Wire>(junk).unwrap().message(), None, "{junk}");
        }
    }

    #[test]
    fn logout_reaches_every_tab_once() {
        let mut w = World::new(3, true);
        w.tabs[1].s.logout();
        w.drain(1);
        w.quiesce();
        for t in &w.tabs {
            assert!(!t.s.is_authenticated());
            assert_eq!(t.expired, 1);
        }
        assert_eq!(w.storage, None);
    }

    proptest! {
        /// Whatever the interleaving of N tabs (messages late, calls at any time, refreshes
        /// interleaved with other tabs' messages): with locks, a rotated refresh token is never
        /// presented twice and no tab ends its session; every tab ends with the same tokens;
        /// nobody fires `session-expired` more than once.
        #[test]
        fn with_locks_no_reuse_and_no_logout(n in 2usize..6, script in proptest::collection::vec((0usize..6, 0u8..3), 0..200)) {
            let mut w = World::new(n, true);
            for (i, what) in script {
                w.step(i % n, what);
            }
            w.quiesce();
            prop_assert_eq!(w.server.reuse, 0);
            prop_assert!(w.server.grants >= 1 || w.tabs.iter().all(|t| t.flight.is_none()));
            let first = w.tabs[0].s.tokens().map(|t| t.access.clone());
            for t in &w.tabs {
                prop_assert!(t.s.is_authenticated());
                prop_assert_eq!(t.expired, 0);
                prop_assert_eq!(t.s.tokens().map(|t| t.access.clone()), first.clone());
            }
        }

        /// Without locks reuse can happen (that is what locks are for), but the session still
        /// ends at most once per tab, and no tab is left holding tokens that differ from storage
        /// while claiming to be logged in after the grant was revoked.
        #[test]
        fn without_locks_each_tab_ends_at_most_once(n in 2usize..5, script in proptest::collection::vec((0usize..5, 0u8..3), 0..200)) {
            let mut w = World::new(n, false);
            for (i, what) in script {
                w.step(i % n, what);
            }
            w.quiesce();
            for t in &w.tabs {
                prop_assert!(t.expired <= 1);
            }
        }
    }
}
