//! What the manager knows of its identity server: the `fetch` its own requests use, and the
//! endpoints (the options', completed once by discovery, a core own request).

use std::rc::Rc;

use js_sys::Function;
use wasm_bindgen::prelude::*;

use super::Inner;
use crate::core::discovery::Endpoints;
use crate::core::own::{Judged, OwnRequest};
use crate::core::signin::Failure;
use crate::web::options::Refresher;
use crate::web::{driver, endpoints, http};

impl Inner {
    /// The `fetch` of the library's own requests: the platform's as it was when the manager
    /// was made, else the global one now.
    pub fn fetch_fn(&self) -> Option<Function> {
        self.own_fetch.clone().or_else(http::global_fetch)
    }

    /// The identity server's endpoints: the options' own, completed by discovery when they
    /// name an issuer (once: a failure is not kept, the next use tries again).
    pub async fn endpoints(&self) -> Result<Rc<Endpoints>, Failure> {
        if let Some(e) = self.handles.borrow().endpoints.clone() {
            return Ok(e);
        }
        let server = &self.opts.server;
        let found = match endpoints::document(server) {
            None => server.endpoints.clone(),
            Some(url) => {
                let fetch = self.fetch_fn().ok_or_else(|| Failure::Discovery("there is no fetch here".into()))?;
                let mut req = OwnRequest::new();
                let mut send =
                    |ms| Box::pin(http::send(&fetch, &url, "GET", &[("Accept", "application/json")], JsValue::UNDEFINED, None, ms)) as _;
                let mut found = Err(Failure::Discovery("the session was disposed".into()));
                let _ = driver::own(self, &mut req, &self.opts.retry, &url, &mut send, &mut |a| {
                    found = endpoints::from_answer(server, a);
                    Judged::Done(())
                })
                .await;
                found?
            }
        };
        let found = Rc::new(found);
        self.handles.borrow_mut().endpoints = Some(found.clone());
        Ok(found)
    }

    /// An endpoint of the identity server: the one the options name, else the discovered one
    /// (no discovery when the options name it). `None` when it cannot be known now.
    pub async fn endpoint(&self, pick: fn(&Endpoints) -> Option<&String>) -> Option<String> {
        if let Some(url) = pick(&self.opts.server.endpoints) {
            return Some(url.clone());
        }
        if !cfg!(feature = "signin") {
            return None; // the lite build: no discovery
        }
        self.endpoints().await.ok().and_then(|e| pick(&e).cloned())
    }

    /// Where a refresh goes: the `oauth2` form's token endpoint, Cognito's API, nowhere for a
    /// function.
    pub(super) async fn token_url(&self) -> Option<String> {
        match &self.opts.refresh {
            Refresher::OAuth2 => self.endpoint(|e| e.token.as_ref()).await,
            Refresher::Cognito { endpoint } => Some(endpoint.clone()),
            _ => Some(String::new()),
        }
    }
}
