//! Where the token set lives between page loads: memory, `sessionStorage` or `localStorage`.
//!
//! Browsers refuse storage in many ways: sandboxed iframes and blocked cookies throw on
//! *access* to `window.localStorage`, Safari's old private mode throws on write, quotas fill up.
//! The store is probed once; on any failure it falls back to memory and warns once. Records are
//! read through the core's parser, so foreign or corrupt data under the key is ignored.
//!
//! (gloo-storage is not used: its `raw()` throws when storage is unavailable and its values go
//! through serde_json, which we otherwise avoid for size.)

use std::cell::{Cell, RefCell};

use super::options::StorageKind;
use crate::core::token::TokenSet;

pub struct Store {
    web: RefCell<Option<web_sys::Storage>>,
    key: String,
    warned: Cell<bool>,
}

fn warn(msg: &str) {
    web_sys::console::warn_1(&msg.into());
}

impl Store {
    pub fn open(kind: StorageKind, key: &str) -> Store {
        let store = Store { web: RefCell::new(None), key: key.into(), warned: Cell::new(false) };
        if kind == StorageKind::Memory {
            return store;
        }
        let name = if kind == StorageKind::Local { "localStorage" } else { "sessionStorage" };
        let got = js_sys::Reflect::get(&js_sys::global(), &name.into()).ok().and_then(|s| wasm_bindgen::JsCast::dyn_into::<web_sys::Storage>(s).ok());
        let probe = "__sessionguard_probe__";
        match got {
            Some(s) if s.set_item(probe, "1").is_ok() && s.remove_item(probe).is_ok() => *store.web.borrow_mut() = Some(s),
            _ => store.fall_back(&["sessionguard: ", name, " is unavailable; keeping the session in memory only"].concat()),
        }
        store
    }

    fn fall_back(&self, msg: &str) {
        *self.web.borrow_mut() = None;
        if !self.warned.replace(true) {
            warn(msg);
        }
    }

    pub fn is_persistent(&self) -> bool {
        self.web.borrow().is_some()
    }

    pub fn read(&self) -> Option<TokenSet> {
        let web = self.web.borrow().clone()?;
        let text = web.get_item(&self.key).ok()??;
        TokenSet::from_record(&text)
    }

    /// Writes a record made by `TokenSet::to_record`.
    pub fn write_record(&self, record: &str) {
        let Some(web) = self.web.borrow().clone() else { return };
        if web.set_item(&self.key, record).is_err() {
            let _ = web.remove_item(&self.key);
            self.fall_back("sessionguard: storage is full or refused the write; keeping the session in memory only");
        }
    }

    /// The refresh cool-down shared by the tabs (epoch ms; 0 if none).
    pub fn read_cooldown(&self) -> f64 {
        let Some(web) = self.web.borrow().clone() else { return 0.0 };
        let v = web.get_item(&[&self.key, ":cooldown"].concat()).ok().flatten();
        v.and_then(|v| crate::core::json::parse_number(&v)).unwrap_or(0.0)
    }

    pub fn write_cooldown(&self, until: f64) {
        if let Some(web) = self.web.borrow().clone() {
            let mut v = String::new();
            crate::core::json::write_int(&mut v, until);
            let _ = web.set_item(&[&self.key, ":cooldown"].concat(), &v);
        }
    }

    pub fn clear(&self) {
        if let Some(web) = self.web.borrow().clone() {
            let _ = web.remove_item(&self.key);
            let _ = web.remove_item(&[&self.key, ":cooldown"].concat());
        }
    }
}
