//! Executors: where a session's cells run.

pub mod local;
