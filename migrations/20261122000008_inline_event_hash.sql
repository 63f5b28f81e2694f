-- event_hash_input() is STABLE, not IMMUTABLE: convert_to() and extract() from a timestamptz,
-- which it calls, are themselves STABLE (they read the server encoding and time zone settings),
-- and PostgreSQL only inlines a SQL function into its caller when the function's declared
-- volatility is no stricter than its body's. Declared IMMUTABLE, it was never inlined: every
-- inserted event parsed and planned its body again inside the chain trigger, which cost about
-- 40 % of a single-row insert's server CPU. The hashes it computes are unchanged.
ALTER FUNCTION event_hash_input(bytea, events) STABLE;
