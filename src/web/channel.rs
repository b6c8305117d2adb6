//! The cross-tab channel: a `BroadcastChannel` named after the storage key, or, where there is
//! none, local storage itself: a message is written under the core's
//! [`message_key`](crate::core::crosstab::message_key) and removed at once, and the other tabs'
//! `storage` events carry it. Either way only [`PeerMessage`]s travel, and what an event means
//! is the core's rule ([`crosstab::storage_event`]); this module moves them.
//!
//! Closed on `Drop`: the listener is removed (and the channel closed) before its closure is
//! freed, so a manager that is freed without `dispose()` leaves no
//! handler behind that would throw on the next message.

use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use web_sys::BroadcastChannel;

use super::js::{self, Target};
use super::read;
use super::write;
use crate::core::crosstab::{self, PeerMessage};

/// One listener for either transport: `message` on the channel, or `storage` on the window.
pub struct Channel {
    bc: Option<BroadcastChannel>,
    target: Target,
    kind: &'static str,
    key: String,
    /// (`-> JsValue`: the closure type of axios's interceptors, one set of shims for both)
    listener: Closure<dyn FnMut(JsValue) -> JsValue>,
}

/// What posts a message: cloned out of the channel, so that posting runs with nothing borrowed.
pub enum Poster {
    Broadcast(BroadcastChannel),
    Storage(String),
}

impl Channel {
    /// Listens for messages of other tabs; `deliver` is called with each one that parses.
    pub fn open(storage_key: &str, deliver: impl Fn(PeerMessage) + 'static) -> Option<Channel> {
        let bc = match js::global_get("BroadcastChannel").is_function() {
            true => Some(BroadcastChannel::new(&["sessionguard:", storage_key].concat()).ok()?),
            false => None,
        };
        let (target, kind): (Target, _) = match &bc {
            Some(bc) => (bc.clone().unchecked_into(), "message"),
            // `storage` events fire on the window (`globalThis` where there is local storage)
            None => (js::global().unchecked_into(), "storage"),
        };
        let key = storage_key.to_string();
        let (ours, broadcast) = (key.clone(), bc.is_some());
        let listener = Closure::<dyn FnMut(JsValue) -> JsValue>::new(move |ev: JsValue| {
            let m = if broadcast {
                read::object(&js::get(&ev, "data")).and_then(|o| PeerMessage::read(&o))
            } else {
                let value = js::get_str(&ev, "newValue").and_then(|v| read::json(&v));
                crosstab::storage_event(&ours, js::get_str(&ev, "key").as_deref(), value.as_ref())
            };
            if let Some(m) = m {
                deliver(m);
            }
            JsValue::UNDEFINED
        });
        target.listen(kind, listener.as_ref(), &JsValue::UNDEFINED).ok()?;
        Some(Channel { bc, target, kind, key, listener })
    }

    pub fn poster(&self) -> Poster {
        match &self.bc {
            Some(bc) => Poster::Broadcast(bc.clone()),
            None => Poster::Storage(crosstab::message_key(&self.key)),
        }
    }
}

impl Poster {
    pub fn post(&self, msg: &PeerMessage) {
        let v = write::message(msg);
        match self {
            Poster::Broadcast(bc) => {
                let _ = bc.post_message(&v);
            }
            Poster::Storage(key) => {
                let storage = web_sys::window().and_then(|w| w.local_storage().ok().flatten());
                let text = js_sys::JSON::stringify(&v).ok().and_then(|s| s.as_string());
                if let (Some(s), Some(text)) = (storage, text) {
                    // written and removed: every message is a change, so every one fires
                    let _ = s.set_item(key, &text);
                    let _ = s.remove_item(key);
                }
            }
        }
    }
}

impl Drop for Channel {
    fn drop(&mut self) {
        let _ = self.target.unlisten(self.kind, self.listener.as_ref(), &JsValue::UNDEFINED);
        if let Some(bc) = &self.bc {
            bc.close();
        }
    }
}
