//! The user's cloud account as this process sees it: the credential store, the
//! shared spend ledger and the HTTP client, opened once per process and shared by
//! the language server's jobs and the command line.
//!
//! Each provider's key state (stored, missing, rejected) is cached here, so that
//! code actions can offer cloud variants without touching the credential store;
//! the cache is refreshed when keys are set or removed in this process, and when
//! another process's change shows up in the ledger.

use std::collections::HashMap;
use std::sync::Mutex;

use crate::budget::{self, BudgetSnapshot, KeyState, Ledger, Money, Period, ProviderBudget};
use crate::cloud::{CloudClient, Endpoint};
use crate::config::Config;
use crate::keys::{ApiKey, KeyError, KeyStore};
use crate::task::routing::{self, ContentKind};

pub struct Account {
    pub keys: KeyStore,
    pub client: CloudClient,
    ledger: Result<Ledger, String>,
    key_states: Mutex<HashMap<String, KeyState>>,
    /// Held by whatever changes key states. A refresh reads the store, which
    /// takes time, then writes every state: without this, a key set meanwhile
    /// would be written over with the state from before it.
    key_writes: Mutex<()>,
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
            key_states: Mutex::new(HashMap::new()),
            key_writes: Mutex::new(()),
        })
    }

    pub fn ledger(&self) -> Result<&Ledger, String> {
        self.ledger
            .as_ref()
            .map_err(|reason| format!("the spend ledger is unavailable ({reason})"))
    }

    /// Reads each provider's key state from the store and the ledger (blocking).
    pub fn refresh_keys(&self, config: &Config) {
        let _writing = self.writing_keys();
        let found: HashMap<String, KeyState> = config
            .providers
            .iter()
            .filter(|(_, provider)| !provider.local)
            .map(|(id, _)| (id.clone(), self.read_key_state(id)))
            .collect();
        *self.key_cache() = found;
    }

    fn read_key_state(&self, provider: &str) -> KeyState {
        if !self.keys.has(provider) {
            return KeyState::Missing;
        }
        let rejected = self
            .ledger
            .as_ref()
            .ok()
            .and_then(|ledger| ledger.key_record(provider).ok().flatten())
            .is_some_and(|record| record.rejected);
        if rejected {
            KeyState::Rejected
        } else {
            KeyState::Ok
        }
    }

    /// `provider`'s key state when last looked at; never blocks.
    pub fn key_state_cached(&self, provider: &str) -> KeyState {
        self.key_cache()
            .get(provider)
            .copied()
            .unwrap_or(KeyState::Missing)
    }

    /// Whether `provider` has a key that was not refused; never blocks.
    pub fn has_usable_key(&self, provider: &str) -> bool {
        self.key_state_cached(provider) == KeyState::Ok
    }

    fn key_cache(&self) -> std::sync::MutexGuard<'_, HashMap<String, KeyState>> {
        self.key_states.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn writing_keys(&self) -> std::sync::MutexGuard<'_, ()> {
        self.key_writes.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The provider a cloud task on `content` goes to: the one routing picks among
    /// those with a usable key, while cloud use is on.
    pub fn cloud_choice(&self, config: &Config, content: ContentKind) -> Option<Endpoint> {
        if !config.cloud.enabled {
            return None;
        }
        routing::choose(&endpoints(config), content, |id| self.has_usable_key(id)).cloned()
    }

    /// Whether any cloud provider could take a task now; cheaper than
    /// [`Account::cloud_choice`], which needs the content's kind.
    pub fn cloud_available(&self, config: &Config) -> bool {
        config.cloud.enabled
            && config
                .providers
                .iter()
                .any(|(id, provider)| !provider.local && self.has_usable_key(id))
    }

    /// Where a task with `target` (`local`, `cloud` or a provider id) runs.
    /// `content` is asked only for `cloud`.
    pub fn resolve_target(
        &self,
        config: &Config,
        target: &str,
        content: impl FnOnce() -> ContentKind,
    ) -> Result<Target, String> {
        let cloud_off = "cloud use is off (cloud.enabled = false): the task was not sent";
        match target {
            "local" => Ok(Target::Local),
            "cloud" => {
                if !config.cloud.enabled {
                    return Err(cloud_off.into());
                }
                self.cloud_choice(config, content())
                    .map(Target::Provider)
                    .ok_or_else(|| {
                        "no cloud provider has a usable API key; store one with the Set API key \
                         command (aumatron.setKey) or `aumatron-lsp key set openai`"
                            .into()
                    })
            }
            id => {
                let endpoint = provider_endpoint(config, id).map_err(|error| {
                    format!("{error} (a target is \"local\", \"cloud\" or a provider)")
                })?;
                if !endpoint.local && !config.cloud.enabled {
                    return Err(cloud_off.into());
                }
                Ok(Target::Provider(endpoint))
            }
        }
    }

    /// Stores a key (blocking), for requests to `endpoint`'s origin only, and
    /// forgets that an earlier one was rejected.
    pub fn set_key(&self, endpoint: &Endpoint, key: &ApiKey) -> Result<(), KeyError> {
        let _writing = self.writing_keys();
        // The origin is recorded first: a key without one is never sent.
        let ledger = self
            .ledger()
            .map_err(|reason| KeyError::Store(reason.clone()))?;
        ledger
            .record_key(&endpoint.id, &origin(&endpoint.base_url))
            .map_err(|error| KeyError::Store(format!("cannot record the key: {error:#}")))?;
        self.keys.set(&endpoint.id, key)?;
        self.key_cache().insert(endpoint.id.clone(), KeyState::Ok);
        Ok(())
    }

    /// Removes a key (blocking); `Ok(false)` when there was none.
    pub fn remove_key(&self, provider: &str) -> Result<bool, KeyError> {
        let _writing = self.writing_keys();
        let removed = self.keys.remove(provider)?;
        self.key_cache()
            .insert(provider.to_owned(), KeyState::Missing);
        if let Ok(ledger) = &self.ledger
            && let Err(error) = ledger.forget_key(provider)
        {
            tracing::warn!(%error, "cannot record the key state");
        }
        Ok(removed)
    }

    /// Marks a key the provider refused, for every process to see.
    pub fn mark_rejected(&self, provider: &str) {
        let _writing = self.writing_keys();
        self.key_cache()
            .insert(provider.to_owned(), KeyState::Rejected);
        if let Ok(ledger) = &self.ledger
            && let Err(error) = ledger.mark_key_rejected(provider)
        {
            tracing::warn!(%error, "cannot record the key state");
        }
    }

    /// The stored key for `endpoint`, checked against the origin it was stored
    /// for (blocking). A key stored for `https://api.openai.com` is never sent to
    /// another host, whatever a settings layer says `baseUrl` is now.
    pub fn key_for(&self, endpoint: &Endpoint) -> Result<Option<ApiKey>, String> {
        let Some(key) = self.keys.get(&endpoint.id).map_err(|e| e.to_string())? else {
            return Ok(None);
        };
        let ledger = self.ledger()?;
        let record = ledger
            .key_record(&endpoint.id)
            .map_err(|error| format!("cannot read the key's record: {error:#}"))?;
        let now = origin(&endpoint.base_url);
        match record.and_then(|record| record.origin) {
            Some(stored) if stored == now => Ok(Some(key)),
            Some(stored) => Err(format!(
                "the key for {} was stored for {stored}, and the provider's baseUrl is now \
                 {now}; store the key again to send it there",
                endpoint.id
            )),
            None => Err(format!(
                "the key for {} was stored without the address it is for; store it again",
                endpoint.id
            )),
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
                let key_state = if provider.local {
                    KeyState::Missing
                } else {
                    self.key_state_cached(id)
                };
                let has_key = key_state != KeyState::Missing;
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

/// Where a task runs.
#[derive(Clone, Debug)]
pub enum Target {
    /// The model llama.cpp runs in this process.
    Local,
    /// A configured provider: a cloud service, or a loopback server marked local.
    Provider(Endpoint),
}

/// The configured provider `id`.
pub fn provider_endpoint(config: &Config, id: &str) -> Result<Endpoint, String> {
    let provider = config.providers.get(id).ok_or_else(|| {
        let known: Vec<&str> = config.providers.keys().map(String::as_str).collect();
        format!(
            "there is no provider {id:?}; the providers are: {}",
            known.join(", ")
        )
    })?;
    Endpoint::from_config(id, provider).map_err(|error| format!("providers.{id}: {error:#}"))
}

/// The configured cloud provider `id`, which takes a key.
pub fn keyed_endpoint(config: &Config, id: &str) -> Result<Endpoint, String> {
    let endpoint = provider_endpoint(config, id)?;
    if endpoint.local {
        return Err(format!("{id} is a local provider and takes no key"));
    }
    Ok(endpoint)
}

/// A URL's scheme, host and port: where a key may go.
pub fn origin(url: &reqwest::Url) -> String {
    url.origin().ascii_serialization()
}

/// The configured providers, checked (the config validated them already).
pub fn endpoints(config: &Config) -> Vec<Endpoint> {
    config
        .providers
        .iter()
        .filter_map(|(id, provider)| Endpoint::from_config(id, provider).ok())
        .collect()
}
