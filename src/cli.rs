//! The command line: serve LSP on stdio (the default), `run` a task on a file, or
//! check the set-up with `doctor`.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};
use tokio_util::sync::CancellationToken;

use crate::config::{self, Config, ConfigLayers};
use crate::engine::{self, EngineSettings, LocalEngine};
use crate::paths;
use crate::task::language::Language;
use crate::task::{TaskInput, TaskKind, TaskObserver, TaskStatus, TaskUpdate, run_task};

#[derive(Debug, Parser)]
#[command(
    name = "aumatron-lsp",
    version,
    about = "Local-first AI language server"
)]
pub struct Args {
    /// Serve LSP on stdin and stdout (the default; accepted for editors that pass it).
    #[arg(long, global = false)]
    stdio: bool,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run a task on a file and stream the answer to stdout.
    Run {
        task: TaskArg,
        file: PathBuf,
        /// Only these lines, 1-based and inclusive, as A:B.
        #[arg(long, value_parser = parse_lines)]
        lines: Option<(usize, usize)>,
        /// Draft only: what to write.
        #[arg(long)]
        instruction: Option<String>,
    },
    /// Check the model, the configuration and the folders, and say what to fix.
    Doctor,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum TaskArg {
    Summarise,
    Explain,
    Draft,
}

impl From<TaskArg> for TaskKind {
    fn from(task: TaskArg) -> TaskKind {
        match task {
            TaskArg::Summarise => TaskKind::Summarise,
            TaskArg::Explain => TaskKind::Explain,
            TaskArg::Draft => TaskKind::Draft,
        }
    }
}

fn parse_lines(value: &str) -> Result<(usize, usize), String> {
    let (a, b) = value
        .split_once(':')
        .ok_or_else(|| format!("expected A:B, not {value}"))?;
    let parse = |n: &str| {
        n.trim()
            .parse::<usize>()
            .map_err(|_| format!("{n:?} is not a line number"))
    };
    let (a, b) = (parse(a)?, parse(b)?);
    if a == 0 || b < a {
        return Err(format!(
            "lines run from 1 and A must not exceed B, not {value}"
        ));
    }
    Ok((a, b))
}

pub async fn main(args: Args) -> ExitCode {
    let _ = args.stdio;
    match args.command {
        None => {
            crate::lsp::serve_stdio().await;
            ExitCode::SUCCESS
        }
        Some(Command::Run {
            task,
            file,
            lines,
            instruction,
        }) => report(run(task.into(), &file, lines, instruction).await),
        Some(Command::Doctor) => doctor().await,
    }
}

fn report(outcome: anyhow::Result<()>) -> ExitCode {
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("aumatron-lsp: {error:#}");
            ExitCode::FAILURE
        }
    }
}

/// The configuration from the config file alone (there is no editor here).
fn file_config() -> anyhow::Result<Config> {
    let layers = ConfigLayers {
        file: config::read_config_file(&paths::config_file())?,
        ..Default::default()
    };
    layers.resolve()
}

fn engine_for(config: &Config) -> anyhow::Result<LocalEngine> {
    let source = paths::resolve_model(config.local.model_path.as_deref())
        .map_err(|reason| anyhow::anyhow!(reason))?;
    Ok(LocalEngine::start(EngineSettings {
        model_path: source.path().to_path_buf(),
        context_tokens: config.local.context_tokens,
        threads: config.local.threads.unwrap_or_else(engine::default_threads),
    }))
}

/// Writes the answer to stdout as it arrives; status goes to stderr.
struct StdoutObserver;

impl TaskObserver for StdoutObserver {
    async fn update(&mut self, update: TaskUpdate<'_>) {
        match update {
            TaskUpdate::WaitingForModel => eprintln!("loading the model…"),
            TaskUpdate::Started { .. } => {}
            TaskUpdate::Text { delta, .. } => {
                let mut stdout = std::io::stdout().lock();
                let _ = stdout.write_all(delta.as_bytes());
                let _ = stdout.flush();
            }
            step @ (TaskUpdate::Part { .. } | TaskUpdate::Combining { .. }) => {
                if let Some(message) = step.step_message() {
                    eprintln!("{message}…");
                }
            }
        }
    }
}

async fn run(
    kind: TaskKind,
    file: &Path,
    lines: Option<(usize, usize)>,
    instruction: Option<String>,
) -> anyhow::Result<()> {
    use anyhow::Context as _;
    let config = file_config()?;
    let text =
        std::fs::read_to_string(file).with_context(|| format!("cannot read {}", file.display()))?;
    let text = match lines {
        None => text,
        Some((first, last)) => {
            let count = text.lines().count();
            anyhow::ensure!(
                first <= count,
                "{} has {count} lines, so --lines {first}:{last} selects nothing",
                file.display()
            );
            let selected: Vec<&str> = text
                .lines()
                .skip(first - 1)
                .take(last - first + 1)
                .collect();
            selected.join("\n")
        }
    };
    anyhow::ensure!(
        !text.trim().is_empty(),
        "there is nothing to work on in {}",
        file.display()
    );
    let file_name = file
        .file_name()
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_default();
    let language = Language::from_file_name(&file_name);
    let input = TaskInput {
        instruction,
        ..TaskInput::new(kind, text, language, file_name)
    };
    let engine = engine_for(&config)?;

    let cancel = CancellationToken::new();
    let on_interrupt = cancel.clone();
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            on_interrupt.cancel();
        }
    });
    let limit = config.local.max_output_tokens.for_task(kind);
    let report = run_task(&engine, &input, limit, cancel, &mut StdoutObserver).await;
    println!();
    match report.status {
        TaskStatus::Done => Ok(()),
        TaskStatus::Cancelled => anyhow::bail!("cancelled"),
        TaskStatus::Failed(error) => anyhow::bail!(error),
    }
}

async fn doctor() -> ExitCode {
    let mut problems = 0;
    let mut check = |ok: bool, line: String| {
        println!("{:<4} {line}", if ok { "ok" } else { "FIX" });
        if !ok {
            problems += 1;
        }
    };

    let config_path = paths::config_file();
    let config = match config::read_config_file(&config_path).and_then(|file| {
        ConfigLayers {
            file,
            ..Default::default()
        }
        .resolve()
    }) {
        Ok(config) => {
            let state = if config_path.exists() {
                "read"
            } else {
                "absent, using defaults"
            };
            check(
                true,
                format!("config file {} ({state})", config_path.display()),
            );
            config
        }
        Err(error) => {
            check(
                false,
                format!("config file {}: {error:#}", config_path.display()),
            );
            Config::default()
        }
    };

    for (name, dir) in [("data", paths::data_dir()), ("cache", paths::cache_dir())] {
        let writable = std::fs::create_dir_all(&dir).is_ok() && tempfile_in(&dir).is_ok();
        let hint = if writable {
            String::new()
        } else {
            " is not writable: check its permissions".into()
        };
        check(writable, format!("{name} folder {}{hint}", dir.display()));
    }

    match paths::resolve_model(config.local.model_path.as_deref()) {
        Err(reason) => check(false, reason),
        Ok(source) => match gguf_magic(source.path()) {
            Err(error) => check(false, format!("model {}: {error}", source.describe())),
            Ok(()) => {
                check(true, format!("model {}", source.describe()));
                let engine = engine_for(&config);
                match engine {
                    Err(error) => check(false, format!("{error:#}")),
                    Ok(engine) => match engine.ready().await {
                        Ok(info) => check(
                            true,
                            format!(
                                "model loads: {}, context {} tokens, {} threads",
                                info.name,
                                info.context_tokens,
                                engine.settings().threads
                            ),
                        ),
                        Err(error) => check(false, error.to_string()),
                    },
                }
            }
        },
    }
    if problems == 0 {
        println!("everything is in place");
        ExitCode::SUCCESS
    } else {
        println!("{problems} thing(s) to fix");
        ExitCode::FAILURE
    }
}

fn tempfile_in(dir: &Path) -> std::io::Result<()> {
    let probe = dir.join(format!(".doctor-{}", std::process::id()));
    std::fs::write(&probe, b"")?;
    std::fs::remove_file(probe)
}

fn gguf_magic(path: &Path) -> Result<(), String> {
    use std::io::Read as _;
    let mut magic = [0u8; 4];
    std::fs::File::open(path)
        .and_then(|mut file| file.read_exact(&mut magic))
        .map_err(|error| format!("cannot read it ({error})"))?;
    if &magic == b"GGUF" {
        Ok(())
    } else {
        Err("this is not a GGUF file".into())
    }
}
