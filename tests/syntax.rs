//! The syntax layer on real files in every supported language: the definition
//! around a cursor, where answers land, and incremental trees.

use aumatron_lsp::syntax::{Grammar, SyntaxTree};
use aumatron_lsp::task::language::Language;
use aumatron_lsp::task::placement::{self, Target};
use aumatron_lsp::task::{DraftForm, TaskKind, offer};
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
        edits in proptest::collection::vec(
            (0usize..4000, 0usize..12, 0usize..INSERTS.len(), proptest::bool::weighted(0.3)),
            1..25,
        ),
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
        proptest::prop_assert!(document.syntax().is_some());
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
        // Some edits are followed by a reader of the tree, which reparses it;
        // the others leave their tree edits to pile up for the next reparse.
        for (start, len, insert, read) in edits {
            let start = start % (model.len() + 1);
            let end = (start + len).min(model.len());
            if splits_crlf(&model, start) || splits_crlf(&model, end) {
                continue;
            }
            let insert = INSERTS[insert];
            let removed = apply(&mut document, &mut model, start, end, insert);
            undo.push((start, start + insert.chars().count(), removed));
            proptest::prop_assert!(document.syntax().is_none(), "a stale tree was handed out");
            if read {
                document.update_syntax();
            }
        }
        document.update_syntax();

        let edited: String = model.iter().collect();
        proptest::prop_assert_eq!(document.rope.to_string(), edited.clone());
        let incremental = document.syntax().unwrap().dump();
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
        document.update_syntax();
        let original_tree = SyntaxTree::parse_text(grammar, &original).unwrap();
        proptest::prop_assert_eq!(document.syntax().unwrap().dump(), original_tree.dump());
    }
}

/// The definition offered for a cursor at the first occurrence of `needle`
/// (plus `offset` chars) in a fixture.
fn definition_at(name: &str, language_id: &str, needle: &str, offset: usize) -> Option<String> {
    let text = fixture(name);
    let document = Document::new(format!("file:///{name}"), language_id.into(), 1, &text);
    let byte = text
        .find(needle)
        .unwrap_or_else(|| panic!("{needle:?} is not in {name}"));
    let cursor = document.rope.byte_to_char(byte) + offset;
    let tree = document.syntax().expect("a tree");
    aumatron_lsp::syntax::definition_at(tree, &document.rope, cursor).map(|d| d.subject())
}

#[test]
fn cursors_find_the_enclosing_definition_in_every_language() {
    let cases: &[(&str, &str, &str, usize, Option<&str>)] = &[
        // Rust: functions, methods in impls and traits, types, doc comments and
        // attributes above, indentation, the line's end.
        (
            "dates.rs",
            "rust",
            "(year % 4 == 0",
            3,
            Some("function `is_leap_year`"),
        ),
        (
            "dates.rs",
            "rust",
            "/// Parses `YYYY-MM-DD`.",
            5,
            Some("function `parse_date`"),
        ),
        (
            "dates.rs",
            "rust",
            "let mut parts",
            0,
            Some("function `parse_date`"),
        ),
        (
            "dates.rs",
            "rust",
            "        return Err(DateError::OutOfRange",
            0,
            Some("function `parse_date`"),
        ),
        (
            "dates.rs",
            "rust",
            "Date { day: self.day + 1",
            2,
            Some("method `next_day`"),
        ),
        (
            "dates.rs",
            "rust",
            "    /// The date one day later.",
            0,
            Some("method `next_day`"),
        ),
        (
            "dates.rs",
            "rust",
            "#[derive(Clone, Copy",
            4,
            Some("struct `Date`"),
        ),
        (
            "dates.rs",
            "rust",
            "pub month: u8",
            0,
            Some("struct `Date`"),
        ),
        (
            "dates.rs",
            "rust",
            "OutOfRange { month: u8",
            0,
            Some("enum `DateError`"),
        ),
        ("dates.rs", "rust", "write!(f,", 0, Some("method `fmt`")),
        (
            "dates.rs",
            "rust",
            "impl fmt::Display",
            2,
            Some("impl `fmt::Display for Date`"),
        ),
        (
            "dates.rs",
            "rust",
            "type Err = DateError;",
            0,
            Some("impl `FromStr for Date`"),
        ),
        (
            "dates.rs",
            "rust",
            "fn today(&self)",
            3,
            Some("method `today`"),
        ),
        (
            "dates.rs",
            "rust",
            "self.today().next_day()",
            0,
            Some("method `tomorrow`"),
        ),
        (
            "dates.rs",
            "rust",
            "assert!(is_leap_year(2000))",
            0,
            Some("function `leap_years`"),
        ),
        (
            "dates.rs",
            "rust",
            "use super::*;",
            0,
            Some("module `tests`"),
        ),
        ("dates.rs", "rust", "use std::fmt;", 0, None),
        ("dates.rs", "rust", "const DAYS_IN_MONTH", 0, None),
        // Python: methods, decorators, nested functions, async, docstrings.
        (
            "inventory.py",
            "python",
            "self.items = {}",
            0,
            Some("method `__init__`"),
        ),
        (
            "inventory.py",
            "python",
            "item.count += count",
            0,
            Some("method `add`"),
        ),
        (
            "inventory.py",
            "python",
            "@property",
            1,
            Some("method `total`"),
        ),
        (
            "inventory.py",
            "python",
            "@staticmethod",
            0,
            Some("method `from_rows`"),
        ),
        (
            "inventory.py",
            "python",
            "\"\"\"Items by name.\"\"\"",
            3,
            Some("class `Inventory`"),
        ),
        (
            "inventory.py",
            "python",
            "tags: list[str]",
            0,
            Some("class `Item`"),
        ),
        (
            "inventory.py",
            "python",
            "@dataclass",
            0,
            Some("class `Item`"),
        ),
        (
            "inventory.py",
            "python",
            "raise FileNotFoundError",
            0,
            Some("function `load_csv`"),
        ),
        (
            "inventory.py",
            "python",
            "return item.count < threshold",
            0,
            Some("function `is_low`"),
        ),
        (
            "inventory.py",
            "python",
            "return [item.name",
            0,
            Some("function `low_stock`"),
        ),
        (
            "inventory.py",
            "python",
            "async for",
            0,
            Some("function `refresh`"),
        ),
        ("inventory.py", "python", "import csv", 0, None),
        // JavaScript: classes, methods, getters, exported and arrow functions.
        (
            "cart.js",
            "javascript",
            "this.owner = owner",
            0,
            Some("constructor `constructor`"),
        ),
        (
            "cart.js",
            "javascript",
            "line.quantity += quantity",
            0,
            Some("method `add`"),
        ),
        (
            "cart.js",
            "javascript",
            "get subtotal",
            4,
            Some("method `subtotal`"),
        ),
        (
            "cart.js",
            "javascript",
            "static fromJSON",
            0,
            Some("method `fromJSON`"),
        ),
        (
            "cart.js",
            "javascript",
            "export class Cart",
            0,
            Some("class `Cart`"),
        ),
        (
            "cart.js",
            "javascript",
            "cart.subtotal >= FREE",
            0,
            Some("function `shippingCost`"),
        ),
        (
            "cart.js",
            "javascript",
            "Math.round",
            0,
            Some("function `applyDiscount`"),
        ),
        (
            "cart.js",
            "javascript",
            "yield line",
            0,
            Some("function `lineNames`"),
        ),
        (
            "cart.js",
            "javascript",
            "formatPrice(total)",
            0,
            Some("function `receipt`"),
        ),
        ("cart.js", "javascript", "import { formatPrice }", 0, None),
        // TypeScript: interfaces, types, enums, decorated classes, namespaces.
        (
            "queue.ts",
            "typescript",
            "attempts: number;",
            0,
            Some("interface `Job`"),
        ),
        (
            "queue.ts",
            "typescript",
            "export type Handler",
            0,
            Some("type `Handler`"),
        ),
        (
            "queue.ts",
            "typescript",
            "Running,",
            0,
            Some("enum `State`"),
        ),
        (
            "queue.ts",
            "typescript",
            "@sealed",
            0,
            Some("class `JobQueue`"),
        ),
        (
            "queue.ts",
            "typescript",
            "private pending",
            0,
            Some("class `JobQueue`"),
        ),
        (
            "queue.ts",
            "typescript",
            "super();",
            0,
            Some("constructor `constructor`"),
        ),
        (
            "queue.ts",
            "typescript",
            "this.emit(\"queued\"",
            0,
            Some("method `enqueue`"),
        ),
        (
            "queue.ts",
            "typescript",
            "job.attempts += 1",
            0,
            Some("method `drain`"),
        ),
        (
            "queue.ts",
            "typescript",
            "Math.min(1000",
            0,
            Some("function `retryDelay`"),
        ),
        (
            "queue.ts",
            "typescript",
            "done / seconds",
            0,
            Some("function `rate`"),
        ),
        (
            "queue.ts",
            "typescript",
            "namespace Metrics",
            0,
            Some("namespace `Metrics`"),
        ),
        // TSX: components as functions, arrows and classes.
        (
            "counter.tsx",
            "typescriptreact",
            "<button onClick={increment}>",
            0,
            Some("function `Counter`"),
        ),
        (
            "counter.tsx",
            "typescriptreact",
            "setCount((c) => c + 1)",
            0,
            Some("function `increment`"),
        ),
        (
            "counter.tsx",
            "typescriptreact",
            "Reset</button>",
            0,
            Some("function `Reset`"),
        ),
        (
            "counter.tsx",
            "typescriptreact",
            "this.props.title",
            0,
            Some("method `render`"),
        ),
        (
            "counter.tsx",
            "typescriptreact",
            "start?: number",
            0,
            Some("type `CounterProps`"),
        ),
        // Go: functions, methods, struct and interface types, closures.
        (
            "server.go",
            "go",
            "return &Store{",
            0,
            Some("function `NewStore`"),
        ),
        (
            "server.go",
            "go",
            "// NewStore returns",
            3,
            Some("function `NewStore`"),
        ),
        (
            "server.go",
            "go",
            "defer s.mu.RUnlock()",
            0,
            Some("method `Get`"),
        ),
        (
            "server.go",
            "go",
            "s.data[key] = value",
            0,
            Some("method `Set`"),
        ),
        (
            "server.go",
            "go",
            "mu   sync.RWMutex",
            0,
            Some("struct `Store`"),
        ),
        (
            "server.go",
            "go",
            "Get(key string) (string, bool)\n}",
            0,
            Some("interface `Getter`"),
        ),
        (
            "server.go",
            "go",
            "http.NotFound(w, r)",
            0,
            Some("function `Handler`"),
        ),
        ("server.go", "go", "\"net/http\"", 0, None),
        // C: functions through pointer declarators, structs, typedef enums.
        (
            "ring.c",
            "c",
            "p <<= 1;",
            0,
            Some("function `next_power_of_two`"),
        ),
        (
            "ring.c",
            "c",
            "r->cap = next_power_of_two",
            0,
            Some("function `ring_new`"),
        ),
        (
            "ring.c",
            "c",
            "return RING_FULL;",
            0,
            Some("function `ring_push`"),
        ),
        (
            "ring.c",
            "c",
            "*out = r->data",
            0,
            Some("function `ring_pop`"),
        ),
        (
            "ring.c",
            "c",
            "free(r->data);",
            0,
            Some("function `ring_free`"),
        ),
        ("ring.c", "c", "size_t head;", 0, Some("struct `ring`")),
        (
            "ring.c",
            "c",
            "RING_FULL, RING_EMPTY",
            0,
            Some("enum `ring_status`"),
        ),
        ("ring.c", "c", "#include <string.h>", 0, None),
        // C++: namespaces, templates, classes, methods in and out of the class.
        (
            "matrix.cpp",
            "cpp",
            "assert(r < rows_",
            0,
            Some("method `at`"),
        ),
        (
            "matrix.cpp",
            "cpp",
            "return rows_; }",
            0,
            Some("method `rows`"),
        ),
        (
            "matrix.cpp",
            "cpp",
            "std::vector<T> data_;",
            0,
            Some("class `Matrix`"),
        ),
        (
            "matrix.cpp",
            "cpp",
            "Matrix result(rows_",
            0,
            Some("method `Matrix<T>::operator*`"),
        ),
        (
            "matrix.cpp",
            "cpp",
            "double x, y;",
            0,
            Some("struct `Point`"),
        ),
        (
            "matrix.cpp",
            "cpp",
            "return a.x * b.x",
            0,
            Some("function `dot`"),
        ),
        (
            "matrix.cpp",
            "cpp",
            "return out <<",
            0,
            Some("function `operator<<`"),
        ),
        (
            "matrix.cpp",
            "cpp",
            "namespace linalg {",
            0,
            Some("namespace `linalg`"),
        ),
        // Java: methods with annotations, constructors, records, nested types.
        (
            "Library.java",
            "java",
            "books.add(book);",
            0,
            Some("method `lend`"),
        ),
        (
            "Library.java",
            "java",
            "@Deprecated",
            0,
            Some("method `findByTitle`"),
        ),
        (
            "Library.java",
            "java",
            "late.add(book);",
            0,
            Some("method `overdue`"),
        ),
        (
            "Library.java",
            "java",
            "public Library() {",
            0,
            Some("constructor `Library`"),
        ),
        (
            "Library.java",
            "java",
            "public record Book",
            0,
            Some("record `Book`"),
        ),
        (
            "Library.java",
            "java",
            "void remind",
            0,
            Some("method `remind`"),
        ),
        (
            "Library.java",
            "java",
            "interface Notifier",
            0,
            Some("interface `Notifier`"),
        ),
        (
            "Library.java",
            "java",
            "AVAILABLE, LENT",
            0,
            Some("enum `Status`"),
        ),
        (
            "Library.java",
            "java",
            "private final List<Book> books",
            0,
            Some("class `Library`"),
        ),
        ("Library.java", "java", "import java.util.List;", 0, None),
        // Lua: module functions, methods, local functions, function values.
        (
            "stack.lua",
            "lua",
            "self.items = {}",
            0,
            Some("function `Stack.new`"),
        ),
        (
            "stack.lua",
            "lua",
            "error(\"stack is full\")",
            0,
            Some("method `Stack:push`"),
        ),
        (
            "stack.lua",
            "lua",
            "table.remove",
            0,
            Some("method `Stack:pop`"),
        ),
        (
            "stack.lua",
            "lua",
            "string.format",
            0,
            Some("function `describe`"),
        ),
        (
            "stack.lua",
            "lua",
            "stack.items[#stack.items]",
            0,
            Some("function `peek`"),
        ),
        ("stack.lua", "lua", "local DEFAULT_LIMIT", 0, None),
        // Markdown: the innermost section.
        (
            "guide.md",
            "markdown",
            "This guide explains",
            0,
            Some("section `Release guide`"),
        ),
        (
            "guide.md",
            "markdown",
            "cargo test --release",
            0,
            Some("section `Preparing`"),
        ),
        (
            "guide.md",
            "markdown",
            "Tag the release",
            0,
            Some("section `Tagging`"),
        ),
        (
            "guide.md",
            "markdown",
            "- fixes",
            0,
            Some("section `Announcing`"),
        ),
    ];
    let mut wrong = Vec::new();
    for &(name, language_id, needle, offset, expected) in cases {
        let found = definition_at(name, language_id, needle, offset);
        if found.as_deref() != expected {
            wrong.push(format!(
                "{name} at {needle:?}: expected {expected:?}, found {found:?}"
            ));
        }
    }
    assert!(wrong.is_empty(), "\n{}", wrong.join("\n"));
}

/// The fixture after an answer of `kind` and `form` is put in for the definition
/// at `needle`, as the code action would run it; returns the lines around it.
fn placed(
    name: &str,
    language_id: &str,
    needle: &str,
    kind: TaskKind,
    form: DraftForm,
    answer: &str,
) -> String {
    let text = fixture(name);
    let document = Document::new(format!("file:///{name}"), language_id.into(), 1, &text);
    let cursor = document.rope.byte_to_char(text.find(needle).unwrap());
    let offers = offer::offers(&document, name, cursor..cursor);
    let offer = offers
        .iter()
        .find(|offer| offer.kind == kind && offer.form == form)
        .unwrap_or_else(|| {
            panic!("no {kind:?} {form:?} offer at {needle:?} in {name}: {offers:?}")
        });
    let language = Language::detect(language_id, name);
    let target = Target {
        rope: &document.rope,
        tree: document.syntax(),
        language: &language,
    };
    let insertion = placement::insertion(target, offer.chars.clone(), kind, form, answer);
    let mut rope = document.rope.clone();
    rope.insert(insertion.at, &insertion.text);
    // The inserted lines, the line before and the two after.
    let first = rope.char_to_line(insertion.at);
    let last = rope.char_to_line(insertion.at + insertion.text.chars().count());
    (first.saturating_sub(1)..(last + 2).min(rope.len_lines()))
        .map(|line| rope.line(line).to_string())
        .collect()
}

const DOC: &str = "Returns the thing.\n\nIt never fails.";

#[test]
fn doc_comments_land_in_each_languages_place_and_syntax() {
    let doc = |name, language_id, needle| {
        placed(
            name,
            language_id,
            needle,
            TaskKind::Draft,
            DraftForm::DocComment,
            DOC,
        )
    };
    assert_eq!(
        doc("dates.rs", "rust", "fn days_in_month"),
        "\n/// Returns the thing.\n///\n/// It never fails.\nfn days_in_month(year: i32, month: u8) -> u8 {\n    if month == 2 && is_leap_year(year) {\n"
    );
    // Inside the method, above its attributes' level: a method in an impl.
    assert_eq!(
        doc("dates.rs", "rust", "parse_date(&format!"),
        "impl Date {\n    /// Returns the thing.\n    ///\n    /// It never fails.\n    pub fn new(year: i32, month: u8, day: u8) -> Result<Date, DateError> {\n        parse_date(&format!(\"{year:04}-{month:02}-{day:02}\"))\n"
    );
    assert_eq!(
        doc("inventory.py", "python", "item.count += count"),
        "    def add(self, name, count=1):\n        \"\"\"Returns the thing.\n\n        It never fails.\n        \"\"\"\n        item = self.items.setdefault(name, Item(name))\n        item.count += count\n"
    );
    // A decorated method: the docstring still goes inside the body.
    assert_eq!(
        placed(
            "inventory.py",
            "python",
            "return sum(",
            TaskKind::Draft,
            DraftForm::DocComment,
            "Total count."
        ),
        "    def total(self):\n        \"\"\"Total count.\"\"\"\n        return sum(item.count for item in self.items.values())\n\n"
    );
    assert_eq!(
        doc("cart.js", "javascript", "cart.subtotal >= FREE"),
        "\n/**\n * Returns the thing.\n *\n * It never fails.\n */\nexport function shippingCost(cart) {\n  return cart.subtotal >= FREE_SHIPPING_OVER ? 0 : 4.99;\n"
    );
    assert_eq!(
        doc("queue.ts", "typescript", "this.emit(\"queued\""),
        "\n  /**\n   * Returns the thing.\n   *\n   * It never fails.\n   */\n  enqueue(payload: T): Job<T> {\n    const job = { id: crypto.randomUUID(), payload, attempts: 0 };\n"
    );
    // Above the decorator of a decorated, exported class.
    assert_eq!(
        doc("queue.ts", "typescript", "private pending"),
        "\n/**\n * Returns the thing.\n *\n * It never fails.\n */\n@sealed\nexport class JobQueue<T> extends EventEmitter {\n"
    );
    assert_eq!(
        doc("counter.tsx", "typescriptreact", "Reset</button>"),
        "\n/**\n * Returns the thing.\n *\n * It never fails.\n */\nexport const Reset = ({ onReset }: { onReset: () => void }) => (\n  <button onClick={onReset}>Reset</button>\n"
    );
    assert_eq!(
        doc("server.go", "go", "s.data[key] = value"),
        "\n// Returns the thing.\n//\n// It never fails.\nfunc (s *Store) Set(key, value string) {\n\ts.mu.Lock()\n"
    );
    assert_eq!(
        doc("ring.c", "c", "return RING_FULL;"),
        "\n/**\n * Returns the thing.\n *\n * It never fails.\n */\nring_status ring_push(struct ring *r, unsigned char byte)\n{\n"
    );
    // A method template defined outside its class: above the template line.
    assert_eq!(
        doc("matrix.cpp", "cpp", "Matrix result(rows_"),
        "\n/**\n * Returns the thing.\n *\n * It never fails.\n */\ntemplate <typename T>\nMatrix<T> Matrix<T>::operator*(const Matrix& other) const {\n"
    );
    // Javadoc goes above the annotations.
    assert_eq!(
        doc("Library.java", "java", "@Deprecated"),
        "\n    /**\n     * Returns the thing.\n     *\n     * It never fails.\n     */\n    @Deprecated\n    public Optional<Book> findByTitle(String title) {\n"
    );
    assert_eq!(
        doc("stack.lua", "lua", "table.remove"),
        "\n--- Returns the thing.\n---\n--- It never fails.\nfunction Stack:pop()\n  return table.remove(self.items)\n"
    );
}

#[test]
fn explanations_go_above_doc_comments_attributes_and_decorators() {
    let explain = |name, language_id, needle| {
        placed(
            name,
            language_id,
            needle,
            TaskKind::Explain,
            DraftForm::Code,
            "It works.",
        )
    };
    assert_eq!(
        explain("dates.rs", "rust", "#[derive(Clone, Copy"),
        "\n// Explanation (aumatron):\n// It works.\n/// A calendar date in the proleptic Gregorian calendar.\n#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]\n"
    );
    assert_eq!(
        explain("inventory.py", "python", "@staticmethod"),
        "\n    # Explanation (aumatron):\n    # It works.\n    @staticmethod\n    def from_rows(rows: Iterable[list[str]]) -> \"Inventory\":\n"
    );
    assert_eq!(
        explain("server.go", "go", "return &Store{"),
        "\n// Explanation (aumatron):\n// It works.\n// NewStore returns an empty store.\nfunc NewStore() *Store {\n"
    );
    assert_eq!(
        explain("guide.md", "markdown", "Tag the release"),
        "\n<!--\nSummary (aumatron):\nIt works.\n-->\n### Tagging\n\n"
            .replace("Summary", "Explanation")
    );
    assert_eq!(
        placed(
            "Library.java",
            "java",
            "late.add",
            TaskKind::Summarise,
            DraftForm::Code,
            "Lists late books."
        ),
        "\n    // Summary (aumatron):\n    // Lists late books.\n    public List<Book> overdue(LocalDate today) {\n        List<Book> late = new ArrayList<>();\n"
    );
}
