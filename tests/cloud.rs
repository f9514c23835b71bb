//! End-to-end tests of cloud tasks: the real binary over stdio, keys in the real
//! kernel keyring, the real SQLite ledger, and `tests/fake_cloud.py` standing in
//! for OpenAI and Anthropic on loopback with their exact wire formats.

mod support;

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use support::{
    Client, FakeCloud, Sandbox, editor_capabilities, extension_capabilities, file_uri, range,
};

const KEY: &str = "sk-test-aumatron-0123456789abcdef";
const ANTHROPIC_KEY: &str = "sk-ant-test-aumatron-0123456789abcdef";

const RUST_SOURCE: &str = "\
use std::collections::HashMap;

/// Counts how often each word appears.
pub fn word_counts(text: &str) -> HashMap<String, usize> {
    let mut counts = HashMap::new();
    for word in text.split_whitespace() {
        *counts.entry(word.to_lowercase()).or_insert(0) += 1;
    }
    counts
}
";

const NOTES: &str = "\
# Meeting notes

We agreed to move the launch to March, because the translations are late.
Sam will ask the printer for a new quote before Friday.
";

/// A sandbox whose OpenAI and Anthropic providers point at the fake, with more
/// TOML settings after them.
fn cloud_sandbox(fake: &FakeCloud, extra: &str) -> Sandbox {
    let sandbox = Sandbox::new();
    let base = fake.base_url();
    sandbox.write_config(&format!(
        "[providers.openai]\nbaseUrl = \"{base}\"\n\n[providers.anthropic]\nbaseUrl = \"{base}\"\n\n{extra}"
    ));
    sandbox
}

fn set_key(client: &mut Client, provider: &str, key: &str) {
    let answer = client
        .request(
            "workspace/executeCommand",
            json!({ "command": "aumatron.setKey", "arguments": [{ "provider": provider, "key": key }] }),
        )
        .unwrap();
    assert_eq!(answer, json!({ "provider": provider, "keyState": "ok" }));
}

fn open(client: &mut Client, sandbox: &Sandbox, name: &str, language: &str, text: &str) -> String {
    let uri = file_uri(&sandbox.write_file(name, text));
    client.open(&uri, language, text);
    uri
}

fn run(client: &mut Client, command: &str, arguments: Value) -> String {
    let started = client
        .request(
            "workspace/executeCommand",
            json!({ "command": command, "arguments": [arguments] }),
        )
        .unwrap_or_else(|error| panic!("{command} was refused: {error}"));
    started["taskId"].as_str().unwrap().to_owned()
}

/// Waits for the task's final notification.
fn finished(client: &mut Client, id: &str) -> Value {
    client.wait_notification("aumatron/taskDidChange", |p| {
        p["taskId"] == id && p["status"] != "running"
    })
}

/// The ledger's rows, from `aumatron-lsp budget export --csv`.
fn ledger_rows(sandbox: &Sandbox) -> Vec<std::collections::HashMap<String, String>> {
    let (ok, csv, stderr) = sandbox.cli(&["budget", "export", "--csv"], "");
    assert!(ok, "{stderr}");
    let mut lines = csv.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    lines
        .map(|line| {
            header
                .iter()
                .map(|name| name.to_string())
                .zip(line.split(',').map(str::to_owned))
                .collect()
        })
        .collect()
}

fn usd(row: &std::collections::HashMap<String, String>, column: &str) -> f64 {
    row[column].parse().unwrap()
}

/// Amounts in the protocol are rounded to six decimals.
fn assert_usd(actual: &Value, expected: f64) {
    let actual = actual
        .as_f64()
        .unwrap_or_else(|| panic!("not a number: {actual}"));
    assert!((actual - expected).abs() <= 5e-7, "{actual} != {expected}");
}

#[test]
fn explain_with_openai_streams_charges_exactly_and_pushes_the_budget() {
    let fake = FakeCloud::start();
    let sandbox = cloud_sandbox(&fake, "");
    let (mut client, initialized) = Client::start(&sandbox, extension_capabilities(), Value::Null);
    assert_eq!(
        initialized["capabilities"]["experimental"]["aumatron"]["budget"],
        true
    );
    let first = client.wait_notification("aumatron/budgetDidChange", |_| true);
    assert_eq!(first["state"], "ok");
    assert_usd(&first["capUsd"], 10.0);
    assert_eq!(first["last"], Value::Null);
    let uri = open(&mut client, &sandbox, "words.rs", "rust", RUST_SOURCE);

    // Without a key there is no cloud action.
    let ask = |client: &mut Client| {
        client
            .request(
                "textDocument/codeAction",
                json!({ "textDocument": { "uri": uri }, "range": range((3, 0), (9, 1)),
                        "context": { "diagnostics": [] } }),
            )
            .unwrap()
    };
    let actions = ask(&mut client);
    assert_eq!(actions.as_array().unwrap().len(), 3, "{actions}");

    set_key(&mut client, "openai", KEY);
    let with_key = client.wait_notification("aumatron/budgetDidChange", |p| {
        p["providers"][1]["id"] == "openai" && p["providers"][1]["hasKey"] == true
    });
    assert_eq!(with_key["providers"][1]["keyState"], "ok");
    let actions = ask(&mut client);
    let explain = actions
        .as_array()
        .unwrap()
        .iter()
        .find(|action| action["kind"] == "refactor.ai.explain.cloud")
        .unwrap_or_else(|| panic!("no cloud explain in {actions}"))
        .clone();
    let title = explain["title"].as_str().unwrap();
    assert!(
        title.starts_with(
            "Explain function `word_counts` with OpenAI gpt-4.1-mini (cloud, about $0.0"
        ),
        "{title}"
    );
    assert_eq!(explain["command"]["arguments"][0]["target"], "openai");

    fake.script(
        "/v1/chat/completions",
        json!([{ "text": "It counts words, ignoring case.", "usage": { "input": 1000, "output": 500 } }]),
    );
    let id = run(
        &mut client,
        "aumatron.explain",
        explain["command"]["arguments"][0].clone(),
    );
    let done = finished(&mut client, &id);
    assert_eq!(done["status"], "done", "{done}");
    assert_eq!(done["provider"], "openai");
    assert_eq!(done["model"], "gpt-4.1-mini");
    assert_eq!(done["text"], "It counts words, ignoring case.");
    assert_eq!(done["inputTokens"], 1000);
    assert_eq!(done["outputTokens"], 500);
    // 1000 tokens at $0.40 and 500 at $1.60 per million.
    assert_usd(&done["costUsd"], 0.0012);
    let streamed: String = client
        .transcript
        .iter()
        .filter(|m| m["method"] == "aumatron/taskDidChange" && m["params"]["taskId"] == id.as_str())
        .filter_map(|m| m["params"]["delta"].as_str())
        .collect();
    assert_eq!(streamed, "It counts words, ignoring case.");

    let budget = client.wait_notification("aumatron/budgetDidChange", |p| {
        p["last"]["taskId"] == id.as_str()
    });
    assert_usd(&budget["spentUsd"], 0.0012);
    assert_usd(&budget["reservedUsd"], 0.0);
    assert_usd(&budget["remainingUsd"], 10.0 - 0.0012);
    assert_eq!(budget["last"]["provider"], "openai");
    assert_eq!(budget["last"]["inputTokens"], 1000);
    assert_usd(&budget["last"]["costUsd"], 0.0012);
    assert_eq!(budget["providers"][1]["requests"], 1);
    let pulled = client.request("aumatron/budget", Value::Null).unwrap();
    assert_eq!(pulled, budget);
    // A reservation was announced before the request settled.
    assert!(client.transcript.iter().any(|m| {
        m["method"] == "aumatron/budgetDidChange" && m["params"]["reservedUsd"].as_f64() > Some(0.0)
    }));

    let requests = fake.requests_to("/chat/completions");
    assert_eq!(requests.len(), 1);
    let request = &requests[0];
    assert_eq!(request["headers"]["authorization"], format!("Bearer {KEY}"));
    assert_eq!(request["body"]["model"], "gpt-4.1-mini");
    assert_eq!(request["body"]["stream"], true);
    assert_eq!(request["body"]["stream_options"]["include_usage"], true);
    assert_eq!(request["body"]["max_completion_tokens"], 1024);
    let prompt = request["body"]["messages"][1]["content"].as_str().unwrap();
    assert!(prompt.contains("pub fn word_counts"), "{prompt}");

    let rows = ledger_rows(&sandbox);
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0]["outcome"], "done");
    assert!((usd(&rows[0], "cost_usd") - 0.0012).abs() < 1e-9);
    assert!(usd(&rows[0], "reserved_usd") >= 0.0012);
    client.shutdown();
}

#[test]
fn nothing_is_sent_without_an_explicit_command_and_prose_goes_to_writing() {
    let fake = FakeCloud::start();
    let sandbox = cloud_sandbox(&fake, "");
    let (mut client, _) = Client::start(&sandbox, extension_capabilities(), Value::Null);
    set_key(&mut client, "openai", KEY);
    set_key(&mut client, "anthropic", ANTHROPIC_KEY);
    let code = open(&mut client, &sandbox, "words.rs", "rust", RUST_SOURCE);
    let notes = open(&mut client, &sandbox, "notes.md", "markdown", NOTES);

    // Everything an editor does on its own, and a local task: no request leaves.
    for uri in [&code, &notes] {
        let actions = client.code_actions(uri, range((0, 0), (3, 0)));
        assert_eq!(actions.len(), 6, "{actions:?}");
    }
    client.notify(
        "textDocument/didChange",
        json!({ "textDocument": { "uri": code, "version": 2 },
                "contentChanges": [{ "range": range((0, 0), (0, 0)), "text": "// hi\n" }] }),
    );
    client.request("aumatron/budget", Value::Null).unwrap();
    let local = run(
        &mut client,
        "aumatron.summarise",
        json!({ "uri": notes, "range": range((0, 0), (4, 0)) }),
    );
    assert_eq!(finished(&mut client, &local)["provider"], "local");
    client.drain_for(Duration::from_millis(300));
    assert_eq!(fake.requests(), Vec::<Value>::new());

    // Prose routes to the provider tagged writing: Anthropic, with its headers.
    fake.script(
        "/v1/messages",
        json!([{ "text": "The launch moves to March.", "usage": { "input": 1000, "output": 200 } }]),
    );
    let prose = run(
        &mut client,
        "aumatron.summarise",
        json!({ "uri": notes, "range": range((0, 0), (4, 0)), "target": "cloud" }),
    );
    let done = finished(&mut client, &prose);
    assert_eq!(done["status"], "done", "{done}");
    assert_eq!(done["provider"], "anthropic");
    assert_eq!(done["model"], "claude-haiku-4-5");
    // $1 and $5 per million tokens.
    assert_usd(&done["costUsd"], 0.002);
    let messages = fake.requests_to("/v1/messages");
    assert_eq!(messages.len(), 1);
    assert_eq!(messages[0]["headers"]["x-api-key"], ANTHROPIC_KEY);
    assert_eq!(messages[0]["headers"]["anthropic-version"], "2023-06-01");
    assert!(messages[0]["headers"].get("authorization").is_none());
    assert_eq!(messages[0]["body"]["max_tokens"], 1024);
    assert!(messages[0]["body"]["system"].is_string());
    // Anthropic's token count would send the text before the cap check: the
    // input is estimated here instead.
    assert_eq!(fake.requests_to("/messages/count_tokens").len(), 0);

    // Code routes to the provider tagged code.
    let code_task = run(
        &mut client,
        "aumatron.explain",
        json!({ "uri": code, "range": range((4, 0), (10, 1)), "target": "cloud" }),
    );
    assert_eq!(finished(&mut client, &code_task)["provider"], "openai");
    assert_eq!(fake.requests_to("/chat/completions").len(), 1);
    assert_eq!(fake.requests().len(), 2);
    client.shutdown();
}

#[test]
fn a_rejected_key_falls_back_to_local_and_is_marked() {
    let fake = FakeCloud::start();
    fake.accept_keys(&["sk-some-other-key-000000000000000"]);
    let sandbox = cloud_sandbox(&fake, "");
    let (mut client, _) = Client::start(&sandbox, extension_capabilities(), Value::Null);
    set_key(&mut client, "openai", KEY);
    let uri = open(&mut client, &sandbox, "words.rs", "rust", RUST_SOURCE);
    let id = run(
        &mut client,
        "aumatron.explain",
        json!({ "uri": uri, "range": range((3, 0), (9, 1)), "target": "openai" }),
    );
    let warning = client.wait_notification("window/showMessage", |p| p["type"] == 2);
    let message = warning["message"].as_str().unwrap();
    assert!(
        message.contains("OpenAI rejected the API key")
            && message.contains("replace it")
            && message.contains("local model instead"),
        "{message}"
    );
    assert!(!message.contains(KEY));
    let done = finished(&mut client, &id);
    assert_eq!(done["status"], "done", "{done}");
    assert_eq!(done["provider"], "local");
    assert!(!done["text"].as_str().unwrap().is_empty());
    let budget = client.wait_notification("aumatron/budgetDidChange", |p| {
        p["providers"][1]["keyState"] == "rejected"
    });
    assert_usd(&budget["spentUsd"], 0.0);
    let rows = ledger_rows(&sandbox);
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0]["outcome"], "not-billed");
    assert_eq!(usd(&rows[0], "cost_usd"), 0.0);

    // A new key clears the mark.
    set_key(&mut client, "openai", "sk-some-other-key-000000000000000");
    client.wait_notification("aumatron/budgetDidChange", |p| {
        p["providers"][1]["keyState"] == "ok"
    });
    client.shutdown();
}

/// One scripted fault and what it must end in.
struct Fault {
    name: &'static str,
    path: &'static str,
    target: &'static str,
    steps: Value,
    status: &'static str,
    /// Requests the fake must receive.
    tries: usize,
    /// `Some(cost)`: charged exactly this; `None`: charged the full reservation.
    cost: Option<f64>,
    message: &'static str,
}

#[test]
fn faults_end_with_one_message_and_the_right_charge() {
    let fake = FakeCloud::start();
    let sandbox = cloud_sandbox(&fake, "[cloud]\ntimeoutSeconds = 2\n");
    let (mut client, _) = Client::start(&sandbox, extension_capabilities(), Value::Null);
    set_key(&mut client, "openai", KEY);
    set_key(&mut client, "anthropic", ANTHROPIC_KEY);
    let uri = open(&mut client, &sandbox, "words.rs", "rust", RUST_SOURCE);
    let ok = json!({ "text": "Fine.", "usage": { "input": 1000, "output": 500 } });
    let openai = "/v1/chat/completions";
    let anthropic = "/v1/messages";
    let faults = [
        Fault {
            name: "rate limited, then fine",
            path: openai,
            target: "openai",
            steps: json!([{ "status": 429, "retryAfter": 1 }, ok]),
            status: "done",
            tries: 2,
            cost: Some(0.0012),
            message: "",
        },
        Fault {
            name: "out of quota",
            path: openai,
            target: "openai",
            steps: json!([{ "status": 429, "error": "insufficient_quota" }]),
            status: "failed",
            tries: 1,
            cost: Some(0.0),
            message: "out of credit or quota",
        },
        Fault {
            name: "out of credit",
            path: openai,
            target: "openai",
            steps: json!([{ "status": 402, "error": "credit" }]),
            status: "failed",
            tries: 1,
            cost: Some(0.0),
            message: "out of credit or quota",
        },
        Fault {
            name: "server errors, then fine",
            path: openai,
            target: "openai",
            steps: json!([{ "status": 500 }, { "status": 503 }, ok]),
            status: "done",
            tries: 3,
            cost: Some(0.0012),
            message: "",
        },
        Fault {
            name: "overloaded every time",
            path: anthropic,
            target: "anthropic",
            steps: json!([{ "status": 529 }, { "status": 529 }, { "status": 529 }]),
            status: "failed",
            tries: 3,
            cost: Some(0.0),
            message: "HTTP 529",
        },
        Fault {
            name: "dropped mid-answer",
            path: openai,
            target: "openai",
            steps: json!([{ "fault": "drop", "after": 2 }]),
            status: "failed",
            tries: 1,
            cost: None,
            message: "broke off",
        },
        Fault {
            name: "an error event after the 200",
            path: openai,
            target: "openai",
            steps: json!([{ "fault": "error_event", "after": 2 }]),
            status: "failed",
            tries: 1,
            cost: None,
            message: "mid-answer",
        },
        Fault {
            name: "an Anthropic error event after the 200",
            path: anthropic,
            target: "anthropic",
            steps: json!([{ "fault": "error_event", "after": 1 }]),
            status: "failed",
            tries: 1,
            cost: None,
            message: "Overloaded",
        },
        Fault {
            name: "a malformed chunk",
            path: openai,
            target: "openai",
            steps: json!([{ "fault": "malformed", "after": 1 }]),
            status: "failed",
            tries: 1,
            cost: None,
            message: "not JSON",
        },
        Fault {
            name: "a stall",
            path: openai,
            target: "openai",
            steps: json!([{ "fault": "stall", "after": 1, "seconds": 6 }]),
            status: "failed",
            tries: 1,
            cost: None,
            message: "sent nothing for 2 s",
        },
        Fault {
            name: "usage null",
            path: openai,
            target: "openai",
            steps: json!([{ "text": "No usage.", "usage": "null" }]),
            status: "done",
            tries: 1,
            cost: None,
            message: "",
        },
        Fault {
            name: "usage so far on every chunk, then dropped",
            path: openai,
            target: "openai",
            steps: json!([{ "usage": "every", "fault": "drop", "after": 3 }]),
            status: "failed",
            tries: 1,
            cost: None,
            message: "broke off",
        },
        Fault {
            name: "usage so far on every chunk, and no final report",
            path: openai,
            target: "openai",
            steps: json!([{ "text": "Counts without a total.", "usage": "every" }]),
            status: "done",
            tries: 1,
            cost: None,
            message: "",
        },
        Fault {
            name: "an empty usage object",
            path: openai,
            target: "openai",
            steps: json!([{ "text": "Empty usage.", "usage": "empty" }]),
            status: "done",
            tries: 1,
            cost: None,
            message: "",
        },
        Fault {
            name: "keep-alive comments and pings",
            path: openai,
            target: "openai",
            steps: json!([{ "comments": true, "text": "With comments in between.",
                            "usage": { "input": 1000, "output": 500 } }]),
            status: "done",
            tries: 1,
            cost: Some(0.0012),
            message: "",
        },
        Fault {
            name: "Anthropic cumulative usage with cache tokens",
            path: anthropic,
            target: "anthropic",
            steps: json!([{ "comments": true, "text": "Cached.",
                            "usage": { "input": 1000, "output": 200, "cachedInput": 2000,
                                       "cacheWrite": 400 } }]),
            status: "done",
            tries: 1,
            // $1 input, $0.10 cache reads, $1.25 cache writes, $5 output.
            cost: Some(0.001 + 0.0002 + 0.0005 + 0.001),
            message: "",
        },
        Fault {
            name: "Anthropic usage omitted",
            path: anthropic,
            target: "anthropic",
            steps: json!([{ "text": "No usage at all.", "usage": "omit" }]),
            status: "done",
            tries: 1,
            cost: None,
            message: "",
        },
    ];
    for fault in &faults {
        let before = fake.requests_to(fault.path).len();
        let rows_before = ledger_rows(&sandbox).len();
        fake.script(fault.path, fault.steps.clone());
        let id = run(
            &mut client,
            "aumatron.explain",
            json!({ "uri": uri, "range": range((3, 0), (9, 1)), "target": fault.target }),
        );
        let end = finished(&mut client, &id);
        assert_eq!(end["status"], fault.status, "{}: {end}", fault.name);
        if !fault.message.is_empty() {
            let error = end["error"].as_str().unwrap_or_default();
            assert!(error.contains(fault.message), "{}: {error}", fault.name);
            assert!(!error.contains(KEY) && !error.contains(ANTHROPIC_KEY));
        }
        let tries = fake.requests_to(fault.path).len() - before;
        assert_eq!(tries, fault.tries, "{}: requests sent", fault.name);
        let rows = ledger_rows(&sandbox);
        let new_rows = &rows[rows_before..];
        assert_eq!(
            new_rows.len(),
            fault.tries,
            "{}: one row per try",
            fault.name
        );
        let charged: f64 = new_rows.iter().map(|row| usd(row, "cost_usd")).sum();
        match fault.cost {
            Some(cost) => assert!(
                (charged - cost).abs() < 1e-9,
                "{}: charged {charged}, expected {cost}",
                fault.name
            ),
            None => {
                let last = new_rows.last().unwrap();
                assert_eq!(
                    usd(last, "cost_usd"),
                    usd(last, "reserved_usd"),
                    "{}: the full reservation",
                    fault.name
                );
                assert!(charged > 0.0);
            }
        }
        assert_usd(&end["costUsd"], charged);
    }
    client.shutdown();
}

#[test]
fn cancelling_a_cloud_task_stops_it_and_charges_the_reservation() {
    let fake = FakeCloud::start();
    let sandbox = cloud_sandbox(&fake, "");
    let (mut client, _) = Client::start(&sandbox, extension_capabilities(), Value::Null);
    set_key(&mut client, "openai", KEY);
    let uri = open(&mut client, &sandbox, "words.rs", "rust", RUST_SOURCE);
    fake.script(
        "/v1/chat/completions",
        json!([{ "text": "one two three four five six seven eight nine ten", "delayMs": 400,
                 "usage": { "input": 10, "output": 10 } }]),
    );
    let id = run(
        &mut client,
        "aumatron.explain",
        json!({ "uri": uri, "range": range((3, 0), (9, 1)), "target": "openai" }),
    );
    client.wait_notification("aumatron/taskDidChange", |p| p["delta"].is_string());
    let answer = client
        .request(
            "workspace/executeCommand",
            json!({ "command": "aumatron.cancel", "arguments": [{ "taskId": id }] }),
        )
        .unwrap();
    assert_eq!(answer, json!({ "cancelled": true }));
    let end = finished(&mut client, &id);
    assert_eq!(end["status"], "cancelled");
    assert!(end["text"].as_str().unwrap().split_whitespace().count() < 10);
    let rows = ledger_rows(&sandbox);
    assert_eq!(rows[0]["outcome"], "cancelled");
    assert_eq!(usd(&rows[0], "cost_usd"), usd(&rows[0], "reserved_usd"));
    client.shutdown();
}

#[test]
fn the_secret_guard_and_cloud_never_stop_requests_before_they_leave() {
    let fake = FakeCloud::start();
    let sandbox = cloud_sandbox(&fake, "");
    let (mut client, _) = Client::start(&sandbox, extension_capabilities(), Value::Null);
    set_key(&mut client, "openai", KEY);
    let leaky = "fn connect() {\n    let url = \"postgres://admin:hunter22@db.internal/app\";\n    let key = \"sk-proj-Ab3dEf6hIj9kLm2nOp5qRs8tUv1wXy4z\";\n}\n";
    let uri = open(&mut client, &sandbox, "db.rs", "rust", leaky);
    let id = run(
        &mut client,
        "aumatron.explain",
        json!({ "uri": uri, "range": range((0, 0), (4, 0)), "target": "openai" }),
    );
    let end = finished(&mut client, &id);
    assert_eq!(end["status"], "failed");
    let error = end["error"].as_str().unwrap();
    assert!(
        error.contains("not sent")
            && error.contains("a connection string with a password on line 2")
            && error.contains("an OpenAI-style API key on line 3"),
        "{error}"
    );
    assert!(
        !error.contains("hunter22") && !error.contains("Ab3dEf6h"),
        "{error}"
    );

    let env = open(
        &mut client,
        &sandbox,
        ".env.local",
        "plaintext",
        "GREETING=hello\n",
    );
    let id = run(
        &mut client,
        "aumatron.summarise",
        json!({ "uri": env, "target": "openai" }),
    );
    let error = finished(&mut client, &id)["error"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        error.contains("cloud.never") && error.contains(".env*"),
        "{error}"
    );
    assert!(fake.requests().is_empty());
    assert!(ledger_rows(&sandbox).is_empty(), "nothing reserved");
    client.shutdown();

    // With cloud.confirmSecrets, the user is asked, and a yes sends it.
    sandbox.write_config(&format!(
        "[providers.openai]\nbaseUrl = \"{}\"\n[cloud]\nconfirmSecrets = true\n",
        fake.base_url()
    ));
    let (mut client, _) = Client::start(&sandbox, extension_capabilities(), Value::Null);
    client.message_choice = Some("Send anyway".into());
    client.open(&uri, "rust", leaky);
    let id = run(
        &mut client,
        "aumatron.explain",
        json!({ "uri": uri, "range": range((0, 0), (4, 0)), "target": "openai" }),
    );
    let question = client.wait_server_request("window/showMessageRequest");
    assert!(
        question["message"]
            .as_str()
            .unwrap()
            .contains("Send to OpenAI anyway?"),
        "{question}"
    );
    assert_eq!(finished(&mut client, &id)["status"], "done");
    assert_eq!(fake.requests().len(), 1);
    client.shutdown();
}

#[test]
fn local_only_hides_and_refuses_every_cloud_action() {
    let fake = FakeCloud::start();
    let sandbox = cloud_sandbox(&fake, "[cloud]\nenabled = false\n");
    let (mut client, _) = Client::start(&sandbox, extension_capabilities(), Value::Null);
    set_key(&mut client, "openai", KEY);
    let budget = client.wait_notification("aumatron/budgetDidChange", |p| {
        p["providers"][1]["hasKey"] == true
    });
    assert_eq!(budget["state"], "local-only");
    let uri = open(&mut client, &sandbox, "words.rs", "rust", RUST_SOURCE);
    let actions = client
        .request(
            "textDocument/codeAction",
            json!({ "textDocument": { "uri": uri }, "range": range((3, 0), (9, 1)),
                    "context": { "diagnostics": [] } }),
        )
        .unwrap();
    assert_eq!(actions.as_array().unwrap().len(), 3, "{actions}");
    for target in ["cloud", "openai"] {
        let refused = client
            .request(
                "workspace/executeCommand",
                json!({ "command": "aumatron.explain",
                        "arguments": [{ "uri": uri, "range": range((3, 0), (9, 1)), "target": target }] }),
            )
            .unwrap_err();
        assert_eq!(refused["code"], -32602);
        assert!(
            refused["message"]
                .as_str()
                .unwrap()
                .contains("cloud.enabled = false")
        );
    }
    let unknown = client
        .request(
            "workspace/executeCommand",
            json!({ "command": "aumatron.explain",
                    "arguments": [{ "uri": uri, "target": "gemini" }] }),
        )
        .unwrap_err();
    assert!(unknown["message"].as_str().unwrap().contains("\"gemini\""));
    assert!(fake.requests().is_empty());
    client.shutdown();
}

#[test]
fn a_local_task_that_does_not_fit_offers_the_cloud_and_sends_only_on_yes() {
    let fake = FakeCloud::start();
    let sandbox = cloud_sandbox(
        &fake,
        "[local]\ncontextTokens = 256\nmaxOutputTokens = 64\n",
    );
    let (mut client, _) = Client::start(&sandbox, extension_capabilities(), Value::Null);
    set_key(&mut client, "openai", KEY);
    let big = "The quick brown fox jumps over the lazy dog. ".repeat(60);
    let uri = open(&mut client, &sandbox, "big.txt", "plaintext", &big);

    // No answer: nothing is sent. (A summary would be made in parts; an
    // explanation needs the whole input at once.)
    let id = run(&mut client, "aumatron.explain", json!({ "uri": uri }));
    assert_eq!(finished(&mut client, &id)["status"], "failed");
    let offer = client.wait_server_request("window/showMessageRequest");
    let yes = offer["actions"][0]["title"].as_str().unwrap();
    assert!(
        yes.starts_with("Explain with OpenAI gpt-4.1-mini (cloud, about $"),
        "{offer}"
    );
    assert!(
        offer["message"]
            .as_str()
            .unwrap()
            .contains("local.contextTokens")
    );
    client.drain_for(Duration::from_millis(500));
    assert!(fake.requests().is_empty());

    // Yes: the cloud task runs.
    client.message_choice = Some("Explain with OpenAI".into());
    let id = run(&mut client, "aumatron.explain", json!({ "uri": uri }));
    assert_eq!(finished(&mut client, &id)["status"], "failed");
    let cloud = client.wait_notification("aumatron/taskDidChange", |p| {
        p["provider"] == "openai" && p["status"] != "running"
    });
    assert_eq!(cloud["status"], "done", "{cloud}");
    assert_eq!(fake.requests().len(), 1);
    client.shutdown();
}

#[test]
fn the_cap_holds_across_processes_and_every_request_is_counted() {
    let fake = FakeCloud::start();
    // Each request reserves about $0.0017 (its input, plus 1024 output tokens at
    // gpt-4.1-mini's $1.60 per million) and costs $0.00164 (100 input and 1000
    // output tokens), so a $0.01 cap holds only a few of twenty at once.
    let sandbox = cloud_sandbox(&fake, "[budget]\nmonthlyCapUsd = 0.01\n");
    fake.script(
        "/v1/chat/completions",
        json!(
            (0..40)
                .map(|_| json!({ "text": "slow answer", "delayMs": 1500,
                             "usage": { "input": 100, "output": 1000 } }))
                .collect::<Vec<_>>()
        ),
    );
    let mut clients: Vec<Client> = (0..4)
        .map(|_| Client::start(&sandbox, extension_capabilities(), Value::Null).0)
        .collect();
    set_key(&mut clients[0], "openai", KEY);
    let mut uris = Vec::new();
    for (index, client) in clients.iter_mut().enumerate() {
        // Every server sees the key another process stored.
        client.wait_notification("aumatron/budgetDidChange", |p| {
            p["providers"][1]["hasKey"] == true
        });
        uris.push(open(
            client,
            &sandbox,
            &format!("words{index}.rs"),
            "rust",
            RUST_SOURCE,
        ));
    }
    let mut started = Vec::new();
    for _ in 0..5 {
        for (index, client) in clients.iter_mut().enumerate() {
            let id = run(
                client,
                "aumatron.explain",
                json!({ "uri": uris[index], "range": range((3, 0), (9, 1)), "target": "openai" }),
            );
            started.push((index, id));
        }
    }
    let (mut done, mut refused) = (0, 0);
    for (index, id) in &started {
        let end = finished(&mut clients[*index], id);
        match end["status"].as_str().unwrap() {
            "done" => done += 1,
            "failed" => {
                let error = end["error"].as_str().unwrap();
                assert!(error.contains("monthly cap"), "{error}");
                refused += 1;
            }
            other => panic!("{other}: {end}"),
        }
    }
    assert!(done >= 1 && refused >= 1, "{done} done, {refused} refused");
    assert_eq!(
        fake.requests().len(),
        done,
        "only reserved requests were sent"
    );
    let rows = ledger_rows(&sandbox);
    assert_eq!(rows.len(), done, "every sent request is in the ledger");
    let total: f64 = rows.iter().map(|row| usd(row, "cost_usd")).sum();
    assert!(total <= 0.01 + 1e-12, "spent {total}, over the cap");
    for row in &rows {
        assert_eq!(row["outcome"], "done");
        assert!((usd(row, "cost_usd") - 0.00164).abs() < 1e-9, "{row:?}");
    }
    for client in clients {
        client.shutdown();
    }
}

#[test]
fn a_server_killed_mid_request_leaves_its_reservation_settled_in_full() {
    let fake = FakeCloud::start();
    let sandbox = cloud_sandbox(&fake, "");
    fake.script(
        "/v1/chat/completions",
        json!([{ "fault": "stall", "after": 1, "seconds": 60 }]),
    );
    let (mut client, _) = Client::start(&sandbox, extension_capabilities(), Value::Null);
    set_key(&mut client, "openai", KEY);
    let uri = open(&mut client, &sandbox, "words.rs", "rust", RUST_SOURCE);
    run(
        &mut client,
        "aumatron.explain",
        json!({ "uri": uri, "range": range((3, 0), (9, 1)), "target": "openai" }),
    );
    client.wait_notification("aumatron/taskDidChange", |p| p["delta"].is_string());
    let in_flight = client.request("aumatron/budget", Value::Null).unwrap();
    let reserved = in_flight["reservedUsd"].as_f64().unwrap();
    assert!(reserved > 0.0, "{in_flight}");
    client.kill();

    let (mut restarted, _) = Client::start(&sandbox, extension_capabilities(), Value::Null);
    let budget = restarted.wait_notification("aumatron/budgetDidChange", |_| true);
    assert_usd(&budget["reservedUsd"], 0.0);
    assert_usd(&budget["spentUsd"], reserved);
    let rows = ledger_rows(&sandbox);
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0]["outcome"], "abandoned");
    restarted.shutdown();
}

#[test]
fn other_processes_spend_shows_up_and_plain_clients_get_messages() {
    let fake = FakeCloud::start();
    let sandbox = cloud_sandbox(&fake, "[budget]\nmonthlyCapUsd = 0.002\n");
    let (mut watcher, _) = Client::start(&sandbox, extension_capabilities(), Value::Null);
    watcher.wait_notification("aumatron/budgetDidChange", |_| true);
    // A client without the extension: it gets messages, not notifications.
    let (mut plain, _) = Client::start(&sandbox, editor_capabilities(&["utf-16"]), Value::Null);
    set_key(&mut plain, "openai", KEY);
    let uri = open(&mut plain, &sandbox, "words.rs", "rust", RUST_SOURCE);
    fake.script(
        "/v1/chat/completions",
        json!([{ "text": "Costly.", "usage": { "input": 100, "output": 1000 } }]),
    );
    plain
        .request(
            "workspace/executeCommand",
            json!({ "command": "aumatron.explain",
                    "arguments": [{ "uri": uri, "range": range((3, 0), (9, 1)), "target": "openai" }] }),
        )
        .unwrap();
    // The cost, $0.00004 + $0.0016 = $0.00164, passes the 80% warning share of
    // $0.002.
    let warning = plain.wait_notification("window/showMessage", |p| {
        p["message"].as_str().unwrap_or("").contains("monthly cap")
    });
    assert_eq!(warning["type"], 2, "{warning}");
    let message = warning["message"].as_str().unwrap();
    assert!(
        message.contains("$0.0016 of the $0.002 monthly cap"),
        "{message}"
    );
    assert!(
        !plain
            .transcript
            .iter()
            .any(|m| m["method"] == "aumatron/budgetDidChange")
    );

    let started = Instant::now();
    let seen = watcher.wait_notification("aumatron/budgetDidChange", |p| {
        p["spentUsd"].as_f64() > Some(0.0)
    });
    assert_usd(&seen["spentUsd"], 0.00164);
    assert_eq!(seen["state"], "warning");
    assert!(started.elapsed() < Duration::from_secs(10));
    plain.shutdown();
    watcher.shutdown();
}

#[test]
fn keys_and_budget_from_the_command_line() {
    let fake = FakeCloud::start();
    let sandbox = cloud_sandbox(&fake, "");
    let (ok, stdout, stderr) = sandbox.cli(&["key", "set", "openai"], &format!("{KEY}\n"));
    assert!(ok, "{stderr}");
    assert!(
        stdout.contains("stored the key for openai in the kernel keyring"),
        "{stdout}"
    );
    let (ok, status, _) = sandbox.cli(&["key", "status"], "");
    assert!(ok);
    assert!(
        status.contains("openai") && status.contains("key stored"),
        "{status}"
    );
    assert!(
        status.contains("anthropic") && status.contains("no key"),
        "{status}"
    );
    assert!(!status.contains(KEY));
    let (ok, _, stderr) = sandbox.cli(&["key", "set", "nobody"], KEY);
    assert!(
        !ok && stderr.contains("there is no provider \"nobody\""),
        "{stderr}"
    );

    // The server sees the key the command line stored, and a cloud run works.
    fake.script(
        "/v1/chat/completions",
        json!([{ "text": "Counts words.", "usage": { "input": 1000, "output": 500 } }]),
    );
    let file = sandbox.write_file("words.rs", RUST_SOURCE);
    let (ok, stdout, stderr) = sandbox.cli(
        &[
            "run",
            "explain",
            file.to_str().unwrap(),
            "--target",
            "cloud",
        ],
        "",
    );
    assert!(ok, "{stderr}");
    assert_eq!(stdout.trim(), "Counts words.");
    assert!(stderr.contains("$0.0012"), "{stderr}");

    let (ok, _, stderr) = sandbox.cli(&["budget", "set-cap", "5"], "");
    assert!(ok, "{stderr}");
    let (ok, report, _) = sandbox.cli(&["budget"], "");
    assert!(ok);
    assert!(report.contains("cap        $5.00"), "{report}");
    assert!(report.contains("spent      $0.0012"), "{report}");
    assert!(
        report.contains("openai gpt-4.1-mini  $0.0012, 1000 in / 500 out"),
        "{report}"
    );
    let (ok, _, stderr) = sandbox.cli(&["budget", "set-cap", "-1"], "");
    assert!(!ok && stderr.contains("budget.monthlyCapUsd"), "{stderr}");

    let (ok, stdout, _) = sandbox.cli(&["key", "remove", "openai"], "");
    assert!(
        ok && stdout.contains("removed the key for openai"),
        "{stdout}"
    );
    let (_, status, _) = sandbox.cli(&["key", "status"], "");
    assert!(status.contains("no key"));
}

#[test]
fn the_key_never_reaches_the_log_even_at_trace() {
    let fake = FakeCloud::start();
    fake.accept_keys(&[KEY]);
    let sandbox = cloud_sandbox(&fake, "");
    let mut command = sandbox.command();
    command.env("AUMATRON_LOG", "trace");
    let mut client = Client::spawn(command);
    client.initialize(extension_capabilities(), Value::Null);
    set_key(&mut client, "openai", KEY);
    let uri = open(&mut client, &sandbox, "words.rs", "rust", RUST_SOURCE);
    for _ in 0..2 {
        let id = run(
            &mut client,
            "aumatron.explain",
            json!({ "uri": uri, "range": range((3, 0), (9, 1)), "target": "openai" }),
        );
        finished(&mut client, &id);
    }
    // Rejected keys, which the fake OpenAI quotes back whole in its message.
    set_key(&mut client, "anthropic", ANTHROPIC_KEY);
    fake.accept_keys(&["sk-nothing-matches-0000000000000"]);
    for target in ["openai", "anthropic"] {
        let id = run(
            &mut client,
            "aumatron.explain",
            json!({ "uri": uri, "range": range((3, 0), (9, 1)), "target": target }),
        );
        finished(&mut client, &id);
    }
    let stderr = client.shutdown();
    assert!(stderr.contains("TRACE"), "trace logging was on");
    assert!(stderr.contains("prompt"), "the prompt is logged at trace");
    for key in [KEY, ANTHROPIC_KEY] {
        assert!(!stderr.contains(key), "the key is in the log");
    }
    // Nor in any file the server wrote.
    for entry in walk(sandbox.root.path()) {
        let bytes = std::fs::read(&entry).unwrap_or_default();
        let text = String::from_utf8_lossy(&bytes);
        for key in [KEY, ANTHROPIC_KEY] {
            assert!(!text.contains(key), "a key is in {}", entry.display());
        }
    }
    // The provider's message did quote it: the test would catch a leak.
    let rejected = fake.requests_to("/chat/completions").len();
    assert!(rejected >= 3);
}

#[test]
fn a_key_goes_only_where_it_was_stored_for_and_never_through_a_proxy() {
    let fake = FakeCloud::start();
    let elsewhere = FakeCloud::start();
    let proxy = FakeCloud::start();
    let sandbox = cloud_sandbox(&fake, "");
    let mut command = sandbox.command();
    for variable in ["HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "ALL_PROXY"] {
        command.env(variable, format!("http://127.0.0.1:{}", proxy.port));
    }
    let mut client = Client::spawn(command);
    client.initialize(extension_capabilities(), Value::Null);
    set_key(&mut client, "openai", KEY);
    let uri = open(&mut client, &sandbox, "words.rs", "rust", RUST_SOURCE);
    let explain = |client: &mut Client| {
        let id = run(
            client,
            "aumatron.explain",
            json!({ "uri": uri, "range": range((3, 0), (9, 1)), "target": "openai" }),
        );
        finished(client, &id)
    };
    assert_eq!(explain(&mut client)["status"], "done");
    assert_eq!(
        fake.requests().len(),
        1,
        "loopback goes straight to the provider"
    );
    assert!(proxy.requests().is_empty(), "and never through the proxy");

    // An editor's settings (a project's, say) point the provider somewhere else:
    // the key does not follow.
    client
        .change_settings(json!({ "providers": { "openai": { "baseUrl": elsewhere.base_url() } } }));
    let refused = explain(&mut client);
    assert_eq!(refused["status"], "failed");
    let error = refused["error"].as_str().unwrap();
    assert!(
        error.contains(&format!("stored for http://127.0.0.1:{}", fake.port))
            && error.contains("store the key again"),
        "{error}"
    );
    assert!(elsewhere.requests().is_empty());
    assert!(proxy.requests().is_empty());

    // Stored again, knowingly, for the new address: it goes there.
    set_key(&mut client, "openai", KEY);
    assert_eq!(explain(&mut client)["status"], "done");
    assert_eq!(elsewhere.requests().len(), 1);
    client.shutdown();
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            files.extend(walk(&path));
        } else {
            files.push(path);
        }
    }
    files
}
