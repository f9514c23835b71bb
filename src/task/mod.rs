//! Tasks: summarise, explain and draft. A task turns a piece of text into a prompt,
//! runs it on an engine and collects the answer. This module knows nothing of LSP;
//! the language server and the `run` command both drive it through
//! [`TaskObserver`].
//!
//! Two things happen before the model writes: an explanation quotes as much of
//! the rest of its file as fits a token budget (`context`), and a summary of a text
//! bigger than the local context is made in parts (`parts`).

pub mod cloud;
mod context;
pub mod language;
pub mod offer;
mod parts;
pub mod placement;
pub mod prompt;
pub mod routing;

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::time::Instant;

use tokio_util::sync::CancellationToken;

use crate::engine::{
    ChatPrompt, Countable, EngineError, GenerationEvent, GenerationRequest, LocalEngine, StopReason,
};
pub use prompt::TaskInput;

/// What a draft writes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum DraftForm {
    /// The code (or text) that should come after the selection.
    #[default]
    Code,
    /// A doc comment or docstring for the definition the selection is.
    DocComment,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TaskKind {
    Summarise,
    Explain,
    Draft,
}

impl TaskKind {
    pub const ALL: [TaskKind; 3] = [TaskKind::Summarise, TaskKind::Explain, TaskKind::Draft];

    /// The name used in commands, notifications and config keys.
    pub fn as_str(self) -> &'static str {
        match self {
            TaskKind::Summarise => "summarise",
            TaskKind::Explain => "explain",
            TaskKind::Draft => "draft",
        }
    }

    pub fn title(self) -> &'static str {
        match self {
            TaskKind::Summarise => "Summarise",
            TaskKind::Explain => "Explain",
            TaskKind::Draft => "Draft",
        }
    }

    pub fn gerund(self) -> &'static str {
        match self {
            TaskKind::Summarise => "Summarising",
            TaskKind::Explain => "Explaining",
            TaskKind::Draft => "Drafting",
        }
    }
}

/// Identifies one task within a server process.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct TaskId(pub String);

impl TaskId {
    pub fn next() -> TaskId {
        static NEXT: AtomicU64 = AtomicU64::new(1);
        TaskId(format!("task-{}", NEXT.fetch_add(1, Ordering::Relaxed)))
    }
}

impl std::fmt::Display for TaskId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// What a running task reports along the way.
#[derive(Clone, Debug, PartialEq)]
pub enum TaskUpdate<'a> {
    /// The model is still loading; the task waits for it.
    WaitingForModel,
    /// The prompt has been read and generation begins.
    Started { model: &'a str, input_tokens: u32 },
    /// New answer text; `output_tokens` counts all generated so far.
    Text { delta: &'a str, output_tokens: u32 },
    /// A summary in parts is summarising part `index` (from 1) of `count`.
    Part { index: u32, count: u32 },
    /// A summary in parts is combining part summaries: group `index` of `count`.
    Combining { index: u32, count: u32 },
    /// Money was reserved or settled for this task.
    BudgetChanged,
}

impl TaskUpdate<'_> {
    /// The words a user sees for a step of a summary made in parts.
    pub fn step_message(&self) -> Option<String> {
        match self {
            TaskUpdate::Part { index, count } => Some(format!("part {index} of {count}")),
            TaskUpdate::Combining { index, count } => {
                Some(format!("combining the summaries, {index} of {count}"))
            }
            _ => None,
        }
    }
}

/// Receives a task's updates as they happen.
pub trait TaskObserver: Send {
    fn update(&mut self, update: TaskUpdate<'_>) -> impl Future<Output = ()> + Send;

    /// Asks the user whether to send despite `question`'s reason; no by default.
    fn confirm_send(&mut self, question: &str) -> impl Future<Output = bool> + Send {
        let _ = question;
        async { false }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TaskStatus {
    Done,
    Cancelled,
    Failed(String),
}

impl TaskStatus {
    pub fn as_str(&self) -> &'static str {
        match self {
            TaskStatus::Done => "done",
            TaskStatus::Cancelled => "cancelled",
            TaskStatus::Failed(_) => "failed",
        }
    }
}

/// How a task ended and what it produced.
#[derive(Clone, Debug)]
pub struct TaskReport {
    pub status: TaskStatus,
    /// The cleaned answer (for a cancelled task, what had arrived).
    pub text: String,
    /// `local`, or the id of the provider that answered.
    pub provider: String,
    pub model: String,
    pub input_tokens: u32,
    pub output_tokens: u32,
    /// What a cloud task charged to the budget.
    pub cost: Option<crate::budget::Money>,
    /// The local model cannot do this task (the input does not fit, or there is
    /// no model), so a cloud provider is the way to get it done.
    pub beyond_local: bool,
}

impl TaskReport {
    /// A report of nothing done yet by `model` at `provider`.
    pub fn new(provider: &str, model: &str) -> TaskReport {
        TaskReport {
            status: TaskStatus::Done,
            text: String::new(),
            provider: provider.to_owned(),
            model: model.to_owned(),
            input_tokens: 0,
            output_tokens: 0,
            cost: None,
            beyond_local: false,
        }
    }

    /// A task that failed before it began.
    pub fn failed(provider: &str, model: &str, reason: String) -> TaskReport {
        TaskReport {
            status: TaskStatus::Failed(reason),
            ..TaskReport::new(provider, model)
        }
    }
}

/// Runs a task on the local engine, reporting to `observer` as it goes.
///
/// An explanation quotes what fits of `input.context`; a summary whose input does
/// not fit the local context is made in parts, reported as
/// [`TaskUpdate::Part`] and [`TaskUpdate::Combining`] before the final summary
/// streams. A task's token counts add up every generation it ran.
pub async fn run_task(
    engine: &LocalEngine,
    input: &TaskInput,
    max_output_tokens: u32,
    cancel: CancellationToken,
    observer: &mut impl TaskObserver,
) -> TaskReport {
    let model = engine
        .model_info()
        .map(|info| info.name)
        .unwrap_or_default();
    let mut report = TaskReport::new("local", &model);
    if engine.model_info().is_none() {
        observer.update(TaskUpdate::WaitingForModel).await;
    }
    let model = tokio::select! {
        ready = engine.ready() => ready,
        () = cancel.cancelled() => {
            report.status = TaskStatus::Cancelled;
            return report;
        }
    };
    match model {
        Ok(info) => report.model = info.name,
        Err(error) => return fail(report, &error),
    }

    let context_tokens = engine
        .model_info()
        .map_or(engine.settings().context_tokens, |info| info.context_tokens);
    let prompt = match input.kind {
        TaskKind::Explain if !input.context.is_empty() => {
            let prompt = context::explain_prompt(engine, input, max_output_tokens, context_tokens);
            match unless_cancelled(&cancel, prompt).await {
                Some(prompt) => prompt,
                None => return cancelled(report),
            }
        }
        TaskKind::Summarise => {
            let prompt = prompt::build(input);
            let count = engine.count_tokens(vec![Countable::Prompt(prompt.clone())]);
            let Some(counted) = unless_cancelled(&cancel, count).await else {
                return cancelled(report);
            };
            match counted.as_deref() {
                Ok([tokens]) if tokens.saturating_add(max_output_tokens) > context_tokens => {
                    let plan = parts::Plan {
                        engine,
                        input,
                        max_output_tokens,
                        context_tokens,
                        whole_tokens: *tokens,
                        cancel: &cancel,
                    };
                    return plan.run(observer, report).await;
                }
                _ => prompt,
            }
        }
        _ => prompt::build(input),
    };

    match generate(
        engine,
        prompt,
        max_output_tokens,
        &cancel,
        Some(observer),
        &mut report,
    )
    .await
    {
        Ok(raw) => {
            if cancel.is_cancelled() {
                report.status = TaskStatus::Cancelled;
            }
            report.text = prompt::clean_answer(input, &raw);
            report
        }
        Err((error, raw)) => {
            report.text = raw;
            fail(report, &error)
        }
    }
}

/// Runs one generation, adding its token counts to `report` and marking it
/// cancelled when it was. With an observer, the generation is the task's answer
/// and is reported as it streams; without, it is an intermediate step. Returns the
/// raw text, or the error and the text that had arrived.
async fn generate(
    engine: &LocalEngine,
    prompt: ChatPrompt,
    max_output_tokens: u32,
    cancel: &CancellationToken,
    mut observer: Option<&mut impl TaskObserver>,
    report: &mut TaskReport,
) -> Result<String, (EngineError, String)> {
    let request = GenerationRequest {
        prompt,
        max_output_tokens,
        cancel: cancel.clone(),
    };
    let (input_before, output_before) = (report.input_tokens, report.output_tokens);
    let mut events = engine.generate(request);
    let mut raw = String::new();
    let mut stream = Batcher::default();
    let mut started = false;
    loop {
        let next = async {
            match stream.due {
                Some(due) => tokio::time::timeout_at(due, events.recv()).await.ok(),
                None => Some(events.recv().await),
            }
        };
        // Until the engine starts on this request, it may be busy with another
        // task's generation for a long time: a cancel then ends the wait here
        // (the engine skips a cancelled request when it gets to it). Once it has
        // started, the engine itself stops within a token.
        let next = tokio::select! {
            biased;
            () = cancel.cancelled(), if !started => {
                report.status = TaskStatus::Cancelled;
                break;
            }
            next = next => next,
        };
        let Some(event) = next else {
            // The interval is up: pass on what waited.
            stream.pass_on(&mut observer, report.output_tokens).await;
            continue;
        };
        let Some(event) = event else { break };
        match event {
            Ok(GenerationEvent::Started { input_tokens }) => {
                started = true;
                report.input_tokens = input_before + input_tokens;
                if let Some(observer) = observer.as_mut() {
                    let update = TaskUpdate::Started {
                        model: &report.model,
                        input_tokens: report.input_tokens,
                    };
                    observer.update(update).await;
                }
            }
            Ok(GenerationEvent::Text {
                delta,
                output_tokens,
            }) => {
                raw.push_str(&delta);
                report.output_tokens = output_before + output_tokens;
                if stream.push(&delta) {
                    stream.pass_on(&mut observer, report.output_tokens).await;
                }
            }
            Ok(GenerationEvent::Finished(summary)) => {
                stream.pass_on(&mut observer, report.output_tokens).await;
                report.input_tokens = input_before + summary.input_tokens;
                report.output_tokens = output_before + summary.output_tokens;
                if summary.stop == StopReason::Cancelled {
                    report.status = TaskStatus::Cancelled;
                }
                break;
            }
            Err(error) => {
                stream.pass_on(&mut observer, report.output_tokens).await;
                return Err((error, raw));
            }
        }
    }
    stream.pass_on(&mut observer, report.output_tokens).await;
    Ok(raw)
}

/// The shortest time between two pieces of streamed local text. The model and the
/// editor traffic share the same cores, and a notification per token costs the
/// model a tenth of its speed on two cores, so pieces that come faster than this
/// are joined. The first piece goes out at once.
const STREAM_INTERVAL: Duration = Duration::from_millis(40);

/// Joins streamed pieces so that they go out at most once per [`STREAM_INTERVAL`].
#[derive(Default)]
struct Batcher {
    pending: String,
    last_sent: Option<Instant>,
    /// When the pending text must go out, if any is waiting.
    due: Option<Instant>,
}

impl Batcher {
    /// Adds a piece; true when it should go out now.
    fn push(&mut self, delta: &str) -> bool {
        if delta.is_empty() {
            return false;
        }
        self.pending.push_str(delta);
        if self.due.is_some() {
            return false;
        }
        match self.last_sent {
            Some(last) if last.elapsed() < STREAM_INTERVAL => {
                self.due = Some(last + STREAM_INTERVAL);
                false
            }
            _ => true,
        }
    }

    async fn pass_on(&mut self, observer: &mut Option<&mut impl TaskObserver>, output_tokens: u32) {
        self.due = None;
        if self.pending.is_empty() {
            return;
        }
        let delta = std::mem::take(&mut self.pending);
        if let Some(observer) = observer.as_mut() {
            let update = TaskUpdate::Text {
                delta: &delta,
                output_tokens,
            };
            observer.update(update).await;
        }
        self.last_sent = Some(Instant::now());
    }
}

/// Waits for `work` unless the task is cancelled first. Engine work queues behind
/// other tasks' generations, so without this a cancelled task could wait for
/// minutes before it ends.
async fn unless_cancelled<T>(
    cancel: &CancellationToken,
    work: impl Future<Output = T>,
) -> Option<T> {
    tokio::select! {
        biased;
        () = cancel.cancelled() => None,
        value = work => Some(value),
    }
}

fn cancelled(mut report: TaskReport) -> TaskReport {
    report.status = TaskStatus::Cancelled;
    report
}

fn fail(mut report: TaskReport, error: &EngineError) -> TaskReport {
    report.status = TaskStatus::Failed(error.to_string());
    report.beyond_local = matches!(
        error,
        EngineError::ContextTooSmall { .. }
            | EngineError::ModelMissing(_)
            | EngineError::LoadFailed { .. }
    );
    report
}

#[cfg(test)]
mod tests {
    use super::{Batcher, STREAM_INTERVAL, TaskObserver, TaskUpdate};

    #[derive(Default)]
    struct Collect(Vec<(String, u32)>);

    impl TaskObserver for Collect {
        async fn update(&mut self, update: TaskUpdate<'_>) {
            if let TaskUpdate::Text {
                delta,
                output_tokens,
            } = update
            {
                self.0.push((delta.to_owned(), output_tokens));
            }
        }
    }

    #[tokio::test(start_paused = true)]
    async fn streamed_pieces_are_joined_within_the_interval() {
        let mut collect = Collect::default();
        let mut observer = Some(&mut collect);
        let mut stream = Batcher::default();

        // The first piece goes out at once.
        assert!(stream.push("Hel"));
        stream.pass_on(&mut observer, 1).await;
        // Pieces that follow at once wait, and are due one interval after it.
        assert!(!stream.push("lo"));
        assert!(!stream.push(""));
        assert!(!stream.push(", "));
        let due = stream.due.expect("a pending piece is due");
        assert_eq!(due, tokio::time::Instant::now() + STREAM_INTERVAL);
        tokio::time::sleep_until(due).await;
        stream.pass_on(&mut observer, 3).await;
        assert_eq!(stream.due, None);
        // Nothing pending: nothing goes out.
        stream.pass_on(&mut observer, 3).await;
        // After a quiet interval, a piece goes out at once again.
        tokio::time::sleep(STREAM_INTERVAL).await;
        assert!(stream.push("world"));
        stream.pass_on(&mut observer, 4).await;

        let sent: Vec<(&str, u32)> = collect.0.iter().map(|(t, n)| (t.as_str(), *n)).collect();
        assert_eq!(sent, [("Hel", 1), ("lo, ", 3), ("world", 4)]);
    }
}
