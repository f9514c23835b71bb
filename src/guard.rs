//! The secret guard: what must not leave the machine.
//!
//! Before any cloud request, the text to be sent is scanned for things that look
//! like secrets, and the file's name is checked against `cloud.never`. A finding
//! names its kind and line, never its value, so the refusal itself leaks nothing.
//! The patterns lean towards refusing: a false alarm costs a click, a leak cannot
//! be undone.

use std::sync::OnceLock;

use regex::Regex;

/// Something that looks like a secret.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Finding {
    pub kind: &'static str,
    /// 1-based, within the scanned text.
    pub line: usize,
}

impl std::fmt::Display for Finding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} on line {}", self.kind, self.line)
    }
}

struct Pattern {
    kind: &'static str,
    regex: Regex,
    /// The capture group holding the value, checked against placeholders.
    value_group: Option<usize>,
    /// The value is unquoted, so it may be code: a variable, a call, a number.
    unquoted: bool,
}

fn patterns() -> &'static [Pattern] {
    static PATTERNS: OnceLock<Vec<Pattern>> = OnceLock::new();
    PATTERNS.get_or_init(|| {
        let pattern = |kind, regex: &str, value_group| Pattern {
            kind,
            regex: Regex::new(regex).expect("the secret patterns compile"),
            value_group,
            unquoted: false,
        };
        vec![
            pattern(
                "a private key",
                r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----",
                None,
            ),
            pattern("an Anthropic API key", r"\bsk-ant-[A-Za-z0-9_-]{20,}", None),
            pattern(
                "an OpenAI-style API key",
                r"\bsk-(?:proj-|svcacct-|admin-|or-v1-)?[A-Za-z0-9_-]{20,}",
                None,
            ),
            pattern("an AWS access key id", r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b", None),
            pattern(
                "a GitHub token",
                r"\b(?:gh[pousr]_[A-Za-z0-9]{36,}|github_pat_[A-Za-z0-9_]{22,})",
                None,
            ),
            pattern("a GitLab token", r"\bglpat-[A-Za-z0-9_-]{20,}", None),
            pattern("a Slack token", r"\bxox[abposr]-[A-Za-z0-9-]{10,}", None),
            pattern(
                "a Stripe key",
                r"\b(?:sk|rk|pk)_(?:live|test)_[A-Za-z0-9]{16,}",
                None,
            ),
            pattern("a Google API key", r"\bAIza[0-9A-Za-z_-]{35}", None),
            pattern(
                "a JSON Web Token",
                r"\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}",
                None,
            ),
            pattern(
                "a connection string with a password",
                r"\b[a-zA-Z][a-zA-Z0-9+.-]*://[^\s:/@]+:([^\s@/]+)@[^\s/]+",
                Some(1),
            ),
            pattern(
                "a password or secret in an assignment",
                r#"(?i)[\w.-]*(?:password|passwd|pwd|secret|token|api[_-]?key|access[_-]?key|private[_-]?key|credential)[\w.-]*["']?\s*(?::=|=>|[:=])\s*["']([^"'\s]{4,})["']"#,
                Some(1),
            ),
            pattern(
                "a secret in a .env-style line",
                r"(?m)^[ \t]*(?:export[ \t]+)?[A-Z][A-Z0-9_]*(?:PASSWORD|PASSWD|SECRET|TOKEN|API_KEY|APIKEY|ACCESS_KEY|PRIVATE_KEY|CREDENTIALS?)[A-Z0-9_]*[ \t]*=[ \t]*([^\s#]{4,})",
                Some(1),
            ),
            Pattern {
                unquoted: true,
                ..pattern(
                    "a password or secret in a settings line",
                    r"(?im)^[ \t]*[\w.-]*(?:password|passwd|pwd|secret|token|api[_-]?key|access[_-]?key|private[_-]?key)[\w.-]*[ \t]*[:=][ \t]*([^\s\x22'#;,(){}\[\]]{4,})[ \t]*$",
                    Some(1),
                )
            },
        ]
    })
}

/// Values that stand for a secret without being one: `${DB_PASSWORD}`,
/// `<your key>`, `xxxx`, `changeme`, `os.environ[...]`.
fn is_placeholder(value: &str) -> bool {
    static PLACEHOLDER: OnceLock<Regex> = OnceLock::new();
    let regex = PLACEHOLDER.get_or_init(|| {
        Regex::new(
            r"(?i)^(?:\$\{.*\}|\$[A-Z_][A-Z0-9_]*|<.*>|\{\{.*\}\}|%\(.*\)s?|[x*.]+|(?:your|my|example|dummy|sample|fake|test)[\w-]*|changeme|password|secret|none|null|redacted|process\.env.*|os\.environ.*|env\(.*)$",
        )
        .expect("the placeholder pattern compiles")
    });
    regex.is_match(value.trim_matches(|c| c == '"' || c == '\''))
}

/// Unquoted values that are code rather than a secret: a name (`user_password`),
/// a path of names (`self.token`), a number (`max_tokens: 512`).
fn looks_like_code(value: &str) -> bool {
    static CODE: OnceLock<Regex> = OnceLock::new();
    let regex = CODE.get_or_init(|| {
        Regex::new(r"^(?:[A-Za-z_]+|[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)+|[0-9.]+)$")
            .expect("the code pattern compiles")
    });
    regex.is_match(value)
}

/// Scans `text`; returns every finding, at most one per kind and line.
pub fn scan(text: &str) -> Vec<Finding> {
    let line_of = |offset: usize| text[..offset].matches('\n').count() + 1;
    let mut findings: Vec<Finding> = Vec::new();
    // One finding per line: a line that holds a secret is named once, by the
    // most specific pattern (they are tried in that order).
    let mut add = |finding: Finding| {
        if !findings.iter().any(|found| found.line == finding.line) {
            findings.push(finding);
        }
    };
    for pattern in patterns() {
        for captures in pattern.regex.captures_iter(text) {
            let value = pattern
                .value_group
                .and_then(|group| captures.get(group))
                .map(|m| m.as_str());
            if value.is_some_and(is_placeholder)
                || (pattern.unquoted && value.is_some_and(looks_like_code))
            {
                continue;
            }
            let whole = captures.get(0).expect("a match has a group 0");
            add(Finding {
                kind: pattern.kind,
                line: line_of(whole.start()),
            });
        }
    }
    for (start, word) in candidate_words(text) {
        if looks_random(word) {
            add(Finding {
                kind: "a long random-looking string (a key or token?)",
                line: line_of(start),
            });
        }
    }
    findings.sort_by_key(|finding| finding.line);
    findings
}

/// Runs of base64 and URL-safe characters long enough to be a key.
fn candidate_words(text: &str) -> impl Iterator<Item = (usize, &str)> {
    static WORD: OnceLock<Regex> = OnceLock::new();
    WORD.get_or_init(|| Regex::new(r"[A-Za-z0-9+/_=-]{32,}").expect("compiles"))
        .find_iter(text)
        .map(|m| (m.start(), m.as_str()))
}

/// Mixed-case letters and digits with more than 4.5 bits of entropy per
/// character: what generated keys look like, and what identifiers, words and hex
/// digests (checksums, commit ids) do not.
fn looks_random(word: &str) -> bool {
    let has = |test: fn(&char) -> bool| word.chars().any(|c| test(&c));
    if !(has(char::is_ascii_lowercase)
        && has(char::is_ascii_uppercase)
        && has(char::is_ascii_digit))
    {
        return false;
    }
    // Paths and identifiers split into words are not keys.
    if word.split(['/', '_', '-']).all(|part| part.len() < 16) {
        return false;
    }
    shannon_entropy(word) > 4.5
}

fn shannon_entropy(word: &str) -> f64 {
    let mut counts = [0u32; 256];
    for byte in word.bytes() {
        counts[byte as usize] += 1;
    }
    let length = word.len() as f64;
    counts
        .iter()
        .filter(|&&n| n > 0)
        .map(|&n| {
            let p = f64::from(n) / length;
            -p * p.log2()
        })
        .sum()
}

/// The first `cloud.never` glob that `file_name` (or its path) matches.
pub fn never_send<'a>(path: &str, globs: &'a [String]) -> Option<&'a str> {
    let file_name = path.rsplit(['/', '\\']).next().unwrap_or(path);
    globs.iter().map(String::as_str).find(|glob| {
        globset::Glob::new(glob).is_ok_and(|glob| {
            let matcher = glob.compile_matcher();
            matcher.is_match(file_name) || (glob.glob().contains('/') && matcher.is_match(path))
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(text: &str) -> Vec<(&'static str, usize)> {
        scan(text).into_iter().map(|f| (f.kind, f.line)).collect()
    }

    #[test]
    fn common_secret_shapes_are_found_with_their_line() {
        let text = "\
fn main() {
    let key = \"sk-proj-Ab3dEf6hIj9kLm2nOp5qRs8tUv1wXy4z\";
    let aws = \"AKIAIOSFODNN7EXAMPLE\";
    let db = \"postgres://admin:hunter22@db.internal:5432/app\";
}
-----BEGIN OPENSSH PRIVATE KEY-----
";
        let found = kinds(text);
        assert!(found.contains(&("an OpenAI-style API key", 2)), "{found:?}");
        assert!(found.contains(&("an AWS access key id", 3)), "{found:?}");
        assert!(
            found.contains(&("a connection string with a password", 4)),
            "{found:?}"
        );
        assert!(found.contains(&("a private key", 6)), "{found:?}");
        let anthropic = kinds("ANTHROPIC=sk-ant-api03-abcdefghijklmnopqrstuvwx");
        assert!(anthropic.iter().any(|(kind, _)| kind.contains("Anthropic")));
    }

    #[test]
    fn assignments_and_env_lines_are_found_but_placeholders_are_not() {
        assert_eq!(
            kinds("config = { \"password\": \"tr0ub4dor&3\" }"),
            [("a password or secret in an assignment", 1)]
        );
        assert_eq!(
            kinds("DB_PASSWORD=s3cr3t-value\nDEBUG=true"),
            [("a secret in a .env-style line", 1)]
        );
        assert_eq!(
            kinds("database:\n  password: hunter22\n"),
            [("a password or secret in a settings line", 2)]
        );
        assert_eq!(
            kinds("db.password=s3cr3t!"),
            [("a password or secret in a settings line", 1)]
        );
        for harmless in [
            "max_tokens: 512",
            "token = self.token",
            "    let password = user_password",
            "password: hunter",
            "password = \"${DB_PASSWORD}\"",
            "api_key = \"<your key here>\"",
            "DB_PASSWORD=changeme",
            "let password = read_password()?;",
            "token = os.environ[\"TOKEN\"]",
            "postgres://user@localhost/db",
            "postgres://${USER}:${PASSWORD}@host/db",
        ] {
            assert_eq!(kinds(harmless), [], "{harmless}");
        }
    }

    #[test]
    fn random_strings_are_found_but_digests_and_identifiers_are_not() {
        let key = "token: Zx8Qp2Lm5Nv7Rt1Yw3Ks9Hd4Gf6Jb0Ac";
        assert!(!kinds(key).is_empty(), "{key}");
        for harmless in [
            "sha256 b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
            "commit 55e37fa0c2b7a1f3d4e5b6c7d8e9f0a1b2c3d4e5",
            "fn this_is_a_very_long_function_name_for_testing_purposes() {}",
            "src/components/UserProfileSettingsPanel/index.tsx",
            "The quick brown fox jumps over the lazy dog again and again.",
        ] {
            assert_eq!(kinds(harmless), [], "{harmless}");
        }
    }

    #[test]
    fn never_globs_match_file_names() {
        let globs: Vec<String> = [".env*", "*.pem", "id_rsa*", "secrets/**"]
            .map(String::from)
            .to_vec();
        assert_eq!(never_send("/home/me/app/.env.local", &globs), Some(".env*"));
        assert_eq!(
            never_send("/home/me/.ssh/id_rsa.pub", &globs),
            Some("id_rsa*")
        );
        assert_eq!(never_send("certs/server.pem", &globs), Some("*.pem"));
        assert_eq!(never_send("secrets/db.txt", &globs), Some("secrets/**"));
        assert_eq!(never_send("/home/me/app/src/env.rs", &globs), None);
    }
}
