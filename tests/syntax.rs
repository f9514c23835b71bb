//! The syntax layer on real files in every supported language: the definition
//! around a cursor, where answers land, and incremental trees.

use aumatron_lsp::syntax::{Grammar, SyntaxTree};
use aumatron_lsp::text::{Document, DocumentChange, PositionEncoding, TextPosition, TextRange};

const FIXTURES: [(&str, &str); 11] = [
    ("dates.rs", "rust"),
    ("inventory.py", "python"),
    ("cart.js", "javascript"),
    ("queue.ts", "typescript"),
    ("counter.tsx", "typescriptreact"),
    ("server.go", "go"),
    ("ring.c", "c"),
    ("matrix.cpp", "cpp"),
    ("Library.java", "java"),
    ("stack.lua", "lua"),
    ("guide.md", "markdown"),
];

fn fixture(name: &str) -> String {
    let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|error| panic!("{path}: {error}"))
}

/// The LSP position of a char index in a string, in UTF-16 units.
fn position(text: &str, char_idx: usize) -> TextPosition {
    let (mut line, mut column) = (0u32, 0u32);
    let chars: Vec<char> = text.chars().collect();
    let mut i = 0;
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
            c => column += c.len_utf16() as u32,
        }
        i += 1;
    }
    TextPosition::new(line, column)
}

fn splits_crlf(chars: &[char], idx: usize) -> bool {
    idx > 0 && idx < chars.len() && chars[idx - 1] == '\r' && chars[idx] == '\n'
}

/// Text typed into code: keystrokes, pasted lines, brackets, non-ASCII, CRLF.
const INSERTS: [&str; 14] = [
    "x",
    " ",
    "\n",
    "\r\n",
    "(",
    "}",
    "{",
    "\"",
    "é",
    "🎉",
    "let y = 2;\n",
    "    return 0\n",
    "// note\n",
    "fn f() {}\n",
];

/// Checks that every node's points are where its bytes say, in `text`.
fn points_match_bytes(dump: &str, text: &str) -> Result<(), String> {
    let point = |byte: usize| {
        let before = &text[..byte];
        let row = before.matches('\n').count();
        let column = byte - before.rfind('\n').map_or(0, |i| i + 1);
        format!("({row}, {column})")
    };
    for line in dump.lines() {
        let fields: Vec<&str> = line.trim_start().split('\t').collect();
        let (start, end) = fields[1].split_once("..").ok_or(line)?;
        let (start, end): (usize, usize) = (start.parse().unwrap(), end.parse().unwrap());
        let expected = format!("{}-{}", point(start), point(end));
        if fields[2] != expected {
            return Err(format!("{line}: expected {expected}"));
        }
    }
    Ok(())
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(64))]

    /// After random edits, the incremental tree is where the text says (every
    /// node's rows and columns match its bytes), and it is the fresh parse's tree
    /// whenever the text parses cleanly. Undoing the edits one by one, still
    /// incrementally, gives back exactly the tree of a fresh parse of the original.
    /// (With syntax errors in the text, error recovery may legitimately differ
    /// between an incremental and a fresh parse, so the trees are compared where
    /// the parse is defined.)
    #[test]
    fn incremental_trees_equal_a_fresh_parse(
        pick in 0usize..FIXTURES.len(),
        edits in proptest::collection::vec((0usize..4000, 0usize..12, 0usize..INSERTS.len()), 1..25),
        crlf in proptest::bool::ANY,
    ) {
        let (name, language_id) = FIXTURES[pick];
        let mut original = fixture(name);
        if crlf {
            original = original.replace('\n', "\r\n");
        }
        let grammar = Grammar::detect(language_id, name).unwrap();
        let uri = format!("file:///fixtures/{name}");
        let mut document = Document::new(uri, language_id.into(), 1, &original);
        proptest::prop_assert!(document.syntax.is_some());
        let mut model: Vec<char> = original.chars().collect();
        let mut version = 1;
        let mut apply = |document: &mut Document, model: &mut Vec<char>, start: usize, end: usize, insert: &str| {
            let current: String = model.iter().collect();
            let range = TextRange::new(position(&current, start), position(&current, end));
            let change = DocumentChange { range: Some(range), text: insert.into() };
            version += 1;
            document.apply_changes(version, &[change], PositionEncoding::Utf16);
            let removed: String = model.splice(start..end, insert.chars()).collect();
            removed
        };
        let mut undo = Vec::new();
        for (start, len, insert) in edits {
            let start = start % (model.len() + 1);
            let end = (start + len).min(model.len());
            if splits_crlf(&model, start) || splits_crlf(&model, end) {
                continue;
            }
            let insert = INSERTS[insert];
            let removed = apply(&mut document, &mut model, start, end, insert);
            undo.push((start, start + insert.chars().count(), removed));
        }

        let edited: String = model.iter().collect();
        proptest::prop_assert_eq!(document.rope.to_string(), edited.clone());
        let incremental = document.syntax.as_ref().unwrap().dump();
        if let Err(mismatch) = points_match_bytes(&incremental, &edited) {
            proptest::prop_assert!(false, "{}", mismatch);
        }
        let fresh = SyntaxTree::parse_text(grammar, &edited).unwrap();
        if !fresh.has_error() {
            proptest::prop_assert_eq!(&incremental, &fresh.dump());
        }

        for (start, end, removed) in undo.into_iter().rev() {
            apply(&mut document, &mut model, start, end, &removed);
        }
        proptest::prop_assert_eq!(document.rope.to_string(), original.clone());
        let original_tree = SyntaxTree::parse_text(grammar, &original).unwrap();
        proptest::prop_assert_eq!(document.syntax.as_ref().unwrap().dump(), original_tree.dump());
    }
}
