//! The mirror's error type.

use onboarding_ledger::LedgerError;

/// Why the mirror, the receiver or the poller could not go on. Each variant says what to do.
#[derive(Debug, thiserror::Error)]
pub enum MirrorError {
    /// The ledger refused or failed a command or read: retry when it is reachable; a refusal
    /// that persists needs investigating (the position stays unmirrored until then).
    #[error(transparent)]
    Ledger(#[from] LedgerError),
    /// A Paxos call failed in a way that is not a rejection of the mirrored command (transient
    /// failures after retries, bad credentials, an unreadable answer): retry later, fix the
    /// configuration if it persists.
    #[error(transparent)]
    Paxos(#[from] onboarding_paxos::Error),
    /// The checkpoint store failed: retry when the database is reachable.
    #[error("checkpoint store: {0}")]
    Checkpoint(#[from] sqlx::Error),
    /// Another mirror holds the lease: only one runs at a time; wait or stop the other.
    #[error("another mirror is running (lease {0} is held)")]
    LeaseHeld(&'static str),
    /// This mirror lost its lease (its lease session ended, found before each event), or a
    /// checkpoint it was to write had moved while it held none: it stops rather than mirror
    /// beside the lease's new holder. Start it again; it takes the lease anew or finds it held.
    #[error("this mirror lost its lease {0}: another may be running; stopped")]
    LeaseLost(String),
    /// The log holds an event this mirror cannot decode: a schema problem, investigate.
    #[error("cannot decode log position {position}: {reason}")]
    Decode {
        /// The position.
        position: i64,
        /// Why (no payload values).
        reason: String,
    },
    /// Serving the webhook receiver failed (binding the address, the server stopping).
    #[error("webhook server: {0}")]
    Serve(#[from] std::io::Error),
}
