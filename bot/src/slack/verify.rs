//! Slack request signatures: `v0=hex(HMAC-SHA256(signing_secret, "v0:{timestamp}:{body}"))`.
//!
//! Checked before anything else reads the body; a request that fails gets 401 and
//! changes nothing.

use axum::http::HeaderMap;
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// How old a signed request may be before it counts as a replay.
pub const MAX_AGE_SECS: i64 = 5 * 60;

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("missing X-Slack-Signature or X-Slack-Request-Timestamp")]
    Missing,
    #[error("X-Slack-Request-Timestamp is not a unix time")]
    BadTimestamp,
    #[error("the request is more than five minutes old (or from the future)")]
    Stale,
    #[error("the signature does not match the body")]
    Mismatch,
}

/// The signature Slack sends for `body` at `timestamp`.
pub fn sign(secret: &str, timestamp: i64, body: &[u8]) -> String {
    format!("v0={}", hex::encode(mac(secret, timestamp, body).finalize().into_bytes()))
}

fn mac(secret: &str, timestamp: i64, body: &[u8]) -> Hmac<Sha256> {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("any key length works");
    mac.update(format!("v0:{timestamp}:").as_bytes());
    mac.update(body);
    mac
}

/// Verifies a request's signature headers against its raw body at time `now_secs`.
pub fn verify(secret: &str, headers: &HeaderMap, body: &[u8], now_secs: i64) -> Result<(), SignatureError> {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let (Some(signature), Some(timestamp)) = (header("x-slack-signature"), header("x-slack-request-timestamp")) else {
        return Err(SignatureError::Missing);
    };
    let timestamp: i64 = timestamp.trim().parse().map_err(|_| SignatureError::BadTimestamp)?;
    if (now_secs - timestamp).abs() > MAX_AGE_SECS {
        return Err(SignatureError::Stale);
    }
    let expected = signature.strip_prefix("v0=").and_then(|h| hex::decode(h).ok()).ok_or(SignatureError::Mismatch)?;
    // `verify_slice` compares in constant time.
    mac(secret, timestamp, body).verify_slice(&expected).map_err(|_| SignatureError::Mismatch)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Slack's documented example (api.slack.com/authentication/verifying-requests-from-slack).
    const SECRET: &str = "8f742231b10e8888abcd99yyyzzz85a5";
    const TIMESTAMP: i64 = 1531420618;
    const BODY: &str = "token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c";
    const EXPECTED: &str = "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503";

    fn signed_headers(signature: &str, timestamp: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert("x-slack-signature", signature.parse().unwrap());
        headers.insert("x-slack-request-timestamp", timestamp.parse().unwrap());
        headers
    }

    #[test]
    fn signs_slacks_documented_example() {
        assert_eq!(sign(SECRET, TIMESTAMP, BODY.as_bytes()), EXPECTED);
    }

    #[test]
    fn accepts_slacks_documented_example() {
        let headers = signed_headers(EXPECTED, "1531420618");
        assert_eq!(verify(SECRET, &headers, BODY.as_bytes(), TIMESTAMP + 10), Ok(()));
    }

    #[test]
    fn refuses_a_body_changed_after_signing() {
        let headers = signed_headers(EXPECTED, "1531420618");
        let altered = BODY.replace("roadrunner", "coyote");
        assert_eq!(verify(SECRET, &headers, altered.as_bytes(), TIMESTAMP), Err(SignatureError::Mismatch));
    }

    #[test]
    fn refuses_another_secret() {
        let headers = signed_headers(EXPECTED, "1531420618");
        assert_eq!(verify("not-the-secret", &headers, BODY.as_bytes(), TIMESTAMP), Err(SignatureError::Mismatch));
    }

    #[test]
    fn refuses_old_and_future_timestamps() {
        let headers = signed_headers(EXPECTED, "1531420618");
        let six_minutes = 6 * 60;
        assert_eq!(verify(SECRET, &headers, BODY.as_bytes(), TIMESTAMP + six_minutes), Err(SignatureError::Stale));
        assert_eq!(verify(SECRET, &headers, BODY.as_bytes(), TIMESTAMP - six_minutes), Err(SignatureError::Stale));
    }

    #[test]
    fn refuses_missing_and_malformed_headers() {
        assert_eq!(verify(SECRET, &HeaderMap::new(), BODY.as_bytes(), TIMESTAMP), Err(SignatureError::Missing));
        let headers = signed_headers(EXPECTED, "yesterday");
        assert_eq!(verify(SECRET, &headers, BODY.as_bytes(), TIMESTAMP), Err(SignatureError::BadTimestamp));
        let headers = signed_headers("v1=abcd", "1531420618");
        assert_eq!(verify(SECRET, &headers, BODY.as_bytes(), TIMESTAMP), Err(SignatureError::Mismatch));
        let headers = signed_headers("v0=zz", "1531420618");
        assert_eq!(verify(SECRET, &headers, BODY.as_bytes(), TIMESTAMP), Err(SignatureError::Mismatch));
    }
}
