//! `aumatron-lsp`: a local-first AI language server. See `ARCHITECTURE.md`.

use aumatron_lsp::cli;
use clap::Parser;

fn main() -> std::process::ExitCode {
    let args = cli::Args::parse();
    if let Err(error) = init_logging() {
        eprintln!("aumatron-lsp: logging is off: {error:#}");
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("aumatron-lsp: cannot start: {error}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let code = runtime.block_on(cli::main(args));
    // A read of stdin can still be waiting on a blocking thread (the LSP input
    // check reads ahead of the server); it must not keep the process alive once
    // the session is over.
    runtime.shutdown_timeout(std::time::Duration::from_millis(100));
    code
}

/// Logs go to stderr, or to the file named by `AUMATRON_LOG_FILE`; never to stdout,
/// which carries the protocol. `AUMATRON_LOG` sets the filter (default `warn`).
///
/// The LSP transport's own message trace is always off: it would log every
/// message whole, `aumatron.setKey`'s key among them. Editors keep their own
/// protocol logs.
fn init_logging() -> anyhow::Result<()> {
    use anyhow::Context as _;
    use tracing_subscriber::EnvFilter;

    let filter = EnvFilter::try_from_env("AUMATRON_LOG")
        .unwrap_or_else(|_| EnvFilter::new("warn"))
        .add_directive("tower_lsp_server::codec=off".parse()?);
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(false);
    match std::env::var_os("AUMATRON_LOG_FILE").filter(|path| !path.is_empty()) {
        Some(path) => {
            let file = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&path)
                .with_context(|| format!("cannot open {}", path.to_string_lossy()))?;
            builder.with_writer(std::sync::Mutex::new(file)).init();
        }
        None => builder.with_writer(std::io::stderr).init(),
    }
    Ok(())
}
