-- Each audit entry carries the hash of its event, so an exported trail can be checked against
-- the chain (`onboarding verify`) by an auditor holding only the export and the log digest.
ALTER TABLE audit_trail ADD COLUMN event_hash text;
