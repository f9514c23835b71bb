//! The prompts for the three tasks. They are written for small local models: one
//! short instruction, the text fenced and labelled, and the shape of the answer
//! asked for plainly, since such models follow the last thing they read.

use super::language::{DocSyntax, Language};
use super::{DraftForm, TaskKind};
use crate::engine::ChatPrompt;
use crate::syntax::ContextItem;

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
    /// Draft only: code after the selection, or a doc comment for it.
    pub form: DraftForm,
    /// What the text is, when it is one definition: "function `parse_date`".
    pub subject: Option<String>,
    /// Explain only: pieces of the rest of the file that may help, most useful
    /// first. `task::context` quotes as many as the token budget allows.
    pub context: Vec<ContextItem>,
}

impl TaskInput {
    /// The input of a task on `selection` of a document, as the editor and the
    /// command line both build it: the text; when it is one definition, its name;
    /// for explain, what the rest of the file offers as context.
    #[allow(clippy::too_many_arguments)]
    pub fn for_selection(
        kind: TaskKind,
        form: DraftForm,
        rope: &ropey::Rope,
        tree: Option<&crate::syntax::SyntaxTree>,
        language: Language,
        file_name: &str,
        selection: std::ops::Range<usize>,
        instruction: Option<String>,
    ) -> TaskInput {
        let placed = super::placement::Target {
            rope,
            tree,
            language: &language,
        };
        // The definition the selection is, to name it in the prompt.
        let subject = tree
            .and_then(|tree| {
                crate::syntax::snap_selection(Some(tree), rope, selection.clone()).definition
            })
            .filter(|definition| {
                super::placement::definition_starting(placed, selection.clone()).as_ref()
                    == Some(definition)
            })
            .map(|definition| definition.subject());
        let context = match (kind, tree) {
            (TaskKind::Explain, Some(tree)) => {
                crate::syntax::explain_candidates(tree, rope, selection.clone())
            }
            _ => Vec::new(),
        };
        TaskInput {
            instruction,
            form,
            subject,
            context,
            ..TaskInput::new(
                kind,
                rope.slice(selection).to_string(),
                language,
                file_name.to_owned(),
            )
        }
    }

    /// An input with no instruction, subject or context.
    pub fn new(kind: TaskKind, text: String, language: Language, file_name: String) -> TaskInput {
        TaskInput {
            kind,
            text,
            language,
            file_name,
            instruction: None,
            form: DraftForm::Code,
            subject: None,
            context: Vec::new(),
        }
    }
}

/// The prompt for a task, quoting no context.
pub fn build(input: &TaskInput) -> ChatPrompt {
    build_with_context(input, &[])
}

/// The prompt for a task, quoting `context` (pieces of the same file, quoted in
/// file order before the text itself) when there is any.
pub fn build_with_context(input: &TaskInput, context: &[ContextItem]) -> ChatPrompt {
    if input.kind == TaskKind::Draft && input.form == DraftForm::DocComment {
        return doc_comment(input);
    }
    let language = input.language;
    let what = if language.prose { "text" } else { "code" };
    let fence = if language.prose {
        String::new()
    } else {
        language.id.to_owned()
    };
    let quoted = if language.prose {
        format!("\"\"\"\n{}\n\"\"\"", input.text.trim())
    } else if context.is_empty() {
        format!(
            "File: {}\n```{fence}\n{}\n```",
            input.file_name,
            input.text.trim_end()
        )
    } else {
        let mut items: Vec<&ContextItem> = context.iter().collect();
        items.sort_by_key(|item| item.chars.start);
        let quoted_context = items
            .iter()
            .map(|item| item.text.as_str())
            .collect::<Vec<_>>()
            .join("\n...\n");
        format!(
            "File: {}\nParts of the file it uses, for reference:\n```{fence}\n{quoted_context}\n```\n\n\
             The code to explain:\n```{fence}\n{}\n```",
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
                    "Summarise this {} in two or three sentences: what it is for and what \
                     matters most.",
                    subject(input)
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
                    "Explain what this {} does in a short paragraph: its inputs, its result \
                     and how it works.",
                    subject(input)
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
                    "Write the {} code that should come next. Reply with only the new code.",
                    language.name
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

/// What the code is, for the request: "Rust function `parse_date`", "Rust code".
fn subject(input: &TaskInput) -> String {
    let name = input.language.name;
    match &input.subject {
        Some(subject) => format!("{name} {subject}"),
        None => format!("{name} code"),
    }
}

/// A doc comment or docstring for a definition: only its text is asked for; the
/// markers are added where it is placed.
fn doc_comment(input: &TaskInput) -> ChatPrompt {
    let language = input.language;
    let what = input.subject.as_deref().unwrap_or("code");
    let kind = match language.doc_syntax() {
        Some(DocSyntax::Docstring) => "docstring",
        _ => "documentation comment",
    };
    let mut request = format!(
        "Write the {kind} for the {what} above: first one sentence that says what it does, then, \
         if it helps, one short paragraph about its inputs, its result and its errors. Reply with \
         the text only: no comment markers, no code."
    );
    if language.id == "go"
        && let Some(name) = input.subject.as_deref().and_then(|s| s.split('`').nth(1))
    {
        request.push_str(&format!(" Begin with its name, {name}."));
    }
    ChatPrompt {
        system: format!(
            "You write clear, brief documentation for {} code.",
            language.name
        ),
        user: format!(
            "File: {}\n```{}\n{}\n```\n\n{request}",
            input.file_name,
            language.id,
            input.text.trim_end()
        ),
    }
}

/// The prompt for one part of a text summarised in parts.
pub fn build_part(input: &TaskInput, part: &str, index: usize, count: usize) -> ChatPrompt {
    let language = input.language;
    let (what, quoted) = if language.prose {
        ("text", format!("\"\"\"\n{}\n\"\"\"", part.trim()))
    } else {
        (
            "code",
            format!("```{}\n{}\n```", language.id, part.trim_end()),
        )
    };
    ChatPrompt {
        system: format!("You summarise {what} accurately and briefly."),
        user: format!(
            "File: {} (part {index} of {count})\n{quoted}\n\nSummarise this part of the {what} \
             in two or three sentences. Use only facts from it.",
            input.file_name
        ),
    }
}

/// The prompt that turns the summaries of consecutive parts into one summary.
pub fn build_combine(input: &TaskInput, summaries: &[String]) -> ChatPrompt {
    let what = if input.language.prose { "text" } else { "code" };
    let listed = summaries
        .iter()
        .enumerate()
        .map(|(i, summary)| format!("Part {}: {}", i + 1, summary.trim()))
        .collect::<Vec<_>>()
        .join("\n\n");
    ChatPrompt {
        system: format!("You summarise {what} accurately and briefly."),
        user: format!(
            "These are summaries of consecutive parts of {}, in order:\n\n{listed}\n\n\
             Write one summary of the whole {what} in two or three sentences. Use only facts \
             from the summaries.",
            input.file_name
        ),
    }
}

/// Tidies a model's answer: trims it, and for code drafts removes the Markdown
/// fence small models like to wrap code in.
pub fn clean_answer(input: &TaskInput, answer: &str) -> String {
    let (kind, language) = (input.kind, &input.language);
    let answer = answer.trim();
    if kind == TaskKind::Draft && input.form == DraftForm::DocComment {
        return clean_doc_comment(answer);
    }
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

/// The text of a doc comment a model wrote, without the fences and comment
/// markers it may have added anyway.
fn clean_doc_comment(answer: &str) -> String {
    let mut lines = Vec::new();
    for line in answer.lines() {
        let mut line = line.trim();
        if line.starts_with("```") {
            continue;
        }
        for marker in [
            "/**", "*/", "///", "//!", "//", "---", "--", "\"\"\"", "'''", "#", "*",
        ] {
            if let Some(rest) = line.strip_prefix(marker) {
                line = rest.trim_start();
            }
        }
        for marker in ["*/", "\"\"\"", "'''"] {
            if let Some(rest) = line.strip_suffix(marker) {
                line = rest.trim_end();
            }
        }
        lines.push(line);
    }
    lines.join("\n").trim().to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input(kind: TaskKind, language: &str, instruction: Option<&str>) -> TaskInput {
        TaskInput {
            instruction: instruction.map(str::to_owned),
            ..TaskInput::new(
                kind,
                "fn add(a: i32, b: i32) -> i32 { a + b }\n".into(),
                Language::detect(language, ""),
                "lib.rs".into(),
            )
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
        let draft = input(TaskKind::Draft, "rust", None);
        let fenced = "```rust\nfn b() {}\n```\nSome words.";
        assert_eq!(clean_answer(&draft, fenced), "fn b() {}");
        assert_eq!(clean_answer(&draft, "  fn c() {}\n"), "fn c() {}");
        let explain = input(TaskKind::Explain, "rust", None);
        assert_eq!(clean_answer(&explain, fenced), fenced);
    }

    #[test]
    fn doc_comment_answers_lose_their_markers() {
        let doc = TaskInput {
            form: DraftForm::DocComment,
            ..input(TaskKind::Draft, "rust", None)
        };
        assert_eq!(
            clean_answer(&doc, "/// Adds two numbers.\n///\n/// Never overflows."),
            "Adds two numbers.\n\nNever overflows."
        );
        assert_eq!(clean_answer(&doc, "\"\"\"Adds.\"\"\""), "Adds.");
        assert_eq!(clean_answer(&doc, "/**\n * Adds.\n */"), "Adds.");
        let prompt = build(&doc);
        assert!(
            prompt.user.contains("documentation comment"),
            "{}",
            prompt.user
        );
    }

    #[test]
    fn context_is_quoted_in_file_order_before_the_code() {
        use crate::syntax::{ContextItem, ContextKind};
        let explain = TaskInput {
            subject: Some("function `add`".into()),
            ..input(TaskKind::Explain, "rust", None)
        };
        let item = |text: &str, at: usize| ContextItem {
            kind: ContextKind::Definition,
            name: text.into(),
            text: text.into(),
            chars: at..at + 1,
        };
        let prompt = build_with_context(&explain, &[item("struct B;", 50), item("use a::A;", 1)]);
        let user = &prompt.user;
        let (a, b, code) = (
            user.find("use a::A").unwrap(),
            user.find("struct B").unwrap(),
            user.find("fn add").unwrap(),
        );
        assert!(a < b && b < code, "{user}");
        assert!(user.contains("Rust function `add`"), "{user}");
    }
}
