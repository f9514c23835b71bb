//! Definitions: the functions, methods, classes, types and sections a document is
//! made of, found by what each grammar calls them.
//!
//! A definition's range covers what belongs to it when it is moved or explained:
//! its attributes or decorators, the `export` or `template` around it, and its
//! body. The comments right above it are not in the range, but
//! [`Definition::comments_start`] says where they begin, so that an answer put
//! "above" the definition goes above them too.

use std::ops::Range;

use ropey::Rope;
use tree_sitter::Node;

use super::{Grammar, SyntaxTree};

/// What kind of definition a node is, as a user would call it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DefinitionKind {
    Function,
    Method,
    Constructor,
    Class,
    Struct,
    Union,
    Enum,
    Trait,
    Impl,
    Interface,
    Type,
    Record,
    Module,
    Namespace,
    Macro,
    Section,
}

impl DefinitionKind {
    pub fn label(self) -> &'static str {
        match self {
            DefinitionKind::Function => "function",
            DefinitionKind::Method => "method",
            DefinitionKind::Constructor => "constructor",
            DefinitionKind::Class => "class",
            DefinitionKind::Struct => "struct",
            DefinitionKind::Union => "union",
            DefinitionKind::Enum => "enum",
            DefinitionKind::Trait => "trait",
            DefinitionKind::Impl => "impl",
            DefinitionKind::Interface => "interface",
            DefinitionKind::Type => "type",
            DefinitionKind::Record => "record",
            DefinitionKind::Module => "module",
            DefinitionKind::Namespace => "namespace",
            DefinitionKind::Macro => "macro",
            DefinitionKind::Section => "section",
        }
    }

    /// Whether the definition is something that runs (and so has a signature
    /// worth quoting on its own), rather than a type or a container.
    pub fn is_callable(self) -> bool {
        matches!(
            self,
            DefinitionKind::Function
                | DefinitionKind::Method
                | DefinitionKind::Constructor
                | DefinitionKind::Macro
        )
    }
}

/// One definition in a document. Ranges are char indices into the rope it was
/// found in.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Definition {
    pub kind: DefinitionKind,
    pub name: String,
    /// The definition with its attributes, decorators and wrappers.
    pub chars: Range<usize>,
    /// Where the comments directly above it begin; `chars.start` when there are none.
    pub comments_start: usize,
    /// The head: from the start of `chars` to the body (the whole definition when
    /// it has no body).
    pub signature: Range<usize>,
    /// The block or member list, when it has one.
    pub body: Option<Range<usize>>,
    /// Whether it already has a doc comment or docstring.
    pub documented: bool,
}

impl Definition {
    /// How titles name it: "function `parse_date`".
    pub fn subject(&self) -> String {
        format!("{} `{}`", self.kind.label(), self.name)
    }

    /// The head as text, without the whitespace before the body.
    pub fn signature_text(&self, rope: &Rope) -> String {
        rope.slice(self.signature.clone())
            .to_string()
            .trim_end()
            .to_owned()
    }
}

/// The innermost definition around a cursor. A cursor in the indentation of a
/// line, or after its last character, counts as on the line's text; a cursor in
/// the comments or attributes right above a definition belongs to it.
pub fn definition_at(tree: &SyntaxTree, rope: &Rope, cursor: usize) -> Option<Definition> {
    let probe = probe_byte(rope, cursor.min(rope.len_chars()));
    let node = tree
        .root()
        .descendant_for_byte_range(probe, probe)
        .unwrap_or_else(|| tree.root());
    innermost_from(tree.grammar(), rope, node)
}

/// The definitions that contain all of `chars`, innermost first.
pub fn enclosing_definitions(
    tree: &SyntaxTree,
    rope: &Rope,
    chars: Range<usize>,
) -> Vec<Definition> {
    let start = rope.char_to_byte(chars.start);
    let end = rope.char_to_byte(chars.end);
    let Some(node) = tree.root().descendant_for_byte_range(start, end) else {
        return Vec::new();
    };
    let grammar = tree.grammar();
    let mut found: Vec<Definition> = Vec::new();
    let mut current = Some(node);
    while let Some(node) = current {
        if let Some(definition) = definition_of(grammar, rope, node) {
            let covers = definition.chars.start <= chars.start && chars.end <= definition.chars.end;
            if covers
                && found
                    .last()
                    .is_none_or(|last| last.chars != definition.chars)
            {
                found.push(definition);
            }
        }
        current = node.parent();
    }
    found
}

/// Every definition in the document, in order of their start.
pub fn definitions(tree: &SyntaxTree, rope: &Rope) -> Vec<Definition> {
    let grammar = tree.grammar();
    let mut found = Vec::new();
    let mut seen_ranges = std::collections::HashSet::new();
    super::walk(tree.root(), |node| {
        if let Some(definition) = direct_definition(grammar, rope, node) {
            if seen_ranges.insert(definition.chars.clone()) {
                found.push(definition);
            }
            true
        } else {
            !is_leafy(grammar, node)
        }
    });
    found.sort_by_key(|definition| definition.chars.start);
    found
}

/// Nodes that never hold a definition worth listing, skipped for speed.
fn is_leafy(grammar: Grammar, node: Node) -> bool {
    if node.child_count() == 0 {
        return true;
    }
    let kind = node.kind();
    kind.contains("string")
        || kind.contains("comment")
        || matches!(
            (grammar, kind),
            (
                Grammar::Markdown,
                "paragraph" | "fenced_code_block" | "list"
            ) | (
                _,
                "import_statement" | "use_declaration" | "preproc_include"
            )
        )
}

/// The byte whose node a cursor is taken to be on.
fn probe_byte(rope: &Rope, cursor: usize) -> usize {
    let line = rope.char_to_line(cursor);
    let line_start = rope.line_to_char(line);
    let content: Vec<char> = rope
        .line(line)
        .chars()
        .take_while(|c| *c != '\n' && *c != '\r')
        .collect();
    let column = cursor - line_start;
    let first_text = content.iter().position(|c| !c.is_whitespace());
    let last_text = content.iter().rposition(|c| !c.is_whitespace());
    let char_idx = match (first_text, last_text) {
        (Some(first), _) if column <= first => line_start + first,
        (_, Some(last)) if column > last => line_start + last,
        _ => cursor,
    };
    rope.char_to_byte(char_idx)
}

fn innermost_from(grammar: Grammar, rope: &Rope, node: Node) -> Option<Definition> {
    let mut current = Some(node);
    while let Some(node) = current {
        if let Some(definition) = definition_of(grammar, rope, node) {
            return Some(definition);
        }
        if is_attachable(grammar, node)
            && let Some(definition) = attached_definition_after(grammar, rope, node)
        {
            return Some(definition);
        }
        current = node.parent();
    }
    None
}

/// For a comment, attribute or decorator: the definition it sits directly above.
fn attached_definition_after(grammar: Grammar, rope: &Rope, node: Node) -> Option<Definition> {
    let mut last = node;
    let mut next = node.next_named_sibling();
    while let Some(sibling) = next {
        if !directly_follows(rope, last, sibling) {
            return None;
        }
        if !is_attachable(grammar, sibling) {
            return definition_of(grammar, rope, sibling);
        }
        last = sibling;
        next = sibling.next_named_sibling();
    }
    None
}

/// Comments, attributes and decorators that precede what they belong to.
fn is_attachable(grammar: Grammar, node: Node) -> bool {
    is_comment(node) || is_attribute(grammar, node)
}

fn is_comment(node: Node) -> bool {
    matches!(node.kind(), "comment" | "line_comment" | "block_comment")
}

fn is_attribute(grammar: Grammar, node: Node) -> bool {
    matches!(
        (grammar, node.kind()),
        (Grammar::Rust, "attribute_item")
            | (
                Grammar::TypeScript | Grammar::Tsx | Grammar::JavaScript,
                "decorator"
            )
    )
}

/// Whether `next` starts on the line after `previous` ends, or the same line,
/// with no blank line between them.
fn directly_follows(rope: &Rope, previous: Node, next: Node) -> bool {
    let gap = rope.byte_slice(previous.end_byte()..next.start_byte());
    let newlines = gap.chars().filter(|c| *c == '\n').count();
    // A Rust line comment ends after its own line break.
    let previous_ends_line =
        previous.end_byte() > previous.start_byte() && rope.byte(previous.end_byte() - 1) == b'\n';
    newlines + usize::from(previous_ends_line) <= 1 && gap.chars().all(char::is_whitespace)
}

/// The definition a node is, or wraps (an `export`, a decorated definition, a
/// `template`, a `typedef`, a declaration of a function-valued variable).
fn definition_of(grammar: Grammar, rope: &Rope, node: Node) -> Option<Definition> {
    if let Some(definition) = direct_definition(grammar, rope, node) {
        return Some(definition);
    }
    let inner = wrapped(grammar, node)?;
    direct_definition(grammar, rope, inner)
}

/// The node inside a wrapper that is the definition proper.
fn wrapped<'tree>(grammar: Grammar, node: Node<'tree>) -> Option<Node<'tree>> {
    match (grammar, node.kind()) {
        (Grammar::Python, "decorated_definition") => node.child_by_field_name("definition"),
        (_, "export_statement") => node.child_by_field_name("declaration"),
        (Grammar::Cpp, "template_declaration") => last_named_child(node),
        (Grammar::C | Grammar::Cpp, "type_definition" | "declaration") => {
            node.child_by_field_name("type")
        }
        (
            Grammar::JavaScript | Grammar::TypeScript | Grammar::Tsx,
            "lexical_declaration" | "variable_declaration",
        ) => single_named_child(node, "variable_declarator"),
        (Grammar::Go, "type_declaration") => single_named_child(node, "type_spec"),
        (Grammar::Lua, "variable_declaration") => single_named_child(node, "assignment_statement"),
        _ => None,
    }
}

fn last_named_child(node: Node) -> Option<Node> {
    let count = node.named_child_count();
    (0..count)
        .rev()
        .filter_map(|i| node.named_child(i as u32))
        .find(|child| !is_comment(*child))
}

fn single_named_child<'tree>(node: Node<'tree>, kind: &str) -> Option<Node<'tree>> {
    let mut cursor = node.walk();
    let mut matching = node
        .named_children(&mut cursor)
        .filter(|child| child.kind() == kind);
    let first = matching.next()?;
    matching.next().is_none().then_some(first)
}

/// The definition a node is itself, with its range widened to its wrappers.
fn direct_definition(grammar: Grammar, rope: &Rope, node: Node) -> Option<Definition> {
    let (kind, name) = kind_and_name(grammar, rope, node)?;
    let item = widen(grammar, node);
    let start = leading_attributes_start(grammar, rope, item);
    let comments_start = leading_comments_start(grammar, rope, item, start);
    let body = body_of(grammar, node);
    let head_end = body.map_or(item.end_byte(), |body| body.start_byte());
    let documented = is_documented(grammar, rope, item, comments_start, body);
    let to_char = |byte: usize| rope.byte_to_char(byte);
    Some(Definition {
        kind,
        name,
        chars: to_char(start)..to_char(item.end_byte()),
        comments_start: to_char(comments_start),
        signature: to_char(start)..to_char(head_end.max(start)),
        body: body.map(|body| to_char(body.start_byte())..to_char(body.end_byte())),
        documented,
    })
}

/// The outermost wrapper of a definition that still belongs to it alone.
fn widen(grammar: Grammar, node: Node) -> Node {
    let mut item = node;
    while let Some(parent) = item.parent() {
        let wraps = wrapped(grammar, parent).is_some_and(|inner| inner.id() == item.id());
        if !wraps {
            break;
        }
        item = parent;
    }
    item
}

/// Where the attributes (Rust) or decorators (TypeScript class members) right
/// before an item begin.
fn leading_attributes_start(grammar: Grammar, rope: &Rope, item: Node) -> usize {
    let mut start = item;
    while let Some(previous) = start.prev_named_sibling() {
        if !is_attribute(grammar, previous) || !attached(rope, previous, start) {
            break;
        }
        start = previous;
    }
    start.start_byte()
}

/// Where the comments right above an item (whose attributes start at
/// `attributes_start`) begin. Comments behind code on their line belong to that
/// code, not to what follows.
fn leading_comments_start(
    grammar: Grammar,
    rope: &Rope,
    item: Node,
    attributes_start: usize,
) -> usize {
    let mut first = None;
    let mut after = item;
    while let Some(previous) = after.prev_named_sibling() {
        if is_attribute(grammar, previous) && previous.start_byte() >= attributes_start {
            after = previous;
            continue;
        }
        if !is_comment(previous) || !attached(rope, previous, after) || !starts_line(rope, previous)
        {
            break;
        }
        first = Some(previous.start_byte());
        after = previous;
    }
    first.unwrap_or(attributes_start)
}

/// Whether `next` follows `previous` with nothing but whitespace and at most one
/// line break between them.
fn attached(rope: &Rope, previous: Node, next: Node) -> bool {
    directly_follows(rope, previous, next)
}

fn starts_line(rope: &Rope, node: Node) -> bool {
    let start = rope.byte_to_char(node.start_byte());
    let line_start = rope.line_to_char(rope.char_to_line(start));
    rope.slice(line_start..start)
        .chars()
        .all(char::is_whitespace)
}

fn is_documented(
    grammar: Grammar,
    rope: &Rope,
    item: Node,
    comments_start: usize,
    body: Option<Node>,
) -> bool {
    let comments = rope
        .byte_slice(comments_start..item.start_byte().max(comments_start))
        .to_string();
    let comments = comments.trim_start();
    match grammar {
        Grammar::Python => body
            .and_then(|body| body.named_child(0))
            .filter(|first| first.kind() == "expression_statement")
            .and_then(|first| first.named_child(0))
            .is_some_and(|value| value.kind() == "string"),
        Grammar::Rust => {
            comments.starts_with("///")
                || comments.starts_with("/**")
                || rope
                    .byte_slice(item.start_byte()..item.end_byte())
                    .to_string()
                    .starts_with("#[doc")
        }
        Grammar::JavaScript | Grammar::TypeScript | Grammar::Tsx | Grammar::Java => {
            comments.starts_with("/**")
        }
        Grammar::Go | Grammar::C | Grammar::Cpp | Grammar::Lua => !comments.is_empty(),
        Grammar::Markdown => true,
    }
}

fn body_of<'tree>(grammar: Grammar, node: Node<'tree>) -> Option<Node<'tree>> {
    match (grammar, node.kind()) {
        (Grammar::Markdown, "section") => {
            let heading = node.named_child(0)?;
            heading.next_named_sibling()
        }
        (Grammar::Go, "type_spec") => node.child_by_field_name("type"),
        (Grammar::JavaScript | Grammar::TypeScript | Grammar::Tsx, "variable_declarator")
        | (Grammar::JavaScript | Grammar::TypeScript | Grammar::Tsx, "public_field_definition") => {
            node.child_by_field_name("value")?
                .child_by_field_name("body")
        }
        (Grammar::Lua, "assignment_statement") => function_value(node)?.child_by_field_name("body"),
        _ => node.child_by_field_name("body"),
    }
}

/// The kind and name of a node that is a definition itself.
fn kind_and_name(grammar: Grammar, rope: &Rope, node: Node) -> Option<(DefinitionKind, String)> {
    use DefinitionKind as K;
    let text = |node: Node| node_text(rope, node);
    let field = |name: &str| node.child_by_field_name(name).map(text);
    let named = |kind: DefinitionKind| field("name").map(|name| (kind, name));
    let kind = node.kind();
    match grammar {
        Grammar::Rust => match kind {
            "function_item" | "function_signature_item" => {
                let in_block = node
                    .parent()
                    .and_then(|list| list.parent())
                    .is_some_and(|owner| matches!(owner.kind(), "impl_item" | "trait_item"));
                named(if in_block { K::Method } else { K::Function })
            }
            "struct_item" => named(K::Struct),
            "enum_item" => named(K::Enum),
            "union_item" => named(K::Union),
            "trait_item" => named(K::Trait),
            "mod_item" if node.child_by_field_name("body").is_some() => named(K::Module),
            "macro_definition" => named(K::Macro),
            "impl_item" => {
                let target = field("type")?;
                let name = match field("trait") {
                    Some(name) => format!("{name} for {target}"),
                    None => target,
                };
                Some((K::Impl, name))
            }
            _ => None,
        },
        Grammar::Python => match kind {
            "function_definition" => {
                let mut owner = node.parent();
                if owner.is_some_and(|parent| parent.kind() == "decorated_definition") {
                    owner = owner.and_then(|parent| parent.parent());
                }
                let in_class = owner.is_some_and(|block| {
                    block.kind() == "block"
                        && block
                            .parent()
                            .is_some_and(|class| class.kind() == "class_definition")
                });
                named(if in_class { K::Method } else { K::Function })
            }
            "class_definition" => named(K::Class),
            _ => None,
        },
        Grammar::JavaScript | Grammar::TypeScript | Grammar::Tsx => match kind {
            "function_declaration" | "generator_function_declaration" | "function_signature" => {
                named(K::Function)
            }
            "class_declaration" | "abstract_class_declaration" => named(K::Class),
            "method_definition" | "method_signature" | "abstract_method_signature" => {
                let name = field("name")?;
                let constructor = name == "constructor";
                Some((
                    if constructor {
                        K::Constructor
                    } else {
                        K::Method
                    },
                    name,
                ))
            }
            "interface_declaration" => named(K::Interface),
            "type_alias_declaration" => named(K::Type),
            "enum_declaration" => named(K::Enum),
            "internal_module" | "module" => named(K::Namespace),
            "variable_declarator" | "public_field_definition" => {
                let value = node.child_by_field_name("value")?;
                let function = matches!(
                    value.kind(),
                    "arrow_function" | "function_expression" | "function" | "generator_function"
                );
                let name = node.child_by_field_name("name")?;
                let simple = matches!(
                    name.kind(),
                    "identifier" | "property_identifier" | "private_property_identifier"
                );
                let in_class = kind == "public_field_definition";
                (function && simple)
                    .then(|| (if in_class { K::Method } else { K::Function }, text(name)))
            }
            _ => None,
        },
        Grammar::Go => match kind {
            "function_declaration" => named(K::Function),
            "method_declaration" => named(K::Method),
            "type_spec" => {
                let kind = match node.child_by_field_name("type")?.kind() {
                    "struct_type" => K::Struct,
                    "interface_type" => K::Interface,
                    _ => K::Type,
                };
                named(kind)
            }
            "type_alias" => named(K::Type),
            _ => None,
        },
        Grammar::C | Grammar::Cpp => match kind {
            "function_definition" => {
                let declarator = function_declarator_name(node)?;
                let in_class = node
                    .parent()
                    .is_some_and(|parent| parent.kind() == "field_declaration_list");
                let qualified = declarator.kind() == "qualified_identifier";
                let kind = if in_class || qualified {
                    K::Method
                } else {
                    K::Function
                };
                Some((kind, text(declarator)))
            }
            "struct_specifier" | "union_specifier" | "enum_specifier" | "class_specifier"
                if node.child_by_field_name("body").is_some() =>
            {
                let kind = match kind {
                    "struct_specifier" => K::Struct,
                    "union_specifier" => K::Union,
                    "enum_specifier" => K::Enum,
                    _ => K::Class,
                };
                let name = field("name").or_else(|| {
                    let parent = node.parent()?;
                    (parent.kind() == "type_definition")
                        .then(|| parent.child_by_field_name("declarator"))
                        .flatten()
                        .map(text)
                })?;
                Some((kind, name))
            }
            "namespace_definition" => Some((
                K::Namespace,
                field("name").unwrap_or_else(|| "(anonymous)".into()),
            )),
            "preproc_function_def" => named(K::Macro),
            _ => None,
        },
        Grammar::Java => match kind {
            "method_declaration" => named(K::Method),
            "constructor_declaration" | "compact_constructor_declaration" => named(K::Constructor),
            "class_declaration" => named(K::Class),
            "interface_declaration" | "annotation_type_declaration" => named(K::Interface),
            "enum_declaration" => named(K::Enum),
            "record_declaration" => named(K::Record),
            _ => None,
        },
        Grammar::Lua => match kind {
            "function_declaration" => {
                let name = node.child_by_field_name("name")?;
                let kind = if name.kind() == "method_index_expression" {
                    K::Method
                } else {
                    K::Function
                };
                Some((kind, text(name)))
            }
            "assignment_statement" => {
                function_value(node)?;
                let mut cursor = node.walk();
                let variables = node
                    .named_children(&mut cursor)
                    .find(|child| child.kind() == "variable_list")?;
                (variables.named_child_count() == 1)
                    .then(|| variables.named_child(0))
                    .flatten()
                    .map(|name| (K::Function, text(name)))
            }
            _ => None,
        },
        Grammar::Markdown => match kind {
            "section" => {
                let heading = node.named_child(0)?;
                let title = heading
                    .child_by_field_name("heading_content")
                    .map(text)
                    .unwrap_or_default();
                let title = title.lines().next().unwrap_or_default().trim().to_owned();
                (!title.is_empty()).then_some((K::Section, title))
            }
            _ => None,
        },
    }
}

/// For a C or C++ function definition: the name inside its declarator chain
/// (through pointers, references and the function declarator).
fn function_declarator_name(definition: Node) -> Option<Node> {
    let mut node = definition.child_by_field_name("declarator")?;
    for _ in 0..8 {
        if node.kind() == "function_declarator" {
            return node.child_by_field_name("declarator");
        }
        node = node
            .child_by_field_name("declarator")
            .or_else(|| node.named_child(0))?;
    }
    None
}

/// The function a Lua assignment of one value gives, if it is one.
fn function_value(assignment: Node) -> Option<Node> {
    let mut cursor = assignment.walk();
    let values = assignment
        .named_children(&mut cursor)
        .find(|child| child.kind() == "expression_list")?;
    (values.named_child_count() == 1)
        .then(|| values.named_child(0))
        .flatten()
        .filter(|value| value.kind() == "function_definition")
}

pub(crate) fn node_text(rope: &Rope, node: Node) -> String {
    let end = node.end_byte().min(rope.len_bytes());
    rope.byte_slice(node.start_byte().min(end)..end).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(grammar: Grammar, text: &str, needle: &str) -> Option<String> {
        let rope = Rope::from_str(text);
        let tree = SyntaxTree::parse(grammar, &rope).unwrap();
        let byte = text
            .find(needle)
            .unwrap_or_else(|| panic!("{needle:?} not in text"));
        definition_at(&tree, &rope, rope.byte_to_char(byte)).map(|d| d.subject())
    }

    #[test]
    fn rust_methods_and_functions() {
        let text = "impl A {\n    fn b(&self) {\n        let x = 1;\n    }\n}\nfn c() {}\n";
        assert_eq!(
            at(Grammar::Rust, text, "let x").as_deref(),
            Some("method `b`")
        );
        assert_eq!(at(Grammar::Rust, text, "impl").as_deref(), Some("impl `A`"));
        assert_eq!(
            at(Grammar::Rust, text, "fn c").as_deref(),
            Some("function `c`")
        );
    }

    #[test]
    fn comments_above_belong_to_what_follows() {
        let text = "/// Doc.\n#[inline]\nfn a() {}\n\n// Loose.\n\nfn b() {}\n";
        assert_eq!(
            at(Grammar::Rust, text, "Doc").as_deref(),
            Some("function `a`")
        );
        assert_eq!(
            at(Grammar::Rust, text, "#[inline]").as_deref(),
            Some("function `a`")
        );
        assert_eq!(at(Grammar::Rust, text, "Loose"), None);
        let rope = Rope::from_str(text);
        let tree = SyntaxTree::parse(Grammar::Rust, &rope).unwrap();
        let a = definition_at(&tree, &rope, 0).unwrap();
        assert_eq!(
            rope.slice(a.chars.clone()).to_string(),
            "#[inline]\nfn a() {}"
        );
        assert_eq!(a.comments_start, 0);
        assert!(a.documented);
    }
}
