//! A document's syntax tree, kept in step with its rope.
//!
//! The tree is edited with each change the rope takes ([`SyntaxTree::begin_edit`]
//! before the rope changes, [`SyntaxTree::finish_edit`] after), then reparsed once
//! per batch of changes. Reparsing an edited tree reuses every subtree the edit did
//! not touch, so it costs about as much as the edit is big, not the document.
//!
//! tree-sitter counts rows by `\n` alone and columns in bytes. Ropey also ends lines
//! at a lone `\r`, so while a text holds one, points are counted the slow way.

use std::cell::RefCell;
use std::ops::{ControlFlow, Range};
use std::time::{Duration, Instant};

use ropey::Rope;
use tree_sitter::{InputEdit, Node, ParseOptions, Parser, Point, Tree};

use super::Grammar;

/// Documents bigger than this get no tree: a full parse of them would hold up
/// `didOpen` for too long and the tree would take too much memory. The tasks then
/// fall back to lines.
pub const MAX_TREE_BYTES: usize = 4 << 20;

/// A parse that runs longer than this is given up (a pathological input).
const PARSE_TIME_LIMIT: Duration = Duration::from_secs(2);

thread_local! {
    /// One parser per thread: creating one allocates, and `didChange` runs on
    /// whichever tokio worker picks it up.
    static PARSER: RefCell<Parser> = RefCell::new(Parser::new());
}

/// A parse tree of one text in one grammar. Cloning is cheap (the tree is shared
/// and copied on write by tree-sitter).
#[derive(Clone)]
pub struct SyntaxTree {
    grammar: Grammar,
    tree: Tree,
    /// Whether the text holds a `\r` not followed by `\n`.
    lone_cr: bool,
}

impl std::fmt::Debug for SyntaxTree {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let root = self.tree.root_node();
        f.debug_struct("SyntaxTree")
            .field("grammar", &self.grammar)
            .field("bytes", &root.end_byte())
            .field("has_error", &root.has_error())
            .finish()
    }
}

/// A change measured on the text before it is made; see [`SyntaxTree::begin_edit`].
#[derive(Clone, Debug)]
pub struct PendingEdit {
    start_byte: usize,
    old_end_byte: usize,
    start_position: Point,
    old_end_position: Point,
    touches_cr: bool,
}

impl SyntaxTree {
    /// Parses a whole rope; `None` when it is too big or the parse was given up.
    pub fn parse(grammar: Grammar, rope: &Rope) -> Option<SyntaxTree> {
        if rope.len_bytes() > MAX_TREE_BYTES {
            return None;
        }
        let tree = parse_rope(grammar, rope, None)?;
        Some(SyntaxTree {
            grammar,
            tree,
            lone_cr: has_lone_cr(rope),
        })
    }

    /// Parses a string, such as a selection on its own.
    pub fn parse_text(grammar: Grammar, text: &str) -> Option<SyntaxTree> {
        SyntaxTree::parse(grammar, &Rope::from_str(text))
    }

    /// Whether the text has syntax errors somewhere.
    pub fn has_error(&self) -> bool {
        self.tree.root_node().has_error()
    }

    pub fn grammar(&self) -> Grammar {
        self.grammar
    }

    /// Every node, named or not, one per line: its kind, byte range and points,
    /// separated by tabs. Two trees print the same exactly when they are the same.
    pub fn dump(&self) -> String {
        let mut out = String::new();
        super::walk_at_depth(self.tree.root_node(), |node, depth| {
            out.push_str(&format!(
                "{:depth$}{}\t{}..{}\t{}-{}{}\n",
                "",
                node.kind(),
                node.start_byte(),
                node.end_byte(),
                node.start_position(),
                node.end_position(),
                if node.is_missing() { "\tmissing" } else { "" },
                depth = depth as usize,
            ));
            true
        });
        out
    }

    pub(crate) fn root(&self) -> Node<'_> {
        self.tree.root_node()
    }

    /// Measures the replacement of `chars` in `rope`, which must still be the text
    /// the tree was parsed from (with any earlier edits applied).
    pub fn begin_edit(&self, rope: &Rope, chars: Range<usize>) -> PendingEdit {
        let start_byte = rope.char_to_byte(chars.start);
        let old_end_byte = rope.char_to_byte(chars.end);
        // A `\r` just before, inside or just after the replaced text can become, or
        // stop being, a lone one.
        let around = chars.start.saturating_sub(1)..(chars.end + 1).min(rope.len_chars());
        let touches_cr = rope.slice(around).chars().any(|c| c == '\r');
        PendingEdit {
            start_byte,
            old_end_byte,
            start_position: point_at(rope, start_byte, self.lone_cr),
            old_end_position: point_at(rope, old_end_byte, self.lone_cr),
            touches_cr,
        }
    }

    /// Tells the tree about an edit once `rope` holds `inserted` in place of the
    /// text measured by [`SyntaxTree::begin_edit`].
    pub fn finish_edit(&mut self, pending: PendingEdit, rope: &Rope, inserted: &str) {
        if pending.touches_cr || inserted.contains('\r') {
            self.lone_cr = has_lone_cr(rope);
        }
        let new_end_byte = pending.start_byte + inserted.len();
        let edit = InputEdit {
            start_byte: pending.start_byte,
            old_end_byte: pending.old_end_byte,
            new_end_byte,
            start_position: pending.start_position,
            old_end_position: pending.old_end_position,
            new_end_position: point_at(rope, new_end_byte, self.lone_cr),
        };
        self.tree.edit(&edit);
    }

    /// Brings the tree up to date with `rope` after edits, reusing what they did
    /// not touch. Returns false when the tree could not be rebuilt (the text grew
    /// past [`MAX_TREE_BYTES`], or the parse was given up); the tree is then stale
    /// and must be dropped.
    pub fn reparse(&mut self, rope: &Rope) -> bool {
        if rope.len_bytes() > MAX_TREE_BYTES {
            return false;
        }
        match parse_rope(self.grammar, rope, Some(&self.tree)) {
            Some(tree) => {
                self.tree = tree;
                true
            }
            None => false,
        }
    }
}

fn parse_rope(grammar: Grammar, rope: &Rope, old: Option<&Tree>) -> Option<Tree> {
    let started = Instant::now();
    let mut give_up = |_: &tree_sitter::ParseState| {
        if started.elapsed() > PARSE_TIME_LIMIT {
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(())
        }
    };
    let mut read = |byte: usize, _: Point| -> &[u8] {
        if byte >= rope.len_bytes() {
            return &[];
        }
        let (chunk, chunk_start, _, _) = rope.chunk_at_byte(byte);
        &chunk.as_bytes()[byte - chunk_start..]
    };
    let tree = PARSER.with(|parser| {
        let mut parser = parser.borrow_mut();
        if let Err(error) = parser.set_language(&grammar.language()) {
            tracing::error!(grammar = grammar.name(), %error, "grammar rejected by tree-sitter");
            return None;
        }
        let options = ParseOptions::new().progress_callback(&mut give_up);
        let tree = parser.parse_with_options(&mut read, old, Some(options));
        if tree.is_none() {
            // A cancelled parse leaves state behind for a resumption we never want.
            parser.reset();
        }
        tree
    });
    if tree.is_none() {
        tracing::warn!(
            grammar = grammar.name(),
            bytes = rope.len_bytes(),
            "parse given up; the document has no syntax tree"
        );
    }
    tree
}

/// The tree-sitter point of a byte: rows end at `\n`, columns count bytes.
fn point_at(rope: &Rope, byte: usize, lone_cr: bool) -> Point {
    if !lone_cr {
        // Ropey's lines end at `\n`, `\r\n` or `\r`; with no lone `\r` they are
        // tree-sitter's rows.
        let row = rope.byte_to_line(byte);
        return Point::new(row, byte - rope.line_to_byte(row));
    }
    let mut row = 0;
    let mut row_start = 0;
    let mut offset = 0;
    for chunk in rope.byte_slice(..byte).chunks() {
        for (i, b) in chunk.bytes().enumerate() {
            if b == b'\n' {
                row += 1;
                row_start = offset + i + 1;
            }
        }
        offset += chunk.len();
    }
    Point::new(row, byte - row_start)
}

fn has_lone_cr(rope: &Rope) -> bool {
    let mut chars = rope.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\r' && chars.peek() != Some(&'\n') {
            return true;
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn points_count_newlines_only() {
        let rope = Rope::from_str("ab\r\ncd\ref\ngh");
        assert!(has_lone_cr(&rope));
        // "ef" is on row 1: the lone \r does not end a row for tree-sitter.
        assert_eq!(point_at(&rope, 7, true), Point::new(1, 3));
        assert_eq!(point_at(&rope, 11, true), Point::new(2, 1));
        let crlf = Rope::from_str("ab\r\ncd\ngh");
        assert!(!has_lone_cr(&crlf));
        for byte in 0..=crlf.len_bytes() {
            assert_eq!(point_at(&crlf, byte, false), point_at(&crlf, byte, true));
        }
    }

    #[test]
    fn too_big_texts_get_no_tree() {
        let big = "x".repeat(MAX_TREE_BYTES + 1);
        assert!(SyntaxTree::parse_text(Grammar::Python, &big).is_none());
        assert!(SyntaxTree::parse_text(Grammar::Python, "x = 1\n").is_some());
    }
}
