//! Anthropic Messages, streamed as named events.
//!
//! `message_start` may carry preliminary usage (input and cache counts, or none
//! at all); every `message_delta` carries the usage so far, cumulatively, so each
//! one replaces what came before (never add them). Only once a `message_delta`
//! with usage has arrived are the figures final. `input_tokens` excludes cache
//! reads and writes, which come as their own fields. Unknown events are ignored,
//! as Anthropic's versioning policy asks; `error` events end the stream.

use serde_json::{Value, json};

use super::{CloudChunk, CloudRequest, Endpoint, Failure, Parsed, ReportedUsage};
use crate::budget::prices::Usage;

pub fn body(endpoint: &Endpoint, request: &CloudRequest) -> Value {
    json!({
        "model": endpoint.model,
        "system": request.prompt.system,
        "messages": [{ "role": "user", "content": request.prompt.user }],
        "max_tokens": request.max_output_tokens,
        "stream": true,
    })
}

#[derive(Debug, Default)]
pub struct StreamState {
    usage: Usage,
    /// Some event carried `input_tokens`; without it the figures are incomplete.
    input_seen: bool,
    pub final_usage_seen: bool,
}

impl StreamState {
    pub(super) fn parse(&mut self, event: &super::sse::SseEvent) -> Result<Parsed, Failure> {
        let value: Value = serde_json::from_str(&event.data)
            .map_err(|error| Failure::Malformed(format!("an event is not JSON ({error})")))?;
        let kind = value["type"]
            .as_str()
            .or(event.event.as_deref())
            .unwrap_or_default();
        let chunks = match kind {
            "message_start" => {
                self.update_usage(&value["message"]["usage"]);
                vec![CloudChunk::Usage(self.reported(false))]
            }
            "content_block_delta" => match value["delta"]["text"].as_str() {
                Some(text) if value["delta"]["type"] == "text_delta" && !text.is_empty() => {
                    vec![CloudChunk::Text(text.to_owned())]
                }
                _ => vec![],
            },
            "message_delta" => {
                let usage = &value["usage"];
                // Only the delta that carries the stop reason has the final
                // figures; earlier ones are counts so far.
                let last = value["delta"]["stop_reason"].is_string();
                if usage.is_object() && !usage["output_tokens"].is_null() {
                    self.update_usage(usage);
                    let complete = last && self.input_seen;
                    self.final_usage_seen |= complete;
                    vec![CloudChunk::Usage(self.reported(complete))]
                } else {
                    vec![]
                }
            }
            "message_stop" => return Ok(Parsed::End),
            "error" => {
                let message = value["error"]["message"]
                    .as_str()
                    .unwrap_or("unknown error")
                    .to_owned();
                return Err(Failure::ErrorEvent(message));
            }
            // ping, content_block_start, content_block_stop and anything new.
            _ => vec![],
        };
        Ok(Parsed::Chunks(chunks))
    }

    /// Replaces each count the event carries; keeps the others.
    fn update_usage(&mut self, usage: &Value) {
        self.input_seen |= usage["input_tokens"].is_u64();
        let set = |field: &str, slot: &mut u64| {
            if let Some(n) = usage[field].as_u64() {
                *slot = n;
            }
        };
        set("input_tokens", &mut self.usage.input);
        set("cache_read_input_tokens", &mut self.usage.cached_input);
        set("cache_creation_input_tokens", &mut self.usage.cache_write);
        set("output_tokens", &mut self.usage.output);
    }

    fn reported(&self, complete: bool) -> ReportedUsage {
        ReportedUsage {
            usage: self.usage,
            cost: None,
            complete,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::sse::SseParser;
    use super::*;

    /// Runs a whole recorded stream; returns the text, the last usage and whether
    /// it ended properly.
    fn run(stream: &str) -> (String, Option<Usage>, bool, Option<String>) {
        let mut parser = SseParser::default();
        let mut events = parser.push(stream.as_bytes()).unwrap();
        events.extend(parser.finish());
        let mut state = StreamState::default();
        let (mut text, mut usage, mut ended) = (String::new(), None, false);
        for event in events {
            match state.parse(&event) {
                Ok(Parsed::Chunks(chunks)) => {
                    for chunk in chunks {
                        match chunk {
                            CloudChunk::Text(piece) => text.push_str(&piece),
                            CloudChunk::Usage(reported) => usage = Some(reported.usage),
                        }
                    }
                }
                Ok(Parsed::End) => ended = true,
                Err(Failure::ErrorEvent(message)) | Err(Failure::Malformed(message)) => {
                    return (text, usage, ended, Some(message));
                }
            }
        }
        (text, usage, ended, None)
    }

    const BASIC: &str = r#"event: message_start
data: {"type":"message_start","message":{"id":"msg_1","type":"message","role":"assistant","content":[],"model":"claude-3-opus-20240229","stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":11,"output_tokens":1}}}

event: content_block_start
data: {"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}

event: ping
data: {"type": "ping"}

event: content_block_delta
data: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hello"}}

event: content_block_delta
data: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":" there!"}}

event: content_block_stop
data: {"type":"content_block_stop","index":0}

event: message_delta
data: {"type":"message_delta","delta":{"stop_reason":"end_turn","stop_sequence":null},"usage":{"output_tokens":6}}

event: message_stop
data: {"type":"message_stop"}"#;

    #[test]
    fn a_recorded_stream_yields_its_text_and_final_usage() {
        let (text, usage, ended, error) = run(BASIC);
        assert_eq!(text, "Hello there!");
        assert!(ended && error.is_none());
        assert_eq!(
            usage,
            Some(Usage {
                input: 11,
                output: 6,
                ..Usage::default()
            })
        );
    }

    #[test]
    fn usage_may_come_only_at_the_end_and_is_cumulative() {
        let stream = r#"event: message_start
data: {"type":"message_start","message":{"id":"msg_2","type":"message","role":"assistant","content":[],"model":"claude-sonnet-4-5","stop_reason":null}}

event: message_delta
data: {"type":"message_delta","delta":{"stop_reason":null},"usage":{"output_tokens":3}}

event: message_delta
data: {"type":"message_delta","delta":{"stop_reason":"end_turn"},"usage":{"input_tokens":11,"output_tokens":7,"cache_creation_input_tokens":3,"cache_read_input_tokens":5,"output_tokens_details":{"thinking_tokens":2},"server_tool_use":{"web_search_requests":1}}}

event: message_stop
data: {"type":"message_stop"}
"#;
        let (_, usage, ended, _) = run(stream);
        assert!(ended);
        assert_eq!(
            usage,
            Some(Usage {
                input: 11,
                cached_input: 5,
                cache_write: 3,
                output: 7
            }),
            "replaced, not added"
        );
    }

    #[test]
    fn usage_without_input_tokens_is_not_final() {
        let stream = r#"event: message_start
data: {"type":"message_start","message":{"id":"msg_3","type":"message","role":"assistant","content":[]}}

event: message_delta
data: {"type":"message_delta","delta":{"stop_reason":"end_turn"},"usage":{"output_tokens":5}}

event: message_stop
data: {"type":"message_stop"}
"#;
        let mut parser = SseParser::default();
        let events = parser.push(stream.as_bytes()).unwrap();
        let mut state = StreamState::default();
        let mut last = None;
        for event in events {
            if let Ok(Parsed::Chunks(chunks)) = state.parse(&event) {
                last = chunks.into_iter().last().or(last);
            }
        }
        let Some(CloudChunk::Usage(reported)) = last else {
            panic!("no usage")
        };
        assert_eq!(reported.usage.output, 5);
        assert!(!reported.complete, "no input count: the reservation stands");
        assert!(!state.final_usage_seen);
    }

    #[test]
    fn an_error_event_after_the_start_is_a_failure() {
        let stream = "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"usage\":{\"input_tokens\":5,\"output_tokens\":1}}}\n\n\
                      event: error\ndata: {\"type\": \"error\", \"error\": {\"type\": \"overloaded_error\", \"message\": \"Overloaded\"}}\n\n";
        let (_, _, ended, error) = run(stream);
        assert!(!ended);
        assert_eq!(error.as_deref(), Some("Overloaded"));
    }
}
