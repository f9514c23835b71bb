//! The language server: the only module that knows LSP types.
//!
//! Handlers are short. Document notifications apply their change before they
//! return, with no `.await` in between, so changes land in the order they came.
//! Requests take a snapshot of what they need (a rope clone, a config clone) and
//! let go of every lock before they await anything. `workspace/executeCommand`
//! starts a job (see [`job`]) and answers at once; the job talks to the client on
//! its own, with a timeout on every request it sends.

mod budget;
mod convert;
pub mod ext;
mod input;
mod job;

use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use dashmap::DashMap;
use futures::FutureExt as _;
use serde_json::Value;
use tokio_util::sync::CancellationToken;
use tower_lsp_server::jsonrpc::{Error, Result};
use tower_lsp_server::ls_types::*;
use tower_lsp_server::{Client, LanguageServer, LspService, Server};
use tracing::Instrument as _;

use crate::account::{self, Account};
use crate::budget::{Money, PriceBook};
use crate::cloud::{Endpoint, tokens};
use crate::config::{self, Config, ConfigLayers};
use crate::engine::{EngineSettings, LocalEngine};
use crate::keys::ApiKey;
use crate::task::language::Language;
use crate::task::routing::{self, ContentKind};
use crate::task::{DraftForm, TaskKind, offer};
use crate::text::{Document, DocumentChange, DocumentStore, PositionEncoding, position};

/// How long the server waits for the client to answer one of its requests.
const CLIENT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long typing must pause before the syntax tree is reparsed in the
/// background: long enough that a typist's keystrokes share one reparse, short
/// enough that it is done before a user who paused has selected something.
const REPARSE_AFTER_QUIET: Duration = Duration::from_millis(120);

/// Serves LSP on stdin and stdout until the client disconnects.
pub async fn serve_stdio() {
    let (service, socket) = LspService::build(|client| AumatronServer {
        shared: Arc::new(Shared::new(client)),
    })
    .custom_method(
        "window/workDoneProgress/cancel",
        AumatronServer::work_done_progress_cancel,
    )
    .custom_method(ext::BUDGET_REQUEST, AumatronServer::budget_request)
    .custom_method(input::INVALID_MESSAGE, AumatronServer::invalid_message)
    .custom_method(input::UNKNOWN_METHOD, AumatronServer::unknown_method)
    .finish();
    // stdin reaches the server through `input::forward`, which keeps a malformed
    // message from ending the session.
    let (checked, server_input) = tokio::io::duplex(1 << 16);
    tokio::spawn(async move {
        let stdin = tokio::io::BufReader::new(tokio::io::stdin());
        if let Err(error) = input::forward(stdin, checked).await {
            tracing::error!(%error, "reading stdin failed");
        }
    });
    Server::new(server_input, tokio::io::stdout(), socket)
        .serve(service)
        .await;
}

#[derive(serde::Deserialize)]
struct InvalidMessage {
    reason: String,
}

#[derive(serde::Deserialize)]
struct UnknownMethod {
    method: String,
}

/// What the client said it can do, fixed at `initialize`.
#[derive(Clone, Debug, Default)]
struct ClientSupport {
    encoding: PositionEncoding,
    work_done_progress: bool,
    task_output: bool,
    /// The client declared `experimental.aumatron`, so it takes our budget
    /// notification.
    budget_notifications: bool,
    show_document: bool,
    document_changes: bool,
    configuration: bool,
    dynamic_configuration: bool,
}

impl ClientSupport {
    fn from_params(params: &InitializeParams) -> ClientSupport {
        let caps = &params.capabilities;
        let window = caps.window.as_ref();
        let workspace = caps.workspace.as_ref();
        let declared = |root: Option<&Value>| {
            root.and_then(|value| value.pointer("/aumatron/taskOutput"))
                .and_then(Value::as_bool)
                .unwrap_or(false)
        };
        let extension = |root: Option<&Value>| {
            root.and_then(|value| value.get("aumatron"))
                .is_some_and(Value::is_object)
        };
        let in_options = params
            .initialization_options
            .as_ref()
            .and_then(|options| options.get("experimental"));
        ClientSupport {
            encoding: convert::negotiate_encoding(
                caps.general
                    .as_ref()
                    .and_then(|general| general.position_encodings.as_deref()),
            ),
            work_done_progress: window.and_then(|w| w.work_done_progress) == Some(true),
            task_output: declared(caps.experimental.as_ref()) || declared(in_options),
            budget_notifications: extension(caps.experimental.as_ref()) || extension(in_options),
            show_document: window
                .and_then(|w| w.show_document.as_ref())
                .is_some_and(|show| show.support),
            document_changes: workspace
                .and_then(|w| w.workspace_edit.as_ref())
                .and_then(|edit| edit.document_changes)
                == Some(true),
            configuration: workspace.and_then(|w| w.configuration) == Some(true),
            dynamic_configuration: workspace
                .and_then(|w| w.did_change_configuration.as_ref())
                .and_then(|change| change.dynamic_registration)
                == Some(true),
        }
    }
}

/// The configuration in force and the engine built from it.
struct Settings {
    layers: ConfigLayers,
    config: Config,
    engine: LocalEngine,
}

/// Server state shared by handlers and jobs.
struct Shared {
    client: Client,
    documents: DocumentStore,
    support: OnceLock<ClientSupport>,
    settings: Mutex<Option<Settings>>,
    /// Running tasks by id (which is also their progress token).
    tasks: DashMap<String, CancellationToken>,
    /// Messages from `initialize` to show once the client can receive them.
    pending_messages: Mutex<Vec<String>>,
    /// Keys, ledger and HTTP client; `None` only if the HTTP client could not be
    /// built, in which case every cloud request is refused.
    account: Option<Arc<Account>>,
    budget: budget::BudgetReporter,
}

impl Shared {
    /// Reparses `uri`'s tree on the blocking pool if edits left it waiting, so
    /// that the snapshot a handler takes next does not parse on the runtime's
    /// threads, where a slow parse would hold up every other message.
    async fn settle_syntax(self: &Arc<Self>, uri: &str) {
        if !self.documents.syntax_is_stale(uri) {
            return;
        }
        let shared = self.clone();
        let uri = uri.to_owned();
        let _ = tokio::task::spawn_blocking(move || {
            shared.documents.snapshot(&uri);
        })
        .await;
    }

    fn new(client: Client) -> Shared {
        let account = Account::open()
            .map_err(|error| tracing::error!(%error, "cloud providers are unavailable"))
            .ok()
            .map(Arc::new);
        Shared {
            client,
            documents: DocumentStore::default(),
            support: OnceLock::new(),
            settings: Mutex::new(None),
            tasks: DashMap::new(),
            pending_messages: Mutex::new(Vec::new()),
            account,
            budget: budget::BudgetReporter::default(),
        }
    }

    fn support(&self) -> ClientSupport {
        self.support.get().cloned().unwrap_or_default()
    }

    /// The config and engine in force (defaults before `initialize`).
    fn current(&self) -> (Config, LocalEngine) {
        let mut settings = self.settings.lock().unwrap_or_else(|e| e.into_inner());
        let settings = settings.get_or_insert_with(|| {
            let config = Config::default();
            let engine = start_engine(&config, None);
            Settings {
                layers: ConfigLayers::default(),
                config,
                engine,
            }
        });
        (settings.config.clone(), settings.engine.clone())
    }

    /// Replaces the layers and, when they resolve, the config and the engine;
    /// returns the error that kept the previous config in force otherwise.
    fn apply_layers(&self, layers: ConfigLayers) -> std::result::Result<(), String> {
        let config = layers.resolve().map_err(|error| error.to_string())?;
        let mut settings = self.settings.lock().unwrap_or_else(|e| e.into_inner());
        let previous = settings.take();
        let engine = start_engine(&config, previous.as_ref().map(|s| &s.engine));
        *settings = Some(Settings {
            layers,
            config,
            engine,
        });
        Ok(())
    }

    fn layers(&self) -> ConfigLayers {
        let settings = self.settings.lock().unwrap_or_else(|e| e.into_inner());
        settings
            .as_ref()
            .map(|settings| settings.layers.clone())
            .unwrap_or_default()
    }

    async fn show(&self, kind: MessageType, message: impl std::fmt::Display) {
        self.client
            .show_message(kind, format!("Aumatron: {message}"))
            .await;
    }

    /// Asks the client for the `aumatron` section and applies it.
    async fn pull_configuration(&self) {
        let items = vec![ConfigurationItem {
            scope_uri: None,
            section: Some("aumatron".into()),
        }];
        let answer = tokio::time::timeout(CLIENT_TIMEOUT, self.client.configuration(items)).await;
        let section = match answer {
            Ok(Ok(mut values)) if !values.is_empty() => values.swap_remove(0),
            Ok(Ok(_)) => Value::Null,
            Ok(Err(error)) => {
                tracing::warn!(%error, "workspace/configuration failed");
                return;
            }
            Err(_) => {
                tracing::warn!("workspace/configuration timed out");
                return;
            }
        };
        self.apply_workspace_section(section).await;
    }

    async fn apply_workspace_section(&self, section: Value) {
        let mut layers = self.layers();
        if layers.workspace == section {
            return;
        }
        layers.workspace = section;
        self.apply_and_report(layers).await;
    }

    /// Reads the config file again, after it changed on disk.
    async fn reload_config_file(&self) {
        let mut layers = self.layers();
        match config::read_config_file(&crate::paths::config_file()) {
            Ok(file) if file == layers.file => {}
            Ok(file) => {
                layers.file = file;
                self.apply_and_report(layers).await;
            }
            Err(error) => {
                let message = format!("{error:#}; the previous settings stay");
                self.show(MessageType::WARNING, message).await;
            }
        }
    }

    async fn apply_and_report(&self, layers: ConfigLayers) {
        if let Err(error) = self.apply_layers(layers) {
            let message = format!("settings not applied ({error}); the previous settings stay");
            self.show(MessageType::WARNING, message).await;
            return;
        }
        self.refresh_keys().await;
        self.budget.report(self, false).await;
    }

    /// Reads which providers have keys, off the async threads.
    async fn refresh_keys(&self) {
        if let Some(account) = self.account.clone() {
            let config = self.current().0;
            let _ = tokio::task::spawn_blocking(move || account.refresh_keys(&config)).await;
        }
    }

    /// The account, or the sentence that says why cloud use is impossible.
    fn account(&self) -> std::result::Result<Arc<Account>, String> {
        self.account
            .clone()
            .ok_or_else(|| "cloud providers are unavailable (see the log)".to_owned())
    }
}

/// Builds the engine for `config`, keeping `previous` when it would load the same
/// model with the same settings.
fn start_engine(config: &Config, previous: Option<&LocalEngine>) -> LocalEngine {
    let local = &config.local;
    let threads = local.threads.unwrap_or_else(crate::engine::default_threads);
    let resolved = crate::paths::resolve_model(local.model_path.as_deref());
    let model_path = match &resolved {
        Ok(source) => source.path().to_path_buf(),
        Err(_) => Default::default(),
    };
    let settings = EngineSettings {
        model_path,
        context_tokens: local.context_tokens,
        threads,
    };
    if let Some(previous) = previous.filter(|engine| *engine.settings() == settings) {
        return previous.clone();
    }
    match resolved {
        Ok(source) => {
            tracing::info!(model = %source.describe(), "starting the local engine");
            LocalEngine::start(settings)
        }
        Err(reason) => LocalEngine::unavailable(settings, reason),
    }
}

pub struct AumatronServer {
    shared: Arc<Shared>,
}

impl AumatronServer {
    async fn work_done_progress_cancel(&self, params: WorkDoneProgressCancelParams) {
        let token = match params.token {
            NumberOrString::String(token) => token,
            NumberOrString::Number(number) => number.to_string(),
        };
        self.cancel_task(&token);
    }

    fn cancel_task(&self, task_id: &str) -> bool {
        match self.shared.tasks.get(task_id) {
            Some(token) => {
                tracing::debug!(task_id, "cancelling");
                token.cancel();
                true
            }
            None => false,
        }
    }

    async fn start_task(&self, kind: TaskKind, arguments: Option<&Value>) -> Result<Value> {
        let arguments: ext::TaskArguments = arguments
            .cloned()
            .ok_or_else(|| invalid("expected one argument: { \"uri\": ..., \"range\": ... }"))
            .and_then(|value| {
                serde_json::from_value(value).map_err(|error| invalid(error.to_string()))
            })?;
        let support = self.shared.support();
        self.shared.settle_syntax(arguments.uri.as_str()).await;
        let source = job::Source::open(&self.shared.documents, &arguments.uri)
            .map_err(|error| invalid(error.to_string()))?;
        let selection = source
            .selection(arguments.range.map(convert::range), support.encoding)
            .map_err(|error| invalid(error.to_string()))?;
        let config = self.shared.current().0;
        let form = arguments.form.map(Into::into).unwrap_or_default();
        let target = self
            .shared
            .resolve_target(arguments.target.as_deref(), &config, || {
                source.content_kind(selection.clone())
            })
            .map_err(invalid)?;
        let task_id = start_job(
            &self.shared,
            kind,
            form,
            source,
            selection,
            arguments.instruction,
            target,
        )
        .map_err(invalid)?;
        Ok(serde_json::to_value(ext::TaskStarted { task_id }).unwrap_or_default())
    }

    /// `aumatron/budget` takes no parameters: a request without `params` (or with
    /// `null`) is answered, as docs/protocol.md promises.
    /// The answer to a malformed request (see [`input`]).
    async fn invalid_message(&self, params: InvalidMessage) -> Result<Value> {
        Err(Error {
            code: tower_lsp_server::jsonrpc::ErrorCode::InvalidRequest,
            message: format!("invalid request: {}", params.reason).into(),
            data: None,
        })
    }

    /// The answer to a request for an unknown `$/` method (see [`input`]).
    async fn unknown_method(&self, params: UnknownMethod) -> Result<Value> {
        Err(Error {
            code: tower_lsp_server::jsonrpc::ErrorCode::MethodNotFound,
            message: format!("unknown method {}", params.method).into(),
            data: None,
        })
    }

    async fn budget_request(&self) -> Result<ext::BudgetParams> {
        match budget::snapshot(&self.shared).await {
            Some(snapshot) => Ok(budget::to_params(&snapshot)),
            None => Err(Error {
                code: tower_lsp_server::jsonrpc::ErrorCode::InternalError,
                message: "the spend ledger cannot be read (see the server log)".into(),
                data: None,
            }),
        }
    }

    async fn set_key(&self, argument: Option<&Value>) -> Result<Value> {
        // serde's messages can quote the offending value, which may be the key:
        // this parse error says only what shape was expected.
        let arguments: ext::SetKeyArguments = argument
            .cloned()
            .and_then(|value| serde_json::from_value(value).ok())
            .ok_or_else(|| {
                invalid("expected one argument: { \"provider\": \"openai\", \"key\": \"...\" }")
            })?;
        let config = self.shared.current().0;
        let endpoint = account::keyed_endpoint(&config, &arguments.provider).map_err(invalid)?;
        let key = ApiKey::new(&arguments.key).map_err(|error| invalid(error.to_string()))?;
        let account = self.shared.account().map_err(invalid)?;
        let provider = endpoint.id.clone();
        tokio::task::spawn_blocking(move || account.set_key(&endpoint, &key))
            .await
            .map_err(|error| internal(error.to_string()))?
            .map_err(|error| internal(error.to_string()))?;
        tracing::info!(provider = %provider, "key stored");
        self.shared.budget.report(&self.shared, true).await;
        Ok(serde_json::json!({ "provider": provider, "keyState": "ok" }))
    }

    async fn remove_key(&self, argument: Option<&Value>) -> Result<Value> {
        let arguments: ext::ProviderArguments = parse_argument(argument, "{ \"provider\": ... }")?;
        let account = self.shared.account().map_err(invalid)?;
        let id = arguments.provider.clone();
        let removed = tokio::task::spawn_blocking(move || account.remove_key(&id))
            .await
            .map_err(|error| internal(error.to_string()))?
            .map_err(|error| internal(error.to_string()))?;
        self.shared.budget.report(&self.shared, true).await;
        Ok(serde_json::json!({ "provider": arguments.provider, "removed": removed }))
    }

    async fn set_cap(&self, argument: Option<&Value>) -> Result<Value> {
        let arguments: ext::SetCapArguments = parse_argument(argument, "{ \"usd\": 10 }")?;
        let path = crate::paths::config_file();
        config::write_cap(&path, arguments.usd).map_err(|error| invalid(format!("{error:#}")))?;
        self.shared.reload_config_file().await;
        self.budget_request()
            .await
            .map(|params| serde_json::to_value(params).unwrap_or_default())
    }

    async fn export_spend(&self) -> Result<Value> {
        let account = self.shared.account().map_err(invalid)?;
        let csv = tokio::task::spawn_blocking(move || {
            account
                .ledger()
                .map_err(anyhow::Error::msg)
                .and_then(|ledger| ledger.export_csv())
        })
        .await
        .map_err(|error| internal(error.to_string()))?
        .map_err(|error| internal(format!("{error:#}")))?;
        Ok(serde_json::json!({ "csv": csv }))
    }
}

/// Starts a task in the background and returns its id.
#[allow(clippy::too_many_arguments)]
fn start_job(
    shared: &Arc<Shared>,
    kind: TaskKind,
    form: DraftForm,
    source: job::Source,
    selection: std::ops::Range<usize>,
    instruction: Option<String>,
    target: account::Target,
) -> std::result::Result<String, String> {
    let (config, engine) = shared.current();
    let job = job::Job::new(
        kind,
        form,
        source,
        selection,
        instruction,
        target,
        config,
        engine,
    )?;
    let task_id = job.id.0.clone();
    shared.tasks.insert(task_id.clone(), job.cancel.clone());
    let shared = shared.clone();
    let span = tracing::info_span!("task", id = %job.id, kind = kind.as_str());
    tokio::spawn(
        async move {
            let id = job.id.0.clone();
            let outcome = AssertUnwindSafe(job.run(&shared)).catch_unwind().await;
            shared.tasks.remove(&id);
            if outcome.is_err() {
                tracing::error!("the task panicked");
                let message = format!(
                    "{} stopped on an internal error (see the log)",
                    kind.title()
                );
                shared.show(MessageType::ERROR, message).await;
            }
        }
        .instrument(span),
    );
    Ok(task_id)
}

impl Shared {
    /// Where a task with `target` runs (`local` when it names none).
    fn resolve_target(
        &self,
        target: Option<&str>,
        config: &Config,
        content: impl FnOnce() -> ContentKind,
    ) -> std::result::Result<account::Target, String> {
        match (target.unwrap_or("local"), &self.account) {
            ("local", _) => Ok(account::Target::Local),
            (target, Some(account)) => account.resolve_target(config, target, content),
            (_, None) => Err("cloud providers are unavailable (see the log)".into()),
        }
    }

    /// The provider a cloud action for this text would use, if any.
    fn cloud_choice(&self, config: &Config, content: ContentKind) -> Option<Endpoint> {
        self.account.as_ref()?.cloud_choice(config, content)
    }
}

/// The answer's expected length, for price estimates.
fn typical_output_tokens(kind: TaskKind) -> u64 {
    match kind {
        TaskKind::Summarise => 200,
        TaskKind::Explain => 400,
        TaskKind::Draft => 600,
    }
}

/// About what a task on `text_bytes` of text costs at `endpoint`; `None` when its
/// model has no price.
fn estimate_cost(
    config: &Config,
    endpoint: &Endpoint,
    kind: TaskKind,
    text_bytes: usize,
) -> Option<Money> {
    const PROMPT_BYTES: usize = 400;
    let price = PriceBook::new(&config.prices).lookup(&endpoint.model)?;
    let output =
        typical_output_tokens(kind).min(u64::from(config.cloud.max_output_tokens.for_task(kind)));
    let usage = crate::budget::prices::Usage {
        input: tokens::rough(text_bytes + PROMPT_BYTES),
        output,
        ..Default::default()
    };
    Some(price.cost(&usage))
}

/// "Explain with OpenAI gpt-4.1-mini (cloud, about $0.002)".
/// "Explain function `f` with OpenAI gpt-4.1-mini (cloud, about $0.002)": `title`
/// is the task's title without where it runs.
fn cloud_title(
    config: &Config,
    endpoint: &Endpoint,
    kind: TaskKind,
    title: &str,
    text_bytes: usize,
) -> String {
    let price = match estimate_cost(config, endpoint, kind, text_bytes) {
        Some(cost) => format!("about {cost}"),
        None => "no price set".into(),
    };
    format!(
        "{title} with {} {} (cloud, {price})",
        endpoint.name, endpoint.model
    )
}

fn parse_argument<T: serde::de::DeserializeOwned>(
    argument: Option<&Value>,
    shape: &str,
) -> Result<T> {
    argument
        .cloned()
        .ok_or_else(|| invalid(format!("expected one argument: {shape}")))
        .and_then(|value| serde_json::from_value(value).map_err(|error| invalid(error.to_string())))
}

fn internal(message: String) -> Error {
    Error {
        code: tower_lsp_server::jsonrpc::ErrorCode::InternalError,
        message: message.into(),
        data: None,
    }
}

fn invalid(message: impl Into<String>) -> Error {
    Error::invalid_params(message.into())
}

impl LanguageServer for AumatronServer {
    async fn initialize(&self, params: InitializeParams) -> Result<InitializeResult> {
        let support = ClientSupport::from_params(&params);
        let encoding = support.encoding;
        let _ = self.shared.support.set(support);

        let mut layers = ConfigLayers::default();
        match config::read_config_file(&crate::paths::config_file()) {
            Ok(file) => layers.file = file,
            Err(error) => self.queue_message(format!("{error:#}; using the other settings")),
        }
        if let Some(mut options) = params.initialization_options {
            if let Some(object) = options.as_object_mut() {
                object.remove("experimental");
            }
            layers.initialization_options = options;
        }
        if let Err(error) = self.shared.apply_layers(layers.clone()) {
            self.queue_message(format!(
                "settings not applied ({error}); using the defaults"
            ));
            layers.initialization_options = Value::Null;
            layers.file = Value::Null;
            let _ = self.shared.apply_layers(layers);
        }

        let kinds = [false, true]
            .into_iter()
            .flat_map(|cloud| {
                TaskKind::ALL
                    .into_iter()
                    .map(move |kind| CodeActionKind::from(ext::code_action_kind(kind, cloud)))
            })
            .collect();
        Ok(InitializeResult {
            capabilities: ServerCapabilities {
                position_encoding: Some(convert::encoding_kind(encoding)),
                text_document_sync: Some(TextDocumentSyncCapability::Options(
                    TextDocumentSyncOptions {
                        open_close: Some(true),
                        change: Some(TextDocumentSyncKind::INCREMENTAL),
                        ..Default::default()
                    },
                )),
                code_action_provider: Some(CodeActionProviderCapability::Options(
                    CodeActionOptions {
                        code_action_kinds: Some(kinds),
                        resolve_provider: Some(false),
                        ..Default::default()
                    },
                )),
                execute_command_provider: Some(ExecuteCommandOptions {
                    commands: ext::COMMANDS.iter().map(|c| c.to_string()).collect(),
                    ..Default::default()
                }),
                experimental: Some(serde_json::json!({
                    "aumatron": { "taskOutput": true, "budget": true }
                })),
                ..Default::default()
            },
            server_info: Some(ServerInfo {
                name: "aumatron-lsp".into(),
                version: Some(env!("CARGO_PKG_VERSION").into()),
            }),
            offset_encoding: None,
        })
    }

    async fn initialized(&self, _: InitializedParams) {
        let messages = std::mem::take(
            &mut *self
                .shared
                .pending_messages
                .lock()
                .unwrap_or_else(|e| e.into_inner()),
        );
        for message in messages {
            self.shared.show(MessageType::WARNING, message).await;
        }
        let support = self.shared.support();
        let shared = self.shared.clone();
        tokio::spawn(async move {
            if support.dynamic_configuration {
                let registration = Registration {
                    id: "aumatron-configuration".into(),
                    method: "workspace/didChangeConfiguration".into(),
                    register_options: Some(serde_json::json!({ "section": "aumatron" })),
                };
                let registered = shared.client.register_capability(vec![registration]);
                let _ = tokio::time::timeout(CLIENT_TIMEOUT, registered).await;
            }
            if support.configuration {
                shared.pull_configuration().await;
            }
            shared.refresh_keys().await;
            budget::watch(shared).await;
        });
    }

    async fn shutdown(&self) -> Result<()> {
        for task in self.shared.tasks.iter() {
            task.value().cancel();
        }
        Ok(())
    }

    async fn did_open(&self, params: DidOpenTextDocumentParams) {
        let item = params.text_document;
        self.shared.documents.open(Document::new(
            item.uri.to_string(),
            item.language_id,
            item.version,
            &item.text,
        ));
    }

    async fn did_change(&self, params: DidChangeTextDocumentParams) {
        let encoding = self.shared.support().encoding;
        let changes: Vec<DocumentChange> = params
            .content_changes
            .into_iter()
            .map(|change| DocumentChange {
                range: change.range.map(convert::range),
                text: change.text,
            })
            .collect();
        let uri = params.text_document.uri.to_string();
        let version = params.text_document.version;
        let Some(changed) = self
            .shared
            .documents
            .change(&uri, version, &changes, encoding)
        else {
            tracing::warn!(%uri, "didChange for a document that is not open");
            return;
        };
        if !changed.reparse_due {
            return;
        }
        // The tree was only told of the edit. Once typing pauses, reparse it in
        // the background, so that the next code action finds it ready; an edit
        // that comes first takes over the wait.
        let revision = changed.revision;
        let shared = self.shared.clone();
        tokio::spawn(async move {
            tokio::time::sleep(REPARSE_AFTER_QUIET).await;
            if shared.documents.revision(&uri) != Some(revision) {
                return;
            }
            let _ = tokio::task::spawn_blocking(move || {
                shared.documents.update_syntax_if_quiet(&uri, revision);
            })
            .await;
        });
    }

    async fn did_close(&self, params: DidCloseTextDocumentParams) {
        self.shared
            .documents
            .close(params.text_document.uri.as_str());
    }

    async fn did_change_configuration(&self, params: DidChangeConfigurationParams) {
        let shared = self.shared.clone();
        if self.shared.support().configuration {
            tokio::spawn(async move { shared.pull_configuration().await });
        } else if let Some(section) = params.settings.get("aumatron").cloned() {
            tokio::spawn(async move { shared.apply_workspace_section(section).await });
        }
    }

    async fn code_action(&self, params: CodeActionParams) -> Result<Option<CodeActionResponse>> {
        let encoding = self.shared.support().encoding;
        let uri = &params.text_document.uri;
        let file_name = uri.path().as_str().rsplit('/').next().unwrap_or_default();
        self.shared.settle_syntax(uri.as_str()).await;
        let document = self.shared.documents.snapshot(uri.as_str());

        // What to offer, each with the range it runs on: the definition around a
        // bare cursor, or the selection snapped to what it obviously means. A
        // document that is not open is read from disk when a task runs; until then
        // there is nothing to snap to, and the range is offered as it is.
        let offers: Vec<(offer::Offer, Range)> = match &document {
            Some(document) => {
                let chars = document
                    .char_range(convert::range(params.range), encoding)
                    .map_err(|error| invalid(error.to_string()))?;
                let lsp_position = |char_idx| {
                    convert::lsp_position(position::position_of(&document.rope, char_idx, encoding))
                };
                offer::offers(document, file_name, chars)
                    .into_iter()
                    .map(|offer| {
                        let range = Range::new(
                            lsp_position(offer.chars.start),
                            lsp_position(offer.chars.end),
                        );
                        (offer, range)
                    })
                    .collect()
            }
            None if params.range.start == params.range.end => Vec::new(),
            None => offer::plain_offers(0..0)
                .into_iter()
                .map(|offer| (offer, params.range))
                .collect(),
        };
        if offers.is_empty() {
            return Ok(None);
        }

        let only = params.context.only.as_deref();
        let action = |offer: &offer::Offer,
                      range: Range,
                      title: String,
                      cloud: bool,
                      target: Option<String>| {
            let arguments = ext::TaskArguments {
                uri: uri.clone(),
                range: Some(range),
                instruction: None,
                form: (offer.form != DraftForm::Code).then(|| offer.form.into()),
                target,
            };
            CodeActionOrCommand::CodeAction(CodeAction {
                title,
                kind: Some(CodeActionKind::from(ext::code_action_kind(
                    offer.kind, cloud,
                ))),
                command: Some(Command {
                    title: offer.title(),
                    command: ext::command_for(offer.kind).into(),
                    arguments: Some(vec![serde_json::to_value(arguments).unwrap_or_default()]),
                }),
                ..Default::default()
            })
        };
        let wanted =
            |kind: TaskKind, cloud: bool| kind_requested(&ext::code_action_kind(kind, cloud), only);
        let mut actions: Vec<CodeActionOrCommand> = offers
            .iter()
            .filter(|(offer, _)| wanted(offer.kind, false))
            .map(|(offer, range)| {
                let title = format!("{} with the local model", offer.title());
                action(offer, *range, title, false, None)
            })
            .collect();

        // Cloud variants: only with a key, only while cloud use is on, and named
        // with their provider, model and price, since choosing one spends money.
        let Some(document) = document else {
            return Ok(Some(actions));
        };
        let config = self.shared.current().0;
        let slice = document.rope.slice(offers[0].0.chars.clone());
        let cloud = match &self.shared.account {
            // Telling code from prose parses the text: only when it matters.
            Some(account) if account.cloud_available(&config) => {
                let language = Language::detect(&document.language_id, file_name);
                let content = routing::classify_slice(slice, &language);
                account.cloud_choice(&config, content)
            }
            _ => None,
        };
        if let Some(endpoint) = cloud {
            for (offer, range) in offers.iter().filter(|(offer, _)| wanted(offer.kind, true)) {
                let title = cloud_title(
                    &config,
                    &endpoint,
                    offer.kind,
                    &offer.title(),
                    slice.len_bytes(),
                );
                actions.push(action(
                    offer,
                    *range,
                    title,
                    true,
                    Some(endpoint.id.clone()),
                ));
            }
        }
        for endpoint in account::endpoints(&config).iter().filter(|e| e.local) {
            for (offer, range) in offers.iter().filter(|(offer, _)| wanted(offer.kind, false)) {
                let title = format!(
                    "{} with {} {} (local server)",
                    offer.title(),
                    endpoint.name,
                    endpoint.model
                );
                actions.push(action(
                    offer,
                    *range,
                    title,
                    false,
                    Some(endpoint.id.clone()),
                ));
            }
        }
        Ok(Some(actions))
    }

    async fn execute_command(&self, params: ExecuteCommandParams) -> Result<Option<LSPAny>> {
        let argument = params.arguments.first();
        let answer = match params.command.as_str() {
            ext::CANCEL => {
                let arguments: ext::CancelArguments =
                    parse_argument(argument, "{ \"taskId\": ... }")?;
                let cancelled = self.cancel_task(&arguments.task_id);
                serde_json::json!({ "cancelled": cancelled })
            }
            ext::SET_KEY => self.set_key(argument).await?,
            ext::REMOVE_KEY => self.remove_key(argument).await?,
            ext::SET_CAP => self.set_cap(argument).await?,
            ext::EXPORT_SPEND => self.export_spend().await?,
            command => {
                let kind = ext::task_for_command(command)
                    .ok_or_else(|| invalid(format!("unknown command {command}")))?;
                self.start_task(kind, argument).await?
            }
        };
        Ok(Some(answer))
    }
}

impl AumatronServer {
    fn queue_message(&self, message: String) {
        tracing::warn!(%message, "configuration");
        self.shared
            .pending_messages
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(message);
    }
}

/// Whether an action of `kind` passes the client's `only` filter: a kind matches
/// a filter equal to it or to one of its dot-separated prefixes; the empty kind
/// matches everything.
fn kind_requested(kind: &str, only: Option<&[CodeActionKind]>) -> bool {
    let Some(only) = only else {
        return true;
    };
    only.iter().any(|filter| {
        let filter = filter.as_str();
        filter.is_empty()
            || kind == filter
            || kind
                .strip_prefix(filter)
                .is_some_and(|rest| rest.starts_with('.'))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_filters_match_by_prefix() {
        let kinds = |list: &[&str]| -> Vec<CodeActionKind> {
            list.iter()
                .map(|k| CodeActionKind::from(k.to_string()))
                .collect()
        };
        assert!(kind_requested("refactor.ai.explain", None));
        assert!(kind_requested(
            "refactor.ai.explain",
            Some(&kinds(&["refactor"]))
        ));
        assert!(kind_requested(
            "refactor.ai.explain",
            Some(&kinds(&["refactor.ai"]))
        ));
        assert!(kind_requested("refactor.ai.explain", Some(&kinds(&[""]))));
        assert!(!kind_requested(
            "refactor.ai.explain",
            Some(&kinds(&["quickfix"]))
        ));
        assert!(!kind_requested(
            "refactor.ai.explain",
            Some(&kinds(&["refactor.a"]))
        ));
        assert!(!kind_requested(
            "refactor.ai.explain",
            Some(&kinds(&["source"]))
        ));
    }
}
