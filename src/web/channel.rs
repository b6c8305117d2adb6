//! The cross-tab channel: a `BroadcastChannel` named after the storage key, or, where there is
//! none, local storage itself: a message is written under the core's
//! [`message_key`](crate::core::crosstab::message_key) and removed at once, and the other tabs'
//! `storage` events carry it. Either way only [`PeerMessage`]s travel, and what an event means
//! is the core's rule ([`crosstab::storage_event`]); this module moves them.
//!
//! Closed on `Drop`: the `onmessage` handler is cleared and the `storage` listener removed
//! before their closures are freed, so a manager that is freed without `dispose()` leaves no
//! handler behind that would throw on the next message.

use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use web_sys::{BroadcastChannel, MessageEvent, StorageEvent, Window};

use super::js::{self, Target};
use super::read;
use super::write;
use crate::core::crosstab::{self, PeerMessage};

enum Transport {
    Broadcast { bc: BroadcastChannel, _on_message: Closure<dyn FnMut(MessageEvent)> },
    Storage { window: Window, key: String, listener: Closure<dyn FnMut(StorageEvent)> },
}

pub struct Channel {
    transport: Transport,
}

/// What posts a message: cloned out of the channel, so that posting runs with nothing borrowed.
pub enum Poster {
    Broadcast(BroadcastChannel),
    Storage(String),
}

impl Channel {
    /// Listens for messages of other tabs; `deliver` is called with each one that parses.
    pub fn open(storage_key: &str, deliver: impl Fn(PeerMessage) + 'static) -> Option<Channel> {
        if js::global_get("BroadcastChannel").is_function() {
            let bc = BroadcastChannel::new(&["sessionguard:", storage_key].concat()).ok()?;
            let on = Closure::<dyn FnMut(MessageEvent)>::new(move |ev: MessageEvent| {
                if let Some(m) = read::object(&ev.data()).and_then(|o| PeerMessage::read(&o)) {
                    deliver(m);
                }
            });
            bc.set_onmessage(Some(on.as_ref().unchecked_ref()));
            return Some(Channel { transport: Transport::Broadcast { bc, _on_message: on } });
        }
        let window = web_sys::window()?;
        let key = storage_key.to_string();
        let ours = key.clone();
        let listener = Closure::<dyn FnMut(StorageEvent)>::new(move |ev: StorageEvent| {
            let value = js::get_str(&ev, "newValue").and_then(|v| read::json(&v));
            if let Some(m) = crosstab::storage_event(&ours, js::get_str(&ev, "key").as_deref(), value.as_ref()) {
                deliver(m);
            }
        });
        window.unchecked_ref::<Target>().listen("storage", listener.as_ref(), &JsValue::UNDEFINED).ok()?;
        Some(Channel { transport: Transport::Storage { window, key, listener } })
    }

    pub fn poster(&self) -> Poster {
        match &self.transport {
            Transport::Broadcast { bc, .. } => Poster::Broadcast(bc.clone()),
            Transport::Storage { key, .. } => Poster::Storage(crosstab::message_key(key)),
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
        match &self.transport {
            Transport::Broadcast { bc, .. } => {
                bc.set_onmessage(None);
                bc.close();
            }
            Transport::Storage { window, listener, .. } => {
                let _ = window.unchecked_ref::<Target>().unlisten("storage", listener.as_ref(), &JsValue::UNDEFINED);
            }
        }
    }
}
