-- Crypto-shredding: each identity's personal data is sealed under its own data key, stored here
-- wrapped by a master key the database never sees. Forgetting an identity destroys its wrapped
-- key (wrapped_key becomes NULL), which makes the sealed data in the append-only log unreadable
-- for good while the log itself, its hashes and every non-personal fact stay as they were.
CREATE TABLE identity_keys
(
    identity_id uuid PRIMARY KEY,
    wrapped_key bytea,
    created_at  timestamptz NOT NULL DEFAULT now(),
    erased_at   timestamptz,
    CHECK ((wrapped_key IS NULL) = (erased_at IS NOT NULL))
);

GRANT SELECT, INSERT, UPDATE ON identity_keys TO onboarding_app;
GRANT DELETE ON cip_claims TO onboarding_app;
