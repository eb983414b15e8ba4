//! The vault: secrets encrypted at rest with ChaCha20-Poly1305 under a master key.
//!
//! A sealed value is `nova1:<key id>:<base64(nonce ‖ ciphertext)>`. The scope and name
//! of the secret are the associated data, so a ciphertext copied into another slot does
//! not open. `NOVA_MASTER_KEY` holds one or more keys, newest first
//! (`id:base64key,old:base64key`); new secrets use the first, old ones still open, and
//! [`Vault::rotate`] re-seals everything under the newest. On embedded defaults, with no
//! `NOVA_MASTER_KEY`, a key is generated once into the data dir (mode 0600).

use std::fmt;
use std::path::Path;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{ChaCha20Poly1305, Nonce};
use sha2::{Digest, Sha256};

const PREFIX: &str = "nova1";

/// Where a secret applies. An office's own secret wins over the workspace's, which
/// wins over the platform default ("bring your own key" per office).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    Office(String),
    Workspace,
    Platform,
}

impl Scope {
    pub fn key(&self) -> String {
        match self {
            Self::Office(name) => format!("office:{name}"),
            Self::Workspace => "workspace".to_owned(),
            Self::Platform => "platform".to_owned(),
        }
    }

    /// A scope as people write it: `office:NAME`, `workspace` or `platform`.
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "workspace" => Some(Self::Workspace),
            "platform" => Some(Self::Platform),
            _ => text.strip_prefix("office:").filter(|name| !name.is_empty()).map(|name| Self::Office(name.to_owned())),
        }
    }

    /// The scopes to look in for an office, most specific first.
    pub fn lookup_order(office: &str) -> [Scope; 3] {
        [Scope::Office(office.to_owned()), Scope::Workspace, Scope::Platform]
    }
}

/// A secret's value: never printed, never serialized.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretValue(String);

impl SecretValue {
    pub fn new(value: String) -> Self {
        Self(value)
    }

    /// The plaintext, for the one place that must use it (the header a proxy injects).
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for SecretValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretValue(***)")
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum VaultError {
    #[error("NOVA_MASTER_KEY is invalid: {0}")]
    BadMasterKey(String),
    #[error("the secret `{0}` is not a sealed vault value")]
    NotSealed(String),
    #[error("the secret `{name}` was sealed under master key `{key_id}`, which is not configured")]
    UnknownKey { name: String, key_id: String },
    #[error("the secret `{0}` cannot be opened: it was tampered with, or moved from another scope")]
    Tampered(String),
}

struct MasterKey {
    id: String,
    cipher: ChaCha20Poly1305,
    /// For [`Vault::derive_keys`]: keys for other purposes, never this key itself.
    derivation: hmac::Hmac<Sha256>,
}

pub struct Vault {
    /// Newest first: the first seals, all open.
    keys: Vec<MasterKey>,
}

impl fmt::Debug for Vault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Vault").field("key_ids", &self.keys.iter().map(|k| &k.id).collect::<Vec<_>>()).finish()
    }
}

impl Vault {
    /// Keys from `spec`: `id:base64,id2:base64` or a single base64 key (its id derived).
    pub fn from_spec(spec: &str) -> Result<Self, VaultError> {
        let mut keys = Vec::new();
        for part in spec.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (id, encoded) = match part.split_once(':') {
                Some((id, key)) if !id.is_empty() => (Some(id.to_owned()), key),
                _ => (None, part),
            };
            let bytes =
                BASE64.decode(encoded).map_err(|_| VaultError::BadMasterKey("a key is not base64".to_owned()))?;
            if bytes.len() != 32 {
                return Err(VaultError::BadMasterKey(format!("a key must be 32 bytes, this one is {}", bytes.len())));
            }
            let id = id.unwrap_or_else(|| hex::encode(&Sha256::digest(&bytes)[..4]));
            let cipher = ChaCha20Poly1305::new_from_slice(&bytes)
                .map_err(|_| VaultError::BadMasterKey("bad key length".to_owned()))?;
            let derivation = <hmac::Hmac<Sha256> as hmac::Mac>::new_from_slice(&bytes).expect("HMAC takes any key");
            keys.push(MasterKey { id, cipher, derivation });
        }
        if keys.is_empty() {
            return Err(VaultError::BadMasterKey("no key given".to_owned()));
        }
        Ok(Self { keys })
    }

    /// `NOVA_MASTER_KEY` if set, else the data dir's generated key.
    pub fn from_env_or_data_dir(env: Option<String>, data_dir: &Path) -> anyhow::Result<Self> {
        if let Some(spec) = env.filter(|s| !s.trim().is_empty()) {
            return Ok(Self::from_spec(&spec)?);
        }
        let path = data_dir.join("master.key");
        if !path.exists() {
            let key: [u8; 32] = rand::random();
            write_private(&path, &BASE64.encode(key))?;
            tracing::warn!("NOVA_MASTER_KEY is not set: generated a local master key in {}", path.display());
        }
        let spec = std::fs::read_to_string(&path)?;
        Ok(Self::from_spec(spec.trim())?)
    }

    /// The key for `purpose` derived from each master key (HMAC-SHA256), newest first:
    /// every replica with the same master keys derives the same ones, nothing more is
    /// stored, and what was derived before a rotation (an older VM's assignment token)
    /// still checks out.
    pub fn derive_keys(&self, purpose: &str) -> Vec<[u8; 32]> {
        use hmac::Mac as _;
        let derive = |key: &MasterKey| -> [u8; 32] {
            let mut mac = key.derivation.clone();
            mac.update(b"nova-derived-key:");
            mac.update(purpose.as_bytes());
            mac.finalize().into_bytes().into()
        };
        self.keys.iter().map(derive).collect()
    }

    pub fn current_key_id(&self) -> &str {
        &self.keys[0].id
    }

    pub fn seal(&self, scope: &Scope, name: &str, value: &SecretValue) -> String {
        let key = &self.keys[0];
        let nonce_bytes: [u8; 12] = rand::random();
        let aad = associated_data(scope, name);
        let ciphertext = key
            .cipher
            .encrypt(&Nonce::from(nonce_bytes), Payload { msg: value.0.as_bytes(), aad: aad.as_bytes() })
            .expect("encryption with a valid key cannot fail");
        let mut blob = nonce_bytes.to_vec();
        blob.extend(ciphertext);
        format!("{PREFIX}:{}:{}", key.id, BASE64.encode(blob))
    }

    pub fn open(&self, scope: &Scope, name: &str, sealed: &str) -> Result<SecretValue, VaultError> {
        let mut parts = sealed.splitn(3, ':');
        let (Some(PREFIX), Some(key_id), Some(encoded)) = (parts.next(), parts.next(), parts.next()) else {
            return Err(VaultError::NotSealed(name.to_owned()));
        };
        let key = self
            .keys
            .iter()
            .find(|k| k.id == key_id)
            .ok_or_else(|| VaultError::UnknownKey { name: name.to_owned(), key_id: key_id.to_owned() })?;
        let blob = BASE64.decode(encoded).map_err(|_| VaultError::Tampered(name.to_owned()))?;
        if blob.len() < 12 + 16 {
            return Err(VaultError::Tampered(name.to_owned()));
        }
        let (nonce, ciphertext) = blob.split_at(12);
        let nonce: [u8; 12] = nonce.try_into().expect("split at 12");
        let aad = associated_data(scope, name);
        let plaintext = key
            .cipher
            .decrypt(&Nonce::from(nonce), Payload { msg: ciphertext, aad: aad.as_bytes() })
            .map_err(|_| VaultError::Tampered(name.to_owned()))?;
        String::from_utf8(plaintext).map(SecretValue).map_err(|_| VaultError::Tampered(name.to_owned()))
    }

    /// Whether a sealed value needs re-sealing under the newest key.
    pub fn is_stale(&self, sealed: &str) -> bool {
        sealed.split(':').nth(1) != Some(self.current_key_id())
    }
}

/// Seals `value` and stores it in the vault slot (`scope`, `name`), replacing what was
/// there. The plaintext goes nowhere else.
pub async fn store(
    store: &crate::store::Store,
    vault: &Vault,
    scope: &Scope,
    name: &str,
    value: &SecretValue,
    by: &str,
) -> anyhow::Result<()> {
    let sealed = vault.seal(scope, name, value);
    store.put_secret(&scope.key(), name, &sealed, vault.current_key_id(), by).await
}

/// Re-seals every vault entry that is not under the newest master key; returns how
/// many. Each entry is opened with the key that sealed it, so a missing old key or a
/// tampered entry stops the rotation with an error naming the secret.
pub async fn rotate(store: &crate::store::Store, vault: &Vault) -> anyhow::Result<usize> {
    let mut resealed = 0;
    for row in store.all_secrets().await? {
        if !vault.is_stale(&row.sealed) {
            continue;
        }
        let scope = match row.scope.as_str() {
            "workspace" => Scope::Workspace,
            "platform" => Scope::Platform,
            office => Scope::Office(office.strip_prefix("office:").unwrap_or(office).to_owned()),
        };
        let value = vault.open(&scope, &row.name, &row.sealed)?;
        let sealed = vault.seal(&scope, &row.name, &value);
        store.put_secret(&row.scope, &row.name, &sealed, vault.current_key_id(), &row.updated_by).await?;
        resealed += 1;
    }
    Ok(resealed)
}

fn associated_data(scope: &Scope, name: &str) -> String {
    format!("{}/{name}", scope.key())
}

fn write_private(path: &Path, contents: &str) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path)?.write_all(contents.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(byte: u8) -> String {
        BASE64.encode([byte; 32])
    }

    fn secret(value: &str) -> SecretValue {
        SecretValue::new(value.to_owned())
    }

    #[test]
    fn a_sealed_secret_opens_and_hides_its_value() {
        let vault = Vault::from_spec(&format!("k1:{}", key(1))).unwrap();
        let sealed = vault.seal(&Scope::Workspace, "openai", &secret("sk-live-123"));
        assert!(sealed.starts_with("nova1:k1:"));
        assert!(!sealed.contains("sk-live-123"));
        assert_eq!(vault.open(&Scope::Workspace, "openai", &sealed).unwrap().expose(), "sk-live-123");
        assert_eq!(format!("{:?}", secret("sk-live-123")), "SecretValue(***)");
    }

    #[test]
    fn the_same_value_seals_differently_each_time() {
        let vault = Vault::from_spec(&key(1)).unwrap();
        assert_ne!(vault.seal(&Scope::Platform, "a", &secret("x")), vault.seal(&Scope::Platform, "a", &secret("x")));
    }

    #[test]
    fn a_tampered_ciphertext_is_refused() {
        let vault = Vault::from_spec(&format!("k1:{}", key(1))).unwrap();
        let sealed = vault.seal(&Scope::Workspace, "openai", &secret("sk-live-123"));
        let mut blob = BASE64.decode(sealed.rsplit(':').next().unwrap()).unwrap();
        blob[20] ^= 1;
        let tampered = format!("nova1:k1:{}", BASE64.encode(blob));
        insta::assert_snapshot!(
            vault.open(&Scope::Workspace, "openai", &tampered).unwrap_err(),
            @"the secret `openai` cannot be opened: it was tampered with, or moved from another scope"
        );
        assert_eq!(vault.open(&Scope::Workspace, "openai", "plaintext"), Err(VaultError::NotSealed("openai".into())));
    }

    #[test]
    fn a_ciphertext_moved_to_another_scope_or_name_is_refused() {
        let vault = Vault::from_spec(&key(1)).unwrap();
        let sealed = vault.seal(&Scope::Office("maker".into()), "openai", &secret("sk"));
        assert!(matches!(vault.open(&Scope::Workspace, "openai", &sealed), Err(VaultError::Tampered(_))));
        assert!(matches!(vault.open(&Scope::Office("maker".into()), "github", &sealed), Err(VaultError::Tampered(_))));
    }

    #[test]
    fn rotation_keeps_old_secrets_readable() {
        let old = Vault::from_spec(&format!("old:{}", key(1))).unwrap();
        let sealed = old.seal(&Scope::Platform, "openai", &secret("sk-old"));
        let rotated = Vault::from_spec(&format!("new:{},old:{}", key(2), key(1))).unwrap();
        assert!(rotated.is_stale(&sealed));
        assert_eq!(rotated.open(&Scope::Platform, "openai", &sealed).unwrap().expose(), "sk-old");
        let resealed = rotated.seal(&Scope::Platform, "openai", &secret("sk-old"));
        assert!(!rotated.is_stale(&resealed));
        let gone = Vault::from_spec(&format!("new:{}", key(2))).unwrap();
        insta::assert_snapshot!(gone.open(&Scope::Platform, "openai", &sealed).unwrap_err(), @"the secret `openai` was sealed under master key `old`, which is not configured");
    }

    #[test]
    fn derived_keys_depend_on_the_master_key_and_the_purpose_only() {
        let key = BASE64.encode([7u8; 32]);
        let (one, same) = (Vault::from_spec(&key).unwrap(), Vault::from_spec(&format!("id:{key}")).unwrap());
        assert_eq!(
            one.derive_keys("gce-assign")[0],
            same.derive_keys("gce-assign")[0],
            "every replica derives the same"
        );
        assert_ne!(one.derive_keys("gce-assign")[0], one.derive_keys("other")[0]);
        assert_ne!(one.derive_keys("gce-assign")[0], [7u8; 32], "never the master key itself");
        let other = Vault::from_spec(&BASE64.encode([8u8; 32])).unwrap();
        assert_ne!(one.derive_keys("gce-assign")[0], other.derive_keys("gce-assign")[0]);
        let rotated = Vault::from_spec(&format!("new:{},{key}", BASE64.encode([8u8; 32]))).unwrap();
        assert_eq!(
            rotated.derive_keys("gce-assign"),
            [other.derive_keys("gce-assign")[0], one.derive_keys("gce-assign")[0]]
        );
    }

    #[test]
    fn scopes_are_written_as_people_write_them() {
        assert_eq!(Scope::parse("office:maker"), Some(Scope::Office("maker".into())));
        assert_eq!(Scope::parse("workspace"), Some(Scope::Workspace));
        assert_eq!(Scope::parse("platform"), Some(Scope::Platform));
        assert_eq!(Scope::parse("office:"), None);
        assert_eq!(Scope::parse("everyone"), None);
        assert_eq!(Scope::parse(&Scope::Office("a.b".into()).key()), Some(Scope::Office("a.b".into())));
    }

    #[test]
    fn bad_master_keys_are_named() {
        assert_eq!(Vault::from_spec("").unwrap_err().to_string(), "NOVA_MASTER_KEY is invalid: no key given");
        assert_eq!(
            Vault::from_spec("k:short!").unwrap_err().to_string(),
            "NOVA_MASTER_KEY is invalid: a key is not base64"
        );
        assert!(Vault::from_spec(&BASE64.encode([0u8; 16])).unwrap_err().to_string().contains("32 bytes"));
    }

    #[test]
    fn a_local_key_is_generated_once_and_private() {
        let dir = tempfile::tempdir().unwrap();
        let first = Vault::from_env_or_data_dir(None, dir.path()).unwrap();
        let again = Vault::from_env_or_data_dir(None, dir.path()).unwrap();
        assert_eq!(first.current_key_id(), again.current_key_id());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join("master.key")).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }
}
