//! Across tabs (SPEC rule 11), with `storage: "local"` and `crossTab`.
//!
//! - **One refresh for all tabs.** Each refresh attempt runs under the Web Lock
//!   `sessionguard:<storageKey>` (see `Inner::refresh_step`). Inside the lock, the tab reads the
//!   stored token set again: if another tab has refreshed in the meantime, it takes those tokens
//!   and does not refresh. The new tokens are stored before the lock is released, so a
//!   rotating refresh token is never presented twice. A lock that is not granted within 35 s
//!   (longer than one attempt's 30 s timeout) is stolen. A tab that closes releases its locks
//!   at once. Without Web Locks, each tab refreshes on its own, and the re-read after a
//!   terminal answer (below) keeps rotation safe.
//! - **Shared results.** After storing tokens or ending a session, the tab posts on the
//!   `BroadcastChannel` `sessionguard:<storageKey>`. Other tabs read storage and take the
//!   tokens, or end their own session with the same reason, each firing its own event once.
//!   Where `BroadcastChannel` is missing, the `storage` event carries the same news. Messages
//!   carry no tokens.
//! - **Adopt before giving up.** A terminal refresh answer first re-reads storage. A newer token
//!   set written by another tab is taken instead of ending the session.
//! - **Throttling shared.** A refresh cool-down is stored beside the tokens
//!   (`<storageKey>:cooldown`). Other tabs honour it without calling the token endpoint.

use std::rc::Weak;

use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;

use super::inner::Inner;
use super::js::{get, get_string, object};

pub struct Channel {
    chan: Option<web_sys::BroadcastChannel>,
    _listener: Closure<dyn FnMut(JsValue)>,
    storage_target: Option<web_sys::EventTarget>,
}

impl Channel {
    pub fn open(inner: Weak<Inner>, key: &str) -> Option<Channel> {
        let name = ["sessionguard:", key].concat();
        if let Ok(chan) = web_sys::BroadcastChannel::new(&name) {
            let listener = Closure::<dyn FnMut(JsValue)>::new(move |ev: JsValue| {
                if let Some(inner) = inner.upgrade() {
                    inner.on_remote(&get(&ev, "data"));
                }
            });
            chan.set_onmessage(Some(listener.as_ref().unchecked_ref()));
            return Some(Channel { chan: Some(chan), _listener: listener, storage_target: None });
        }
        // Fallback: the `storage` event (fired in the other tabs of the origin).
        let target: web_sys::EventTarget = js_sys::global().dyn_into().ok()?;
        let key = key.to_string();
        let listener = Closure::<dyn FnMut(JsValue)>::new(move |ev: JsValue| {
            if get_string(&ev, "key").as_deref() != Some(key.as_str()) {
                return;
            }
            if let Some(inner) = inner.upgrade() {
                let msg = if get(&ev, "newValue").is_null() {
                    object(&[("t", "end".into()), ("r", "logout".into())])
                } else {
                    object(&[("t", "tokens".into()), ("login", true.into())])
                };
                inner.on_remote(&msg);
            }
        });
        target.add_event_listener_with_callback("storage", listener.as_ref().unchecked_ref()).ok()?;
        Some(Channel { chan: None, _listener: listener, storage_target: Some(target) })
    }

    /// New tokens were stored. The record travels with the message: another tab's view of
    /// localStorage may lag behind the message (tabs in other renderer processes).
    /// `login`: from `setTokens` (a new session), not a refresh.
    pub fn post_tokens(&self, record: &str, login: bool) {
        if let Some(c) = &self.chan {
            let _ = c.post_message(&object(&[("t", "tokens".into()), ("rec", record.into()), ("login", login.into())]));
        }
    }

    /// The session ended here. `session` tags the refresh token it ended with, so that a tab
    /// already holding newer tokens ignores a terminal answer that was about older ones.
    pub fn post_end(&self, reason: &str, session: Option<u32>) {
        if let Some(c) = &self.chan {
            let tag = session.map_or(JsValue::NULL, |f| JsValue::from_f64(f64::from(f)));
            let _ = c.post_message(&object(&[("t", "end".into()), ("r", reason.into()), ("f", tag)]));
        }
    }

    pub fn close(&self) {
        if let Some(c) = &self.chan {
            c.set_onmessage(None);
            c.close();
        }
        if let Some(t) = &self.storage_target {
            let _ = t.remove_event_listener_with_callback("storage", self._listener.as_ref().unchecked_ref());
        }
    }
}
