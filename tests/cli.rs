//! The command line: `run`, `doctor`, `--version`, with the real model.

mod support;

use support::Sandbox;

const EXAMPLE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/word_count.rs");

#[test]
fn run_streams_an_explanation_of_a_file_to_stdout() {
    let sandbox = Sandbox::new();
    let output = sandbox
        .command()
        .args(["run", "explain", EXAMPLE, "--lines", "4:21"])
        .output()
        .unwrap();
    let stdout = String::from_utf8(output.stdout).unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert!(stdout.trim().len() > 40, "{stdout}");
    let lower = stdout.to_lowercase();
    assert!(
        ["word", "count", "text"].iter().any(|w| lower.contains(w)),
        "the explanation should be about the code: {stdout}"
    );
}

#[test]
fn run_reports_bad_input_clearly() {
    let sandbox = Sandbox::new();
    let missing = sandbox
        .command()
        .args(["run", "summarise", "/nonexistent/file.txt"])
        .output()
        .unwrap();
    assert!(!missing.status.success());
    assert!(String::from_utf8_lossy(&missing.stderr).contains("cannot read /nonexistent/file.txt"));

    let past_end = sandbox
        .command()
        .args(["run", "explain", EXAMPLE, "--lines", "900:901"])
        .output()
        .unwrap();
    assert!(!past_end.status.success());
    assert!(String::from_utf8_lossy(&past_end.stderr).contains("selects nothing"));

    let reversed = sandbox
        .command()
        .args(["run", "explain", EXAMPLE, "--lines", "5:2"])
        .output()
        .unwrap();
    assert!(!reversed.status.success());

    sandbox.write_config("[local]\ncontextTokens = 256\nmaxOutputTokens = 64\n");
    let too_big = sandbox
        .command()
        .args(["run", "explain", EXAMPLE])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&too_big.stderr);
    assert!(!too_big.status.success());
    assert!(stderr.contains("local.contextTokens"), "{stderr}");

    // A summary of the same file is made in parts instead, and says so.
    let in_parts = sandbox
        .command()
        .args(["run", "summarise", EXAMPLE])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&in_parts.stderr);
    assert!(in_parts.status.success(), "{stderr}");
    assert!(stderr.contains("part 1 of "), "{stderr}");
    assert!(!String::from_utf8_lossy(&in_parts.stdout).trim().is_empty());
}

#[test]
fn doctor_says_what_is_fine_and_what_to_fix() {
    let sandbox = Sandbox::new();
    let healthy = sandbox.command().arg("doctor").output().unwrap();
    let stdout = String::from_utf8_lossy(&healthy.stdout);
    assert!(healthy.status.success(), "{stdout}");
    assert!(
        stdout.contains("model loads: SmolLM2-135M-Instruct.Q4_1"),
        "{stdout}"
    );
    assert!(stdout.contains("everything is in place"), "{stdout}");
    assert!(stdout.contains("ok   spend ledger "), "{stdout}");
    assert!(
        stdout
            .contains("no provider has a key (local only until one is set), in the kernel keyring"),
        "{stdout}"
    );
    assert!(
        stdout.contains("budget: $0.00 of $10.00 spent this month"),
        "{stdout}"
    );

    // A ledger that cannot be opened is something to fix; cloud tasks are refused.
    std::fs::write(
        sandbox.path("data/aumatron/ledger.sqlite3"),
        "not a database",
    )
    .unwrap();
    let corrupt = sandbox.command().arg("doctor").output().unwrap();
    let stdout = String::from_utf8_lossy(&corrupt.stdout);
    assert!(!corrupt.status.success(), "{stdout}");
    assert!(
        stdout.contains("FIX  the spend ledger is unavailable"),
        "{stdout}"
    );
    std::fs::remove_file(sandbox.path("data/aumatron/ledger.sqlite3")).unwrap();

    sandbox.write_config("[local]\nthreads = 0\n");
    let mut command = sandbox.command();
    command.arg("doctor").env_remove("AUMATRON_MODEL");
    let broken = command.output().unwrap();
    let stdout = String::from_utf8_lossy(&broken.stdout);
    assert!(!broken.status.success(), "{stdout}");
    assert!(
        stdout.contains("FIX  config file") && stdout.contains("local.threads"),
        "{stdout}"
    );
    assert!(stdout.contains("FIX  no local model"), "{stdout}");
    assert!(stdout.contains("scripts/setup.sh"), "{stdout}");

    let not_gguf = sandbox.write_file("fake.gguf", "not a model");
    std::fs::remove_file(sandbox.path("config/aumatron/config.toml")).unwrap();
    let fake = sandbox
        .command()
        .arg("doctor")
        .env("AUMATRON_MODEL", &not_gguf)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&fake.stdout);
    assert!(!fake.status.success());
    assert!(stdout.contains("not a GGUF file"), "{stdout}");
}

#[test]
fn version_and_help() {
    let sandbox = Sandbox::new();
    let version = sandbox.command().arg("--version").output().unwrap();
    assert_eq!(
        String::from_utf8_lossy(&version.stdout).trim(),
        format!("aumatron-lsp {}", env!("CARGO_PKG_VERSION"))
    );
    let help = sandbox.command().arg("--help").output().unwrap();
    let help = String::from_utf8_lossy(&help.stdout);
    assert!(help.contains("run") && help.contains("doctor"), "{help}");
}
