//! The command line: serve LSP on stdio (the default), `run` a task on a file,
//! manage cloud `key`s and the `budget`, or check the set-up with `doctor`.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};
use tokio_util::sync::CancellationToken;

use crate::account::{self, Account};
use crate::budget::{self, period};
use crate::config::{self, Config, ConfigLayers};
use crate::engine::{self, EngineSettings, LocalEngine};
use crate::keys::ApiKey;
use crate::paths;
use crate::syntax::{Grammar, SyntaxTree};
use crate::task::cloud::{CloudOutcome, CloudTask, spend_on_cloud};
use crate::task::language::Language;
use crate::task::routing;
use crate::task::{
    DraftForm, TaskId, TaskInput, TaskKind, TaskObserver, TaskReport, TaskStatus, TaskUpdate,
    run_task,
};

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
        /// Where to run it: local (the default), cloud (the provider the text
        /// routes to by its tags), or a provider id such as openai.
        #[arg(long, default_value = "local")]
        target: String,
    },
    /// Store, remove or list cloud API keys (kept in the OS credential store).
    Key {
        #[command(subcommand)]
        action: KeyAction,
    },
    /// Show this month's cloud spend, set the cap, or export the ledger.
    Budget {
        #[command(subcommand)]
        action: Option<BudgetAction>,
    },
    /// Check the model, the configuration and the folders, and say what to fix.
    Doctor,
}

#[derive(Debug, Subcommand)]
enum KeyAction {
    /// Read a key from standard input (without echo on a terminal) and store it.
    Set { provider: String },
    /// Delete a provider's key.
    Remove { provider: String },
    /// Say which providers have a key (never the key).
    Status,
}

#[derive(Debug, Subcommand)]
enum BudgetAction {
    /// Set budget.monthlyCapUsd in the config file, in US dollars.
    SetCap {
        #[arg(allow_negative_numbers = true)]
        usd: f64,
    },
    /// Print every recorded cloud request.
    Export {
        /// As CSV (the only format).
        #[arg(long)]
        csv: bool,
    },
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
            target,
        }) => report(run(task.into(), &file, lines, instruction, &target).await),
        Some(Command::Key { action }) => report(key(action).await),
        Some(Command::Budget { action }) => report(budget(action).await),
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
            TaskUpdate::BudgetChanged => {}
        }
    }
}

async fn run(
    kind: TaskKind,
    file: &Path,
    lines: Option<(usize, usize)>,
    instruction: Option<String>,
    target: &str,
) -> anyhow::Result<()> {
    use anyhow::Context as _;
    let config = file_config()?;
    let text =
        std::fs::read_to_string(file).with_context(|| format!("cannot read {}", file.display()))?;
    let rope = ropey::Rope::from_str(&text);
    let selection = match lines {
        None => 0..rope.len_chars(),
        Some((first, last)) => {
            let count = text.lines().count();
            anyhow::ensure!(
                first <= count,
                "{} has {count} lines, so --lines {first}:{last} selects nothing",
                file.display()
            );
            let start = rope.line_to_char(first - 1);
            // The end of the last line, without its line break.
            let mut end = rope.line_to_char(last.min(rope.len_lines()));
            while end > start && matches!(rope.char(end - 1), '\n' | '\r') {
                end -= 1;
            }
            start..end
        }
    };
    let first_line = rope.char_to_line(selection.start);
    anyhow::ensure!(
        !rope
            .slice(selection.clone())
            .chars()
            .all(char::is_whitespace),
        "there is nothing to work on in {}",
        file.display()
    );
    let file_name = file
        .file_name()
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_default();
    let language = Language::from_file_name(&file_name);
    // The same input the editor's command builds: a definition is named, and an
    // explanation gets its context from the rest of the file.
    let tree =
        Grammar::detect("", &file_name).and_then(|grammar| SyntaxTree::parse(grammar, &rope));
    let input = TaskInput::for_selection(
        kind,
        DraftForm::default(),
        &rope,
        tree.as_ref(),
        language,
        &file_name,
        selection,
        instruction,
    );

    let cancel = CancellationToken::new();
    let on_interrupt = cancel.clone();
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            on_interrupt.cancel();
        }
    });
    let report = if target == "local" {
        run_local(&config, &input, cancel).await?
    } else {
        let account = std::sync::Arc::new(Account::open()?);
        account.refresh_keys(&config);
        let content = || routing::classify(&input.text, &input.language);
        let resolved = account.resolve_target(&config, target, content);
        let account::Target::Provider(endpoint) = resolved.map_err(anyhow::Error::msg)? else {
            anyhow::bail!("the target {target:?} runs nowhere but here; use --target local");
        };
        let path = file.display().to_string();
        let id = TaskId::next();
        let task = CloudTask {
            task_id: &id.0,
            endpoint: &endpoint,
            input: &input,
            path: &path,
            first_line,
            config: &config,
        };
        eprintln!("sending to {} {}…", endpoint.name, endpoint.model);
        match spend_on_cloud(&account, &task, cancel.clone(), &mut StdoutObserver).await {
            CloudOutcome::Finished(report) => report,
            CloudOutcome::KeyRejected { provider } => {
                eprintln!(
                    "{provider} rejected the API key: replace it with `aumatron-lsp key set {}` \
                     or remove it; running locally instead",
                    endpoint.id
                );
                run_local(&config, &input, cancel).await?
            }
        }
    };
    println!();
    if let Some(cost) = report.cost {
        eprintln!(
            "{} {}: {} input and {} output tokens, {cost}",
            report.provider, report.model, report.input_tokens, report.output_tokens
        );
    }
    match report.status {
        TaskStatus::Done => Ok(()),
        TaskStatus::Cancelled => anyhow::bail!("cancelled"),
        TaskStatus::Failed(error) => anyhow::bail!(error),
    }
}

async fn run_local(
    config: &Config,
    input: &TaskInput,
    cancel: CancellationToken,
) -> anyhow::Result<TaskReport> {
    let engine = engine_for(config)?;
    let limit = config.local.max_output_tokens.for_task(input.kind);
    Ok(run_task(&engine, input, limit, cancel, &mut StdoutObserver).await)
}

async fn key(action: KeyAction) -> anyhow::Result<()> {
    let config = file_config()?;
    let account = Account::open()?;
    match action {
        KeyAction::Set { provider } => {
            let endpoint =
                account::keyed_endpoint(&config, &provider).map_err(anyhow::Error::msg)?;
            let text = read_secret(&format!("API key for {provider}: "))?;
            let key = ApiKey::new(&text)?;
            account.set_key(&endpoint, &key)?;
            println!(
                "stored the key for {provider} in {}",
                account.keys.describe()
            );
        }
        KeyAction::Remove { provider } => {
            if account.remove_key(&provider)? {
                println!("removed the key for {provider}");
            } else {
                println!("{provider} had no key");
            }
        }
        KeyAction::Status => {
            account.refresh_keys(&config);
            let snapshot = account.snapshot(&config)?;
            println!("keys are kept in {}", account.keys.describe());
            for provider in snapshot.providers {
                let state = if provider.local {
                    "local server, no key needed".to_owned()
                } else {
                    match provider.key_state {
                        budget::KeyState::Ok => "key stored".to_owned(),
                        budget::KeyState::Missing => "no key".to_owned(),
                        budget::KeyState::Rejected => {
                            "key stored, but the provider rejected it: replace or remove it"
                                .to_owned()
                        }
                    }
                };
                println!("{:<12} {:<20} {state}", provider.id, provider.model);
            }
        }
    }
    Ok(())
}

/// A secret from the terminal without echo, or from piped standard input.
fn read_secret(prompt: &str) -> anyhow::Result<String> {
    use std::io::IsTerminal as _;
    if std::io::stdin().is_terminal() {
        Ok(rpassword::prompt_password(prompt)?)
    } else {
        let mut text = String::new();
        std::io::Read::read_to_string(&mut std::io::stdin(), &mut text)?;
        Ok(text)
    }
}

async fn budget(action: Option<BudgetAction>) -> anyhow::Result<()> {
    match action {
        Some(BudgetAction::SetCap { usd }) => {
            let path = paths::config_file();
            config::write_cap(&path, usd)?;
            println!("budget.monthlyCapUsd = {usd} in {}", path.display());
            Ok(())
        }
        Some(BudgetAction::Export { csv: _ }) => {
            let account = Account::open()?;
            let ledger = account.ledger().map_err(anyhow::Error::msg)?;
            print!("{}", ledger.export_csv()?);
            Ok(())
        }
        None => show_budget(),
    }
}

fn show_budget() -> anyhow::Result<()> {
    let config = file_config()?;
    let account = Account::open()?;
    account.refresh_keys(&config);
    let snapshot = account.snapshot(&config)?;
    let day = |at: i64| period::rfc3339(at)[..10].to_owned();
    println!(
        "period     {} to {} (UTC)",
        day(snapshot.period.start),
        day(snapshot.period.end)
    );
    println!("cap        {}", snapshot.cap);
    println!("spent      {}", snapshot.spent);
    println!("reserved   {} (requests in flight)", snapshot.reserved);
    println!("remaining  {}", snapshot.remaining);
    println!("state      {}", snapshot.level.as_str());
    for provider in &snapshot.providers {
        if provider.requests > 0 {
            println!(
                "  {:<12} {} in {} request(s)",
                provider.id, provider.spent, provider.requests
            );
        }
    }
    let ledger = account.ledger().map_err(anyhow::Error::msg)?;
    let recent = ledger.recent(10)?;
    if !recent.is_empty() {
        println!("last requests:");
    }
    for record in recent {
        let cost = record.cost.map_or_else(
            || format!("in flight, up to {}", record.reserved),
            |c| c.to_string(),
        );
        let tokens = record.usage.map_or(String::new(), |usage| {
            format!(", {} in / {} out", usage.total_input(), usage.output)
        });
        println!(
            "  {}  {} {}  {}{tokens}  ({})",
            period::rfc3339(record.reserved_at),
            record.provider,
            record.model,
            cost,
            record.outcome.as_deref().unwrap_or("in flight")
        );
    }
    Ok(())
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
    match Account::open() {
        Err(error) => check(false, format!("cloud client: {error:#}")),
        Ok(account) => {
            match account.ledger() {
                Ok(ledger) => check(true, format!("spend ledger {}", ledger.path().display())),
                Err(reason) => check(false, format!("{reason}; cloud tasks are refused")),
            }
            account.refresh_keys(&config);
            let with_key: Vec<&str> = config
                .providers
                .iter()
                .filter(|(id, provider)| !provider.local && account.has_usable_key(id))
                .map(|(id, _)| id.as_str())
                .collect();
            let keys = if with_key.is_empty() {
                "no provider has a key (local only until one is set)".to_owned()
            } else {
                format!("keys for {}", with_key.join(", "))
            };
            check(true, format!("{keys}, in {}", account.keys.describe()));
            if let Ok(snapshot) = account.snapshot(&config) {
                check(
                    true,
                    format!(
                        "budget: {} of {} spent this month, {} left",
                        snapshot.spent, snapshot.cap, snapshot.remaining
                    ),
                );
            }
        }
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
