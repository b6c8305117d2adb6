//! The cross-tab lock: Web Locks (`navigator.locks`), with a timeout and a steal, and a fallback
//! where they are missing (the core then gives terminal answers a grace period).
//!
//! A tab that hangs while holding the lock (a frozen background tab, a debugger) must not stall
//! every other tab: a lock not granted within [`LOCK_TIMEOUT_MS`] is stolen. So the work under
//! it is bounded to fit in that wait (the core's rule: [`crate::core::crosstab`]). The lock is
//! released when the work is done, also when it failed.

use core::future::Future;

use js_sys::{Object, Promise};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;
use web_sys::AbortController;

use super::js;
use super::wait;
use crate::core::crosstab::LOCK_TIMEOUT_MS;

#[wasm_bindgen]
extern "C" {
    type LockManager;
    #[wasm_bindgen(method, catch, js_name = request)]
    fn request(this: &LockManager, name: &str, options: &Object, callback: &JsValue) -> Result<Promise, JsValue>;
    #[wasm_bindgen(method, catch, js_name = query)]
    fn query(this: &LockManager) -> Result<Promise, JsValue>;
}

fn manager() -> Option<LockManager> {
    let locks = js::get(&js::global_get("navigator"), "locks");
    js::get_fn(&locks, "request").map(|_| locks.unchecked_into())
}

pub fn available() -> bool {
    manager().is_some()
}

/// Asks for the lock; resolves once it is granted (`Ok`) or the request failed (`Err`). The
/// lock is held until `release` is called.
async fn acquire(m: &LockManager, name: &str, options: &Object, release: &Promise) -> Result<(), JsValue> {
    let (granted, grant) = wait::deferred();
    let release = release.clone();
    // the closure type axios's interceptors use too (one set of shims for both); called once
    let cb = Closure::<dyn FnMut(JsValue) -> JsValue>::new(move |_lock: JsValue| -> JsValue {
        let _ = grant.call0(&JsValue::UNDEFINED);
        release.clone().into()
    })
    .into_js_value();
    let req = m.request(name, options, &cb)?;
    match (wait::Race { a: Box::pin(JsFuture::from(granted)), b: JsFuture::from(req) }).await {
        wait::Either::A(_) => Ok(()),
        wait::Either::B(r) => r.map(|_| ()),
    }
}

/// Runs `work` while holding the lock `name` (or at once without Web Locks).
pub async fn with_lock<F: Future>(name: &str, work: F) -> F::Output {
    let Some(m) = manager() else {
        return work.await;
    };
    let (release, unlock) = wait::deferred();
    let ctl = AbortController::new().ok();
    let opts = Object::new();
    js::set(&opts, "mode", &JsValue::from_str("exclusive"));
    if let Some(c) = &ctl {
        js::set(&opts, "signal", &c.signal());
    }
    let timeout = {
        let ctl = ctl.clone();
        gloo_timers::callback::Timeout::new(wait::clamp_ms(LOCK_TIMEOUT_MS), move || {
            if let Some(c) = ctl {
                c.abort();
            }
        })
    };
    let mut got = acquire(&m, name, &opts, &release).await.is_ok();
    drop(timeout);
    if !got {
        // not granted in time (or refused): take it from whoever holds it
        let steal = Object::new();
        js::set(&steal, "steal", &JsValue::TRUE);
        got = acquire(&m, name, &steal, &release).await.is_ok();
    }
    let out = work.await;
    if got {
        let _ = unlock.call0(&JsValue::UNDEFINED);
    }
    out
}

/// The names of the locks held now in this origin (`navigator.locks.query()`, answered by the
/// browser's one lock manager, in order with its grants); none without Web Locks.
pub async fn held() -> Vec<String> {
    let Some(p) = manager().and_then(|m| m.query().ok()) else { return Vec::new() };
    let Ok(state) = JsFuture::from(p).await else { return Vec::new() };
    let held = js::get(&state, "held");
    js::keys(&held).iter().filter_map(|k| js::get_str(&js::get(&held, &k.as_string()?), "name")).collect()
}

/// Holds the lock `name` for `ms`: asked for now, synchronously, so that the lock manager has
/// it before anything this tab asks for or releases afterwards.
pub fn hold(name: &str, ms: f64) {
    let Some(m) = manager() else { return };
    let cb = Closure::<dyn FnMut(JsValue) -> JsValue>::new(move |_lock: JsValue| -> JsValue {
        // held until a timer resolves it (the timer outlives this call: not cancelled on drop)
        let (done, timer) = wait::timer(ms);
        let _ = timer.forget();
        done.into()
    })
    .into_js_value();
    // its promise resolves when the hold ends (the callback's never rejects, and nothing
    // aborts it); a request refused at once is nothing to report
    let _ = m.request(name, &Object::new(), &cb);
}
