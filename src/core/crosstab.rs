//! The cross-tab protocol, as values: what a tab publishes and what it does with what it reads.
//!
//! Tabs of one origin that keep the session in local storage (`storage: "local"`, `crossTab`)
//! share it. The driver carries three things between them and decides none of them:
//! - a lock (Web Locks) around every refresh attempt, so one tab refreshes and the others wait;
//! - storage, read after taking the lock and handed to [`Session::before_attempt`](super::session::Session::before_attempt) as
//!   [`Shared`](super::session::Shared): a newer token set written by another tab is adopted
//!   instead of refreshing (with rotating refresh tokens ours may already be spent), a shared
//!   cool-down is honoured instead of sending;
//! - a channel (BroadcastChannel) carrying [`PeerMessage`]s, which the session queues as
//!   [`Event::Post`](super::session::Event::Post) and reads with [`Session::handle_peer`](super::session::Session::handle_peer).
//!
//! The rules that make this safe live in [`Session`](super::session::Session): refreshed tokens never revive a tab that
//! logged out (a login does); an end caused by a terminal refresh answer names the refresh
//! token it was about (a tag, not the token), so a tab that already holds newer tokens ignores
//! it; before a terminal answer ends the session, storage is read once more (after a grace
//! period when there are no locks) and newer tokens are adopted instead.
//!
//! The record travels inside the message because another process's view of local storage can
//! lag behind the message.
//!
//! **The lock covers its work.** A tab waits [`LOCK_TIMEOUT_MS`] for the lock, then steals it (a
//! frozen tab must not stall the others). So nothing may run under the lock longer than that, or
//! a second tab would spend the same (rotating) refresh token: the holder does one attempt, one
//! request bounded by [`ATTEMPT_TIMEOUT_MS`] (a DPoP nonce resend included); the endpoints are
//! discovered before the lock is taken. The margin is for what else runs under it (reading
//! storage, signing DPoP proofs, the answer's verdict, a background tab's throttled timers).

use super::end::EndReason;
use super::read::Fields;
use super::time::Time;
use super::token::Record;
use alloc::string::String;
use serde::Serialize;

pub use super::own::ATTEMPT_TIMEOUT_MS;
/// What a holder of the lock may spend beyond its one request.
pub const LOCK_MARGIN_MS: f64 = 5_000.0;
/// How long a tab waits for the lock before stealing it.
pub const LOCK_TIMEOUT_MS: f64 = 35_000.0;

/// The rule: does the wait for the lock outlast a holder that makes `requests` requests (each
/// bounded by [`ATTEMPT_TIMEOUT_MS`]) and spends the margin?
pub const fn lock_covers(requests: f64) -> bool {
    LOCK_TIMEOUT_MS >= requests * ATTEMPT_TIMEOUT_MS + LOCK_MARGIN_MS
}
// checked by the compiler: the one request a holder makes (changing a bound alone fails here)
const _: () = assert!(lock_covers(1.0));

#[derive(Debug, Clone, PartialEq)]
pub enum PeerMessage {
    /// New tokens: `login` for a `setTokens`, else a refresh.
    Tokens { rec: Record, login: bool },
    /// The session ended there. `tag`: fingerprint of the refresh token it ended with.
    End { reason: EndReason, tag: Option<u32> },
}

/// A [`PeerMessage`] as it travels: one flat object (`{ t: "tokens", rec, login }` or
/// `{ t: "end", reason, tag }`), read back by [`PeerMessage::read`]. The host tests write it
/// with serde; the browser layer writes the same shape with its one output writer
/// (`web::write::message`), and a browser test pins that the two sides agree.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Wire<'a> {
    pub t: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rec: Option<&'a Record>,
    #[serde(skip_serializing_if = "core::ops::Not::not")]
    pub login: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tag: Option<u32>,
}

impl<'a> From<&'a PeerMessage> for Wire<'a> {
    fn from(m: &'a PeerMessage) -> Wire<'a> {
        match m {
            PeerMessage::Tokens { rec, login } => Wire { t: "tokens", rec: Some(rec), login: *login, reason: None, tag: None },
            PeerMessage::End { reason, tag } => Wire { t: "end", rec: None, login: false, reason: Some(reason.as_str()), tag: *tag },
        }
    }
}

impl PeerMessage {
    /// A message as another tab posted it ([`Wire`]); `None` for anything else on the channel.
    pub fn read<O: Fields>(o: &O) -> Option<PeerMessage> {
        match o.field("t").text()?.as_str() {
            "tokens" => {
                Some(PeerMessage::Tokens { rec: Record::read(&o.field("rec").object()?)?, login: o.field("login").flag().unwrap_or(false) })
            }
            "end" => {
                let tag = o.field("tag");
                let tag = if tag.is_absent() {
                    None
                } else {
                    Some(tag.number().filter(|n| n.fract() == 0.0 && (0.0..=f64::from(u32::MAX)).contains(n))? as u32)
                };
                Some(PeerMessage::End { reason: EndReason::parse(&o.field("reason").text()?)?, tag })
            }
            _ => None,
        }
    }
}

/// Where tabs without `BroadcastChannel` post their messages: a local-storage key next to the
/// record. The message is written there and removed at once; the other tabs' `storage` event
/// carries it (a write that changes nothing fires no event, hence the removal).
pub fn message_key(storage_key: &str) -> String {
    [storage_key, ":msg"].concat()
}

/// What a `storage` event means, on a tab without `BroadcastChannel`. Only a write of the
/// [`message_key`] carries a message, the same [`Wire`] as the channel's, so the same rules
/// apply (the tag of a terminal end, no revival by a refresh). Writes and removals of the record
/// itself mean nothing here: a removal does not say why (a logout, a refused refresh token, or
/// a session replaced), and a write does not say whether it was a login or a refresh.
/// `new_value`: the event's `newValue`, parsed (`None`: removed, or not JSON).
pub fn storage_event<O: Fields>(storage_key: &str, key: Option<&str>, new_value: Option<&O>) -> Option<PeerMessage> {
    let key = key?;
    if key.len() != storage_key.len() + 4 || !key.starts_with(storage_key) || !key.ends_with(":msg") {
        return None;
    }
    PeerMessage::read(new_value?)
}

/// What the last holder of the cross-tab lock left for the next one, in the name of a Web Lock
/// it holds for [`HANDOVER_HOLD_MS`]. Local storage cannot say it in order: Chromium keeps a
/// copy of it per tab process and updates the others asynchronously, with no order against
/// Web Locks, so the next holder may read it before the previous holder's write arrives. A
/// lock taken before the refresh lock is released, and listed (`navigator.locks.query()`) after
/// it is granted, is ordered by the browser's one lock manager: the next holder knows what the
/// last one did, and waits for the tokens themselves ([`HANDOVER_WAIT_MS`]) instead of spending
/// a refresh token that was already rotated, and honours the cool-down without a request.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Handover {
    /// Orders the hand-overs of one lock: each holder writes one more than the newest it saw.
    pub seq: u32,
    /// The cool-down the holder's attempt left (epoch ms).
    pub cooldown_until: Option<Time>,
    /// The fingerprint ([`fingerprint`](super::token::fingerprint)) of the access token the holder's attempt left.
    pub tokens: Option<u32>,
}

/// How long a holder keeps its hand-over lock: far longer than local storage takes to reach
/// the other tab processes (milliseconds), after which storage says the same.
pub const HANDOVER_HOLD_MS: f64 = 10_000.0;
/// How long a tab whose stored view lags the hand-over waits for the tokens it names (the
/// message or the storage event that carries them); then it tries again, once, from storage.
pub const HANDOVER_WAIT_MS: f64 = 2_000.0;

impl Handover {
    /// The hand-over of a holder that saw `newest` and whose attempt left these.
    pub fn after(newest: Option<&Handover>, cooldown_until: Option<Time>, tokens: Option<u32>) -> Handover {
        Handover { seq: newest.map_or(0, |h| h.seq.wrapping_add(1)), cooldown_until, tokens }
    }

    /// The lock name that carries it: `<lock>#<seq>.<until>.<tokens>`, numbers in hex.
    pub fn lock_name(&self, lock: &str) -> String {
        let mut s = alloc::vec::Vec::from(lock.as_bytes());
        s.push(b'#');
        push_hex(&mut s, Some(u64::from(self.seq)));
        s.push(b'.');
        push_hex(&mut s, self.cooldown_until.filter(|u| u.ms() >= 0.0 && u.ms() < 9.0e15).map(|u| u.ms() as u64));
        s.push(b'.');
        push_hex(&mut s, self.tokens.map(u64::from));
        String::from_utf8(s).unwrap_or_default()
    }

    /// The newest hand-over of `lock` among the names of held locks (anything else ignored).
    pub fn newest<'a>(lock: &str, names: impl IntoIterator<Item = &'a str>) -> Option<Handover> {
        names.into_iter().filter_map(|n| Handover::parse(lock.as_bytes(), n.as_bytes())).max_by_key(|h| h.seq)
    }

    // over bytes: `str` patterns are searcher code the module does not need
    fn parse(lock: &[u8], name: &[u8]) -> Option<Handover> {
        let rest = name.strip_prefix(lock)?.strip_prefix(b"#")?;
        let mut parts = rest.split(|b| *b == b'.');
        let seq = u32::try_from(hex(parts.next()?)?).ok()?;
        let until = parts.next()?;
        let tokens = parts.next()?;
        if parts.next().is_some() {
            return None;
        }
        let cooldown_until = if until.is_empty() { None } else { Some(Time::from_ms(hex(until)? as f64)) };
        let tokens = if tokens.is_empty() { None } else { Some(u32::try_from(hex(tokens)?).ok()?) };
        Some(Handover { seq, cooldown_until, tokens })
    }
}

/// `n` in lower-case hex (nothing for `None`).
fn push_hex(s: &mut alloc::vec::Vec<u8>, n: Option<u64>) {
    let Some(n) = n else { return };
    let len = s.len();
    let mut n = n;
    loop {
        s.insert(len, b"0123456789abcdef"[(n & 15) as usize]);
        n >>= 4;
        if n == 0 {
            break;
        }
    }
}

fn hex(s: &[u8]) -> Option<u64> {
    if s.is_empty() || s.len() > 16 {
        return None;
    }
    s.iter().try_fold(0u64, |n, b| {
        let d = match b {
            b'0'..=b'9' => b - b'0',
            b'a'..=b'f' => b - b'a' + 10,
            _ => return None,
        };
        Some(n * 16 + u64::from(d))
    })
}

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    //! N tabs over a shared fake storage, channel and lock, against a token endpoint that rotates
    //! refresh tokens and treats reuse of a rotated one as theft (revoking the grant), as
    //! oidc-provider and Cognito with rotation do.
    use super::*;

    #[test]
    fn a_handover_is_carried_in_a_lock_name_and_the_newest_is_read_back() {
        let h = Handover { seq: 41, cooldown_until: Some(Time::from_ms(1_765_000_000_123.0)), tokens: Some(0xdead_beef) };
        let name = h.lock_name("sessionguard:s");
        assert_eq!(name, "sessionguard:s#29.19af232b27b.deadbeef");
        let bare = Handover { seq: 0, cooldown_until: None, tokens: None };
        assert_eq!(bare.lock_name("sessionguard:s"), "sessionguard:s#0..");
        let names = [
            name.as_str(),
            "sessionguard:s#0..",
            "sessionguard:s",             // the refresh lock itself
            "sessionguard:other#ff..",    // another session's
            "sessionguard:s#zz..",        // not ours
            "sessionguard:s#1.2",         // not ours
            "sessionguard:s#100000000..", // seq beyond u32
        ];
        assert_eq!(Handover::newest("sessionguard:s", names), Some(h));
        assert_eq!(Handover::newest("sessionguard:s", ["sessionguard:s#0.."]), Some(bare));
        assert_eq!(Handover::newest("sessionguard:s", ["x", "sessionguard:s"]), None);
        assert_eq!(Handover::after(Some(&h), None, None).seq, 42);
        assert_eq!(Handover::after(None, None, None).seq, 0);
    }

    #[test]
    fn a_handover_names_only_numbers_it_can_carry_and_reads_only_its_own_spelling() {
        // a cool-down that is no instant sessionguard writes is left out, not wrapped
        for junk in [-5.0, 9.0e15, f64::INFINITY, f64::NAN] {
            let h = Handover { seq: 1, cooldown_until: Some(Time::from_ms(junk)), tokens: None };
            assert_eq!(h.lock_name("l"), "l#1..", "{junk}");
        }
        let read = |name: &str| Handover::newest("l", [name]);
        assert_eq!(read("l#.."), None, "no sequence number");
        assert_eq!(
            read("l#1.ffffffffffffffff."),
            Some(Handover { seq: 1, cooldown_until: Some(Time::from_ms(u64::MAX as f64)), tokens: None })
        );
        assert_eq!(read("l#1.1ffffffffffffffff."), None, "17 hex digits are no number it writes");
        assert_eq!(read("l#1..A"), None, "upper case is not what it writes");
    }
    use crate::core::read::tests::json;
    use crate::core::refresh_answer::RefreshVerdict;
    use crate::core::session::{Access, BeforeAttempt, Config, Event, FlightId, RefreshNext, Session, Shared};
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

    /// How tabs hear each other: a `BroadcastChannel`, or `storage` events where there is none.
    #[derive(Clone, Copy, Debug, PartialEq)]
    enum Transport {
        Channel,
        StorageEvents,
    }

    const KEY: &str = "sessionguard";

    struct World {
        transport: Transport,
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
            World::over(n, locks, Transport::Channel)
        }

        fn over(n: usize, locks: bool, transport: Transport) -> World {
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
                transport,
                tabs,
                storage: Some(rec),
                cooldown: None,
                lock: None,
                server: Server { current_rt: "R0".into(), next: 0, revoked: false, grants: 0, reuse: 0 },
                now: Time::from_ms(1.0),
            }
        }

        /// A `storage` event of tab `i`'s write (`value` `None`: a removal) reaches the others,
        /// read as the browser layer reads it.
        fn storage_write(&mut self, i: usize, key: &str, value: Option<String>) {
            if self.transport != Transport::StorageEvents {
                return;
            }
            let parsed = value.as_deref().and_then(json);
            if let Some(m) = storage_event(KEY, Some(key), parsed.as_ref()) {
                self.deliver(i, m);
            }
        }

        fn deliver(&mut self, from: usize, m: PeerMessage) {
            for (j, t) in self.tabs.iter_mut().enumerate() {
                if j != from {
                    t.inbox.push_back(m.clone());
                }
            }
        }

        /// Carries out tab `i`'s side effects: storage, channel.
        fn drain(&mut self, i: usize) {
            while let Some(ev) = self.tabs[i].s.poll_event() {
                match ev {
                    Event::Store(rec) => {
                        self.storage_write(i, KEY, Some(serde_json::to_string(&rec).unwrap()));
                        self.storage = Some(rec);
                    }
                    Event::Clear => {
                        self.storage_write(i, KEY, None);
                        self.storage = None;
                        self.cooldown = None;
                    }
                    Event::StoreCooldown(u) => self.cooldown = Some(u),
                    Event::Post(m) => match self.transport {
                        Transport::Channel => self.deliver(i, m),
                        Transport::StorageEvents => {
                            let text = serde_json::to_string(&Wire::from(&m)).unwrap();
                            self.storage_write(i, &message_key(KEY), Some(text));
                            self.storage_write(i, &message_key(KEY), None);
                        }
                    },
                    Event::SessionExpired { .. } => self.tabs[i].expired += 1,
                    Event::FlightOver(_) | Event::TokenRefreshed { .. } | Event::Warn(_) | Event::KeepInMemory => {}
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
            let shared =
                Shared { tokens: self.storage.as_ref().and_then(TokenSet::from_record), cooldown_until: self.cooldown, handover: None };
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
    fn a_waiting_tab_steals_the_lock_only_after_the_holders_one_bounded_request() {
        assert!(lock_covers(1.0), "one request and the margin fit in the wait for the lock");
        // discovery then the refresh under the lock (two requests) did not: the thief spent the
        // holder's refresh token a second time
        assert!(!lock_covers(2.0));
        // the margin counts: a request of 31 s would leave less than the 5 s margin
        assert!(!lock_covers(31.0 / 30.0));
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
            assert_eq!(PeerMessage::read(&json(&text).unwrap()), Some(m));
        }
        for junk in [
            "{}",
            r#"{"t":"end","reason":"bogus"}"#,
            r#"{"t":"end","reason":"logout","tag":1.5}"#,
            r#"{"t":"tokens"}"#,
            r#"{"t":"tokens","rec":{"v":1}}"#,
            r#"{"t":"x"}"#,
        ] {
            assert_eq!(PeerMessage::read(&json(junk).unwrap()), None, "{junk}");
        }
    }

    #[test]
    fn storage_events_carry_only_messages() {
        let end = r#"{"t":"end","reason":"refresh-rejected","tag":7}"#;
        let rec = r#"{"v":1,"a":"A","t":1}"#;
        let at = |key: Option<&str>, v: Option<&str>| storage_event(KEY, key, v.and_then(json).as_ref());
        assert_eq!(at(Some("sessionguard:msg"), Some(end)), Some(PeerMessage::End { reason: EndReason::RefreshRejected, tag: Some(7) }));
        assert_eq!(at(Some("sessionguard:msg"), None), None, "the message's own removal");
        assert_eq!(at(Some("sessionguard"), Some(rec)), None, "a record write says neither login nor refresh");
        assert_eq!(at(Some("sessionguard"), None), None, "a removal says not why");
        assert_eq!(at(Some("other:msg"), Some(end)), None);
        assert_eq!(at(Some("sessionguard:cooldown"), Some("5")), None);
        assert_eq!(at(None, None), None, "storage.clear()");
    }

    #[test]
    fn another_apps_storage_key_is_not_a_peer_message_even_of_the_same_length() {
        let end = r#"{"t":"end","reason":"logout"}"#;
        let at = |key: &str| storage_event(KEY, Some(key), json(end).as_ref());
        assert_eq!(at("sessionguard:msg"), Some(PeerMessage::End { reason: EndReason::Logout, tag: None }));
        assert_eq!("appsessions1:msg".len(), "sessionguard:msg".len());
        assert_eq!(at("appsessions1:msg"), None, "another app's key of the same length");
        assert_eq!(at("sessionguardXmsg"), None, "ours, without the separator");
        assert_eq!(at("sessionguard:abc"), None, "ours, another suffix of the same length");
        assert_eq!(at("sessionguard:x:msg"), None, "the message key of a manager keyed `sessionguard:x`");
        assert_eq!(at("sg:msg"), None);
        assert_eq!(at(":msg"), None);
        // a manager keyed `sessionguard:x` hears its own and not ours
        let end = json(end);
        assert!(storage_event("sessionguard:x", Some("sessionguard:x:msg"), end.as_ref()).is_some());
        assert_eq!(storage_event("sessionguard:x", Some("sessionguard:msg"), end.as_ref()), None);
    }

    #[test]
    fn storage_events_obey_the_tag_and_never_revive_a_logged_out_tab() {
        let mut w = World::over(2, false, Transport::StorageEvents);
        // tab 0 logs out; tab 1 hears it
        w.tabs[0].s.logout();
        w.drain(0);
        w.quiesce();
        assert!(!w.tabs[1].s.is_authenticated());
        // a tab that still refreshes an old session (its record write) revives nobody
        let mut w = World::over(2, false, Transport::StorageEvents);
        w.tabs[1].s.handle_peer(PeerMessage::End { reason: EndReason::Logout, tag: None });
        let _ = w.tabs[1].s.poll_event();
        w.step(0, 1);
        w.quiesce();
        assert!(w.tabs[0].s.is_authenticated());
        assert!(!w.tabs[1].s.is_authenticated(), "a refresh elsewhere does not revive a logged-out tab");
        // a terminal end about a refresh token no longer held is ignored
        let mut w = World::over(2, true, Transport::StorageEvents);
        w.tabs[1]
            .s
            .set_tokens(
                &crate::core::token::TokenInput {
                    access_token: Some("B".into()),
                    refresh_token: Some("R-new".into()),
                    ..Default::default()
                },
                None,
                w.now,
            )
            .unwrap();
        w.drain(1);
        w.quiesce();
        let stale = PeerMessage::End { reason: EndReason::RefreshRejected, tag: Some(crate::core::token::fingerprint("R-old")) };
        let text = serde_json::to_string(&Wire::from(&stale)).unwrap();
        w.storage_write(0, &message_key(KEY), Some(text));
        w.quiesce();
        assert!(w.tabs[1].s.is_authenticated());
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
        fn with_locks_no_reuse_and_no_logout(n in 2usize..6, script in proptest::collection::vec((0usize..6, 0u8..3), 0..200), storage_events in any::<bool>()) {
            let mut w = World::over(n, true, if storage_events { Transport::StorageEvents } else { Transport::Channel });
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
        fn without_locks_each_tab_ends_at_most_once(n in 2usize..5, script in proptest::collection::vec((0usize..5, 0u8..3), 0..200), storage_events in any::<bool>()) {
            let mut w = World::over(n, false, if storage_events { Transport::StorageEvents } else { Transport::Channel });
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
