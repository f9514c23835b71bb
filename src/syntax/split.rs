//! Cutting a text into consecutive pieces along its structure, for work done in
//! parts: a summary of a text bigger than the local model's window.
//!
//! Pieces always cover the text exactly, with no gap and no overlap, so nothing
//! is dropped: code splits at its items, then at the members or statements of an
//! item; Markdown at its sections, then their blocks; any text, when structure
//! runs out, at blank lines, then lines, then words.

use std::ops::Range;

use super::{Grammar, SyntaxTree};
use crate::task::language::Language;

/// A text and its tree, ready to be cut.
pub struct Outline<'a> {
    text: &'a str,
    tree: Option<SyntaxTree>,
}

impl<'a> Outline<'a> {
    pub fn new(text: &'a str, language: &Language) -> Outline<'a> {
        let tree = Grammar::for_language(language)
            .and_then(|grammar| SyntaxTree::parse_text(grammar, text));
        Outline { text, tree }
    }

    pub fn text(&self) -> &'a str {
        self.text
    }

    /// The top-level pieces (byte ranges): the file's items or sections, or its
    /// paragraphs when it has no grammar.
    pub fn pieces(&self) -> Vec<Range<usize>> {
        let whole = 0..self.text.len();
        let Some(tree) = &self.tree else {
            return self.split_text(whole);
        };
        let root = tree.root();
        let mut cursor = root.walk();
        let starts: Vec<usize> = root
            .named_children(&mut cursor)
            .map(|child| child.start_byte())
            .collect();
        let pieces = cut(whole.clone(), &starts);
        if pieces.len() >= 2 {
            pieces
        } else {
            self.split(whole)
        }
    }

    /// Smaller pieces that together make `range`: the children of the node it
    /// is, else its paragraphs, lines, words, or halves. A range of two chars or
    /// more always gives at least two pieces.
    pub fn split(&self, range: Range<usize>) -> Vec<Range<usize>> {
        if let Some(pieces) = self.split_by_tree(range.clone()) {
            return pieces;
        }
        self.split_text(range)
    }

    fn split_by_tree(&self, range: Range<usize>) -> Option<Vec<Range<usize>>> {
        let tree = self.tree.as_ref()?;
        let slice = &self.text[range.clone()];
        let start = range.start + (slice.len() - slice.trim_start().len());
        let end = range.start + slice.trim_end().len();
        if start >= end {
            return None;
        }
        let mut node = tree.root().descendant_for_byte_range(start, end)?;
        for _ in 0..64 {
            let mut cursor = node.walk();
            let inside: Vec<_> = node
                .named_children(&mut cursor)
                .filter(|child| child.end_byte() > start && child.start_byte() < end)
                .collect();
            // A node that is mostly one child (an impl and its body, a function and
            // its block) is cut inside that child; the head goes with the first piece.
            let dominant = inside
                .iter()
                .find(|child| (child.end_byte() - child.start_byte()) * 4 >= (end - start) * 3);
            match (inside.as_slice(), dominant) {
                ([], _) => return None,
                ([only], _) | (_, Some(only)) => node = *only,
                (many, None) => {
                    let starts: Vec<usize> = many.iter().map(|child| child.start_byte()).collect();
                    let pieces = cut(range.clone(), &starts);
                    return (pieces.len() >= 2).then_some(pieces);
                }
            }
        }
        None
    }

    /// Paragraphs, else lines, else words, else halves.
    fn split_text(&self, range: Range<usize>) -> Vec<Range<usize>> {
        let slice = &self.text[range.clone()];
        let at = |offsets: Vec<usize>| cut(range.clone(), &offsets);

        let paragraphs: Vec<usize> = blank_line_ends(slice)
            .into_iter()
            .map(|offset| range.start + offset)
            .collect();
        let pieces = at(paragraphs);
        if pieces.len() >= 2 {
            return pieces;
        }
        let lines: Vec<usize> = slice
            .match_indices('\n')
            .map(|(offset, _)| range.start + offset + 1)
            .collect();
        let pieces = at(lines);
        if pieces.len() >= 2 {
            return pieces;
        }
        let words: Vec<usize> = slice
            .char_indices()
            .zip(slice.chars().skip(1))
            .filter(|((_, c), next)| c.is_whitespace() && !next.is_whitespace())
            .map(|((offset, c), _)| range.start + offset + c.len_utf8())
            .collect();
        let pieces = at(words);
        if pieces.len() >= 2 {
            return pieces;
        }
        let chars: Vec<usize> = slice.char_indices().map(|(offset, _)| offset).collect();
        match chars.get(chars.len() / 2) {
            Some(&half) if half > 0 => at(vec![range.start + half]),
            _ => vec![range],
        }
    }
}

/// Offsets where a paragraph starts after a blank line.
fn blank_line_ends(text: &str) -> Vec<usize> {
    let mut offsets = Vec::new();
    let mut previous_blank = false;
    let mut offset = 0;
    for line in text.split_inclusive('\n') {
        let blank = line.trim().is_empty();
        if previous_blank && !blank {
            offsets.push(offset);
        }
        previous_blank = blank;
        offset += line.len();
    }
    offsets
}

/// `range` cut at the given offsets (those strictly inside it, in order).
fn cut(range: Range<usize>, offsets: &[usize]) -> Vec<Range<usize>> {
    let mut pieces = Vec::new();
    let mut start = range.start;
    for &offset in offsets {
        if offset > start && offset < range.end {
            pieces.push(start..offset);
            start = offset;
        }
    }
    pieces.push(start..range.end);
    pieces
}

#[cfg(test)]
mod tests {
    use super::*;

    fn covers(text: &str, pieces: &[Range<usize>]) {
        let joined: String = pieces.iter().map(|piece| &text[piece.clone()]).collect();
        assert_eq!(joined, text);
    }

    #[test]
    fn code_splits_at_items_then_members() {
        let text = "use a;\n\nfn one() {}\n\nimpl X {\n    fn two() {}\n    fn three() {}\n}\n";
        let outline = Outline::new(text, &Language::detect("rust", ""));
        let pieces = outline.pieces();
        covers(text, &pieces);
        assert_eq!(pieces.len(), 3);
        assert!(text[pieces[2].clone()].starts_with("impl X"));
        let members = outline.split(pieces[2].clone());
        covers(
            &text[pieces[2].clone()],
            &members
                .iter()
                .map(|p| p.start - pieces[2].start..p.end - pieces[2].start)
                .collect::<Vec<_>>(),
        );
        assert!(members.len() >= 2, "{members:?}");
        assert!(
            members
                .iter()
                .any(|p| text[p.clone()].trim_start().starts_with("fn three"))
        );
    }

    #[test]
    fn prose_splits_at_paragraphs_lines_words_and_halves() {
        let text = "One two.\nThree.\n\nFour five six.\n";
        let outline = Outline::new(text, &Language::detect("plaintext", ""));
        let pieces = outline.pieces();
        assert_eq!(pieces, [0..17, 17..text.len()]);
        assert_eq!(outline.split(0..17), [0..9, 9..16, 16..17]);
        assert_eq!(outline.split(17..31), [17..22, 22..27, 27..31]);
        assert_eq!(outline.split(17..21), [17..19, 19..21]);
        assert_eq!(outline.split(17..18).len(), 1);
    }

    #[test]
    fn markdown_splits_at_sections() {
        let text = "# A\n\nIntro.\n\n## B\n\nText b.\n\n## C\n\nText c.\n";
        let outline = Outline::new(text, &Language::detect("markdown", ""));
        let pieces = outline.pieces();
        covers(text, &pieces);
        let texts: Vec<&str> = pieces.iter().map(|p| &text[p.clone()]).collect();
        assert!(texts.iter().any(|t| t.starts_with("## B")), "{texts:?}");
        assert!(texts.iter().any(|t| t.starts_with("## C")), "{texts:?}");
    }
}
