//! Every parser of untrusted text the core owns: JWT payloads, Retry-After (seconds and HTTP
//! dates), decimal strings, and the token-endpoint classifiers over arbitrary statuses, headers
//! and bodies (read into the core's serde types as the browser reads them). None may panic.
//! Run: `cargo +nightly fuzz run parsers`.
#![no_main]
use libfuzzer_sys::fuzz_target;
use sessionguard::core::time::Time;
use sessionguard::core::refresh_answer::{self, CognitoBody, EndpointAnswer};
use sessionguard::core::{retry, token};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let _ = token::jwt_payload(&text);
    let _ = retry::parse_retry_after(&text, Time::from_ms(1.7e12));
    let _ = retry::parse_http_date(&text);
    let _ = retry::parse_decimal(&text);
    let status = data.first().map_or(200, |b| u16::from(*b) * 3);
    let oauth: Option<token::TokenInput> = serde_json::from_str(&text).ok();
    let cognito: Option<CognitoBody> = serde_json::from_str(&text).ok();
    let _ = refresh_answer::classify_oauth2(EndpointAnswer { status, retry_after: Some(&text), error_type: None, body: oauth.as_ref() }, Time::from_ms(0.0));
    let _ = refresh_answer::classify_cognito(EndpointAnswer { status, retry_after: None, error_type: Some(&text), body: cognito.as_ref() }, Time::from_ms(0.0));
    if let Ok(rec) = serde_json::from_str::<token::Record>(&text) {
        let _ = token::TokenSet::from_record(&rec);
    }
    let claims: Option<token::Claims> = token::jwt_payload(&text).and_then(|p| serde_json::from_str(&p).ok());
    let input = token::TokenInput { access_token: Some(text.to_string()), ..Default::default() };
    let _ = token::TokenSet::from_input(&input, claims, Time::from_ms(0.0), token::Source::Refresh, 0.0);
});
