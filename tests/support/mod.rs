//! A small LSP client for end-to-end tests: it spawns the real `aumatron-lsp`
//! binary in an isolated set of XDG folders, speaks JSON-RPC over its stdio, and
//! answers the server's own requests the way an editor would.
#![allow(dead_code)]

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

/// How long a test waits for any one thing before it fails.
pub const PATIENCE: Duration = Duration::from_secs(120);

/// The real model, installed by `scripts/setup.sh`. Tests never skip without it.
pub fn model_path() -> PathBuf {
    if let Some(path) = std::env::var_os("AUMATRON_TEST_MODEL") {
        return PathBuf::from(path);
    }
    let data = std::env::var_os("XDG_DATA_HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(std::env::var_os("HOME").unwrap()).join(".local/share"));
    let path = data.join("aumatron/models/SmolLM2-135M-Instruct.Q4_1.gguf");
    assert!(
        path.is_file(),
        "the test model is missing at {}: run scripts/setup.sh (or set AUMATRON_TEST_MODEL)",
        path.display()
    );
    path
}

/// A private home for one server: its own config, data and cache folders, and its
/// own service name in the real kernel keyring (cleared when it is dropped).
pub struct Sandbox {
    pub root: tempfile::TempDir,
    pub keyring_service: String,
}

impl Sandbox {
    pub fn new() -> Sandbox {
        let root = tempfile::tempdir().unwrap();
        for dir in ["config/aumatron", "data", "cache", "state", "work"] {
            std::fs::create_dir_all(root.path().join(dir)).unwrap();
        }
        let keyring_service = format!(
            "aumatron-test-{}-{}",
            std::process::id(),
            root.path().file_name().unwrap().to_string_lossy()
        );
        Sandbox {
            root,
            keyring_service,
        }
    }

    pub fn path(&self, relative: &str) -> PathBuf {
        self.root.path().join(relative)
    }

    pub fn write_config(&self, toml: &str) {
        std::fs::write(self.path("config/aumatron/config.toml"), toml).unwrap();
    }

    /// Writes a file under `work/` and returns its path.
    pub fn write_file(&self, name: &str, text: &str) -> PathBuf {
        let path = self.path("work").join(name);
        std::fs::write(&path, text).unwrap();
        path
    }

    /// A command for the binary with this sandbox's environment and the real model.
    pub fn command(&self) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_aumatron-lsp"));
        command
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", self.path("work"))
            .env("XDG_CONFIG_HOME", self.path("config"))
            .env("XDG_DATA_HOME", self.path("data"))
            .env("XDG_CACHE_HOME", self.path("cache"))
            .env("XDG_STATE_HOME", self.path("state"))
            .env("AUMATRON_MODEL", model_path())
            .env("AUMATRON_KEYRING_SERVICE", &self.keyring_service)
            .env("AUMATRON_LOG", "info,llama-cpp-2=warn");
        command
    }

    /// Runs the binary's command line with `args` and `stdin`; returns the exit
    /// status, stdout and stderr.
    pub fn cli(&self, args: &[&str], stdin: &str) -> (bool, String, String) {
        let mut child = self
            .command()
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(stdin.as_bytes())
            .unwrap();
        let output = child.wait_with_output().unwrap();
        (
            output.status.success(),
            String::from_utf8_lossy(&output.stdout).into_owned(),
            String::from_utf8_lossy(&output.stderr).into_owned(),
        )
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        for provider in ["openai", "anthropic", "openrouter"] {
            let _ = self.cli(&["key", "remove", provider], "");
        }
    }
}

/// The loopback stand-in for the cloud providers, `tests/fake_cloud.py`.
pub struct FakeCloud {
    child: Child,
    pub port: u16,
}

impl FakeCloud {
    pub fn start() -> FakeCloud {
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fake_cloud.py");
        let mut child = Command::new("python3")
            .arg(script)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("python3 runs the fake cloud");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let port = line
            .trim()
            .rsplit(':')
            .next()
            .and_then(|port| port.parse().ok())
            .unwrap_or_else(|| panic!("the fake cloud said {line:?}"));
        FakeCloud { child, port }
    }

    /// The base URL for a provider's `baseUrl` setting.
    pub fn base_url(&self) -> String {
        format!("http://127.0.0.1:{}/v1", self.port)
    }

    /// Queues behaviours for the next requests to `path` (see the fake's docs).
    pub fn script(&self, path: &str, steps: Value) {
        self.control(
            "POST",
            "/_control/script",
            json!({ "path": path, "steps": steps }),
        );
    }

    /// Accepts only these keys (401 for any other).
    pub fn accept_keys(&self, keys: &[&str]) {
        self.control("POST", "/_control/keys", json!({ "keys": keys }));
    }

    /// Every provider request received so far.
    pub fn requests(&self) -> Vec<Value> {
        self.control("GET", "/_control/requests", Value::Null)
            .as_array()
            .cloned()
            .unwrap_or_default()
    }

    /// Requests to paths ending in `suffix`.
    pub fn requests_to(&self, suffix: &str) -> Vec<Value> {
        self.requests()
            .into_iter()
            .filter(|request| request["path"].as_str().unwrap().ends_with(suffix))
            .collect()
    }

    fn control(&self, method: &str, path: &str, body: Value) -> Value {
        let body = if body.is_null() {
            String::new()
        } else {
            body.to_string()
        };
        let mut stream = std::net::TcpStream::connect(("127.0.0.1", self.port)).unwrap();
        write!(
            stream,
            "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\
             Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )
        .unwrap();
        let mut response = String::new();
        stream.read_to_string(&mut response).unwrap();
        let (_, body) = response.split_once("\r\n\r\n").unwrap_or(("", ""));
        serde_json::from_str(body).unwrap_or(Value::Null)
    }
}

impl Drop for FakeCloud {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn file_uri(path: &Path) -> String {
    format!("file://{}", path.display())
}

/// One running server and the conversation with it.
pub struct Client {
    child: Child,
    stdin: ChildStdin,
    incoming: Receiver<Value>,
    stderr: Arc<Mutex<String>>,
    next_id: i64,
    /// Messages from the server not yet claimed by a `wait_*` call.
    backlog: VecDeque<Value>,
    /// Every message the server sent, in order.
    pub transcript: Vec<Value>,
    /// What `workspace/configuration` answers for the `aumatron` section.
    pub workspace_settings: Value,
    /// Whether `workspace/applyEdit` reports success.
    pub apply_edits: bool,
    /// What `window/showMessageRequest` answers: the action whose title starts
    /// with this, or `null` when `None` or nothing matches.
    pub message_choice: Option<String>,
}

impl Client {
    pub fn spawn(mut command: Command) -> Client {
        let mut child = command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the aumatron-lsp binary starts");
        let stdin = child.stdin.take().unwrap();
        let stdout = child.stdout.take().unwrap();
        let stderr_pipe = child.stderr.take().unwrap();
        let (sender, incoming) = mpsc::channel();
        std::thread::spawn(move || read_frames(stdout, sender));
        let stderr = Arc::new(Mutex::new(String::new()));
        let sink = stderr.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr_pipe).lines().map_while(Result::ok) {
                let mut sink = sink.lock().unwrap();
                sink.push_str(&line);
                sink.push('\n');
            }
        });
        Client {
            child,
            stdin,
            incoming,
            stderr,
            next_id: 1,
            backlog: VecDeque::new(),
            transcript: Vec::new(),
            workspace_settings: Value::Null,
            apply_edits: true,
            message_choice: None,
        }
    }

    /// Spawns the server and completes the `initialize` handshake.
    pub fn start(sandbox: &Sandbox, capabilities: Value, options: Value) -> (Client, Value) {
        let mut client = Client::spawn(sandbox.command());
        let result = client.initialize(capabilities, options);
        (client, result)
    }

    pub fn initialize(&mut self, capabilities: Value, options: Value) -> Value {
        let result = self
            .request(
                "initialize",
                json!({
                    "processId": std::process::id(),
                    "rootUri": null,
                    "capabilities": capabilities,
                    "initializationOptions": options,
                }),
            )
            .expect("initialize succeeds");
        self.notify("initialized", json!({}));
        result
    }

    pub fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    pub fn send(&mut self, message: Value) {
        let body = serde_json::to_vec(&message).unwrap();
        write!(self.stdin, "Content-Length: {}\r\n\r\n", body.len()).unwrap();
        self.stdin.write_all(&body).unwrap();
        self.stdin.flush().unwrap();
    }

    /// The code actions for `range` in `uri`.
    pub fn code_actions(&mut self, uri: &str, range: Value) -> Vec<Value> {
        let actions = self
            .request(
                "textDocument/codeAction",
                json!({ "textDocument": { "uri": uri }, "range": range,
                        "context": { "diagnostics": [] } }),
            )
            .unwrap_or_else(|error| panic!("codeAction failed: {error}"));
        actions.as_array().cloned().unwrap_or_default()
    }

    /// Writes bytes to the server as they are, framing and all.
    pub fn send_raw(&mut self, bytes: &[u8]) {
        self.stdin.write_all(bytes).unwrap();
        self.stdin.flush().unwrap();
    }

    pub fn notify(&mut self, method: &str, params: Value) {
        self.send(json!({ "jsonrpc": "2.0", "method": method, "params": params }));
    }

    /// Sends a request and waits for its response: `Ok(result)` or `Err(error)`.
    pub fn request(&mut self, method: &str, params: Value) -> Result<Value, Value> {
        let id = self.next_id;
        self.next_id += 1;
        self.send(json!({ "jsonrpc": "2.0", "id": id, "method": method, "params": params }));
        let response = self.wait_for(&format!("the response to {method}"), |message| {
            message.get("id") == Some(&json!(id)) && message.get("method").is_none()
        });
        match response.get("error") {
            Some(error) => Err(error.clone()),
            None => Ok(response["result"].clone()),
        }
    }

    pub fn open(&mut self, uri: &str, language_id: &str, text: &str) {
        self.notify(
            "textDocument/didOpen",
            json!({ "textDocument": {
                "uri": uri, "languageId": language_id, "version": 1, "text": text } }),
        );
    }

    /// Waits for a notification with this method matching `accept`.
    pub fn wait_notification(&mut self, method: &str, accept: impl Fn(&Value) -> bool) -> Value {
        self.wait_for(method, |message| {
            message.get("id").is_none() && message["method"] == method && accept(&message["params"])
        })["params"]
            .clone()
    }

    /// Waits for a request from the server with this method; it has already been
    /// answered by the time it is returned.
    pub fn wait_server_request(&mut self, method: &str) -> Value {
        self.wait_for(method, |message| {
            message.get("id").is_some() && message["method"] == method
        })["params"]
            .clone()
    }

    /// Takes the first message, old or new, that `accept` wants; answers server
    /// requests on the way.
    pub fn wait_for(&mut self, what: &str, accept: impl Fn(&Value) -> bool) -> Value {
        if let Some(index) = self.backlog.iter().position(&accept) {
            return self.backlog.remove(index).unwrap();
        }
        let deadline = Instant::now() + PATIENCE;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let message = match self.incoming.recv_timeout(left) {
                Ok(message) => message,
                Err(RecvTimeoutError::Timeout) => panic!(
                    "timed out waiting for {what}; server stderr:\n{}",
                    self.stderr()
                ),
                Err(RecvTimeoutError::Disconnected) => panic!(
                    "the server exited while waiting for {what}; stderr:\n{}",
                    self.stderr()
                ),
            };
            self.transcript.push(message.clone());
            if message.get("id").is_some() && message.get("method").is_some() {
                self.answer(&message);
            }
            if accept(&message) {
                return message;
            }
            self.backlog.push_back(message);
        }
    }

    /// Changes what `workspace/configuration` answers and tells the server, then
    /// waits until it has pulled the new settings.
    pub fn change_settings(&mut self, settings: Value) {
        self.workspace_settings = settings;
        // An earlier pull, answered long ago, must not pass for this one.
        self.backlog
            .retain(|message| message["method"] != "workspace/configuration");
        self.notify(
            "workspace/didChangeConfiguration",
            json!({ "settings": null }),
        );
        self.wait_server_request("workspace/configuration");
        // The server applies the answer as soon as it reads it.
        self.drain_for(Duration::from_millis(200));
    }

    /// Collects everything the server sends for `period`.
    pub fn drain_for(&mut self, period: Duration) -> Vec<Value> {
        let deadline = Instant::now() + period;
        while let Ok(message) = self
            .incoming
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
        {
            self.transcript.push(message.clone());
            if message.get("id").is_some() && message.get("method").is_some() {
                self.answer(&message);
            }
            self.backlog.push_back(message);
        }
        self.backlog.iter().cloned().collect()
    }

    fn answer(&mut self, request: &Value) {
        let result = match request["method"].as_str().unwrap_or_default() {
            "workspace/configuration" => json!([self.workspace_settings.clone()]),
            "workspace/applyEdit" => json!({ "applied": self.apply_edits }),
            "window/showDocument" => json!({ "success": true }),
            "window/showMessageRequest" => {
                let actions = request["params"]["actions"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default();
                self.message_choice
                    .as_deref()
                    .and_then(|prefix| {
                        actions.into_iter().find(|action| {
                            action["title"].as_str().unwrap_or("").starts_with(prefix)
                        })
                    })
                    .unwrap_or(Value::Null)
            }
            _ => Value::Null,
        };
        let id = request["id"].clone();
        self.send(json!({ "jsonrpc": "2.0", "id": id, "result": result }));
    }

    /// Ends the server the hard way (SIGKILL), as a crash would.
    pub fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    pub fn shutdown(mut self) -> String {
        let _ = self.request("shutdown", Value::Null);
        self.notify("exit", Value::Null);
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        std::thread::sleep(Duration::from_millis(50));
        self.stderr()
    }
}

impl Drop for Client {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Reads `Content-Length` frames; anything else on stdout fails the test, since
/// stdout must carry the protocol alone.
fn read_frames(stdout: impl Read, sender: mpsc::Sender<Value>) {
    let mut reader = BufReader::new(stdout);
    loop {
        let mut length = None;
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line).unwrap_or(0) == 0 {
                return;
            }
            let line = line.trim_end_matches(['\r', '\n']);
            if line.is_empty() {
                break;
            }
            let (name, value) = line
                .split_once(':')
                .unwrap_or_else(|| panic!("stdout carried a non-LSP line: {line:?}"));
            if name.eq_ignore_ascii_case("content-length") {
                length = Some(value.trim().parse::<usize>().unwrap());
            }
        }
        let mut body = vec![0; length.expect("a frame without Content-Length")];
        reader.read_exact(&mut body).unwrap();
        let message: Value = serde_json::from_slice(&body).expect("a frame of valid JSON");
        if sender.send(message).is_err() {
            return;
        }
    }
}

/// Client capabilities like an editor that supports progress, documentChanges and
/// showDocument, and offers these position encodings.
pub fn editor_capabilities(encodings: &[&str]) -> Value {
    json!({
        "general": { "positionEncodings": encodings },
        "window": { "workDoneProgress": true, "showDocument": { "support": true } },
        "workspace": {
            "applyEdit": true,
            "workspaceEdit": { "documentChanges": true },
            "configuration": true
        }
    })
}

/// The capabilities of a client of the whole extension: streamed answers and
/// budget notifications.
pub fn extension_capabilities() -> Value {
    let mut capabilities = editor_capabilities(&["utf-16"]);
    capabilities["experimental"] = json!({ "aumatron": { "taskOutput": true, "budget": true } });
    capabilities
}

/// The same, plus the streamed-output extension.
pub fn streaming_capabilities() -> Value {
    let mut capabilities = editor_capabilities(&["utf-16"]);
    capabilities["experimental"] = json!({ "aumatron": { "taskOutput": true } });
    capabilities
}

/// Applies one LSP text edit (positions in UTF-16, as the tests use) to `text`.
pub fn apply_edit(text: &str, edit: &Value) -> String {
    let offset = |position: &Value| -> usize {
        let line = position["line"].as_u64().unwrap() as usize;
        let character = position["character"].as_u64().unwrap() as usize;
        let mut offset = 0;
        for (index, content) in text.split_inclusive('\n').enumerate() {
            if index == line {
                let mut units = 0;
                for (byte, c) in content.char_indices() {
                    if units >= character {
                        return offset + byte;
                    }
                    units += c.len_utf16();
                }
                return offset + content.len();
            }
            offset += content.len();
        }
        text.len()
    };
    let start = offset(&edit["range"]["start"]);
    let end = offset(&edit["range"]["end"]);
    format!(
        "{}{}{}",
        &text[..start],
        edit["newText"].as_str().unwrap(),
        &text[end..]
    )
}

/// The single text edit of an `ApplyWorkspaceEditParams`, whichever form it uses.
pub fn single_edit(params: &Value) -> Value {
    let edit = &params["edit"];
    if let Some(changes) = edit["documentChanges"].as_array() {
        assert_eq!(changes.len(), 1, "{params}");
        let edits = changes[0]["edits"].as_array().unwrap();
        assert_eq!(edits.len(), 1, "{params}");
        return edits[0].clone();
    }
    let changes = edit["changes"]
        .as_object()
        .expect("changes or documentChanges");
    let edits = changes.values().next().unwrap().as_array().unwrap();
    assert_eq!(edits.len(), 1, "{params}");
    edits[0].clone()
}

/// An LSP range from `(line, character)` pairs.
pub fn range(start: (u32, u32), end: (u32, u32)) -> Value {
    json!({ "start": { "line": start.0, "character": start.1 },
            "end": { "line": end.0, "character": end.1 } })
}
