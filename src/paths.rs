//! Where aumatron keeps its files, following the XDG base directory variables on
//! every platform so that tests and users can move everything with the environment.

use std::path::PathBuf;

/// The file name the set-up script installs, preferred when the models folder holds
/// several.
pub const DEFAULT_MODEL_FILE: &str = "SmolLM2-135M-Instruct.Q4_1.gguf";

fn home() -> PathBuf {
    std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("."))
}

fn xdg(variable: &str, fallback: &str) -> PathBuf {
    std::env::var_os(variable)
        .map(PathBuf::from)
        .filter(|path| path.is_absolute())
        .unwrap_or_else(|| home().join(fallback))
}

/// `$XDG_CONFIG_HOME/aumatron`.
pub fn config_dir() -> PathBuf {
    xdg("XDG_CONFIG_HOME", ".config").join("aumatron")
}

/// `$XDG_DATA_HOME/aumatron`.
pub fn data_dir() -> PathBuf {
    xdg("XDG_DATA_HOME", ".local/share").join("aumatron")
}

/// `$XDG_CACHE_HOME/aumatron`.
pub fn cache_dir() -> PathBuf {
    xdg("XDG_CACHE_HOME", ".cache").join("aumatron")
}

pub fn config_file() -> PathBuf {
    config_dir().join("config.toml")
}

pub fn models_dir() -> PathBuf {
    data_dir().join("models")
}

/// Where `output = "document"` writes its Markdown files.
pub fn answers_dir() -> PathBuf {
    cache_dir().join("answers")
}

/// Expands a leading `~/`, the one shorthand users type in config files.
pub fn expand_home(path: &std::path::Path) -> PathBuf {
    match path.strip_prefix("~") {
        Ok(rest) => home().join(rest),
        Err(_) => path.to_path_buf(),
    }
}

/// Where the model comes from: the `local.modelPath` setting, then the
/// `AUMATRON_MODEL` variable, then the models folder in the data directory.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ModelSource {
    Config(PathBuf),
    Environment(PathBuf),
    DataDir(PathBuf),
}

impl ModelSource {
    pub fn path(&self) -> &std::path::Path {
        match self {
            ModelSource::Config(path) | ModelSource::Environment(path) => path,
            ModelSource::DataDir(path) => path,
        }
    }

    pub fn describe(&self) -> String {
        match self {
            ModelSource::Config(path) => format!("{} (from local.modelPath)", path.display()),
            ModelSource::Environment(path) => format!("{} (from AUMATRON_MODEL)", path.display()),
            ModelSource::DataDir(path) => format!("{} (from the data folder)", path.display()),
        }
    }
}

/// Finds the model file, or says where it looked.
pub fn resolve_model(configured: Option<&std::path::Path>) -> Result<ModelSource, String> {
    if let Some(path) = configured {
        return Ok(ModelSource::Config(expand_home(path)));
    }
    if let Some(path) = std::env::var_os("AUMATRON_MODEL").filter(|value| !value.is_empty()) {
        return Ok(ModelSource::Environment(expand_home(&PathBuf::from(path))));
    }
    let folder = models_dir();
    let preferred = folder.join(DEFAULT_MODEL_FILE);
    if preferred.is_file() {
        return Ok(ModelSource::DataDir(preferred));
    }
    let mut found: Vec<PathBuf> = std::fs::read_dir(&folder)
        .into_iter()
        .flatten()
        .flatten()
        .map(|entry| entry.path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "gguf"))
        .collect();
    found.sort();
    found
        .into_iter()
        .next()
        .map(ModelSource::DataDir)
        .ok_or_else(|| {
            format!(
                "no local model: local.modelPath is not set, AUMATRON_MODEL is not set, and {} \
             holds no .gguf file; run scripts/setup.sh to install the default model",
                folder.display()
            )
        })
}
