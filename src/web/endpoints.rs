//! Where sign-in, the token endpoint and sign-out go: the URLs the options name, completed by
//! OpenID discovery when they name an `issuer`. The document is fetched as every own request is
//! (the captured `fetch`, no redirects, 30 s at most) by `Inner::endpoints` in `state.rs`,
//! which keeps the result; what it means is the core's rule ([`crate::core::discovery`]).
//! (Synchronous on purpose: each nested `async fn` costs the module its own state machine.)

use super::http::Answer;
use super::options::Server;
use super::read;
use crate::core::discovery::{document_url, Endpoints};
use crate::core::signin::Failure;

/// Where the issuer's discovery document is, if the options name an issuer to discover.
pub fn document(server: &Server) -> Option<String> {
    server.endpoints.issuer.as_deref().filter(|_| server.discover).map(document_url)
}

/// The options' endpoints completed by the document's answer.
pub fn from_answer(server: &Server, a: &Answer) -> Result<Endpoints, Failure> {
    if let Some(why) = a.failure {
        return Err(Failure::Discovery(why.into()));
    }
    if !(200..300).contains(&a.status) {
        return Err(Failure::Discovery("no 2xx answer".into()));
    }
    let doc = read::object(&a.json).ok_or_else(|| Failure::Discovery("not a JSON object".into()))?;
    let given = server.endpoints.clone();
    let issuer = given.issuer.clone().unwrap_or_default();
    Ok(given.or(Endpoints::read(&doc, &issuer).map_err(Failure::Discovery)?))
}
