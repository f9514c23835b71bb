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

/// Whether `text` is mostly code. Text in a programming language is code; in
/// Markdown or plain text, it is code when most of its non-blank lines sit inside
/// fenced code blocks.
pub fn classify(text: &str, language: &Language) -> ContentKind {
    if !language.prose {
        return ContentKind::Code;
    }
    let (mut fenced, mut total, mut inside) = (0usize, 0usize, false);
    for line in text.lines() {
        let trimmed = line.trim_start();
        if trimmed.starts_with("```") || trimmed.starts_with("~~~") {
            inside = !inside;
            continue;
        }
        if trimmed.is_empty() {
            continue;
        }
        total += 1;
        if inside {
            fenced += 1;
        }
    }
    if total > 0 && fenced * 2 > total {
        ContentKind::Code
    } else {
        ContentKind::Prose
    }
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
        let rust = Language::detect("rust", "a.rs");
        assert_eq!(classify("// just a comment", &rust), ContentKind::Code);
    }
}
