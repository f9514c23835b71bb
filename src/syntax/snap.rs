//! What a selection obviously means: whole lines when it runs from the start of
//! a line's text to the end of another's, whole tokens when it cuts one, and a
//! whole definition when it covers that definition's lines.

use std::ops::Range;

use ropey::Rope;

use super::SyntaxTree;
use super::items::{Definition, definition_at, enclosing_definitions};

/// A selection after snapping.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Snapped {
    /// Chars to work on.
    pub chars: Range<usize>,
    /// The definition the selection stands for, when it covers one.
    pub definition: Option<Definition>,
}

/// The whole lines a definition stands on.
pub fn definition_lines(rope: &Rope, definition: &Definition) -> Range<usize> {
    whole_lines(rope, definition.chars.clone())
}

/// Snaps a non-empty selection; see the module documentation. A selection of
/// nothing but whitespace is returned as it is.
pub fn snap_selection(tree: Option<&SyntaxTree>, rope: &Rope, chars: Range<usize>) -> Snapped {
    let unchanged = Snapped {
        chars: chars.clone(),
        definition: None,
    };
    let end_limit = chars.end.min(rope.len_chars());
    let Some(start) = (chars.start..end_limit).find(|&i| !rope.char(i).is_whitespace()) else {
        return unchanged;
    };
    let end = (start..end_limit)
        .rev()
        .find(|&i| !rope.char(i).is_whitespace())
        .map_or(start, |last| last + 1);

    // Cut tokens are made whole first; then a selection that runs from the start
    // of a line's text, or to the end of one, takes the whole line.
    let start = token_start(tree, rope, start);
    let end = token_end(tree, rope, end);
    let first_line = rope.char_to_line(start);
    let last_line = rope.char_to_line(end - 1);
    let from_line_start = line_text_before(rope, start).is_empty();
    let to_line_end = line_text_after(rope, end).is_empty();
    let start = if from_line_start {
        rope.line_to_char(first_line)
    } else {
        start
    };
    let end = if to_line_end {
        line_after(rope, last_line)
    } else {
        end
    };

    let definition = tree
        .filter(|_| to_line_end)
        .and_then(|tree| covered_definition(tree, rope, first_line, last_line));
    match definition {
        Some(definition) => {
            let lines = definition_lines(rope, &definition);
            Snapped {
                chars: lines.start.min(start)..lines.end.max(end),
                definition: Some(definition),
            }
        }
        None => Snapped {
            chars: start..end,
            definition: None,
        },
    }
}

/// The innermost definition whose lines the selection's lines are: it ends on
/// the last selected line and starts on the first, or the first selected line is
/// in the comments right above it.
fn covered_definition(
    tree: &SyntaxTree,
    rope: &Rope,
    first_line: usize,
    last_line: usize,
) -> Option<Definition> {
    let at_start = definition_at(tree, rope, rope.line_to_char(first_line))?;
    let mut candidates = vec![at_start.clone()];
    candidates.extend(enclosing_definitions(tree, rope, at_start.chars.clone()));
    candidates.into_iter().find(|definition| {
        let head = rope.char_to_line(definition.comments_start);
        let start = rope.char_to_line(definition.chars.start);
        let end = rope.char_to_line(
            definition
                .chars
                .end
                .saturating_sub(1)
                .max(definition.chars.start),
        );
        head <= first_line && first_line <= start && end == last_line
    })
}

/// Whole lines around `chars`: from the start of its first line to the start of
/// the line after its last (or the end of the text).
fn whole_lines(rope: &Rope, chars: Range<usize>) -> Range<usize> {
    let first = rope.char_to_line(chars.start);
    let last = rope.char_to_line(chars.end.saturating_sub(1).max(chars.start));
    rope.line_to_char(first)..line_after(rope, last)
}

fn line_after(rope: &Rope, line: usize) -> usize {
    if line + 1 < rope.len_lines() {
        rope.line_to_char(line + 1)
    } else {
        rope.len_chars()
    }
}

/// The text on `char_idx`'s line before it, without whitespace.
fn line_text_before(rope: &Rope, char_idx: usize) -> String {
    let line_start = rope.line_to_char(rope.char_to_line(char_idx));
    rope.slice(line_start..char_idx)
        .to_string()
        .trim()
        .to_owned()
}

/// The text on the line after `char_idx` (exclusive end), without whitespace.
fn line_text_after(rope: &Rope, char_idx: usize) -> String {
    let mut text = String::new();
    for c in rope.slice(char_idx..).chars() {
        if c == '\n' || c == '\r' {
            break;
        }
        text.push(c);
    }
    text.trim().to_owned()
}

/// The start of the token that `char_idx` falls inside, or `char_idx`.
fn token_start(tree: Option<&SyntaxTree>, rope: &Rope, char_idx: usize) -> usize {
    match token_at(tree, rope, char_idx) {
        Some(token) if token.start < char_idx => token.start,
        _ => char_idx,
    }
}

/// The end of the token that the char before `char_idx` falls inside, or
/// `char_idx`.
fn token_end(tree: Option<&SyntaxTree>, rope: &Rope, char_idx: usize) -> usize {
    match char_idx
        .checked_sub(1)
        .and_then(|i| token_at(tree, rope, i))
    {
        Some(token) if token.end > char_idx => token.end,
        _ => char_idx,
    }
}

/// The leaf token holding a char: from the tree, or a word of letters, digits and
/// underscores when there is no tree.
fn token_at(tree: Option<&SyntaxTree>, rope: &Rope, char_idx: usize) -> Option<Range<usize>> {
    if char_idx >= rope.len_chars() {
        return None;
    }
    if let Some(tree) = tree {
        let byte = rope.char_to_byte(char_idx);
        let node = tree.root().descendant_for_byte_range(byte, byte + 1)?;
        // Only words and symbols are snapped to: a string or comment token spans
        // text the user may well mean to cut.
        if node.child_count() > 0 || node.end_byte() - node.start_byte() > 64 {
            return None;
        }
        if node.kind().contains("string") || node.kind().contains("comment") {
            return None;
        }
        return Some(rope.byte_to_char(node.start_byte())..rope.byte_to_char(node.end_byte()));
    }
    let is_word = |c: char| c.is_alphanumeric() || c == '_';
    if !is_word(rope.char(char_idx)) {
        return None;
    }
    let mut start = char_idx;
    while start > 0 && is_word(rope.char(start - 1)) {
        start -= 1;
    }
    let mut end = char_idx + 1;
    while end < rope.len_chars() && is_word(rope.char(end)) {
        end += 1;
    }
    Some(start..end)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::syntax::Grammar;

    fn snap(
        grammar: Option<Grammar>,
        text: &str,
        from: &str,
        to: &str,
    ) -> (String, Option<String>) {
        let rope = Rope::from_str(text);
        let tree = grammar.and_then(|grammar| SyntaxTree::parse(grammar, &rope));
        let start = rope.byte_to_char(text.find(from).unwrap());
        let to_byte = text.find(to).unwrap() + to.len();
        let snapped = snap_selection(tree.as_ref(), &rope, start..rope.byte_to_char(to_byte));
        (
            rope.slice(snapped.chars).to_string(),
            snapped.definition.map(|d| d.subject()),
        )
    }

    const RUST: &str = "/// Doc.\nfn one() {\n    let alpha = 1;\n    beta(alpha);\n}\n";

    #[test]
    fn a_definitions_lines_snap_to_the_definition() {
        let (text, definition) = snap(Some(Grammar::Rust), RUST, "fn one", "}");
        assert_eq!(
            text,
            "fn one() {\n    let alpha = 1;\n    beta(alpha);\n}\n"
        );
        assert_eq!(definition.as_deref(), Some("function `one`"));
        // From inside the signature to the closing brace: the same.
        let (text, _) = snap(Some(Grammar::Rust), RUST, "one()", "}");
        assert!(text.starts_with("fn one"), "{text:?}");
        // The doc comment, when selected, stays in.
        let (text, definition) = snap(Some(Grammar::Rust), RUST, "/// Doc", "}");
        assert!(text.starts_with("/// Doc.\nfn one"), "{text:?}");
        assert_eq!(definition.as_deref(), Some("function `one`"));
    }

    #[test]
    fn lines_and_tokens() {
        let (text, definition) = snap(Some(Grammar::Rust), RUST, "let", "1;");
        assert_eq!(text, "    let alpha = 1;\n");
        assert_eq!(definition, None);
        let (text, _) = snap(Some(Grammar::Rust), RUST, "pha = 1", "bet");
        assert_eq!(text, "alpha = 1;\n    beta");
        let (text, _) = snap(None, "some words here\nand more\n", "ords", "her");
        assert_eq!(text, "words here\n");
    }
}
