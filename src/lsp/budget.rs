//! Keeping the editor's view of the budget current.
//!
//! Clients that declare `experimental.aumatron` get `aumatron/budgetDidChange`
//! after `initialized`, after every reservation and settlement, after settings and
//! key changes, at the start of a new period, and when another aumatron process
//! changes the ledger. Other clients get one `window/showMessage` when spend first
//! reaches the warning share in a period, and one when the budget is exhausted.
//!
//! The watcher polls once a second: the ledger's `data_version` (which changes
//! only when another connection commits), the config file's modification time,
//! and the clock against the period's end. Each poll is a few system calls.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use tower_lsp_server::ls_types::MessageType;

use super::Shared;
use super::ext::{self, BudgetDidChange, BudgetParams};
use crate::budget::{BudgetLevel, BudgetSnapshot, period, prices::PRICES_AS_OF};

const POLL_INTERVAL: Duration = Duration::from_secs(1);

/// What the reporter last told the client.
#[derive(Debug, Default)]
pub struct BudgetReporter {
    last_sent: Mutex<Option<BudgetParams>>,
    /// The period start and the highest level announced in it, for clients that
    /// get messages instead of notifications.
    announced: Mutex<Option<(i64, BudgetLevel)>>,
}

impl BudgetReporter {
    /// Computes the budget and tells the client; `always` sends even when nothing
    /// changed since the last notification.
    pub async fn report(&self, shared: &Shared, always: bool) {
        let Some(snapshot) = snapshot(shared).await else {
            return;
        };
        let params = to_params(&snapshot);
        let support = shared.support();
        if support.budget_notifications {
            {
                let mut last = self.last_sent.lock().unwrap_or_else(|e| e.into_inner());
                if !always && last.as_ref() == Some(&params) {
                    return;
                }
                *last = Some(params.clone());
            }
            shared
                .client
                .send_notification::<BudgetDidChange>(params)
                .await;
        } else {
            self.announce(shared, &snapshot).await;
        }
    }

    /// One message per period for reaching the warning share, and one for
    /// running out.
    async fn announce(&self, shared: &Shared, snapshot: &BudgetSnapshot) {
        // Messages follow what was spent; reservations of requests in flight
        // would announce a warning that a cheap answer then makes untrue.
        let level = BudgetLevel::of(
            snapshot.spent,
            snapshot.cap,
            snapshot.warn_fraction,
            snapshot.level != BudgetLevel::LocalOnly,
        );
        let message = {
            let mut announced = self.announced.lock().unwrap_or_else(|e| e.into_inner());
            let previous = match *announced {
                Some((start, level)) if start == snapshot.period.start => level,
                _ => BudgetLevel::Ok,
            };
            let rank = |level| match level {
                BudgetLevel::Warning => 1,
                BudgetLevel::Exhausted => 2,
                _ => 0,
            };
            if rank(level) <= rank(previous) {
                return;
            }
            *announced = Some((snapshot.period.start, level));
            match level {
                BudgetLevel::Warning => (
                    MessageType::WARNING,
                    format!(
                        "cloud spend is {} of the {} monthly cap ({} left)",
                        snapshot.spent, snapshot.cap, snapshot.remaining
                    ),
                ),
                _ => (
                    MessageType::ERROR,
                    format!(
                        "the {} monthly cap is used up; cloud requests are refused until {} \
                         (raise budget.monthlyCapUsd to go on)",
                        snapshot.cap,
                        &period::rfc3339(snapshot.period.end)[..10]
                    ),
                ),
            }
        };
        shared.show(message.0, message.1).await;
    }
}

/// The budget now, or `None` (logged) when the ledger cannot be read.
pub async fn snapshot(shared: &Shared) -> Option<BudgetSnapshot> {
    let account = shared.account.clone()?;
    let config = shared.current().0;
    match tokio::task::spawn_blocking(move || account.snapshot(&config)).await {
        Ok(Ok(snapshot)) => Some(snapshot),
        Ok(Err(error)) => {
            tracing::warn!(error = %format!("{error:#}"), "cannot read the budget");
            None
        }
        Err(error) => {
            tracing::error!(%error, "the budget reader panicked");
            None
        }
    }
}

pub fn to_params(snapshot: &BudgetSnapshot) -> BudgetParams {
    BudgetParams {
        period: ext::PeriodParams {
            start: period::rfc3339(snapshot.period.start),
            end: period::rfc3339(snapshot.period.end),
        },
        cap_usd: dollars(snapshot.cap),
        spent_usd: dollars(snapshot.spent),
        reserved_usd: dollars(snapshot.reserved),
        remaining_usd: dollars(snapshot.remaining),
        warn_fraction: snapshot.warn_fraction,
        state: snapshot.level.as_str().into(),
        prices_as_of: PRICES_AS_OF.into(),
        providers: snapshot
            .providers
            .iter()
            .map(|provider| ext::ProviderParams {
                id: provider.id.clone(),
                kind: provider.kind.clone(),
                name: provider.name.clone(),
                model: provider.model.clone(),
                tags: provider.tags.clone(),
                local: provider.local,
                has_key: provider.has_key,
                key_state: provider.key_state.as_str().into(),
                spent_usd: dollars(provider.spent),
                requests: provider.requests,
            })
            .collect(),
        last: snapshot.last.as_ref().and_then(|last| {
            Some(ext::LastRequestParams {
                task_id: last.task_id.clone(),
                provider: last.provider.clone(),
                model: last.model.clone(),
                input_tokens: last.usage.map_or(0, |usage| usage.total_input()),
                output_tokens: last.usage.map_or(0, |usage| usage.output),
                cost_usd: dollars(last.cost?),
                at: period::rfc3339(last.settled_at.unwrap_or(last.reserved_at)),
            })
        }),
    }
}

/// Dollars to six decimals, as the protocol promises.
pub fn dollars(money: crate::budget::Money) -> f64 {
    (money.dollars() * 1e6).round() / 1e6
}

/// Sends the first budget, then polls for changes made outside this process until
/// the server ends.
pub async fn watch(shared: Arc<Shared>) {
    let Some(account) = shared.account.clone() else {
        return;
    };
    let Ok(ledger) = account.ledger().cloned() else {
        shared.budget.report(&shared, true).await;
        return;
    };
    let read_version = |sweep: bool| {
        let ledger = ledger.clone();
        tokio::task::spawn_blocking(move || {
            // Dead processes' reservations are settled at start-up; checking
            // again now and then covers a window that died while this one runs.
            if sweep && let Err(error) = ledger.settle_abandoned() {
                tracing::warn!(%error, "cannot settle abandoned requests");
            }
            ledger.data_version().ok()
        })
    };
    // The version is read before the first report, so nothing committed in
    // between can go unseen.
    let mut seen_version = read_version(false).await.ok().flatten();
    shared.budget.report(&shared, true).await;

    let config_file = crate::paths::config_file();
    let mut seen_config = modified(&config_file);
    let mut seen_period = current_period(&shared);
    for tick in 1u32.. {
        tokio::time::sleep(POLL_INTERVAL).await;
        let version = read_version(tick.is_multiple_of(30)).await.ok().flatten();
        let mut changed = false;
        if version.is_some() && version != seen_version {
            tracing::trace!(?version, "the ledger changed");
            seen_version = version;
            // Another process may have set or removed a key.
            shared.refresh_keys().await;
            changed = true;
        }
        let config_now = modified(&config_file);
        if config_now != seen_config {
            seen_config = config_now;
            shared.reload_config_file().await;
            changed = true;
        }
        let period = current_period(&shared);
        if period != seen_period {
            seen_period = period;
            changed = true;
        }
        if changed {
            shared.budget.report(&shared, false).await;
        }
    }
}

fn current_period(shared: &Shared) -> crate::budget::Period {
    let reset_day = shared.current().0.budget.reset_day;
    crate::budget::Period::containing(period::now(), reset_day)
}

fn modified(path: &PathBuf) -> Option<SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}
