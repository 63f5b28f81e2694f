//! Sealing personal data: AES-256-GCM (RustCrypto) under a per-identity data key, itself wrapped
//! by a master key held outside the database.
//!
//! Every ciphertext is bound to its identity and field through the AEAD's associated data, so a
//! sealed value copied into another identity's event, or into another field, fails to open.

use aes_gcm::aead::{Aead, AeadCore, KeyInit, OsRng, Payload};
use aes_gcm::{Aes256Gcm, Key, Nonce};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use onboarding_domain::pii::SealedData;
use onboarding_domain::IdentityId;

/// The algorithm name stored with each sealed value.
pub const ALGORITHM: &str = "AES-256-GCM";

/// Why sealing or opening failed. Never contains key material or plaintext.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CryptoError {
    /// The ciphertext, its binding or the key is wrong: the data was tampered with, moved, or
    /// sealed under another key.
    #[error("sealed data does not open: wrong key, identity or field, or altered ciphertext")]
    DoesNotOpen,
    /// The sealed value is malformed.
    #[error("sealed data is malformed: {0}")]
    Malformed(&'static str),
    /// The key configuration is invalid.
    #[error("key configuration: {0}")]
    Config(String),
}

/// A per-identity data key. Never printed.
#[derive(Clone)]
pub struct DataKey(Key<Aes256Gcm>);

impl DataKey {
    /// A fresh random key.
    pub fn generate() -> Self {
        Self(Aes256Gcm::generate_key(OsRng))
    }

    fn from_bytes(bytes: &[u8]) -> Result<Self, CryptoError> {
        if bytes.len() != 32 {
            return Err(CryptoError::Malformed("data key length"));
        }
        Ok(Self(*Key::<Aes256Gcm>::from_slice(bytes)))
    }
}

impl std::fmt::Debug for DataKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DataKey(..)")
    }
}

/// Wraps and unwraps data keys. Implement it over a KMS or HSM in production; [`MasterKey`] is
/// the environment/file implementation.
pub trait KeyProvider: Send + Sync {
    /// Encrypts `key` for storage beside `identity`.
    fn wrap(&self, identity: IdentityId, key: &DataKey) -> Result<Vec<u8>, CryptoError>;
    /// Decrypts a stored wrapped key of `identity`.
    fn unwrap(&self, identity: IdentityId, wrapped: &[u8]) -> Result<DataKey, CryptoError>;
}

/// A 256-bit master key from the environment (`ONBOARDING_MASTER_KEY`, hex) or a file
/// (`ONBOARDING_MASTER_KEY_FILE`, hex), wrapping data keys with AES-256-GCM.
#[derive(Clone)]
pub struct MasterKey(Key<Aes256Gcm>);

impl MasterKey {
    /// Variable holding the hex key.
    pub const ENV: &'static str = "ONBOARDING_MASTER_KEY";
    /// Variable naming a file that holds the hex key.
    pub const FILE_ENV: &'static str = "ONBOARDING_MASTER_KEY_FILE";

    /// A key from 32 raw bytes.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, CryptoError> {
        if bytes.len() != 32 {
            return Err(CryptoError::Config(
                "the master key must be 32 bytes (64 hex digits)".to_owned(),
            ));
        }
        Ok(Self(*Key::<Aes256Gcm>::from_slice(bytes)))
    }

    /// The key from the environment or its file, or `None` when neither is set.
    pub fn from_env() -> Result<Option<Self>, CryptoError> {
        let hex_key = match (std::env::var(Self::ENV), std::env::var(Self::FILE_ENV)) {
            (Ok(k), _) => k,
            (Err(_), Ok(path)) => std::fs::read_to_string(&path)
                .map_err(|e| CryptoError::Config(format!("cannot read {}: {e}", Self::FILE_ENV)))?,
            _ => return Ok(None),
        };
        let bytes = hex::decode(hex_key.trim())
            .map_err(|_| CryptoError::Config("the master key must be hex encoded".to_owned()))?;
        Self::from_bytes(&bytes).map(Some)
    }

    /// A fixed key for development and tests only: anyone with this source can open data sealed
    /// under it.
    pub fn development() -> Self {
        Self(*Key::<Aes256Gcm>::from_slice(
            b"onboarding-ledger dev master key",
        ))
    }
}

impl std::fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MasterKey(..)")
    }
}

fn wrap_context(identity: IdentityId) -> String {
    format!("onboarding-ledger/data-key/v1/{identity}")
}

impl KeyProvider for MasterKey {
    fn wrap(&self, identity: IdentityId, key: &DataKey) -> Result<Vec<u8>, CryptoError> {
        let cipher = Aes256Gcm::new(&self.0);
        let nonce = Aes256Gcm::generate_nonce(&mut OsRng);
        let aad = wrap_context(identity);
        let ciphertext = cipher
            .encrypt(
                &nonce,
                Payload {
                    msg: key.0.as_slice(),
                    aad: aad.as_bytes(),
                },
            )
            .map_err(|_| CryptoError::DoesNotOpen)?;
        let mut out = nonce.to_vec();
        out.extend(ciphertext);
        Ok(out)
    }

    fn unwrap(&self, identity: IdentityId, wrapped: &[u8]) -> Result<DataKey, CryptoError> {
        if wrapped.len() < 12 {
            return Err(CryptoError::Malformed("wrapped key length"));
        }
        let (nonce, ciphertext) = wrapped.split_at(12);
        let aad = wrap_context(identity);
        let plain = Aes256Gcm::new(&self.0)
            .decrypt(
                Nonce::from_slice(nonce),
                Payload {
                    msg: ciphertext,
                    aad: aad.as_bytes(),
                },
            )
            .map_err(|_| CryptoError::DoesNotOpen)?;
        DataKey::from_bytes(&plain)
    }
}

fn seal_context(identity: IdentityId, field: &str) -> String {
    format!("onboarding-ledger/pii/v1/{identity}/{field}")
}

/// Encrypts `plaintext` (the JSON of one personal-data field) for `identity`'s `field`.
pub fn seal(
    key: &DataKey,
    identity: IdentityId,
    field: &str,
    plaintext: &[u8],
) -> Result<SealedData, CryptoError> {
    let nonce = Aes256Gcm::generate_nonce(&mut OsRng);
    let aad = seal_context(identity, field);
    let ciphertext = Aes256Gcm::new(&key.0)
        .encrypt(
            &nonce,
            Payload {
                msg: plaintext,
                aad: aad.as_bytes(),
            },
        )
        .map_err(|_| CryptoError::DoesNotOpen)?;
    Ok(SealedData {
        alg: ALGORITHM.to_owned(),
        nonce: B64.encode(nonce),
        ciphertext: B64.encode(ciphertext),
    })
}

/// Decrypts what [`seal`] produced for the same identity and field.
pub fn open(
    key: &DataKey,
    identity: IdentityId,
    field: &str,
    sealed: &SealedData,
) -> Result<Vec<u8>, CryptoError> {
    if sealed.alg != ALGORITHM {
        return Err(CryptoError::Malformed("unknown algorithm"));
    }
    let nonce = B64
        .decode(&sealed.nonce)
        .map_err(|_| CryptoError::Malformed("nonce"))?;
    if nonce.len() != 12 {
        return Err(CryptoError::Malformed("nonce length"));
    }
    let ciphertext = B64
        .decode(&sealed.ciphertext)
        .map_err(|_| CryptoError::Malformed("ciphertext"))?;
    let aad = seal_context(identity, field);
    Aes256Gcm::new(&key.0)
        .decrypt(
            Nonce::from_slice(&nonce),
            Payload {
                msg: &ciphertext,
                aad: aad.as_bytes(),
            },
        )
        .map_err(|_| CryptoError::DoesNotOpen)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_data_opens_only_for_its_identity_and_field() {
        let key = DataKey::generate();
        let alice = IdentityId::new();
        let sealed = seal(&key, alice, "pii", b"{\"first_name\":\"Ada\"}").unwrap();
        assert!(!sealed.ciphertext.contains("Ada"));
        assert_eq!(
            open(&key, alice, "pii", &sealed).unwrap(),
            b"{\"first_name\":\"Ada\"}"
        );
        assert_eq!(
            open(&key, IdentityId::new(), "pii", &sealed),
            Err(CryptoError::DoesNotOpen)
        );
        assert_eq!(
            open(&key, alice, "tax_details", &sealed),
            Err(CryptoError::DoesNotOpen)
        );
        assert_eq!(
            open(&DataKey::generate(), alice, "pii", &sealed),
            Err(CryptoError::DoesNotOpen)
        );
    }

    #[test]
    fn wrapped_keys_unwrap_only_for_their_identity_and_master_key() {
        let master = MasterKey::development();
        let key = DataKey::generate();
        let id = IdentityId::new();
        let wrapped = master.wrap(id, &key).unwrap();
        let unwrapped = master.unwrap(id, &wrapped).unwrap();
        let sealed = seal(&unwrapped, id, "pii", b"x").unwrap();
        assert_eq!(open(&key, id, "pii", &sealed).unwrap(), b"x");
        assert!(master.unwrap(IdentityId::new(), &wrapped).is_err());
        let other = MasterKey::from_bytes(&[7; 32]).unwrap();
        assert!(other.unwrap(id, &wrapped).is_err());
    }
}
