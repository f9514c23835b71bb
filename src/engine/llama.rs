//! The engine thread: owns the llama.cpp model and context.

use std::num::NonZeroU32;
use std::sync::OnceLock;
use std::sync::mpsc::Receiver;

use llama_cpp_2::context::LlamaContext;
use llama_cpp_2::context::params::LlamaContextParams;
use llama_cpp_2::llama_backend::LlamaBackend;
use llama_cpp_2::llama_batch::LlamaBatch;
use llama_cpp_2::model::params::LlamaModelParams;
use llama_cpp_2::model::{LlamaChatMessage, LlamaModel};
use llama_cpp_2::sampling::LlamaSampler;
use llama_cpp_2::token::LlamaToken;
use tokio::sync::{mpsc, watch};

use super::{
    ChatPrompt, Countable, EngineError, EngineSettings, EngineStatus, GenerationEvent,
    GenerationRequest, GenerationSummary, Job, ModelInfo, StopReason,
};

/// Prompt tokens decoded per batch.
const BATCH_TOKENS: u32 = 512;
/// How many of the latest tokens the repetition penalty looks back on.
const REPEAT_WINDOW: i32 = 64;
/// The factor a repeated token's score is divided by (multiplied, when negative).
const REPEAT_PENALTY: f32 = 1.15;

type Events = mpsc::UnboundedSender<Result<GenerationEvent, EngineError>>;

/// llama.cpp's backend may be initialised once per process; engines come and go.
fn backend() -> Result<&'static LlamaBackend, EngineError> {
    static BACKEND: OnceLock<Result<LlamaBackend, String>> = OnceLock::new();
    BACKEND
        .get_or_init(|| {
            llama_cpp_2::send_logs_to_tracing(llama_cpp_2::LogOptions::default());
            LlamaBackend::init().map_err(|error| error.to_string())
        })
        .as_ref()
        .map_err(|reason| EngineError::LoadFailed {
            path: String::new(),
            reason: reason.clone(),
        })
}

pub(super) fn run(
    settings: EngineSettings,
    status: watch::Sender<EngineStatus>,
    jobs: Receiver<Job>,
) {
    let loaded = load(&settings);
    let (backend, model) = match loaded {
        Ok(loaded) => loaded,
        Err(error) => return refuse_all(error, &status, jobs),
    };
    let context_params = LlamaContextParams::default()
        .with_n_ctx(NonZeroU32::new(settings.context_tokens))
        .with_n_batch(BATCH_TOKENS.min(settings.context_tokens))
        .with_n_threads(thread_count(settings.threads))
        .with_n_threads_batch(thread_count(settings.threads));
    let mut context = match model.new_context(backend, context_params) {
        Ok(context) => context,
        Err(error) => {
            let error = EngineError::LoadFailed {
                path: settings.model_path.display().to_string(),
                reason: format!("no context of {} tokens: {error}", settings.context_tokens),
            };
            return refuse_all(error, &status, jobs);
        }
    };
    let info = ModelInfo {
        name: model_name(&settings),
        context_tokens: context.n_ctx(),
    };
    tracing::info!(model = %info.name, context_tokens = info.context_tokens, "model loaded");
    status.send_replace(EngineStatus::Ready(info));

    for job in jobs {
        match job {
            Job::Generate { request, events } => {
                let started = std::time::Instant::now();
                match generate(&model, &mut context, &request, &events) {
                    Ok(summary) => {
                        tracing::debug!(
                            input_tokens = summary.input_tokens,
                            output_tokens = summary.output_tokens,
                            stop = ?summary.stop,
                            elapsed_ms = started.elapsed().as_millis() as u64,
                            "generation finished"
                        );
                        let _ = events.send(Ok(GenerationEvent::Finished(summary)));
                    }
                    Err(error) => {
                        let _ = events.send(Err(error));
                    }
                }
            }
            Job::Count { items, reply } => {
                let _ = reply.send(count(&model, &items));
            }
        }
    }
    tracing::debug!("engine thread stopped");
}

fn load(settings: &EngineSettings) -> Result<(&'static LlamaBackend, LlamaModel), EngineError> {
    let backend = backend()?;
    let path = &settings.model_path;
    if !path.is_file() {
        return Err(EngineError::ModelMissing(format!(
            "no model file at {}; point local.modelPath or AUMATRON_MODEL at a GGUF file, \
             or unset both and run scripts/setup.sh for the default model",
            path.display()
        )));
    }
    let started = std::time::Instant::now();
    let model = LlamaModel::load_from_file(backend, path, &LlamaModelParams::default()).map_err(
        |error| EngineError::LoadFailed {
            path: path.display().to_string(),
            reason: error.to_string(),
        },
    )?;
    tracing::debug!(
        elapsed_ms = started.elapsed().as_millis() as u64,
        "model file read"
    );
    Ok((backend, model))
}

/// Answers every job with the reason the model is not there, until the engine is
/// replaced and its queue dropped.
fn refuse_all(error: EngineError, status: &watch::Sender<EngineStatus>, jobs: Receiver<Job>) {
    tracing::warn!(%error, "local engine unavailable");
    status.send_replace(EngineStatus::Failed(error.clone()));
    for job in jobs {
        job.refuse(error.clone());
    }
}

fn model_name(settings: &EngineSettings) -> String {
    settings
        .model_path
        .file_stem()
        .map(|stem| stem.to_string_lossy().into_owned())
        .unwrap_or_else(|| "local model".into())
}

fn thread_count(threads: u32) -> i32 {
    i32::try_from(threads.max(1)).unwrap_or(i32::MAX)
}

fn tokenize(model: &LlamaModel, text: &str, special: bool) -> Vec<LlamaToken> {
    model.vocab().tokenize(text.as_bytes(), special, special)
}

fn count(model: &LlamaModel, items: &[Countable]) -> Result<Vec<u32>, EngineError> {
    items
        .iter()
        .map(|item| {
            let tokens = match item {
                Countable::Text(text) => tokenize(model, text, false).len(),
                Countable::Prompt(prompt) => {
                    tokenize(model, &render_prompt(model, prompt)?, true).len()
                }
            };
            Ok(u32::try_from(tokens).unwrap_or(u32::MAX))
        })
        .collect()
}

/// The prompt in the model's own chat template, or a plain transcript for a model
/// that ships none.
fn render_prompt(model: &LlamaModel, prompt: &ChatPrompt) -> Result<String, EngineError> {
    let template = match model.chat_template(None) {
        Ok(template) => template,
        Err(_) => {
            return Ok(format!(
                "{}\n\nUser: {}\nAssistant:",
                prompt.system, prompt.user
            ));
        }
    };
    let message = |role: &str, content: &str| {
        LlamaChatMessage::new(role.into(), content.into())
            .map_err(|error| EngineError::Generation(format!("bad prompt text: {error}")))
    };
    let messages = [
        message("system", &prompt.system)?,
        message("user", &prompt.user)?,
    ];
    model
        .apply_chat_template(&template, &messages, true)
        .map_err(|error| EngineError::Generation(format!("chat template failed: {error}")))
}

fn generate(
    model: &LlamaModel,
    context: &mut LlamaContext<'_>,
    request: &GenerationRequest,
    events: &Events,
) -> Result<GenerationSummary, EngineError> {
    let cancelled = |input_tokens, output_tokens| GenerationSummary {
        input_tokens,
        output_tokens,
        stop: StopReason::Cancelled,
    };
    if request.cancel.is_cancelled() {
        return Ok(cancelled(0, 0));
    }

    let prompt = render_prompt(model, &request.prompt)?;
    tracing::trace!(%prompt, "prompt");
    let tokens = tokenize(model, &prompt, true);
    let input_tokens = u32::try_from(tokens.len()).unwrap_or(u32::MAX);
    let context_tokens = context.n_ctx();
    if input_tokens.saturating_add(request.max_output_tokens) > context_tokens {
        return Err(EngineError::ContextTooSmall {
            input_tokens,
            output_tokens: request.max_output_tokens,
            context_tokens,
        });
    }
    let _ = events.send(Ok(GenerationEvent::Started { input_tokens }));

    context.clear_kv_cache();
    let mut batch = LlamaBatch::new(BATCH_TOKENS as usize, 1);
    let decode_error = |error: llama_cpp_2::DecodeError| EngineError::Generation(error.to_string());
    let batch_error =
        |error: llama_cpp_2::llama_batch::BatchAddError| EngineError::Generation(error.to_string());
    let chunks: Vec<&[LlamaToken]> = tokens.chunks(BATCH_TOKENS as usize).collect();
    let mut position = 0;
    for (chunk_index, chunk) in chunks.iter().enumerate() {
        if request.cancel.is_cancelled() {
            return Ok(cancelled(input_tokens, 0));
        }
        batch.clear();
        let last_chunk = chunk_index + 1 == chunks.len();
        for (i, token) in chunk.iter().enumerate() {
            let wants_logits = last_chunk && i + 1 == chunk.len();
            batch
                .add(*token, position, &[0], wants_logits)
                .map_err(batch_error)?;
            position += 1;
        }
        context.decode(&mut batch).map_err(decode_error)?;
    }

    let vocab = model.vocab();
    let mut sampler = sampler(model.n_vocab());
    let mut text = Utf8Stream::default();
    let mut output_tokens = 0;
    let stop = loop {
        if request.cancel.is_cancelled() {
            break StopReason::Cancelled;
        }
        if output_tokens >= request.max_output_tokens {
            break StopReason::OutputLimit;
        }
        let token = sampler.sample(context, batch.n_tokens() - 1);
        if vocab.is_eog(token) {
            break StopReason::EndOfText;
        }
        output_tokens += 1;
        let piece = text.push(&vocab.token_to_piece(token, false, None));
        let delta = GenerationEvent::Text {
            delta: piece,
            output_tokens,
        };
        if matches!(&delta, GenerationEvent::Text { delta, .. } if !delta.is_empty())
            && events.send(Ok(delta)).is_err()
        {
            // Nobody is listening any more: stop spending time on it.
            break StopReason::Cancelled;
        }
        if output_tokens >= request.max_output_tokens {
            // The last token needs no decode: nothing will follow it.
            break StopReason::OutputLimit;
        }
        batch.clear();
        batch
            .add(token, position, &[0], true)
            .map_err(batch_error)?;
        position += 1;
        context.decode(&mut batch).map_err(decode_error)?;
    };
    let rest = text.finish();
    if !rest.is_empty() {
        let _ = events.send(Ok(GenerationEvent::Text {
            delta: rest,
            output_tokens,
        }));
    }
    Ok(GenerationSummary {
        input_tokens,
        output_tokens,
        stop,
    })
}

/// Greedy choice after a repetition penalty on the last [`REPEAT_WINDOW`] tokens.
///
/// The penalty only lowers the scores of tokens already seen, and at most
/// `REPEAT_WINDOW` of them, so the winner is always among the `REPEAT_WINDOW + 1`
/// best raw scores. Keeping only those first picks the same token (up to the
/// order of equal scores) while the
/// penalty looks up 65 candidates instead of the whole vocabulary (49,152 for
/// SmolLM2) in its table, for every token generated.
fn sampler(n_vocab: i32) -> LlamaSampler {
    LlamaSampler::chain_simple([
        LlamaSampler::top_k(REPEAT_WINDOW + 1),
        LlamaSampler::penalties(n_vocab, REPEAT_WINDOW, REPEAT_PENALTY, 0.0, 0.0),
        LlamaSampler::greedy(),
    ])
}

/// Turns token pieces into text. A piece can end inside a multi-byte character, so
/// bytes wait here until the character is whole.
#[derive(Default)]
struct Utf8Stream {
    pending: Vec<u8>,
}

impl Utf8Stream {
    fn push(&mut self, bytes: &[u8]) -> String {
        self.pending.extend_from_slice(bytes);
        match std::str::from_utf8(&self.pending) {
            Ok(text) => {
                let text = text.to_owned();
                self.pending.clear();
                text
            }
            Err(error) if error.error_len().is_none() => {
                let valid = error.valid_up_to();
                let text = String::from_utf8_lossy(&self.pending[..valid]).into_owned();
                self.pending.drain(..valid);
                text
            }
            Err(_) => self.finish(),
        }
    }

    fn finish(&mut self) -> String {
        let text = String::from_utf8_lossy(&self.pending).into_owned();
        self.pending.clear();
        text
    }
}

#[cfg(test)]
mod tests {
    use llama_cpp_2::sampling::LlamaSampler;
    use llama_cpp_2::token::LlamaToken;
    use llama_cpp_2::token::data::LlamaTokenData;
    use llama_cpp_2::token::data_array::LlamaTokenDataArray;

    use super::{REPEAT_PENALTY, REPEAT_WINDOW, Utf8Stream, sampler};

    #[test]
    fn the_sampler_finds_the_winner_behind_a_full_window_of_repeats() {
        // The whole window is distinct tokens holding the best raw scores; the
        // penalty drops them all below the 65th best, which must win.
        const VOCAB: i32 = 1_000;
        let mut ours = sampler(VOCAB);
        let window: Vec<i32> = (100..100 + REPEAT_WINDOW).collect();
        for &token in &window {
            ours.accept(LlamaToken(token));
        }
        let mut logits = vec![0.0_f32; VOCAB as usize];
        for (i, &token) in window.iter().enumerate() {
            logits[token as usize] = 50.0 + i as f32 * 0.01;
        }
        logits[7] = 49.0;
        let mut candidates = LlamaTokenDataArray::from_iter(
            logits
                .iter()
                .enumerate()
                .map(|(id, &logit)| LlamaTokenData::new(LlamaToken(id as i32), logit, 0.0)),
            false,
        );
        candidates.apply_sampler(&mut ours);
        assert_eq!(candidates.selected_token(), Some(LlamaToken(7)));
    }

    #[test]
    fn the_sampler_picks_what_a_penalty_over_the_whole_vocabulary_picks() {
        const VOCAB: i32 = 49_152;
        let mut ours = sampler(VOCAB);
        let mut whole = LlamaSampler::chain_simple([
            LlamaSampler::penalties(VOCAB, REPEAT_WINDOW, REPEAT_PENALTY, 0.0, 0.0),
            LlamaSampler::greedy(),
        ]);
        let mut state = 0x5eed_u64;
        let mut next = move || {
            state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = state;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            z ^ (z >> 31)
        };
        let mut history: Vec<i32> = Vec::new();
        let mut penalised_away = 0;
        for _ in 0..400 {
            // Distinct random scores (equal scores may be ordered either way),
            // with most recent tokens raised to the top, so that the penalty
            // decides many steps.
            let mut order: Vec<i32> = (0..VOCAB).collect();
            for i in (1..order.len()).rev() {
                order.swap(i, (next() % (i as u64 + 1)) as usize);
            }
            let mut logits: Vec<f32> = order.iter().map(|&rank| rank as f32 * 1e-3 - 2.0).collect();
            // The best unseen score is about 47; a raised token scores 40 to 56
            // before the penalty and 35 to 49 after it (raised scores may tie;
            // with this seed no tie decides a step).
            for token in history.iter().rev().take(REPEAT_WINDOW as usize) {
                if next() % 4 != 0 {
                    logits[*token as usize] = 40.0 + (next() % 16_000) as f32 * 1e-3;
                }
            }
            let candidates = || {
                LlamaTokenDataArray::from_iter(
                    logits
                        .iter()
                        .enumerate()
                        .map(|(id, &logit)| LlamaTokenData::new(LlamaToken(id as i32), logit, 0.0)),
                    false,
                )
            };
            let mut a = candidates();
            a.apply_sampler(&mut ours);
            let mut b = candidates();
            b.apply_sampler(&mut whole);
            let (picked, expected) = (a.selected_token().unwrap(), b.selected_token().unwrap());
            assert_eq!(picked, expected);
            let best_raw = (0..VOCAB)
                .max_by(|x, y| logits[*x as usize].total_cmp(&logits[*y as usize]))
                .unwrap();
            if picked.0 != best_raw {
                penalised_away += 1;
            }
            ours.accept(picked);
            whole.accept(expected);
            history.push(picked.0);
        }
        // The comparison means something only if the penalty changed the choice.
        assert!(
            penalised_away > 20,
            "the penalty changed only {penalised_away} choices"
        );
    }

    #[test]
    fn characters_split_across_pieces_come_out_whole() {
        let mut stream = Utf8Stream::default();
        let bytes = "é😀".as_bytes();
        assert_eq!(stream.push(&bytes[..1]), "");
        assert_eq!(stream.push(&bytes[1..3]), "é");
        assert_eq!(stream.push(&bytes[3..]), "😀");
        assert_eq!(stream.push(&[0xff]), "\u{fffd}");
        assert_eq!(stream.finish(), "");
    }
}
