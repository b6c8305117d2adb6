//! Where sign-in, the token endpoint and sign-out go: the URLs the options name, completed by
//! OpenID discovery when they name an `issuer`. The document is fetched as every own request is
//! (the captured `fetch`, no redirects, 30 s at most); what it means is the core's rule
//! ([`crate::core::discovery`]). The caller keeps the result ([`super::state::Inner::endpoints`]).

use js_sys::Function;

use super::http;
use super::options::Server;
use super::read;
use crate::core::discovery::{document_url, Endpoints};
use crate::core::signin::Failure;

/// The server's endpoints: the options' own, or with an issuer, those completed by its
/// discovery document.
pub async fn discover(server: &Server, fetch: Option<Function>) -> Result<Endpoints, Failure> {
    let given = server.endpoints.clone();
    let Some(issuer) = given.issuer.clone() else {
        return Ok(given);
    };
    let fetch = fetch.ok_or(Failure::Discovery("there is no fetch here"))?;
    let a = http::send(&fetch, &document_url(&issuer), "GET", &[("Accept", "application/json")], None).await;
    if let Some(why) = a.failure {
        return Err(Failure::Discovery(why));
    }
    if !(200..300).contains(&a.status) {
        return Err(Failure::Discovery("no 2xx answer"));
    }
    let doc = read::object(&a.json).ok_or(Failure::Discovery("not a JSON object"))?;
    Ok(given.or(Endpoints::read(&doc, &issuer).map_err(Failure::Discovery)?))
}
