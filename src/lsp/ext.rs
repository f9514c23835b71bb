//! aumatron's own additions to the protocol: command names and arguments, and the
//! `aumatron/taskDidChange` notification. `docs/protocol.md` describes them for
//! client authors; the names here are a public contract.

use serde::{Deserialize, Serialize};
use tower_lsp_server::ls_types::{Range, Uri, notification::Notification};

use crate::task::{DraftForm, TaskKind};

pub const SUMMARISE: &str = "aumatron.summarise";
pub const EXPLAIN: &str = "aumatron.explain";
pub const DRAFT: &str = "aumatron.draft";
pub const CANCEL: &str = "aumatron.cancel";

pub const COMMANDS: [&str; 4] = [SUMMARISE, EXPLAIN, DRAFT, CANCEL];

pub fn command_for(kind: TaskKind) -> &'static str {
    match kind {
        TaskKind::Summarise => SUMMARISE,
        TaskKind::Explain => EXPLAIN,
        TaskKind::Draft => DRAFT,
    }
}

pub fn task_for_command(command: &str) -> Option<TaskKind> {
    TaskKind::ALL
        .into_iter()
        .find(|kind| command_for(*kind) == command)
}

/// The code action kind of a task, under `refactor.ai`.
pub fn code_action_kind(kind: TaskKind) -> String {
    format!("refactor.ai.{}", kind.as_str())
}

/// The one argument of `aumatron.summarise`, `aumatron.explain` and `aumatron.draft`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TaskArguments {
    pub uri: Uri,
    /// Missing or empty: the whole document.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub range: Option<Range>,
    /// Draft only: what to write.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instruction: Option<String>,
    /// Draft only: `"code"` (the default) or `"docComment"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub form: Option<DraftFormArgument>,
}

/// What a draft writes, as the protocol spells it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum DraftFormArgument {
    Code,
    DocComment,
}

impl From<DraftFormArgument> for DraftForm {
    fn from(form: DraftFormArgument) -> DraftForm {
        match form {
            DraftFormArgument::Code => DraftForm::Code,
            DraftFormArgument::DocComment => DraftForm::DocComment,
        }
    }
}

impl From<DraftForm> for DraftFormArgument {
    fn from(form: DraftForm) -> DraftFormArgument {
        match form {
            DraftForm::Code => DraftFormArgument::Code,
            DraftForm::DocComment => DraftFormArgument::DocComment,
        }
    }
}

#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CancelArguments {
    pub task_id: String,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TaskStarted {
    pub task_id: String,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TaskDidChangeParams {
    pub task_id: String,
    pub kind: String,
    /// `running`, `done`, `failed` or `cancelled`.
    pub status: String,
    /// New text since the last notification (while running).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delta: Option<String>,
    /// The step a long task is at, while running: "part 3 of 9".
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// The whole answer (when the task has ended).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    pub provider: String,
    pub model: String,
    pub input_tokens: u32,
    pub output_tokens: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

pub enum TaskDidChange {}

impl Notification for TaskDidChange {
    type Params = TaskDidChangeParams;
    const METHOD: &'static str = "aumatron/taskDidChange";
}
