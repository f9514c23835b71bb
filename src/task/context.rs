//! Context within a budget: an explanation quotes the pieces of its file that
//! help most (found by `syntax::explain_candidates`) as long as they fit.
//!
//! The budget is measured with the engine's own tokenizer. It is what is left of
//! the local context once the bare prompt and the longest answer are counted, and
//! never more than a quarter of the context: small models explain best when the
//! code they are asked about is most of what they read. Each decision is logged at
//! debug with the item's kind, name and token count; prompt text only at trace.

use crate::engine::{ChatPrompt, Countable, LocalEngine};
use crate::syntax::ContextItem;

use super::prompt::{self, TaskInput};

/// Tokens kept free for the seams between quoted pieces and rounding.
const MARGIN_TOKENS: u32 = 16;
/// Tokens each quoted piece costs besides its text (the separator line).
const SEPARATOR_TOKENS: u32 = 4;
/// The least budget worth quoting anything in.
const MIN_BUDGET: u32 = 32;

/// The explain prompt with as much context as fits.
pub(super) async fn explain_prompt(
    engine: &LocalEngine,
    input: &TaskInput,
    max_output_tokens: u32,
    context_tokens: u32,
) -> ChatPrompt {
    let bare = prompt::build(input);
    let mut countables = vec![Countable::Prompt(bare.clone())];
    countables.extend(
        input
            .context
            .iter()
            .map(|item| Countable::Text(item.text.clone())),
    );
    let counts = match engine.count_tokens(countables).await {
        Ok(counts) => counts,
        Err(error) => {
            tracing::warn!(%error, "could not count tokens; explaining without context");
            return bare;
        }
    };
    let (bare_tokens, item_tokens) = (counts[0], &counts[1..]);
    let room = context_tokens
        .saturating_sub(max_output_tokens)
        .saturating_sub(bare_tokens);
    let budget = room
        .saturating_sub(MARGIN_TOKENS)
        .min((context_tokens / 4).max(MIN_BUDGET * 4));
    let mut chosen = choose(&input.context, item_tokens, budget);

    // The pieces were counted apart; count the prompt they make, and drop the
    // least useful until it truly fits.
    loop {
        let candidate = prompt::build_with_context(input, &chosen_items(&input.context, &chosen));
        if chosen.is_empty() {
            log_choice(
                &input.context,
                item_tokens,
                &chosen,
                budget,
                bare_tokens,
                bare_tokens,
            );
            return candidate;
        }
        match engine
            .count_tokens(vec![Countable::Prompt(candidate.clone())])
            .await
            .as_deref()
        {
            Ok([total]) if total.saturating_add(max_output_tokens) <= context_tokens => {
                log_choice(
                    &input.context,
                    item_tokens,
                    &chosen,
                    budget,
                    bare_tokens,
                    *total,
                );
                return candidate;
            }
            Ok(_) => {
                chosen.pop();
            }
            Err(_) => return bare,
        }
    }
}

/// Indices of the items to quote: in order of priority, each one that still fits.
fn choose(items: &[ContextItem], tokens: &[u32], budget: u32) -> Vec<usize> {
    if budget < MIN_BUDGET {
        return Vec::new();
    }
    let mut used = 0u32;
    let mut chosen = Vec::new();
    for (index, (_, &count)) in items.iter().zip(tokens).enumerate() {
        let cost = count.saturating_add(SEPARATOR_TOKENS);
        if used.saturating_add(cost) <= budget {
            used += cost;
            chosen.push(index);
        }
    }
    chosen
}

fn chosen_items(items: &[ContextItem], chosen: &[usize]) -> Vec<ContextItem> {
    chosen.iter().map(|&index| items[index].clone()).collect()
}

fn log_choice(
    items: &[ContextItem],
    tokens: &[u32],
    chosen: &[usize],
    budget: u32,
    bare_tokens: u32,
    prompt_tokens: u32,
) {
    for (index, (item, count)) in items.iter().zip(tokens).enumerate() {
        tracing::debug!(
            kind = item.kind.as_str(),
            item = %item.name,
            tokens = count,
            included = chosen.contains(&index),
            "explain context"
        );
    }
    let context_tokens: u32 = chosen.iter().map(|&index| tokens[index]).sum();
    tracing::debug!(
        budget,
        candidates = items.len(),
        included = chosen.len(),
        context_tokens,
        bare_prompt_tokens = bare_tokens,
        prompt_tokens,
        "explain context chosen"
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::syntax::ContextKind;

    fn item(name: &str) -> ContextItem {
        ContextItem {
            kind: ContextKind::Definition,
            name: name.into(),
            text: name.into(),
            chars: 0..1,
        }
    }

    #[test]
    fn items_are_taken_in_priority_order_while_they_fit() {
        let items = [item("a"), item("big"), item("c"), item("d")];
        // Each costs its count plus the separator.
        assert_eq!(choose(&items, &[10, 100, 20, 30], 72), [0, 2, 3]);
        assert_eq!(choose(&items, &[10, 100, 20, 30], 40), [0, 2]);
        assert_eq!(choose(&items, &[10, 100, 20, 30], 20), Vec::<usize>::new());
    }
}
