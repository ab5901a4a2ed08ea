//! The `Store` conformance suite from `telephony-core`, run against `PostgresStore`, each
//! case in a fresh schema.

telephony_core::store_suite_tests!(super::fresh);
