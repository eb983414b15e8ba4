//! Service keys, how offices authenticate to Nova: `hsk_<id>.hss_<secret>`. Only the
//! SHA-256 of the secret is stored; the id stays when the secret rotates (every wake),
//! so logs and audit rows can name a key without holding it.

use sha2::{Digest, Sha256};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceKey {
    pub id: String,
    secret: String,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    #[error("malformed service key: expected hsk_<id>.hss_<secret>")]
    Malformed,
    #[error("unknown service key hsk_{0}")]
    Unknown(String),
    #[error("invalid secret for service key hsk_{0}")]
    Invalid(String),
}

impl ServiceKey {
    /// A fresh secret for key `id`.
    pub fn issue(id: &str) -> Self {
        let secret: [u8; 32] = rand::random();
        Self { id: id.to_owned(), secret: hex::encode(secret) }
    }

    pub fn parse(text: &str) -> Result<Self, KeyError> {
        let (id, secret) =
            text.strip_prefix("hsk_").and_then(|rest| rest.split_once(".hss_")).ok_or(KeyError::Malformed)?;
        let valid = |s: &str| !s.is_empty() && s.len() <= 128 && s.chars().all(|c| c.is_ascii_alphanumeric());
        if !valid(id) || !valid(secret) {
            return Err(KeyError::Malformed);
        }
        Ok(Self { id: id.to_owned(), secret: secret.to_owned() })
    }

    /// What the office presents.
    pub fn token(&self) -> String {
        format!("hsk_{}.hss_{}", self.id, self.secret)
    }

    /// What Nova stores.
    pub fn secret_hash(&self) -> String {
        hex::encode(Sha256::digest(self.secret.as_bytes()))
    }

    /// Checks the secret against a stored hash, in constant time.
    pub fn verify(&self, stored_hash: &str) -> Result<(), KeyError> {
        if provisioner::protocol::secrets_match(self.secret_hash().as_bytes(), stored_hash.as_bytes()) {
            Ok(())
        } else {
            Err(KeyError::Invalid(self.id.clone()))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_round_trips_and_verifies() {
        let key = ServiceKey::issue("0a1b2c3d4e5f6071");
        let parsed = ServiceKey::parse(&key.token()).unwrap();
        assert_eq!(parsed, key);
        assert_eq!(parsed.verify(&key.secret_hash()), Ok(()));
        assert!(key.token().starts_with("hsk_0a1b2c3d4e5f6071.hss_"));
    }

    #[test]
    fn rotation_keeps_the_id_and_retires_the_old_secret() {
        let old = ServiceKey::issue("abc");
        let new = ServiceKey::issue("abc");
        assert_eq!(old.id, new.id);
        assert_eq!(old.verify(&new.secret_hash()), Err(KeyError::Invalid("abc".into())));
    }

    #[test]
    fn forged_keys_are_refused_with_clear_errors() {
        for forged in ["", "forged", "hsk_.hss_x", "hsk_abc", "hsk_abc.hss_", "Bearer hsk_a.hss_b", "hsk_a-b.hss_c"] {
            assert_eq!(ServiceKey::parse(forged), Err(KeyError::Malformed), "{forged:?}");
        }
        insta::assert_snapshot!(KeyError::Malformed, @"malformed service key: expected hsk_<id>.hss_<secret>");
        insta::assert_snapshot!(KeyError::Unknown("abc".into()), @"unknown service key hsk_abc");
    }
}
