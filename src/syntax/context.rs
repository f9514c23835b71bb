//! What an explanation of a selection may need from the rest of its file: the
//! signatures of the definitions around it, the imports it uses, and the nearby
//! definitions whose names it mentions. This module only finds candidates, in
//! order of priority; `task::context` decides how many fit.

use std::collections::HashSet;
use std::ops::Range;

use ropey::Rope;
use tree_sitter::Node;

use super::items::{Definition, DefinitionKind, definitions, enclosing_definitions, node_text};
use super::{Grammar, SyntaxTree};

/// Definitions of types longer than this many lines are quoted by their head only.
const WHOLE_TYPE_LINES: usize = 30;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ContextKind {
    /// The head of a definition around the selection.
    Enclosing,
    /// An import whose names the selection uses.
    Import,
    /// A definition elsewhere in the file whose name the selection uses.
    Definition,
}

impl ContextKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ContextKind::Enclosing => "enclosing",
            ContextKind::Import => "import",
            ContextKind::Definition => "definition",
        }
    }
}

/// A piece of the file that may help explain a selection.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ContextItem {
    pub kind: ContextKind,
    /// What it is, for the log: "function `parse_date`", "use std::fmt;".
    pub name: String,
    /// The text to quote.
    pub text: String,
    /// Where it is in the file (chars), to quote items in file order.
    pub chars: Range<usize>,
}

/// Candidates for explaining `selection` (chars), most useful first.
pub fn explain_candidates(
    tree: &SyntaxTree,
    rope: &Rope,
    selection: Range<usize>,
) -> Vec<ContextItem> {
    let grammar = tree.grammar();
    let start_byte = rope.char_to_byte(selection.start);
    let end_byte = rope.char_to_byte(selection.end);
    let inside =
        |chars: &Range<usize>| selection.start <= chars.start && chars.end <= selection.end;
    let overlaps =
        |chars: &Range<usize>| chars.start < selection.end && selection.start < chars.end;

    let enclosing: Vec<Definition> = enclosing_definitions(tree, rope, selection.clone())
        .into_iter()
        .filter(|definition| !inside(&definition.chars))
        .filter(|definition| !covers_same_lines(rope, &definition.chars, &selection))
        .collect();
    let mut used = identifiers_in(tree.root(), rope, start_byte, end_byte);
    for definition in &enclosing {
        used.extend(words(&definition.name));
    }

    let mut items = Vec::new();
    for definition in &enclosing {
        items.push(ContextItem {
            kind: ContextKind::Enclosing,
            name: definition.subject(),
            text: definition.signature_text(rope),
            chars: definition.signature.clone(),
        });
    }

    let (used_imports, includes): (Vec<Node>, Vec<Node>) = imports(grammar, rope, tree.root())
        .into_iter()
        .filter(|node| node.end_byte() <= start_byte || node.start_byte() >= end_byte)
        .partition(|node| !matches!(node.kind(), "preproc_include"));
    for node in used_imports {
        let names = identifiers_in(node, rope, node.start_byte(), node.end_byte());
        if names
            .iter()
            .any(|name| used.contains(name) && !is_path_root(name))
        {
            items.push(import_item(rope, node));
        }
    }

    let mut nearby: Vec<Definition> = definitions(tree, rope)
        .into_iter()
        .filter(|definition| !overlaps(&definition.chars))
        .filter(|definition| {
            !matches!(
                definition.kind,
                DefinitionKind::Impl
                    | DefinitionKind::Module
                    | DefinitionKind::Namespace
                    | DefinitionKind::Section
            )
        })
        .filter(|definition| used.contains(last_word(&definition.name)))
        .collect();
    nearby.sort_by_key(|definition| distance(&definition.chars, &selection));
    for definition in nearby {
        let whole_lines =
            rope.char_to_line(definition.chars.end) - rope.char_to_line(definition.chars.start);
        let quote = if definition.kind.is_callable() || whole_lines > WHOLE_TYPE_LINES {
            definition.comments_start..definition.signature.end
        } else {
            definition.comments_start..definition.chars.end
        };
        items.push(ContextItem {
            kind: ContextKind::Definition,
            name: definition.subject(),
            text: rope.slice(quote.clone()).to_string().trim_end().to_owned(),
            chars: quote,
        });
    }

    // C and C++ headers cannot be matched to names; they go last.
    for node in includes {
        items.push(import_item(rope, node));
    }
    items
}

fn import_item(rope: &Rope, node: Node) -> ContextItem {
    let text = node_text(rope, node).trim_end().to_owned();
    ContextItem {
        kind: ContextKind::Import,
        name: text.lines().next().unwrap_or_default().to_owned(),
        text,
        chars: rope.byte_to_char(node.start_byte())..rope.byte_to_char(node.end_byte()),
    }
}

/// Whether a definition stands on the same lines as the selection (so it is the
/// selection, snapped).
fn covers_same_lines(rope: &Rope, chars: &Range<usize>, selection: &Range<usize>) -> bool {
    let line = |char_idx: usize| rope.char_to_line(char_idx);
    let last = |range: &Range<usize>| line(range.end.saturating_sub(1).max(range.start));
    line(chars.start) == line(selection.start) && last(chars) == last(selection)
}

fn distance(chars: &Range<usize>, selection: &Range<usize>) -> usize {
    if chars.end <= selection.start {
        selection.start - chars.end
    } else {
        chars.start.saturating_sub(selection.end)
    }
}

/// Names so common as the first part of a path that they say nothing.
fn is_path_root(name: &str) -> bool {
    matches!(
        name,
        "std" | "crate" | "self" | "super" | "core" | "alloc" | "java" | "javax"
    )
}

fn words(name: &str) -> impl Iterator<Item = String> + '_ {
    name.split(|c: char| !(c.is_alphanumeric() || c == '_'))
        .filter(|word| !word.is_empty() && *word != "for")
        .map(str::to_owned)
}

/// The last identifier of a dotted or qualified name: `Stack:push` → `push`.
fn last_word(name: &str) -> &str {
    name.rsplit(|c: char| !(c.is_alphanumeric() || c == '_'))
        .find(|word| !word.is_empty())
        .unwrap_or(name)
}

/// The identifier-like leaves between two bytes under `node`.
fn identifiers_in(node: Node, rope: &Rope, start: usize, end: usize) -> HashSet<String> {
    let mut found = HashSet::new();
    let mut cursor = node.walk();
    'walk: loop {
        let current = cursor.node();
        let in_range = current.end_byte() > start && current.start_byte() < end;
        if in_range && current.child_count() == 0 && current.kind().contains("identifier") {
            found.insert(node_text(rope, current));
        }
        if in_range && cursor.goto_first_child() {
            continue;
        }
        loop {
            if cursor.goto_next_sibling() {
                continue 'walk;
            }
            if !cursor.goto_parent() || cursor.node().id() == node.id() {
                break 'walk;
            }
        }
    }
    found
}

/// The import statements of a file, wherever they are.
fn imports<'tree>(grammar: Grammar, rope: &Rope, root: Node<'tree>) -> Vec<Node<'tree>> {
    let kinds: &[&str] = match grammar {
        Grammar::Rust => &["use_declaration", "extern_crate_declaration"],
        Grammar::Python => &["import_statement", "import_from_statement"],
        Grammar::JavaScript | Grammar::TypeScript | Grammar::Tsx => &["import_statement"],
        Grammar::Go => &["import_spec"],
        Grammar::C | Grammar::Cpp => &["preproc_include", "using_declaration"],
        Grammar::Java => &["import_declaration"],
        Grammar::Lua => &["variable_declaration"],
        Grammar::Markdown => &[],
    };
    let mut found = Vec::new();
    super::walk(root, |node| {
        let mut descend = true;
        if kinds.contains(&node.kind()) {
            descend = false;
            if grammar != Grammar::Lua || is_lua_require(rope, node) {
                found.push(node);
            }
        } else if node.kind().contains("string") || node.kind().contains("comment") {
            descend = false;
        }
        // Imports live at the top of files and modules, not inside functions.
        if matches!(
            node.kind(),
            "function_item"
                | "function_definition"
                | "function_declaration"
                | "method_definition"
                | "method_declaration"
                | "block"
                | "statement_block"
                | "compound_statement"
        ) && grammar != Grammar::Go
        {
            descend = false;
        }
        descend
    });
    found
}

/// `local json = require("json")`.
fn is_lua_require(rope: &Rope, node: Node) -> bool {
    let mut cursor = node.walk();
    let mut stack = vec![node];
    while let Some(current) = stack.pop() {
        if current.kind() == "function_call" {
            let name = current.child_by_field_name("name");
            if name.is_some_and(|name| node_text(rope, name) == "require") {
                return true;
            }
        }
        stack.extend(current.named_children(&mut cursor));
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_method_gets_its_impl_its_type_and_the_functions_it_calls() {
        let text = "use std::fmt;\nuse std::collections::HashMap;\n\n\
                    /// Doubles.\nfn double(x: u32) -> u32 {\n    x * 2\n}\n\n\
                    struct Counter {\n    counts: HashMap<String, u32>,\n}\n\n\
                    impl Counter {\n    fn bump(&mut self, key: &str) {\n        \
                    let n = self.counts.entry(key.into()).or_insert(0);\n        \
                    *n = double(*n);\n    }\n}\n";
        let rope = Rope::from_str(text);
        let tree = SyntaxTree::parse(Grammar::Rust, &rope).unwrap();
        let start = rope.byte_to_char(text.find("        let n").unwrap());
        let end = rope.byte_to_char(text.find("    }\n}").unwrap());
        let items = explain_candidates(&tree, &rope, start..end);
        let names: Vec<(ContextKind, &str)> = items
            .iter()
            .map(|item| (item.kind, item.name.as_str()))
            .collect();
        assert_eq!(
            names,
            [
                (ContextKind::Enclosing, "method `bump`"),
                (ContextKind::Enclosing, "impl `Counter`"),
                (ContextKind::Definition, "struct `Counter`"),
                (ContextKind::Definition, "function `double`"),
            ]
        );
        assert_eq!(items[0].text, "fn bump(&mut self, key: &str)");
        assert_eq!(items[3].text, "/// Doubles.\nfn double(x: u32) -> u32");
        // HashMap is used by the struct, not by the selection: not included.
        assert!(
            !items
                .iter()
                .any(|item| item.text.contains("HashMap<") && item.kind == ContextKind::Import)
        );
    }
}
