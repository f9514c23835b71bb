//! A server-sent events parser, fed bytes as they arrive.
//!
//! It follows the SSE rules that real provider streams exercise: lines end at
//! `\n`, `\r\n` or `\r` (possibly split across reads); lines starting with `:` are
//! comments (OpenRouter's keep-alives); `data:` lines accumulate until a blank
//! line dispatches them; one space after the colon is dropped. It never retries
//! or reconnects: a billable request is sent once.

/// One dispatched event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SseEvent {
    /// The `event:` field, when there was one.
    pub event: Option<String>,
    pub data: String,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("a line or an event of the stream is over {MAX_LINE_BYTES} bytes")]
pub struct LineTooLong;

/// The longest line accepted; far above any real chunk, it keeps a broken stream
/// from using unbounded memory.
const MAX_LINE_BYTES: usize = 4 << 20;

#[derive(Debug, Default)]
pub struct SseParser {
    /// Bytes of a line not yet ended.
    partial: Vec<u8>,
    /// How far into `partial` no line break was found, so it is not scanned again.
    scanned: usize,
    event: Option<String>,
    data: String,
    has_data: bool,
}

impl SseParser {
    /// Feeds bytes; returns the events they complete.
    pub fn push(&mut self, bytes: &[u8]) -> Result<Vec<SseEvent>, LineTooLong> {
        self.partial.extend_from_slice(bytes);
        let mut events = Vec::new();
        let mut start = 0;
        let mut index = self.scanned;
        while index < self.partial.len() {
            match self.partial[index] {
                b'\n' => {
                    self.line(start, index, &mut events);
                    index += 1;
                    start = index;
                }
                b'\r' => {
                    // A `\r` at the end of what has arrived may be half of `\r\n`.
                    if index + 1 == self.partial.len() {
                        break;
                    }
                    self.line(start, index, &mut events);
                    index += if self.partial[index + 1] == b'\n' {
                        2
                    } else {
                        1
                    };
                    start = index;
                }
                _ => index += 1,
            }
        }
        self.partial.drain(..start);
        self.scanned = index - start;
        if self.partial.len() > MAX_LINE_BYTES || self.data.len() > MAX_LINE_BYTES {
            return Err(LineTooLong);
        }
        Ok(events)
    }

    /// Ends the stream: a last event without its blank line is still dispatched,
    /// as some servers end their stream that way.
    pub fn finish(&mut self) -> Option<SseEvent> {
        if !self.partial.is_empty() {
            let end = self.partial.len();
            let mut events = Vec::new();
            let end = if self.partial[end - 1] == b'\r' {
                end - 1
            } else {
                end
            };
            self.line(0, end, &mut events);
            self.partial.clear();
            self.scanned = 0;
            if let Some(event) = events.pop() {
                return Some(event);
            }
        }
        self.dispatch()
    }

    fn line(&mut self, start: usize, end: usize, events: &mut Vec<SseEvent>) {
        let line = String::from_utf8_lossy(&self.partial[start..end]).into_owned();
        if line.is_empty() {
            events.extend(self.dispatch());
            return;
        }
        if line.starts_with(':') {
            return;
        }
        let (field, value) = match line.split_once(':') {
            Some((field, value)) => (field, value.strip_prefix(' ').unwrap_or(value)),
            None => (line.as_str(), ""),
        };
        match field {
            "event" => self.event = Some(value.to_owned()),
            "data" => {
                if self.has_data {
                    self.data.push('\n');
                }
                self.data.push_str(value);
                self.has_data = true;
            }
            // `id` and `retry` steer reconnection, which is never done here.
            _ => {}
        }
    }

    fn dispatch(&mut self) -> Option<SseEvent> {
        let event = self.event.take();
        if !self.has_data {
            return None;
        }
        self.has_data = false;
        Some(SseEvent {
            event,
            data: std::mem::take(&mut self.data),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_in_pieces(stream: &str, piece: usize) -> Vec<SseEvent> {
        let mut parser = SseParser::default();
        let mut events = Vec::new();
        for chunk in stream.as_bytes().chunks(piece) {
            events.extend(parser.push(chunk).unwrap());
        }
        events.extend(parser.finish());
        events
    }

    fn event(name: Option<&str>, data: &str) -> SseEvent {
        SseEvent {
            event: name.map(str::to_owned),
            data: data.to_owned(),
        }
    }

    #[test]
    fn events_come_out_the_same_however_the_bytes_are_split() {
        let stream = ": OPENROUTER PROCESSING\r\n\r\nevent: ping\r\ndata: {\"type\": \"ping\"}\r\n\r\n\
                      data: one\rdata:two\r\rdata: [DONE]\n\n";
        let expected = vec![
            event(Some("ping"), "{\"type\": \"ping\"}"),
            event(None, "one\ntwo"),
            event(None, "[DONE]"),
        ];
        for piece in 1..stream.len() {
            assert_eq!(
                parse_in_pieces(stream, piece),
                expected,
                "pieces of {piece}"
            );
        }
    }

    #[test]
    fn a_last_event_without_its_blank_line_is_kept() {
        let stream = "event: message_stop\ndata: {\"type\":\"message_stop\"}";
        assert_eq!(
            parse_in_pieces(stream, 7),
            vec![event(Some("message_stop"), "{\"type\":\"message_stop\"}")]
        );
        assert_eq!(parse_in_pieces("event: x\n\n", 3), vec![]);
    }

    #[test]
    fn a_runaway_line_or_event_is_an_error() {
        let mut parser = SseParser::default();
        let big = vec![b'a'; MAX_LINE_BYTES + 1];
        assert_eq!(parser.push(&big), Err(LineTooLong));
        let mut parser = SseParser::default();
        let line = format!("data: {}\n", "b".repeat(1 << 16));
        let result = (0..80).try_for_each(|_| parser.push(line.as_bytes()).map(drop));
        assert_eq!(
            result,
            Err(LineTooLong),
            "data lines with no blank line between"
        );
    }
}
