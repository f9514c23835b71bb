//! Configuration: one typed schema with camelCase keys, read from three layers.
//!
//! Layers merge key by key, later ones winning:
//! 1. the defaults below (the built-in providers and cloud output limits come as a
//!    layer of their own, [`default_layer`], so that a user's partial table merges
//!    into them rather than replacing them);
//! 2. `$XDG_CONFIG_HOME/aumatron/config.toml`;
//! 3. the client's `initializationOptions`;
//! 4. the client's answer to `workspace/configuration` for the section `aumatron`.
//!
//! A layer that does not parse, or a merged value that is out of range, is refused
//! as a whole with a message naming the key, and the previous configuration stays.
//!
//! The editor's layers (3 and 4) may come from a project's settings, which the user
//! did not write. So what guards money and privacy they can only tighten, never
//! loosen, against the defaults and the config file: a lower cap holds, a higher
//! one does not; `cloud.enabled = false` holds, `true` does not undo the file's
//! `false`; `cloud.never` globs are added to the file's; a model's price can be
//! raised, never lowered below the file's or the shipped table's. And a key is
//! sent only to the address it was stored for (see `account`), whatever `baseUrl`
//! a layer sets.

use std::collections::BTreeMap;
use std::path::PathBuf;

use anyhow::Context as _;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::task::TaskKind;

// Each field has its own default: a struct-wide default would call
// `Config::default`, which is built by deserializing.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Config {
    #[serde(default)]
    pub local: LocalConfig,
    #[serde(default)]
    pub output: OutputMode,
    #[serde(default)]
    pub cloud: CloudConfig,
    /// Providers by id. The defaults (`openai`, `anthropic`) come from
    /// [`default_layer`]; users add their own or change fields of these.
    #[serde(default)]
    pub providers: BTreeMap<String, ProviderConfig>,
    /// Price overrides by model name, on top of the shipped table.
    #[serde(default)]
    pub prices: BTreeMap<String, PriceConfig>,
    #[serde(default)]
    pub budget: BudgetConfig,
}

impl Default for Config {
    fn default() -> Self {
        Config::from_value(Value::Null).expect("the defaults are valid")
    }
}

/// Cloud use: whether it is allowed at all, and the guards around it.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct CloudConfig {
    /// `false` is "local only": keys stay stored, every cloud action is hidden and
    /// refused.
    pub enabled: bool,
    /// File-name globs whose files never go to a cloud provider.
    pub never: Vec<String>,
    /// Ask (`window/showMessageRequest`) instead of refusing when the secret guard
    /// finds something.
    pub confirm_secrets: bool,
    /// The most tokens a cloud answer may have; it bounds each reservation.
    pub max_output_tokens: OutputLimits,
    /// How long a cloud request may wait for its next byte.
    pub timeout_seconds: u32,
}

impl Default for CloudConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            never: [".env*", "*.pem", "*.key", "id_rsa*", "id_ed25519*"]
                .map(String::from)
                .to_vec(),
            confirm_secrets: false,
            max_output_tokens: OutputLimits {
                summarise: 1024,
                explain: 1024,
                draft: 2048,
            },
            timeout_seconds: 60,
        }
    }
}

/// The wire format a provider speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
pub enum ProviderKind {
    #[serde(rename = "openai")]
    OpenAi,
    #[serde(rename = "anthropic")]
    Anthropic,
    #[serde(rename = "openai-compatible")]
    OpenAiCompatible,
}

impl ProviderKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ProviderKind::OpenAi => "openai",
            ProviderKind::Anthropic => "anthropic",
            ProviderKind::OpenAiCompatible => "openai-compatible",
        }
    }
}

/// Which request field carries the output limit for OpenAI-shaped providers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
pub enum MaxTokensField {
    #[serde(rename = "max_completion_tokens")]
    MaxCompletionTokens,
    #[serde(rename = "max_tokens")]
    MaxTokens,
}

#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ProviderConfig {
    pub kind: ProviderKind,
    /// Shown in titles and the status bar; defaults to the id.
    #[serde(default)]
    pub name: Option<String>,
    pub model: String,
    /// Defaults to the official endpoint for `openai` and `anthropic`; required for
    /// `openai-compatible`.
    #[serde(default)]
    pub base_url: Option<String>,
    #[serde(default)]
    pub tags: Vec<String>,
    /// A loopback server of the user's own: no key, no charge, no cap.
    #[serde(default)]
    pub local: bool,
    /// Defaults to `max_completion_tokens` for `openai`, `max_tokens` otherwise.
    #[serde(default)]
    pub max_tokens_field: Option<MaxTokensField>,
}

/// A price override, in US dollars per million tokens.
#[derive(Clone, Copy, Debug, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PriceConfig {
    pub input_per_m_tok: f64,
    pub output_per_m_tok: f64,
    #[serde(default)]
    pub cached_input_per_m_tok: Option<f64>,
    #[serde(default)]
    pub cache_write_per_m_tok: Option<f64>,
}

impl PriceConfig {
    /// Each rate at least `floor`'s; an unset cache rate takes `floor`'s, which
    /// is at least what it would have defaulted to.
    fn raise_to(&mut self, floor: &PriceConfig) {
        let max = |a: f64, b: f64| a.max(b);
        self.input_per_m_tok = max(self.input_per_m_tok, floor.input_per_m_tok);
        self.output_per_m_tok = max(self.output_per_m_tok, floor.output_per_m_tok);
        let raise = |own: Option<f64>, floor: Option<f64>| match (own, floor) {
            (Some(own), Some(floor)) => Some(own.max(floor)),
            (own, floor) => own.or(floor),
        };
        self.cached_input_per_m_tok =
            raise(self.cached_input_per_m_tok, floor.cached_input_per_m_tok);
        self.cache_write_per_m_tok = raise(self.cache_write_per_m_tok, floor.cache_write_per_m_tok);
    }
}

#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct BudgetConfig {
    /// The hard cap on cloud spend per period, in US dollars.
    pub monthly_cap_usd: f64,
    /// The share of the cap at which the budget is in its warning state.
    pub warn_fraction: f64,
    /// The day of the month (UTC) on which a period starts.
    pub reset_day: u32,
}

impl Default for BudgetConfig {
    fn default() -> Self {
        Self {
            monthly_cap_usd: 10.0,
            warn_fraction: 0.8,
            reset_day: 1,
        }
    }
}

/// The defaults that are tables users extend key by key: the built-in providers
/// and the cloud output limits.
pub fn default_layer() -> Value {
    let cloud_limits = CloudConfig::default().max_output_tokens;
    json!({
        "cloud": {
            "maxOutputTokens": {
                "summarise": cloud_limits.summarise,
                "explain": cloud_limits.explain,
                "draft": cloud_limits.draft,
            },
        },
        "providers": {
            "openai": { "kind": "openai", "name": "OpenAI", "model": "gpt-4.1-mini",
                        "tags": ["code"] },
            "anthropic": { "kind": "anthropic", "name": "Anthropic",
                           "model": "claude-haiku-4-5", "tags": ["writing"] },
        },
    })
}

#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct LocalConfig {
    /// The GGUF file; when unset, `AUMATRON_MODEL`, then the data folder.
    pub model_path: Option<PathBuf>,
    /// The llama.cpp context size, prompt and answer together.
    pub context_tokens: u32,
    /// Threads for llama.cpp; when unset, the number of physical cores.
    pub threads: Option<u32>,
    pub max_output_tokens: OutputLimits,
}

impl Default for LocalConfig {
    fn default() -> Self {
        Self {
            model_path: None,
            context_tokens: 4096,
            threads: None,
            max_output_tokens: OutputLimits::default(),
        }
    }
}

/// The most tokens each task may generate. In config, either one number for all
/// tasks or a table with some of `summarise`, `explain` and `draft`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OutputLimits {
    pub summarise: u32,
    pub explain: u32,
    pub draft: u32,
}

impl Default for OutputLimits {
    fn default() -> Self {
        Self {
            summarise: 256,
            explain: 384,
            draft: 512,
        }
    }
}

impl OutputLimits {
    pub fn for_task(&self, kind: TaskKind) -> u32 {
        match kind {
            TaskKind::Summarise => self.summarise,
            TaskKind::Explain => self.explain,
            TaskKind::Draft => self.draft,
        }
    }
}

impl<'de> Deserialize<'de> for OutputLimits {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct PerTask {
            summarise: Option<u32>,
            explain: Option<u32>,
            draft: Option<u32>,
        }
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Spelling {
            All(u32),
            PerTask(PerTask),
        }
        let defaults = OutputLimits::default();
        match Spelling::deserialize(deserializer).map_err(|_| {
            serde::de::Error::custom(
                "expected a number, or a table of summarise, explain and draft numbers",
            )
        })? {
            Spelling::All(n) => Ok(OutputLimits {
                summarise: n,
                explain: n,
                draft: n,
            }),
            Spelling::PerTask(limits) => Ok(OutputLimits {
                summarise: limits.summarise.unwrap_or(defaults.summarise),
                explain: limits.explain.unwrap_or(defaults.explain),
                draft: limits.draft.unwrap_or(defaults.draft),
            }),
        }
    }
}

/// Where answers go for clients that do not stream them (`aumatron/taskDidChange`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum OutputMode {
    /// Summarise and explain become a comment above the selection; a draft is
    /// inserted after it.
    #[default]
    Edit,
    /// Each answer is written to a Markdown file that the editor is asked to show.
    Document,
}

/// The raw layers, kept so any one of them can be replaced and the rest re-merged.
#[derive(Clone, Debug, Default)]
pub struct ConfigLayers {
    pub file: Value,
    pub initialization_options: Value,
    pub workspace: Value,
}

impl ConfigLayers {
    pub fn resolve(&self) -> anyhow::Result<Config> {
        let mut merged = Value::Object(Default::default());
        for layer in [&self.file, &self.initialization_options, &self.workspace] {
            merge(&mut merged, layer);
        }
        let mut config = Config::from_value(merged)?;
        // What the user wrote themselves: the defaults and the config file.
        let trusted = Config::from_value(self.file.clone()).unwrap_or_default();
        config.tighten_to(&trusted);
        Ok(config)
    }
}

impl Config {
    /// Keeps the money and privacy guards at least as tight as `trusted`'s (see
    /// the module's documentation).
    fn tighten_to(&mut self, trusted: &Config) {
        let budget = &mut self.budget;
        budget.monthly_cap_usd = budget.monthly_cap_usd.min(trusted.budget.monthly_cap_usd);
        budget.warn_fraction = budget.warn_fraction.min(trusted.budget.warn_fraction);
        self.cloud.enabled &= trusted.cloud.enabled;
        for glob in &trusted.cloud.never {
            if !self.cloud.never.contains(glob) {
                self.cloud.never.push(glob.clone());
            }
        }
        let shipped = crate::budget::PriceBook::default();
        for (model, price) in &mut self.prices {
            let floor = match (trusted.prices.get(model), shipped.lookup(model)) {
                (Some(file), _) => Some(*file),
                (None, Some(table)) => Some(PriceConfig {
                    input_per_m_tok: table.input.dollars(),
                    output_per_m_tok: table.output.dollars(),
                    cached_input_per_m_tok: Some(table.cached_input.dollars()),
                    cache_write_per_m_tok: Some(table.cache_write.dollars()),
                }),
                (None, None) => None,
            };
            if let Some(floor) = floor {
                price.raise_to(&floor);
            }
        }
    }

    /// Reads one merged layer over the defaults and checks every value.
    pub fn from_value(value: Value) -> anyhow::Result<Config> {
        let mut merged = default_layer();
        merge(&mut merged, &value);
        let config: Config = serde_json::from_value(merged)
            .map_err(|error| anyhow::anyhow!("{}", error.to_string().replace("field", "key")))?;
        config.validate()?;
        Ok(config)
    }

    fn validate(&self) -> anyhow::Result<()> {
        let local = &self.local;
        anyhow::ensure!(
            (256..=1_048_576).contains(&local.context_tokens),
            "local.contextTokens must be between 256 and 1048576, not {}",
            local.context_tokens
        );
        if let Some(threads) = local.threads {
            anyhow::ensure!(
                (1..=512).contains(&threads),
                "local.threads must be between 1 and 512, not {threads}"
            );
        }
        for kind in TaskKind::ALL {
            let limit = local.max_output_tokens.for_task(kind);
            anyhow::ensure!(
                limit >= 1 && limit < local.context_tokens,
                "local.maxOutputTokens.{} must be at least 1 and below local.contextTokens \
                 ({}), not {limit}",
                kind.as_str(),
                local.context_tokens
            );
        }
        self.validate_cloud()?;
        self.validate_budget()
    }

    fn validate_cloud(&self) -> anyhow::Result<()> {
        let cloud = &self.cloud;
        anyhow::ensure!(
            (1..=600).contains(&cloud.timeout_seconds),
            "cloud.timeoutSeconds must be between 1 and 600, not {}",
            cloud.timeout_seconds
        );
        for kind in TaskKind::ALL {
            let limit = cloud.max_output_tokens.for_task(kind);
            anyhow::ensure!(
                (1..=200_000).contains(&limit),
                "cloud.maxOutputTokens.{} must be between 1 and 200000, not {limit}",
                kind.as_str()
            );
        }
        for glob in &cloud.never {
            globset::Glob::new(glob)
                .map_err(|error| anyhow::anyhow!("cloud.never: {glob:?} is not a glob: {error}"))?;
        }
        for (id, provider) in &self.providers {
            anyhow::ensure!(
                !id.is_empty()
                    && id
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
                    && !["local", "cloud"].contains(&id.as_str()),
                "providers.{id}: a provider id is letters, digits, '-' and '_', and not \
                 \"local\" or \"cloud\""
            );
            anyhow::ensure!(
                !provider.model.trim().is_empty(),
                "providers.{id}.model must name a model"
            );
            let url = provider
                .endpoint()
                .map_err(|error| anyhow::anyhow!("providers.{id}.baseUrl: {error}"))?;
            if provider.local {
                anyhow::ensure!(
                    is_loopback(&url),
                    "providers.{id}: local = true needs a loopback baseUrl (127.0.0.1, ::1 \
                     or localhost), not {url}"
                );
            }
        }
        for (model, price) in &self.prices {
            let fields = [
                ("inputPerMTok", Some(price.input_per_m_tok)),
                ("outputPerMTok", Some(price.output_per_m_tok)),
                ("cachedInputPerMTok", price.cached_input_per_m_tok),
                ("cacheWritePerMTok", price.cache_write_per_m_tok),
            ];
            for (name, value) in fields {
                if let Some(value) = value {
                    anyhow::ensure!(
                        value.is_finite() && (0.0..=100_000.0).contains(&value),
                        "prices.{model}.{name} must be a number of dollars from 0 to 100000, \
                         not {value}"
                    );
                }
            }
        }
        Ok(())
    }

    fn validate_budget(&self) -> anyhow::Result<()> {
        let budget = &self.budget;
        anyhow::ensure!(
            budget.monthly_cap_usd.is_finite()
                && (0.0..=1_000_000.0).contains(&budget.monthly_cap_usd),
            "budget.monthlyCapUsd must be a number of dollars from 0 to 1000000, not {}",
            budget.monthly_cap_usd
        );
        anyhow::ensure!(
            budget.warn_fraction > 0.0 && budget.warn_fraction <= 1.0,
            "budget.warnFraction must be above 0 and at most 1, not {}",
            budget.warn_fraction
        );
        anyhow::ensure!(
            (1..=28).contains(&budget.reset_day),
            "budget.resetDay must be a day from 1 to 28, not {}",
            budget.reset_day
        );
        Ok(())
    }
}

impl ProviderConfig {
    /// The base URL requests go to, checked: HTTPS, or plain HTTP to loopback only,
    /// so a key never crosses a network in the clear.
    pub fn endpoint(&self) -> anyhow::Result<reqwest::Url> {
        let text = match (&self.base_url, self.kind) {
            (Some(url), _) => url.as_str(),
            (None, ProviderKind::OpenAi) => "https://api.openai.com/v1",
            (None, ProviderKind::Anthropic) => "https://api.anthropic.com/v1",
            (None, ProviderKind::OpenAiCompatible) => {
                anyhow::bail!("an openai-compatible provider needs a baseUrl")
            }
        };
        let url =
            reqwest::Url::parse(text).map_err(|error| anyhow::anyhow!("{text:?}: {error}"))?;
        anyhow::ensure!(
            url.username().is_empty() && url.password().is_none(),
            "{text:?} must not carry credentials; keys live in the keyring"
        );
        match url.scheme() {
            "https" => Ok(url),
            "http" if is_loopback(&url) => Ok(url),
            "http" => anyhow::bail!(
                "{text:?} is plain HTTP to another machine; use https (plain http is allowed \
                 only to loopback)"
            ),
            scheme => anyhow::bail!("{text:?}: the scheme must be https, not {scheme}"),
        }
    }

    pub fn display_name<'a>(&'a self, id: &'a str) -> &'a str {
        self.name.as_deref().unwrap_or(id)
    }

    pub fn max_tokens_field(&self) -> MaxTokensField {
        self.max_tokens_field.unwrap_or(match self.kind {
            ProviderKind::OpenAi => MaxTokensField::MaxCompletionTokens,
            _ => MaxTokensField::MaxTokens,
        })
    }
}

/// Whether `url` names this machine.
pub fn is_loopback(url: &reqwest::Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(domain)) => domain.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

/// Reads the config file into a layer: nothing when it does not exist.
pub fn read_config_file(path: &std::path::Path) -> anyhow::Result<Value> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(Value::Null),
        Err(error) => {
            return Err(error).with_context(|| format!("cannot read {}", path.display()));
        }
    };
    let table: toml::Table =
        toml::from_str(&text).with_context(|| format!("{} is not valid TOML", path.display()))?;
    serde_json::to_value(table).context("config file")
}

/// Sets `budget.monthlyCapUsd` in the config file at `path`, keeping everything
/// else in it, comments included. The file is replaced in one rename, so a reader
/// never sees half of it.
pub fn write_cap(path: &std::path::Path, usd: f64) -> anyhow::Result<()> {
    let cap = BudgetConfig {
        monthly_cap_usd: usd,
        ..BudgetConfig::default()
    };
    Config {
        budget: cap,
        ..Config::default()
    }
    .validate_budget()?;
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(error) => return Err(error).with_context(|| format!("cannot read {}", path.display())),
    };
    let mut document: toml_edit::DocumentMut = text
        .parse()
        .with_context(|| format!("{} is not valid TOML; fix it first", path.display()))?;
    let budget = document
        .entry("budget")
        .or_insert_with(|| toml_edit::Item::Table(toml_edit::Table::new()));
    let table = budget
        .as_table_like_mut()
        .with_context(|| format!("budget in {} is not a table", path.display()))?;
    table.insert("monthlyCapUsd", toml_edit::value(usd));
    let folder = path.parent().unwrap_or(std::path::Path::new("."));
    std::fs::create_dir_all(folder)?;
    static WRITES: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let write = WRITES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let temporary = folder.join(format!(".config.toml.{}.{write}", std::process::id()));
    std::fs::write(&temporary, document.to_string())
        .with_context(|| format!("cannot write {}", temporary.display()))?;
    std::fs::rename(&temporary, path)
        .with_context(|| format!("cannot replace {}", path.display()))?;
    Ok(())
}

/// Merges `layer` into `base` key by key; `null` in a layer means "not set".
fn merge(base: &mut Value, layer: &Value) {
    match (base, layer) {
        (_, Value::Null) => {}
        (Value::Object(base), Value::Object(layer)) => {
            for (key, value) in layer {
                if value.is_null() {
                    continue;
                }
                match base.get_mut(key) {
                    Some(existing) if existing.is_object() && value.is_object() => {
                        merge(existing, value)
                    }
                    _ => {
                        base.insert(key.clone(), value.clone());
                    }
                }
            }
        }
        (base, layer) => *base = layer.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn defaults_without_any_layer() {
        let config = ConfigLayers::default().resolve().unwrap();
        assert_eq!(config, Config::default());
        assert_eq!(config.local.context_tokens, 4096);
        assert_eq!(config.output, OutputMode::Edit);
    }

    #[test]
    fn later_layers_win_key_by_key() {
        let layers = ConfigLayers {
            file: json!({ "local": { "contextTokens": 2048, "threads": 3 } }),
            initialization_options: json!({ "local": { "threads": 2 }, "output": "document" }),
            workspace: json!({ "local": { "maxOutputTokens": { "draft": 100 } } }),
        };
        let config = layers.resolve().unwrap();
        assert_eq!(config.local.context_tokens, 2048);
        assert_eq!(config.local.threads, Some(2));
        assert_eq!(config.output, OutputMode::Document);
        assert_eq!(config.local.max_output_tokens.draft, 100);
        assert_eq!(config.local.max_output_tokens.explain, 384);
    }

    #[test]
    fn one_number_limits_every_task() {
        let config = Config::from_value(json!({ "local": { "maxOutputTokens": 64 } })).unwrap();
        assert_eq!(
            config.local.max_output_tokens,
            OutputLimits {
                summarise: 64,
                explain: 64,
                draft: 64
            }
        );
    }

    #[test]
    fn bad_values_name_the_key() {
        let unknown = Config::from_value(json!({ "local": { "modelPth": "x" } })).unwrap_err();
        assert!(unknown.to_string().contains("modelPth"), "{unknown}");
        let small = Config::from_value(json!({ "local": { "contextTokens": 10 } })).unwrap_err();
        assert!(small.to_string().contains("local.contextTokens"), "{small}");
        let output = Config::from_value(json!({ "output": "printer" })).unwrap_err();
        assert!(output.to_string().contains("printer"), "{output}");
        let limit = Config::from_value(json!({ "local": { "contextTokens": 512,
            "maxOutputTokens": 600 } }))
        .unwrap_err();
        assert!(limit.to_string().contains("maxOutputTokens"), "{limit}");
    }

    #[test]
    fn cloud_settings_merge_into_the_built_in_providers() {
        let config = Config::from_value(json!({
            "providers": {
                "openai": { "model": "gpt-4.1" },
                "ollama": { "kind": "openai-compatible", "model": "llama3.1",
                            "baseUrl": "http://127.0.0.1:11434/v1", "local": true }
            },
            "cloud": { "maxOutputTokens": { "explain": 600 } }
        }))
        .unwrap();
        assert_eq!(config.providers["openai"].model, "gpt-4.1");
        assert_eq!(config.providers["openai"].tags, ["code"]);
        assert_eq!(config.providers["anthropic"].model, "claude-haiku-4-5");
        assert!(config.providers["ollama"].local);
        assert_eq!(config.cloud.max_output_tokens.explain, 600);
        assert_eq!(config.cloud.max_output_tokens.draft, 2048);
        assert_eq!(config.budget.monthly_cap_usd, 10.0);
        assert!(config.cloud.enabled);
    }

    #[test]
    fn editor_layers_tighten_the_guards_but_never_loosen_them() {
        let layers = |editor: Value| ConfigLayers {
            file: json!({ "budget": { "monthlyCapUsd": 5 }, "cloud": { "never": ["*.secret"] },
                          "prices": { "mine": { "inputPerMTok": 1, "outputPerMTok": 2 } } }),
            initialization_options: Value::Null,
            workspace: editor,
        };
        let loosened = layers(json!({
            "budget": { "monthlyCapUsd": 500, "warnFraction": 1 },
            "cloud": { "never": [], "enabled": true },
            "prices": { "gpt-4.1-mini": { "inputPerMTok": 0, "outputPerMTok": 0 },
                        "mine": { "inputPerMTok": 0.5, "outputPerMTok": 3 } }
        }))
        .resolve()
        .unwrap();
        assert_eq!(loosened.budget.monthly_cap_usd, 5.0);
        assert_eq!(loosened.budget.warn_fraction, 0.8);
        assert_eq!(
            loosened.cloud.never,
            ["*.secret"],
            "the file's list, not the editor's []"
        );
        let mini = loosened.prices["gpt-4.1-mini"];
        assert_eq!((mini.input_per_m_tok, mini.output_per_m_tok), (0.4, 1.6));
        let mine = loosened.prices["mine"];
        assert_eq!((mine.input_per_m_tok, mine.output_per_m_tok), (1.0, 3.0));

        let tightened = layers(json!({
            "budget": { "monthlyCapUsd": 2 }, "cloud": { "enabled": false },
            "prices": { "unknown-model": { "inputPerMTok": 0.1, "outputPerMTok": 0.2 } }
        }))
        .resolve()
        .unwrap();
        assert_eq!(tightened.budget.monthly_cap_usd, 2.0);
        assert!(!tightened.cloud.enabled);
        assert_eq!(tightened.prices["unknown-model"].input_per_m_tok, 0.1);

        // The file's own settings stand as written.
        let file_only = ConfigLayers {
            file: json!({ "cloud": { "enabled": false },
                          "prices": { "gpt-4.1-mini": { "inputPerMTok": 0.1, "outputPerMTok": 0.2 } } }),
            ..Default::default()
        }
        .resolve()
        .unwrap();
        assert!(!file_only.cloud.enabled);
        assert_eq!(file_only.prices["gpt-4.1-mini"].input_per_m_tok, 0.1);
    }

    #[test]
    fn provider_urls_must_be_https_except_to_loopback() {
        let with_url = |url: &str, local: bool| {
            Config::from_value(json!({ "providers": { "x": {
                "kind": "openai-compatible", "model": "m", "baseUrl": url, "local": local } } }))
        };
        assert!(with_url("https://openrouter.ai/api/v1", false).is_ok());
        assert!(with_url("http://127.0.0.1:8080/v1", false).is_ok());
        assert!(with_url("http://localhost:8080/v1", true).is_ok());
        let plain = with_url("http://10.0.0.5:8000/v1", false).unwrap_err();
        assert!(plain.to_string().contains("providers.x.baseUrl"), "{plain}");
        let remote_local = with_url("https://example.com/v1", true).unwrap_err();
        assert!(
            remote_local.to_string().contains("loopback"),
            "{remote_local}"
        );
        assert!(with_url("https://user:pw@example.com/v1", false).is_err());
        let no_url = Config::from_value(json!({ "providers": { "x": {
            "kind": "openai-compatible", "model": "m" } } }));
        assert!(no_url.unwrap_err().to_string().contains("baseUrl"));
    }

    #[test]
    fn budget_values_are_checked() {
        for (bad, key) in [
            (
                json!({ "budget": { "monthlyCapUsd": -1 } }),
                "budget.monthlyCapUsd",
            ),
            (
                json!({ "budget": { "warnFraction": 1.5 } }),
                "budget.warnFraction",
            ),
            (json!({ "budget": { "resetDay": 31 } }), "budget.resetDay"),
            (
                json!({ "prices": { "m": { "inputPerMTok": 1 } } }),
                "outputPerMTok",
            ),
            (json!({ "cloud": { "never": ["[oops"] } }), "cloud.never"),
        ] {
            let error = Config::from_value(bad).unwrap_err().to_string();
            assert!(error.contains(key), "{error}");
        }
    }

    #[test]
    fn write_cap_keeps_the_rest_of_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.toml");
        std::fs::write(&path, "# my settings\noutput = \"document\"\n").unwrap();
        write_cap(&path, 5.0).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(
            text.starts_with("# my settings\noutput = \"document\""),
            "{text}"
        );
        let config = Config::from_value(read_config_file(&path).unwrap()).unwrap();
        assert_eq!(config.budget.monthly_cap_usd, 5.0);
        write_cap(&path, 7.5).unwrap();
        let config = Config::from_value(read_config_file(&path).unwrap()).unwrap();
        assert_eq!(config.budget.monthly_cap_usd, 7.5);
        assert!(write_cap(&path, -3.0).is_err());
    }

    #[test]
    fn the_config_file_is_toml_with_the_same_keys() {
        let dir = std::env::temp_dir().join(format!("aumatron-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("config.toml");
        std::fs::write(
            &path,
            "output = \"document\"\n[local]\ncontextTokens = 1024\n",
        )
        .unwrap();
        let layer = read_config_file(&path).unwrap();
        let config = Config::from_value(layer).unwrap();
        assert_eq!(config.local.context_tokens, 1024);
        assert_eq!(config.output, OutputMode::Document);
        std::fs::write(&path, "[local\n").unwrap();
        assert!(read_config_file(&path).is_err());
        assert_eq!(
            read_config_file(&dir.join("missing.toml")).unwrap(),
            Value::Null
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
