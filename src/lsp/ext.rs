//! aumatron's own additions to the protocol: command names and arguments, the
//! `aumatron/taskDidChange` and `aumatron/budgetDidChange` notifications and the
//! `aumatron/budget` request. `docs/protocol.md` describes them for client
//! authors; the names here are a public contract.

use serde::{Deserialize, Serialize};
use tower_lsp_server::ls_types::{Range, Uri, notification::Notification};

use crate::task::TaskKind;

pub const SUMMARISE: &str = "aumatron.summarise";
pub const EXPLAIN: &str = "aumatron.explain";
pub const DRAFT: &str = "aumatron.draft";
pub const CANCEL: &str = "aumatron.cancel";
pub const SET_KEY: &str = "aumatron.setKey";
pub const REMOVE_KEY: &str = "aumatron.removeKey";
pub const SET_CAP: &str = "aumatron.setCap";
pub const EXPORT_SPEND: &str = "aumatron.exportSpend";

pub const COMMANDS: [&str; 8] = [
    SUMMARISE,
    EXPLAIN,
    DRAFT,
    CANCEL,
    SET_KEY,
    REMOVE_KEY,
    SET_CAP,
    EXPORT_SPEND,
];

/// The request that answers the budget state.
pub const BUDGET_REQUEST: &str = "aumatron/budget";

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

/// The code action kind of a task, under `refactor.ai`; cloud variants add
/// `.cloud`.
pub fn code_action_kind(kind: TaskKind, cloud: bool) -> String {
    let suffix = if cloud { ".cloud" } else { "" };
    format!("refactor.ai.{}{suffix}", kind.as_str())
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
    /// `local` (the default), `cloud`, or a provider id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
}

#[derive(Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SetKeyArguments {
    pub provider: String,
    pub key: String,
}

/// Keeps the key out of `Debug` output.
impl std::fmt::Debug for SetKeyArguments {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SetKeyArguments")
            .field("provider", &self.provider)
            .finish_non_exhaustive()
    }
}

#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ProviderArguments {
    pub provider: String,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SetCapArguments {
    pub usd: f64,
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
    /// The whole answer (when the task has ended).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    pub provider: String,
    pub model: String,
    pub input_tokens: u32,
    pub output_tokens: u32,
    /// Cloud tasks, final notification: what was charged.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cost_usd: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

pub enum TaskDidChange {}

impl Notification for TaskDidChange {
    type Params = TaskDidChangeParams;
    const METHOD: &'static str = "aumatron/taskDidChange";
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BudgetParams {
    pub period: PeriodParams,
    pub cap_usd: f64,
    pub spent_usd: f64,
    pub reserved_usd: f64,
    pub remaining_usd: f64,
    pub warn_fraction: f64,
    /// `ok`, `warning`, `exhausted` or `local-only`.
    pub state: String,
    pub prices_as_of: String,
    pub providers: Vec<ProviderParams>,
    pub last: Option<LastRequestParams>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PeriodParams {
    pub start: String,
    pub end: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProviderParams {
    pub id: String,
    pub kind: String,
    pub name: String,
    pub model: String,
    pub tags: Vec<String>,
    pub local: bool,
    pub has_key: bool,
    /// `ok`, `missing` or `rejected`.
    pub key_state: String,
    pub spent_usd: f64,
    pub requests: u64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LastRequestParams {
    pub task_id: String,
    pub provider: String,
    pub model: String,
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub cost_usd: f64,
    pub at: String,
}

pub enum BudgetDidChange {}

impl Notification for BudgetDidChange {
    type Params = BudgetParams;
    const METHOD: &'static str = "aumatron/budgetDidChange";
}
