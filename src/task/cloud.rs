//! Running a task on a cloud provider: the one place where money is spent.
//!
//! [`spend_on_cloud`] checks, in order, that the provider has a key, that its
//! model has a price, that the file may leave the machine and that the text holds
//! nothing that looks like a secret. Then each try reserves its worst-case cost in
//! the ledger before it is sent and settles after: at the cost the provider's usage
//! implies, at nothing when the provider refused it outright, and at the full
//! reservation whenever the usage never arrived. Retries happen only before any
//! text has streamed, and each is a new reservation, so no request that may have
//! been billed goes uncounted.
//!
//! A provider marked `local` is a loopback server of the user's own: none of the
//! money steps apply to it.

use std::sync::Arc;
use std::time::Duration;

use backon::BackoffBuilder as _;
use tokio_util::sync::CancellationToken;

use super::{TaskInput, TaskObserver, TaskReport, TaskStatus, TaskUpdate, prompt};
use crate::account::Account;
use crate::budget::ledger::{Outcome, ReservationRequest, Settlement};
use crate::budget::{self, Money, Period, PriceBook};
use crate::cloud::tokens;
use crate::cloud::{CloudChunk, CloudError, CloudRequest, Endpoint, ReportedUsage};
use crate::config::{Config, ProviderKind};
use crate::guard;
use crate::keys::ApiKey;

/// Tries per task, the first included.
const MAX_TRIES: usize = 3;
/// The extra share reserved for OpenAI-compatible services.
const COMPATIBLE_MARGIN: f64 = 0.25;
/// The longest wait a provider's `retry-after` may ask for.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(30);

/// One cloud task to run.
pub struct CloudTask<'a> {
    pub task_id: &'a str,
    pub endpoint: &'a Endpoint,
    pub input: &'a TaskInput,
    /// The file's path or URI, checked against `cloud.never`.
    pub path: &'a str,
    /// The document line the text starts on (0-based), to name lines in findings.
    pub first_line: usize,
    pub config: &'a Config,
}

/// How a cloud task ended.
#[derive(Debug)]
pub enum CloudOutcome {
    Finished(TaskReport),
    /// The provider refused the key; it is marked rejected, and the caller should
    /// say so and run the task locally.
    KeyRejected {
        provider: String,
    },
}

/// Runs `task` on its provider, reserving and settling money through `account`.
pub async fn spend_on_cloud(
    account: &Arc<Account>,
    task: &CloudTask<'_>,
    cancel: CancellationToken,
    observer: &mut impl TaskObserver,
) -> CloudOutcome {
    let endpoint = task.endpoint;
    let mut report = TaskReport::new(&endpoint.id, &endpoint.model);
    let prepared = match prepare(account, task, observer).await {
        Ok(prepared) => prepared,
        Err(reason) => {
            report.status = reason;
            return CloudOutcome::Finished(report);
        }
    };
    report.input_tokens = u32::try_from(prepared.input_tokens).unwrap_or(u32::MAX);
    observer
        .update(TaskUpdate::Started {
            model: &endpoint.model,
            input_tokens: report.input_tokens,
        })
        .await;

    let mut delays = backon::ExponentialBuilder::default()
        .with_min_delay(Duration::from_millis(500))
        .with_max_delay(Duration::from_secs(8))
        .with_jitter()
        .build();
    let mut raw = String::new();
    for attempt in 1..=MAX_TRIES {
        let outcome = try_once(account, task, &prepared, &cancel, observer, &mut raw).await;
        match outcome {
            Try::Done { usage, cost } => {
                if let Some(usage) = usage {
                    report.input_tokens = clamp(usage.usage.total_input());
                    report.output_tokens = clamp(usage.usage.output);
                }
                report.cost = add_costs(report.cost, cost);
                break;
            }
            Try::Cancelled { cost } => {
                report.cost = add_costs(report.cost, cost);
                report.status = TaskStatus::Cancelled;
                break;
            }
            Try::Failed { error, cost } => {
                report.cost = add_costs(report.cost, cost);
                if let CloudError::KeyRejected { .. } = error {
                    account.mark_rejected(&endpoint.id);
                    observer.update(TaskUpdate::BudgetChanged).await;
                    return CloudOutcome::KeyRejected {
                        provider: endpoint.name.clone(),
                    };
                }
                let may_retry = error.retryable() && raw.is_empty() && attempt < MAX_TRIES;
                if !may_retry {
                    report.status = TaskStatus::Failed(error.to_string());
                    break;
                }
                let wait = match &error {
                    CloudError::RateLimited {
                        retry_after: Some(wait),
                        ..
                    } => (*wait).min(MAX_RETRY_AFTER),
                    _ => delays.next().unwrap_or(Duration::from_secs(1)),
                };
                tracing::info!(attempt, wait_ms = wait.as_millis() as u64, %error, "retrying");
                tokio::select! {
                    () = tokio::time::sleep(wait) => {}
                    () = cancel.cancelled() => {
                        report.status = TaskStatus::Cancelled;
                        break;
                    }
                }
            }
            Try::Refused(status) => {
                report.status = status;
                break;
            }
        }
    }
    report.text = prompt::clean_answer(task.input, &raw);
    CloudOutcome::Finished(report)
}

/// What every try of a task shares.
struct Prepared {
    key: Option<ApiKey>,
    price: Option<budget::Price>,
    request: CloudRequest,
    input_tokens: u64,
}

/// The checks before anything is sent; a refusal is the task's final status.
async fn prepare(
    account: &Arc<Account>,
    task: &CloudTask<'_>,
    observer: &mut impl TaskObserver,
) -> Result<Prepared, TaskStatus> {
    let endpoint = task.endpoint;
    let config = task.config;
    let refuse = |message: String| TaskStatus::Failed(format!("not sent: {message}"));
    let prompt = prompt::build(task.input);
    tracing::trace!(system = %prompt.system, user = %prompt.user, "prompt");
    let request = CloudRequest {
        prompt,
        max_output_tokens: config.cloud.max_output_tokens.for_task(task.input.kind),
    };
    if endpoint.local {
        let input_tokens = tokens::rough(request.prompt.user.len() + request.prompt.system.len());
        return Ok(Prepared {
            key: None,
            price: None,
            request,
            input_tokens,
        });
    }
    if !config.cloud.enabled {
        return Err(refuse("cloud use is off (cloud.enabled = false)".into()));
    }

    let key = {
        let account = account.clone();
        let endpoint = endpoint.clone();
        tokio::task::spawn_blocking(move || account.key_for(&endpoint))
            .await
            .map_err(|error| refuse(error.to_string()))?
            .map_err(refuse)?
    };
    let Some(key) = key else {
        return Err(refuse(format!(
            "{} has no API key; set one with the Set API key command (aumatron.setKey) or \
             `aumatron-lsp key set {}`",
            endpoint.name, endpoint.id
        )));
    };
    let Some(price) = PriceBook::new(&config.prices).lookup(&endpoint.model) else {
        return Err(refuse(format!(
            "the model {} has no known price, and an unpriced request would make the monthly \
             cap meaningless; set prices.\"{}\".inputPerMTok and outputPerMTok",
            endpoint.model, endpoint.model
        )));
    };
    if let Some(glob) = guard::never_send(task.path, &config.cloud.never) {
        return Err(refuse(format!(
            "this file matches cloud.never ({glob:?}), so it never goes to a cloud provider"
        )));
    }

    let mut scanned = guard::scan(&task.input.text);
    for finding in &mut scanned {
        finding.line += task.first_line;
    }
    if let Some(instruction) = &task.input.instruction {
        scanned.extend(guard::scan(instruction).into_iter().map(|mut finding| {
            finding.kind = "in the instruction";
            finding.line = 1;
            finding
        }));
    }
    if !scanned.is_empty() {
        let list = scanned
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(", ");
        let sentence = format!("the text looks like it holds a secret: {list}");
        tracing::info!(
            findings = scanned.len(),
            "secret guard stopped a cloud request"
        );
        let allowed = config.cloud.confirm_secrets
            && observer
                .confirm_send(&format!(
                    "Send to {} anyway? {}",
                    endpoint.name,
                    capitalise(&sentence)
                ))
                .await;
        if !allowed {
            return Err(refuse(format!(
                "{sentence}; remove it from the selection{}",
                if config.cloud.confirm_secrets {
                    ""
                } else {
                    ", or set cloud.confirmSecrets = true to be asked"
                }
            )));
        }
    }

    let input_tokens = {
        let model = endpoint.model.clone();
        let prompt = request.prompt.clone();
        let counted = tokio::task::spawn_blocking(move || tokens::count(&model, &prompt))
            .await
            .map_err(|error| refuse(error.to_string()))?;
        tracing::debug!(
            input_tokens = counted.tokens,
            exact = counted.exact,
            "input counted for the reservation"
        );
        counted.tokens
    };
    Ok(Prepared {
        key: Some(key),
        price: Some(price),
        request,
        input_tokens,
    })
}

enum Try {
    Done {
        usage: Option<ReportedUsage>,
        cost: Option<Money>,
    },
    Cancelled {
        cost: Option<Money>,
    },
    Failed {
        error: CloudError,
        cost: Option<Money>,
    },
    /// Nothing was sent (the cap, or the ledger).
    Refused(TaskStatus),
}

/// One reserved, sent and settled request.
async fn try_once(
    account: &Account,
    task: &CloudTask<'_>,
    prepared: &Prepared,
    cancel: &CancellationToken,
    observer: &mut impl TaskObserver,
    raw: &mut String,
) -> Try {
    let endpoint = task.endpoint;
    let config = task.config;
    if cancel.is_cancelled() {
        return Try::Cancelled { cost: None };
    }
    let reservation = match &prepared.price {
        None => None,
        Some(price) => {
            let mut amount = price.worst_case(
                prepared.input_tokens,
                u64::from(prepared.request.max_output_tokens),
            );
            if endpoint.kind == ProviderKind::OpenAiCompatible {
                // Such services bill by their own figures, which may price a
                // request above the table (OpenRouter picks among upstreams).
                amount = amount.scaled_up(COMPATIBLE_MARGIN);
            }
            match reserve(account, task, amount).await {
                Ok(reservation) => Some(reservation),
                Err(message) => return Try::Refused(TaskStatus::Failed(message)),
            }
        }
    };
    if reservation.is_some() {
        observer.update(TaskUpdate::BudgetChanged).await;
    }
    let reserved = reservation.as_ref().map_or(Money::ZERO, |r| r.amount());
    let settle = |reservation: Option<budget::Reservation>, settlement: Settlement| async move {
        let reservation = reservation?;
        let cost = settlement.cost;
        let outcome = tokio::task::spawn_blocking(move || reservation.settle(settlement)).await;
        if let Err(error) = outcome.map_err(anyhow::Error::from).and_then(|r| r) {
            tracing::error!(%error, "could not settle a cloud request");
        }
        Some(cost)
    };
    let full = |outcome| Settlement {
        cost: reserved,
        usage: None,
        outcome,
    };
    let costed = |usage: &ReportedUsage, outcome| Settlement {
        cost: usage_cost(prepared.price.as_ref(), usage),
        usage: Some(usage.usage),
        outcome,
    };

    let idle = Duration::from_secs(u64::from(config.cloud.timeout_seconds));
    if cancel.is_cancelled() {
        // Cancelled while the money was reserved: nothing was sent.
        let cost = settle(
            reservation,
            Settlement {
                cost: Money::ZERO,
                usage: None,
                outcome: Outcome::Cancelled,
            },
        )
        .await;
        observer.update(TaskUpdate::BudgetChanged).await;
        return Try::Cancelled { cost };
    }
    let sent = tokio::select! {
        biased;
        () = cancel.cancelled() => {
            // The request may have reached the provider: count it in full.
            let settlement = full(Outcome::Cancelled);
            let cost = settle(reservation, settlement).await;
            observer.update(TaskUpdate::BudgetChanged).await;
            return Try::Cancelled { cost };
        }
        sent = account.client.stream(endpoint, prepared.key.as_ref(), &prepared.request, idle) => sent,
    };
    let mut stream = match sent {
        Ok(stream) => stream,
        Err(error) => {
            let settlement = if error.maybe_billed() {
                full(Outcome::Failed)
            } else {
                Settlement {
                    cost: Money::ZERO,
                    usage: None,
                    outcome: Outcome::NotBilled,
                }
            };
            let cost = settle(reservation, settlement).await;
            observer.update(TaskUpdate::BudgetChanged).await;
            return Try::Failed { error, cost };
        }
    };

    let mut usage: Option<ReportedUsage> = None;
    let mut pieces: u32 = 0;
    let result = loop {
        let next = tokio::select! {
            biased;
            () = cancel.cancelled() => break Err(None),
            next = stream.next() => next,
        };
        match next {
            Ok(Some(CloudChunk::Text(delta))) => {
                raw.push_str(&delta);
                pieces += 1;
                let update = TaskUpdate::Text {
                    delta: &delta,
                    output_tokens: pieces,
                };
                observer.update(update).await;
            }
            Ok(Some(CloudChunk::Usage(reported))) => usage = Some(reported),
            Ok(None) => break Ok(()),
            Err(error) => break Err(Some(error)),
        }
    };
    // Only final figures settle a request; preliminary ones (Anthropic's
    // message_start) or none at all leave it at its full reservation.
    let settled_usage = usage.filter(|reported| reported.complete);
    let outcome = match result {
        Ok(()) => {
            let settlement = match &settled_usage {
                Some(reported) => costed(reported, Outcome::Done),
                None => {
                    tracing::warn!(
                        provider = %endpoint.id,
                        "the provider reported no usage; charging the full reservation"
                    );
                    full(Outcome::Done)
                }
            };
            let cost = settle(reservation, settlement).await;
            Try::Done {
                usage: settled_usage,
                cost,
            }
        }
        Err(None) => {
            let settlement = match &settled_usage {
                Some(reported) => costed(reported, Outcome::Cancelled),
                None => full(Outcome::Cancelled),
            };
            Try::Cancelled {
                cost: settle(reservation, settlement).await,
            }
        }
        Err(Some(error)) => {
            let settlement = match &settled_usage {
                Some(reported) => costed(reported, Outcome::Failed),
                None => full(Outcome::Failed),
            };
            Try::Failed {
                error,
                cost: settle(reservation, settlement).await,
            }
        }
    };
    observer.update(TaskUpdate::BudgetChanged).await;
    outcome
}

/// The cost of a usage report: our prices, or the provider's own figure when it
/// sends one and it is higher.
fn usage_cost(price: Option<&budget::Price>, usage: &ReportedUsage) -> Money {
    let computed = price.map_or(Money::ZERO, |price| price.cost(&usage.usage));
    usage
        .cost
        .map_or(computed, |reported| reported.max(computed))
}

async fn reserve(
    account: &Account,
    task: &CloudTask<'_>,
    amount: Money,
) -> Result<budget::Reservation, String> {
    let ledger = account.ledger()?.clone();
    let config = task.config;
    let cap = Money::from_dollars(config.budget.monthly_cap_usd);
    let period = Period::containing(budget::period::now(), config.budget.reset_day);
    let task_id = task.task_id.to_owned();
    let provider = task.endpoint.id.clone();
    let model = task.endpoint.model.clone();
    tokio::task::spawn_blocking(move || {
        let request = ReservationRequest {
            task_id: &task_id,
            provider: &provider,
            model: &model,
            amount,
        };
        ledger.reserve(&request, cap, period)
    })
    .await
    .map_err(|error| error.to_string())?
    .map_err(|error| format!("not sent: {error}"))
}

fn add_costs(earlier: Option<Money>, this: Option<Money>) -> Option<Money> {
    match (earlier, this) {
        (Some(a), Some(b)) => Some(a.saturating_add(b)),
        (a, b) => a.or(b),
    }
}

fn clamp(n: u64) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

fn capitalise(text: &str) -> String {
    let mut chars = text.chars();
    chars
        .next()
        .map(|first| first.to_uppercase().chain(chars).collect())
        .unwrap_or_default()
}
