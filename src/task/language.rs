//! What the tasks need to know about a document's language: its name for the
//! prompt, whether it is prose, and how to write a comment and a doc comment in it.

/// How comments are written in a language.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CommentSyntax {
    /// Each line starts with this marker.
    Line(&'static str),
    /// The block opens and closes with these markers.
    Block(&'static str, &'static str),
    /// No comments (plain text): the answer is set off as a quotation.
    Quote,
}

/// How a language documents a definition.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DocSyntax {
    /// Lines right above the definition, each starting with this marker: `///` in
    /// Rust, `//` in Go, `---` in Lua.
    Lines(&'static str),
    /// A `/** ... */` block above the definition, ` * ` before each line: JSDoc,
    /// Javadoc, Doxygen.
    Block,
    /// A string as the first statement of the body: Python's docstring.
    Docstring,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Language {
    /// The LSP language identifier.
    pub id: &'static str,
    /// The name used in prompts and code fences.
    pub name: &'static str,
    pub comment: CommentSyntax,
    pub prose: bool,
}

const fn code(id: &'static str, name: &'static str, comment: CommentSyntax) -> Language {
    Language {
        id,
        name,
        comment,
        prose: false,
    }
}

const SLASHES: CommentSyntax = CommentSyntax::Line("//");
const HASH: CommentSyntax = CommentSyntax::Line("#");
const DASHES: CommentSyntax = CommentSyntax::Line("--");
const HTML: CommentSyntax = CommentSyntax::Block("<!--", "-->");

/// Known languages, with the file extensions that name them.
const LANGUAGES: &[(Language, &[&str])] = &[
    (code("rust", "Rust", SLASHES), &["rs"]),
    (code("python", "Python", HASH), &["py", "pyi"]),
    (
        code("javascript", "JavaScript", SLASHES),
        &["js", "mjs", "cjs", "jsx"],
    ),
    (code("javascriptreact", "JavaScript", SLASHES), &[]),
    (
        code("typescript", "TypeScript", SLASHES),
        &["ts", "mts", "cts"],
    ),
    (code("typescriptreact", "TypeScript", SLASHES), &["tsx"]),
    (code("go", "Go", SLASHES), &["go"]),
    (code("c", "C", SLASHES), &["c", "h"]),
    (
        code("cpp", "C++", SLASHES),
        &["cc", "cpp", "cxx", "hpp", "hh", "hxx"],
    ),
    (code("csharp", "C#", SLASHES), &["cs"]),
    (code("java", "Java", SLASHES), &["java"]),
    (code("kotlin", "Kotlin", SLASHES), &["kt", "kts"]),
    (code("swift", "Swift", SLASHES), &["swift"]),
    (code("scala", "Scala", SLASHES), &["scala"]),
    (code("php", "PHP", SLASHES), &["php"]),
    (code("zig", "Zig", SLASHES), &["zig"]),
    (code("dart", "Dart", SLASHES), &["dart"]),
    (code("lua", "Lua", DASHES), &["lua"]),
    (code("sql", "SQL", DASHES), &["sql"]),
    (code("haskell", "Haskell", DASHES), &["hs"]),
    (code("ruby", "Ruby", HASH), &["rb"]),
    (code("shellscript", "shell", HASH), &["sh", "bash", "zsh"]),
    (code("perl", "Perl", HASH), &["pl", "pm"]),
    (code("r", "R", HASH), &["r"]),
    (code("elixir", "Elixir", HASH), &["ex", "exs"]),
    (code("toml", "TOML", HASH), &["toml"]),
    (code("yaml", "YAML", HASH), &["yaml", "yml"]),
    (code("dockerfile", "Dockerfile", HASH), &[]),
    (code("makefile", "Makefile", HASH), &["mk"]),
    (code("erlang", "Erlang", CommentSyntax::Line("%")), &["erl"]),
    (code("latex", "LaTeX", CommentSyntax::Line("%")), &["tex"]),
    (
        code("clojure", "Clojure", CommentSyntax::Line(";;")),
        &["clj", "cljs"],
    ),
    (
        code("lisp", "Lisp", CommentSyntax::Line(";;")),
        &["lisp", "el"],
    ),
    (
        code("vim", "Vim script", CommentSyntax::Line("\"")),
        &["vim"],
    ),
    (
        code("css", "CSS", CommentSyntax::Block("/*", "*/")),
        &["css"],
    ),
    (code("html", "HTML", HTML), &["html", "htm"]),
    (code("xml", "XML", HTML), &["xml", "svg"]),
    (
        Language {
            id: "markdown",
            name: "Markdown",
            comment: HTML,
            prose: true,
        },
        &["md", "markdown"],
    ),
    (
        Language {
            id: "plaintext",
            name: "text",
            comment: CommentSyntax::Quote,
            prose: true,
        },
        &["txt", "text"],
    ),
];

const PLAIN_TEXT: Language = Language {
    id: "plaintext",
    name: "text",
    comment: CommentSyntax::Quote,
    prose: true,
};

impl Language {
    /// How doc comments are written, for languages that have them.
    pub fn doc_syntax(&self) -> Option<DocSyntax> {
        Some(match self.id {
            "rust" | "csharp" | "swift" | "dart" | "zig" => DocSyntax::Lines("///"),
            "python" => DocSyntax::Docstring,
            "javascript" | "javascriptreact" | "typescript" | "typescriptreact" | "java"
            | "kotlin" | "scala" | "php" | "c" | "cpp" => DocSyntax::Block,
            "go" => DocSyntax::Lines("//"),
            "lua" => DocSyntax::Lines("---"),
            "haskell" => DocSyntax::Lines("-- |"),
            "sql" => DocSyntax::Lines("--"),
            "erlang" => DocSyntax::Lines("%%"),
            "ruby" | "shellscript" | "perl" | "r" | "elixir" => DocSyntax::Lines("#"),
            "clojure" | "lisp" => DocSyntax::Lines(";;"),
            _ => return None,
        })
    }

    /// The language for an LSP language id, falling back to the file name.
    pub fn detect(language_id: &str, file_name: &str) -> Language {
        Self::from_id(language_id).unwrap_or_else(|| Self::from_file_name(file_name))
    }

    pub fn from_id(language_id: &str) -> Option<Language> {
        LANGUAGES
            .iter()
            .map(|(language, _)| *language)
            .find(|language| language.id == language_id)
    }

    pub fn from_file_name(file_name: &str) -> Language {
        let base = file_name.rsplit(['/', '\\']).next().unwrap_or(file_name);
        match base {
            "Dockerfile" => return Self::from_id("dockerfile").unwrap_or(PLAIN_TEXT),
            "Makefile" | "GNUmakefile" => return Self::from_id("makefile").unwrap_or(PLAIN_TEXT),
            _ => {}
        }
        let Some((_, extension)) = base.rsplit_once('.') else {
            return PLAIN_TEXT;
        };
        let extension = extension.to_ascii_lowercase();
        LANGUAGES
            .iter()
            .find(|(_, extensions)| extensions.contains(&extension.as_str()))
            .map(|(language, _)| *language)
            .unwrap_or(PLAIN_TEXT)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn language_ids_win_over_file_names() {
        assert_eq!(Language::detect("python", "notes.txt").id, "python");
        assert_eq!(Language::detect("", "src/main.rs").id, "rust");
        assert_eq!(
            Language::detect("unknown-id", "App.TSX").id,
            "typescriptreact"
        );
        assert_eq!(Language::detect("", "Dockerfile").comment, HASH);
        assert_eq!(Language::detect("", "README").id, "plaintext");
    }

    #[test]
    fn doc_syntax_per_language() {
        let doc = |id: &str| Language::detect(id, "").doc_syntax();
        assert_eq!(doc("rust"), Some(DocSyntax::Lines("///")));
        assert_eq!(doc("python"), Some(DocSyntax::Docstring));
        assert_eq!(doc("typescriptreact"), Some(DocSyntax::Block));
        assert_eq!(doc("lua"), Some(DocSyntax::Lines("---")));
        assert_eq!(doc("markdown"), None);
    }

    #[test]
    fn prose_and_comment_syntax() {
        assert!(Language::detect("markdown", "").prose);
        assert!(!Language::detect("lua", "").prose);
        assert_eq!(Language::detect("lua", "").comment, DASHES);
        assert_eq!(Language::detect("html", "").comment, HTML);
    }
}
