//! Summaries of texts bigger than the local context, made in parts.
//!
//! The text is cut along its structure (`syntax::Outline`: items for code,
//! sections and paragraphs for prose) into parts that each fit the context with
//! room for a short answer, measured with the engine's tokenizer. Each part is
//! summarised on its own; then the summaries are combined, in groups that fit,
//! until one prompt holds them all and the final summary is written, streamed as
//! any answer is. Nothing is cut off: every byte of the input is in exactly one
//! part.

use std::ops::Range;

use tokio_util::sync::CancellationToken;

use crate::engine::{Countable, EngineError, LocalEngine};
use crate::syntax::Outline;

use super::prompt::{self, TaskInput};
use super::{TaskObserver, TaskReport, TaskStatus, TaskUpdate, fail, generate};

/// The most rounds of combining before giving up (each one shrinks the summaries
/// at least by half, so this is never reached by a text that can be summarised).
const MAX_ROUNDS: usize = 12;

/// A summary in parts, about to run.
pub(super) struct Plan<'a> {
    pub engine: &'a LocalEngine,
    pub input: &'a TaskInput,
    /// The limit for the final summary.
    pub max_output_tokens: u32,
    pub context_tokens: u32,
    /// The prompt tokens of the whole input in one pass, for the error message.
    pub whole_tokens: u32,
    pub cancel: &'a CancellationToken,
}

impl Plan<'_> {
    /// The limit for each intermediate summary: short, so that several fit in
    /// the prompt that combines them.
    fn part_output_tokens(&self) -> u32 {
        self.max_output_tokens
            .min((self.context_tokens / 8).max(48))
    }

    fn margin(&self) -> u32 {
        16 + self.context_tokens / 64
    }

    pub async fn run(self, observer: &mut impl TaskObserver, report: TaskReport) -> TaskReport {
        match self.summarise(observer, report.clone()).await {
            Ok(report) => report,
            Err((error, report)) => fail(report, &error),
        }
    }

    async fn summarise(
        &self,
        observer: &mut impl TaskObserver,
        mut report: TaskReport,
    ) -> Result<TaskReport, (EngineError, TaskReport)> {
        let too_small = || EngineError::ContextTooSmall {
            input_tokens: self.whole_tokens,
            output_tokens: self.max_output_tokens,
            context_tokens: self.context_tokens,
        };
        let part_output = self.part_output_tokens();
        let overhead = self
            .count(vec![Countable::Prompt(prompt::build_part(
                self.input, "", 1, 1,
            ))])
            .await
            .map_err(|error| (error, report.clone()))?[0];
        let budget = self
            .context_tokens
            .saturating_sub(part_output + overhead + self.margin());
        if budget < 2 * part_output {
            return Err((too_small(), report));
        }

        let outline = Outline::new(&self.input.text, &self.input.language);
        let parts = self
            .plan_parts(&outline, budget)
            .await
            .map_err(|error| (error, report.clone()))?;
        tracing::info!(
            parts = parts.len(),
            whole_tokens = self.whole_tokens,
            part_budget = budget,
            context_tokens = self.context_tokens,
            "summarising in parts"
        );

        let count = parts.len();
        let mut summaries = Vec::with_capacity(count);
        for (index, part) in parts.iter().enumerate() {
            if self.cancel.is_cancelled() {
                report.status = TaskStatus::Cancelled;
                return Ok(report);
            }
            observer
                .update(TaskUpdate::Part {
                    index: index as u32 + 1,
                    count: count as u32,
                })
                .await;
            let text = &outline.text()[part.clone()];
            let prompt = prompt::build_part(self.input, text, index + 1, count);
            let summary = self.step(prompt, part_output, &mut report).await?;
            if report.status == TaskStatus::Cancelled {
                return Ok(report);
            }
            summaries.push(summary);
        }

        for _ in 0..MAX_ROUNDS {
            let combined = prompt::build_combine(self.input, &summaries);
            let tokens = self
                .count(vec![Countable::Prompt(combined.clone())])
                .await
                .map_err(|error| (error, report.clone()))?[0];
            if tokens.saturating_add(self.max_output_tokens) <= self.context_tokens {
                return self.finish(combined, observer, report).await;
            }
            summaries = self.combine_round(summaries, observer, &mut report).await?;
            if report.status == TaskStatus::Cancelled {
                return Ok(report);
            }
        }
        Err((too_small(), report))
    }

    /// The final summary, streamed to the observer.
    async fn finish(
        &self,
        prompt: crate::engine::ChatPrompt,
        observer: &mut impl TaskObserver,
        mut report: TaskReport,
    ) -> Result<TaskReport, (EngineError, TaskReport)> {
        let outcome = generate(
            self.engine,
            prompt,
            self.max_output_tokens,
            self.cancel,
            Some(observer),
            &mut report,
        )
        .await;
        match outcome {
            Ok(raw) => {
                if self.cancel.is_cancelled() {
                    report.status = TaskStatus::Cancelled;
                }
                report.text = prompt::clean_answer(self.input, &raw);
                Ok(report)
            }
            Err((error, raw)) => {
                report.text = raw;
                Err((error, report))
            }
        }
    }

    /// One round of combining: the summaries in groups that fit, each group
    /// summarised into one.
    async fn combine_round(
        &self,
        summaries: Vec<String>,
        observer: &mut impl TaskObserver,
        report: &mut TaskReport,
    ) -> Result<Vec<String>, (EngineError, TaskReport)> {
        let part_output = self.part_output_tokens();
        let mut countables = vec![Countable::Prompt(prompt::build_combine(self.input, &[]))];
        countables.extend(summaries.iter().map(|s| Countable::Text(s.clone())));
        let counts = self
            .count(countables)
            .await
            .map_err(|error| (error, report.clone()))?;
        let budget = self
            .context_tokens
            .saturating_sub(part_output + counts[0] + self.margin());
        let sizes: Vec<u32> = counts[1..].iter().map(|count| count + 8).collect();
        let groups = pack(&sizes, budget);
        if groups.len() >= summaries.len() {
            // No group holds two summaries: combining cannot shrink them.
            let error = EngineError::ContextTooSmall {
                input_tokens: self.whole_tokens,
                output_tokens: self.max_output_tokens,
                context_tokens: self.context_tokens,
            };
            return Err((error, report.clone()));
        }
        let count = groups.len();
        let mut combined = Vec::with_capacity(count);
        for (index, group) in groups.into_iter().enumerate() {
            observer
                .update(TaskUpdate::Combining {
                    index: index as u32 + 1,
                    count: count as u32,
                })
                .await;
            let prompt = prompt::build_combine(self.input, &summaries[group]);
            combined.push(self.step(prompt, part_output, report).await?);
            if report.status == TaskStatus::Cancelled {
                break;
            }
        }
        Ok(combined)
    }

    /// One intermediate generation, not streamed.
    async fn step(
        &self,
        prompt: crate::engine::ChatPrompt,
        max_output_tokens: u32,
        report: &mut TaskReport,
    ) -> Result<String, (EngineError, TaskReport)> {
        match generate(
            self.engine,
            prompt,
            max_output_tokens,
            self.cancel,
            None::<&mut NoObserver>,
            report,
        )
        .await
        {
            Ok(raw) => Ok(prompt::clean_answer(self.input, &raw)),
            Err((error, _)) => Err((error, report.clone())),
        }
    }

    async fn count(&self, items: Vec<Countable>) -> Result<Vec<u32>, EngineError> {
        self.engine.count_tokens(items).await
    }

    /// Parts of at most `budget` tokens each: the outline's pieces, split until
    /// each fits, then packed in order.
    async fn plan_parts(
        &self,
        outline: &Outline<'_>,
        budget: u32,
    ) -> Result<Vec<Range<usize>>, EngineError> {
        let text = outline.text();
        // Each piece with its token count, once counted, and whether it can still
        // be cut (a single character cannot).
        let mut pieces: Vec<(Range<usize>, Option<u32>, bool)> = outline
            .pieces()
            .into_iter()
            .map(|piece| (piece, None, true))
            .collect();
        loop {
            let uncounted: Vec<usize> = (0..pieces.len())
                .filter(|&i| pieces[i].1.is_none())
                .collect();
            if !uncounted.is_empty() {
                let texts = uncounted
                    .iter()
                    .map(|&i| Countable::Text(text[pieces[i].0.clone()].to_owned()))
                    .collect();
                let counts = self.count(texts).await?;
                for (&i, count) in uncounted.iter().zip(counts) {
                    pieces[i].1 = Some(count);
                }
            }
            let too_big: Vec<usize> = (0..pieces.len())
                .filter(|&i| pieces[i].2 && pieces[i].1.unwrap_or(0) > budget)
                .collect();
            if too_big.is_empty() {
                break;
            }
            for &i in too_big.iter().rev() {
                let smaller = outline.split(pieces[i].0.clone());
                if smaller.len() < 2 {
                    pieces[i].2 = false;
                    continue;
                }
                pieces.splice(i..=i, smaller.into_iter().map(|piece| (piece, None, true)));
            }
        }
        // Counted apart, pieces can gain a token or two at each seam.
        let sizes: Vec<u32> = pieces
            .iter()
            .map(|(_, count, _)| count.unwrap_or(0) + 2)
            .collect();
        Ok(pack(&sizes, budget)
            .into_iter()
            .map(|group| pieces[group.start].0.start..pieces[group.end - 1].0.end)
            .collect())
    }
}

/// Consecutive groups of items whose sizes add up to at most `budget` (an item
/// bigger than the budget gets a group of its own).
fn pack(sizes: &[u32], budget: u32) -> Vec<Range<usize>> {
    let mut groups = Vec::new();
    let mut start = 0;
    let mut used = 0u32;
    for (index, &size) in sizes.iter().enumerate() {
        if index > start && used.saturating_add(size) > budget {
            groups.push(start..index);
            start = index;
            used = 0;
        }
        used = used.saturating_add(size);
    }
    if start < sizes.len() {
        groups.push(start..sizes.len());
    }
    groups
}

/// The observer of intermediate generations, which report nothing.
struct NoObserver;

impl TaskObserver for NoObserver {
    async fn update(&mut self, _: TaskUpdate<'_>) {}
}

#[cfg(test)]
mod tests {
    use super::pack;

    #[test]
    fn packing_keeps_order_and_the_budget() {
        assert_eq!(pack(&[3, 3, 3, 3], 6), [0..2, 2..4]);
        assert_eq!(pack(&[5, 9, 1, 1], 6), [0..1, 1..2, 2..4]);
        assert_eq!(pack(&[], 6), Vec::<std::ops::Range<usize>>::new());
        assert_eq!(pack(&[1, 1, 1], 100).len(), 1);
    }
}
