//! aumatron-lsp: a local-first AI language server. `ARCHITECTURE.md` maps the
//! modules; the binary in `main.rs` only parses arguments and sets up logging.

pub mod account;
pub mod budget;
pub mod cli;
pub mod cloud;
pub mod config;
pub mod engine;
pub mod guard;
pub mod keys;
pub mod lsp;
pub mod paths;
pub mod task;
pub mod text;
