//! What the Paxos mirror records back: permanent rejections of mirrored calls, and the calls
//! that took effect where no other event says so (sandbox deposits, orders' Paxos ids). Each is
//! an ordinary command, so it lands in the aggregate's stream and the audit trail, and each is
//! idempotent: recording the same operation and reference twice writes nothing.

use onboarding_domain::{
    AccountCommand, AccountId, IdentityCommand, IdentityId, MirrorRejection, PaxosMirrored,
    ProfileCommand, ProfileId,
};
use onboarding_store::CommandContext;

use crate::{Ledger, LedgerError};

impl Ledger {
    /// Records that Paxos permanently refused a mirrored call about an identity.
    pub async fn record_identity_mirror_rejection(
        &self,
        ctx: &CommandContext,
        id: IdentityId,
        rejection: MirrorRejection,
    ) -> Result<(), LedgerError> {
        self.identity_command(ctx, id, IdentityCommand::RecordMirrorRejection(rejection))
            .await
    }

    /// Records that Paxos permanently refused mirroring an account.
    pub async fn record_account_mirror_rejection(
        &self,
        ctx: &CommandContext,
        id: AccountId,
        rejection: MirrorRejection,
    ) -> Result<(), LedgerError> {
        self.account_command(ctx, id, AccountCommand::RecordMirrorRejection(rejection))
            .await
    }

    /// Records that Paxos permanently refused a mirrored profile call (a deposit, an order).
    pub async fn record_profile_mirror_rejection(
        &self,
        ctx: &CommandContext,
        profile: ProfileId,
        rejection: MirrorRejection,
    ) -> Result<(), LedgerError> {
        self.profile_command(
            ctx,
            profile,
            ProfileCommand::RecordMirrorRejection(rejection),
        )
        .await
    }

    /// Records that a mirrored profile call took effect at Paxos (a sandbox deposit, an
    /// order's creation with its Paxos id).
    pub async fn record_paxos_mirrored(
        &self,
        ctx: &CommandContext,
        profile: ProfileId,
        mirrored: PaxosMirrored,
    ) -> Result<(), LedgerError> {
        self.profile_command(ctx, profile, ProfileCommand::RecordPaxosMirrored(mirrored))
            .await
    }
}
