//! Where the wrapped per-identity data keys live, and the sealing of personal data on its way
//! into the log.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use cqrs_es::persist::SerializedEvent;
use onboarding_domain::pii::SealedData;
use onboarding_domain::{event_names, IdentityId};
use serde_json::Value;
use sqlx::PgPool;

use crate::crypto::{self, DataKey, KeyProvider};
use crate::error::StoreError;

/// The personal-data fields of an `IdentitySubmitted` payload, under `submission`.
pub const SEALED_FIELDS: &[&str] = &["pii", "tax_details"];

enum Backend {
    Memory(Mutex<HashMap<IdentityId, Option<Vec<u8>>>>),
    Postgres(PgPool),
}

/// The per-identity data keys, wrapped by a [`KeyProvider`].
pub struct KeyVault {
    provider: Arc<dyn KeyProvider>,
    backend: Backend,
}

impl KeyVault {
    /// Keys held in memory (the embedded store).
    pub fn in_memory(provider: Arc<dyn KeyProvider>) -> Self {
        Self {
            provider,
            backend: Backend::Memory(Mutex::default()),
        }
    }

    /// Keys in the `identity_keys` table.
    pub fn postgres(pool: PgPool, provider: Arc<dyn KeyProvider>) -> Self {
        Self {
            provider,
            backend: Backend::Postgres(pool),
        }
    }

    /// A vault of the same backend with another key provider.
    pub(crate) fn with_provider(&self, provider: Arc<dyn KeyProvider>) -> Self {
        let backend = match &self.backend {
            Backend::Memory(_) => Backend::Memory(Mutex::default()),
            Backend::Postgres(pool) => Backend::Postgres(pool.clone()),
        };
        Self { provider, backend }
    }

    fn crypto(e: crypto::CryptoError) -> StoreError {
        StoreError::Corrupt(e.to_string())
    }

    /// The identity's key, created on first use. Fails if the identity was forgotten.
    pub async fn key_for_sealing(&self, identity: IdentityId) -> Result<DataKey, StoreError> {
        let fresh = DataKey::generate();
        let wrapped_fresh = self.provider.wrap(identity, &fresh).map_err(Self::crypto)?;
        let stored: Option<Vec<u8>> = match &self.backend {
            Backend::Memory(m) => m
                .lock()
                .map_err(|_| StoreError::Database("key vault poisoned".to_owned()))?
                .entry(identity)
                .or_insert(Some(wrapped_fresh))
                .clone(),
            Backend::Postgres(pool) => {
                sqlx::query("INSERT INTO identity_keys (identity_id, wrapped_key) VALUES ($1, $2) ON CONFLICT (identity_id) DO NOTHING")
                    .bind(identity.as_uuid())
                    .bind(&wrapped_fresh)
                    .execute(pool)
                    .await?;
                sqlx::query_scalar("SELECT wrapped_key FROM identity_keys WHERE identity_id = $1")
                    .bind(identity.as_uuid())
                    .fetch_one(pool)
                    .await?
            }
        };
        let wrapped = stored.ok_or(StoreError::PersonalDataErased(identity))?;
        self.provider
            .unwrap(identity, &wrapped)
            .map_err(Self::crypto)
    }

    /// The identity's key, `None` when it never had one or it was destroyed.
    pub async fn key(&self, identity: IdentityId) -> Result<Option<DataKey>, StoreError> {
        let stored: Option<Vec<u8>> = match &self.backend {
            Backend::Memory(m) => m
                .lock()
                .map_err(|_| StoreError::Database("key vault poisoned".to_owned()))?
                .get(&identity)
                .cloned()
                .flatten(),
            Backend::Postgres(pool) => sqlx::query_scalar::<_, Option<Vec<u8>>>(
                "SELECT wrapped_key FROM identity_keys WHERE identity_id = $1",
            )
            .bind(identity.as_uuid())
            .fetch_optional(pool)
            .await?
            .flatten(),
        };
        stored
            .map(|w| self.provider.unwrap(identity, &w).map_err(Self::crypto))
            .transpose()
    }

    /// Destroys the identity's key for good (idempotent).
    pub async fn destroy(&self, identity: IdentityId) -> Result<(), StoreError> {
        match &self.backend {
            Backend::Memory(m) => {
                m.lock()
                    .map_err(|_| StoreError::Database("key vault poisoned".to_owned()))?
                    .insert(identity, None);
            }
            Backend::Postgres(pool) => {
                sqlx::query(
                    "INSERT INTO identity_keys (identity_id, wrapped_key, erased_at) VALUES ($1, NULL, now())
                     ON CONFLICT (identity_id) DO UPDATE SET wrapped_key = NULL, erased_at = coalesce(identity_keys.erased_at, now())",
                )
                .bind(identity.as_uuid())
                .execute(pool)
                .await?;
            }
        }
        Ok(())
    }

    /// Seals the personal data of every `IdentitySubmitted` event in `events`, under each
    /// identity's stored key (created on first use).
    pub async fn seal_events(
        &self,
        events: &[SerializedEvent],
    ) -> Result<Vec<SerializedEvent>, StoreError> {
        let mut out = events.to_vec();
        for event in &mut out {
            let Some(identity) = submitted_identity(event)? else {
                continue;
            };
            let key = self.key_for_sealing(identity).await?;
            seal_submission(event, identity, &key)?;
        }
        Ok(out)
    }

    /// Seals the personal data of an identity's `IdentitySubmitted` event under a fresh data key
    /// and returns the key wrapped, for the append to store in the same statement as the event
    /// (a submission is an identity's first event, so no earlier key sealed anything of it).
    pub fn seal_with_fresh_key(&self, events: &[SerializedEvent]) -> Result<Sealed, StoreError> {
        let mut out = events.to_vec();
        let mut key = None;
        for event in &mut out {
            let Some(identity) = submitted_identity(event)? else {
                continue;
            };
            let fresh = DataKey::generate();
            let wrapped = self.provider.wrap(identity, &fresh).map_err(Self::crypto)?;
            seal_submission(event, identity, &fresh)?;
            key = Some((identity, wrapped));
        }
        Ok(Sealed { events: out, key })
    }

    /// Opens the sealed personal data of an `IdentitySubmitted` payload in place; fails with
    /// [`StoreError::PersonalDataErased`] when the identity was forgotten.
    pub async fn open_submission(
        &self,
        identity: IdentityId,
        payload: &mut Value,
    ) -> Result<(), StoreError> {
        let Some(submission) = payload
            .get_mut(event_names::IDENTITY_SUBMITTED)
            .and_then(|p| p.get_mut("submission"))
        else {
            return Ok(());
        };
        let mut key = None;
        for field in SEALED_FIELDS {
            let Some(value) = submission.get_mut(*field) else {
                continue;
            };
            let Some(sealed) = value.get("sealed") else {
                continue;
            };
            let sealed: SealedData = serde_json::from_value(sealed.clone())
                .map_err(|_| StoreError::Corrupt("sealed personal data is malformed".to_owned()))?;
            if key.is_none() {
                key = Some(
                    self.key(identity)
                        .await?
                        .ok_or(StoreError::PersonalDataErased(identity))?,
                );
            }
            let Some(key) = &key else { continue };
            let plain = crypto::open(key, identity, field, &sealed).map_err(Self::crypto)?;
            *value =
                serde_json::from_slice(&plain).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        }
        Ok(())
    }
}

/// Events with their personal data sealed, and the wrapped data key they were sealed under when
/// it is new.
#[derive(Debug)]
pub struct Sealed {
    /// The events, ready to store.
    pub events: Vec<SerializedEvent>,
    /// The identity and its newly wrapped data key, to store with the events.
    pub key: Option<(IdentityId, Vec<u8>)>,
}

/// The identity whose submission `event` is, `None` for any other event.
fn submitted_identity(event: &SerializedEvent) -> Result<Option<IdentityId>, StoreError> {
    if event.aggregate_type != event_names::IDENTITY
        || event.event_type != event_names::IDENTITY_SUBMITTED
    {
        return Ok(None);
    }
    event
        .aggregate_id
        .parse()
        .map(Some)
        .map_err(|_| StoreError::Corrupt("identity id is not a UUID".to_owned()))
}

/// Seals the personal-data fields of a submission event in place (fields already sealed or
/// erased are left alone).
fn seal_submission(
    event: &mut SerializedEvent,
    identity: IdentityId,
    key: &DataKey,
) -> Result<(), StoreError> {
    let Some(submission) = event
        .payload
        .get_mut(event_names::IDENTITY_SUBMITTED)
        .and_then(|p| p.get_mut("submission"))
    else {
        return Ok(());
    };
    for field in SEALED_FIELDS {
        if let Some(value) = submission.get_mut(*field) {
            if value.get("sealed").is_some() || value.get("erased").is_some() {
                continue;
            }
            let plaintext =
                serde_json::to_vec(value).map_err(|e| StoreError::Corrupt(e.to_string()))?;
            let sealed =
                crypto::seal(key, identity, field, &plaintext).map_err(KeyVault::crypto)?;
            *value = serde_json::json!({ "sealed": sealed });
        }
    }
    Ok(())
}
