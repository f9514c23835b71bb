//! Where an answer goes in the document, and in what shape: summarise and explain
//! become a comment block above the selection, a draft goes after it.
//!
//! Everything here works on char indices in a rope, computed against the document
//! as it is when the edit is applied, never as it was when the task started.

use std::ops::Range;

use ropey::Rope;

use super::TaskKind;
use super::language::{CommentSyntax, Language};
use crate::text::LineEnding;

/// Comment lines are wrapped to fit this many columns, indentation included.
const WRAP_COLUMNS: usize = 88;

/// The selection a task was started on: where it was and what it said.
#[derive(Clone, Debug)]
pub struct Anchor {
    pub chars: Range<usize>,
    pub text: String,
    pub version: i32,
}

/// Text to insert at one char index.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Insertion {
    pub at: usize,
    pub text: String,
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("the selected text was changed while the answer was being written")]
pub struct AnchorLost;

/// Finds the selection in the document as it is now. Unchanged text stays where it
/// was; moved text is found again (the copy nearest its old place); text that is no
/// longer there is lost, and the caller must not guess.
pub fn reanchor(current: &Rope, version: i32, anchor: &Anchor) -> Result<Range<usize>, AnchorLost> {
    let fits = anchor.chars.end <= current.len_chars();
    if fits && (version == anchor.version || current.slice(anchor.chars.clone()) == anchor.text) {
        return Ok(anchor.chars.clone());
    }
    if anchor.text.is_empty() {
        return Err(AnchorLost);
    }
    let text = current.to_string();
    let old_byte = current.char_to_byte(anchor.chars.start.min(current.len_chars()));
    let nearest = text
        .match_indices(anchor.text.as_str())
        .map(|(byte, _)| byte)
        .min_by_key(|byte| byte.abs_diff(old_byte))
        .ok_or(AnchorLost)?;
    let start = current.byte_to_char(nearest);
    Ok(start..start + anchor.text.chars().count())
}

/// The edit that puts `answer` into the document for a task of `kind` run on
/// `selection`.
pub fn insertion(
    rope: &Rope,
    selection: Range<usize>,
    kind: TaskKind,
    answer: &str,
    language: &Language,
) -> Insertion {
    let eol = LineEnding::detect(rope).as_str();
    let first_line = rope.char_to_line(selection.start);
    match kind {
        TaskKind::Summarise | TaskKind::Explain => {
            let line_start = rope.line_to_char(first_line);
            let indent = indentation(rope, first_line_with_text(rope, selection.clone()));
            let heading = match kind {
                TaskKind::Summarise => "Summary",
                _ => "Explanation",
            };
            let block = comment_block(answer, heading, language.comment, &indent, eol);
            Insertion {
                at: line_start,
                text: block,
            }
        }
        TaskKind::Draft => {
            let last_char = if selection.end > selection.start {
                selection.end - 1
            } else {
                selection.end
            };
            let last_line = rope.char_to_line(last_char.min(rope.len_chars()));
            let body = normalise_line_endings(answer.trim_matches('\n'), eol);
            if last_line + 1 < rope.len_lines() {
                Insertion {
                    at: rope.line_to_char(last_line + 1),
                    text: format!("{body}{eol}"),
                }
            } else {
                Insertion {
                    at: rope.len_chars(),
                    text: format!("{eol}{body}{eol}"),
                }
            }
        }
    }
}

/// Writes `answer` as a comment block in `syntax`, each line indented by `indent`
/// and ended by `eol`, wrapped to [`WRAP_COLUMNS`].
pub fn comment_block(
    answer: &str,
    heading: &str,
    syntax: CommentSyntax,
    indent: &str,
    eol: &str,
) -> String {
    let (open, prefix, close) = match syntax {
        CommentSyntax::Line(marker) => (None, format!("{marker} "), None),
        CommentSyntax::Block(open, close) => (Some(open), String::new(), Some(close)),
        CommentSyntax::Quote => (None, "> ".to_owned(), None),
    };
    let width = WRAP_COLUMNS.saturating_sub(indent.chars().count() + prefix.chars().count());
    let mut lines = vec![format!("{heading} (aumatron):")];
    for paragraph in answer.trim().lines() {
        let paragraph = paragraph.trim_end();
        if paragraph.is_empty() {
            lines.push(String::new());
        } else {
            lines.extend(wrap(paragraph, width.max(20)));
        }
    }

    let mut block = String::new();
    if let Some(open) = open {
        block.push_str(&format!("{indent}{open}{eol}"));
    }
    for line in lines {
        // Keep the block's own closing marker out of the text it encloses.
        let line = match close {
            Some(close) => line.replace(close, ""),
            None => line,
        };
        let full = format!("{prefix}{line}");
        block.push_str(indent);
        block.push_str(full.trim_end());
        block.push_str(eol);
    }
    if let Some(close) = close {
        block.push_str(&format!("{indent}{close}{eol}"));
    }
    block
}

/// Greedy word wrap that keeps a line's own leading indentation (for lists).
fn wrap(paragraph: &str, width: usize) -> Vec<String> {
    let lead: String = paragraph
        .chars()
        .take_while(|c| c.is_whitespace())
        .collect();
    let mut lines = Vec::new();
    let mut current = lead.clone();
    for word in paragraph.split_whitespace() {
        let needs_space = current.len() > lead.len();
        if needs_space && current.chars().count() + 1 + word.chars().count() > width {
            lines.push(std::mem::replace(&mut current, lead.clone()));
        } else if needs_space {
            current.push(' ');
        }
        current.push_str(word);
    }
    lines.push(current);
    lines
}

fn first_line_with_text(rope: &Rope, selection: Range<usize>) -> usize {
    let first = rope.char_to_line(selection.start);
    let last = rope.char_to_line(selection.end.min(rope.len_chars()));
    (first..=last)
        .find(|&line| rope.line(line).chars().any(|c| !c.is_whitespace()))
        .unwrap_or(first)
}

fn indentation(rope: &Rope, line: usize) -> String {
    rope.line(line)
        .chars()
        .take_while(|c| *c == ' ' || *c == '\t')
        .collect()
}

fn normalise_line_endings(text: &str, eol: &str) -> String {
    text.replace("\r\n", "\n")
        .replace('\r', "\n")
        .replace('\n', eol)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rust() -> Language {
        Language::detect("rust", "")
    }

    fn apply(rope: &Rope, insertion: &Insertion) -> String {
        let mut rope = rope.clone();
        rope.insert(insertion.at, &insertion.text);
        rope.to_string()
    }

    #[test]
    fn explain_goes_above_the_selection_with_its_indentation() {
        let rope = Rope::from_str("mod a {\n    fn f() {}\n}\n");
        let start = rope.line_to_char(1) + 4;
        let edit = insertion(
            &rope,
            start..start + 9,
            TaskKind::Explain,
            "Does nothing.",
            &rust(),
        );
        assert_eq!(
            apply(&rope, &edit),
            "mod a {\n    // Explanation (aumatron):\n    // Does nothing.\n    fn f() {}\n}\n"
        );
    }

    #[test]
    fn comments_keep_crlf_line_endings() {
        let rope = Rope::from_str("x = 1\r\ny = 2\r\n");
        let python = Language::detect("python", "");
        let edit = insertion(&rope, 0..5, TaskKind::Summarise, "Sets x.", &python);
        assert_eq!(
            apply(&rope, &edit),
            "# Summary (aumatron):\r\n# Sets x.\r\nx = 1\r\ny = 2\r\n"
        );
    }

    #[test]
    fn block_comments_for_markdown_and_quotes_for_plain_text() {
        let rope = Rope::from_str("# Title\n\nText.\n");
        let markdown = Language::detect("markdown", "");
        let edit = insertion(&rope, 0..7, TaskKind::Summarise, "A -->title.", &markdown);
        assert_eq!(
            apply(&rope, &edit),
            "<!--\nSummary (aumatron):\nA title.\n-->\n# Title\n\nText.\n"
        );
        let plain = Language::detect("plaintext", "");
        let block = comment_block("Hi.", "Summary", plain.comment, "", "\n");
        assert_eq!(block, "> Summary (aumatron):\n> Hi.\n");
    }

    #[test]
    fn long_answers_wrap_and_keep_paragraphs() {
        let answer = format!("{}\n\nSecond.", "word ".repeat(40));
        let block = comment_block(&answer, "Explanation", CommentSyntax::Line("//"), "", "\n");
        assert!(
            block
                .lines()
                .all(|line| line.chars().count() <= WRAP_COLUMNS)
        );
        assert!(block.contains("//\n// Second."), "{block}");
    }

    #[test]
    fn draft_goes_after_the_last_selected_line() {
        let rope = Rope::from_str("a\nb\nc\n");
        let selection = 0..rope.line_to_char(2);
        let edit = insertion(&rope, selection, TaskKind::Draft, "NEW\n", &rust());
        assert_eq!(apply(&rope, &edit), "a\nb\nNEW\nc\n");

        let no_final_newline = Rope::from_str("a\nb");
        let whole = 0..no_final_newline.len_chars();
        let edit = insertion(&no_final_newline, whole, TaskKind::Draft, "NEW", &rust());
        assert_eq!(apply(&no_final_newline, &edit), "a\nb\nNEW\n");
    }

    #[test]
    fn reanchoring_follows_moved_text_and_refuses_lost_text() {
        let anchor = Anchor {
            chars: 4..9,
            text: "hello".into(),
            version: 1,
        };
        let same = Rope::from_str("abc hello");
        assert_eq!(reanchor(&same, 1, &anchor), Ok(4..9));
        let moved = Rope::from_str("typed abc hello");
        assert_eq!(reanchor(&moved, 2, &anchor), Ok(10..15));
        let two = Rope::from_str("hello hello abc");
        assert_eq!(reanchor(&two, 2, &anchor), Ok(6..11));
        let gone = Rope::from_str("abc help");
        assert_eq!(reanchor(&gone, 2, &anchor), Err(AnchorLost));
    }
}
