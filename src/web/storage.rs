//! Where the token set lives: memory, or local/session storage through gloo-storage, behind a
//! probe and a fallback.
//!
//! gloo-storage hands out the `Storage` handles; a record is written with serde-wasm-bindgen and
//! `JSON.stringify`, and read with `JSON.parse` and the core's `Record::read` (gloo's own
//! `get`/`set` would link serde_json, 17 KB of wasm for one small record). Two of gloo's edges
//! would abort the module (README guarantees 8 and 10): `raw()`
//! panics when storage is unavailable (sandboxed iframes, blocked cookies, workers, Node), and
//! its error conversion panics on a thrown value that is not an `Error`. So storage is only
//! handed to gloo after a probe proved that it is a real `Storage` that reads and writes, and
//! every read and write catches what the browser throws; anything going wrong later (full,
//! refused) falls back to memory with one warning. A corrupt or foreign record reads as nothing.

use crate::core::time::Time;
use std::cell::Cell;

use gloo_storage::{LocalStorage, SessionStorage, Storage as _};
use wasm_bindgen::JsCast;

use super::js;
use super::options::StorageKind;
use super::read;
use super::write;
use crate::core::token::Record;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Backend {
    Memory,
    Local,
    Session,
}

/// Lives outside the driver's `RefCell` (its state is in `Cell`s), so no borrow is held while
/// the browser's storage runs.
#[derive(Debug)]
pub struct Store {
    backend: Cell<Backend>,
    key: String,
    cooldown_key: String,
    warned: Cell<bool>,
}

const PROBE: &str = "__sessionguard_probe__";

/// Is `globalThis[name]` a working `Storage`? Never throws.
fn probe(name: &str) -> bool {
    if web_sys::window().is_none() {
        return false;
    }
    let Ok(s) = js::global_get(name).dyn_into::<web_sys::Storage>() else {
        return false;
    };
    s.set_item(PROBE, "1").is_ok() && s.get_item(PROBE).ok().flatten().as_deref() == Some("1") && s.remove_item(PROBE).is_ok()
}

/// This tab's `sessionStorage`, if it works (where a sign-in keeps its secrets while the user
/// is at the identity server).
pub fn session_storage() -> Option<web_sys::Storage> {
    probe("sessionStorage").then(SessionStorage::raw)
}

impl Store {
    pub fn new(kind: StorageKind, key: &str) -> Store {
        let store = Store {
            backend: Cell::new(Backend::Memory),
            key: key.into(),
            cooldown_key: [key, ":cooldown"].concat(),
            warned: Cell::new(false),
        };
        let (backend, name) = match kind {
            StorageKind::Memory => return store,
            StorageKind::Local => (Backend::Local, "localStorage"),
            StorageKind::Session => (Backend::Session, "sessionStorage"),
        };
        if probe(name) {
            store.backend.set(backend);
        } else {
            store.fall_back(&[name, " is unavailable here; the session is kept in memory only"].concat());
        }
        store
    }

    /// Local storage that works (the condition for sharing across tabs).
    pub fn is_local(&self) -> bool {
        self.backend.get() == Backend::Local
    }

    /// From now on the token set is kept in memory only (this tab's DPoP key is): what is
    /// stored stays for the tabs it belongs to.
    pub fn keep_in_memory(&self) {
        self.backend.set(Backend::Memory);
    }

    fn fall_back(&self, msg: &str) {
        self.backend.set(Backend::Memory);
        if !self.warned.replace(true) {
            js::warn(msg);
        }
    }

    fn raw(&self) -> Option<web_sys::Storage> {
        match self.backend.get() {
            Backend::Memory => None,
            Backend::Local => Some(LocalStorage::raw()),
            Backend::Session => Some(SessionStorage::raw()),
        }
    }

    fn get(&self, key: &str) -> Option<String> {
        self.raw()?.get_item(key).ok().flatten()
    }

    pub fn read(&self) -> Option<Record> {
        read::json(&self.get(&self.key)?).and_then(|o| Record::read(&o))
    }

    pub fn read_cooldown(&self) -> Option<Time> {
        crate::core::read::parse_decimal(&self.get(&self.cooldown_key)?).filter(|v| v.is_finite()).map(Time::from_ms)
    }

    fn set(&self, key: &str, text: &str) -> bool {
        let Some(raw) = self.raw() else { return true };
        let ok = raw.set_item(key, text).is_ok();
        if !ok {
            let _ = raw.remove_item(&self.key);
            self.fall_back("storage is full or refused the write; the session is kept in memory only");
        }
        ok
    }

    /// Writes the record; false if storage failed (and is now memory).
    pub fn write(&self, rec: &Record) -> bool {
        self.set(&self.key, &write::record_json(rec))
    }

    pub fn write_cooldown(&self, until: Time) {
        self.set(&self.cooldown_key, &js::number_text(until.ms().round()));
    }

    pub fn clear(&self) {
        let Some(raw) = self.raw() else { return };
        let _ = raw.remove_item(&self.key);
        let _ = raw.remove_item(&self.cooldown_key);
    }
}
