//! The local engine: a GGUF model run in-process by llama.cpp.
//!
//! The model lives on one dedicated OS thread, never on a tokio worker: decoding is
//! long, blocking CPU work. [`LocalEngine::start`] returns at once and the model
//! loads on that thread; jobs sent meanwhile queue and run when it is ready. Jobs run
//! one at a time, in order. Each generation checks its cancel token before every
//! token, so a cancel stops it within one token. Token counts are jobs too, since
//! only that thread holds the model's tokenizer; they take microseconds.

mod llama;

use std::path::PathBuf;

use tokio::sync::{mpsc, oneshot, watch};
use tokio_util::sync::CancellationToken;

/// What the engine thread needs to load a model.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EngineSettings {
    pub model_path: PathBuf,
    pub context_tokens: u32,
    pub threads: u32,
}

/// The model once loaded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ModelInfo {
    /// The model's file name without `.gguf`, as shown to users.
    pub name: String,
    pub context_tokens: u32,
}

/// A chat prompt for the model's own template.
#[derive(Clone, Debug)]
pub struct ChatPrompt {
    pub system: String,
    pub user: String,
}

#[derive(Debug)]
pub struct GenerationRequest {
    pub prompt: ChatPrompt,
    pub max_output_tokens: u32,
    pub cancel: CancellationToken,
}

/// What a generation reports, in order: `Started`, any number of `Text`, then
/// `Finished`; or an error at any point, after which nothing follows.
#[derive(Clone, Debug, PartialEq)]
pub enum GenerationEvent {
    Started {
        input_tokens: u32,
    },
    /// New text, and the number of tokens generated so far.
    Text {
        delta: String,
        output_tokens: u32,
    },
    Finished(GenerationSummary),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GenerationSummary {
    pub input_tokens: u32,
    pub output_tokens: u32,
    pub stop: StopReason,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StopReason {
    EndOfText,
    OutputLimit,
    Cancelled,
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum EngineError {
    #[error("{0}")]
    ModelMissing(String),
    #[error("the local model {path} could not be loaded: {reason}")]
    LoadFailed { path: String, reason: String },
    #[error(
        "the input is {input_tokens} tokens and the answer may need {output_tokens} more, \
         but the local context holds {context_tokens} (local.contextTokens); \
         select less text or raise local.contextTokens"
    )]
    ContextTooSmall {
        input_tokens: u32,
        output_tokens: u32,
        context_tokens: u32,
    },
    #[error("the local model failed while generating: {0}")]
    Generation(String),
    #[error("the local engine has stopped")]
    Stopped,
}

#[derive(Clone, Debug)]
enum EngineStatus {
    Loading,
    Ready(ModelInfo),
    Failed(EngineError),
}

/// Something to count the tokens of.
#[derive(Clone, Debug)]
pub enum Countable {
    /// Plain text, as it would appear inside a prompt.
    Text(String),
    /// A whole prompt, rendered with the model's chat template, exactly as a
    /// generation would read it.
    Prompt(ChatPrompt),
}

/// Work for the engine thread, run in the order it was queued.
enum Job {
    Generate {
        request: GenerationRequest,
        events: mpsc::UnboundedSender<Result<GenerationEvent, EngineError>>,
    },
    Count {
        items: Vec<Countable>,
        reply: oneshot::Sender<Result<Vec<u32>, EngineError>>,
    },
}

impl Job {
    fn refuse(self, error: EngineError) {
        match self {
            Job::Generate { events, .. } => {
                let _ = events.send(Err(error));
            }
            Job::Count { reply, .. } => {
                let _ = reply.send(Err(error));
            }
        }
    }
}

/// A handle to the engine thread. Dropping the last handle ends the thread once its
/// current job is done, which is how a new model replaces an old one.
#[derive(Clone, Debug)]
pub struct LocalEngine {
    jobs: std::sync::mpsc::Sender<Job>,
    status: watch::Receiver<EngineStatus>,
    settings: EngineSettings,
}

impl LocalEngine {
    /// Starts the engine thread, which loads the model in the background.
    pub fn start(settings: EngineSettings) -> LocalEngine {
        let (jobs, job_queue) = std::sync::mpsc::channel();
        let (status_tx, status) = watch::channel(EngineStatus::Loading);
        let thread_settings = settings.clone();
        let spawned = std::thread::Builder::new()
            .name("aumatron-engine".into())
            .spawn(move || llama::run(thread_settings, status_tx, job_queue));
        if let Err(error) = spawned {
            tracing::error!(%error, "could not start the engine thread");
        }
        LocalEngine {
            jobs,
            status,
            settings,
        }
    }

    /// An engine that never loads, for when no model file could be found.
    pub fn unavailable(settings: EngineSettings, reason: String) -> LocalEngine {
        let (jobs, _) = std::sync::mpsc::channel();
        let (_, status) = watch::channel(EngineStatus::Failed(EngineError::ModelMissing(reason)));
        LocalEngine {
            jobs,
            status,
            settings,
        }
    }

    pub fn settings(&self) -> &EngineSettings {
        &self.settings
    }

    /// Waits until the model has loaded, or says why it never will.
    pub async fn ready(&self) -> Result<ModelInfo, EngineError> {
        let mut status = self.status.clone();
        let outcome = status
            .wait_for(|status| !matches!(status, EngineStatus::Loading))
            .await;
        match outcome.as_deref() {
            Ok(EngineStatus::Ready(info)) => Ok(info.clone()),
            Ok(EngineStatus::Failed(error)) => Err(error.clone()),
            Ok(EngineStatus::Loading) | Err(_) => Err(EngineError::Stopped),
        }
    }

    /// The loaded model, if loading has finished.
    pub fn model_info(&self) -> Option<ModelInfo> {
        match &*self.status.borrow() {
            EngineStatus::Ready(info) => Some(info.clone()),
            _ => None,
        }
    }

    /// Queues a generation; its events arrive on the returned channel.
    pub fn generate(
        &self,
        request: GenerationRequest,
    ) -> mpsc::UnboundedReceiver<Result<GenerationEvent, EngineError>> {
        let (events, receiver) = mpsc::unbounded_channel();
        if let Err(std::sync::mpsc::SendError(job)) =
            self.jobs.send(Job::Generate { request, events })
        {
            job.refuse(self.failure());
        }
        receiver
    }

    /// Counts the tokens of each item with the model's own tokenizer, once the
    /// model has loaded. The count waits behind any generation already queued.
    pub async fn count_tokens(&self, items: Vec<Countable>) -> Result<Vec<u32>, EngineError> {
        self.ready().await?;
        let (reply, answer) = oneshot::channel();
        if let Err(std::sync::mpsc::SendError(job)) = self.jobs.send(Job::Count { items, reply }) {
            job.refuse(self.failure());
        }
        answer.await.unwrap_or(Err(EngineError::Stopped))
    }

    fn failure(&self) -> EngineError {
        match &*self.status.borrow() {
            EngineStatus::Failed(error) => error.clone(),
            _ => EngineError::Stopped,
        }
    }
}

/// The number of physical cores, which is what llama.cpp runs fastest on.
pub fn default_threads() -> u32 {
    u32::try_from(num_cpus::get_physical().max(1)).unwrap_or(1)
}
