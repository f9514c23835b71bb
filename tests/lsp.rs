//! End-to-end tests: the real binary, the real model, LSP over stdio.

mod support;

use std::time::Duration;

use serde_json::{Value, json};
use support::{Client, Sandbox, editor_capabilities, file_uri, range, streaming_capabilities};

const RUST_SOURCE: &str = "\
use std::collections::HashMap;

pub struct Inventory {
    items: HashMap<String, u32>,
}

impl Inventory {
    /// Adds `count` units of `name`.
    pub fn add(&mut self, name: &str, count: u32) {
        *self.items.entry(name.to_string()).or_insert(0) += count;
    }
}
";

fn open_rust(sandbox: &Sandbox, client: &mut Client) -> String {
    let path = sandbox.write_file("inventory.rs", RUST_SOURCE);
    let uri = file_uri(&path);
    client.open(&uri, "rust", RUST_SOURCE);
    uri
}

fn task_id(started: &Value) -> String {
    started["taskId"]
        .as_str()
        .unwrap_or_else(|| panic!("executeCommand answered {started}"))
        .to_owned()
}

#[test]
fn initialize_negotiates_the_position_encoding_and_lists_commands() {
    let sandbox = Sandbox::new();
    let (client, result) = Client::start(
        &sandbox,
        editor_capabilities(&["utf-8", "utf-16", "utf-32"]),
        Value::Null,
    );
    let capabilities = &result["capabilities"];
    assert_eq!(capabilities["positionEncoding"], "utf-8");
    assert_eq!(capabilities["textDocumentSync"]["change"], 2);
    let commands = capabilities["executeCommandProvider"]["commands"].clone();
    assert_eq!(
        commands,
        json!([
            "aumatron.summarise",
            "aumatron.explain",
            "aumatron.draft",
            "aumatron.cancel",
            "aumatron.setKey",
            "aumatron.removeKey",
            "aumatron.setCap",
            "aumatron.exportSpend"
        ])
    );
    assert_eq!(result["serverInfo"]["name"], "aumatron-lsp");
    client.shutdown();

    for (offered, expected) in [
        (json!(["utf-32", "utf-8"]), "utf-32"),
        (json!([]), "utf-16"),
    ] {
        let mut capabilities = editor_capabilities(&[]);
        capabilities["general"]["positionEncodings"] = offered;
        let (client, result) = Client::start(&sandbox, capabilities, Value::Null);
        assert_eq!(result["capabilities"]["positionEncoding"], expected);
        client.shutdown();
    }
    let (client, result) = Client::start(&sandbox, json!({}), Value::Null);
    assert_eq!(result["capabilities"]["positionEncoding"], "utf-16");
    client.shutdown();
}

#[test]
fn code_actions_offer_the_three_tasks_and_honour_only() {
    let sandbox = Sandbox::new();
    let (mut client, _) = Client::start(&sandbox, editor_capabilities(&["utf-16"]), Value::Null);
    let uri = open_rust(&sandbox, &mut client);
    let ask = |client: &mut Client, selection: Value, only: Option<Value>| {
        let mut context = json!({ "diagnostics": [] });
        if let Some(only) = only {
            context["only"] = only;
        }
        client.request(
            "textDocument/codeAction",
            json!({ "textDocument": { "uri": uri }, "range": selection, "context": context }),
        )
    };

    let actions = ask(&mut client, range((8, 4), (10, 5)), None).unwrap();
    let actions = actions.as_array().unwrap();
    let kinds: Vec<&str> = actions
        .iter()
        .map(|a| a["kind"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        [
            "refactor.ai.summarise",
            "refactor.ai.explain",
            "refactor.ai.draft"
        ]
    );
    let explain = &actions[1];
    assert_eq!(explain["command"]["command"], "aumatron.explain");
    assert_eq!(explain["command"]["arguments"][0]["uri"], uri.as_str());
    // The selection covers the method's lines, so it snaps to the whole method,
    // and the title names it.
    assert_eq!(
        explain["command"]["arguments"][0]["range"],
        range((8, 0), (11, 0))
    );
    assert_eq!(
        explain["title"],
        "Explain method `add` with the local model"
    );

    let refactor = ask(
        &mut client,
        range((8, 4), (10, 5)),
        Some(json!(["refactor.ai"])),
    )
    .unwrap();
    assert_eq!(refactor.as_array().unwrap().len(), 3);
    let one = ask(
        &mut client,
        range((8, 4), (10, 5)),
        Some(json!(["refactor.ai.draft"])),
    )
    .unwrap();
    assert_eq!(one[0]["kind"], "refactor.ai.draft");
    assert_eq!(one.as_array().unwrap().len(), 1);
    let none = ask(
        &mut client,
        range((8, 4), (10, 5)),
        Some(json!(["quickfix"])),
    )
    .unwrap();
    assert_eq!(none, json!([]));
    // A bare cursor outside any definition gets nothing; inside one, the actions
    // for that definition.
    let empty = ask(&mut client, range((0, 4), (0, 4)), None).unwrap();
    assert_eq!(empty, Value::Null);
    let cursor = ask(&mut client, range((9, 12), (9, 12)), None).unwrap();
    let titles: Vec<&str> = cursor
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["title"].as_str().unwrap())
        .collect();
    assert_eq!(
        titles,
        [
            "Summarise method `add` with the local model",
            "Explain method `add` with the local model"
        ]
    );
    client.shutdown();
}

#[test]
fn malformed_messages_get_errors_and_the_session_goes_on() {
    let sandbox = Sandbox::new();
    let (mut client, _) = Client::start(&sandbox, editor_capabilities(&["utf-16"]), Value::Null);
    let uri = open_rust(&sandbox, &mut client);
    let frame = |body: &[u8]| {
        let mut bytes = format!("Content-Length: {}\r\n\r\n", body.len()).into_bytes();
        bytes.extend_from_slice(body);
        bytes
    };
    // Each of these ended the session before: tower-lsp-server stops reading at
    // the first message it cannot decode.
    client.send_raw(&frame(br#"{"jsonrpc":"2.0","id":100,"method":"#));
    client.send_raw(&frame(br#"{"id":101,"method":"textDocument/codeAction"}"#));
    client.send_raw(&frame(b"[]"));
    client.send_raw(&frame(br#"{"jsonrpc":"2.0","id":1.5,"method":"shutdown"}"#));
    client.send_raw(&frame(
        b"{\"jsonrpc\":\"2.0\",\"method\":\"x\",\"params\":\"\xff\"}",
    ));
    client.send_raw(b"Content-Length: abc\r\n\r\n{}");
    client.send_raw(b"not a header\r\n");
    client.send_raw(&frame(br#"{"jsonrpc":"2.0","id":102,"method":"$/foo"}"#));

    let invalid = client.wait_for("the answer to the request without jsonrpc", |m| {
        m["id"] == 101
    });
    assert_eq!(invalid["error"]["code"], -32600, "{invalid}");
    let unknown = client.wait_for("the answer to $/foo", |m| m["id"] == 102);
    assert_eq!(unknown["error"]["code"], -32601, "{unknown}");
    assert!(
        unknown["error"]["message"]
            .as_str()
            .unwrap()
            .contains("$/foo"),
        "{unknown}"
    );

    // The session goes on.
    let actions = client.code_actions(&uri, range((0, 0), (3, 0)));
    assert_eq!(actions.len(), 3, "{actions:?}");
    client.shutdown();
}

#[test]
fn bad_ranges_get_errors_and_the_server_keeps_answering() {
    let sandbox = Sandbox::new();
    let (mut client, _) = Client::start(&sandbox, editor_capabilities(&["utf-16"]), Value::Null);
    let uri = open_rust(&sandbox, &mut client);
    let past_end = client.request(
        "textDocument/codeAction",
        json!({ "textDocument": { "uri": uri }, "range": range((0, 0), (500, 0)),
                "context": { "diagnostics": [] } }),
    );
    let error = past_end.unwrap_err();
    assert_eq!(error["code"], -32602);
    assert!(
        error["message"].as_str().unwrap().contains("past the end"),
        "{error}"
    );

    let bad_command = client.request(
        "workspace/executeCommand",
        json!({ "command": "aumatron.explain",
                "arguments": [{ "uri": uri, "range": range((700, 0), (701, 0)) }] }),
    );
    assert_eq!(bad_command.unwrap_err()["code"], -32602);
    let no_arguments = client.request(
        "workspace/executeCommand",
        json!({ "command": "aumatron.explain", "arguments": [] }),
    );
    assert!(
        no_arguments.unwrap_err()["message"]
            .as_str()
            .unwrap()
            .contains("uri")
    );
    let not_a_file = client.request(
        "workspace/executeCommand",
        json!({ "command": "aumatron.explain",
                "arguments": [{ "uri": "untitled:nothing", "range": range((0, 0), (0, 1)) }] }),
    );
    assert_eq!(not_a_file.unwrap_err()["code"], -32602);

    // Inside the emoji's surrogate pair.
    let emoji = "let smile = \"😀\";\n";
    let emoji_uri = file_uri(&sandbox.write_file("emoji.rs", emoji));
    client.open(&emoji_uri, "rust", emoji);
    let inside = client.request(
        "textDocument/codeAction",
        json!({ "textDocument": { "uri": emoji_uri }, "range": range((0, 0), (0, 14)),
                "context": { "diagnostics": [] } }),
    );
    assert!(
        inside.unwrap_err()["message"]
            .as_str()
            .unwrap()
            .contains("inside a character")
    );

    let fine = client.request(
        "textDocument/codeAction",
        json!({ "textDocument": { "uri": uri }, "range": range((0, 0), (0, 4)),
                "context": { "diagnostics": [] } }),
    );
    assert_eq!(fine.unwrap().as_array().unwrap().len(), 3);
    let stderr = client.shutdown();
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn explain_puts_a_comment_above_the_selection_with_progress() {
    let sandbox = Sandbox::new();
    let (mut client, _) = Client::start(&sandbox, editor_capabilities(&["utf-16"]), Value::Null);
    let uri = open_rust(&sandbox, &mut client);
    let started = client
        .request(
            "workspace/executeCommand",
            json!({ "command": "aumatron.explain",
                    "arguments": [{ "uri": uri, "range": range((8, 4), (10, 5)) }] }),
        )
        .unwrap();
    let id = task_id(&started);

    let created = client.wait_server_request("window/workDoneProgress/create");
    assert_eq!(created["token"], id.as_str());
    let begin = client.wait_notification("$/progress", |p| p["value"]["kind"] == "begin");
    assert_eq!(begin["token"], id.as_str());
    assert_eq!(begin["value"]["cancellable"], true);
    let edit = client.wait_server_request("workspace/applyEdit");
    let end = client.wait_notification("$/progress", |p| p["value"]["kind"] == "end");
    assert_eq!(end["value"]["message"], "Done");
    let reports = client
        .transcript
        .iter()
        .filter(|m| m["method"] == "$/progress" && m["params"]["value"]["kind"] == "report")
        .count();
    assert!(reports >= 1, "no progress reports");

    let text_edit = support::single_edit(&edit);
    // Above the method's doc comment, not between it and the method.
    assert_eq!(
        text_edit["range"]["start"],
        json!({ "line": 7, "character": 0 })
    );
    let new_text = text_edit["newText"].as_str().unwrap();
    assert!(
        new_text.starts_with("    // Explanation (aumatron):\n    // "),
        "{new_text}"
    );
    assert!(
        new_text.lines().all(|line| line.starts_with("    //")),
        "{new_text}"
    );
    let explanation = new_text.to_lowercase();
    assert!(
        ["add", "item", "count", "inventory"]
            .iter()
            .any(|word| explanation.contains(word)),
        "the explanation should be about the code: {new_text}"
    );
    let after = support::apply_edit(RUST_SOURCE, &text_edit);
    let selected_onwards = &RUST_SOURCE[RUST_SOURCE.find("    /// Adds").unwrap()..];
    assert!(
        after.ends_with(&format!("{new_text}{selected_onwards}")),
        "{after}"
    );
    client.shutdown();
}

#[test]
fn streaming_clients_get_task_notifications_and_no_edit() {
    let sandbox = Sandbox::new();
    let (mut client, _) = Client::start(&sandbox, streaming_capabilities(), Value::Null);
    let uri = open_rust(&sandbox, &mut client);
    let started = client
        .request(
            "workspace/executeCommand",
            json!({ "command": "aumatron.summarise",
                    "arguments": [{ "uri": uri, "range": range((0, 0), (12, 1)) }] }),
        )
        .unwrap();
    let id = task_id(&started);
    let done = client.wait_notification("aumatron/taskDidChange", |p| p["status"] != "running");
    assert_eq!(done["status"], "done", "{done}");
    assert_eq!(done["taskId"], id.as_str());
    assert_eq!(done["kind"], "summarise");
    assert_eq!(done["provider"], "local");
    assert_eq!(done["model"], "SmolLM2-135M-Instruct.Q4_1");
    assert!(done["inputTokens"].as_u64().unwrap() > 50, "{done}");
    let output_tokens = done["outputTokens"].as_u64().unwrap();
    assert!(output_tokens > 0);

    let deltas: String = client
        .transcript
        .iter()
        .filter(|m| m["method"] == "aumatron/taskDidChange" && m["params"]["status"] == "running")
        .filter_map(|m| m["params"]["delta"].as_str())
        .collect();
    assert_eq!(deltas.trim(), done["text"].as_str().unwrap());
    assert!(!deltas.trim().is_empty());
    client.drain_for(Duration::from_millis(300));
    assert!(
        !client
            .transcript
            .iter()
            .any(|m| m["method"] == "workspace/applyEdit"),
        "a streaming client must not get an edit for summarise"
    );
    client.shutdown();
}

/// Starts a long draft and waits for its first streamed text.
fn start_long_draft(client: &mut Client, uri: &str) -> String {
    let started = client
        .request(
            "workspace/executeCommand",
            json!({ "command": "aumatron.draft",
                    "arguments": [{ "uri": uri, "range": range((0, 0), (12, 1)),
                        "instruction": "Write a very long story about a dragon, in many chapters." }] }),
        )
        .unwrap();
    let id = task_id(&started);
    client.wait_notification("aumatron/taskDidChange", |p| p["delta"].is_string());
    id
}

/// The most tokens one streamed notification of task `id` has carried so far.
fn largest_batch(client: &Client, id: &str) -> u64 {
    let counts: Vec<u64> = client
        .transcript
        .iter()
        .filter(|m| m["method"] == "aumatron/taskDidChange" && m["params"]["taskId"] == id)
        .filter(|m| m["params"]["delta"].is_string())
        .filter_map(|m| m["params"]["outputTokens"].as_u64())
        .collect();
    let first = counts.first().copied().unwrap_or(0);
    counts
        .windows(2)
        .map(|pair| pair[1].saturating_sub(pair[0]))
        .fold(first, u64::max)
}

fn streamed_tokens(client: &Client, id: &str) -> u64 {
    client
        .transcript
        .iter()
        .filter(|m| m["method"] == "aumatron/taskDidChange" && m["params"]["taskId"] == id)
        .filter_map(|m| m["params"]["outputTokens"].as_u64())
        .max()
        .unwrap_or(0)
}

#[test]
fn cancel_stops_a_long_generation_within_a_few_tokens() {
    let sandbox = Sandbox::new();
    let options = json!({ "local": { "maxOutputTokens": 3000, "contextTokens": 4096 } });
    let (mut client, _) = Client::start(&sandbox, streaming_capabilities(), options);
    let uri = open_rust(&sandbox, &mut client);

    // By command.
    let id = start_long_draft(&mut client, &uri);
    let before = streamed_tokens(&client, &id);
    let answer = client
        .request(
            "workspace/executeCommand",
            json!({ "command": "aumatron.cancel",
            "arguments": [{ "taskId": id }] }),
        )
        .unwrap();
    let seen_at_cancel = streamed_tokens(&client, &id);
    // Streamed text is passed on in batches, so the server may have made up to a
    // batch more than the editor has seen.
    let batch = largest_batch(&client, &id);
    assert_eq!(answer, json!({ "cancelled": true }));
    let end = client.wait_notification("aumatron/taskDidChange", |p| p["status"] != "running");
    assert_eq!(end["status"], "cancelled", "{end}");
    let total = end["outputTokens"].as_u64().unwrap();
    assert!(total >= before);
    assert!(
        total <= seen_at_cancel + batch + 5,
        "generation went on for {} tokens after the cancel (batches of up to {batch})",
        total - seen_at_cancel
    );
    let progress_end = client.wait_notification("$/progress", |p| {
        p["token"] == id.as_str() && p["value"]["kind"] == "end"
    });
    assert_eq!(progress_end["value"]["message"], "Cancelled");

    // By the progress cancel button.
    let id = start_long_draft(&mut client, &uri);
    client.notify("window/workDoneProgress/cancel", json!({ "token": id }));
    let end = client.wait_notification("aumatron/taskDidChange", |p| {
        p["taskId"] == id.as_str() && p["status"] != "running"
    });
    assert_eq!(end["status"], "cancelled");
    assert!(end["outputTokens"].as_u64().unwrap() < 3000);

    // A task waiting behind another one's generation ends at once when
    // cancelled, while the other goes on.
    let long = start_long_draft(&mut client, &uri);
    let queued = client
        .request(
            "workspace/executeCommand",
            json!({ "command": "aumatron.explain",
                    "arguments": [{ "uri": uri, "range": range((0, 0), (12, 1)) }] }),
        )
        .unwrap();
    let queued = task_id(&queued);
    client
        .request(
            "workspace/executeCommand",
            json!({ "command": "aumatron.cancel", "arguments": [{ "taskId": queued }] }),
        )
        .unwrap();
    let end = client.wait_notification("aumatron/taskDidChange", |p| {
        p["taskId"] == queued.as_str() && p["status"] != "running"
    });
    assert_eq!(end["status"], "cancelled", "{end}");
    assert_eq!(end["outputTokens"], 0, "{end}");
    let long_ended = client.transcript.iter().any(|m| {
        m["params"]["taskId"] == long.as_str()
            && m["params"]["status"]
                .as_str()
                .is_some_and(|s| s != "running")
    });
    assert!(
        !long_ended,
        "the queued task waited for the long one to end"
    );
    client
        .request(
            "workspace/executeCommand",
            json!({ "command": "aumatron.cancel", "arguments": [{ "taskId": long }] }),
        )
        .unwrap();
    client.wait_notification("aumatron/taskDidChange", |p| {
        p["taskId"] == long.as_str() && p["status"] == "cancelled"
    });

    let unknown = client
        .request(
            "workspace/executeCommand",
            json!({ "command": "aumatron.cancel",
            "arguments": [{ "taskId": "task-999" }] }),
        )
        .unwrap();
    assert_eq!(unknown, json!({ "cancelled": false }));
    client.shutdown();
}

#[test]
fn edits_made_while_the_model_writes_move_the_comment_with_the_code() {
    let sandbox = Sandbox::new();
    let options = json!({ "local": { "maxOutputTokens": 48 } });
    let (mut client, _) = Client::start(&sandbox, editor_capabilities(&["utf-16"]), options);
    let uri = open_rust(&sandbox, &mut client);
    client
        .request(
            "workspace/executeCommand",
            json!({ "command": "aumatron.explain",
                    "arguments": [{ "uri": uri, "range": range((8, 4), (10, 5)) }] }),
        )
        .unwrap();
    // The user types two lines at the top of the file before the answer lands.
    client.notify(
        "textDocument/didChange",
        json!({ "textDocument": { "uri": uri, "version": 2 },
                "contentChanges": [{ "range": range((0, 0), (0, 0)),
                                     "text": "// typed\n// meanwhile\n" }] }),
    );
    let edit = client.wait_server_request("workspace/applyEdit");
    let text_edit = support::single_edit(&edit);
    // Two lines down, above the method's doc comment.
    assert_eq!(text_edit["range"]["start"]["line"], 9, "{edit}");
    assert_eq!(
        edit["edit"]["documentChanges"][0]["textDocument"]["version"],
        2
    );

    // When the selected code itself is gone, the answer goes to a file instead.
    client
        .request(
            "workspace/executeCommand",
            json!({ "command": "aumatron.explain",
                    "arguments": [{ "uri": uri, "range": range((10, 4), (12, 5)) }] }),
        )
        .unwrap();
    client.notify(
        "textDocument/didChange",
        json!({ "textDocument": { "uri": uri, "version": 3 },
                "contentChanges": [{ "text": "fn replaced() {}\n" }] }),
    );
    let shown = client.wait_server_request("window/showDocument");
    let path = shown["uri"]
        .as_str()
        .unwrap()
        .strip_prefix("file://")
        .unwrap()
        .to_owned();
    let saved = std::fs::read_to_string(&path).unwrap();
    assert!(
        saved.starts_with("# Explanation of inventory.rs"),
        "{saved}"
    );
    let warning = client.wait_notification("window/showMessage", |p| p["type"] == 2);
    assert!(
        warning["message"].as_str().unwrap().contains("was changed"),
        "{warning}"
    );
    client.shutdown();
}

#[test]
fn draft_is_inserted_after_the_selection() {
    let sandbox = Sandbox::new();
    let options = json!({ "local": { "maxOutputTokens": { "draft": 48 } } });
    let (mut client, _) = Client::start(&sandbox, editor_capabilities(&["utf-16"]), options);
    let uri = open_rust(&sandbox, &mut client);
    client
        .request(
            "workspace/executeCommand",
            json!({ "command": "aumatron.draft",
                    "arguments": [{ "uri": uri, "range": range((8, 4), (10, 5)),
                                    "instruction": "Write a method that removes an item." }] }),
        )
        .unwrap();
    let edit = client.wait_server_request("workspace/applyEdit");
    let text_edit = support::single_edit(&edit);
    assert_eq!(
        text_edit["range"]["start"],
        json!({ "line": 11, "character": 0 })
    );
    assert!(text_edit["newText"].as_str().unwrap().ends_with('\n'));
    assert!(!text_edit["newText"].as_str().unwrap().contains("```"));
    client.shutdown();
}

#[test]
fn input_bigger_than_the_context_fails_fast_with_the_figures() {
    let sandbox = Sandbox::new();
    let options = json!({ "local": { "contextTokens": 256, "maxOutputTokens": 64 } });
    let (mut client, _) = Client::start(&sandbox, streaming_capabilities(), options);
    let big = "The quick brown fox jumps over the lazy dog. ".repeat(100);
    let uri = file_uri(&sandbox.write_file("big.txt", &big));
    client.open(&uri, "plaintext", &big);
    // Explain does not fit and says so (a summary would be made in parts).
    client
        .request(
            "workspace/executeCommand",
            json!({ "command": "aumatron.explain", "arguments": [{ "uri": uri }] }),
        )
        .unwrap();
    let failed = client.wait_notification("aumatron/taskDidChange", |p| p["status"] != "running");
    assert_eq!(failed["status"], "failed");
    let error = failed["error"].as_str().unwrap();
    assert!(
        error.contains("local.contextTokens") && error.contains("256"),
        "{error}"
    );
    let tokens: u64 = error
        .split_whitespace()
        .find_map(|w| w.parse().ok())
        .unwrap();
    assert!(tokens > 256, "{error}");
    let message = client.wait_notification("window/showMessage", |p| p["type"] == 1);
    assert!(
        message["message"]
            .as_str()
            .unwrap()
            .contains("local.contextTokens")
    );
    client.shutdown();
}

#[test]
fn a_missing_model_is_explained_and_the_server_stays_up() {
    let sandbox = Sandbox::new();
    let mut command = sandbox.command();
    command.env("AUMATRON_MODEL", sandbox.path("nowhere/model.gguf"));
    let mut client = Client::spawn(command);
    // This client declares streaming in initializationOptions, not capabilities.
    let options = json!({ "experimental": { "aumatron": { "taskOutput": true } } });
    client.initialize(editor_capabilities(&["utf-16"]), options);
    let uri = open_rust(&sandbox, &mut client);
    client
        .request(
            "workspace/executeCommand",
            json!({ "command": "aumatron.explain", "arguments": [{ "uri": uri }] }),
        )
        .unwrap();
    let failed = client.wait_notification("aumatron/taskDidChange", |p| p["status"] != "running");
    assert_eq!(failed["status"], "failed");
    assert!(
        failed["error"].as_str().unwrap().contains("no model file"),
        "{failed}"
    );
    let actions = client.request(
        "textDocument/codeAction",
        json!({ "textDocument": { "uri": uri }, "range": range((0, 0), (0, 3)),
                "context": { "diagnostics": [] } }),
    );
    assert!(actions.is_ok());
    client.shutdown();
}

#[test]
fn output_document_writes_markdown_and_shows_it() {
    let sandbox = Sandbox::new();
    sandbox.write_config("output = \"document\"\n[local]\nmaxOutputTokens = 64\n");
    let (mut client, _) = Client::start(&sandbox, editor_capabilities(&["utf-16"]), Value::Null);
    let uri = open_rust(&sandbox, &mut client);
    client
        .request(
            "workspace/executeCommand",
            json!({ "command": "aumatron.explain",
                    "arguments": [{ "uri": uri, "range": range((8, 4), (10, 5)) }] }),
        )
        .unwrap();
    let shown = client.wait_server_request("window/showDocument");
    let path = shown["uri"]
        .as_str()
        .unwrap()
        .strip_prefix("file://")
        .unwrap()
        .to_owned();
    assert!(
        path.starts_with(sandbox.path("cache").to_str().unwrap()),
        "{path}"
    );
    let saved = std::fs::read_to_string(&path).unwrap();
    assert!(
        saved.starts_with("# Explanation of inventory.rs\n\n"),
        "{saved}"
    );
    assert!(saved.len() > 40, "{saved}");
    client.drain_for(Duration::from_millis(200));
    assert!(
        !client
            .transcript
            .iter()
            .any(|m| m["method"] == "workspace/applyEdit")
    );
    client.shutdown();
}

#[test]
fn broken_settings_are_reported_and_the_previous_ones_stay() {
    let sandbox = Sandbox::new();
    sandbox.write_config("[local\ncontextTokens = ");
    let mut client = Client::spawn(sandbox.command());
    client.workspace_settings = json!({ "local": { "maxOutputTokens": 0 } });
    client.initialize(
        streaming_capabilities(),
        json!({ "local": { "maxOutputTokens": 40 } }),
    );
    let file_warning = client.wait_notification("window/showMessage", |p| {
        p["message"]
            .as_str()
            .unwrap_or_default()
            .contains("config.toml")
    });
    assert!(
        file_warning["message"]
            .as_str()
            .unwrap()
            .contains("not valid TOML")
    );
    let settings_warning = client.wait_notification("window/showMessage", |p| {
        p["message"]
            .as_str()
            .unwrap_or_default()
            .contains("maxOutputTokens")
    });
    assert!(
        settings_warning["message"]
            .as_str()
            .unwrap()
            .contains("previous settings stay")
    );

    // The limit from initializationOptions (40) is still the one in force.
    let uri = open_rust(&sandbox, &mut client);
    client
        .request(
            "workspace/executeCommand",
            json!({ "command": "aumatron.draft",
                    "arguments": [{ "uri": uri, "instruction": "Write a very long story." }] }),
        )
        .unwrap();
    let done = client.wait_notification("aumatron/taskDidChange", |p| p["status"] != "running");
    assert_eq!(done["status"], "done", "{done}");
    assert!(done["outputTokens"].as_u64().unwrap() <= 40, "{done}");

    // A good change pulled after didChangeConfiguration takes effect.
    client.change_settings(json!({ "local": { "maxOutputTokens": 8 } }));
    client
        .request(
            "workspace/executeCommand",
            json!({ "command": "aumatron.draft",
                    "arguments": [{ "uri": uri, "instruction": "Write a very long story." }] }),
        )
        .unwrap();
    let done = client.wait_notification("aumatron/taskDidChange", |p| p["status"] != "running");
    assert!(done["outputTokens"].as_u64().unwrap() <= 8, "{done}");
    client.shutdown();
}

#[test]
fn incremental_changes_in_utf16_keep_the_document_in_step() {
    let sandbox = Sandbox::new();
    let options = json!({ "local": { "maxOutputTokens": 32 } });
    let (mut client, _) = Client::start(&sandbox, editor_capabilities(&["utf-16"]), options);
    let text = "let a = \"😀\";\r\nlet b = 2;\r\n";
    let uri = file_uri(&sandbox.write_file("emoji.rs", text));
    client.open(&uri, "rust", text);
    // Replace `2` after an emoji line and CRLF, then insert a CJK comment.
    client.notify(
        "textDocument/didChange",
        json!({ "textDocument": { "uri": uri, "version": 2 },
                "contentChanges": [
                    { "range": range((1, 8), (1, 9)), "text": "42" },
                    { "range": range((0, 12), (0, 12)), "text": " // 日本" } ] }),
    );
    // A code action at the end of the new first line is valid; one past the
    // emoji's surrogate boundary is not.
    let end_of_line = client.request(
        "textDocument/codeAction",
        json!({ "textDocument": { "uri": uri }, "range": range((0, 0), (0, 18)),
                "context": { "diagnostics": [] } }),
    );
    assert!(end_of_line.is_ok(), "{end_of_line:?}");
    client
        .request(
            "workspace/executeCommand",
            json!({ "command": "aumatron.explain",
                    "arguments": [{ "uri": uri, "range": range((1, 0), (1, 11)) }] }),
        )
        .unwrap();
    let edit = client.wait_server_request("workspace/applyEdit");
    let text_edit = support::single_edit(&edit);
    assert_eq!(
        text_edit["range"]["start"],
        json!({ "line": 1, "character": 0 })
    );
    let new_text = text_edit["newText"].as_str().unwrap();
    assert!(new_text.ends_with("\r\n") && !new_text.replace("\r\n", "").contains('\n'));
    client.shutdown();
}

#[test]
fn stdout_stays_pure_protocol_with_trace_logging() {
    let sandbox = Sandbox::new();
    let mut command = sandbox.command();
    command.env("AUMATRON_LOG", "trace");
    let mut client = Client::spawn(command);
    client.initialize(
        streaming_capabilities(),
        json!({ "local": { "maxOutputTokens": 16 } }),
    );
    let uri = open_rust(&sandbox, &mut client);
    client
        .request(
            "workspace/executeCommand",
            json!({ "command": "aumatron.explain", "arguments": [{ "uri": uri }] }),
        )
        .unwrap();
    client.wait_notification("aumatron/taskDidChange", |p| p["status"] != "running");
    // The reader thread fails the test on any stray byte; trace logs go to stderr.
    let stderr = client.shutdown();
    assert!(
        stderr.contains("TRACE"),
        "trace logging went somewhere else"
    );
}

fn fixture(name: &str) -> String {
    let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|error| panic!("{path}: {error}"))
}

/// The line of the first line of `text` that contains `needle`.
fn line_of(text: &str, needle: &str) -> u32 {
    text.lines()
        .position(|line| line.contains(needle))
        .unwrap_or_else(|| panic!("{needle:?} is not in the text")) as u32
}

fn code_actions_at(client: &mut Client, uri: &str, at: (u32, u32)) -> Vec<Value> {
    client.code_actions(uri, range(at, at))
}

/// Runs the command a code action carries.
fn run_action(client: &mut Client, action: &Value) -> String {
    let started = client
        .request(
            "workspace/executeCommand",
            json!({ "command": action["command"]["command"],
                    "arguments": action["command"]["arguments"] }),
        )
        .unwrap();
    task_id(&started)
}

#[test]
fn a_bare_cursor_explains_the_enclosing_method_with_the_context_it_needs() {
    let sandbox = Sandbox::new();
    let mut command = sandbox.command();
    command.env("AUMATRON_LOG", "debug,llama-cpp-2=warn");
    let mut client = Client::spawn(command);
    client.initialize(
        editor_capabilities(&["utf-16"]),
        json!({ "local": { "maxOutputTokens": 48 } }),
    );
    let text = fixture("dates.rs");
    let uri = file_uri(&sandbox.write_file("dates.rs", &text));
    client.open(&uri, "rust", &text);

    let cursor = (line_of(&text, "Date { day: self.day + 1"), 14);
    let actions = code_actions_at(&mut client, &uri, cursor);
    let explain = actions
        .iter()
        .find(|action| action["kind"] == "refactor.ai.explain")
        .expect("an explain action at the cursor");
    assert_eq!(
        explain["title"],
        "Explain method `next_day` with the local model"
    );
    let start = line_of(&text, "pub fn next_day");
    assert_eq!(
        explain["command"]["arguments"][0]["range"],
        range((start, 0), (start + 9, 0))
    );
    run_action(&mut client, explain);

    let edit = client.wait_server_request("workspace/applyEdit");
    let text_edit = support::single_edit(&edit);
    let doc_line = line_of(&text, "/// The date one day later.");
    assert_eq!(
        text_edit["range"]["start"],
        json!({ "line": doc_line, "character": 0 })
    );
    let new_text = text_edit["newText"].as_str().unwrap();
    assert!(
        new_text.starts_with("    // Explanation (aumatron):\n    // "),
        "{new_text}"
    );
    let stderr = client.shutdown();

    // The log says what context went in, with token counts...
    let context_lines: Vec<&str> = stderr
        .lines()
        .filter(|line| line.contains("explain context"))
        .collect();
    let included = |name: &str| {
        context_lines
            .iter()
            .any(|line| line.contains(name) && line.contains("included=true"))
    };
    assert!(included("impl `Date`"), "{}", context_lines.join("\n"));
    assert!(included("struct `Date`"), "{}", context_lines.join("\n"));
    assert!(
        included("function `days_in_month`"),
        "{}",
        context_lines.join("\n")
    );
    assert!(
        context_lines
            .iter()
            .any(|line| line.contains("explain context chosen") && line.contains("budget=")),
        "{stderr}"
    );
    // ...and no prompt text below trace.
    assert!(
        !stderr.contains("self.day < days_in_month"),
        "prompt text in a debug log"
    );
}

#[test]
fn a_docstring_draft_lands_inside_the_python_function() {
    let sandbox = Sandbox::new();
    let options = json!({ "local": { "maxOutputTokens": { "draft": 48 } } });
    let (mut client, _) = Client::start(&sandbox, streaming_capabilities(), options);
    let text = fixture("inventory.py");
    let uri = file_uri(&sandbox.write_file("inventory.py", &text));
    client.open(&uri, "python", &text);

    let cursor = (line_of(&text, "raise FileNotFoundError"), 8);
    let actions = code_actions_at(&mut client, &uri, cursor);
    let draft = actions
        .iter()
        .find(|action| action["kind"] == "refactor.ai.draft")
        .expect("a draft action at the cursor");
    assert_eq!(
        draft["title"],
        "Draft docstring for function `load_csv` with the local model"
    );
    assert_eq!(draft["command"]["arguments"][0]["form"], "docComment");
    run_action(&mut client, draft);

    // Streaming clients still get drafts as an edit.
    let edit = client.wait_server_request("workspace/applyEdit");
    let text_edit = support::single_edit(&edit);
    let body = line_of(&text, "    if not os.path.exists(path):");
    assert_eq!(
        text_edit["range"]["start"],
        json!({ "line": body, "character": 0 })
    );
    let new_text = text_edit["newText"].as_str().unwrap();
    assert!(new_text.starts_with("    \"\"\""), "{new_text:?}");
    assert!(new_text.ends_with("\"\"\"\n"), "{new_text:?}");
    assert!(new_text.trim().len() > 8, "{new_text:?}");
    let after = support::apply_edit(&text, &text_edit);
    let tree =
        aumatron_lsp::syntax::SyntaxTree::parse_text(aumatron_lsp::syntax::Grammar::Python, &after)
            .unwrap();
    assert!(!tree.has_error(), "the docstring broke the file:\n{after}");
    client.shutdown();
}

#[test]
fn a_document_several_times_the_context_is_summarised_in_parts() {
    let sandbox = Sandbox::new();
    let options = json!({ "local": { "contextTokens": 512, "maxOutputTokens": 96 } });
    let (mut client, _) = Client::start(&sandbox, streaming_capabilities(), options);
    let text = fixture("handbook.md");
    let uri = file_uri(&sandbox.write_file("handbook.md", &text));
    client.open(&uri, "markdown", &text);
    let started = client
        .request(
            "workspace/executeCommand",
            json!({ "command": "aumatron.summarise", "arguments": [{ "uri": uri }] }),
        )
        .unwrap();
    let id = task_id(&started);
    let done = client.wait_notification("aumatron/taskDidChange", |p| p["status"] != "running");
    assert_eq!(done["status"], "done", "{done}");
    assert_eq!(done["taskId"], id.as_str());
    let summary = done["text"].as_str().unwrap();
    assert!(!summary.trim().is_empty());
    // Every pass is counted: far more than one context's worth was read.
    assert!(done["inputTokens"].as_u64().unwrap() > 3 * 512, "{done}");

    // Each part was announced, in order, on both paths.
    let running: Vec<&Value> = client
        .transcript
        .iter()
        .filter(|m| m["method"] == "aumatron/taskDidChange" && m["params"]["status"] == "running")
        .map(|m| &m["params"])
        .collect();
    let steps: Vec<&str> = running
        .iter()
        .filter_map(|p| p["message"].as_str())
        .filter(|m| m.starts_with("part "))
        .collect();
    let count: usize = steps
        .first()
        .and_then(|step| step.rsplit(' ').next())
        .and_then(|n| n.parse().ok())
        .expect("part messages");
    assert!(count >= 3, "only {count} parts: {steps:?}");
    let expected: Vec<String> = (1..=count)
        .map(|i| format!("part {i} of {count}"))
        .collect();
    assert_eq!(steps, expected);
    let reports: Vec<&str> = client
        .transcript
        .iter()
        .filter(|m| m["method"] == "$/progress" && m["params"]["token"] == id.as_str())
        .filter_map(|m| m["params"]["value"]["message"].as_str())
        .filter(|m| m.starts_with("part "))
        .collect();
    assert_eq!(reports, expected);

    // The streamed text is the final summary alone.
    let deltas: String = running.iter().filter_map(|p| p["delta"].as_str()).collect();
    assert_eq!(deltas.trim(), summary);
    client.shutdown();
}
