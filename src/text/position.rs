//! Conversion between `(line, character)` positions and char indices in a rope.
//!
//! The rules, which the tests pin down:
//! - `character` past the end of a line means the end of that line (the LSP rule).
//! - `line` equal to the line count with `character` 0 means the end of the document,
//!   which is how some clients spell "select everything".
//! - Any other line past the end, or a `character` that falls inside one character
//!   (between the halves of a UTF-16 surrogate pair, or inside a UTF-8 sequence), is
//!   an error under [`Resolve::Strict`] and is clamped under [`Resolve::Clamp`]: to the
//!   end of the document, or back to the start of that character.

use std::fmt;
use std::ops::Range;

use ropey::{Rope, RopeSlice};

/// The unit a position's `character` counts.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum PositionEncoding {
    Utf8,
    #[default]
    Utf16,
    Utf32,
}

impl PositionEncoding {
    fn units(self, c: char) -> usize {
        match self {
            PositionEncoding::Utf8 => c.len_utf8(),
            PositionEncoding::Utf16 => c.len_utf16(),
            PositionEncoding::Utf32 => 1,
        }
    }
}

/// A zero-based line and a column in code units of some [`PositionEncoding`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct TextPosition {
    pub line: u32,
    pub character: u32,
}

impl TextPosition {
    pub const fn new(line: u32, character: u32) -> Self {
        Self { line, character }
    }
}

impl fmt::Display for TextPosition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.line, self.character)
    }
}

/// A half-open range of positions.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TextRange {
    pub start: TextPosition,
    pub end: TextPosition,
}

impl TextRange {
    pub const fn new(start: TextPosition, end: TextPosition) -> Self {
        Self { start, end }
    }

    pub fn is_empty(&self) -> bool {
        self.start == self.end
    }
}

/// What to do with a position that does not name a place in the text.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Resolve {
    /// Report it: used for ranges in requests, where the user deserves an error.
    Strict,
    /// Move it to the nearest valid place: used for edits, where the client's text
    /// is the truth and refusing the change would leave the two copies apart.
    Clamp,
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PositionError {
    #[error("line {line} is past the end of the document, which has {line_count} lines")]
    LinePastEnd { line: u32, line_count: usize },
    #[error("position {position} falls inside a character")]
    InsideCharacter { position: TextPosition },
    #[error("range start {start} comes after its end {end}")]
    Reversed {
        start: TextPosition,
        end: TextPosition,
    },
}

/// The char index of `position` in `rope`.
pub fn char_index(
    rope: &Rope,
    position: TextPosition,
    encoding: PositionEncoding,
    resolve: Resolve,
) -> Result<usize, PositionError> {
    let line = position.line as usize;
    let line_count = rope.len_lines();
    if line >= line_count {
        let end_of_document = line == line_count && position.character == 0;
        return match resolve {
            _ if end_of_document => Ok(rope.len_chars()),
            Resolve::Clamp => Ok(rope.len_chars()),
            Resolve::Strict => Err(PositionError::LinePastEnd {
                line: position.line,
                line_count,
            }),
        };
    }

    let start = rope.line_to_char(line);
    let content = line_content(rope, line);
    let wanted = position.character as usize;
    if content.len_bytes() == content.len_chars() {
        return Ok(start + wanted.min(content.len_chars()));
    }

    let mut units = 0;
    for (offset, c) in content.chars().enumerate() {
        if units == wanted {
            return Ok(start + offset);
        }
        units += encoding.units(c);
        if units > wanted {
            return match resolve {
                Resolve::Clamp => Ok(start + offset),
                Resolve::Strict => Err(PositionError::InsideCharacter { position }),
            };
        }
    }
    Ok(start + content.len_chars())
}

/// The chars a range covers.
pub fn char_range(
    rope: &Rope,
    range: TextRange,
    encoding: PositionEncoding,
    resolve: Resolve,
) -> Result<Range<usize>, PositionError> {
    let start = char_index(rope, range.start, encoding, resolve)?;
    let end = char_index(rope, range.end, encoding, resolve)?;
    if start <= end {
        Ok(start..end)
    } else if resolve == Resolve::Clamp {
        Ok(end..start)
    } else {
        Err(PositionError::Reversed {
            start: range.start,
            end: range.end,
        })
    }
}

/// The position of a char index; `char_idx` is clamped to the end of the text.
pub fn position_of(rope: &Rope, char_idx: usize, encoding: PositionEncoding) -> TextPosition {
    let char_idx = char_idx.min(rope.len_chars());
    let line = rope.char_to_line(char_idx);
    let before = rope.slice(rope.line_to_char(line)..char_idx);
    let character = if before.len_bytes() == before.len_chars() {
        before.len_chars()
    } else {
        before.chars().map(|c| encoding.units(c)).sum()
    };
    TextPosition::new(to_u32(line), to_u32(character))
}

/// A line without its line break.
fn line_content(rope: &Rope, line: usize) -> RopeSlice<'_> {
    let slice = rope.line(line);
    let len = slice.len_chars();
    let break_len = match (
        len.checked_sub(2).map(|i| slice.char(i)),
        len.checked_sub(1).map(|i| slice.char(i)),
    ) {
        (Some('\r'), Some('\n')) => 2,
        (_, Some('\n' | '\r')) => 1,
        _ => 0,
    };
    slice.slice(..len - break_len)
}

fn to_u32(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use PositionEncoding::{Utf8, Utf16, Utf32};

    fn index(text: &str, line: u32, character: u32, encoding: PositionEncoding) -> usize {
        char_index(
            &Rope::from_str(text),
            TextPosition::new(line, character),
            encoding,
            Resolve::Strict,
        )
        .unwrap()
    }

    #[test]
    fn ascii_positions_are_columns_in_every_encoding() {
        for encoding in [Utf8, Utf16, Utf32] {
            assert_eq!(index("abc\ndef", 1, 2, encoding), 6);
        }
    }

    #[test]
    fn emoji_counts_two_utf16_units_and_four_utf8_bytes() {
        // "a😀b": the emoji is one char, two UTF-16 units, four UTF-8 bytes.
        let text = "a😀b";
        assert_eq!(index(text, 0, 3, Utf16), 2);
        assert_eq!(index(text, 0, 5, Utf8), 2);
        assert_eq!(index(text, 0, 2, Utf32), 2);
        let rope = Rope::from_str(text);
        assert_eq!(position_of(&rope, 2, Utf16), TextPosition::new(0, 3));
        assert_eq!(position_of(&rope, 2, Utf8), TextPosition::new(0, 5));
        assert_eq!(position_of(&rope, 2, Utf32), TextPosition::new(0, 2));
    }

    #[test]
    fn cjk_is_one_utf16_unit_and_three_utf8_bytes() {
        let text = "日本語x";
        assert_eq!(index(text, 0, 3, Utf16), 3);
        assert_eq!(index(text, 0, 9, Utf8), 3);
        assert_eq!(index(text, 0, 3, Utf32), 3);
    }

    #[test]
    fn inside_a_surrogate_pair_is_an_error_or_snaps_back() {
        let rope = Rope::from_str("a😀b");
        let inside = TextPosition::new(0, 2);
        assert_eq!(
            char_index(&rope, inside, Utf16, Resolve::Strict),
            Err(PositionError::InsideCharacter { position: inside })
        );
        assert_eq!(char_index(&rope, inside, Utf16, Resolve::Clamp), Ok(1));
        let inside_utf8 = TextPosition::new(0, 3);
        assert!(char_index(&rope, inside_utf8, Utf8, Resolve::Strict).is_err());
    }

    #[test]
    fn character_past_the_line_end_clamps_to_the_line_end() {
        // Clamping stops before the line break, for each kind of break.
        for text in ["ab\ncd", "ab\r\ncd", "ab\rcd"] {
            assert_eq!(index(text, 0, 99, Utf16), 2, "{text:?}");
        }
        assert_eq!(index("ab\ncd", 1, 99, Utf16), 5);
    }

    #[test]
    fn crlf_and_lone_cr_each_end_one_line() {
        let text = "a\r\nb\rc\nd";
        assert_eq!(index(text, 1, 0, Utf16), 3);
        assert_eq!(index(text, 2, 0, Utf16), 5);
        assert_eq!(index(text, 3, 0, Utf16), 7);
        let rope = Rope::from_str(text);
        assert_eq!(rope.len_lines(), 4);
        assert_eq!(position_of(&rope, 7, Utf16), TextPosition::new(3, 0));
    }

    #[test]
    fn unicode_separators_are_ordinary_text() {
        // U+2028, U+2029, NEL and form feed do not end lines for LSP clients.
        let text = "a\u{2028}b\u{2029}c\u{85}d\u{c}e\nf";
        let rope = Rope::from_str(text);
        assert_eq!(rope.len_lines(), 2);
        assert_eq!(index(text, 0, 2, Utf16), 2);
        assert_eq!(index(text, 1, 0, Utf16), 10);
    }

    #[test]
    fn line_past_the_end_is_an_error_or_the_end_of_the_document() {
        let rope = Rope::from_str("one\ntwo");
        let past = TextPosition::new(5, 0);
        assert_eq!(
            char_index(&rope, past, Utf16, Resolve::Strict),
            Err(PositionError::LinePastEnd {
                line: 5,
                line_count: 2
            })
        );
        assert_eq!(char_index(&rope, past, Utf16, Resolve::Clamp), Ok(7));
        // One past the last line at column 0 is the end of the document.
        let end = TextPosition::new(2, 0);
        assert_eq!(char_index(&rope, end, Utf16, Resolve::Strict), Ok(7));
    }

    #[test]
    fn reversed_ranges_are_errors_when_strict() {
        let rope = Rope::from_str("hello");
        let range = TextRange::new(TextPosition::new(0, 4), TextPosition::new(0, 1));
        assert!(char_range(&rope, range, Utf16, Resolve::Strict).is_err());
        assert_eq!(char_range(&rope, range, Utf16, Resolve::Clamp), Ok(1..4));
    }

    #[test]
    fn position_of_the_end_of_a_document_with_a_trailing_newline() {
        let rope = Rope::from_str("a\n");
        assert_eq!(position_of(&rope, 2, Utf16), TextPosition::new(1, 0));
        assert_eq!(position_of(&rope, 99, Utf16), TextPosition::new(1, 0));
    }

    proptest::proptest! {
        #[test]
        fn position_round_trips_through_char_index(
            text in "(a|é|日|😀|\r\n|\n|\r|\u{2028}){0,40}",
            pick in 0usize..64,
        ) {
            let rope = Rope::from_str(&text);
            let idx = pick % (rope.len_chars() + 1);
            // A char index between \r and \n has no position of its own.
            let inside_crlf = idx > 0 && idx < rope.len_chars()
                && rope.char(idx - 1) == '\r' && rope.char(idx) == '\n';
            proptest::prop_assume!(!inside_crlf);
            for encoding in [Utf8, Utf16, Utf32] {
                let position = position_of(&rope, idx, encoding);
                let back = char_index(&rope, position, encoding, Resolve::Strict).unwrap();
                proptest::prop_assert_eq!(back, idx);
            }
        }
    }
}
