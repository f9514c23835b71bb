//! Tasks: summarise, explain and draft. A task turns a piece of text into a prompt,
//! runs it on an engine and collects the answer. This module knows nothing of LSP;
//! the language server and the `run` command both drive it through
//! [`TaskObserver`].

pub mod cloud;
pub mod language;
pub mod placement;
pub mod prompt;
pub mod routing;

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};

use tokio_util::sync::CancellationToken;

use crate::engine::{EngineError, GenerationEvent, GenerationRequest, LocalEngine, StopReason};
pub use prompt::TaskInput;

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
    /// Money was reserved or settled for this task.
    BudgetChanged,
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

/// Runs a task on the local engine, reporting to `observer` as it goes.
pub async fn run_task(
    engine: &LocalEngine,
    input: &TaskInput,
    max_output_tokens: u32,
    cancel: CancellationToken,
    observer: &mut impl TaskObserver,
) -> TaskReport {
    let mut report = TaskReport {
        status: TaskStatus::Done,
        text: String::new(),
        provider: "local".into(),
        cost: None,
        beyond_local: false,
        model: engine
            .model_info()
            .map(|info| info.name)
            .unwrap_or_default(),
        input_tokens: 0,
        output_tokens: 0,
    };
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

    let request = GenerationRequest {
        prompt: prompt::build(input),
        max_output_tokens,
        cancel: cancel.clone(),
    };
    let mut events = engine.generate(request);
    let mut raw = String::new();
    while let Some(event) = events.recv().await {
        match event {
            Ok(GenerationEvent::Started { input_tokens }) => {
                report.input_tokens = input_tokens;
                let update = TaskUpdate::Started {
                    model: &report.model,
                    input_tokens,
                };
                observer.update(update).await;
            }
            Ok(GenerationEvent::Text {
                delta,
                output_tokens,
            }) => {
                raw.push_str(&delta);
                report.output_tokens = output_tokens;
                let update = TaskUpdate::Text {
                    delta: &delta,
                    output_tokens,
                };
                observer.update(update).await;
            }
            Ok(GenerationEvent::Finished(summary)) => {
                report.input_tokens = summary.input_tokens;
                report.output_tokens = summary.output_tokens;
                if summary.stop == StopReason::Cancelled {
                    report.status = TaskStatus::Cancelled;
                }
                break;
            }
            Err(error) => {
                report.text = raw;
                return fail(report, &error);
            }
        }
    }
    if cancel.is_cancelled() {
        report.status = TaskStatus::Cancelled;
    }
    report.text = prompt::clean_answer(input.kind, &input.language, &raw);
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
