//! Integration tests of the projector against PostgreSQL.
