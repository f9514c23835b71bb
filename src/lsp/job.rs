//! One task started by `workspace/executeCommand`, from start to delivery.
//!
//! A job reports progress when the client supports it, streams
//! `aumatron/taskDidChange` to clients that asked for it, and otherwise delivers
//! the answer as one `workspace/applyEdit` (or a Markdown file with
//! `output = "document"`). The edit is computed against the document as it is at
//! that moment; when the selected text is gone, the answer goes to a file instead,
//! so nothing is lost and nothing is corrupted.

use std::ops::Range as Chars;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use ropey::Rope;
use tokio_util::sync::CancellationToken;
use tower_lsp_server::ls_types::notification::Progress as ProgressNotification;
use tower_lsp_server::ls_types::*;

use std::sync::Arc;

use super::ext::{TaskDidChange, TaskDidChangeParams};
use super::{CLIENT_TIMEOUT, ClientSupport, Shared, convert};
use crate::account::Target;
use crate::cloud::Endpoint;
use crate::config::{Config, OutputMode};
use crate::engine::LocalEngine;
use crate::syntax::{Grammar, SyntaxTree};
use crate::task::cloud::{CloudOutcome, CloudTask, spend_on_cloud};
use crate::task::language::Language;
use crate::task::placement::{self, Anchor};
use crate::task::routing::{self, ContentKind};
use crate::task::{
    DraftForm, TaskId, TaskInput, TaskKind, TaskObserver, TaskReport, TaskStatus, TaskUpdate,
    run_task,
};
use crate::text::{DocumentStore, PositionEncoding, TextRange, position};

/// Progress reports are sent at most this often.
const REPORT_INTERVAL: Duration = Duration::from_millis(200);
/// How long an edit waits for the editor's answer. An editor may first show it for
/// review (VS Code's refactor preview), so the answer takes as long as the user
/// does; only an editor that never answers meets this.
const EDIT_TIMEOUT: Duration = Duration::from_secs(15 * 60);
/// How long a question to the user waits for an answer.
const OFFER_TIMEOUT: Duration = Duration::from_secs(60);

/// Puts a question to the user with `window/showMessageRequest`; the title of the
/// chosen action, or `None` when there was no answer in time.
async fn ask(
    shared: &Shared,
    kind: MessageType,
    message: String,
    choices: &[&str],
) -> Option<String> {
    let actions = choices
        .iter()
        .map(|title| MessageActionItem {
            title: (*title).to_owned(),
            properties: Default::default(),
        })
        .collect();
    let request = shared
        .client
        .show_message_request(kind, message, Some(actions));
    match tokio::time::timeout(OFFER_TIMEOUT, request).await {
        Ok(Ok(Some(item))) => Some(item.title),
        _ => None,
    }
}

/// The document a task reads: the open copy, or the file on disk.
#[derive(Clone, Debug)]
pub struct Source {
    uri: Uri,
    rope: Rope,
    /// The tree of `rope`, when its language has a grammar.
    tree: Option<SyntaxTree>,
    version: i32,
    language: Language,
    file_name: String,
}

#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error("{0} is not open and is not a file on disk")]
    NotAFile(String),
    #[error("cannot read {path}: {error}")]
    Unreadable { path: String, error: std::io::Error },
    #[error("{0}")]
    Range(#[from] crate::text::PositionError),
    #[error("there is nothing to work on: the document is empty")]
    Empty,
}

impl Source {
    pub fn open(documents: &DocumentStore, uri: &Uri) -> Result<Source, SourceError> {
        let file_name = uri
            .path()
            .as_str()
            .rsplit('/')
            .next()
            .unwrap_or_default()
            .to_owned();
        if let Some(document) = documents.snapshot(uri.as_str()) {
            return Ok(Source {
                uri: uri.clone(),
                language: Language::detect(&document.language_id, &file_name),
                tree: document.syntax().cloned(),
                rope: document.rope,
                version: document.version,
                file_name,
            });
        }
        let path = file_path(uri)?;
        let text = std::fs::read_to_string(&path).map_err(|error| SourceError::Unreadable {
            path: path.display().to_string(),
            error,
        })?;
        let language = Language::from_file_name(&file_name);
        let rope = Rope::from_str(&text);
        let tree =
            Grammar::for_language(&language).and_then(|grammar| SyntaxTree::parse(grammar, &rope));
        Ok(Source {
            uri: uri.clone(),
            rope,
            tree,
            version: -1,
            language,
            file_name,
        })
    }

    /// The chars a task works on: the range, or the whole document when the range
    /// is missing or empty.
    pub fn selection(
        &self,
        range: Option<TextRange>,
        encoding: PositionEncoding,
    ) -> Result<Chars<usize>, SourceError> {
        let chars = match range {
            Some(range) if !range.is_empty() => {
                position::char_range(&self.rope, range, encoding, position::Resolve::Strict)?
            }
            Some(range) => {
                // Still check an empty range, so a bad one gets its error.
                position::char_range(&self.rope, range, encoding, position::Resolve::Strict)?;
                0..self.rope.len_chars()
            }
            None => 0..self.rope.len_chars(),
        };
        if self
            .rope
            .slice(chars.clone())
            .chars()
            .all(char::is_whitespace)
        {
            return Err(SourceError::Empty);
        }
        Ok(chars)
    }
}

impl Source {
    /// Whether the selected text is mostly code or prose, for routing.
    pub fn content_kind(&self, selection: Chars<usize>) -> ContentKind {
        routing::classify_slice(self.rope.slice(selection), &self.language)
    }
}

fn file_path(uri: &Uri) -> Result<PathBuf, SourceError> {
    uri.to_file_path()
        .map(|path| path.into_owned())
        .ok_or_else(|| SourceError::NotAFile(uri.to_string()))
}

pub struct Job {
    pub id: TaskId,
    pub cancel: CancellationToken,
    kind: TaskKind,
    form: DraftForm,
    source: Source,
    anchor: Anchor,
    input: TaskInput,
    target: Target,
    config: Config,
    engine: LocalEngine,
}

impl Job {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        kind: TaskKind,
        form: DraftForm,
        source: Source,
        selection: Chars<usize>,
        instruction: Option<String>,
        target: Target,
        config: Config,
        engine: LocalEngine,
    ) -> Result<Job, String> {
        let text = source.rope.slice(selection.clone()).to_string();
        if instruction.is_some() && kind != TaskKind::Draft {
            return Err(format!(
                "only draft takes an instruction, not {}",
                kind.as_str()
            ));
        }
        if form != DraftForm::Code && kind != TaskKind::Draft {
            return Err(format!("only draft takes a form, not {}", kind.as_str()));
        }
        let input = TaskInput::for_selection(
            kind,
            form,
            &source.rope,
            source.tree.as_ref(),
            source.language,
            &source.file_name,
            selection.clone(),
            instruction,
        );
        Ok(Job {
            id: TaskId::next(),
            cancel: CancellationToken::new(),
            kind,
            form,
            anchor: Anchor {
                chars: selection,
                text,
                version: source.version,
            },
            source,
            input,
            target,
            config,
            engine,
        })
    }

    pub async fn run(self, shared: &Arc<Shared>) {
        let support = shared.support();
        let progress = Progress::begin(shared, &support, &self.id, self.kind).await;
        let max_output_tokens = match &self.target {
            Target::Local => self.config.local.max_output_tokens.for_task(self.kind),
            Target::Provider(_) => self.config.cloud.max_output_tokens.for_task(self.kind),
        };
        let mut observer = Observer {
            shared,
            id: &self.id,
            kind: self.kind,
            task_output: support.task_output,
            progress: progress.as_ref(),
            max_output_tokens,
            provider: match &self.target {
                Target::Local => "local".into(),
                Target::Provider(endpoint) => endpoint.id.clone(),
            },
            model: match &self.target {
                Target::Local => self
                    .engine
                    .model_info()
                    .map(|info| info.name)
                    .unwrap_or_default(),
                Target::Provider(endpoint) => endpoint.model.clone(),
            },
            input_tokens: 0,
            last_report: None,
        };
        let started = Instant::now();
        let report = match &self.target {
            Target::Local => self.run_locally(&mut observer).await,
            Target::Provider(endpoint) => self.run_on(endpoint, shared, &mut observer).await,
        };
        tracing::info!(
            status = report.status.as_str(),
            provider = %report.provider,
            input_tokens = report.input_tokens,
            output_tokens = report.output_tokens,
            cost_nanos = report.cost.map(|cost| cost.nanos()),
            elapsed_ms = started.elapsed().as_millis() as u64,
            "task ended"
        );

        let end_message = self.deliver(shared, &support, &report).await;
        if let Some(progress) = progress {
            progress.end(shared, end_message).await;
        }
        if report.beyond_local {
            self.offer_cloud(shared, &report).await;
        }
    }

    async fn run_locally(&self, observer: &mut Observer<'_>) -> TaskReport {
        observer.max_output_tokens = self.config.local.max_output_tokens.for_task(self.kind);
        observer.provider = "local".into();
        run_task(
            &self.engine,
            &self.input,
            observer.max_output_tokens,
            self.cancel.clone(),
            observer,
        )
        .await
    }

    /// Runs on a provider; a rejected key sends the task to the local model.
    async fn run_on(
        &self,
        endpoint: &Endpoint,
        shared: &Shared,
        observer: &mut Observer<'_>,
    ) -> TaskReport {
        let account = match shared.account() {
            Ok(account) => account,
            Err(reason) => return TaskReport::failed(&endpoint.id, &endpoint.model, reason),
        };
        let first_line = self.source.rope.char_to_line(self.anchor.chars.start);
        let task = CloudTask {
            task_id: &self.id.0,
            endpoint,
            input: &self.input,
            path: self.source.uri.path().as_str(),
            first_line,
            config: &self.config,
        };
        match spend_on_cloud(&account, &task, self.cancel.clone(), observer).await {
            CloudOutcome::Finished(report) => report,
            CloudOutcome::KeyRejected { provider } => {
                let message = format!(
                    "{provider} rejected the API key: replace it with Set API key \
                     (aumatron.setKey) or remove it; running {} with the local model instead",
                    self.kind.title()
                );
                shared.show(MessageType::WARNING, message).await;
                self.run_locally(observer).await
            }
        }
    }

    /// After a local failure the cloud could fix (input too big, no model), asks
    /// whether to send the task to the provider it would route to. Only the
    /// user's yes sends anything.
    async fn offer_cloud(&self, shared: &Arc<Shared>, report: &TaskReport) {
        let content = self.source.content_kind(self.anchor.chars.clone());
        let Some(endpoint) = shared.cloud_choice(&self.config, content) else {
            return;
        };
        let yes = super::cloud_title(
            &self.config,
            &endpoint,
            self.kind,
            self.kind.title(),
            self.input.text.len(),
        );
        let error = match &report.status {
            TaskStatus::Failed(error) => error.as_str(),
            _ => "",
        };
        let message = format!(
            "Aumatron: {} could not run locally ({error}). Send it to {} instead?",
            self.kind.title(),
            endpoint.name
        );
        let answer = ask(shared, MessageType::INFO, message, &[&yes, "No"]).await;
        let chosen = answer.as_deref() == Some(yes.as_str());
        if !chosen {
            tracing::debug!("the cloud offer was declined or not answered");
            return;
        }
        let started = super::start_job(
            shared,
            self.kind,
            self.form,
            self.source.clone(),
            self.anchor.chars.clone(),
            self.input.instruction.clone(),
            Target::Provider(endpoint),
        );
        if let Err(error) = started {
            shared.show(MessageType::ERROR, error).await;
        }
    }

    /// Hands the answer over and returns the last word for the progress bar.
    async fn deliver(
        &self,
        shared: &Shared,
        support: &ClientSupport,
        report: &TaskReport,
    ) -> String {
        if support.task_output {
            let params = TaskDidChangeParams {
                status: report.status.as_str().into(),
                text: Some(report.text.clone()),
                error: match &report.status {
                    TaskStatus::Failed(error) => Some(error.clone()),
                    _ => None,
                },
                ..self.notification(report)
            };
            shared
                .client
                .send_notification::<TaskDidChange>(params)
                .await;
        }
        match &report.status {
            TaskStatus::Cancelled => "Cancelled".into(),
            TaskStatus::Failed(error) => {
                let message = format!("{} failed: {error}", self.kind.title());
                shared.show(MessageType::ERROR, &message).await;
                message
            }
            TaskStatus::Done if report.text.is_empty() => {
                let message = format!("{}: the model gave an empty answer", self.kind.title());
                shared.show(MessageType::WARNING, &message).await;
                message
            }
            TaskStatus::Done => {
                let streamed = support.task_output && self.kind != TaskKind::Draft;
                if streamed {
                    "Done".into()
                } else if self.config.output == OutputMode::Document {
                    self.show_as_document(shared, support, &report.text, None)
                        .await
                } else {
                    self.apply_edit(shared, support, &report.text).await
                }
            }
        }
    }

    fn notification(&self, report: &TaskReport) -> TaskDidChangeParams {
        TaskDidChangeParams {
            task_id: self.id.0.clone(),
            kind: self.kind.as_str().into(),
            status: "running".into(),
            provider: report.provider.clone(),
            model: report.model.clone(),
            input_tokens: report.input_tokens,
            output_tokens: report.output_tokens,
            cost_usd: report.cost.map(super::budget::dollars),
            ..Default::default()
        }
    }

    async fn apply_edit(&self, shared: &Shared, support: &ClientSupport, answer: &str) -> String {
        // The document may have changed, or been opened, since the task began.
        let current = match Source::open(&shared.documents, &self.source.uri) {
            Ok(current) => current,
            Err(error) => {
                return self
                    .show_as_document(shared, support, answer, Some(&error.to_string()))
                    .await;
            }
        };
        let Ok(selection) = placement::reanchor(&current.rope, current.version, &self.anchor)
        else {
            let reason = placement::AnchorLost.to_string();
            return self
                .show_as_document(shared, support, answer, Some(&reason))
                .await;
        };
        let placed = placement::Target {
            rope: &current.rope,
            tree: current.tree.as_ref(),
            language: &current.language,
        };
        let insertion = placement::insertion(placed, selection, self.kind, self.form, answer);
        let at = convert::lsp_position(position::position_of(
            &current.rope,
            insertion.at,
            support.encoding,
        ));
        let edit = TextEdit::new(Range::new(at, at), insertion.text);
        let workspace_edit = if support.document_changes && current.version >= 0 {
            WorkspaceEdit {
                document_changes: Some(DocumentChanges::Edits(vec![TextDocumentEdit {
                    text_document: OptionalVersionedTextDocumentIdentifier {
                        uri: current.uri.clone(),
                        version: Some(current.version),
                    },
                    edits: vec![OneOf::Left(edit)],
                }])),
                ..Default::default()
            }
        } else {
            WorkspaceEdit {
                changes: Some([(current.uri.clone(), vec![edit])].into_iter().collect()),
                ..Default::default()
            }
        };
        let label = format!("Aumatron: {}", self.kind.title());
        let params = ApplyWorkspaceEditParams {
            label: Some(label),
            edit: workspace_edit,
        };
        let applied = tokio::time::timeout(
            EDIT_TIMEOUT,
            shared
                .client
                .send_request::<request::ApplyWorkspaceEdit>(params),
        )
        .await;
        match applied {
            Ok(Ok(response)) if response.applied => "Done".into(),
            Ok(Ok(response)) => {
                let reason = response
                    .failure_reason
                    .unwrap_or_else(|| "the editor did not apply the edit".into());
                self.show_as_document(shared, support, answer, Some(&reason))
                    .await
            }
            Ok(Err(error)) => {
                self.show_as_document(shared, support, answer, Some(&error.to_string()))
                    .await
            }
            Err(_) => {
                let reason = "the editor did not answer the edit request";
                self.show_as_document(shared, support, answer, Some(reason))
                    .await
            }
        }
    }

    /// Writes the answer to a Markdown file and asks the editor to show it; `why`
    /// says why this is happening instead of an edit, when it is.
    async fn show_as_document(
        &self,
        shared: &Shared,
        support: &ClientSupport,
        answer: &str,
        why: Option<&str>,
    ) -> String {
        let path = match write_answer(&self.id, self.kind, &self.source.file_name, answer) {
            Ok(path) => path,
            Err(error) => {
                let message = format!(
                    "{} could not be saved ({error}); the answer was:\n{answer}",
                    self.kind.title()
                );
                shared.show(MessageType::ERROR, &message).await;
                return message;
            }
        };
        let mut shown = false;
        if support.show_document
            && let Some(uri) = Uri::from_file_path(&path)
        {
            let params = ShowDocumentParams {
                uri,
                external: Some(false),
                take_focus: Some(true),
                selection: None,
            };
            let request = shared.client.show_document(params);
            shown = matches!(
                tokio::time::timeout(CLIENT_TIMEOUT, request).await,
                Ok(Ok(true))
            );
        }
        let message = match (why, shown) {
            (Some(why), _) => format!(
                "{} was not put in the file because {why}; the answer is in {}",
                self.kind.title(),
                path.display()
            ),
            (None, true) => return "Done".into(),
            (None, false) => format!("the answer is in {}", path.display()),
        };
        let kind = if why.is_some() {
            MessageType::WARNING
        } else {
            MessageType::INFO
        };
        shared.show(kind, &message).await;
        message
    }
}

fn write_answer(
    id: &TaskId,
    kind: TaskKind,
    file_name: &str,
    answer: &str,
) -> std::io::Result<PathBuf> {
    let folder = crate::paths::answers_dir();
    std::fs::create_dir_all(&folder)?;
    let stem: String = file_name
        .chars()
        .map(|c| {
            if c.is_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let heading = match kind {
        TaskKind::Summarise => "Summary",
        TaskKind::Explain => "Explanation",
        TaskKind::Draft => "Draft",
    };
    let text = format!("# {heading} of {file_name}\n\n{answer}\n");
    // Task ids restart with every process, so the time goes into the name too,
    // and a name already taken (by another window's answer) gets a number: an
    // answer saved so that it is not lost must never overwrite another.
    let stamp = crate::budget::period::rfc3339(crate::budget::period::now()).replace(':', "");
    let mut attempt = 0u32;
    loop {
        let suffix = if attempt == 0 {
            String::new()
        } else {
            format!("-{attempt}")
        };
        let path = folder.join(format!("{}-{stem}-{stamp}-{id}{suffix}.md", kind.as_str()));
        match std::fs::File::options()
            .write(true)
            .create_new(true)
            .open(&path)
        {
            Ok(mut file) => {
                std::io::Write::write_all(&mut file, text.as_bytes())?;
                return Ok(path);
            }
            Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => attempt += 1,
            Err(error) => return Err(error),
        }
    }
}

/// Reports a task's progress to the client as it runs.
struct Observer<'a> {
    shared: &'a Shared,
    id: &'a TaskId,
    kind: TaskKind,
    task_output: bool,
    progress: Option<&'a Progress>,
    max_output_tokens: u32,
    /// `local`, or the provider's id.
    provider: String,
    model: String,
    input_tokens: u32,
    last_report: Option<Instant>,
}

impl TaskObserver for Observer<'_> {
    async fn confirm_send(&mut self, question: &str) -> bool {
        self.ask(question).await
    }

    async fn update(&mut self, update: TaskUpdate<'_>) {
        match update {
            TaskUpdate::WaitingForModel => {
                if let Some(progress) = self.progress {
                    progress
                        .report(self.shared, "waiting for the model to load", None)
                        .await;
                }
            }
            TaskUpdate::Started {
                model,
                input_tokens,
            } => {
                self.model = model.to_owned();
                self.input_tokens = input_tokens;
                if self.task_output {
                    self.notify(None, 0).await;
                }
                if let Some(progress) = self.progress {
                    let message = format!("reading {input_tokens} tokens");
                    progress.report(self.shared, &message, Some(0)).await;
                }
            }
            TaskUpdate::BudgetChanged => self.shared.budget.report(self.shared, true).await,
            TaskUpdate::Text {
                delta,
                output_tokens,
            } => {
                if self.task_output {
                    self.notify(Some(delta), output_tokens).await;
                }
                let due = self
                    .last_report
                    .is_none_or(|last| last.elapsed() >= REPORT_INTERVAL);
                if let (Some(progress), true) = (self.progress, due) {
                    self.last_report = Some(Instant::now());
                    let percentage =
                        output_tokens.saturating_mul(100) / self.max_output_tokens.max(1);
                    let message = format!("{} tokens written", output_tokens);
                    progress
                        .report(self.shared, &message, Some(percentage.min(99)))
                        .await;
                }
            }
            step @ (TaskUpdate::Part { .. } | TaskUpdate::Combining { .. }) => {
                let message = step.step_message().unwrap_or_default();
                if self.task_output {
                    self.notify_step(&message).await;
                }
                if let Some(progress) = self.progress {
                    // The parts take most of the time; combining and the final
                    // summary share the rest.
                    let percentage = match step {
                        TaskUpdate::Part { index, count } => (index - 1) * 80 / count.max(1),
                        TaskUpdate::Combining { index, count } => {
                            80 + (index - 1) * 10 / count.max(1)
                        }
                        _ => 0,
                    };
                    progress
                        .report(self.shared, &message, Some(percentage))
                        .await;
                }
            }
        }
    }
}

impl Observer<'_> {
    async fn notify_step(&self, message: &str) {
        let params = TaskDidChangeParams {
            task_id: self.id.0.clone(),
            kind: self.kind.as_str().into(),
            status: "running".into(),
            message: Some(message.to_owned()),
            provider: self.provider.clone(),
            model: self.model.clone(),
            ..Default::default()
        };
        self.shared
            .client
            .send_notification::<TaskDidChange>(params)
            .await;
    }

    /// Asks whether to send despite a secret-guard finding.
    async fn ask(&self, question: &str) -> bool {
        let send = "Send anyway";
        let message = format!("Aumatron: {question}");
        let answer = ask(
            self.shared,
            MessageType::WARNING,
            message,
            &[send, "Cancel"],
        )
        .await;
        answer.as_deref() == Some(send)
    }

    async fn notify(&self, delta: Option<&str>, output_tokens: u32) {
        let params = TaskDidChangeParams {
            task_id: self.id.0.clone(),
            kind: self.kind.as_str().into(),
            status: "running".into(),
            delta: delta.map(str::to_owned),
            provider: self.provider.clone(),
            model: self.model.clone(),
            input_tokens: self.input_tokens,
            output_tokens,
            ..Default::default()
        };
        self.shared
            .client
            .send_notification::<TaskDidChange>(params)
            .await;
    }
}

/// Server-initiated work-done progress for one task; its token is the task id.
struct Progress {
    token: ProgressToken,
    last_percentage: std::sync::atomic::AtomicU32,
}

impl Progress {
    async fn begin(
        shared: &Shared,
        support: &ClientSupport,
        id: &TaskId,
        kind: TaskKind,
    ) -> Option<Progress> {
        if !support.work_done_progress {
            return None;
        }
        let token = ProgressToken::String(id.0.clone());
        let created = shared.client.create_work_done_progress(token.clone());
        match tokio::time::timeout(CLIENT_TIMEOUT, created).await {
            Ok(Ok(())) => {}
            _ => return None,
        }
        let begin = WorkDoneProgressBegin {
            title: format!("Aumatron: {}", kind.gerund()),
            cancellable: Some(true),
            message: Some("starting".into()),
            percentage: Some(0),
        };
        let progress = Progress {
            token,
            last_percentage: Default::default(),
        };
        progress.send(shared, WorkDoneProgress::Begin(begin)).await;
        Some(progress)
    }

    async fn report(&self, shared: &Shared, message: &str, percentage: Option<u32>) {
        use std::sync::atomic::Ordering;
        // Percentages only ever rise.
        let percentage =
            percentage.map(|p| self.last_percentage.fetch_max(p, Ordering::Relaxed).max(p));
        let report = WorkDoneProgressReport {
            cancellable: Some(true),
            message: Some(message.to_owned()),
            percentage,
        };
        self.send(shared, WorkDoneProgress::Report(report)).await;
    }

    async fn end(self, shared: &Shared, message: String) {
        let end = WorkDoneProgressEnd {
            message: Some(message),
        };
        self.send(shared, WorkDoneProgress::End(end)).await;
    }

    async fn send(&self, shared: &Shared, value: WorkDoneProgress) {
        let params = ProgressParams {
            token: self.token.clone(),
            value: ProgressParamsValue::WorkDone(value),
        };
        shared
            .client
            .send_notification::<ProgressNotification>(params)
            .await;
    }
}
