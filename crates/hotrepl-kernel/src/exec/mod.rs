//! Executors: where a session's cells run. The local REPL runs them on its main thread's
//! event loop ([`local`]); a program's attached sessions run them on a thread of their own
//! and the program's loop ([`attached`], [`host_loop`]), with the [`watcher`] reading
//! their clients while a cell runs.

pub mod attached;
pub mod host_loop;
pub mod local;
pub mod on_loop;
pub mod watcher;
