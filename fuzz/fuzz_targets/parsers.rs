//! Every parser of untrusted text: JSON bodies, JWT payloads, storage records, Retry-After,
//! token-endpoint answers. None may panic. Run: `cargo +nightly fuzz run parsers`.
#![no_main]
use libfuzzer_sys::fuzz_target;
use sessionguard::core::{json, refresh_answer, retry, token};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let _ = json::Json::parse(&text);
    let _ = json::parse_number(&text);
    let _ = token::jwt_payload(&text);
    let _ = token::jwt_claims(&text);
    let _ = token::TokenSet::from_record(&text);
    let _ = retry::parse_retry_after(&text, 1.7e12);
    let _ = retry::parse_http_date(&text);
    let status = data.first().map_or(200, |b| u16::from(*b) * 3);
    let _ = refresh_answer::classify_oauth2(status, Some(&text), &text, 0.0);
    let _ = refresh_answer::classify_cognito(status, Some(&text), None, &text, 0.0);
    let input = token::TokenInput { access_token: Some(text.to_string()), ..Default::default() };
    let _ = token::TokenSet::from_input(&input, 0.0, token::Source::Refresh, 0.0);
});
