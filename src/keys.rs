//! API keys: kept in the operating system's credential store, never anywhere else.
//!
//! On macOS that is the Keychain, on Windows the Credential Manager, and on Linux
//! the Secret Service when a desktop session runs one, else the kernel's keyutils
//! store (headless machines and CI). Entries are named by the service `aumatron`
//! (or `AUMATRON_KEYRING_SERVICE`, which lets tests and second profiles keep their
//! own keys) and the provider id.
//!
//! An [`ApiKey`] has no `Display`, and its `Debug` prints no part of it; the only
//! way to the text is [`ApiKey::expose`], called where a request header is built.
//! Every call into the store blocks: call from blocking threads.

use std::sync::OnceLock;

/// A secret key for one provider.
#[derive(Clone, PartialEq, Eq)]
pub struct ApiKey(String);

impl ApiKey {
    /// Takes a key as typed or pasted: surrounding whitespace and newlines go.
    pub fn new(text: &str) -> Result<ApiKey, KeyError> {
        let trimmed = text.trim();
        if trimmed.is_empty() {
            return Err(KeyError::Empty);
        }
        if trimmed.chars().any(|c| c.is_control() || c.is_whitespace()) {
            return Err(KeyError::Malformed);
        }
        Ok(ApiKey(trimmed.to_owned()))
    }

    /// The key itself, for the one header that carries it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Replaces every occurrence of this key in `text`, for messages that quote a
    /// provider's words.
    pub fn redact(&self, text: &str) -> String {
        text.replace(&self.0, "[redacted key]")
    }
}

impl std::fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ApiKey(..)")
    }
}

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("the key is empty")]
    Empty,
    #[error("the key has spaces or control characters in it; paste it again")]
    Malformed,
    #[error("the credential store failed: {0}")]
    Store(String),
}

/// The credential store the process uses.
#[derive(Clone, Debug)]
pub struct KeyStore {
    service: String,
}

impl Default for KeyStore {
    fn default() -> Self {
        KeyStore::from_env()
    }
}

impl KeyStore {
    /// The store named by `AUMATRON_KEYRING_SERVICE`, or `aumatron`.
    pub fn from_env() -> KeyStore {
        let service = std::env::var("AUMATRON_KEYRING_SERVICE")
            .ok()
            .filter(|name| !name.trim().is_empty())
            .unwrap_or_else(|| "aumatron".into());
        KeyStore { service }
    }

    fn entry(&self, provider: &str) -> Result<keyring::Entry, KeyError> {
        choose_backend();
        keyring::Entry::new(&self.service, provider).map_err(store_error)
    }

    pub fn get(&self, provider: &str) -> Result<Option<ApiKey>, KeyError> {
        match self.entry(provider)?.get_password() {
            Ok(text) => Ok(ApiKey::new(&text).ok()),
            Err(keyring::Error::NoEntry) => Ok(None),
            Err(error) => Err(store_error(error)),
        }
    }

    pub fn has(&self, provider: &str) -> bool {
        match self.get(provider) {
            Ok(key) => key.is_some(),
            Err(error) => {
                tracing::warn!(provider, %error, "cannot read the key store");
                false
            }
        }
    }

    pub fn set(&self, provider: &str, key: &ApiKey) -> Result<(), KeyError> {
        self.entry(provider)?
            .set_password(key.expose())
            .map_err(store_error)
    }

    /// Removes the key; `Ok(false)` when there was none.
    pub fn remove(&self, provider: &str) -> Result<bool, KeyError> {
        match self.entry(provider)?.delete_credential() {
            Ok(()) => Ok(true),
            Err(keyring::Error::NoEntry) => Ok(false),
            Err(error) => Err(store_error(error)),
        }
    }

    /// Which store is in use, for `doctor` and `key status`.
    pub fn describe(&self) -> String {
        format!("{} (service {:?})", choose_backend(), self.service)
    }
}

fn store_error(error: keyring::Error) -> KeyError {
    // keyring's errors name the store and the failure, never the secret.
    KeyError::Store(error.to_string())
}

/// Picks the store once per process. On Linux the Secret Service is used when a
/// session bus offers one, and the kernel keyring otherwise.
fn choose_backend() -> &'static str {
    static CHOSEN: OnceLock<&'static str> = OnceLock::new();
    CHOSEN.get_or_init(|| {
        #[cfg(target_os = "linux")]
        {
            if secret_service_answers() {
                keyring::set_default_credential_builder(
                    keyring::secret_service::default_credential_builder(),
                );
                return "the Secret Service";
            }
            keyring::set_default_credential_builder(keyring::keyutils::default_credential_builder());
            "the kernel keyring (keyutils)"
        }
        #[cfg(target_os = "macos")]
        {
            "the macOS Keychain"
        }
        #[cfg(target_os = "windows")]
        {
            "the Windows Credential Manager"
        }
        #[cfg(not(any(target_os = "linux", target_os = "macos", target_os = "windows")))]
        {
            "the platform credential store"
        }
    })
}

/// Whether a Secret Service answers on the session bus. Without a bus address
/// there is none to ask, and asking would only time out.
#[cfg(target_os = "linux")]
fn secret_service_answers() -> bool {
    let bus = std::env::var_os("DBUS_SESSION_BUS_ADDRESS").is_some_and(|a| !a.is_empty());
    if !bus {
        return false;
    }
    let probe =
        keyring::secret_service::SsCredential::new_with_target(None, "aumatron-probe", "probe");
    match probe
        .map(|credential| keyring::Entry::new_with_credential(Box::new(credential)).get_password())
    {
        Ok(Ok(_)) | Ok(Err(keyring::Error::NoEntry)) => true,
        Ok(Err(error)) | Err(error) => {
            tracing::info!(%error, "no usable Secret Service; keys go to the kernel keyring");
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_never_shows_in_debug_output() {
        let key = ApiKey::new("  sk-test-1234567890abcdef\n").unwrap();
        assert_eq!(key.expose(), "sk-test-1234567890abcdef");
        assert_eq!(format!("{key:?}"), "ApiKey(..)");
        assert_eq!(
            format!("{:?}", Some(&key)),
            "Some(ApiKey(..))",
            "nested Debug too"
        );
        assert_eq!(
            key.redact("Incorrect API key provided: sk-test-1234567890abcdef."),
            "Incorrect API key provided: [redacted key]."
        );
        assert!(ApiKey::new("   ").is_err());
        assert!(ApiKey::new("sk-a b").is_err());
    }

    #[test]
    fn keys_round_trip_through_the_real_store() {
        let store = KeyStore {
            service: format!("aumatron-unit-{}", std::process::id()),
        };
        let key = ApiKey::new("sk-unit-test-key-0001").unwrap();
        assert_eq!(store.get("openai").unwrap(), None);
        store.set("openai", &key).unwrap();
        assert_eq!(store.get("openai").unwrap(), Some(key.clone()));
        assert!(store.has("openai"));
        assert!(!store.has("anthropic"));
        assert!(store.remove("openai").unwrap());
        assert!(!store.remove("openai").unwrap());
        assert_eq!(store.get("openai").unwrap(), None);
    }
}
