//! The prompts for the three tasks. They are written for small local models: one
//! short instruction, the text fenced and labelled, and the shape of the answer
//! asked for plainly, since such models follow the last thing they read.

use super::TaskKind;
use super::language::Language;
use crate::engine::ChatPrompt;

/// What a task is run on.
#[derive(Clone, Debug)]
pub struct TaskInput {
    pub kind: TaskKind,
    pub text: String,
    pub language: Language,
    /// The file name without its folders, to give the model a hint.
    pub file_name: String,
    /// Draft only: what to write.
    pub instruction: Option<String>,
}

pub fn build(input: &TaskInput) -> ChatPrompt {
    let language = input.language;
    let what = if language.prose { "text" } else { "code" };
    let fence = if language.prose {
        String::new()
    } else {
        language.id.to_owned()
    };
    let quoted = if language.prose {
        format!("\"\"\"\n{}\n\"\"\"", input.text.trim())
    } else {
        format!(
            "File: {}\n```{fence}\n{}\n```",
            input.file_name,
            input.text.trim_end()
        )
    };
    let (system, request) = match input.kind {
        TaskKind::Summarise => (
            format!("You summarise {what} accurately and briefly."),
            if language.prose {
                "Summarise the passage above in two or three sentences of your own. Use only \
                 facts from the passage."
                    .to_owned()
            } else {
                format!(
                    "Summarise this {}code in two or three sentences: what it is for and what \
                     matters most.",
                    subject(language)
                )
            },
        ),
        TaskKind::Explain => (
            if language.prose {
                "You explain writing clearly to a reader who is new to the subject.".to_owned()
            } else {
                "You are an expert programmer who explains code clearly to a colleague.".to_owned()
            },
            if language.prose {
                "In two or three sentences, explain what the passage above says. Use only facts \
                 from the passage."
                    .to_owned()
            } else {
                format!(
                    "Explain what this {}code does in a short paragraph: its inputs, its result \
                     and how it works.",
                    subject(language)
                )
            },
        ),
        TaskKind::Draft => {
            let instruction = input
                .instruction
                .as_deref()
                .map(str::trim)
                .filter(|text| !text.is_empty());
            let request = match (instruction, language.prose) {
                (Some(instruction), _) => format!(
                    "{instruction}\nWrite it to follow the {what} above. Reply with only the \
                     new {what}."
                ),
                (None, true) => "Write the next paragraph of this text, in the same style. \
                                 Reply with only the new paragraph."
                    .to_owned(),
                (None, false) => format!(
                    "Write the {}code that should come next. Reply with only the new code.",
                    subject(language)
                ),
            };
            (
                format!("You write {what} that fits in with the {what} around it."),
                request,
            )
        }
    };
    ChatPrompt {
        system,
        user: format!("{quoted}\n\n{request}"),
    }
}

fn subject(language: Language) -> String {
    if language.prose {
        String::new()
    } else {
        format!("{} ", language.name)
    }
}

/// Tidies a model's answer: trims it, and for code drafts removes the Markdown
/// fence small models like to wrap code in.
pub fn clean_answer(kind: TaskKind, language: &Language, answer: &str) -> String {
    let answer = answer.trim();
    if kind != TaskKind::Draft || language.prose {
        return answer.to_owned();
    }
    let Some(after_open) = answer.strip_prefix("```") else {
        return answer.to_owned();
    };
    let body = after_open.split_once('\n').map_or("", |(_, body)| body);
    let body = match body.rfind("```") {
        Some(end) => &body[..end],
        None => body,
    };
    body.trim_end().to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input(kind: TaskKind, language: &str, instruction: Option<&str>) -> TaskInput {
        TaskInput {
            kind,
            text: "fn add(a: i32, b: i32) -> i32 { a + b }\n".into(),
            language: Language::detect(language, ""),
            file_name: "lib.rs".into(),
            instruction: instruction.map(str::to_owned),
        }
    }

    #[test]
    fn prompts_quote_the_text_and_name_the_language() {
        let prompt = build(&input(TaskKind::Explain, "rust", None));
        assert!(prompt.user.contains("```rust\nfn add"), "{}", prompt.user);
        assert!(prompt.user.contains("File: lib.rs"));
        assert!(prompt.user.contains("Rust code"));
        let prose = build(&input(TaskKind::Summarise, "markdown", None));
        assert!(
            prose.user.contains("Summarise the passage"),
            "{}",
            prose.user
        );
        assert!(!prose.user.contains("```"), "{}", prose.user);
    }

    #[test]
    fn draft_uses_the_instruction_when_given() {
        let prompt = build(&input(TaskKind::Draft, "rust", Some("Write a unit test.")));
        assert!(prompt.user.contains("Write a unit test."));
        let blank = build(&input(TaskKind::Draft, "rust", Some("  ")));
        assert!(blank.user.contains("code that should come next"));
    }

    #[test]
    fn code_drafts_lose_their_fence() {
        let rust = Language::detect("rust", "");
        let fenced = "```rust\nfn b() {}\n```\nSome words.";
        assert_eq!(clean_answer(TaskKind::Draft, &rust, fenced), "fn b() {}");
        assert_eq!(
            clean_answer(TaskKind::Draft, &rust, "  fn c() {}\n"),
            "fn c() {}"
        );
        assert_eq!(clean_answer(TaskKind::Explain, &rust, fenced), fenced);
    }
}
