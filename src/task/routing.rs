//! Where a cloud task goes: code to the provider tagged `code`, prose to the one
//! tagged `writing`, and failing those, any provider with a key.

use super::language::Language;
use crate::cloud::Endpoint;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ContentKind {
    Code,
    Prose,
}

impl ContentKind {
    /// The provider tag this kind of content prefers.
    pub fn tag(self) -> &'static str {
        match self {
            ContentKind::Code => "code",
            ContentKind::Prose => "writing",
        }
    }
}

/// Whether `text` is mostly code: at least half of its non-blank bytes parse as
/// code in its language (see [`crate::syntax::code_share`]). In a programming
/// language that is what parses outside errors and comments, so English pasted
/// into a code file, or a long comment, is prose; in Markdown and plain text it
/// is what sits in code blocks. Languages without a grammar count as code.
pub fn classify(text: &str, language: &Language) -> ContentKind {
    if crate::syntax::code_share(text, language) >= 0.5 {
        ContentKind::Code
    } else {
        ContentKind::Prose
    }
}

/// How much of a selection is judged: parsing is linear in the text, and a code
/// action must answer at once, so a long selection is judged by its beginning.
const SAMPLE_BYTES: usize = 16 << 10;

/// [`classify`] for a piece of a document, judged by its first [`SAMPLE_BYTES`].
pub fn classify_slice(slice: ropey::RopeSlice<'_>, language: &Language) -> ContentKind {
    let end = slice.byte_to_char(slice.len_bytes().min(SAMPLE_BYTES));
    classify(&slice.slice(..end).to_string(), language)
}

/// The cloud provider for `content` among `endpoints` (local ones never count):
/// the first with a key and the wanted tag, else the first with a key, `openai`
/// before the others.
pub fn choose(
    endpoints: &[Endpoint],
    content: ContentKind,
    has_key: impl Fn(&str) -> bool,
) -> Option<&Endpoint> {
    let mut usable: Vec<&Endpoint> = endpoints
        .iter()
        .filter(|endpoint| !endpoint.local && has_key(&endpoint.id))
        .collect();
    usable.sort_by_key(|endpoint| (endpoint.id != "openai", endpoint.id.clone()));
    usable
        .iter()
        .find(|endpoint| endpoint.tags.iter().any(|tag| tag == content.tag()))
        .or_else(|| usable.first())
        .copied()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    fn endpoints() -> Vec<Endpoint> {
        Config::default()
            .providers
            .iter()
            .map(|(id, config)| Endpoint::from_config(id, config).unwrap())
            .collect()
    }

    #[test]
    fn long_selections_are_judged_by_their_beginning() {
        let rust = Language::detect("rust", "a.rs");
        let code = "fn f() -> u32 { 1 }\n".repeat(2000);
        let prose = "This paragraph is plain English, not code at all.\n".repeat(2000);
        let mixed = ropey::Rope::from_str(&format!("{code}{prose}"));
        assert_eq!(classify_slice(mixed.slice(..), &rust), ContentKind::Code);
        let prose_first = ropey::Rope::from_str(&format!("{prose}{code}"));
        assert_eq!(
            classify_slice(prose_first.slice(..), &rust),
            ContentKind::Prose
        );
    }

    #[test]
    fn code_goes_to_code_and_prose_to_writing() {
        let all = endpoints();
        let both = |_: &str| true;
        assert_eq!(choose(&all, ContentKind::Code, both).unwrap().id, "openai");
        assert_eq!(
            choose(&all, ContentKind::Prose, both).unwrap().id,
            "anthropic"
        );
    }

    #[test]
    fn without_the_tagged_provider_any_keyed_one_is_taken() {
        let all = endpoints();
        let only_openai = |id: &str| id == "openai";
        assert_eq!(
            choose(&all, ContentKind::Prose, only_openai).unwrap().id,
            "openai"
        );
        assert!(choose(&all, ContentKind::Code, |_: &str| false).is_none());
    }

    #[test]
    fn markdown_is_prose_unless_it_is_mostly_fenced_code() {
        let markdown = Language::detect("markdown", "notes.md");
        assert_eq!(
            classify("# Notes\n\nWe met and agreed.\n", &markdown),
            ContentKind::Prose
        );
        let fenced = "Run this:\n```rust\nfn a() {}\nfn b() {}\nfn c() {}\n```\n";
        assert_eq!(classify(fenced, &markdown), ContentKind::Code);
    }

    #[test]
    fn code_is_what_parses_as_code() {
        let rust = Language::detect("rust", "a.rs");
        assert_eq!(
            classify("fn add(a: u32, b: u32) -> u32 {\n    a + b\n}\n", &rust),
            ContentKind::Code
        );
        // A comment, or English in a code file, is writing.
        assert_eq!(classify("// just a comment", &rust), ContentKind::Prose);
        let python = Language::detect("python", "a.py");
        let english = "The meeting moved to Thursday because half of the team was away.";
        assert_eq!(classify(english, &python), ContentKind::Prose);
        assert_eq!(
            classify("total = sum(x * 2 for x in xs)\n", &python),
            ContentKind::Code
        );
        // Languages without a grammar count as code; plain text reads as Markdown.
        let ruby = Language::detect("ruby", "a.rb");
        assert_eq!(classify("puts 'hi'", &ruby), ContentKind::Code);
        let plain = Language::detect("plaintext", "a.txt");
        assert_eq!(classify("Dear all, thanks.", &plain), ContentKind::Prose);
    }
}
