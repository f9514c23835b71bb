//! Cloud providers: their wire formats, and one streamed request to one of them.
//!
//! [`Endpoint`] is a provider as configured and checked; [`CloudClient::stream`]
//! sends one chat request and returns a [`CloudStream`] of text pieces and usage
//! figures, or a [`CloudError`] that says whether the provider may have billed the
//! request. Nothing here retries, reserves or settles: `task::cloud` decides that,
//! and it is the only caller. The key travels only in this module's request
//! headers, marked sensitive so no `Debug` or log shows it, and only to the
//! provider's own base URL; redirects are never followed.

mod anthropic;
mod openai;
pub mod sse;
pub mod tokens;

use std::time::Duration;

use futures::StreamExt as _;
use reqwest::header::{HeaderMap, HeaderValue};

use crate::budget::Money;
use crate::budget::prices::Usage;
use crate::config::{MaxTokensField, ProviderConfig, ProviderKind};
use crate::engine::ChatPrompt;
use crate::keys::ApiKey;
use sse::SseParser;

/// A provider, resolved from the config: where to send, in which format.
#[derive(Clone, Debug, PartialEq)]
pub struct Endpoint {
    pub id: String,
    pub name: String,
    pub kind: ProviderKind,
    pub model: String,
    pub base_url: reqwest::Url,
    pub tags: Vec<String>,
    /// A loopback server of the user's own: no key, no charge.
    pub local: bool,
    pub max_tokens_field: MaxTokensField,
}

impl Endpoint {
    pub fn from_config(id: &str, config: &ProviderConfig) -> anyhow::Result<Endpoint> {
        Ok(Endpoint {
            id: id.to_owned(),
            name: config.display_name(id).to_owned(),
            kind: config.kind,
            model: config.model.clone(),
            base_url: config.endpoint()?,
            tags: config.tags.clone(),
            local: config.local,
            max_tokens_field: config.max_tokens_field(),
        })
    }

    fn url(&self, path: &str) -> String {
        format!("{}/{path}", self.base_url.as_str().trim_end_matches('/'))
    }
}

/// One request's content.
#[derive(Clone, Debug)]
pub struct CloudRequest {
    pub prompt: ChatPrompt,
    pub max_output_tokens: u32,
}

/// What a stream yields.
#[derive(Clone, Debug, PartialEq)]
pub enum CloudChunk {
    Text(String),
    /// The provider's usage figures; a later report replaces an earlier one.
    Usage(ReportedUsage),
}

/// Usage as reported, normalised (see [`Usage`]): `cost` is a provider's own
/// figure in dollars, where it sends one (OpenRouter does).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct ReportedUsage {
    pub usage: Usage,
    pub cost: Option<Money>,
    /// Whether these are the final figures for the request (OpenAI's one usage
    /// chunk, Anthropic's last `message_delta`), not a preliminary count.
    pub complete: bool,
}

#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum CloudError {
    #[error("{provider} rejected the API key (HTTP {status})")]
    KeyRejected { provider: String, status: u16 },
    #[error("{provider} is rate limiting requests: {message}")]
    RateLimited {
        provider: String,
        retry_after: Option<Duration>,
        message: String,
    },
    #[error("{provider} says the account is out of credit or quota: {message}")]
    OutOfCredit { provider: String, message: String },
    #[error("{provider} had a server error (HTTP {status}): {message}")]
    Server {
        provider: String,
        status: u16,
        message: String,
    },
    #[error("{provider} refused the request (HTTP {status}): {message}")]
    Refused {
        provider: String,
        status: u16,
        message: String,
    },
    #[error("cannot reach {provider}: {message}")]
    Unreachable { provider: String, message: String },
    #[error("{provider} sent nothing for {seconds} s (cloud.timeoutSeconds)")]
    TimedOut { provider: String, seconds: u64 },
    #[error("{provider} reported an error mid-answer: {message}")]
    ErrorEvent { provider: String, message: String },
    #[error("the answer from {provider} broke off: {message}")]
    Broken { provider: String, message: String },
}

impl CloudError {
    /// Whether the provider may have done (and billed) work for the request. An
    /// HTTP error status, or a connection that never got through, means it did not.
    pub fn maybe_billed(&self) -> bool {
        matches!(
            self,
            CloudError::TimedOut { .. } | CloudError::ErrorEvent { .. } | CloudError::Broken { .. }
        )
    }

    /// Whether another try may succeed, if nothing has been streamed yet.
    pub fn retryable(&self) -> bool {
        matches!(
            self,
            CloudError::RateLimited { .. } | CloudError::Server { .. }
        )
    }
}

/// The HTTP clients, shared by all requests of a process.
#[derive(Clone, Debug)]
pub struct CloudClient {
    /// For remote providers: honours the system's proxy settings.
    remote: reqwest::Client,
    /// For providers on this machine: never through a proxy, since plain HTTP
    /// (and the key with it) must not leave the machine.
    loopback: reqwest::Client,
}

impl CloudClient {
    pub fn new() -> anyhow::Result<CloudClient> {
        let builder = || {
            reqwest::Client::builder()
                .connect_timeout(Duration::from_secs(10))
                .redirect(reqwest::redirect::Policy::none())
                .user_agent(concat!("aumatron-lsp/", env!("CARGO_PKG_VERSION")))
        };
        Ok(CloudClient {
            remote: builder().build()?,
            loopback: builder().no_proxy().build()?,
        })
    }

    fn http(&self, endpoint: &Endpoint) -> &reqwest::Client {
        if crate::config::is_loopback(&endpoint.base_url) {
            &self.loopback
        } else {
            &self.remote
        }
    }

    /// Sends one streamed chat request; `idle` bounds every wait for the next
    /// bytes, the response headers included.
    pub async fn stream(
        &self,
        endpoint: &Endpoint,
        key: Option<&ApiKey>,
        request: &CloudRequest,
        idle: Duration,
    ) -> Result<CloudStream, CloudError> {
        let (path, body) = match endpoint.kind {
            ProviderKind::Anthropic => ("messages", anthropic::body(endpoint, request)),
            ProviderKind::OpenAi | ProviderKind::OpenAiCompatible => {
                ("chat/completions", openai::body(endpoint, request))
            }
        };
        let response = self.post(endpoint, key, path, &body, idle).await?;
        Ok(CloudStream {
            provider: endpoint.name.clone(),
            format: match endpoint.kind {
                ProviderKind::Anthropic => Format::Anthropic(anthropic::StreamState::default()),
                _ => Format::OpenAi(openai::StreamState::default()),
            },
            body: Box::pin(response.bytes_stream()),
            parser: SseParser::default(),
            pending: std::collections::VecDeque::new(),
            idle,
            ended: false,
            key: key.cloned(),
        })
    }

    async fn post(
        &self,
        endpoint: &Endpoint,
        key: Option<&ApiKey>,
        path: &str,
        body: &serde_json::Value,
        idle: Duration,
    ) -> Result<reqwest::Response, CloudError> {
        let provider = endpoint.name.clone();
        let mut headers = HeaderMap::new();
        headers.insert("content-type", HeaderValue::from_static("application/json"));
        if let Some(key) = key {
            let (name, value) = match endpoint.kind {
                ProviderKind::Anthropic => ("x-api-key", key.expose().to_owned()),
                _ => ("authorization", format!("Bearer {}", key.expose())),
            };
            let mut value = HeaderValue::from_str(&value).map_err(|_| CloudError::Refused {
                provider: provider.clone(),
                status: 0,
                message: "the stored key has characters a header cannot carry".into(),
            })?;
            value.set_sensitive(true);
            headers.insert(name, value);
        }
        if endpoint.kind == ProviderKind::Anthropic {
            headers.insert("anthropic-version", HeaderValue::from_static("2023-06-01"));
        }
        let send = self
            .http(endpoint)
            .post(endpoint.url(path))
            .headers(headers)
            .body(body.to_string())
            .send();
        let response = match tokio::time::timeout(idle, send).await {
            Err(_) => {
                return Err(CloudError::TimedOut {
                    provider,
                    seconds: idle.as_secs(),
                });
            }
            Ok(Err(error)) => return Err(transport_error(&provider, error, key)),
            Ok(Ok(response)) => response,
        };
        let status = response.status();
        if status.is_success() {
            return Ok(response);
        }
        let retry_after = retry_after(response.headers());
        let text = tokio::time::timeout(idle, response.text())
            .await
            .ok()
            .and_then(Result::ok)
            .unwrap_or_default();
        Err(classify_status(
            &provider,
            status.as_u16(),
            &text,
            retry_after,
            key,
        ))
    }
}

fn transport_error(provider: &str, error: reqwest::Error, key: Option<&ApiKey>) -> CloudError {
    let unsent = error.is_connect() || error.is_builder();
    let message = redact(key, &error.without_url().to_string());
    if unsent {
        CloudError::Unreachable {
            provider: provider.to_owned(),
            message,
        }
    } else {
        // The request may have been sent before the connection failed.
        CloudError::Broken {
            provider: provider.to_owned(),
            message,
        }
    }
}

fn redact(key: Option<&ApiKey>, text: &str) -> String {
    match key {
        Some(key) => key.redact(text),
        None => text.to_owned(),
    }
}

/// `retry-after` in seconds (fractions allowed); the HTTP-date form is not used
/// by these providers and is ignored.
fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let value = headers.get("retry-after")?.to_str().ok()?.trim();
    let seconds: f64 = value.parse().ok()?;
    (seconds.is_finite() && seconds >= 0.0).then(|| Duration::from_secs_f64(seconds))
}

/// Reads a provider's error body, whichever shape it has: OpenAI's and
/// Anthropic's `{"error": {"type", "message", "code"}}`, OpenRouter's numeric
/// `code`, or plain text.
fn error_parts(body: &str) -> (String, String) {
    let value: serde_json::Value = serde_json::from_str(body).unwrap_or_default();
    let error = &value["error"];
    let message = error["message"]
        .as_str()
        .or_else(|| value["message"].as_str())
        .map(str::to_owned)
        .unwrap_or_else(|| body.chars().take(200).collect());
    let kind = [&error["code"], &error["type"]]
        .iter()
        .filter_map(|field| field.as_str())
        .collect::<Vec<_>>()
        .join(" ");
    (kind, message)
}

fn classify_status(
    provider: &str,
    status: u16,
    body: &str,
    retry_after: Option<Duration>,
    key: Option<&ApiKey>,
) -> CloudError {
    let (kind, message) = error_parts(body);
    let message = redact(key, message.trim());
    let provider = provider.to_owned();
    let lower = format!("{kind} {message}").to_lowercase();
    let out_of_credit = lower.contains("insufficient_quota")
        || lower.contains("credit_balance")
        || lower.contains("billing")
        || lower.contains("credit balance is too low");
    match status {
        401 => CloudError::KeyRejected { provider, status },
        403 if lower.contains("permission_error")
            || lower.contains("authentication")
            || lower.contains("api key") =>
        {
            CloudError::KeyRejected { provider, status }
        }
        402 => CloudError::OutOfCredit { provider, message },
        429 if out_of_credit => CloudError::OutOfCredit { provider, message },
        // "Request too large" comes as a 429 but never succeeds on a retry.
        429 if lower.contains("request too large") => CloudError::Refused {
            provider,
            status,
            message,
        },
        429 => CloudError::RateLimited {
            provider,
            retry_after,
            message,
        },
        400 if out_of_credit => CloudError::OutOfCredit { provider, message },
        500..=599 => CloudError::Server {
            provider,
            status,
            message,
        },
        _ => CloudError::Refused {
            provider,
            status,
            message,
        },
    }
}

enum Format {
    OpenAi(openai::StreamState),
    Anthropic(anthropic::StreamState),
}

/// What a provider's parser makes of one event.
enum Parsed {
    Chunks(Vec<CloudChunk>),
    /// The provider said the answer is complete.
    End,
}

/// A response being streamed; read it with [`CloudStream::next`].
pub struct CloudStream {
    provider: String,
    format: Format,
    body: std::pin::Pin<Box<dyn futures::Stream<Item = reqwest::Result<bytes::Bytes>> + Send>>,
    parser: SseParser,
    pending: std::collections::VecDeque<CloudChunk>,
    idle: Duration,
    ended: bool,
    key: Option<ApiKey>,
}

impl CloudStream {
    /// The next piece: `Ok(None)` once the provider has said the answer is
    /// complete. A stream that ends without saying so is an error.
    pub async fn next(&mut self) -> Result<Option<CloudChunk>, CloudError> {
        loop {
            if let Some(chunk) = self.pending.pop_front() {
                return Ok(Some(chunk));
            }
            if self.ended {
                return Ok(None);
            }
            let read = tokio::time::timeout(self.idle, self.body.next()).await;
            let events = match read {
                Err(_) => {
                    return Err(CloudError::TimedOut {
                        provider: self.provider.clone(),
                        seconds: self.idle.as_secs(),
                    });
                }
                Ok(Some(Ok(bytes))) => self
                    .parser
                    .push(&bytes)
                    .map_err(|error| self.broken(error))?,
                Ok(Some(Err(error))) => {
                    let message = redact(self.key.as_ref(), &error.without_url().to_string());
                    return Err(self.broken(message));
                }
                Ok(None) => {
                    let last: Vec<_> = self.parser.finish().into_iter().collect();
                    self.handle(last)?;
                    if self.ended {
                        continue;
                    }
                    if self.usage_complete() {
                        // The usage arrived; only the closing marker is missing.
                        self.ended = true;
                        continue;
                    }
                    return Err(self.broken("the connection closed before the answer ended"));
                }
            };
            self.handle(events)?;
        }
    }

    fn handle(&mut self, events: Vec<sse::SseEvent>) -> Result<(), CloudError> {
        for event in events {
            let parsed = match &mut self.format {
                Format::OpenAi(state) => state.parse(&event),
                Format::Anthropic(state) => state.parse(&event),
            };
            match parsed {
                Ok(Parsed::Chunks(chunks)) => self.pending.extend(chunks),
                Ok(Parsed::End) => {
                    self.ended = true;
                    break;
                }
                Err(Failure::ErrorEvent(message)) => {
                    return Err(CloudError::ErrorEvent {
                        provider: self.provider.clone(),
                        message: redact(self.key.as_ref(), &message),
                    });
                }
                Err(Failure::Malformed(message)) => return Err(self.broken(message)),
            }
        }
        Ok(())
    }

    fn usage_complete(&self) -> bool {
        match &self.format {
            Format::OpenAi(state) => state.usage_seen,
            Format::Anthropic(state) => state.final_usage_seen,
        }
    }

    fn broken(&self, message: impl std::fmt::Display) -> CloudError {
        CloudError::Broken {
            provider: self.provider.clone(),
            message: message.to_string(),
        }
    }
}

/// Why a stream event could not be used.
enum Failure {
    /// The provider sent an error inside the stream, after its 200.
    ErrorEvent(String),
    /// The event is not what the format allows.
    Malformed(String),
}

#[cfg(test)]
mod tests {
    use super::*;

    fn classify(status: u16, body: &str) -> CloudError {
        classify_status("OpenAI", status, body, Some(Duration::from_secs(2)), None)
    }

    #[test]
    fn error_statuses_are_told_apart_by_their_bodies() {
        let quota = r#"{"error":{"message":"You exceeded your current quota, please check your plan and billing details.","type":"insufficient_quota","param":null,"code":"insufficient_quota"}}"#;
        assert!(matches!(
            classify(429, quota),
            CloudError::OutOfCredit { .. }
        ));
        let rate = r#"{"error":{"message":"Rate limit reached for requests","type":"requests","param":null,"code":"rate_limit_exceeded"}}"#;
        assert!(matches!(
            classify(429, rate),
            CloudError::RateLimited {
                retry_after: Some(_),
                ..
            }
        ));
        let too_large = r#"{"error":{"message":"Request too large for gpt-4o on tokens per min (TPM): Limit 30000, Requested 34307.","type":"tokens","code":"rate_limit_exceeded"}}"#;
        assert!(!classify(429, too_large).retryable());
        assert!(matches!(
            classify(401, "{}"),
            CloudError::KeyRejected { .. }
        ));
        let anthropic_forbidden = r#"{"type":"error","error":{"type":"permission_error","message":"Your API key does not have permission to use the specified resource."}}"#;
        assert!(matches!(
            classify(403, anthropic_forbidden),
            CloudError::KeyRejected { .. }
        ));
        let region = r#"{"error":{"message":"Country, region, or territory not supported","type":"request_forbidden"}}"#;
        assert!(matches!(classify(403, region), CloudError::Refused { .. }));
        let openrouter_credit = r#"{"error":{"code":402,"message":"Insufficient credits"}}"#;
        assert!(matches!(
            classify(402, openrouter_credit),
            CloudError::OutOfCredit { .. }
        ));
        let anthropic_credit = r#"{"type":"error","error":{"type":"invalid_request_error","message":"Your credit balance is too low to access the Anthropic API."}}"#;
        assert!(matches!(
            classify(400, anthropic_credit),
            CloudError::OutOfCredit { .. }
        ));
        let overloaded =
            r#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#;
        let error = classify(529, overloaded);
        assert!(error.retryable() && !error.maybe_billed(), "{error:?}");
        assert!(matches!(
            classify(503, "Service Unavailable"),
            CloudError::Server { .. }
        ));
    }

    #[test]
    fn provider_messages_lose_any_copy_of_the_key() {
        let key = ApiKey::new("sk-live-abcdefghijklmnop").unwrap();
        let body = r#"{"error":{"message":"Rate limit for key sk-live-abcdefghijklmnop","code":"rate_limit_exceeded"}}"#;
        let error = classify_status("OpenAI", 429, body, None, Some(&key));
        assert!(!error.to_string().contains(key.expose()), "{error}");
    }
}
