//! OpenAI Chat Completions, streamed; also what OpenAI-compatible services
//! (OpenRouter, Groq, Together, vLLM, llama-server) speak.
//!
//! Usage comes in one last chunk with empty `choices` when
//! `stream_options.include_usage` is set; on every other chunk it is absent or
//! `null`. `prompt_tokens` includes cached tokens (`prompt_tokens_details`), which
//! are split out here so prices apply per kind. Mid-stream errors arrive as a
//! `data:` object with an `error` field (or vLLM's `"object": "error"`).

use serde_json::{Value, json};

use super::{CloudChunk, CloudRequest, Endpoint, Failure, Parsed, ReportedUsage};
use crate::budget::Money;
use crate::budget::prices::Usage;
use crate::config::MaxTokensField;

pub fn body(endpoint: &Endpoint, request: &CloudRequest) -> Value {
    let limit_field = match endpoint.max_tokens_field {
        MaxTokensField::MaxCompletionTokens => "max_completion_tokens",
        MaxTokensField::MaxTokens => "max_tokens",
    };
    let mut body = json!({
        "model": endpoint.model,
        "messages": [
            { "role": "system", "content": request.prompt.system },
            { "role": "user", "content": request.prompt.user },
        ],
        "stream": true,
        "stream_options": { "include_usage": true },
    });
    body[limit_field] = json!(request.max_output_tokens);
    body
}

#[derive(Debug, Default)]
pub struct StreamState {
    /// A `finish_reason` has arrived: the text is complete.
    finished: bool,
    /// Final usage has arrived after the text was complete.
    pub usage_seen: bool,
}

impl StreamState {
    pub(super) fn parse(&mut self, event: &super::sse::SseEvent) -> Result<Parsed, Failure> {
        let data = event.data.trim();
        if data == "[DONE]" {
            return Ok(Parsed::End);
        }
        let value: Value = serde_json::from_str(data)
            .map_err(|error| Failure::Malformed(format!("a chunk is not JSON ({error})")))?;
        if let Some(message) = error_message(&value) {
            return Err(Failure::ErrorEvent(message));
        }
        let mut chunks = Vec::new();
        let choices = value["choices"].as_array().map_or(&[][..], Vec::as_slice);
        for choice in choices {
            if let Some(text) = choice["delta"]["content"]
                .as_str()
                .filter(|t| !t.is_empty())
            {
                chunks.push(CloudChunk::Text(text.to_owned()));
            }
            self.finished |= choice["finish_reason"].is_string();
        }
        if let Some(usage) = value.get("usage").filter(|usage| usage.is_object()) {
            // Some servers report usage so far on every chunk; only the report
            // after the text is complete, in a chunk of its own, is the final one,
            // and only when it has both counts.
            let counted = usage["prompt_tokens"].is_u64() && usage["completion_tokens"].is_u64();
            let complete = counted && choices.is_empty() && self.finished;
            self.usage_seen |= complete;
            chunks.push(CloudChunk::Usage(read_usage(usage, complete)));
        }
        Ok(Parsed::Chunks(chunks))
    }
}

fn error_message(value: &Value) -> Option<String> {
    match value.get("error") {
        Some(Value::Object(error)) => Some(
            error
                .get("message")
                .and_then(Value::as_str)
                .unwrap_or("unknown error")
                .to_owned(),
        ),
        Some(Value::String(message)) => Some(message.clone()),
        _ if value["object"] == "error" => Some(
            value["message"]
                .as_str()
                .unwrap_or("unknown error")
                .to_owned(),
        ),
        _ => None,
    }
}

fn read_usage(usage: &Value, complete: bool) -> ReportedUsage {
    let count = |value: &Value| value.as_u64().unwrap_or(0);
    let prompt = count(&usage["prompt_tokens"]);
    let details = &usage["prompt_tokens_details"];
    let cached = count(&details["cached_tokens"]).min(prompt);
    let written = count(&details["cache_write_tokens"]).min(prompt - cached);
    ReportedUsage {
        usage: Usage {
            input: prompt - cached - written,
            cached_input: cached,
            cache_write: written,
            // Reasoning tokens are part of completion_tokens, billed as output.
            output: count(&usage["completion_tokens"]),
        },
        cost: usage["cost"]
            .as_f64()
            .filter(|cost| cost.is_finite() && *cost >= 0.0)
            .map(Money::from_dollars),
        complete,
    }
}

#[cfg(test)]
mod tests {
    use super::super::sse::SseEvent;
    use super::*;

    fn parse(state: &mut StreamState, data: &str) -> Result<Parsed, Failure> {
        state.parse(&SseEvent {
            event: None,
            data: data.to_owned(),
        })
    }

    fn chunks(parsed: Result<Parsed, Failure>) -> Vec<CloudChunk> {
        match parsed {
            Ok(Parsed::Chunks(chunks)) => chunks,
            _ => panic!("expected chunks"),
        }
    }

    #[test]
    fn a_recorded_stream_yields_its_text_and_usage() {
        let mut state = StreamState::default();
        let first = r#"{"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"gpt-4o-2024-08-06","system_fingerprint":"fp_1","choices":[{"index":0,"delta":{"role":"assistant","content":"","refusal":null},"logprobs":null,"finish_reason":null}]}"#;
        assert_eq!(chunks(parse(&mut state, first)), vec![]);
        let text = r#"{"id":"chatcmpl-1","choices":[{"index":0,"delta":{"content":"I'm"},"finish_reason":null}],"usage":null,"obfuscation":"a1"}"#;
        assert_eq!(
            chunks(parse(&mut state, text)),
            vec![CloudChunk::Text("I'm".into())]
        );
        let stop = r#"{"id":"chatcmpl-1","choices":[{"index":0,"delta":{},"finish_reason":"stop"}],"usage":null}"#;
        assert_eq!(chunks(parse(&mut state, stop)), vec![]);
        assert!(!state.usage_seen);
        let usage = r#"{"id":"chatcmpl-1","choices":[],"usage":{"prompt_tokens":14,"completion_tokens":47,"total_tokens":61,"prompt_tokens_details":{"cached_tokens":4,"audio_tokens":0},"completion_tokens_details":{"reasoning_tokens":10}}}"#;
        assert_eq!(
            chunks(parse(&mut state, usage)),
            vec![CloudChunk::Usage(ReportedUsage {
                usage: Usage {
                    input: 10,
                    cached_input: 4,
                    cache_write: 0,
                    output: 47
                },
                cost: None,
                complete: true
            })]
        );
        assert!(state.usage_seen);
        assert!(matches!(parse(&mut state, "[DONE]"), Ok(Parsed::End)));
    }

    #[test]
    fn usage_before_the_end_or_without_its_counts_is_not_final() {
        let mut state = StreamState::default();
        let running = r#"{"choices":[{"index":0,"delta":{"content":"a"},"finish_reason":null}],"usage":{"prompt_tokens":10,"completion_tokens":1}}"#;
        let [_, CloudChunk::Usage(so_far)] = chunks(parse(&mut state, running))[..] else {
            panic!()
        };
        assert!(!so_far.complete && !state.usage_seen);
        let stop = r#"{"choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}"#;
        chunks(parse(&mut state, stop));
        let empty = r#"{"choices":[],"usage":{}}"#;
        let [CloudChunk::Usage(empty)] = chunks(parse(&mut state, empty))[..] else {
            panic!()
        };
        assert!(!empty.complete && !state.usage_seen);
        let last = r#"{"choices":[],"usage":{"prompt_tokens":10,"completion_tokens":2}}"#;
        let [CloudChunk::Usage(last)] = chunks(parse(&mut state, last))[..] else {
            panic!()
        };
        assert!(last.complete && state.usage_seen);
    }

    #[test]
    fn openrouter_usage_carries_its_cost_and_cache_writes() {
        let mut state = StreamState::default();
        chunks(parse(
            &mut state,
            r#"{"choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}"#,
        ));
        let usage = r#"{"object":"chat.completion.chunk","usage":{"completion_tokens":2,"completion_tokens_details":{"reasoning_tokens":0},"cost":0.95,"cost_details":{"upstream_inference_cost":19},"prompt_tokens":194,"prompt_tokens_details":{"cached_tokens":0,"cache_write_tokens":100,"audio_tokens":0},"total_tokens":196}}"#;
        let [CloudChunk::Usage(reported)] = chunks(parse(&mut state, usage))[..] else {
            panic!()
        };
        assert_eq!(reported.usage.input, 94);
        assert_eq!(reported.usage.cache_write, 100);
        assert_eq!(reported.cost, Some(Money::from_dollars(0.95)));
    }

    #[test]
    fn errors_inside_the_stream_and_broken_chunks_are_failures() {
        let mut state = StreamState::default();
        let error = r#"{"error":{"message":"The server had an error processing your request.","type":"server_error","param":null,"code":null}}"#;
        assert!(
            matches!(parse(&mut state, error), Err(Failure::ErrorEvent(m)) if m.contains("server had an error"))
        );
        let vllm = r#"{"object":"error","message":"out of memory","type":"InternalServerError","code":500}"#;
        assert!(matches!(
            parse(&mut state, vllm),
            Err(Failure::ErrorEvent(_))
        ));
        assert!(matches!(
            parse(&mut state, "{\"choices\": [{"),
            Err(Failure::Malformed(_))
        ));
    }

    #[test]
    fn the_request_names_the_right_limit_field() {
        let endpoint = Endpoint::from_config(
            "openai",
            &crate::config::Config::default().providers["openai"],
        )
        .unwrap();
        let request = CloudRequest {
            prompt: crate::engine::ChatPrompt {
                system: "s".into(),
                user: "u".into(),
            },
            max_output_tokens: 99,
        };
        let value = body(&endpoint, &request);
        assert_eq!(value["max_completion_tokens"], 99);
        assert!(value.get("max_tokens").is_none());
        assert_eq!(value["stream_options"]["include_usage"], true);
        let compatible = Endpoint {
            max_tokens_field: MaxTokensField::MaxTokens,
            ..endpoint
        };
        assert_eq!(body(&compatible, &request)["max_tokens"], 99);
    }
}
