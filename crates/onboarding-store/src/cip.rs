//! `cip_id` uniqueness across identities, enforced atomically.
//!
//! Claims are keyed by an HMAC-SHA256 fingerprint of (type, country, number) under a secret key,
//! so no table holds document numbers and a leaked table cannot be reversed by enumerating the
//! small SSN space without the key.

use std::collections::HashMap;
use std::sync::Mutex;

use async_trait::async_trait;
use hmac::{Hmac, Mac};
use onboarding_domain::values::CipKey;
use onboarding_domain::{CipClaim, CipRegistry, IdentityId, LookupError};
use sha2::Sha256;
use sqlx::PgPool;
use uuid::Uuid;

use crate::append::ORPHAN_AFTER_SECONDS;
use crate::scope::{self, Claim, ClaimMode};

/// The HMAC key behind cip fingerprints. Every process sharing a database must use the same key.
#[derive(Clone)]
pub struct FingerprintKey(Vec<u8>);

impl FingerprintKey {
    /// Environment variable holding the key (at least 32 bytes, hex encoded).
    pub const ENV: &'static str = "ONBOARDING_CIP_KEY";

    /// A key from raw bytes.
    pub fn new(bytes: Vec<u8>) -> Self {
        Self(bytes)
    }

    /// The key from [`Self::ENV`], or `None` when unset. Fails on a malformed value.
    pub fn from_env() -> Result<Option<Self>, String> {
        match std::env::var(Self::ENV) {
            Err(_) => Ok(None),
            Ok(hex_key) => {
                let bytes = hex::decode(hex_key.trim())
                    .map_err(|_| format!("{} must be hex encoded", Self::ENV))?;
                if bytes.len() < 32 {
                    return Err(format!("{} must hold at least 32 bytes", Self::ENV));
                }
                Ok(Some(Self(bytes)))
            }
        }
    }

    /// A fixed key for development and tests only: fingerprints made with it are reversible by
    /// anyone who reads this source.
    pub fn development() -> Self {
        Self(b"onboarding-ledger development cip key, never in production".to_vec())
    }

    /// The fingerprint of a cip key.
    pub fn fingerprint(&self, key: &CipKey) -> Vec<u8> {
        // The key accepts any length, so construction cannot fail.
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.0)
            .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
        mac.update(key.cip_id_type.as_str().as_bytes());
        mac.update(b"\x1f");
        mac.update(key.cip_id_country.as_str().as_bytes());
        mac.update(b"\x1f");
        mac.update(key.cip_id.expose().as_bytes());
        mac.finalize().into_bytes().to_vec()
    }
}

impl std::fmt::Debug for FingerprintKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("FingerprintKey(..)")
    }
}

/// Claims held in this process (the embedded store's counterpart).
#[derive(Debug)]
pub struct InMemoryCipRegistry {
    key: FingerprintKey,
    claims: Mutex<HashMap<Vec<u8>, IdentityId>>,
}

impl InMemoryCipRegistry {
    /// An empty registry.
    pub fn new(key: FingerprintKey) -> Self {
        Self {
            key,
            claims: Mutex::default(),
        }
    }
}

#[async_trait]
impl CipRegistry for InMemoryCipRegistry {
    async fn claim(&self, key: &CipKey, identity: IdentityId) -> Result<CipClaim, LookupError> {
        let fingerprint = self.key.fingerprint(key);
        let mut claims = self
            .claims
            .lock()
            .map_err(|_| LookupError("cip registry poisoned".to_owned()))?;
        let holder = *claims.entry(fingerprint).or_insert(identity);
        Ok(if holder == identity {
            CipClaim::Claimed
        } else {
            CipClaim::HeldBy(holder)
        })
    }

    async fn release(&self, identity: IdentityId) -> Result<(), LookupError> {
        self.claims
            .lock()
            .map_err(|_| LookupError("cip registry poisoned".to_owned()))?
            .retain(|_, holder| *holder != identity);
        Ok(())
    }
}

/// Claims in the `cip_claims` table: one `INSERT ... ON CONFLICT` decides each race.
#[derive(Debug, Clone)]
pub struct PostgresCipRegistry {
    key: FingerprintKey,
    pool: PgPool,
}

impl PostgresCipRegistry {
    /// Claims in the database behind `pool`.
    pub fn new(key: FingerprintKey, pool: PgPool) -> Self {
        Self { key, pool }
    }
}

#[async_trait]
impl CipRegistry for PostgresCipRegistry {
    async fn claim(&self, key: &CipKey, identity: IdentityId) -> Result<CipClaim, LookupError> {
        let fingerprint = self.key.fingerprint(key);
        let failed = |e: sqlx::Error| LookupError(format!("cip claim failed: {e}"));
        // A concurrent claim of the same fingerprint makes this INSERT wait for that transaction
        // and then take the conflict path, so exactly one claim wins.
        let won: Option<Uuid> = sqlx::query_scalar(
            "INSERT INTO cip_claims AS c (fingerprint, identity_id)
             VALUES ($1, $2)
             ON CONFLICT (fingerprint) DO UPDATE
                SET identity_id = EXCLUDED.identity_id, claimed_at = now()
              WHERE c.identity_id = EXCLUDED.identity_id
                 OR (c.claimed_at < now() - make_interval(secs => $3)
                     AND NOT EXISTS (SELECT 1 FROM events e
                                      WHERE e.aggregate_type = 'identity'
                                        AND e.aggregate_id = c.identity_id::text))
             RETURNING identity_id",
        )
        .bind(&fingerprint)
        .bind(identity.as_uuid())
        .bind(ORPHAN_AFTER_SECONDS)
        .fetch_optional(&self.pool)
        .await
        .map_err(failed)?;
        // Read the holder in a new statement: the INSERT's snapshot predates the winner's commit.
        let holder = match won {
            Some(id) => id,
            None => sqlx::query_scalar("SELECT identity_id FROM cip_claims WHERE fingerprint = $1")
                .bind(&fingerprint)
                .fetch_one(&self.pool)
                .await
                .map_err(failed)?,
        };
        let holder = IdentityId::from_uuid(holder);
        Ok(if holder == identity {
            CipClaim::Claimed
        } else {
            CipClaim::HeldBy(holder)
        })
    }

    async fn release(&self, identity: IdentityId) -> Result<(), LookupError> {
        sqlx::query("DELETE FROM cip_claims WHERE identity_id = $1")
            .bind(identity.as_uuid())
            .execute(&self.pool)
            .await
            .map_err(|e| LookupError(format!("cip release failed: {e}")))?;
        Ok(())
    }
}

/// The ledger's registry on Postgres: a claim is taken by the very statement that appends the
/// submission (see [`crate::append`]), so a refused or failed submission never holds one and a
/// submission costs no separate commit.
///
/// Inside a ledger decision ([`scope::consulting`]) it answers `Claimed` and notes the claim for
/// the append, which fails with [`StoreError::CipClaimLost`](crate::StoreError::CipClaimLost)
/// when another identity holds it; the ledger then decides again in
/// [`ClaimMode::LookFirst`], where the holder is looked up first and named in the refusal.
/// Outside a decision it claims at once, like [`PostgresCipRegistry`].
#[derive(Debug, Clone)]
pub struct ClaimAtAppend {
    now: PostgresCipRegistry,
}

impl ClaimAtAppend {
    /// Claims in the database behind `pool`.
    pub fn new(key: FingerprintKey, pool: PgPool) -> Self {
        Self {
            now: PostgresCipRegistry::new(key, pool),
        }
    }

    /// The other identity holding `fingerprint`, unless its claim is an orphan.
    async fn holder(&self, fingerprint: &[u8]) -> Result<Option<IdentityId>, LookupError> {
        let held: Option<Uuid> = sqlx::query_scalar(
            "SELECT c.identity_id FROM cip_claims c
              WHERE c.fingerprint = $1
                AND NOT (c.claimed_at < now() - make_interval(secs => $2)
                         AND NOT EXISTS (SELECT 1 FROM events e
                                          WHERE e.aggregate_type = 'identity'
                                            AND e.aggregate_id = c.identity_id::text))",
        )
        .bind(fingerprint)
        .bind(ORPHAN_AFTER_SECONDS)
        .fetch_optional(&self.now.pool)
        .await
        .map_err(|e| LookupError(format!("cip lookup failed: {e}")))?;
        Ok(held.map(IdentityId::from_uuid))
    }
}

#[async_trait]
impl CipRegistry for ClaimAtAppend {
    async fn claim(&self, key: &CipKey, identity: IdentityId) -> Result<CipClaim, LookupError> {
        let Some(mode) = scope::claim_mode() else {
            return self.now.claim(key, identity).await;
        };
        let fingerprint = self.now.key.fingerprint(key);
        if mode == ClaimMode::LookFirst {
            if let Some(holder) = self.holder(&fingerprint).await? {
                if holder != identity {
                    return Ok(CipClaim::HeldBy(holder));
                }
            }
        }
        scope::note_claim(Claim {
            fingerprint,
            identity,
        });
        Ok(CipClaim::Claimed)
    }

    async fn release(&self, identity: IdentityId) -> Result<(), LookupError> {
        self.now.release(identity).await
    }
}
