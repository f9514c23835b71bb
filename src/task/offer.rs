//! What the code-action menu offers for a selection or a bare cursor. Offers are
//! computed from the document and its tree alone, with no model and no I/O, so the
//! menu opens at once.
//!
//! With a bare cursor, the offers are for the definition around it (function,
//! method, class, section...), named in their titles. With a selection, they are
//! for the selection snapped to what it obviously means (see `syntax::snap`). Each
//! offer carries the range it runs on, so what runs is what the title says.

use std::ops::Range;

use crate::syntax::{Definition, definition_at, definition_lines, snap_selection};
use crate::text::Document;

use super::language::{DocSyntax, Language};
use super::{DraftForm, TaskKind};

/// One task the menu offers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Offer {
    pub kind: TaskKind,
    pub form: DraftForm,
    /// The chars the task runs on.
    pub chars: Range<usize>,
    /// What the chars are, when they are one definition: "function `parse_date`".
    pub subject: Option<String>,
    doc_word: &'static str,
}

impl Offer {
    /// The title without where it runs: "Explain function `parse_date`".
    pub fn title(&self) -> String {
        match (self.kind, self.form, &self.subject) {
            (TaskKind::Draft, DraftForm::DocComment, Some(subject)) => {
                format!("Draft {} for {subject}", self.doc_word)
            }
            (TaskKind::Draft, DraftForm::DocComment, None) => format!("Draft {}", self.doc_word),
            (TaskKind::Draft, DraftForm::Code, _) => "Draft".to_owned(),
            (kind, _, Some(subject)) => format!("{} {subject}", kind.title()),
            (kind, _, None) => kind.title().to_owned(),
        }
    }
}

/// The offers for `selection` (chars) in `document`; empty when a bare cursor is
/// in no definition.
pub fn offers(document: &Document, file_name: &str, selection: Range<usize>) -> Vec<Offer> {
    let language = Language::detect(&document.language_id, file_name);
    let tree = document.syntax();
    let rope = &document.rope;
    if selection.is_empty() {
        let Some(definition) = tree.and_then(|tree| definition_at(tree, rope, selection.start))
        else {
            return Vec::new();
        };
        let chars = definition_lines(rope, &definition);
        let mut offers = vec![
            offer(
                TaskKind::Summarise,
                DraftForm::Code,
                &chars,
                Some(&definition),
                &language,
            ),
            offer(
                TaskKind::Explain,
                DraftForm::Code,
                &chars,
                Some(&definition),
                &language,
            ),
        ];
        if wants_doc_comment(&definition, &language) {
            offers.push(offer(
                TaskKind::Draft,
                DraftForm::DocComment,
                &chars,
                Some(&definition),
                &language,
            ));
        }
        return offers;
    }

    let snapped = snap_selection(tree, rope, selection);
    let definition = snapped.definition.as_ref();
    let mut offers: Vec<Offer> = TaskKind::ALL
        .into_iter()
        .map(|kind| offer(kind, DraftForm::Code, &snapped.chars, definition, &language))
        .collect();
    if let Some(definition) = definition.filter(|d| wants_doc_comment(d, &language)) {
        offers.push(offer(
            TaskKind::Draft,
            DraftForm::DocComment,
            &snapped.chars,
            Some(definition),
            &language,
        ));
    }
    offers
}

/// The three tasks on a range as it is, for a document that is not open.
pub fn plain_offers(chars: Range<usize>) -> Vec<Offer> {
    TaskKind::ALL
        .into_iter()
        .map(|kind| Offer {
            kind,
            form: DraftForm::Code,
            chars: chars.clone(),
            subject: None,
            doc_word: "doc comment",
        })
        .collect()
}

/// A doc comment is offered for definitions without one, in languages that have
/// them.
fn wants_doc_comment(definition: &Definition, language: &Language) -> bool {
    !definition.documented && language.doc_syntax().is_some() && !language.prose
}

fn offer(
    kind: TaskKind,
    form: DraftForm,
    chars: &Range<usize>,
    definition: Option<&Definition>,
    language: &Language,
) -> Offer {
    Offer {
        kind,
        form,
        chars: chars.clone(),
        subject: definition.map(Definition::subject),
        doc_word: match language.doc_syntax() {
            Some(DocSyntax::Docstring) => "docstring",
            _ => "doc comment",
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn titles(
        text: &str,
        language_id: &str,
        file: &str,
        from: &str,
        to: Option<&str>,
    ) -> Vec<String> {
        let document = Document::new(format!("file:///{file}"), language_id.into(), 1, text);
        let start = document.rope.byte_to_char(text.find(from).unwrap());
        let end = match to {
            Some(to) => document
                .rope
                .byte_to_char(text.find(to).unwrap() + to.len()),
            None => start,
        };
        offers(&document, file, start..end)
            .iter()
            .map(Offer::title)
            .collect()
    }

    #[test]
    fn a_cursor_offers_the_enclosing_definition() {
        let text = "def parse_date(text):\n    return text.split('-')\n";
        assert_eq!(
            titles(text, "python", "d.py", "split", None),
            [
                "Summarise function `parse_date`",
                "Explain function `parse_date`",
                "Draft docstring for function `parse_date`"
            ]
        );
        assert!(titles("x = 1\n", "python", "d.py", "1", None).is_empty());
        assert!(titles("just words\n", "plaintext", "a.txt", "words", None).is_empty());
    }

    #[test]
    fn a_selection_offers_the_three_tasks_on_what_it_means() {
        let text = "/// Documented.\nfn a() {\n    b();\n}\n";
        assert_eq!(
            titles(text, "rust", "a.rs", "fn a", Some("}")),
            ["Summarise function `a`", "Explain function `a`", "Draft"]
        );
        assert_eq!(
            titles(text, "rust", "a.rs", "b()", Some(";")),
            ["Summarise", "Explain", "Draft"]
        );
    }
}
