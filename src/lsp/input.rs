//! The server's input, checked before tower-lsp-server reads it.
//!
//! tower-lsp-server stops reading, and so ends the server, at the first message it
//! cannot decode: a body that is not JSON, a `jsonrpc` other than "2.0", an id
//! that is neither an integer nor a string, a batch, a header it cannot read. A
//! client's one bad message must not end the session and every task with it, so
//! stdin goes through [`forward`] first. It frames messages itself and passes on
//! only what the server can decode:
//!
//! - a well-formed message goes on unchanged;
//! - a malformed request whose id can still be read becomes a call of
//!   [`INVALID_MESSAGE`], which the server answers with an Invalid Request error
//!   for that id, so the client is not left waiting;
//! - a request for an unknown `$/` method becomes a call of [`UNKNOWN_METHOD`],
//!   answered with Method Not Found, as LSP asks (tower-lsp-server would answer
//!   nothing);
//! - anything else (no JSON, no id) is dropped with a warning; a header that
//!   cannot be read is skipped up to the next `Content-Length`.
//!
//! No message content reaches the log.

use serde_json::{Value, json};
use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// The method a malformed request with a readable id is turned into.
pub const INVALID_MESSAGE: &str = "aumatron/internal/invalidMessage";
/// The method an unknown `$/` request is turned into.
pub const UNKNOWN_METHOD: &str = "aumatron/internal/unknownMethod";

/// The largest body read; a longer one is skipped (a client sending 64 MiB in one
/// message has gone wrong, and buffering it would only cost memory).
const MAX_BODY_BYTES: usize = 64 << 20;

/// `$/` notifications and requests that the server handles itself.
const KNOWN_DOLLAR_METHODS: [&str; 4] =
    ["$/cancelRequest", "$/progress", "$/setTrace", "$/logTrace"];

/// Copies framed messages from `input` to `output` until `input` ends, passing on
/// only what tower-lsp-server can decode (see the module docs).
pub async fn forward(
    mut input: impl AsyncBufRead + Unpin,
    mut output: impl AsyncWrite + Unpin,
) -> std::io::Result<()> {
    while let Some(body) = read_frame(&mut input).await? {
        let Some(message) = check(&body) else {
            continue;
        };
        let body = match &message {
            Checked::Pass => body,
            Checked::Replace(value) => serde_json::to_vec(value).unwrap_or_default(),
        };
        output
            .write_all(format!("Content-Length: {}\r\n\r\n", body.len()).as_bytes())
            .await?;
        output.write_all(&body).await?;
        output.flush().await?;
    }
    output.shutdown().await
}

/// Reads one message body; `None` at the end of the input. Headers other than
/// `Content-Length` are ignored; a block of headers without a readable length
/// is skipped with a warning.
async fn read_frame(input: &mut (impl AsyncBufRead + Unpin)) -> std::io::Result<Option<Vec<u8>>> {
    let mut length: Option<usize> = None;
    let mut line = Vec::new();
    loop {
        line.clear();
        if input.read_until(b'\n', &mut line).await? == 0 {
            return Ok(None);
        }
        let text = String::from_utf8_lossy(&line);
        let mut text = text.trim_end_matches(['\r', '\n']);
        // After a header that could not be read, a body may run into the next
        // message's header on the same line: pick the header up there.
        if let Some(at) = text.to_ascii_lowercase().find("content-length:")
            && at > 0
        {
            tracing::warn!("bytes before a header were skipped");
            text = &text[at..];
        }
        if text.is_empty() {
            match length.take() {
                Some(length) if length <= MAX_BODY_BYTES => {
                    let mut body = vec![0; length];
                    input.read_exact(&mut body).await?;
                    return Ok(Some(body));
                }
                Some(length) => {
                    tracing::warn!(length, "a message too long to read was skipped");
                    let skipped = tokio::io::copy(
                        &mut (&mut *input).take(length as u64),
                        &mut tokio::io::sink(),
                    )
                    .await?;
                    if skipped < length as u64 {
                        return Ok(None);
                    }
                }
                None => tracing::warn!("a message without a readable Content-Length was skipped"),
            }
            continue;
        }
        match text.split_once(':') {
            Some((name, value)) if name.trim().eq_ignore_ascii_case("content-length") => {
                length = value.trim().parse().ok();
                if length.is_none() {
                    tracing::warn!("unreadable Content-Length header");
                }
            }
            Some((name, _)) if name.trim().eq_ignore_ascii_case("content-type") => {}
            _ => tracing::warn!("a line that is not a header was skipped"),
        }
    }
}

#[derive(Debug, PartialEq)]
enum Checked {
    /// Well formed: passed on as it is.
    Pass,
    /// Passed on as this message instead.
    Replace(Value),
}

/// What to pass on for one body; `None` to drop it.
fn check(body: &[u8]) -> Option<Checked> {
    let Ok(message) = serde_json::from_slice::<Value>(body) else {
        tracing::warn!(bytes = body.len(), "a message that is not JSON was dropped");
        return None;
    };
    let Some(object) = message.as_object() else {
        tracing::warn!("a message that is not a JSON object (a batch?) was dropped");
        return None;
    };
    let id = object.get("id");
    let id_is_valid = match id {
        None | Some(Value::Null) | Some(Value::String(_)) => true,
        Some(Value::Number(number)) => number.is_i64(),
        Some(_) => false,
    };
    let answerable = id.filter(|id| id_is_valid && !id.is_null());
    let invalid = |reason: &str| match answerable {
        Some(id) => {
            tracing::warn!(reason, "an invalid request was answered with an error");
            Some(Checked::Replace(json!({
                "jsonrpc": "2.0",
                "id": id,
                "method": INVALID_MESSAGE,
                "params": { "reason": reason },
            })))
        }
        None => {
            tracing::warn!(reason, "an invalid message was dropped");
            None
        }
    };
    if object.get("jsonrpc") != Some(&json!("2.0")) {
        return invalid("\"jsonrpc\" must be \"2.0\"");
    }
    if !id_is_valid {
        return invalid("\"id\" must be an integer or a string");
    }
    match object.get("method") {
        Some(Value::String(method)) => {
            if let Some(id) = answerable
                && method.starts_with("$/")
                && !KNOWN_DOLLAR_METHODS.contains(&method.as_str())
            {
                return Some(Checked::Replace(json!({
                    "jsonrpc": "2.0",
                    "id": id,
                    "method": UNKNOWN_METHOD,
                    "params": { "method": method },
                })));
            }
            match object.get("params") {
                None | Some(Value::Object(_)) | Some(Value::Array(_)) | Some(Value::Null) => {
                    Some(Checked::Pass)
                }
                Some(_) => invalid("\"params\" must be an object or an array"),
            }
        }
        Some(_) => invalid("\"method\" must be a string"),
        None if answerable.is_some()
            && (object.contains_key("result") || object.contains_key("error")) =>
        {
            Some(Checked::Pass)
        }
        None => invalid("a message needs a \"method\", or an \"id\" and a \"result\" or \"error\""),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn replaced_method(checked: Option<Checked>) -> Option<(Value, String)> {
        match checked {
            Some(Checked::Replace(value)) => Some((
                value["id"].clone(),
                value["method"].as_str().unwrap().to_owned(),
            )),
            _ => None,
        }
    }

    #[test]
    fn well_formed_messages_pass() {
        for body in [
            r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{}}"#,
            r#"{"jsonrpc":"2.0","id":"a","method":"shutdown"}"#,
            r#"{"jsonrpc":"2.0","method":"$/cancelRequest","params":{"id":1}}"#,
            r#"{"jsonrpc":"2.0","method":"$/anything","params":{}}"#,
            r#"{"jsonrpc":"2.0","id":3,"result":null}"#,
            r#"{"jsonrpc":"2.0","id":4,"error":{"code":-1,"message":"no"}}"#,
        ] {
            assert_eq!(check(body.as_bytes()), Some(Checked::Pass), "{body}");
        }
    }

    #[test]
    fn bad_requests_with_an_id_get_an_answer_and_the_rest_is_dropped() {
        for (body, id) in [
            (r#"{"id":7,"method":"initialize"}"#, json!(7)),
            (r#"{"jsonrpc":"1.0","id":"x","method":"a"}"#, json!("x")),
            (r#"{"jsonrpc":"2.0","id":8,"method":3}"#, json!(8)),
            (
                r#"{"jsonrpc":"2.0","id":9,"method":"a","params":5}"#,
                json!(9),
            ),
            (r#"{"jsonrpc":"2.0","id":10}"#, json!(10)),
        ] {
            assert_eq!(
                replaced_method(check(body.as_bytes())),
                Some((id, INVALID_MESSAGE.to_owned())),
                "{body}"
            );
        }
        for body in [
            &b"{\"jsonrpc\":\"2.0\",\"id\":100,\"method\":"[..],
            b"[]",
            b"[{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"shutdown\"}]",
            b"{\"jsonrpc\":\"2.0\",\"id\":1.5,\"method\":\"a\"}",
            b"{\"jsonrpc\":\"2.0\",\"method\":\"a\",\"params\":\"\xff\xfe\"}",
            b"{\"jsonrpc\":\"1.0\",\"method\":\"a\"}",
        ] {
            assert_eq!(check(body), None, "{}", String::from_utf8_lossy(body));
        }
    }

    #[test]
    fn unknown_dollar_requests_are_answered() {
        let body = br#"{"jsonrpc":"2.0","id":2,"method":"$/foo"}"#;
        assert_eq!(
            replaced_method(check(body)),
            Some((json!(2), UNKNOWN_METHOD.to_owned()))
        );
    }

    #[tokio::test]
    async fn framing_skips_what_it_cannot_read_and_goes_on() {
        let good = r#"{"jsonrpc":"2.0","id":1,"method":"shutdown"}"#;
        let input = format!(
            "junk before a header\r\n\
             Content-Length: abc\r\n\r\n{{\"lost\":1}}\
             Content-Length: 3\r\nContent-Type: application/vscode-jsonrpc; charset=latin1\r\n\r\n[1]\
             Content-Length: {}\r\n\r\n{good}",
            good.len()
        );
        let mut output = Vec::new();
        forward(tokio::io::BufReader::new(input.as_bytes()), &mut output)
            .await
            .unwrap();
        assert_eq!(
            String::from_utf8(output).unwrap(),
            format!("Content-Length: {}\r\n\r\n{good}", good.len())
        );
    }
}
