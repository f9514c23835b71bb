//! How much of a text is code: the measure that routes a selection to a provider
//! tagged `code` or `writing`.
//!
//! In a programming language, code is what parses: the share of the non-blank
//! bytes in tokens that are neither inside an error nor part of a comment. Prose
//! written in a code file (a long comment, English pasted in) parses badly or as
//! comments, and scores low. In Markdown, code is what sits in code blocks. Plain
//! text is read as Markdown, so fenced code in it counts too.

use tree_sitter::Node;

use super::{Grammar, SyntaxTree};
use crate::task::language::Language;

/// The share of `text`'s non-blank bytes that are code, from 0 to 1. Languages
/// without a grammar count as all code, unless they are prose.
pub fn code_share(text: &str, language: &Language) -> f32 {
    let grammar = match Grammar::for_language(language) {
        Some(grammar) => grammar,
        None if language.prose => Grammar::Markdown,
        None => return 1.0,
    };
    let total = text.bytes().filter(|b| !b.is_ascii_whitespace()).count();
    if total == 0 {
        return 0.0;
    }
    let Some(tree) = SyntaxTree::parse_text(grammar, text) else {
        return if grammar.is_prose() { 0.0 } else { 1.0 };
    };
    let code = if grammar.is_prose() {
        code_block_bytes(text, tree.root())
    } else {
        parsed_code_bytes(text, tree.root())
    };
    (code as f32 / total as f32).clamp(0.0, 1.0)
}

fn non_blank(text: &str, node: Node) -> usize {
    text.as_bytes()[node.start_byte()..node.end_byte()]
        .iter()
        .filter(|b| !b.is_ascii_whitespace())
        .count()
}

/// Non-blank bytes of leaves that parsed: outside errors, not comments, not
/// invented by error recovery.
fn parsed_code_bytes(text: &str, root: Node) -> usize {
    let mut count = 0;
    super::walk(root, |node| {
        if node.is_error() || node.is_missing() || node.kind().contains("comment") {
            return false;
        }
        if node.child_count() == 0 {
            count += non_blank(text, node);
        }
        true
    });
    count
}

/// Non-blank bytes in fenced and indented code blocks, fences excluded.
fn code_block_bytes(text: &str, root: Node) -> usize {
    let mut count = 0;
    super::walk(root, |node| match node.kind() {
        "code_fence_content" | "indented_code_block" => {
            count += non_blank(text, node);
            false
        }
        _ => true,
    });
    count
}

#[cfg(test)]
mod tests {
    use super::*;

    fn share(text: &str, language: &str) -> f32 {
        code_share(text, &Language::detect(language, ""))
    }

    #[test]
    fn code_parses_and_prose_does_not() {
        let code = "fn add(a: u32, b: u32) -> u32 {\n    a + b\n}\n";
        assert!(share(code, "rust") > 0.95, "{}", share(code, "rust"));
        let prose = "We met on Tuesday to talk about the plan, and everyone agreed \
                     that the launch should wait until the spring.";
        assert!(share(prose, "rust") < 0.5, "{}", share(prose, "rust"));
        let comment = "// This whole selection is a comment about the design.\n\
                       // It explains why, in words.\n";
        assert!(share(comment, "rust") < 0.1);
        assert!(share("def f(x):\n    return x * 2\n", "python") > 0.95);
    }

    #[test]
    fn markdown_counts_its_code_blocks() {
        let notes = "# Notes\n\nSome words about the release.\n";
        assert_eq!(share(notes, "markdown"), 0.0);
        let mostly_code = "Run:\n\n```rust\nfn main() {\n    println!(\"hello, world\");\n}\n```\n";
        assert!(
            share(mostly_code, "markdown") > 0.6,
            "{}",
            share(mostly_code, "markdown")
        );
        assert!(share(mostly_code, "plaintext") > 0.6);
        assert_eq!(share("   \n", "rust"), 0.0);
    }
}
