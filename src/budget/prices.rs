//! Prices per model: a shipped table, dated, and the user's `prices.<model>`
//! overrides on top. A model with no price is refused for cloud use, because an
//! unpriced request would make the cap meaningless; there is no fallback price.

use std::collections::BTreeMap;

use super::Money;
use crate::config::PriceConfig;

/// When the shipped table was compiled from the providers' published price lists.
pub const PRICES_AS_OF: &str = "2026-12-04";

/// What a model costs, per million tokens.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Price {
    pub input: Money,
    pub output: Money,
    /// Input tokens read from the provider's prompt cache.
    pub cached_input: Money,
    /// Input tokens written to the provider's prompt cache.
    pub cache_write: Money,
    /// Some models bill a whole request at higher rates once its input passes a
    /// threshold of tokens: `(threshold, the prices above it)`.
    pub long_context: Option<(u64, LongContextPrice)>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LongContextPrice {
    pub input: Money,
    pub output: Money,
    pub cached_input: Money,
    pub cache_write: Money,
}

/// Token counts as a provider reports them, normalised: `input` excludes cached
/// and cache-write tokens (the providers disagree on that, see `cloud`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Usage {
    pub input: u64,
    pub cached_input: u64,
    pub cache_write: u64,
    pub output: u64,
}

impl Usage {
    pub fn total_input(&self) -> u64 {
        self.input + self.cached_input + self.cache_write
    }
}

impl Price {
    /// The rates that apply to a request with `total_input` tokens of input.
    fn rates(&self, total_input: u64) -> LongContextPrice {
        match self.long_context {
            Some((threshold, long)) if total_input > threshold => long,
            _ => LongContextPrice {
                input: self.input,
                output: self.output,
                cached_input: self.cached_input,
                cache_write: self.cache_write,
            },
        }
    }

    /// What `usage` costs, rounded up.
    pub fn cost(&self, usage: &Usage) -> Money {
        let rates = self.rates(usage.total_input());
        [
            Money::for_tokens(usage.input, rates.input),
            Money::for_tokens(usage.cached_input, rates.cached_input),
            Money::for_tokens(usage.cache_write, rates.cache_write),
            Money::for_tokens(usage.output, rates.output),
        ]
        .into_iter()
        .sum()
    }

    /// The most a request with `input_tokens` of input and at most `max_output`
    /// tokens of output can cost: every input token at the dearer of the input and
    /// cache-write rates, every output token at the output rate.
    pub fn worst_case(&self, input_tokens: u64, max_output: u64) -> Money {
        let rates = self.rates(input_tokens);
        Money::for_tokens(input_tokens, rates.input.max(rates.cache_write))
            .saturating_add(Money::for_tokens(max_output, rates.output))
    }
}

/// Prices in force: the user's overrides, then the shipped table.
#[derive(Clone, Debug, Default)]
pub struct PriceBook {
    overrides: BTreeMap<String, PriceConfig>,
}

impl PriceBook {
    pub fn new(overrides: &BTreeMap<String, PriceConfig>) -> PriceBook {
        PriceBook {
            overrides: overrides.clone(),
        }
    }

    /// The price of `model`, looked up as written, then without a provider prefix
    /// (`openai/gpt-4.1-mini`, as OpenRouter names models), then without a date
    /// suffix (`-2025-04-14`, `-20251001`). Never by a looser prefix: `gpt-4` and
    /// `gpt-4.1` cost very different amounts.
    pub fn lookup(&self, model: &str) -> Option<Price> {
        candidates(model).into_iter().find_map(|name| {
            self.overrides
                .get(&name)
                .map(from_config)
                .or_else(|| shipped(&name))
        })
    }
}

fn candidates(model: &str) -> Vec<String> {
    let mut names = vec![model.to_owned()];
    if let Some((_, bare)) = model.split_once('/') {
        names.push(bare.to_owned());
    }
    for name in names.clone() {
        if let Some(undated) = strip_date(&name) {
            names.push(undated);
        }
    }
    names
}

/// `gpt-4.1-mini-2025-04-14` and `claude-haiku-4-5-20251001` lose their dates.
fn strip_date(name: &str) -> Option<String> {
    let is_digits = |s: &str, n: usize| s.len() == n && s.bytes().all(|b| b.is_ascii_digit());
    let parts: Vec<&str> = name.split('-').collect();
    if parts.len() > 3 {
        let [.., y, m, d] = parts.as_slice() else {
            return None;
        };
        if is_digits(y, 4) && is_digits(m, 2) && is_digits(d, 2) {
            return Some(parts[..parts.len() - 3].join("-"));
        }
    }
    let (head, last) = name.rsplit_once('-')?;
    is_digits(last, 8).then(|| head.to_owned())
}

fn from_config(config: &PriceConfig) -> Price {
    let input = Money::from_dollars(config.input_per_m_tok);
    Price {
        input,
        output: Money::from_dollars(config.output_per_m_tok),
        // Unknown cache rates are taken at the full input rate (reads) and the
        // usual 1.25 times (writes): never less than the provider may charge.
        cached_input: config
            .cached_input_per_m_tok
            .map_or(input, Money::from_dollars),
        cache_write: config.cache_write_per_m_tok.map_or(
            Money::from_dollars(config.input_per_m_tok * 1.25),
            Money::from_dollars,
        ),
        long_context: None,
    }
}

/// One row of the shipped table, in dollars per million tokens.
struct Row {
    model: &'static str,
    input: f64,
    cached_input: f64,
    cache_write: f64,
    output: f64,
    /// `(threshold, input, cached input, cache write, output)` above the threshold.
    long_context: Option<(u64, f64, f64, f64, f64)>,
}

const fn openai(model: &'static str, input: f64, cached_input: f64, output: f64) -> Row {
    // OpenAI does not charge for writing its prompt cache.
    Row {
        model,
        input,
        cached_input,
        cache_write: input,
        output,
        long_context: None,
    }
}

const fn anthropic(model: &'static str, input: f64, output: f64) -> Row {
    // Anthropic bills cache reads at a tenth of the input rate and five-minute
    // cache writes at 1.25 times it.
    Row {
        model,
        input,
        cached_input: input / 10.0,
        cache_write: input * 1.25,
        output,
        long_context: None,
    }
}

const SONNET_LONG: Option<(u64, f64, f64, f64, f64)> = Some((200_000, 6.0, 0.6, 7.5, 22.5));

const TABLE: &[Row] = &[
    openai("gpt-5.5", 5.0, 0.5, 30.0),
    openai("gpt-5.4", 2.5, 0.25, 15.0),
    openai("gpt-5.4-mini", 0.75, 0.075, 4.5),
    openai("gpt-5.4-nano", 0.2, 0.02, 1.25),
    openai("gpt-5", 1.25, 0.125, 10.0),
    openai("gpt-5-mini", 0.25, 0.025, 2.0),
    openai("gpt-5-nano", 0.05, 0.005, 0.4),
    openai("gpt-4.1", 2.0, 0.5, 8.0),
    openai("gpt-4.1-mini", 0.4, 0.1, 1.6),
    openai("gpt-4.1-nano", 0.1, 0.025, 0.4),
    openai("gpt-4o", 2.5, 1.25, 10.0),
    // The first gpt-4o snapshot costs more than the alias: it must not be priced
    // as the alias by dropping its date.
    openai("gpt-4o-2024-05-13", 5.0, 5.0, 15.0),
    openai("gpt-4o-mini", 0.15, 0.075, 0.6),
    openai("o3", 2.0, 0.5, 8.0),
    openai("o3-mini", 1.1, 0.55, 4.4),
    openai("o4-mini", 1.1, 0.275, 4.4),
    anthropic("claude-haiku-4-5", 1.0, 5.0),
    anthropic("claude-3-5-haiku", 0.8, 4.0),
    anthropic("claude-3-haiku", 0.25, 1.25),
    Row {
        long_context: SONNET_LONG,
        ..anthropic("claude-sonnet-4-5", 3.0, 15.0)
    },
    Row {
        long_context: SONNET_LONG,
        ..anthropic("claude-sonnet-4", 3.0, 15.0)
    },
    anthropic("claude-sonnet-4-6", 3.0, 15.0),
    anthropic("claude-3-7-sonnet", 3.0, 15.0),
    anthropic("claude-opus-4-7", 5.0, 25.0),
    anthropic("claude-opus-4-6", 5.0, 25.0),
    anthropic("claude-opus-4-5", 5.0, 25.0),
    anthropic("claude-opus-4-1", 15.0, 75.0),
    anthropic("claude-opus-4", 15.0, 75.0),
];

fn shipped(model: &str) -> Option<Price> {
    let row = TABLE.iter().find(|row| row.model == model)?;
    Some(Price {
        input: Money::from_dollars(row.input),
        output: Money::from_dollars(row.output),
        cached_input: Money::from_dollars(row.cached_input),
        cache_write: Money::from_dollars(row.cache_write),
        long_context: row.long_context.map(
            |(threshold, input, cached_input, cache_write, output)| {
                let long = LongContextPrice {
                    input: Money::from_dollars(input),
                    output: Money::from_dollars(output),
                    cached_input: Money::from_dollars(cached_input),
                    cache_write: Money::from_dollars(cache_write),
                };
                (threshold, long)
            },
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dated_and_prefixed_names_find_their_model() {
        let book = PriceBook::default();
        let mini = book.lookup("gpt-4.1-mini").unwrap();
        assert_eq!(book.lookup("gpt-4.1-mini-2025-04-14"), Some(mini));
        assert_eq!(book.lookup("openai/gpt-4.1-mini"), Some(mini));
        let haiku = book.lookup("claude-haiku-4-5").unwrap();
        assert_eq!(book.lookup("claude-haiku-4-5-20251001"), Some(haiku));
        assert_eq!(book.lookup("gpt-4.1-mega"), None);
        let first_4o = book.lookup("gpt-4o-2024-05-13").unwrap();
        assert_eq!(first_4o.output, Money::from_dollars(15.0));
        assert_eq!(book.lookup("gpt-4"), None, "no loose prefix match");
        assert_eq!(book.lookup("llama3.1:8b"), None);
    }

    #[test]
    fn overrides_win_and_fill_unknown_cache_rates_conservatively() {
        let overrides = [(
            "llama-3.1-70b".to_owned(),
            PriceConfig {
                input_per_m_tok: 0.5,
                output_per_m_tok: 0.8,
                cached_input_per_m_tok: None,
                cache_write_per_m_tok: None,
            },
        )]
        .into_iter()
        .collect();
        let book = PriceBook::new(&overrides);
        let price = book.lookup("meta-llama/llama-3.1-70b").unwrap();
        assert_eq!(price.input, Money::from_dollars(0.5));
        assert_eq!(price.cached_input, price.input);
        assert_eq!(price.cache_write, Money::from_dollars(0.625));
    }

    #[test]
    fn costs_follow_the_usage_and_the_worst_case_bounds_them() {
        let price = PriceBook::default().lookup("gpt-4.1-mini").unwrap();
        let usage = Usage {
            input: 1000,
            cached_input: 0,
            cache_write: 0,
            output: 500,
        };
        assert_eq!(price.cost(&usage), Money::from_dollars(0.0012));
        let cached = Usage {
            input: 200,
            cached_input: 800,
            ..usage
        };
        assert_eq!(
            price.cost(&cached),
            Money::from_dollars(0.00008 + 0.00008 + 0.0008)
        );
        assert!(price.worst_case(1000, 500) >= price.cost(&usage));

        let haiku = PriceBook::default().lookup("claude-haiku-4-5").unwrap();
        let written = Usage {
            input: 100,
            cached_input: 0,
            cache_write: 900,
            output: 10,
        };
        assert!(haiku.worst_case(1000, 10) >= haiku.cost(&written));
    }

    #[test]
    fn long_inputs_switch_the_whole_request_to_the_long_context_rates() {
        let sonnet = PriceBook::default().lookup("claude-sonnet-4-5").unwrap();
        let short = Usage {
            input: 200_000,
            output: 1000,
            ..Usage::default()
        };
        let long = Usage {
            input: 200_001,
            ..short
        };
        assert_eq!(sonnet.cost(&short), Money::from_dollars(0.6 + 0.015));
        assert_eq!(
            sonnet.cost(&long),
            Money::from_dollars(200_001.0 * 6.0 / 1e6 + 0.0225)
        );
    }
}
