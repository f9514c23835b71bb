//! The speed benchmark of aumatron-lsp, run by hand with `scripts/bench.sh`.
//!
//! Every figure is measured next to a reference taken in the same run on the same
//! machine, so the ratio between them means something on any machine:
//!
//! 1. Generation speed through the whole LSP path (a draft streamed with
//!    `aumatron/taskDidChange`), against llama.cpp's own `llama-bench` tg128 on the
//!    same model with the same number of threads. The LSP rate is the decode rate
//!    between the first and the last streamed piece, averaged over several runs
//!    after a warm-up; each run is followed at once by one llama-bench round, so
//!    that the machine's drift moves both sides alike. The goal compares with
//!    llama-bench's tg128 at the depth a draft generates at (`-d`, its prompt
//!    already in the cache); the ratio against an empty cache is printed too.
//! 2. Time to first token, from sending `workspace/executeCommand` to the first
//!    streamed piece, against llama-bench's prompt time for a prompt of the same
//!    size plus one token at its generation rate.
//! 3. `textDocument/codeAction` round trips over stdio on a 1 MB document.
//! 4. Single-character edits at random places of a 10 MB document, in-process
//!    through `Document::apply_changes`, against reading the whole text into a
//!    new rope.
//! 5. `initialize`: from spawning the server to its answer, and the request round
//!    trip alone, against spawning and reaping `/bin/true`.
//! 6. Resident memory of an idle server without a model, against the same with
//!    the model loaded.
//! 7. Keystroke edits on a 10,000-line file with its syntax tree, in-process:
//!    `Document::apply_changes` (rope edit and tree edit, all `didChange` does),
//!    then the incremental reparse the next reader of the tree does
//!    (`Document::update_syntax`), against a full parse of the same file.
//! 8. A summary made in parts of a document several times the local context,
//!    over the LSP path, against one pass on an input that fits.
//!
//! `scripts/bench.sh` builds llama-bench and passes its path in
//! `AUMATRON_BENCH_LLAMA_BENCH`; `AUMATRON_BENCH_THREADS` sets the thread count
//! for both sides (default: the physical cores). Arguments that do not start with
//! `-` pick sections by name (`generation`, `code-action`, `edits`, `initialize`,
//! `memory`, `syntax`, `parts`); with none, all run. Results go to stdout,
//! progress to stderr.

#[path = "../tests/support/mod.rs"]
mod support;

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use aumatron_lsp::syntax::SyntaxTree;
use aumatron_lsp::text::{Document, DocumentChange, PositionEncoding, TextPosition, TextRange};
use serde_json::{Value, json};
use support::{Client, Sandbox};

/// Tokens each measured draft may generate, as in llama-bench's tg128.
const GENERATED_TOKENS: u32 = 128;
/// Measured drafts, after one warm-up, each paired with one llama-bench round.
const GENERATION_RUNS: usize = 8;
/// The draft's instruction; it asks for more text than the limit lets through,
/// so every run stops at the limit rather than at the end of the answer.
const LONG_INSTRUCTION: &str = "Write a long, detailed essay of at least ten paragraphs \
     about the history of rivers and the towns that grew up beside them. Cover trade, \
     floods, bridges, mills and the people who lived there.";

fn main() {
    if let Ok(job) = std::env::var(LEDGER_CHILD) {
        ledger_child(&job);
        return;
    }
    let sections: Vec<String> = std::env::args()
        .skip(1)
        .filter(|arg| !arg.starts_with('-'))
        .collect();
    let wanted = |name: &str| sections.is_empty() || sections.iter().any(|s| s == name);
    let setup = Setup::from_env();
    setup.print();
    let mut summary = Vec::new();

    let mut loaded = None;
    if wanted("generation") || wanted("memory") {
        loaded = section(&mut summary, |summary| {
            generation_and_loaded_memory(&setup, summary, wanted("generation"))
        });
    }
    if wanted("code-action") {
        section(&mut summary, code_action_latency);
    }
    if wanted("edits") {
        section(&mut summary, incremental_edits);
    }
    if wanted("initialize") {
        section(&mut summary, initialize_time);
    }
    if wanted("memory") {
        section(&mut summary, |summary| idle_memory(&setup, loaded, summary));
    }
    if wanted("syntax") {
        section(&mut summary, keystroke_reparse);
    }
    if wanted("parts") {
        section(&mut summary, |summary| summary_in_parts(&setup, summary));
    }
    if wanted("cloud-stream") {
        section(&mut summary, cloud_stream_latency);
    }
    if wanted("ledger") {
        section(&mut summary, ledger_throughput);
    }

    println!();
    println!("Summary");
    for line in &summary {
        println!("  {line}");
    }
}

/// What the benchmark runs with.
struct Setup {
    model: PathBuf,
    threads: u32,
    llama_bench: Option<PathBuf>,
}

impl Setup {
    fn from_env() -> Setup {
        let threads = std::env::var("AUMATRON_BENCH_THREADS")
            .ok()
            .map(|value| {
                value
                    .trim()
                    .parse::<u32>()
                    .ok()
                    .filter(|&n| n > 0)
                    .unwrap_or_else(|| panic!("AUMATRON_BENCH_THREADS={value:?} is no count"))
            })
            .unwrap_or_else(aumatron_lsp::engine::default_threads);
        let llama_bench = std::env::var_os("AUMATRON_BENCH_LLAMA_BENCH")
            .map(PathBuf::from)
            .or_else(find_cached_llama_bench)
            .filter(|path| path.is_file());
        Setup {
            model: support::model_path(),
            threads,
            llama_bench,
        }
    }

    fn print(&self) {
        println!("aumatron-lsp speed benchmark");
        println!("  machine      {}", machine_description());
        println!("  model        {}", self.model.display());
        println!("  threads      {} (server and llama-bench)", self.threads);
        match &self.llama_bench {
            Some(path) => println!("  llama-bench  {}", path.display()),
            None => println!(
                "  llama-bench  not found: run scripts/bench.sh to build it; \
                 the llama.cpp references are skipped"
            ),
        }
    }
}

/// The llama-bench that `scripts/bench.sh` leaves under `.cache/bench/`.
fn find_cached_llama_bench() -> Option<PathBuf> {
    let cache = Path::new(env!("CARGO_MANIFEST_DIR")).join(".cache/bench");
    let mut found: Vec<PathBuf> = std::fs::read_dir(cache)
        .ok()?
        .flatten()
        .map(|entry| entry.path().join("bin/llama-bench"))
        .filter(|path| path.is_file())
        .collect();
    found.sort();
    found.pop()
}

fn machine_description() -> String {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let name = cpuinfo
        .lines()
        .find_map(|line| line.strip_prefix("model name"))
        .and_then(|rest| rest.split_once(':'))
        .map(|(_, name)| name.trim().to_owned())
        .unwrap_or_else(|| "unknown CPU".into());
    let logical = std::thread::available_parallelism().map_or(1, |n| n.get());
    format!(
        "{name}, {} physical cores, {logical} logical",
        aumatron_lsp::engine::default_threads()
    )
}

/// One goal's line in the summary.
fn verdict(met: bool) -> &'static str {
    if met { "PASS" } else { "MISS" }
}

fn progress(message: &str) {
    eprintln!("bench: {message}");
}

// ---------------------------------------------------------------------------
// Other load on the machine.
// ---------------------------------------------------------------------------

/// Cores' worth of CPU that other processes may use before figures are flagged.
const BUSY_CORES: f64 = 0.1;
/// How long a section waits for other processes to quieten down before it runs.
const QUIET_PATIENCE: Duration = Duration::from_secs(60);

/// Runs one section between two readings of the machine's CPU time, and flags
/// its summary lines when other processes took a share of the CPU meanwhile:
/// on a small machine, a compiler running next to the benchmark halves it.
fn section<T>(summary: &mut Vec<String>, run: impl FnOnce(&mut Vec<String>) -> T) -> T {
    wait_for_quiet();
    let before = CpuClock::now();
    let first_line = summary.len();
    let result = run(summary);
    let Some(others) = before.and_then(|before| CpuClock::now().map(|after| before.others(&after)))
    else {
        return result;
    };
    println!("  other processes used {others:.2} cores on average meanwhile");
    if others > BUSY_CORES {
        println!("  => the machine was busy: the figures above are unreliable");
        for line in &mut summary[first_line..] {
            line.push_str(&format!("   (busy machine: {others:.2} cores elsewhere)"));
        }
    }
    result
}

/// Waits, up to [`QUIET_PATIENCE`], until other processes use less than
/// [`BUSY_CORES`] over a second.
fn wait_for_quiet() {
    let deadline = Instant::now() + QUIET_PATIENCE;
    let mut said = false;
    loop {
        let Some(before) = CpuClock::now() else {
            return;
        };
        std::thread::sleep(Duration::from_secs(1));
        let Some(after) = CpuClock::now() else {
            return;
        };
        let others = before.others(&after);
        if others <= BUSY_CORES {
            return;
        }
        if Instant::now() >= deadline {
            progress(&format!(
                "other processes still use {others:.2} cores; measuring anyway"
            ));
            return;
        }
        if !said {
            progress(&format!(
                "other processes use {others:.2} cores; waiting up to {} s for quiet",
                QUIET_PATIENCE.as_secs()
            ));
            said = true;
        }
    }
}

/// CPU time used so far, in clock ticks: by the whole machine, and by this
/// process together with its children that have been reaped.
struct CpuClock {
    at: Instant,
    machine: u64,
    ours: u64,
}

/// Linux's USER_HZ, the unit of both /proc/stat and /proc/self/stat.
const TICKS_PER_SECOND: f64 = 100.0;

impl CpuClock {
    fn now() -> Option<CpuClock> {
        let stat = std::fs::read_to_string("/proc/stat").ok()?;
        let fields: Vec<u64> = stat
            .lines()
            .next()?
            .split_whitespace()
            .skip(1)
            .map(|field| field.parse().unwrap_or(0))
            .collect();
        // user, nice, system, then idle and iowait (skipped), then irq and softirq.
        let machine =
            fields.first()? + fields.get(1)? + fields.get(2)? + fields.get(5)? + fields.get(6)?;
        let own = std::fs::read_to_string("/proc/self/stat").ok()?;
        // Fields after the command name, which is in parentheses and may hold spaces.
        let after_name: Vec<u64> = own
            .rsplit_once(')')?
            .1
            .split_whitespace()
            .map(|field| field.parse().unwrap_or(0))
            .collect();
        // utime, stime, cutime and cstime are fields 14 to 17, so 12 to 15 here.
        let ours = after_name.get(11..15)?.iter().sum();
        Some(CpuClock {
            at: Instant::now(),
            machine,
            ours,
        })
    }

    /// The average number of cores other processes kept busy from `self` to `later`.
    fn others(&self, later: &CpuClock) -> f64 {
        let machine = later.machine.saturating_sub(self.machine) as f64;
        let ours = later.ours.saturating_sub(self.ours) as f64;
        let wall = (later.at - self.at).as_secs_f64().max(1e-3);
        ((machine - ours) / TICKS_PER_SECOND / wall).max(0.0)
    }
}

// ---------------------------------------------------------------------------
// 1, 2 and the loaded half of 6: generation, first token, memory with a model.
// ---------------------------------------------------------------------------

/// One streamed draft as the client saw it.
struct DraftRun {
    input_tokens: u32,
    output_tokens: u32,
    /// From sending the command to the first piece of text.
    first_token: Duration,
    /// Tokens per second between the first and the last piece of text.
    decode_rate: f64,
}

/// Measures generation (unless `measure` is false) and returns the memory of the
/// server with its model loaded, afterwards.
fn generation_and_loaded_memory(
    setup: &Setup,
    summary: &mut Vec<String>,
    measure: bool,
) -> Option<Memory> {
    println!();
    println!("1-2. Generation through the LSP path (draft, {GENERATED_TOKENS} tokens)");
    let sandbox = Sandbox::new();
    let text = "# Rivers\n\nThe river ran past the mill and under the old stone bridge, \
                where the town had gathered for as long as anyone remembered.\n";
    let path = sandbox.write_file("rivers.md", text);
    let uri = support::file_uri(&path);
    let options = json!({ "local": {
        "threads": setup.threads,
        "maxOutputTokens": GENERATED_TOKENS,
    } });
    let (mut client, _) = Client::start(&sandbox, support::streaming_capabilities(), options);
    client.open(&uri, "markdown", text);

    progress("warming up the model with one draft");
    let warm_up = run_draft(&mut client, &uri, 0);
    let mut runs = Vec::new();
    let mut references = Vec::new();
    if measure {
        // This machine's speed drifts from minute to minute, so each draft is
        // followed at once by one llama-bench round on a prompt of the same size:
        // drift then moves both sides alike.
        progress(&format!(
            "timing {GENERATION_RUNS} drafts, each followed by one llama-bench round"
        ));
        for run in 1..=GENERATION_RUNS {
            let draft = run_draft(&mut client, &uri, run);
            if let Some(tool) = &setup.llama_bench {
                references.push(llama_bench_round(setup, tool, draft.input_tokens));
            }
            runs.push(draft);
        }
    }
    let loaded = server_pid(&sandbox).and_then(memory_of);
    client.shutdown();

    if measure {
        report_generation(&warm_up, &runs, &references, summary);
    }
    match loaded {
        Some(memory) => println!(
            "  memory with the model loaded, after {} drafts: VmRSS {:.1} MB, VmHWM {:.1} MB",
            runs.len() + 1,
            mb(memory.rss),
            mb(memory.peak)
        ),
        None => println!("  memory with the model loaded: the server's pid was not found"),
    }
    loaded
}

fn report_generation(
    warm_up: &DraftRun,
    runs: &[DraftRun],
    references: &[Reference],
    summary: &mut Vec<String>,
) {
    let rates: Vec<f64> = runs.iter().map(|run| run.decode_rate).collect();
    let firsts: Vec<f64> = runs.iter().map(|run| secs(run.first_token)).collect();
    let input_tokens = runs
        .first()
        .map_or(warm_up.input_tokens, |run| run.input_tokens);
    let (rate, rate_spread) = mean_and_spread(&rates);
    let (first, first_spread) = mean_and_spread(&firsts);
    for (index, run) in runs.iter().enumerate() {
        println!(
            "  run {}: {} prompt tokens, {} generated, first token {:.1} ms, {:.1} tokens/s",
            index + 1,
            run.input_tokens,
            run.output_tokens,
            ms(run.first_token),
            run.decode_rate
        );
    }
    if runs.iter().any(|run| run.output_tokens < GENERATED_TOKENS) {
        println!(
            "  note: some drafts ended before {GENERATED_TOKENS} tokens; their rates cover fewer \
             tokens"
        );
    }
    println!(
        "  LSP decode rate     {rate:.1} tokens/s (mean of {}, ±{rate_spread:.1})",
        runs.len()
    );
    println!(
        "  LSP first token     {:.1} ms (mean of {}, ±{:.1}) for {input_tokens} prompt tokens",
        first * 1e3,
        runs.len(),
        first_spread * 1e3
    );

    if references.is_empty() {
        summary.push(format!(
            "generation   {rate:.1} tokens/s; no llama-bench reference      goal ratio ≥ 0.95   n/a"
        ));
        summary.push(format!(
            "first token  {:.1} ms; no llama-bench reference          goal ratio ≥ 0.95   n/a",
            first * 1e3
        ));
        return;
    }
    let tg_rates: Vec<f64> = references.iter().map(|r| r.tg_rate).collect();
    let empty_rates: Vec<f64> = references.iter().map(|r| r.tg_rate_empty).collect();
    let pp_times: Vec<f64> = references.iter().map(|r| r.pp_secs).collect();
    let (tg_rate, tg_spread) = mean_and_spread(&tg_rates);
    let (empty_rate, empty_spread) = mean_and_spread(&empty_rates);
    let (pp_secs, _) = mean_and_spread(&pp_times);
    for (index, reference) in references.iter().enumerate() {
        println!(
            "  llama-bench round {}: tg{GENERATED_TOKENS} {:.1} tokens/s after {input_tokens} \
             tokens, {:.1} on an empty cache; pp{input_tokens} {:.1} ms",
            index + 1,
            reference.tg_rate,
            reference.tg_rate_empty,
            reference.pp_secs * 1e3
        );
    }
    println!(
        "  llama-bench tg{GENERATED_TOKENS} @ d{input_tokens}     {tg_rate:.1} tokens/s (mean of {}, \
         ±{tg_spread:.1}); on an empty cache {empty_rate:.1} (±{empty_spread:.1})",
        references.len()
    );
    let reference_first = pp_secs + 1.0 / tg_rate;
    println!(
        "  llama-bench pp{input_tokens}     {:.1} ms ({:.0} tokens/s), + one token at the tg rate = \
         {:.1} ms to a first token",
        pp_secs * 1e3,
        f64::from(input_tokens) / pp_secs,
        reference_first * 1e3
    );

    let rate_ratio = rate / tg_rate;
    let empty_ratio = rate / empty_rate;
    println!(
        "  => generation: LSP {rate:.1} / llama-bench {tg_rate:.1} tokens/s at the same depth = \
         {rate_ratio:.3} (goal ≥ 0.95) {}; against the empty cache's {empty_rate:.1}: {empty_ratio:.3}",
        verdict(rate_ratio >= 0.95)
    );
    summary.push(format!(
        "generation   LSP {rate:.1} vs llama-bench {tg_rate:.1} tokens/s, ratio {rate_ratio:.3} \
         ({empty_ratio:.3} against an empty cache)   goal ≥ 0.95   {}",
        verdict(rate_ratio >= 0.95)
    ));
    // The same 0.95 standard as generation: the reference's time over ours.
    let first_ratio = reference_first / first;
    println!(
        "  => first token: llama-bench {:.1} / LSP {:.1} ms = {first_ratio:.3} (goal ≥ 0.95) {}",
        reference_first * 1e3,
        first * 1e3,
        verdict(first_ratio >= 0.95)
    );
    summary.push(format!(
        "first token  LSP {:.1} vs llama-bench {:.1} ms, ratio {first_ratio:.3}   goal ≥ 0.95   {}",
        first * 1e3,
        reference_first * 1e3,
        verdict(first_ratio >= 0.95)
    ));
}

/// Sends one draft and follows it until its progress ends.
fn run_draft(client: &mut Client, uri: &str, run: usize) -> DraftRun {
    let request_id = 1_000_000 + run as i64;
    let sent = Instant::now();
    client.send(json!({
        "jsonrpc": "2.0",
        "id": request_id,
        "method": "workspace/executeCommand",
        "params": {
            "command": "aumatron.draft",
            "arguments": [{
                "uri": uri,
                "range": { "start": { "line": 0, "character": 0 },
                           "end": { "line": 3, "character": 0 } },
                "instruction": LONG_INSTRUCTION,
            }],
        },
    }));
    let mut task_id: Option<String> = None;
    // Every streamed piece: when it arrived and the token count it carried.
    let mut pieces: Vec<(Instant, u32)> = Vec::new();
    let mut input_tokens = 0;
    let mut output_tokens = None;
    let mut done = false;
    loop {
        let message = client.wait_for("the draft's messages", |_| true);
        let at = Instant::now();
        if message["id"] == json!(request_id) && message.get("method").is_none() {
            let result = message
                .get("result")
                .unwrap_or_else(|| panic!("draft refused: {message}"));
            task_id = Some(result["taskId"].as_str().expect("a taskId").to_owned());
            continue;
        }
        let params = &message["params"];
        match message["method"].as_str() {
            Some("aumatron/taskDidChange") => {
                if task_id.as_deref().is_some_and(|id| params["taskId"] != id) {
                    continue;
                }
                match params["status"].as_str() {
                    Some("running") => {
                        input_tokens = params["inputTokens"].as_u64().unwrap_or(0) as u32;
                        if params.get("delta").is_some() {
                            let tokens = params["outputTokens"].as_u64().unwrap_or(0) as u32;
                            pieces.push((at, tokens));
                        }
                    }
                    Some("done") => {
                        output_tokens = params["outputTokens"].as_u64().map(|n| n as u32);
                        done = true;
                    }
                    _ => panic!("the draft did not finish: {params}"),
                }
            }
            // The draft is delivered as an edit after its last notification, and
            // its progress ends after that; waiting for the end keeps that work
            // out of the next run.
            Some("$/progress")
                if done
                    && task_id.as_deref().is_some_and(|id| params["token"] == id)
                    && params["value"]["kind"] == "end" =>
            {
                break;
            }
            _ => {}
        }
    }
    let (first_at, first_tokens) = *pieces.first().expect("the draft streamed some text");
    let (last_at, last_tokens) = *pieces.last().unwrap();
    let span = secs(last_at - first_at);
    DraftRun {
        input_tokens,
        output_tokens: output_tokens.unwrap_or(last_tokens),
        first_token: first_at - sent,
        decode_rate: if span > 0.0 {
            f64::from(last_tokens - first_tokens) / span
        } else {
            0.0
        },
    }
}

/// One llama-bench round: its generation rates and its prompt time.
struct Reference {
    /// tg128 after a prompt of the draft's size is in the cache, as in a draft.
    tg_rate: f64,
    /// tg128 on an empty cache, llama-bench's headline figure.
    tg_rate_empty: f64,
    pp_secs: f64,
}

/// Runs llama-bench once (one repetition after its own warm-up) for a prompt of
/// `input_tokens` and for tg128, both on an empty cache and at the depth a draft
/// generates at: its prompt's tokens are already in the cache, and attention over
/// them is part of the work.
fn llama_bench_round(setup: &Setup, tool: &Path, input_tokens: u32) -> Reference {
    let depths = format!("0,{input_tokens}");
    let tests = run_llama_bench(
        tool,
        &setup.model,
        setup.threads,
        &[
            "-p",
            &input_tokens.to_string(),
            "-n",
            &GENERATED_TOKENS.to_string(),
            "-d",
            &depths,
        ],
    );
    let find = |prompt: u32, generated: u32, depth: u32, what: &str| {
        tests
            .iter()
            .find(|test| {
                test.n_prompt == prompt && test.n_gen == generated && test.n_depth == depth
            })
            .unwrap_or_else(|| panic!("llama-bench reported no {what} test"))
    };
    Reference {
        tg_rate: find(0, GENERATED_TOKENS, input_tokens, "deep generation").avg_ts,
        tg_rate_empty: find(0, GENERATED_TOKENS, 0, "generation").avg_ts,
        pp_secs: find(input_tokens, 0, 0, "prompt").avg_ns as f64 / 1e9,
    }
}

/// One test in llama-bench's JSON output.
struct LlamaBenchTest {
    n_prompt: u32,
    n_gen: u32,
    n_depth: u32,
    avg_ns: u64,
    avg_ts: f64,
}

fn run_llama_bench(tool: &Path, model: &Path, threads: u32, tests: &[&str]) -> Vec<LlamaBenchTest> {
    let output = Command::new(tool)
        .arg("-m")
        .arg(model)
        .args(["-t", &threads.to_string()])
        .args(["-r", "1"])
        .args(tests)
        .args(["-o", "json"])
        .stdin(Stdio::null())
        .output()
        .expect("llama-bench runs");
    assert!(
        output.status.success(),
        "llama-bench failed ({}):\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    let parsed: Value = serde_json::from_slice(&output.stdout).expect("llama-bench writes JSON");
    let number = |test: &Value, field: &str| {
        test[field]
            .as_f64()
            .unwrap_or_else(|| panic!("llama-bench gave no {field}: {test}"))
    };
    parsed
        .as_array()
        .expect("a list of tests")
        .iter()
        .map(|test| LlamaBenchTest {
            n_prompt: number(test, "n_prompt") as u32,
            n_gen: number(test, "n_gen") as u32,
            n_depth: number(test, "n_depth") as u32,
            avg_ns: number(test, "avg_ns") as u64,
            avg_ts: number(test, "avg_ts"),
        })
        .collect()
}

// ---------------------------------------------------------------------------
// 3. codeAction on a 1 MB document.
// ---------------------------------------------------------------------------

fn code_action_latency(summary: &mut Vec<String>) {
    const SIZE: usize = 1 << 20;
    const WARM_UP: usize = 200;
    const ROUNDS: usize = 5_000;
    const AFTER_EDIT_ROUNDS: usize = 300;
    const AFTER_PAUSE_ROUNDS: usize = 100;
    println!();
    println!("3. textDocument/codeAction round trip on a 1 MB document");
    let sandbox = Sandbox::new();
    let text = sample_source(SIZE);
    let lines = text.lines().count() as u32;
    let path = sandbox.write_file("big.rs", &text);
    let uri = support::file_uri(&path);
    // No model: code actions never touch it, and a model loading in the
    // background would take a core from the measurement.
    let mut command = sandbox.command();
    command.env("AUMATRON_MODEL", sandbox.path("data/no-model.gguf"));
    let mut client = Client::spawn(command);
    client.initialize(support::editor_capabilities(&["utf-16"]), Value::Null);
    client.open(&uri, "rust", &text);

    progress(&format!("timing {ROUNDS} code actions"));
    let mut random = SplitMix64(0xc0de_ac71);
    let mut times = Vec::with_capacity(ROUNDS);
    for round in 0..WARM_UP + ROUNDS {
        let start = random.below(lines as u64 - 8) as u32;
        let params = code_action_params(&uri, start);
        let sent = Instant::now();
        let actions = client
            .request("textDocument/codeAction", params)
            .expect("codeAction succeeds");
        let elapsed = sent.elapsed();
        if round == 0 {
            let count = actions.as_array().map_or(0, Vec::len);
            assert_eq!(count, 3, "three code actions for a range: {actions}");
        }
        if round >= WARM_UP {
            times.push(elapsed);
        }
        // The client keeps every message; this benchmark has no use for them.
        client.transcript.clear();
    }

    // The same after a keystroke, at once: that request pays the incremental
    // reparse the edit left. Then after a keystroke and a pause, in which the
    // server reparses in the background.
    let mut after_edit = Vec::with_capacity(AFTER_EDIT_ROUNDS);
    let mut after_pause = Vec::with_capacity(AFTER_PAUSE_ROUNDS);
    let mut version = 1;
    for (rounds, pause, times) in [
        (AFTER_EDIT_ROUNDS, Duration::ZERO, &mut after_edit),
        (
            AFTER_PAUSE_ROUNDS,
            Duration::from_millis(300),
            &mut after_pause,
        ),
    ] {
        progress(&format!(
            "timing {rounds} code actions, each {} ms after a keystroke",
            pause.as_millis()
        ));
        for _ in 0..rounds {
            let start = random.below(lines as u64 - 8) as u32;
            version += 1;
            client.notify(
                "textDocument/didChange",
                json!({
                    "textDocument": { "uri": uri, "version": version },
                    "contentChanges": [{
                        "range": { "start": { "line": start, "character": 0 },
                                   "end": { "line": start, "character": 0 } },
                        "text": " ",
                    }],
                }),
            );
            std::thread::sleep(pause);
            let params = code_action_params(&uri, start);
            let sent = Instant::now();
            client
                .request("textDocument/codeAction", params)
                .expect("codeAction succeeds");
            times.push(sent.elapsed());
            client.transcript.clear();
        }
    }
    client.shutdown();
    let edited = Stats::of(&mut after_edit);
    let paused = Stats::of(&mut after_pause);
    println!(
        "  {AFTER_EDIT_ROUNDS} round trips, each at once after a one-character didChange (paying \
         its reparse): p50 {:.1} µs, p99 {:.1} µs, max {:.1} µs",
        us(edited.p50),
        us(edited.p99),
        us(edited.max)
    );
    println!(
        "  {AFTER_PAUSE_ROUNDS} round trips, each 300 ms after a one-character didChange \
         (reparsed in the background): p50 {:.1} µs, p99 {:.1} µs, max {:.1} µs",
        us(paused.p50),
        us(paused.p99),
        us(paused.max)
    );

    let stats = Stats::of(&mut times);
    println!(
        "  {ROUNDS} round trips over stdio ({} lines, {:.2} MB): p50 {:.1} µs, p99 {:.1} µs, \
         max {:.1} µs, mean {:.1} µs",
        lines,
        text.len() as f64 / 1e6,
        us(stats.p50),
        us(stats.p99),
        us(stats.max),
        us(stats.mean)
    );
    let met = stats.p99 < Duration::from_millis(1);
    println!(
        "  => p99 {:.3} ms (goal < 1 ms) {}",
        ms(stats.p99),
        verdict(met)
    );
    summary.push(format!(
        "code action  p50 {:.3} ms, p99 {:.3} ms on 1 MB   goal p99 < 1 ms   {}",
        ms(stats.p50),
        ms(stats.p99),
        verdict(met)
    ));
    summary.push(format!(
        "code action  at once after a keystroke: p50 {:.3} ms, p99 {:.3} ms on 1 MB (one \
         reparse); 300 ms after: p50 {:.3} ms, p99 {:.3} ms   no goal   -",
        ms(edited.p50),
        ms(edited.p99),
        ms(paused.p50),
        ms(paused.p99)
    ));
}

/// A code-action request for five lines from `line`.
fn code_action_params(uri: &str, line: u32) -> Value {
    json!({
        "textDocument": { "uri": uri },
        "range": { "start": { "line": line, "character": 4 },
                   "end": { "line": line + 5, "character": 2 } },
        "context": { "diagnostics": [] },
    })
}

// ---------------------------------------------------------------------------
// 4. Incremental edits on a 10 MB document.
// ---------------------------------------------------------------------------

fn incremental_edits(summary: &mut Vec<String>) {
    const SIZE: usize = 10 << 20;
    const EDITS: usize = 20_000;
    const RE_READS: usize = 5;
    /// Inserted characters: one, two and three UTF-8 bytes, and a surrogate pair.
    const INSERTS: [&str; 4] = ["x", "é", "日", "🎉"];
    println!();
    println!("4. Incremental edits on a 10 MB document (in-process, UTF-16 positions)");
    let text = sample_source(SIZE);
    let mut document = Document::new("file:///big.rs".into(), "rust".into(), 1, &text);
    let initial_chars = document.rope.len_chars();

    progress(&format!("timing {EDITS} edits"));
    let mut random = SplitMix64(0xed17_5eed);
    let mut times = Vec::with_capacity(EDITS);
    let mut growth: isize = 0;
    for edit in 0..EDITS {
        let rope = &document.rope;
        let line = random.below(rope.len_lines() as u64) as usize;
        let content: Vec<char> = rope
            .line(line)
            .chars()
            .take_while(|&c| c != '\n' && c != '\r')
            .collect();
        let column = random.below(content.len() as u64 + 1) as usize;
        let start = utf16_len(&content[..column]);
        // Deletes and inserts alternate, so the document keeps its size.
        let change = if edit % 2 == 1 && column < content.len() {
            growth -= 1;
            let end = start + content[column].len_utf16() as u32;
            DocumentChange {
                range: Some(TextRange::new(
                    TextPosition::new(line as u32, start),
                    TextPosition::new(line as u32, end),
                )),
                text: String::new(),
            }
        } else {
            growth += 1;
            let position = TextPosition::new(line as u32, start);
            DocumentChange {
                range: Some(TextRange::new(position, position)),
                text: INSERTS[random.below(INSERTS.len() as u64) as usize].into(),
            }
        };
        let version = edit as i32 + 2;
        let started = Instant::now();
        document.apply_changes(
            version,
            std::slice::from_ref(&change),
            PositionEncoding::Utf16,
        );
        times.push(started.elapsed());
    }
    assert_eq!(
        document.rope.len_chars() as isize,
        initial_chars as isize + growth,
        "every edit changed the text by one character"
    );

    progress(&format!("timing {RE_READS} full re-reads"));
    let mut re_reads = Vec::with_capacity(RE_READS);
    for _ in 0..RE_READS {
        let started = Instant::now();
        let rope = ropey::Rope::from_str(std::hint::black_box(&text));
        re_reads.push(started.elapsed());
        std::hint::black_box(rope);
    }

    let stats = Stats::of(&mut times);
    let re_read = Stats::of(&mut re_reads).p50;
    println!(
        "  {EDITS} single-character edits ({:.1} MB, {} lines): p50 {:.2} µs, p99 {:.2} µs, \
         max {:.1} µs, mean {:.2} µs",
        text.len() as f64 / 1e6,
        text.lines().count(),
        us(stats.p50),
        us(stats.p99),
        us(stats.max),
        us(stats.mean)
    );
    let speedup = secs(re_read) / secs(stats.mean);
    println!(
        "  full re-read (ropey::Rope::from_str, median of {RE_READS}): {:.2} ms, {speedup:.0}× the \
         mean edit",
        ms(re_read)
    );
    let met = stats.p99 < Duration::from_micros(50);
    println!(
        "  => p99 {:.2} µs per edit (goal < 50 µs) {}",
        us(stats.p99),
        verdict(met)
    );
    summary.push(format!(
        "edits        p99 {:.2} µs on 10 MB, full re-read {:.2} ms ({speedup:.0}×)   \
         goal p99 < 50 µs   {}",
        us(stats.p99),
        ms(re_read),
        verdict(met)
    ));
}

fn utf16_len(chars: &[char]) -> u32 {
    chars.iter().map(|c| c.len_utf16() as u32).sum()
}

// ---------------------------------------------------------------------------
// 5. initialize.
// ---------------------------------------------------------------------------

fn initialize_time(summary: &mut Vec<String>) {
    const ROUNDS: usize = 10;
    const SPAWNS: usize = 30;
    /// Long enough for a fresh server to be waiting on stdin.
    const SETTLE: Duration = Duration::from_millis(300);
    println!();
    println!("5. initialize");
    progress(&format!("timing {SPAWNS} spawns of /bin/true"));
    let mut true_times = Vec::with_capacity(SPAWNS);
    for _ in 0..SPAWNS {
        let started = Instant::now();
        let status = Command::new("/bin/true")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .expect("/bin/true runs");
        true_times.push(started.elapsed());
        assert!(status.success());
    }

    progress(&format!(
        "timing {ROUNDS} cold and {ROUNDS} settled initialize requests"
    ));
    let mut cold = Vec::with_capacity(ROUNDS);
    let mut settled = Vec::with_capacity(ROUNDS);
    for _ in 0..ROUNDS {
        let sandbox = Sandbox::new();
        let started = Instant::now();
        let mut client = Client::spawn(sandbox.command());
        initialize_request(&mut client);
        cold.push(started.elapsed());
        drop(client);

        let sandbox = Sandbox::new();
        let mut client = Client::spawn(sandbox.command());
        std::thread::sleep(SETTLE);
        let started = Instant::now();
        initialize_request(&mut client);
        settled.push(started.elapsed());
        drop(client);
    }

    let true_p50 = Stats::of(&mut true_times).p50;
    let cold = Stats::of(&mut cold);
    let settled = Stats::of(&mut settled);
    println!(
        "  spawn → initialize result: p50 {:.2} ms, max {:.2} ms ({ROUNDS} servers)",
        ms(cold.p50),
        ms(cold.max)
    );
    println!(
        "  request round trip alone (server started {} ms before): p50 {:.2} ms, max {:.2} ms",
        SETTLE.as_millis(),
        ms(settled.p50),
        ms(settled.max)
    );
    let ratio = secs(cold.p50) / secs(true_p50);
    println!(
        "  spawn and reap /bin/true: p50 {:.2} ms; spawn → result is {ratio:.1}× that",
        ms(true_p50)
    );
    let goal = Duration::from_millis(20);
    println!(
        "  => round trip p50 {:.2} ms (goal < 20 ms) {}; spawn → result p50 {:.2} ms (goal < 20 ms) {}",
        ms(settled.p50),
        verdict(settled.p50 < goal),
        ms(cold.p50),
        verdict(cold.p50 < goal)
    );
    summary.push(format!(
        "initialize   round trip p50 {:.2} ms   goal < 20 ms   {}",
        ms(settled.p50),
        verdict(settled.p50 < goal)
    ));
    summary.push(format!(
        "initialize   spawn → result p50 {:.2} ms, /bin/true {:.2} ms ({ratio:.1}×)   goal < 20 ms   {}",
        ms(cold.p50),
        ms(true_p50),
        verdict(cold.p50 < goal)
    ));
}

fn initialize_request(client: &mut Client) {
    client
        .request(
            "initialize",
            json!({
                "processId": std::process::id(),
                "rootUri": null,
                "capabilities": support::editor_capabilities(&["utf-16"]),
                "initializationOptions": null,
            }),
        )
        .expect("initialize succeeds");
}

// ---------------------------------------------------------------------------
// 6. Idle memory.
// ---------------------------------------------------------------------------

/// `loaded` is the server's memory with the model loaded, the reference.
fn idle_memory(setup: &Setup, loaded: Option<Memory>, summary: &mut Vec<String>) {
    println!();
    println!("6. Idle memory without a model");
    let sandbox = Sandbox::new();
    let mut command = sandbox.command();
    command.env("AUMATRON_MODEL", sandbox.path("data/no-model.gguf"));
    let mut client = Client::spawn(command);
    client.initialize(
        support::editor_capabilities(&["utf-16"]),
        json!({ "local": {
        "threads": setup.threads } }),
    );
    let text = "fn main() {\n    println!(\"hello\");\n}\n";
    let path = sandbox.write_file("main.rs", text);
    client.open(&support::file_uri(&path), "rust", text);
    // A round trip makes sure the document is in; then the server settles.
    let _ = client.request("textDocument/codeAction", json!({
        "textDocument": { "uri": support::file_uri(&path) },
        "range": { "start": { "line": 0, "character": 0 }, "end": { "line": 1, "character": 0 } },
        "context": { "diagnostics": [] },
    }));
    std::thread::sleep(Duration::from_millis(500));
    let idle = server_pid(&sandbox).and_then(memory_of);
    client.shutdown();

    let Some(idle) = idle else {
        println!("  the server's pid was not found; no figure");
        summary.push("idle memory  no figure (pid not found)   goal < 30 MB   n/a".into());
        return;
    };
    let loaded = loaded.map(|memory| memory.rss);
    let reference = match loaded {
        Some(rss) => format!(
            "; with the model loaded {:.1} MB, so idle is {:.2} of that",
            mb(rss),
            idle.rss as f64 / rss as f64
        ),
        None => String::new(),
    };
    println!(
        "  VmRSS {:.1} MB, VmHWM {:.1} MB{reference}",
        mb(idle.rss),
        mb(idle.peak)
    );
    let met = idle.rss < 30_000_000;
    println!(
        "  => VmRSS {:.1} MB (goal < 30 MB) {}",
        mb(idle.rss),
        verdict(met)
    );
    summary.push(format!(
        "idle memory  VmRSS {:.1} MB{}   goal < 30 MB   {}",
        mb(idle.rss),
        loaded.map_or(String::new(), |rss| format!(
            ", {:.1} MB with the model",
            mb(rss)
        )),
        verdict(met)
    ));
}

#[derive(Clone, Copy)]
struct Memory {
    /// VmRSS in bytes.
    rss: u64,
    /// VmHWM, the peak resident size, in bytes.
    peak: u64,
}

/// The support client keeps its child to itself, so the server is found by its
/// environment: the one process of this binary with this sandbox's config folder.
fn server_pid(sandbox: &Sandbox) -> Option<u32> {
    let marker = format!("XDG_CONFIG_HOME={}", sandbox.path("config").display());
    let binary = Path::new(env!("CARGO_BIN_EXE_aumatron-lsp"));
    let binary = binary
        .canonicalize()
        .unwrap_or_else(|_| binary.to_path_buf());
    std::fs::read_dir("/proc")
        .ok()?
        .flatten()
        .find_map(|entry| {
            let pid: u32 = entry.file_name().to_str()?.parse().ok()?;
            let exe = std::fs::read_link(entry.path().join("exe")).ok()?;
            // A rebuilt binary shows as "... (deleted)".
            if !exe
                .to_string_lossy()
                .starts_with(&*binary.to_string_lossy())
            {
                return None;
            }
            let environ = std::fs::read(entry.path().join("environ")).ok()?;
            environ
                .split(|&byte| byte == 0)
                .any(|variable| variable == marker.as_bytes())
                .then_some(pid)
        })
}

fn memory_of(pid: u32) -> Option<Memory> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let field = |name: &str| -> Option<u64> {
        let line = status.lines().find(|line| line.starts_with(name))?;
        let kb: u64 = line[name.len()..]
            .trim()
            .trim_end_matches("kB")
            .trim()
            .parse()
            .ok()?;
        Some(kb * 1024)
    };
    Some(Memory {
        rss: field("VmRSS:")?,
        peak: field("VmHWM:")?,
    })
}

// ---------------------------------------------------------------------------
// 7. Keystrokes on a 10,000-line file with its syntax tree.
// ---------------------------------------------------------------------------

fn keystroke_reparse(summary: &mut Vec<String>) {
    const LINES: usize = 10_000;
    const KEYSTROKES: usize = 4_000;
    const FULL_PARSES: usize = 10;
    println!();
    println!(
        "7. Typing on a {LINES}-line file: didChange per keystroke, and the incremental reparse after it"
    );
    // Each site is a line in a function body where a statement is typed, one
    // character per change as an editor sends them, then taken back with
    // backspace: the file is broken only where the user is typing, as in life.
    for (language_id, name, text, anchor, typed) in [
        (
            "rust",
            "big.rs",
            sample_source_lines(LINES),
            "    let mut sum = 0u64;",
            "let extra = 42;\n    ",
        ),
        (
            "python",
            "big.py",
            sample_python_lines(LINES),
            "        self.size = size",
            "extra = 42\n        ",
        ),
    ] {
        let mut document = Document::new(format!("file:///{name}"), language_id.into(), 1, &text);
        let grammar = document
            .syntax()
            .expect("a 10,000-line file gets a tree")
            .grammar();
        let sites: Vec<u32> = text
            .lines()
            .enumerate()
            .filter(|(_, line)| *line == anchor)
            .map(|(index, _)| index as u32)
            .collect();
        let indent = (anchor.len() - anchor.trim_start().len()) as u32;
        let first_typed_line = typed.split('\n').next().unwrap_or_default().len() as u32;

        progress(&format!("timing {KEYSTROKES} keystrokes in {name}"));
        let mut random = SplitMix64(0x7ee5_1770);
        let mut times = Vec::with_capacity(KEYSTROKES);
        let mut reparses = Vec::with_capacity(KEYSTROKES);
        let mut version = 1;
        // Each keystroke is timed twice: the change itself (rope and tree edits,
        // all that `didChange` does), then the incremental reparse that the next
        // reader of the tree does, as if a request read it after every keystroke.
        let mut apply = |document: &mut Document, change: DocumentChange| {
            version += 1;
            let started = Instant::now();
            document.apply_changes(
                version,
                std::slice::from_ref(&change),
                PositionEncoding::Utf16,
            );
            let changed = started.elapsed();
            let started = Instant::now();
            document.update_syntax();
            reparses.push(started.elapsed());
            changed
        };
        while times.len() < KEYSTROKES {
            let line = sites[random.below(sites.len() as u64) as usize];
            // Typing: each character goes where the cursor is.
            let (mut row, mut column) = (line, indent);
            for c in typed.chars() {
                let at = TextPosition::new(row, column);
                let change = DocumentChange {
                    range: Some(TextRange::new(at, at)),
                    text: c.to_string(),
                };
                times.push(apply(&mut document, change));
                if c == '\n' {
                    row += 1;
                    column = 0;
                } else {
                    column += c.len_utf16() as u32;
                }
            }
            // Backspace, back to where it started.
            for c in typed.chars().rev() {
                let end = TextPosition::new(row, column);
                if c == '\n' {
                    row -= 1;
                    column = indent + first_typed_line;
                } else {
                    column -= c.len_utf16() as u32;
                }
                let change = DocumentChange {
                    range: Some(TextRange::new(TextPosition::new(row, column), end)),
                    text: String::new(),
                };
                times.push(apply(&mut document, change));
            }
        }
        assert_eq!(
            document.rope.to_string(),
            text,
            "every keystroke was taken back"
        );
        assert!(
            document.syntax().is_some(),
            "the tree survived every keystroke"
        );

        progress(&format!("timing {FULL_PARSES} full parses of {name}"));
        let rope = document.rope.clone();
        let mut parses = Vec::with_capacity(FULL_PARSES);
        for _ in 0..FULL_PARSES {
            let started = Instant::now();
            let tree = SyntaxTree::parse(grammar, std::hint::black_box(&rope));
            parses.push(started.elapsed());
            assert!(tree.is_some());
        }

        let stats = Stats::of(&mut times);
        let reparse = Stats::of(&mut reparses);
        let full = Stats::of(&mut parses).p50;
        let ratio = secs(full) / secs(reparse.mean);
        println!(
            "  {name} ({} lines, {:.0} kB), {} keystrokes:",
            rope.len_lines(),
            rope.len_bytes() as f64 / 1e3,
            times.len()
        );
        println!(
            "    didChange (rope + tree edit): p50 {:.1} µs, p99 {:.1} µs, max {:.1} µs",
            us(stats.p50),
            us(stats.p99),
            us(stats.max)
        );
        println!(
            "    incremental reparse after it: p50 {:.1} µs, p99 {:.1} µs, max {:.1} µs, mean {:.1} µs",
            us(reparse.p50),
            us(reparse.p99),
            us(reparse.max),
            us(reparse.mean)
        );
        println!(
            "    full parse (median of {FULL_PARSES}) {:.2} ms, {ratio:.0}× the mean reparse",
            ms(full)
        );
        let change_met = stats.p99 < Duration::from_millis(1);
        let reparse_met = reparse.p99 < Duration::from_millis(1);
        println!(
            "  => {name}: keystroke p99 {:.3} ms (goal < 1 ms) {}; reparse p99 {:.3} ms \
             (goal < 1 ms) {}",
            ms(stats.p99),
            verdict(change_met),
            ms(reparse.p99),
            verdict(reparse_met)
        );
        summary.push(format!(
            "keystroke    {name} didChange p50 {:.1} µs, p99 {:.1} µs   goal p99 < 1 ms   {}",
            us(stats.p50),
            us(stats.p99),
            verdict(change_met)
        ));
        summary.push(format!(
            "reparse      {name} p50 {:.1} µs, p99 {:.1} µs when read after each keystroke; \
             full parse {:.2} ms ({ratio:.0}×)   goal p99 < 1 ms   {}",
            us(reparse.p50),
            us(reparse.p99),
            ms(full),
            verdict(reparse_met)
        ));
    }
}

/// About `lines` lines of Rust, made of whole items.
fn sample_source_lines(lines: usize) -> String {
    let mut text = String::new();
    let mut item = 0usize;
    while text.lines().count() < lines {
        let _ = write!(
            text,
            "/// Returns the weighted total of item {item}.\n\
             pub fn total_{item}(values: &[u32], weight: u32) -> u64 {{\n\
             \x20   // 日本語のコメント, and a party 🎉 for the surrogate pairs.\n\
             \x20   let mut sum = 0u64;\n\
             \x20   for value in values {{\n\
             \x20       sum += u64::from(*value) * u64::from(weight);\n\
             \x20   }}\n\
             \x20   sum\n\
             }}\n\n"
        );
        item += 1;
    }
    text
}

/// About `lines` lines of Python: classes of methods, so indentation matters.
fn sample_python_lines(lines: usize) -> String {
    let mut text = String::from("import math\n\n\n");
    let mut item = 0usize;
    while text.lines().count() < lines {
        let _ = write!(
            text,
            "class Shape{item}:\n\
             \x20   \"\"\"A shape with an area.\"\"\"\n\
             \n\
             \x20   def __init__(self, size):\n\
             \x20       self.size = size\n\
             \n\
             \x20   def area(self):\n\
             \x20       if self.size < 0:\n\
             \x20           raise ValueError(\"négatif 🎉\")\n\
             \x20       return math.pi * self.size ** 2\n\
             \n\n"
        );
        item += 1;
    }
    text
}

// ---------------------------------------------------------------------------
// 8. Summaries in parts.
// ---------------------------------------------------------------------------

/// Times one summary over LSP; returns the wall time, the done notification and
/// the number of parts it reported.
fn timed_summary(client: &mut Client, uri: &str) -> (Duration, Value, usize) {
    client.transcript.clear();
    let sent = Instant::now();
    let started = client
        .request(
            "workspace/executeCommand",
            json!({ "command": "aumatron.summarise", "arguments": [{ "uri": uri }] }),
        )
        .expect("summarise starts");
    let id = started["taskId"].as_str().expect("a taskId").to_owned();
    let done = client.wait_notification("aumatron/taskDidChange", |p| {
        p["taskId"] == id.as_str() && p["status"] != "running"
    });
    let elapsed = sent.elapsed();
    assert_eq!(done["status"], "done", "{done}");
    let parts = client
        .transcript
        .iter()
        .filter(|m| m["method"] == "aumatron/taskDidChange")
        .filter(|m| {
            m["params"]["message"]
                .as_str()
                .is_some_and(|message| message.starts_with("part "))
        })
        .count();
    (elapsed, done, parts)
}

fn summary_in_parts(setup: &Setup, summary: &mut Vec<String>) {
    const CONTEXT: u32 = 1024;
    const OUTPUT: u32 = 128;
    println!();
    println!("8. Summarise: in parts on a document several times the context, against one pass");
    let handbook = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/handbook.md"),
    )
    .expect("the handbook fixture");
    // The whole handbook, twice over: several times a 1024-token context.
    let big = format!("{handbook}\n{handbook}");
    // Its first sections, which fit in one pass with room for the answer.
    let small: String = handbook
        .split("\n## ")
        .take(2)
        .collect::<Vec<_>>()
        .join("\n## ");
    let sandbox = Sandbox::new();
    let big_uri = support::file_uri(&sandbox.write_file("big.md", &big));
    let small_uri = support::file_uri(&sandbox.write_file("small.md", &small));
    let options = json!({ "local": {
        "threads": setup.threads,
        "contextTokens": CONTEXT,
        "maxOutputTokens": { "summarise": OUTPUT },
    } });
    let (mut client, _) = Client::start(&sandbox, support::streaming_capabilities(), options);
    client.open(&big_uri, "markdown", &big);
    client.open(&small_uri, "markdown", &small);

    progress("warming up with one summary that fits");
    timed_summary(&mut client, &small_uri);
    progress("timing one pass on an input that fits");
    let (one_time, one, one_parts) = timed_summary(&mut client, &small_uri);
    progress("timing a summary in parts");
    let (parts_time, parts, part_count) = timed_summary(&mut client, &big_uri);
    client.shutdown();
    assert_eq!(one_parts, 0, "the small input fits in one pass");

    let tokens = |done: &Value, field: &str| done[field].as_u64().unwrap_or(0);
    let (one_in, parts_in) = (tokens(&one, "inputTokens"), tokens(&parts, "inputTokens"));
    let one_rate = one_in as f64 / secs(one_time);
    let parts_rate = parts_in as f64 / secs(parts_time);
    println!(
        "  one pass:  {:.1} KB, {one_in} tokens read, {} written, {:.2} s ({one_rate:.0} tokens read/s)",
        small.len() as f64 / 1e3,
        tokens(&one, "outputTokens"),
        secs(one_time)
    );
    println!(
        "  in parts:  {:.1} KB, {part_count} parts, {parts_in} tokens read in all passes, {} \
         written, {:.2} s ({parts_rate:.0} tokens read/s)",
        big.len() as f64 / 1e3,
        tokens(&parts, "outputTokens"),
        secs(parts_time)
    );
    let time_ratio = secs(parts_time) / secs(one_time);
    let input_ratio = big.len() as f64 / small.len() as f64;
    println!(
        "  => {input_ratio:.1}× the text took {time_ratio:.1}× the time; reading rate in parts / \
         one pass = {:.2}",
        parts_rate / one_rate
    );
    summary.push(format!(
        "in parts     {part_count} parts of a {CONTEXT}-token context: {:.1} s for {input_ratio:.1}× \
         the text of a {:.1} s single pass ({time_ratio:.1}×)   no goal   -",
        secs(parts_time),
        secs(one_time)
    ));
}

// ---------------------------------------------------------------------------
// Helpers.
// ---------------------------------------------------------------------------

/// Plausible Rust source of about `bytes` bytes, with some text beyond ASCII so
/// UTF-16 columns differ from char counts.
fn sample_source(bytes: usize) -> String {
    let mut text = String::with_capacity(bytes + 256);
    let mut item = 0usize;
    while text.len() < bytes {
        let _ = write!(
            text,
            "/// Returns the weighted total of item {item}, naïvely but exactly.\n\
             pub fn total_{item}(values: &[u32], weight: u32) -> u64 {{\n\
             \x20   // 日本語のコメント, and a party 🎉 for the surrogate pairs.\n\
             \x20   let mut sum = 0u64;\n\
             \x20   for value in values {{\n\
             \x20       sum += u64::from(*value) * u64::from(weight);\n\
             \x20   }}\n\
             \x20   sum\n\
             }}\n\n"
        );
        item += 1;
    }
    text
}

/// A small, seeded generator so every run makes the same edits.
struct SplitMix64(u64);

impl SplitMix64 {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A number in `0..bound`; `bound` must not be zero.
    fn below(&mut self, bound: u64) -> u64 {
        self.next() % bound
    }
}

struct Stats {
    p50: Duration,
    p99: Duration,
    max: Duration,
    mean: Duration,
}

impl Stats {
    fn of(samples: &mut [Duration]) -> Stats {
        assert!(!samples.is_empty());
        samples.sort_unstable();
        let at = |quantile: f64| {
            let index = ((samples.len() as f64 * quantile).ceil() as usize).clamp(1, samples.len());
            samples[index - 1]
        };
        Stats {
            p50: at(0.50),
            p99: at(0.99),
            max: samples[samples.len() - 1],
            mean: samples.iter().sum::<Duration>() / samples.len() as u32,
        }
    }
}

/// The mean and the sample standard deviation.
fn mean_and_spread(values: &[f64]) -> (f64, f64) {
    if values.is_empty() {
        return (0.0, 0.0);
    }
    let mean = values.iter().sum::<f64>() / values.len() as f64;
    if values.len() < 2 {
        return (mean, 0.0);
    }
    let variance =
        values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (values.len() - 1) as f64;
    (mean, variance.sqrt())
}

fn secs(duration: Duration) -> f64 {
    duration.as_secs_f64()
}

fn ms(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1e3
}

fn us(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1e6
}

fn mb(bytes: u64) -> f64 {
    bytes as f64 / 1e6
}

// ---------------------------------------------------------------------------
// Cloud: from a provider's SSE chunk to the editor's notification.
// ---------------------------------------------------------------------------

/// Chunks the fake provider streams per run, and the pause between them.
const STREAM_CHUNKS: usize = 300;
const STREAM_GAP: Duration = Duration::from_millis(4);

/// Streams `STREAM_CHUNKS` Chat Completions chunks to the first connection on
/// `listener`, each carrying its index; returns when each was written.
fn serve_sse_once(listener: std::net::TcpListener) -> Vec<Instant> {
    use std::io::{BufRead as _, BufReader, Read as _, Write as _};
    let (stream, _) = listener.accept().expect("the server connects");
    stream.set_nodelay(true).unwrap();
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut length = 0;
    loop {
        let mut line = String::new();
        reader.read_line(&mut line).unwrap();
        if let Some(value) = line.to_ascii_lowercase().strip_prefix("content-length:") {
            length = value.trim().parse().unwrap();
        }
        if line == "\r\n" {
            break;
        }
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body).unwrap();
    let mut writer = stream;
    writer
        .write_all(
            b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\nconnection: close\r\n\r\n",
        )
        .unwrap();
    let mut sent = Vec::with_capacity(STREAM_CHUNKS);
    for index in 0..STREAM_CHUNKS {
        std::thread::sleep(STREAM_GAP);
        let chunk = format!(
            "data: {{\"id\":\"chatcmpl-bench\",\"object\":\"chat.completion.chunk\",\
             \"choices\":[{{\"index\":0,\"delta\":{{\"content\":\"<{index}> \"}},\
             \"finish_reason\":null}}],\"usage\":null}}\n\n"
        );
        writer.write_all(chunk.as_bytes()).unwrap();
        writer.flush().unwrap();
        sent.push(Instant::now());
    }
    let usage = "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":10,\"completion_tokens\":300}}\n\ndata: [DONE]\n\n";
    writer.write_all(usage.as_bytes()).unwrap();
    sent
}

fn cloud_stream_latency(summary: &mut Vec<String>) {
    println!();
    println!("8. Cloud streaming: SSE chunk written -> aumatron/taskDidChange received");
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let provider = std::thread::spawn(move || serve_sse_once(listener));

    let sandbox = Sandbox::new();
    sandbox.write_config(&format!(
        "[providers.openai]\nbaseUrl = \"http://127.0.0.1:{port}/v1\"\n"
    ));
    let mut command = sandbox.command();
    command.env("AUMATRON_MODEL", sandbox.path("data/no-model.gguf"));
    let mut client = Client::spawn(command);
    client.initialize(support::extension_capabilities(), Value::Null);
    client
        .request(
            "workspace/executeCommand",
            json!({ "command": "aumatron.setKey",
                    "arguments": [{ "provider": "openai", "key": "sk-bench-0123456789abcdef" }] }),
        )
        .expect("the key is stored");
    let text = "fn add(a: i32, b: i32) -> i32 {\n    a + b\n}\n";
    let uri = support::file_uri(&sandbox.write_file("add.rs", text));
    client.open(&uri, "rust", text);
    progress(&format!("streaming {STREAM_CHUNKS} chunks"));
    client
        .request(
            "workspace/executeCommand",
            json!({ "command": "aumatron.explain",
                    "arguments": [{ "uri": uri, "target": "openai" }] }),
        )
        .expect("the task starts");
    let mut received = vec![None; STREAM_CHUNKS];
    loop {
        let params = client.wait_notification("aumatron/taskDidChange", |_| true);
        let at = Instant::now();
        if params["status"] != "running" {
            break;
        }
        let delta = params["delta"].as_str().unwrap_or_default();
        for marker in delta.split('<').skip(1) {
            if let Some(index) = marker
                .split('>')
                .next()
                .and_then(|n| n.parse::<usize>().ok())
            {
                received[index] = Some(at);
            }
        }
        client.transcript.clear();
    }
    client.shutdown();
    let sent = provider.join().unwrap();
    let mut through_server: Vec<Duration> = sent
        .iter()
        .zip(&received)
        .filter_map(|(sent, received)| received.map(|at| at.saturating_duration_since(*sent)))
        .collect();
    assert_eq!(
        through_server.len(),
        STREAM_CHUNKS,
        "every chunk was streamed"
    );
    let mut bare = bare_loopback_latency();

    let server = Stats::of(&mut through_server);
    let reference = Stats::of(&mut bare);
    println!(
        "  through the server: p50 {:.1} µs, p99 {:.1} µs, max {:.1} µs",
        us(server.p50),
        us(server.p99),
        us(server.max)
    );
    println!(
        "  bare loopback socket: p50 {:.1} µs, p99 {:.1} µs",
        us(reference.p50),
        us(reference.p99)
    );
    let ratio = server.p50.as_secs_f64() / reference.p50.as_secs_f64();
    println!("  => p50 is {ratio:.1} times a bare loopback hop");
    summary.push(format!(
        "SSE -> notification  p50 {:.3} ms, p99 {:.3} ms   ({ratio:.1}x a bare loopback hop, p50 {:.3} ms)",
        ms(server.p50),
        ms(server.p99),
        ms(reference.p50)
    ));
}

/// One-way latency of the same chunks, spaced the same way, over a loopback
/// socket with nothing in between.
fn bare_loopback_latency() -> Vec<Duration> {
    use std::io::{Read as _, Write as _};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    let reader = std::thread::spawn(move || {
        let (mut stream, _) = listener.accept().unwrap();
        let mut received = Vec::with_capacity(STREAM_CHUNKS);
        let mut buffer = [0u8; 4096];
        let mut pending = Vec::new();
        while received.len() < STREAM_CHUNKS {
            let n = stream.read(&mut buffer).unwrap();
            assert!(n > 0);
            pending.extend_from_slice(&buffer[..n]);
            while let Some(end) = pending.windows(2).position(|w| w == b"\n\n") {
                pending.drain(..end + 2);
                received.push(Instant::now());
            }
        }
        received
    });
    let mut writer = std::net::TcpStream::connect(address).unwrap();
    writer.set_nodelay(true).unwrap();
    let mut sent = Vec::with_capacity(STREAM_CHUNKS);
    for index in 0..STREAM_CHUNKS {
        std::thread::sleep(STREAM_GAP);
        let chunk =
            format!("data: {{\"choices\":[{{\"delta\":{{\"content\":\"<{index}> \"}}}}]}}\n\n");
        writer.write_all(chunk.as_bytes()).unwrap();
        sent.push(Instant::now());
    }
    let received = reader.join().unwrap();
    sent.iter()
        .zip(&received)
        .map(|(sent, received)| received.saturating_duration_since(*sent))
        .collect()
}

// ---------------------------------------------------------------------------
// The ledger: reserve and settle, from several processes at once.
// ---------------------------------------------------------------------------

/// Set in a child process of the `ledger` section: `DIR:CYCLES`.
const LEDGER_CHILD: &str = "AUMATRON_BENCH_LEDGER_CHILD";
const LEDGER_CYCLES: usize = 2_000;
const LEDGER_PROCESSES: usize = 4;

/// A child's work: reserve and settle `CYCLES` times on the ledger in `DIR`, then
/// print how long it took.
fn ledger_child(job: &str) {
    use aumatron_lsp::budget::ledger::{Outcome, ReservationRequest};
    use aumatron_lsp::budget::{Ledger, Money, Period};
    let (dir, cycles) = job.rsplit_once(':').expect("DIR:CYCLES");
    let cycles: usize = cycles.parse().unwrap();
    let ledger = Ledger::open(Path::new(dir)).expect("the ledger opens");
    let cap = Money::from_dollars(1_000_000.0);
    let period = Period::containing(aumatron_lsp::budget::period::now(), 1);
    let started = Instant::now();
    for cycle in 0..cycles {
        let task_id = format!("bench-{cycle}");
        let request = ReservationRequest {
            task_id: &task_id,
            provider: "openai",
            model: "gpt-4.1-mini",
            amount: Money::from_dollars(0.002),
        };
        let reservation = ledger.reserve(&request, cap, period).expect("it fits");
        reservation
            .settle_in_full(Outcome::Done)
            .expect("it settles");
    }
    println!("{}", started.elapsed().as_secs_f64());
}

/// Runs `processes` children at once on a fresh ledger; returns cycles per second
/// over them all.
fn ledger_run(processes: usize) -> f64 {
    let dir = tempfile::tempdir().unwrap();
    let job = format!("{}:{LEDGER_CYCLES}", dir.path().display());
    let exe = std::env::current_exe().unwrap();
    let started = Instant::now();
    let children: Vec<_> = (0..processes)
        .map(|_| {
            Command::new(&exe)
                .env(LEDGER_CHILD, &job)
                .stdout(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for child in children {
        let output = child.wait_with_output().unwrap();
        assert!(output.status.success(), "a ledger child failed");
    }
    let wall = started.elapsed().as_secs_f64();
    (processes * LEDGER_CYCLES) as f64 / wall
}

fn ledger_throughput(summary: &mut Vec<String>) {
    println!();
    println!("9. Ledger: reserve + settle cycles (two SQLite write transactions each)");
    progress("one process");
    let alone = ledger_run(1);
    progress(&format!("{LEDGER_PROCESSES} processes"));
    let shared = ledger_run(LEDGER_PROCESSES);
    println!("  1 process:  {alone:.0} cycles/s");
    println!("  {LEDGER_PROCESSES} processes: {shared:.0} cycles/s together");
    let ratio = shared / alone;
    println!("  => {ratio:.2} times one process's rate");
    summary.push(format!(
        "ledger  {shared:.0} reserve+settle/s with {LEDGER_PROCESSES} processes, {alone:.0}/s alone ({ratio:.2}x)"
    ));
}
