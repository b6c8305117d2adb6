//! DPoP's browser half: the key pair and the signature. What a proof says and when a nonce is
//! asked for are the core's rules ([`crate::core::dpop`]).
//!
//! The key is an ES256 pair made by WebCrypto with `extractable: false`: the page can use the
//! private key to sign, but no script (ours included) can read it out. It is kept in IndexedDB
//! (which stores `CryptoKey`s as they are, still non-extractable), one per `storageKey`, so it
//! survives reloads and every tab of the origin signs with the same key. With
//! `storage: "memory"` it lives in memory only, like the tokens. Where IndexedDB cannot be used
//! (a private window that refuses it) the key is kept in memory and the console is told once.
//!
//! The pair is loaded (or made) once, when the manager is made; every proof waits for that one
//! promise. Hashes of the access token (`ath`) are cached per token.

use std::cell::RefCell;

use js_sys::{Array, Object, Promise, Uint8Array};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;
use web_sys::{CryptoKey, IdbDatabase, IdbFactory, IdbOpenDbRequest, IdbRequest, IdbTransactionMode, SubtleCrypto};

use super::errors::type_error;
use super::js;
use super::wait;
use super::write::{self, Out};
use crate::core::b64::B64URL;
use crate::core::dpop::{self, Nonces, PublicKey};
use base64::Engine as _;

/// What the console says when a server asks for a nonce the page cannot read.
pub const NONCE_UNREADABLE: &str = "a server asked for a DPoP nonce but its `DPoP-Nonce` header could not be read (not retried): a server on another origin must list it in `Access-Control-Expose-Headers`";

thread_local! {
    static WARNED_NONCE: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// [`NONCE_UNREADABLE`] on the console, once per module: for the library's own requests (API
/// calls are told once per session, by the core's `Warning::NonceUnreadable`).
pub fn warn_nonce_unreadable() {
    if !WARNED_NONCE.with(|w| w.replace(true)) {
        js::warn(NONCE_UNREADABLE);
    }
}

/// IndexedDB's database and object store of the keys (one record per `storageKey`).
const DB: &str = "sessionguard-dpop";
const STORE: &str = "keys";

pub struct Dpop {
    /// Resolves to `[privateKey, headerJson]` (or `[error]`).
    key: Promise,
    nonces: RefCell<Nonces>,
    /// The last access token hashed, and its `ath`.
    ath: RefCell<Option<(String, String)>>,
    /// URLs as given, resolved (`htu` and the nonce's origin): resolving against the page
    /// costs more than the rest of a proof but the signature (about 17 µs in Chromium).
    hrefs: RefCell<Vec<(String, String)>>,
}

impl Dpop {
    /// [`Dpop::new`], as the lite build's stand-in (`dpop_off.rs`) has it: `None` there.
    pub fn start(scope: Option<String>, ready: impl FnOnce(bool, bool) + 'static) -> Option<Dpop> {
        Some(Dpop::new(scope, ready))
    }

    /// Starts loading (or making) the key: kept in IndexedDB under `scope`, or in memory only
    /// when `scope` is `None`. `ready(kept, shared)` is told, before any proof is made, whether
    /// the key is the one kept before and whether other tabs and reloads find it.
    pub fn new(scope: Option<String>, ready: impl FnOnce(bool, bool) + 'static) -> Dpop {
        Dpop {
            // settles with `[privateKey, header]`, or `[error]`: never rejects, so a key that
            // cannot be made is told to the calls that need it, not as an unhandled rejection
            key: wait::promise(async move {
                Ok(match load(scope).await {
                    Ok((pair, kept, shared)) => {
                        ready(kept, shared);
                        pair
                    }
                    Err(e) => Array::of1(&e).into(),
                })
            }),
            nonces: RefCell::new(Nonces::default()),
            ath: RefCell::new(None),
            hrefs: RefCell::new(Vec::new()),
        }
    }

    /// `[privateKey, headerJson]` once the key is loaded or made; `Err`: why it could not be.
    async fn pair(&self) -> Result<Array, JsValue> {
        let pair: Array = JsFuture::from(self.key.clone()).await?.unchecked_into();
        match pair.length() {
            2 => Ok(pair),
            _ => Err(pair.get(0)),
        }
    }

    /// Settles with `[privateKey, headerJson]`, or `[error]` when the key cannot be made
    /// (`signIn()` makes sure of it before the page navigates).
    pub fn key(&self) -> &Promise {
        &self.key
    }

    /// A proof for `method` on `url` (resolved against the page), presenting `token` when the
    /// request carries one (`ath`), with the nonce `url`'s origin gave last.
    pub async fn proof(&self, method: &str, url: &str, token: Option<&str>) -> Result<String, JsValue> {
        let pair = self.pair().await?;
        let (private, header) = (pair.get(0).unchecked_into::<CryptoKey>(), pair.get(1).as_string().unwrap_or_default());
        let subtle = js::subtle().ok_or_else(no_webcrypto)?;
        let href = self.href(url);
        let ath = match token {
            Some(t) => Some(self.ath(&subtle, t).await?),
            None => None,
        };
        let jti = js::uuid();
        let nonce = self.nonces.borrow().get(dpop::origin(&href)).map(String::from);
        let htm = dpop::htm(method);
        let c = dpop::claims(&htm, &href, js::now().ms(), &jti, ath.as_deref(), nonce.as_deref());
        let mut fields = vec![("jti", Out::Str(c.jti)), ("htm", Out::Str(c.htm)), ("htu", Out::Str(c.htu)), ("iat", Out::Num(c.iat))];
        if let Some(a) = c.ath {
            fields.push(("ath", Out::Str(a)));
        }
        if let Some(n) = c.nonce {
            fields.push(("nonce", Out::Str(n)));
        }
        let input = dpop::signing_input(&header, &write::json(&fields));
        let alg = write::object(&[("name", Out::Str("ECDSA")), ("hash", Out::Str("SHA-256"))]);
        let sig = JsFuture::from(subtle.sign_with_object_and_u8_array(alg.unchecked_ref(), &private, input.as_bytes())?).await?;
        Ok(dpop::compact(&input, &Uint8Array::new(&sig).to_vec()))
    }

    /// base64url(SHA-256(token)), hashed once per token.
    async fn ath(&self, subtle: &SubtleCrypto, token: &str) -> Result<String, JsValue> {
        if let Some((t, a)) = &*self.ath.borrow() {
            if t == token {
                return Ok(a.clone());
            }
        }
        let digest = JsFuture::from(subtle.digest_with_str_and_u8_array("SHA-256", token.as_bytes())?).await?;
        let a = B64URL.encode(Uint8Array::new(&digest).to_vec());
        *self.ath.borrow_mut() = Some((token.into(), a.clone()));
        Ok(a)
    }

    /// `url` resolved against the page. Kept when it does not depend on the page's path (an
    /// absolute URL, or one from the origin's root): an app calls a handful of them.
    pub fn href(&self, url: &str) -> String {
        if let Some((_, h)) = self.hrefs.borrow().iter().find(|(u, _)| u == url) {
            return h.clone();
        }
        let href = js::resolved(url, "href").unwrap_or_else(|| url.into());
        if url.starts_with('/') || url.starts_with("http:") || url.starts_with("https:") {
            let mut hrefs = self.hrefs.borrow_mut();
            if hrefs.len() >= 64 {
                hrefs.clear();
            }
            hrefs.push((url.into(), href.clone()));
        }
        href
    }

    /// Keeps the `DPoP-Nonce` an answer from `url` (absolute) brought. `true` when it brought a
    /// usable one (a nonce challenge may then be retried).
    pub fn learn(&self, url: &str, nonce: Option<&str>) -> bool {
        nonce.is_some_and(|n| self.nonces.borrow_mut().learn(dpop::origin(url), n))
    }
}

fn no_webcrypto() -> JsValue {
    type_error("dpop needs WebCrypto (crypto.subtle: https or localhost)")
}

/// The key pair and its proofs' header, as `[privateKey, headerJson]`; whether it is the one
/// kept before, and whether it is kept in IndexedDB (else in memory only).
async fn load(scope: Option<String>) -> Result<(JsValue, bool, bool), JsValue> {
    let subtle = js::subtle().ok_or_else(no_webcrypto)?;
    let (pair, kept, shared) = match scope {
        Some(scope) => match kept(&subtle, &scope).await {
            Ok((pair, kept)) => (pair, kept, true),
            Err(e) => {
                js::warn(
                    &[
                        "IndexedDB could not keep the DPoP key (",
                        &super::errors::describe(&e),
                        "); it and the session stay in this tab's memory",
                    ]
                    .concat(),
                );
                (generate(&subtle).await?, false, false)
            }
        },
        None => (generate(&subtle).await?, false, false),
    };
    let public = js::get(&pair, "publicKey");
    let raw = JsFuture::from(subtle.export_key("raw", public.unchecked_ref())?).await?;
    let key = PublicKey::from_raw(&Uint8Array::new(&raw).to_vec())
        .ok_or_else(|| type_error("WebCrypto exported a public key that is not P-256"))?;
    let jwk = [("kty", Out::Str("EC")), ("crv", Out::Str("P-256")), ("x", Out::Str(&key.x)), ("y", Out::Str(&key.y))];
    let header = write::json(&[("typ", Out::Str("dpop+jwt")), ("alg", Out::Str("ES256")), ("jwk", Out::Obj(&jwk))]);
    Ok((Array::of2(&js::get(&pair, "privateKey"), &JsValue::from_str(&header)).into(), kept, shared))
}

/// A new ES256 pair whose private key cannot be exported.
async fn generate(subtle: &SubtleCrypto) -> Result<JsValue, JsValue> {
    let alg = write::object(&[("name", Out::Str("ECDSA")), ("namedCurve", Out::Str("P-256"))]);
    let usages = Array::of2(&"sign".into(), &"verify".into());
    JsFuture::from(subtle.generate_key_with_object(alg.unchecked_ref::<Object>(), false, &usages)?).await
}

/// Is this stored record a pair sessionguard made (the core's [`dpop::trusted_pair`])?
fn trusted(found: &JsValue) -> bool {
    dpop::trusted_pair(&js::key_facts(&js::get(found, "privateKey")), &js::key_facts(&js::get(found, "publicKey")))
}

/// The pair kept under `scope` in IndexedDB (and whether it was there before), made and kept
/// if there is none or if what is there is not trusted (replaced). Two tabs that make one at
/// once: the first transaction writes its pair, the second finds it and uses it.
async fn kept(subtle: &SubtleCrypto, scope: &str) -> Result<(JsValue, bool), JsValue> {
    let factory = js::global_object::<IdbFactory>("indexedDB").ok_or_else(|| type_error("there is no indexedDB"))?;
    let open = factory.open_with_u32(DB, 1)?;
    let db: IdbDatabase = request(&open, true).await?.unchecked_into();
    let pair = kept_in(&db, subtle, scope).await;
    db.close(); // nothing holds the database open (an app's own upgrade or deletion is not blocked)
    pair
}

async fn kept_in(db: &IdbDatabase, subtle: &SubtleCrypto, scope: &str) -> Result<(JsValue, bool), JsValue> {
    // made first, so that reading and replacing are one transaction (tabs take turns): a
    // trusted pair another tab kept is used, anything else is replaced
    let pair = generate(subtle).await?;
    let store = db.transaction_with_str_and_mode(STORE, IdbTransactionMode::Readwrite)?.object_store(STORE)?;
    let found = request(&store.get(&scope.into())?, false).await?;
    if trusted(&found) {
        return Ok((found, true));
    }
    request(&store.put_with_key(&pair, &scope.into())?, false).await?;
    Ok((pair, false))
}

/// An IndexedDB request's result. `open`: it is the database's opening, which creates the
/// object store the first time.
async fn request(req: &IdbRequest, open: bool) -> Result<JsValue, JsValue> {
    let p = Promise::new(&mut |ok, no| {
        req.set_onsuccess(Some(&ok));
        req.set_onerror(Some(&no));
    });
    let _upgrade = open.then(|| {
        let r = req.clone();
        let f = Closure::<dyn FnMut()>::new(move || {
            if let Ok(db) = r.result() {
                let _ = db.unchecked_into::<IdbDatabase>().create_object_store(STORE);
            }
        });
        req.unchecked_ref::<IdbOpenDbRequest>().set_onupgradeneeded(Some(f.as_ref().unchecked_ref()));
        f
    });
    JsFuture::from(p).await.map_err(|e| js::get(&e, "target")).map_err(|t| js::get(&t, "error"))?;
    req.result()
}
