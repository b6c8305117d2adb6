//! The cross-tab channel: a `BroadcastChannel` named after the storage key, or the `storage`
//! event where there is none. It only carries [`PeerMessage`]s; what they mean is decided by
//! the core ([`crate::core::crosstab`]).

use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use web_sys::{BroadcastChannel, MessageEvent, StorageEvent};

use super::js;
use crate::core::crosstab::{PeerMessage, Wire};
use crate::core::session::EndReason;
use crate::core::token::Record;

pub struct Channel {
    bc: Option<BroadcastChannel>,
    storage_listener: Option<Closure<dyn FnMut(StorageEvent)>>,
    _on_message: Option<Closure<dyn FnMut(MessageEvent)>>,
}

impl Channel {
    /// Listens for messages of other tabs; `deliver` is called with each one that parses.
    pub fn open(storage_key: &str, deliver: impl Fn(PeerMessage) + 'static) -> Option<Channel> {
        let has_bc = js::global_get("BroadcastChannel").is_function();
        if has_bc {
            let bc = BroadcastChannel::new(&["sessionguard:", storage_key].concat()).ok()?;
            let on = Closure::<dyn FnMut(MessageEvent)>::new(move |ev: MessageEvent| {
                if let Some(m) = serde_wasm_bindgen::from_value::<Wire>(ev.data()).ok().and_then(Wire::message) {
                    deliver(m);
                }
            });
            bc.set_onmessage(Some(on.as_ref().unchecked_ref()));
            return Some(Channel { bc: Some(bc), storage_listener: None, _on_message: Some(on) });
        }
        // No BroadcastChannel: the storage event carries new records and removals.
        let key = storage_key.to_string();
        let window = web_sys::window()?;
        let on = Closure::<dyn FnMut(StorageEvent)>::new(move |ev: StorageEvent| {
            if ev.key().as_deref() != Some(key.as_str()) {
                return;
            }
            match ev.new_value() {
                None => deliver(PeerMessage::End { reason: EndReason::Logout, tag: None }),
                Some(text) => {
                    let rec = js_sys::JSON::parse(&text).ok().and_then(|v| serde_wasm_bindgen::from_value::<Record>(v).ok());
                    if let Some(rec) = rec {
                        deliver(PeerMessage::Tokens { rec, login: true });
                    }
                }
            }
        });
        window.add_event_listener_with_callback("storage", on.as_ref().unchecked_ref()).ok()?;
        Some(Channel { bc: None, storage_listener: Some(on), _on_message: None })
    }

    /// The channel's handle, to post on with no borrow of the driver held.
    pub fn handle(&self) -> Option<BroadcastChannel> {
        self.bc.clone()
    }

    pub fn post_on(bc: &BroadcastChannel, msg: &PeerMessage) {
        if let Ok(v) = serde_wasm_bindgen::to_value(&Wire::from(msg)) {
            let _ = bc.post_message(&v);
        }
    }

    pub fn close(&mut self) {
        if let Some(bc) = self.bc.take() {
            bc.set_onmessage(None);
            bc.close();
        }
        if let (Some(on), Some(w)) = (self.storage_listener.take(), web_sys::window()) {
            let _ = w.remove_event_listener_with_callback("storage", on.as_ref().unchecked_ref());
        }
    }
}
