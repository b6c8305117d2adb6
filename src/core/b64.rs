//! The one base64 alphabet sessionguard writes: base64url without padding (PKCE, `state`,
//! `nonce`: RFC 7636 appendix A; the JWS parts of DPoP proofs: RFC 7515; fingerprints). A leaf:
//! the token, sign-in and DPoP rules all encode with it, and none of them owns it.

use base64::engine::{general_purpose::GeneralPurpose, DecodePaddingMode, GeneralPurposeConfig};

/// base64url as sessionguard writes it: without padding. Read with or without padding (JWTs as
/// they are found in the wild) where something reads it.
pub const B64URL: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::URL_SAFE,
    GeneralPurposeConfig::new().with_encode_padding(false).with_decode_padding_mode(DecodePaddingMode::Indifferent),
);
