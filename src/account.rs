//! The user's cloud account as this process sees it: the credential store, the
//! shared spend ledger and the HTTP client, opened once per process and shared by
//! the language server's jobs and the command line.
//!
//! Which providers have a key is cached here, so that code actions can offer
//! cloud variants without touching the credential store; the cache is refreshed
//! when keys are set or removed in this process, and when another process's
//! change shows up in the ledger.

use std::collections::HashMap;
use std::sync::Mutex;

use crate::budget::{self, BudgetSnapshot, KeyState, Ledger, Money, Period, ProviderBudget};
use crate::cloud::{CloudClient, Endpoint};
use crate::config::Config;
use crate::keys::{ApiKey, KeyError, KeyStore};

pub struct Account {
    pub keys: KeyStore,
    pub client: CloudClient,
    ledger: Result<Ledger, String>,
    has_key: Mutex<HashMap<String, bool>>,
}

impl std::fmt::Debug for Account {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Account")
            .field("keys", &self.keys)
            .field("ledger", &self.ledger)
            .finish_non_exhaustive()
    }
}

impl Account {
    /// Opens the ledger in the data folder. A ledger that cannot be opened does
    /// not stop the process: local work goes on, and every cloud request is
    /// refused with the reason.
    pub fn open() -> anyhow::Result<Account> {
        let ledger = Ledger::open(&crate::paths::data_dir()).map_err(|error| {
            tracing::error!(error = %format!("{error:#}"), "the spend ledger is unavailable");
            format!("{error:#}")
        });
        Ok(Account {
            keys: KeyStore::from_env(),
            client: CloudClient::new()?,
            ledger,
            has_key: Mutex::new(HashMap::new()),
        })
    }

    pub fn ledger(&self) -> Result<&Ledger, String> {
        self.ledger
            .as_ref()
            .map_err(|reason| format!("the spend ledger is unavailable ({reason})"))
    }

    /// Reads which providers have a key from the store (blocking).
    pub fn refresh_keys(&self, config: &Config) {
        let found: HashMap<String, bool> = config
            .providers
            .iter()
            .filter(|(_, provider)| !provider.local)
            .map(|(id, _)| (id.clone(), self.keys.has(id)))
            .collect();
        *self.key_cache() = found;
    }

    /// Whether `provider` had a key when last looked at; never blocks.
    pub fn has_key_cached(&self, provider: &str) -> bool {
        self.key_cache().get(provider).copied().unwrap_or(false)
    }

    fn key_cache(&self) -> std::sync::MutexGuard<'_, HashMap<String, bool>> {
        self.has_key.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Stores a key (blocking) and forgets that an earlier one was rejected.
    pub fn set_key(&self, provider: &str, key: &ApiKey) -> Result<(), KeyError> {
        self.keys.set(provider, key)?;
        self.key_cache().insert(provider.to_owned(), true);
        if let Ok(ledger) = &self.ledger
            && let Err(error) = ledger.set_key_state(provider, Some("ok"))
        {
            tracing::warn!(%error, "cannot record the key state");
        }
        Ok(())
    }

    /// Removes a key (blocking); `Ok(false)` when there was none.
    pub fn remove_key(&self, provider: &str) -> Result<bool, KeyError> {
        let removed = self.keys.remove(provider)?;
        self.key_cache().insert(provider.to_owned(), false);
        if let Ok(ledger) = &self.ledger
            && let Err(error) = ledger.set_key_state(provider, None)
        {
            tracing::warn!(%error, "cannot record the key state");
        }
        Ok(removed)
    }

    /// Marks a key the provider refused, for every process to see.
    pub fn mark_rejected(&self, provider: &str) {
        if let Ok(ledger) = &self.ledger
            && let Err(error) = ledger.set_key_state(provider, Some("rejected"))
        {
            tracing::warn!(%error, "cannot record the key state");
        }
    }

    /// The budget as it stands (blocking: reads the ledger).
    pub fn snapshot(&self, config: &Config) -> anyhow::Result<BudgetSnapshot> {
        let ledger = self.ledger().map_err(anyhow::Error::msg)?;
        let period = Period::containing(budget::period::now(), config.budget.reset_day);
        let summary = ledger.summary(period)?;
        let cap = Money::from_dollars(config.budget.monthly_cap_usd);
        let committed = summary.spent.saturating_add(summary.reserved);
        let providers = config
            .providers
            .iter()
            .map(|(id, provider)| {
                let has_key = !provider.local && self.has_key_cached(id);
                let rejected = ledger.key_state(id).ok().flatten().as_deref() == Some("rejected");
                let key_state = match (has_key, rejected) {
                    (false, _) => KeyState::Missing,
                    (true, true) => KeyState::Rejected,
                    (true, false) => KeyState::Ok,
                };
                let totals = summary
                    .providers
                    .iter()
                    .find(|totals| &totals.provider == id);
                ProviderBudget {
                    id: id.clone(),
                    kind: provider.kind.as_str().to_owned(),
                    name: provider.display_name(id).to_owned(),
                    model: provider.model.clone(),
                    tags: provider.tags.clone(),
                    local: provider.local,
                    has_key,
                    key_state,
                    spent: totals.map_or(Money::ZERO, |totals| totals.spent),
                    requests: totals.map_or(0, |totals| totals.requests),
                }
            })
            .collect();
        Ok(BudgetSnapshot {
            period,
            cap,
            spent: summary.spent,
            reserved: summary.reserved,
            remaining: cap.saturating_sub(committed).max(Money::ZERO),
            warn_fraction: config.budget.warn_fraction,
            level: budget::BudgetLevel::of(
                committed,
                cap,
                config.budget.warn_fraction,
                config.cloud.enabled,
            ),
            providers,
            last: summary.last,
        })
    }
}

/// The configured providers, checked (the config validated them already).
pub fn endpoints(config: &Config) -> Vec<Endpoint> {
    config
        .providers
        .iter()
        .filter_map(|(id, provider)| Endpoint::from_config(id, provider).ok())
        .collect()
}
