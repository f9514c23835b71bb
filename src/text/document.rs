//! Open documents: a rope per URI, and its syntax tree beside it, both edited
//! incrementally.

use std::sync::atomic::{AtomicU64, Ordering};

use dashmap::DashMap;
use ropey::Rope;

use super::position::{self, PositionEncoding, PositionError, Resolve, TextRange};
use crate::syntax::{Grammar, SyntaxTree};

/// One open document. Cloning is cheap (the rope shares its nodes and the tree is
/// reference-counted), which is how handlers take a snapshot and let go of the
/// store at once.
#[derive(Clone, Debug)]
pub struct Document {
    pub uri: String,
    pub language_id: String,
    pub version: i32,
    pub rope: Rope,
    /// The tree of `rope`, told of every edit but reparsed only when asked for
    /// (see [`Document::update_syntax`]); `None` for languages without a grammar
    /// and for documents too big to parse (see [`crate::syntax::MAX_TREE_BYTES`]).
    syntax: Option<SyntaxTree>,
    syntax_state: SyntaxState,
    /// Which state of the text this is: taken from one counter for every
    /// document at each change, so that two copies with the same revision hold
    /// the same text even across a close and a reopen.
    revision: u64,
}

/// The source of [`Document::revision`].
static REVISIONS: AtomicU64 = AtomicU64::new(1);

fn next_revision() -> u64 {
    REVISIONS.fetch_add(1, Ordering::Relaxed)
}

/// How far the tree is behind the rope.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum SyntaxState {
    /// The tree is the parse of the rope as it is.
    Current,
    /// The tree has been told of edits and needs an incremental reparse.
    Edited,
    /// The whole text was replaced: the tree must be parsed from scratch.
    Replaced,
}

/// One entry of `contentChanges`: a replaced range, or the whole text when `range`
/// is `None`.
#[derive(Clone, Debug)]
pub struct DocumentChange {
    pub range: Option<TextRange>,
    pub text: String,
}

impl Document {
    pub fn new(uri: String, language_id: String, version: i32, text: &str) -> Self {
        let rope = Rope::from_str(text);
        let syntax = Grammar::detect(&language_id, file_name(&uri))
            .and_then(|grammar| SyntaxTree::parse(grammar, &rope));
        Self {
            uri,
            language_id,
            version,
            rope,
            syntax,
            syntax_state: SyntaxState::Current,
            revision: next_revision(),
        }
    }

    /// The syntax tree, when it is in step with the text: `None` while edits wait
    /// for [`Document::update_syntax`], as for a document without a grammar, so
    /// that a stale tree is never read. Documents from [`DocumentStore::snapshot`]
    /// are always up to date.
    pub fn syntax(&self) -> Option<&SyntaxTree> {
        match self.syntax_state {
            SyntaxState::Current => self.syntax.as_ref(),
            SyntaxState::Edited | SyntaxState::Replaced => None,
        }
    }

    /// Applies changes in order, each against the result of the one before, and
    /// tells the syntax tree of each. The tree is not reparsed here: a keystroke
    /// costs a rope edit and a tree edit, and the reparse waits until something
    /// reads the tree ([`Document::update_syntax`]), once for all the edits made
    /// meanwhile. Positions that name no place are clamped (see [`position`]): the
    /// client's text is the truth, and refusing its change would leave the copies
    /// apart.
    pub fn apply_changes(
        &mut self,
        version: i32,
        changes: &[DocumentChange],
        encoding: PositionEncoding,
    ) {
        for change in changes {
            match change.range {
                None => {
                    self.rope = Rope::from_str(&change.text);
                    self.syntax = None;
                    self.syntax_state = SyntaxState::Replaced;
                }
                Some(range) => {
                    let chars = position::char_range(&self.rope, range, encoding, Resolve::Clamp)
                        .unwrap_or_else(|_| unreachable!("clamping never fails"));
                    let pending = self
                        .syntax
                        .as_ref()
                        .map(|tree| tree.begin_edit(&self.rope, chars.clone()));
                    if !chars.is_empty() {
                        self.rope.remove(chars.clone());
                    }
                    if !change.text.is_empty() {
                        self.rope.insert(chars.start, &change.text);
                    }
                    if let (Some(tree), Some(pending)) = (&mut self.syntax, pending) {
                        tree.finish_edit(pending, &self.rope, &change.text);
                        self.syntax_state = SyntaxState::Edited;
                    }
                }
            }
        }
        self.version = version;
        self.revision = next_revision();
    }

    /// Whether the tree waits for a reparse.
    pub fn syntax_is_stale(&self) -> bool {
        self.syntax_state != SyntaxState::Current
    }

    /// Brings the tree up to date with the text: incrementally when it saw every
    /// edit, from scratch after a full replacement. A document without a tree
    /// stays without one until it is replaced or reopened: it has no grammar, was
    /// too big, or its parse was given up, and trying again on every request would
    /// cost the most exactly where it helps the least.
    pub fn update_syntax(&mut self) {
        match self.syntax_state {
            SyntaxState::Current => return,
            SyntaxState::Replaced => {
                self.syntax = Grammar::detect(&self.language_id, file_name(&self.uri))
                    .and_then(|grammar| SyntaxTree::parse(grammar, &self.rope));
            }
            SyntaxState::Edited => {
                if let Some(tree) = &mut self.syntax
                    && !tree.reparse(&self.rope)
                {
                    self.syntax = None;
                }
            }
        }
        self.syntax_state = SyntaxState::Current;
    }

    /// The chars a range from a request covers, or why it names no place here.
    pub fn char_range(
        &self,
        range: TextRange,
        encoding: PositionEncoding,
    ) -> Result<std::ops::Range<usize>, PositionError> {
        position::char_range(&self.rope, range, encoding, Resolve::Strict)
    }
}

/// The last segment of a URI's path, which is all language detection needs.
fn file_name(uri: &str) -> &str {
    let path = uri.split(['?', '#']).next().unwrap_or(uri);
    path.rsplit('/').next().unwrap_or(path)
}

/// What [`DocumentStore::change`] did.
#[derive(Clone, Copy, Debug)]
pub struct Changed {
    /// The text's revision now (see [`DocumentStore::update_syntax_if_quiet`]).
    pub revision: u64,
    /// Whether the syntax tree waits for a reparse.
    pub reparse_due: bool,
}

/// Every open document, keyed by URI. No guard outlives a method call here, so no
/// caller can hold one across an `.await`.
#[derive(Debug, Default)]
pub struct DocumentStore {
    documents: DashMap<String, Document>,
}

impl DocumentStore {
    pub fn open(&self, document: Document) {
        self.documents.insert(document.uri.clone(), document);
    }

    pub fn close(&self, uri: &str) {
        self.documents.remove(uri);
    }

    /// Applies changes to an open document; `None` when it is not open.
    pub fn change(
        &self,
        uri: &str,
        version: i32,
        changes: &[DocumentChange],
        encoding: PositionEncoding,
    ) -> Option<Changed> {
        let mut document = self.documents.get_mut(uri)?;
        document.apply_changes(version, changes, encoding);
        Some(Changed {
            revision: document.revision,
            reparse_due: document.syntax_is_stale(),
        })
    }

    /// A copy of an open document with its syntax tree up to date. A reparse that
    /// edits left waiting is done on the copy, outside the document's entry (a
    /// keystroke meanwhile is not held up), and kept for the next reader unless
    /// the text changed in the meantime.
    pub fn snapshot(&self, uri: &str) -> Option<Document> {
        let mut copy = self.documents.get(uri)?.clone();
        if copy.syntax_is_stale() {
            copy.update_syntax();
            self.keep_syntax(uri, &copy);
        }
        Some(copy)
    }

    /// Reparses `uri` if its tree waits for one and the text is still at
    /// `revision` (see [`DocumentStore::revision`]); the work of a quiet moment
    /// after typing, so that the next request finds the tree ready. Blocking.
    pub fn update_syntax_if_quiet(&self, uri: &str, revision: u64) {
        let copy = match self.documents.get(uri) {
            Some(document) if document.revision == revision && document.syntax_is_stale() => {
                document.clone()
            }
            _ => return,
        };
        let mut copy = copy;
        copy.update_syntax();
        self.keep_syntax(uri, &copy);
    }

    /// Whether `uri` is open with a tree that waits for a reparse.
    pub fn syntax_is_stale(&self, uri: &str) -> bool {
        self.documents
            .get(uri)
            .is_some_and(|document| document.syntax_is_stale())
    }

    /// The revision of `uri`'s text now, if it is open.
    pub fn revision(&self, uri: &str) -> Option<u64> {
        self.documents.get(uri).map(|document| document.revision)
    }

    /// Installs the tree of a reparsed copy, if the document is still the text
    /// the copy was made from.
    fn keep_syntax(&self, uri: &str, copy: &Document) {
        if let Some(mut document) = self.documents.get_mut(uri)
            && document.revision == copy.revision
            && document.syntax_is_stale()
        {
            document.syntax = copy.syntax.clone();
            document.syntax_state = SyntaxState::Current;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::text::TextPosition;

    /// An independent model of LSP positions over a plain string, to check the rope
    /// against: lines end at `\n`, `\r\n` or `\r`, columns count `encoding` units.
    fn model_position(text: &str, char_idx: usize, encoding: PositionEncoding) -> TextPosition {
        let chars: Vec<char> = text.chars().collect();
        let (mut line, mut column, mut i) = (0, 0, 0);
        while i < char_idx {
            match chars[i] {
                '\r' if chars.get(i + 1) == Some(&'\n') && i + 1 < char_idx => {
                    line += 1;
                    column = 0;
                    i += 1;
                }
                '\n' | '\r' => {
                    line += 1;
                    column = 0;
                }
                c => {
                    column += match encoding {
                        PositionEncoding::Utf8 => c.len_utf8(),
                        PositionEncoding::Utf16 => c.len_utf16(),
                        PositionEncoding::Utf32 => 1,
                    }
                }
            }
            i += 1;
        }
        TextPosition::new(line, column as u32)
    }

    fn splits_crlf(chars: &[char], idx: usize) -> bool {
        idx > 0 && idx < chars.len() && chars[idx - 1] == '\r' && chars[idx] == '\n'
    }

    #[test]
    fn snapshots_reparse_what_edits_left_waiting() {
        use crate::syntax::{Grammar, SyntaxTree};
        let store = DocumentStore::default();
        let uri = "file:///lib.rs";
        store.open(Document::new(uri.into(), "rust".into(), 1, "fn a() {}\n"));
        let at = |line, character| TextPosition::new(line, character);
        let edit = |version, start, end, text: &str| {
            let change = DocumentChange {
                range: Some(TextRange::new(start, end)),
                text: text.into(),
            };
            assert!(
                store
                    .change(uri, version, &[change], PositionEncoding::Utf16)
                    .is_some()
            );
        };
        // Two keystrokes: the tree is edited, not reparsed.
        edit(2, at(0, 3), at(0, 4), "bc");
        edit(3, at(1, 0), at(1, 0), "struct S;\n");
        assert!(store.documents.get(uri).unwrap().syntax_is_stale());
        let fresh = |text| SyntaxTree::parse_text(Grammar::Rust, text).unwrap().dump();
        let snapshot = store.snapshot(uri).unwrap();
        assert_eq!(snapshot.rope.to_string(), "fn bc() {}\nstruct S;\n");
        assert_eq!(
            snapshot.syntax().unwrap().dump(),
            fresh("fn bc() {}\nstruct S;\n")
        );
        // The reparse was kept: the store's copy is up to date now.
        assert!(!store.documents.get(uri).unwrap().syntax_is_stale());

        // The background reparse of a quiet moment: only for the text it was
        // asked for, never for one that changed since.
        let asked = store.revision(uri).unwrap();
        edit(10, at(0, 0), at(0, 0), "pub ");
        store.update_syntax_if_quiet(uri, asked);
        assert!(store.documents.get(uri).unwrap().syntax_is_stale());
        store.update_syntax_if_quiet(uri, store.revision(uri).unwrap());
        let kept = store.documents.get(uri).unwrap().clone();
        assert!(!kept.syntax_is_stale());
        assert_eq!(
            kept.syntax().unwrap().dump(),
            fresh("pub fn bc() {}\nstruct S;\n")
        );

        // A copy reparsed while the user typed on is not kept.
        edit(13, at(0, 0), at(0, 0), "\n");
        let mut copy = store.documents.get(uri).unwrap().clone();
        edit(14, at(0, 0), at(0, 0), "\n");
        copy.update_syntax();
        store.keep_syntax(uri, &copy);
        assert!(store.documents.get(uri).unwrap().syntax_is_stale());

        // A whole-text replacement is parsed from scratch.
        let replace = DocumentChange {
            range: None,
            text: "enum E { A }\n".into(),
        };
        assert!(
            store
                .change(uri, 15, &[replace], PositionEncoding::Utf16)
                .is_some()
        );
        let snapshot = store.snapshot(uri).unwrap();
        assert_eq!(snapshot.syntax().unwrap().dump(), fresh("enum E { A }\n"));

        // A replacement then a ranged edit in one didChange: parsed from scratch.
        let changes = [
            DocumentChange {
                range: None,
                text: "fn x() {}\n".into(),
            },
            DocumentChange {
                range: Some(TextRange::new(at(0, 3), at(0, 4))),
                text: "yz".into(),
            },
        ];
        assert!(
            store
                .change(uri, 16, &changes, PositionEncoding::Utf16)
                .is_some()
        );
        let snapshot = store.snapshot(uri).unwrap();
        assert_eq!(snapshot.version, 16);
        assert_eq!(snapshot.syntax().unwrap().dump(), fresh("fn yz() {}\n"));
    }

    #[test]
    fn full_replacement_and_ranged_edit() {
        let mut doc = Document::new("file:///a".into(), "rust".into(), 1, "fn a() {}\n");
        let insert = DocumentChange {
            range: Some(TextRange::new(
                TextPosition::new(0, 3),
                TextPosition::new(0, 4),
            )),
            text: "main".into(),
        };
        doc.apply_changes(2, &[insert], PositionEncoding::Utf16);
        assert_eq!(doc.rope.to_string(), "fn main() {}\n");
        let replace = DocumentChange {
            range: None,
            text: "new".into(),
        };
        doc.apply_changes(3, &[replace], PositionEncoding::Utf16);
        assert_eq!(doc.rope.to_string(), "new");
        assert_eq!(doc.version, 3);
    }

    #[test]
    fn out_of_range_edits_clamp_instead_of_desyncing() {
        let mut doc = Document::new("file:///a".into(), "text".into(), 1, "ab\ncd");
        let past = DocumentChange {
            range: Some(TextRange::new(
                TextPosition::new(0, 50),
                TextPosition::new(9, 9),
            )),
            text: "!".into(),
        };
        doc.apply_changes(2, &[past], PositionEncoding::Utf16);
        assert_eq!(doc.rope.to_string(), "ab!");
    }

    proptest::proptest! {
        #[test]
        fn incremental_edits_match_a_full_text_replay(
            initial in "(a|é|日|😀|\r\n|\n|\r|\u{2028}| ){0,30}",
            edits in proptest::collection::vec(
                (0usize..100, 0usize..8, "(x|ß|🎉|\r\n|\n|\r){0,4}"), 1..20),
            encoding_pick in 0usize..3,
        ) {
            let encoding = [PositionEncoding::Utf8, PositionEncoding::Utf16,
                PositionEncoding::Utf32][encoding_pick];
            let mut doc = Document::new("file:///p".into(), "text".into(), 0, &initial);
            let mut model: Vec<char> = initial.chars().collect();
            for (version, (start, len, insert)) in edits.into_iter().enumerate() {
                let start = start % (model.len() + 1);
                let end = (start + len).min(model.len());
                // Positions cannot point between \r and \n; clients never send them.
                if splits_crlf(&model, start) || splits_crlf(&model, end) {
                    continue;
                }
                let text: String = model.iter().collect();
                let range = TextRange::new(
                    model_position(&text, start, encoding),
                    model_position(&text, end, encoding),
                );
                doc.apply_changes(version as i32, &[DocumentChange {
                    range: Some(range), text: insert.clone() }], encoding);
                model.splice(start..end, insert.chars());
                let expected: String = model.iter().collect();
                proptest::prop_assert_eq!(doc.rope.to_string(), expected);
            }
        }
    }
}
