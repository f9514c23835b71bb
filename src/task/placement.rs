//! Where an answer goes in the document, and in what shape: summarise and explain
//! become a comment block above the selection, a draft goes after it, and a doc
//! comment draft goes where the language puts documentation, in its syntax.
//!
//! With a syntax tree, "above" a definition means above its doc comments,
//! attributes and decorators, so nothing is wedged between a definition and what
//! belongs to it; a Python docstring goes inside the body, at its indentation.
//!
//! Everything here works on char indices in a rope, computed against the document
//! (and its tree) as it is when the edit is applied, never as it was when the task
//! started.

use std::ops::Range;

use ropey::Rope;

use super::language::{CommentSyntax, DocSyntax, Language};
use super::{DraftForm, TaskKind};
use crate::syntax::{Definition, SyntaxTree, definition_at};
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

/// What a task was run on, in the document as it is now.
#[derive(Clone, Copy, Debug)]
pub struct Target<'a> {
    pub rope: &'a Rope,
    /// The tree of `rope`, when the language has a grammar.
    pub tree: Option<&'a SyntaxTree>,
    pub language: &'a Language,
}

/// The edit that puts `answer` into the document for a task of `kind` (and, for a
/// draft, `form`) run on `selection`.
pub fn insertion(
    target: Target<'_>,
    selection: Range<usize>,
    kind: TaskKind,
    form: DraftForm,
    answer: &str,
) -> Insertion {
    let rope = target.rope;
    let eol = LineEnding::detect(rope).as_str();
    match (kind, form) {
        (TaskKind::Summarise | TaskKind::Explain, _) => {
            let (line, indent) = line_above(target, selection);
            let heading = match kind {
                TaskKind::Summarise => "Summary",
                _ => "Explanation",
            };
            let block = comment_block(answer, heading, target.language.comment, &indent, eol);
            Insertion {
                at: rope.line_to_char(line),
                text: block,
            }
        }
        (TaskKind::Draft, DraftForm::DocComment) => doc_insertion(target, selection, answer, eol),
        (TaskKind::Draft, DraftForm::Code) => {
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

/// The definition a selection starts with: its first text is on the
/// definition's first line, or in the comments and attributes right above it.
pub fn definition_starting(target: Target<'_>, selection: Range<usize>) -> Option<Definition> {
    let rope = target.rope;
    let tree = target.tree?;
    let first_text = first_text_char(rope, selection)?;
    let definition = definition_at(tree, rope, first_text)?;
    let line = rope.char_to_line(first_text);
    let head = rope.char_to_line(definition.comments_start);
    let start = rope.char_to_line(definition.chars.start);
    (head <= line && line <= start).then_some(definition)
}

/// The line a comment block about the selection goes above, and its indentation:
/// above a definition's comments and attributes when the selection starts with a
/// definition, else above the first selected line with text.
fn line_above(target: Target<'_>, selection: Range<usize>) -> (usize, String) {
    let rope = target.rope;
    if let Some(definition) = definition_starting(target, selection.clone()) {
        let head = rope.char_to_line(definition.comments_start);
        let start = rope.char_to_line(definition.chars.start);
        return (head, indentation(rope, start));
    }
    let first_line = rope.char_to_line(selection.start);
    let indent = indentation(rope, first_line_with_text(rope, selection));
    (first_line, indent)
}

/// A doc comment for the definition the selection starts with, in the language's
/// place and syntax.
fn doc_insertion(
    target: Target<'_>,
    selection: Range<usize>,
    answer: &str,
    eol: &str,
) -> Insertion {
    let rope = target.rope;
    let definition = definition_starting(target, selection.clone());
    let syntax = target.language.doc_syntax();

    // A docstring is the first statement of the body, on a line of its own.
    if let (Some(DocSyntax::Docstring), Some(definition)) = (syntax, &definition) {
        let head_line = rope.char_to_line(definition.chars.start);
        let body_line = definition
            .body
            .as_ref()
            .map(|body| rope.char_to_line(body.start))
            .filter(|&line| line > head_line);
        if let Some(line) = body_line {
            let indent = indentation(rope, line);
            return Insertion {
                at: rope.line_to_char(line),
                text: docstring(answer, &indent, eol),
            };
        }
    }

    // Everything else goes right above the definition (below comments that are
    // already there), or above the selection when no definition is found.
    let line = match &definition {
        Some(definition) => rope.char_to_line(definition.chars.start),
        None => {
            rope.char_to_line(first_text_char(rope, selection.clone()).unwrap_or(selection.start))
        }
    };
    let indent = indentation(rope, line);
    let text = match syntax {
        Some(DocSyntax::Lines(marker)) => prefixed_lines(answer, marker, &indent, eol),
        Some(DocSyntax::Block) => doc_block(answer, &indent, eol),
        Some(DocSyntax::Docstring) => prefixed_lines(answer, "#", &indent, eol),
        None => match target.language.comment {
            CommentSyntax::Line(marker) => prefixed_lines(answer, marker, &indent, eol),
            other => comment_block(answer, "Documentation", other, &indent, eol),
        },
    };
    Insertion {
        at: rope.line_to_char(line),
        text,
    }
}

/// The answer's paragraphs, wrapped for lines that start with `indent` and
/// `lead`; an empty string between paragraphs.
fn wrapped_lines(answer: &str, indent: &str, lead: usize) -> Vec<String> {
    let width = WRAP_COLUMNS
        .saturating_sub(indent.chars().count() + lead)
        .max(20);
    let mut lines = Vec::new();
    for paragraph in answer.trim().split("\n\n") {
        let paragraph = paragraph.split_whitespace().collect::<Vec<_>>().join(" ");
        if paragraph.is_empty() {
            continue;
        }
        if !lines.is_empty() {
            lines.push(String::new());
        }
        lines.extend(wrap(&paragraph, width));
    }
    lines
}

/// `/// text` lines (or `//`, `---`, `#`).
fn prefixed_lines(answer: &str, marker: &str, indent: &str, eol: &str) -> String {
    wrapped_lines(answer, indent, marker.chars().count() + 1)
        .into_iter()
        .map(|line| format!("{indent}{marker} {line}").trim_end().to_owned() + eol)
        .collect()
}

/// A `/** ... */` block.
fn doc_block(answer: &str, indent: &str, eol: &str) -> String {
    let answer = answer.replace("*/", "* /");
    let mut block = format!("{indent}/**{eol}");
    for line in wrapped_lines(&answer, indent, 3) {
        block.push_str(format!("{indent} * {line}").trim_end());
        block.push_str(eol);
    }
    block.push_str(&format!("{indent} */{eol}"));
    block
}

/// A Python docstring: one line when it fits, else the summary line, a blank
/// line, the rest, and the closing quotes on their own line (PEP 257).
fn docstring(answer: &str, indent: &str, eol: &str) -> String {
    let answer = answer.replace("\"\"\"", "\\\"\"\"");
    let lines = wrapped_lines(&answer, indent, 3);
    if let [only] = lines.as_slice()
        && indent.chars().count() + only.chars().count() + 6 <= WRAP_COLUMNS
    {
        return format!("{indent}\"\"\"{only}\"\"\"{eol}");
    }
    let mut text = String::new();
    for (i, line) in lines.iter().enumerate() {
        let quotes = if i == 0 { "\"\"\"" } else { "" };
        text.push_str(format!("{indent}{quotes}{line}").trim_end());
        text.push_str(eol);
    }
    text.push_str(&format!("{indent}\"\"\"{eol}"));
    text
}

fn first_text_char(rope: &Rope, selection: Range<usize>) -> Option<usize> {
    let end = selection.end.min(rope.len_chars());
    (selection.start..end).find(|&i| !rope.char(i).is_whitespace())
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

    fn plain<'a>(rope: &'a Rope, language: &'a Language) -> Target<'a> {
        Target {
            rope,
            tree: None,
            language,
        }
    }

    fn insertion(
        rope: &Rope,
        selection: Range<usize>,
        kind: TaskKind,
        answer: &str,
        language: &Language,
    ) -> Insertion {
        super::insertion(
            plain(rope, language),
            selection,
            kind,
            DraftForm::Code,
            answer,
        )
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
