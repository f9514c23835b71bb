//! Text documents and the positions inside them, independent of any protocol.
//!
//! Positions are `(line, character)` pairs whose `character` counts code units of a
//! [`PositionEncoding`]. Only `\n`, `\r\n` and `\r` end a line: ropey is built without
//! its Unicode line breaks, so U+2028, NEL and form feed are ordinary text here, as
//! they are for every LSP client.

mod document;
pub mod position;

pub use document::{Changed, Document, DocumentChange, DocumentStore};
pub use position::{PositionEncoding, PositionError, TextPosition, TextRange};

/// The line ending a document mostly uses, so inserted text can match it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LineEnding {
    Lf,
    CrLf,
    Cr,
}

impl LineEnding {
    pub fn as_str(self) -> &'static str {
        match self {
            LineEnding::Lf => "\n",
            LineEnding::CrLf => "\r\n",
            LineEnding::Cr => "\r",
        }
    }

    /// The ending of the first line break in `rope`, or `\n` for a one-line text.
    pub fn detect(rope: &ropey::Rope) -> LineEnding {
        let mut chars = rope.chars();
        while let Some(c) = chars.next() {
            match c {
                '\n' => return LineEnding::Lf,
                '\r' => {
                    return if chars.next() == Some('\n') {
                        LineEnding::CrLf
                    } else {
                        LineEnding::Cr
                    };
                }
                _ => {}
            }
        }
        LineEnding::Lf
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detects_each_line_ending() {
        assert_eq!(LineEnding::detect(&"a\nb".into()), LineEnding::Lf);
        assert_eq!(LineEnding::detect(&"a\r\nb".into()), LineEnding::CrLf);
        assert_eq!(LineEnding::detect(&"a\rb".into()), LineEnding::Cr);
        assert_eq!(LineEnding::detect(&"a\r".into()), LineEnding::Cr);
        assert_eq!(LineEnding::detect(&"one line".into()), LineEnding::Lf);
    }
}
