//! Counting a request's input tokens before it is sent, to reserve its cost.
//!
//! OpenAI models are counted exactly with their own tokenizer (tiktoken-rs, whose
//! vocabularies are built in). Other models' tokenizers are not public, so their
//! count is an estimate: the o200k count plus a safety margin of
//! [`ESTIMATE_MARGIN`], which the reservation then covers. Anthropic's count
//! endpoint is not used: it would send the text before the cap has been checked.

use tiktoken_rs::tokenizer::{Tokenizer, get_tokenizer};

use crate::engine::ChatPrompt;

/// Extra share of tokens added to an estimate: tokenizers of other families
/// produce up to about a quarter more tokens than o200k on code.
pub const ESTIMATE_MARGIN: f64 = 0.35;

/// Tokens the chat format adds per message and once per request.
const PER_MESSAGE: u64 = 4;
const PER_REQUEST: u64 = 8;

/// An input size, and whether it is exact.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TokenCount {
    pub tokens: u64,
    pub exact: bool,
}

/// Counts `prompt` for `model`; exact when tiktoken knows the model.
pub fn count(model: &str, prompt: &ChatPrompt) -> TokenCount {
    let bare = model.rsplit('/').next().unwrap_or(model);
    let known = get_tokenizer(bare).filter(|tokenizer| {
        matches!(
            tokenizer,
            Tokenizer::O200kBase | Tokenizer::Cl100kBase | Tokenizer::O200kHarmony
        )
    });
    match known {
        Some(tokenizer) => TokenCount {
            tokens: encode(tokenizer, prompt),
            exact: true,
        },
        None => TokenCount {
            tokens: with_margin(encode(Tokenizer::O200kBase, prompt)),
            exact: false,
        },
    }
}

/// Adds the safety margin to a count from another tokenizer.
pub fn with_margin(tokens: u64) -> u64 {
    (tokens as f64 * (1.0 + ESTIMATE_MARGIN)).ceil() as u64
}

fn encode(tokenizer: Tokenizer, prompt: &ChatPrompt) -> u64 {
    let bpe = tiktoken_rs::bpe_for_tokenizer(tokenizer)
        .or_else(|_| tiktoken_rs::bpe_for_tokenizer(Tokenizer::O200kBase));
    let content = |text: &str| match &bpe {
        Ok(bpe) => bpe.encode_ordinary(text).len() as u64,
        // Never reached with the built-in vocabularies; a byte count is an upper
        // bound for any byte-level tokenizer.
        Err(_) => text.len() as u64,
    };
    content(&prompt.system) + content(&prompt.user) + 2 * PER_MESSAGE + PER_REQUEST
}

/// A quick guess for titles ("about $0.002"), with no tokenizer: about four bytes
/// a token.
pub fn rough(text_bytes: usize) -> u64 {
    (text_bytes as u64).div_ceil(4) + 2 * PER_MESSAGE + PER_REQUEST
}

#[cfg(test)]
mod tests {
    use super::*;

    fn prompt(user: &str) -> ChatPrompt {
        ChatPrompt {
            system: "You explain code.".into(),
            user: user.into(),
        }
    }

    #[test]
    fn openai_models_are_counted_exactly_and_others_with_a_margin() {
        let text = "fn main() { println!(\"hello, world\"); }";
        let exact = count("gpt-4.1-mini", &prompt(text));
        assert!(exact.exact);
        assert!((15..40).contains(&exact.tokens), "{exact:?}");
        let routed = count("openai/gpt-4.1-mini", &prompt(text));
        assert_eq!(routed, exact);
        let estimate = count("claude-haiku-4-5", &prompt(text));
        assert!(!estimate.exact);
        assert_eq!(
            estimate.tokens,
            with_margin(count("gpt-4o", &prompt(text)).tokens)
        );
        assert!(estimate.tokens > exact.tokens);
    }

    #[test]
    fn special_token_text_is_counted_as_the_text_it_is() {
        // Providers bill `<|endoftext|>` in a prompt as ordinary text, several
        // tokens, not as the one special token.
        let tricky = count("gpt-4o", &prompt("<|endoftext|>"));
        let plain = count("gpt-4o", &prompt(""));
        assert!(tricky.tokens >= plain.tokens + 3, "{tricky:?} {plain:?}");
    }
}
