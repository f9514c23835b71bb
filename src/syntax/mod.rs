//! Syntax trees, and what the tasks learn from them. Protocol-free: positions are
//! char indices into a rope, as in `text`.
//!
//! - [`SyntaxTree`]: a tree-sitter tree kept in step with a document's rope,
//!   edited and reparsed incrementally (see `tree`).
//! - [`Grammar`]: which grammar reads which language.
//! - Definitions (`items`): the function, class or section around a cursor, and
//!   every definition of a file, each with its name, range, head and body.
//! - Snapping (`snap`): what a selection obviously means.
//! - Context (`context`): what an explanation of a selection may need from the
//!   rest of its file.
//! - Splitting (`split`): pieces along the structure, for work done in parts.
//! - Code share (`share`): how much of a text is code, for routing.
//!
//! Nothing here does I/O, touches the model or awaits: everything is quick enough
//! to run inside a request handler.

mod context;
mod grammar;
mod items;
mod share;
mod snap;
mod split;
mod tree;

pub use context::{ContextItem, ContextKind, explain_candidates};
pub use grammar::Grammar;
pub use items::{Definition, DefinitionKind, definition_at, definitions, enclosing_definitions};
pub use share::code_share;
pub use snap::{Snapped, definition_lines, snap_selection};
pub use split::Outline;
pub use tree::{MAX_TREE_BYTES, PendingEdit, SyntaxTree};

use tree_sitter::Node;

/// Visits `root` and the nodes under it in document order; `visit` returns
/// whether to go into the node's children.
fn walk<'tree>(root: Node<'tree>, mut visit: impl FnMut(Node<'tree>) -> bool) {
    walk_at_depth(root, |node, _| visit(node));
}

/// [`walk`], telling `visit` each node's depth below `root` too.
fn walk_at_depth<'tree>(root: Node<'tree>, mut visit: impl FnMut(Node<'tree>, u32) -> bool) {
    let mut cursor = root.walk();
    'walk: loop {
        if visit(cursor.node(), cursor.depth()) && cursor.goto_first_child() {
            continue;
        }
        loop {
            if cursor.goto_next_sibling() {
                continue 'walk;
            }
            if !cursor.goto_parent() {
                break 'walk;
            }
        }
    }
}
