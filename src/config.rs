//! Configuration: one typed schema with camelCase keys, read from three layers.
//!
//! Layers merge key by key, later ones winning:
//! 1. the defaults below;
//! 2. `$XDG_CONFIG_HOME/aumatron/config.toml`;
//! 3. the client's `initializationOptions`;
//! 4. the client's answer to `workspace/configuration` for the section `aumatron`.
//!
//! A layer that does not parse, or a merged value that is out of range, is refused
//! as a whole with a message naming the key, and the previous configuration stays.

use std::path::PathBuf;

use anyhow::Context as _;
use serde::Deserialize;
use serde_json::Value;

use crate::task::TaskKind;

#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct Config {
    pub local: LocalConfig,
    pub output: OutputMode,
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
        Config::from_value(merged)
    }
}

impl Config {
    pub fn from_value(value: Value) -> anyhow::Result<Config> {
        let config: Config = serde_json::from_value(value)
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
        Ok(())
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
