//! The ledger: one SQLite database per user, shared by every aumatron process, so
//! that several editor windows spend from one budget.
//!
//! A cloud request is first *reserved* at its worst-case cost, in one `BEGIN
//! IMMEDIATE` transaction that checks the cap and inserts the row: two processes
//! can never both see room that only one of them can use. After the response, the
//! [`Reservation`] is *settled* to the actual cost, exactly once; a reservation
//! dropped without settling is settled at its full amount. Each process holds an
//! exclusive lock on a file named after its instance id while it runs, so when a
//! process dies mid-request (even by `kill -9`), the next one to start finds the
//! lock free and settles what it left open at the full amount.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context as _;
use rusqlite::{Connection, OptionalExtension as _, TransactionBehavior, params};

use super::prices::Usage;
use super::{Money, Period};

/// How long a write waits for another process's transaction before giving up.
const BUSY_TIMEOUT: Duration = Duration::from_secs(15);

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS requests (
    id                  INTEGER PRIMARY KEY AUTOINCREMENT,
    instance            TEXT    NOT NULL,
    task_id             TEXT    NOT NULL,
    provider            TEXT    NOT NULL,
    model               TEXT    NOT NULL,
    reserved_nanos      INTEGER NOT NULL CHECK (reserved_nanos >= 0),
    reserved_at         INTEGER NOT NULL,
    cost_nanos          INTEGER CHECK (cost_nanos >= 0),
    settled_at          INTEGER,
    outcome             TEXT,
    input_tokens        INTEGER,
    cached_input_tokens INTEGER,
    cache_write_tokens  INTEGER,
    output_tokens       INTEGER
);
CREATE INDEX IF NOT EXISTS requests_open ON requests (instance) WHERE cost_nanos IS NULL;
CREATE INDEX IF NOT EXISTS requests_reserved_at ON requests (reserved_at);
CREATE TABLE IF NOT EXISTS key_states (
    provider   TEXT PRIMARY KEY,
    state      TEXT    NOT NULL,
    changed_at INTEGER NOT NULL,
    origin     TEXT
);
";

/// Puts the ledger in WAL mode (a no-op once it is). Switching needs the
/// database to itself, and SQLite answers "busy" at once, without waiting, while
/// another process opening a new ledger holds it: several editor windows started
/// together do exactly that. So the switch is tried again for a while.
fn use_wal(connection: &Connection) -> rusqlite::Result<()> {
    let deadline = std::time::Instant::now() + BUSY_TIMEOUT;
    loop {
        match connection.pragma_update(None, "journal_mode", "WAL") {
            Err(rusqlite::Error::SqliteFailure(error, _))
                if error.code == rusqlite::ErrorCode::DatabaseBusy
                    && std::time::Instant::now() < deadline =>
            {
                std::thread::sleep(Duration::from_millis(5));
            }
            result => return result,
        }
    }
}

/// Brings a ledger made by an earlier version up to [`SCHEMA`]. Columns are only
/// ever added, so an older version still works with a newer ledger.
fn migrate(connection: &Connection) -> rusqlite::Result<()> {
    // `key_states.origin`: the origin a key was stored for.
    let has_origin = connection
        .prepare("SELECT 1 FROM pragma_table_info('key_states') WHERE name = 'origin'")?
        .exists([])?;
    if !has_origin
        && let Err(error) =
            connection.execute_batch("ALTER TABLE key_states ADD COLUMN origin TEXT")
    {
        // Another process may have added it between the check and here.
        let added = connection
            .prepare("SELECT 1 FROM pragma_table_info('key_states') WHERE name = 'origin'")?
            .exists([])?;
        if !added {
            return Err(error);
        }
    }
    Ok(())
}

/// How a request ended, as recorded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The answer arrived with the provider's usage.
    Done,
    /// The user cancelled it.
    Cancelled,
    /// It failed after the provider may have started work.
    Failed,
    /// The provider refused it before doing any work (an HTTP error status).
    NotBilled,
    /// The process that made it ended without settling it.
    Abandoned,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Done => "done",
            Outcome::Cancelled => "cancelled",
            Outcome::Failed => "failed",
            Outcome::NotBilled => "not-billed",
            Outcome::Abandoned => "abandoned",
        }
    }
}

/// What a settled request cost and what it used.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Settlement {
    pub cost: Money,
    pub usage: Option<Usage>,
    pub outcome: Outcome,
}

/// A request to reserve money before a cloud call.
#[derive(Clone, Debug)]
pub struct ReservationRequest<'a> {
    pub task_id: &'a str,
    pub provider: &'a str,
    pub model: &'a str,
    pub amount: Money,
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ReserveError {
    #[error(
        "this request may cost up to {needed}, but only {remaining} of the {cap} monthly cap \
         is left ({spent} spent, {reserved} held by requests in flight)"
    )]
    OverCap {
        needed: Money,
        remaining: Money,
        cap: Money,
        spent: Money,
        reserved: Money,
    },
    #[error("the spend ledger could not be written ({0}); nothing was sent")]
    Storage(String),
}

/// The ledger's totals for one period.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LedgerSummary {
    /// Settled cost of requests reserved in the period.
    pub spent: Money,
    /// Open reservations, from every process.
    pub reserved: Money,
    pub providers: Vec<ProviderTotals>,
    pub last: Option<RequestRecord>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProviderTotals {
    pub provider: String,
    pub spent: Money,
    pub requests: u64,
}

/// One row of the ledger.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RequestRecord {
    pub id: i64,
    pub task_id: String,
    pub provider: String,
    pub model: String,
    pub reserved: Money,
    pub reserved_at: i64,
    /// `None` while the request is in flight.
    pub cost: Option<Money>,
    pub settled_at: Option<i64>,
    pub outcome: Option<String>,
    pub usage: Option<Usage>,
}

/// A handle to the ledger; cheap to clone, safe to share between threads. Every
/// method blocks on SQLite: call them from blocking threads, not async tasks.
#[derive(Clone)]
pub struct Ledger {
    inner: Arc<Inner>,
}

struct Inner {
    connection: Mutex<Connection>,
    path: PathBuf,
    instances_dir: PathBuf,
    instance: String,
    /// Held for the life of the process; its lock says "this instance is alive".
    instance_lock: File,
}

impl Drop for Inner {
    fn drop(&mut self) {
        // An instance that ends cleanly leaves nothing behind: its requests are
        // settled (a `Reservation` holds the ledger until it is), so its lock file
        // has nothing left to tell.
        let _ = self.instance_lock.unlock();
        let _ = std::fs::remove_file(self.instances_dir.join(format!("{}.lock", self.instance)));
    }
}

impl std::fmt::Debug for Ledger {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ledger")
            .field("path", &self.inner.path)
            .field("instance", &self.inner.instance)
            .finish()
    }
}

impl Ledger {
    /// Opens (creating if needed) the ledger in `dir`, registers this process as a
    /// live instance, and settles what dead instances left open.
    pub fn open(dir: &Path) -> anyhow::Result<Ledger> {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
        let path = dir.join("ledger.sqlite3");
        let connection = Connection::open(&path)
            .with_context(|| format!("cannot open the ledger {}", path.display()))?;
        connection.busy_timeout(BUSY_TIMEOUT)?;
        use_wal(&connection).context("cannot switch the ledger to WAL")?;
        connection.pragma_update(None, "synchronous", "FULL")?;
        connection
            .execute_batch(SCHEMA)
            .context("cannot create the ledger's tables")?;
        migrate(&connection).context("cannot bring the ledger up to date")?;

        let instances_dir = dir.join("instances");
        std::fs::create_dir_all(&instances_dir)?;
        let instance = new_instance_id();
        // Locked under another name first, so no other process ever sees this
        // instance's lock file unlocked and takes it for a dead one's.
        let lock_path = instances_dir.join(format!("{instance}.lock"));
        let unnamed = instances_dir.join(format!(".{instance}.new"));
        let lock = File::create(&unnamed)
            .with_context(|| format!("cannot create {}", unnamed.display()))?;
        lock.lock()
            .with_context(|| format!("cannot lock {}", unnamed.display()))?;
        std::fs::rename(&unnamed, &lock_path)
            .with_context(|| format!("cannot create {}", lock_path.display()))?;

        let ledger = Ledger {
            inner: Arc::new(Inner {
                connection: Mutex::new(connection),
                path,
                instances_dir,
                instance,
                instance_lock: lock,
            }),
        };
        let settled = ledger.settle_abandoned()?;
        if settled > 0 {
            tracing::warn!(
                settled,
                "settled requests left open by processes that ended mid-request, at their \
                 full reservation"
            );
        }
        Ok(ledger)
    }

    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    fn connection(&self) -> std::sync::MutexGuard<'_, Connection> {
        self.inner
            .connection
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Reserves `request.amount` if it fits under `cap` with everything spent this
    /// `period` and everything reserved by any process.
    pub fn reserve(
        &self,
        request: &ReservationRequest<'_>,
        cap: Money,
        period: Period,
    ) -> Result<Reservation, ReserveError> {
        let storage = |error: rusqlite::Error| ReserveError::Storage(error.to_string());
        let mut connection = self.connection();
        let transaction = connection
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(storage)?;
        let (spent, reserved) = totals(&transaction, period).map_err(storage)?;
        let committed = spent.saturating_add(reserved);
        let remaining = cap.saturating_sub(committed).max(Money::ZERO);
        if committed.saturating_add(request.amount) > cap {
            return Err(ReserveError::OverCap {
                needed: request.amount,
                remaining,
                cap,
                spent,
                reserved,
            });
        }
        transaction
            .execute(
                "INSERT INTO requests (instance, task_id, provider, model, reserved_nanos, \
                 reserved_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![
                    self.inner.instance,
                    request.task_id,
                    request.provider,
                    request.model,
                    request.amount.nanos(),
                    super::period::now()
                ],
            )
            .map_err(storage)?;
        let id = transaction.last_insert_rowid();
        transaction.commit().map_err(storage)?;
        tracing::debug!(
            id,
            amount_nanos = request.amount.nanos(),
            provider = request.provider,
            "reserved"
        );
        Ok(Reservation {
            id,
            amount: request.amount,
            ledger: Some(self.clone()),
        })
    }

    fn settle(&self, id: i64, settlement: &Settlement) -> anyhow::Result<()> {
        let usage = settlement.usage.unwrap_or_default();
        let token = |n: u64| settlement.usage.map(|_| n as i64);
        let changed = self.connection().execute(
            "UPDATE requests SET cost_nanos = ?1, settled_at = ?2, outcome = ?3, \
             input_tokens = ?4, cached_input_tokens = ?5, cache_write_tokens = ?6, \
             output_tokens = ?7 WHERE id = ?8 AND cost_nanos IS NULL",
            params![
                settlement.cost.nanos().max(0),
                super::period::now(),
                settlement.outcome.as_str(),
                token(usage.input),
                token(usage.cached_input),
                token(usage.cache_write),
                token(usage.output),
                id
            ],
        )?;
        anyhow::ensure!(changed == 1, "request {id} was already settled");
        tracing::debug!(
            id,
            cost_nanos = settlement.cost.nanos(),
            outcome = settlement.outcome.as_str(),
            "settled"
        );
        Ok(())
    }

    /// Settles, at their full reservation, the open requests of instances whose
    /// process has ended. Returns how many it settled.
    pub fn settle_abandoned(&self) -> anyhow::Result<usize> {
        let connection = self.connection();
        let instances: Vec<String> = {
            let mut statement = connection.prepare(
                "SELECT DISTINCT instance FROM requests WHERE cost_nanos IS NULL AND instance != ?1",
            )?;
            let rows = statement.query_map([&self.inner.instance], |row| row.get(0))?;
            rows.collect::<Result<_, _>>()?
        };
        let mut settled = 0;
        for instance in instances {
            let lock_path = self.inner.instances_dir.join(format!("{instance}.lock"));
            if instance_is_alive(&lock_path) {
                continue;
            }
            settled += connection.execute(
                "UPDATE requests SET cost_nanos = reserved_nanos, settled_at = ?1, \
                 outcome = 'abandoned' WHERE instance = ?2 AND cost_nanos IS NULL",
                params![super::period::now(), instance],
            )?;
            let _ = std::fs::remove_file(&lock_path);
        }
        self.remove_stale_locks();
        Ok(settled)
    }

    /// Removes lock files no process holds any more (left by processes killed with
    /// nothing in flight), so the folder does not grow.
    fn remove_stale_locks(&self) {
        let Ok(entries) = std::fs::read_dir(&self.inner.instances_dir) else {
            return;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            let own = path.file_stem().and_then(|stem| stem.to_str()) == Some(&self.inner.instance);
            if !own
                && path.extension().is_some_and(|ext| ext == "lock")
                && !instance_is_alive(&path)
            {
                let _ = std::fs::remove_file(&path);
            }
        }
    }

    /// Spent and reserved totals, per-provider figures and the last request, for
    /// `period`.
    pub fn summary(&self, period: Period) -> anyhow::Result<LedgerSummary> {
        let connection = self.connection();
        let (spent, reserved) = totals(&connection, period)?;
        let mut statement = connection.prepare_cached(
            "SELECT provider, COALESCE(SUM(cost_nanos), 0), COUNT(*) FROM requests \
             WHERE cost_nanos IS NOT NULL AND reserved_at >= ?1 AND reserved_at < ?2 \
             GROUP BY provider ORDER BY provider",
        )?;
        let providers = statement
            .query_map(params![period.start, period.end], |row| {
                Ok(ProviderTotals {
                    provider: row.get(0)?,
                    spent: Money::from_nanos(row.get(1)?),
                    requests: row.get::<_, i64>(2)? as u64,
                })
            })?
            .collect::<Result<_, _>>()?;
        let last = connection
            .query_row(
                &format!(
                    "SELECT {RECORD_COLUMNS} FROM requests WHERE cost_nanos IS NOT NULL \
                     AND reserved_at >= ?1 AND reserved_at < ?2 \
                     ORDER BY settled_at DESC, id DESC LIMIT 1"
                ),
                params![period.start, period.end],
                record,
            )
            .optional()?;
        Ok(LedgerSummary {
            spent,
            reserved,
            providers,
            last,
        })
    }

    /// The most recent `limit` requests, newest first.
    pub fn recent(&self, limit: usize) -> anyhow::Result<Vec<RequestRecord>> {
        let connection = self.connection();
        let mut statement = connection.prepare(&format!(
            "SELECT {RECORD_COLUMNS} FROM requests ORDER BY id DESC LIMIT ?1"
        ))?;
        let rows = statement.query_map([limit as i64], record)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Every request, oldest first, as CSV with a header row.
    pub fn export_csv(&self) -> anyhow::Result<String> {
        let connection = self.connection();
        let mut statement = connection.prepare(&format!(
            "SELECT {RECORD_COLUMNS} FROM requests ORDER BY id"
        ))?;
        let mut csv = String::from(
            "id,reserved_at,settled_at,task_id,provider,model,outcome,input_tokens,\
             cached_input_tokens,cache_write_tokens,output_tokens,reserved_usd,cost_usd\n",
        );
        let rows = statement.query_map([], record)?;
        for row in rows {
            let row = row?;
            let usage = row.usage;
            let tokens = |pick: fn(&Usage) -> u64| usage.map(|u| pick(&u).to_string());
            let fields = [
                row.id.to_string(),
                super::period::rfc3339(row.reserved_at),
                row.settled_at
                    .map(super::period::rfc3339)
                    .unwrap_or_default(),
                row.task_id,
                row.provider,
                row.model,
                row.outcome.unwrap_or_else(|| "in-flight".into()),
                tokens(|u| u.input).unwrap_or_default(),
                tokens(|u| u.cached_input).unwrap_or_default(),
                tokens(|u| u.cache_write).unwrap_or_default(),
                tokens(|u| u.output).unwrap_or_default(),
                format!("{:.9}", row.reserved.dollars()),
                row.cost
                    .map(|cost| format!("{:.9}", cost.dollars()))
                    .unwrap_or_default(),
            ];
            let line: Vec<String> = fields.iter().map(|field| csv_field(field)).collect();
            csv.push_str(&line.join(","));
            csv.push('\n');
        }
        Ok(csv)
    }

    /// A number that changes whenever another process commits to the ledger.
    pub fn data_version(&self) -> anyhow::Result<i64> {
        Ok(self
            .connection()
            .query_row("PRAGMA data_version", [], |row| row.get(0))?)
    }

    /// Records that a key for `provider` was stored, for requests to `origin` (a
    /// URL's scheme, host and port) only. Every process sees the record.
    pub fn record_key(&self, provider: &str, origin: &str) -> anyhow::Result<()> {
        self.connection().execute(
            "INSERT INTO key_states (provider, state, changed_at, origin) \
             VALUES (?1, 'ok', ?2, ?3) \
             ON CONFLICT (provider) DO UPDATE SET state = 'ok', changed_at = ?2, origin = ?3",
            params![provider, super::period::now(), origin],
        )?;
        Ok(())
    }

    /// Records that the provider refused `provider`'s key.
    pub fn mark_key_rejected(&self, provider: &str) -> anyhow::Result<()> {
        self.connection().execute(
            "UPDATE key_states SET state = 'rejected', changed_at = ?2 WHERE provider = ?1",
            params![provider, super::period::now()],
        )?;
        Ok(())
    }

    /// Forgets everything about `provider`'s key.
    pub fn forget_key(&self, provider: &str) -> anyhow::Result<()> {
        self.connection()
            .execute("DELETE FROM key_states WHERE provider = ?1", [provider])?;
        Ok(())
    }

    pub fn key_record(&self, provider: &str) -> anyhow::Result<Option<KeyRecord>> {
        Ok(self
            .connection()
            .query_row(
                "SELECT state, origin FROM key_states WHERE provider = ?1",
                [provider],
                |row| {
                    Ok(KeyRecord {
                        rejected: row.get::<_, String>(0)? == "rejected",
                        origin: row.get(1)?,
                    })
                },
            )
            .optional()?)
    }
}

/// What the ledger knows of a provider's key (never the key itself).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyRecord {
    /// The provider refused it.
    pub rejected: bool,
    /// Where it may be sent: the scheme, host and port of the provider's base URL
    /// when the key was stored.
    pub origin: Option<String>,
}

const RECORD_COLUMNS: &str = "id, task_id, provider, model, reserved_nanos, reserved_at, \
     cost_nanos, settled_at, outcome, input_tokens, cached_input_tokens, cache_write_tokens, \
     output_tokens";

fn record(row: &rusqlite::Row<'_>) -> rusqlite::Result<RequestRecord> {
    let input: Option<i64> = row.get(9)?;
    let usage = match input {
        Some(input) => Some(Usage {
            input: input as u64,
            cached_input: row.get::<_, Option<i64>>(10)?.unwrap_or(0) as u64,
            cache_write: row.get::<_, Option<i64>>(11)?.unwrap_or(0) as u64,
            output: row.get::<_, Option<i64>>(12)?.unwrap_or(0) as u64,
        }),
        None => None,
    };
    Ok(RequestRecord {
        id: row.get(0)?,
        task_id: row.get(1)?,
        provider: row.get(2)?,
        model: row.get(3)?,
        reserved: Money::from_nanos(row.get(4)?),
        reserved_at: row.get(5)?,
        cost: row.get::<_, Option<i64>>(6)?.map(Money::from_nanos),
        settled_at: row.get(7)?,
        outcome: row.get(8)?,
        usage,
    })
}

/// Spent this period, and reserved by open requests of any period.
fn totals(connection: &Connection, period: Period) -> rusqlite::Result<(Money, Money)> {
    connection.query_row(
        "SELECT \
           COALESCE(SUM(CASE WHEN cost_nanos IS NOT NULL AND reserved_at >= ?1 \
                             AND reserved_at < ?2 THEN cost_nanos END), 0), \
           COALESCE(SUM(CASE WHEN cost_nanos IS NULL THEN reserved_nanos END), 0) \
         FROM requests",
        params![period.start, period.end],
        |row| {
            Ok((
                Money::from_nanos(row.get(0)?),
                Money::from_nanos(row.get(1)?),
            ))
        },
    )
}

fn csv_field(field: &str) -> String {
    if field.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", field.replace('"', "\"\""))
    } else {
        field.to_owned()
    }
}

/// Whether the process behind an instance lock file still holds its lock.
fn instance_is_alive(lock_path: &Path) -> bool {
    let Ok(file) = File::options().write(true).open(lock_path) else {
        // No lock file: its process is long gone.
        return false;
    };
    match file.try_lock() {
        Ok(()) => false,
        Err(std::fs::TryLockError::WouldBlock) => true,
        Err(std::fs::TryLockError::Error(error)) => {
            tracing::warn!(%error, path = %lock_path.display(), "cannot test an instance lock");
            true
        }
    }
}

/// A process-unique id: the pid and a random number, so a recycled pid is a new
/// instance.
fn new_instance_id() -> String {
    use std::hash::{BuildHasher as _, Hasher as _};
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|elapsed| elapsed.as_nanos())
            .unwrap_or_default(),
    );
    format!("{}-{:016x}", std::process::id(), hasher.finish())
}

/// Money held for one cloud request. It must be settled exactly once, with
/// [`Reservation::settle`]; one dropped unsettled (a panic, an early return) is
/// settled at its full amount, so spend is never undercounted.
#[must_use = "a reservation must be settled"]
#[derive(Debug)]
pub struct Reservation {
    id: i64,
    amount: Money,
    ledger: Option<Ledger>,
}

impl Reservation {
    pub fn amount(&self) -> Money {
        self.amount
    }

    /// Records what the request cost. A cost above the reservation is recorded as
    /// it is: the provider's figures are the truth.
    pub fn settle(mut self, settlement: Settlement) -> anyhow::Result<()> {
        let ledger = self.ledger.take().expect("a reservation is settled once");
        if settlement.cost > self.amount {
            tracing::warn!(
                id = self.id,
                cost_nanos = settlement.cost.nanos(),
                reserved_nanos = self.amount.nanos(),
                "a request cost more than its reservation"
            );
        }
        ledger.settle(self.id, &settlement)
    }

    /// Settles at the full reservation: for requests whose usage never arrived.
    pub fn settle_in_full(self, outcome: Outcome) -> anyhow::Result<()> {
        let cost = self.amount;
        self.settle(Settlement {
            cost,
            usage: None,
            outcome,
        })
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        if let Some(ledger) = self.ledger.take() {
            let settlement = Settlement {
                cost: self.amount,
                usage: None,
                outcome: Outcome::Abandoned,
            };
            if let Err(error) = ledger.settle(self.id, &settlement) {
                tracing::error!(id = self.id, %error, "could not settle a dropped reservation");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn many_processes_can_open_a_new_ledger_at_once() {
        for _ in 0..20 {
            let dir = tempfile::tempdir().unwrap();
            let start = Arc::new(std::sync::Barrier::new(8));
            let openers: Vec<_> = (0..8)
                .map(|_| {
                    let (dir, start) = (dir.path().to_owned(), start.clone());
                    std::thread::spawn(move || {
                        start.wait();
                        Ledger::open(&dir).map(drop).map_err(|e| format!("{e:#}"))
                    })
                })
                .collect();
            for opener in openers {
                opener.join().unwrap().unwrap();
            }
        }
    }

    #[test]
    fn a_ledger_from_before_key_origins_is_brought_up_to_date() {
        let dir = tempfile::tempdir().unwrap();
        {
            let old = Connection::open(dir.path().join("ledger.sqlite3")).unwrap();
            old.execute_batch(
                "CREATE TABLE key_states (provider TEXT PRIMARY KEY, state TEXT NOT NULL, \
                 changed_at INTEGER NOT NULL);
                 INSERT INTO key_states VALUES ('anthropic', 'rejected', 1);",
            )
            .unwrap();
        }
        let ledger = Ledger::open(dir.path()).unwrap();
        ledger
            .record_key("openai", "https://api.openai.com")
            .unwrap();
        let record = ledger.key_record("openai").unwrap().unwrap();
        assert_eq!(record.origin.as_deref(), Some("https://api.openai.com"));
        assert!(ledger.key_record("anthropic").unwrap().unwrap().rejected);
        drop(ledger);
        // Opening it again finds nothing to do.
        Ledger::open(dir.path()).unwrap();
    }

    fn request(amount: f64) -> ReservationRequest<'static> {
        ReservationRequest {
            task_id: "task-1",
            provider: "openai",
            model: "gpt-4.1-mini",
            amount: Money::from_dollars(amount),
        }
    }

    fn this_month() -> Period {
        Period::containing(crate::budget::period::now(), 1)
    }

    #[test]
    fn reservations_fit_under_the_cap_or_are_refused_with_the_figures() {
        let dir = tempfile::tempdir().unwrap();
        let ledger = Ledger::open(dir.path()).unwrap();
        let cap = Money::from_dollars(1.0);
        let first = ledger.reserve(&request(0.6), cap, this_month()).unwrap();
        let refused = ledger
            .reserve(&request(0.5), cap, this_month())
            .unwrap_err();
        let ReserveError::OverCap {
            remaining,
            reserved,
            ..
        } = refused.clone()
        else {
            panic!("{refused}");
        };
        assert_eq!(remaining, Money::from_dollars(0.4));
        assert_eq!(reserved, Money::from_dollars(0.6));
        assert!(refused.to_string().contains("$0.40"), "{refused}");

        first
            .settle(Settlement {
                cost: Money::from_dollars(0.1),
                usage: Some(Usage {
                    input: 10,
                    output: 5,
                    ..Usage::default()
                }),
                outcome: Outcome::Done,
            })
            .unwrap();
        let second = ledger.reserve(&request(0.5), cap, this_month()).unwrap();
        let summary = ledger.summary(this_month()).unwrap();
        assert_eq!(summary.spent, Money::from_dollars(0.1));
        assert_eq!(summary.reserved, Money::from_dollars(0.5));
        assert_eq!(summary.last.as_ref().unwrap().usage.unwrap().output, 5);
        drop(second);
        let summary = ledger.summary(this_month()).unwrap();
        assert_eq!(summary.spent, Money::from_dollars(0.6), "dropped = full");
        assert_eq!(summary.reserved, Money::ZERO);
        assert_eq!(summary.providers[0].requests, 2);
    }

    #[test]
    fn a_dead_instances_open_requests_are_settled_in_full_by_the_next() {
        let dir = tempfile::tempdir().unwrap();
        let cap = Money::from_dollars(5.0);
        let alive = Ledger::open(dir.path()).unwrap();
        // A request of another live instance stays open.
        let other = Ledger::open(dir.path()).unwrap();
        let in_flight = other.reserve(&request(0.5), cap, this_month()).unwrap();
        // A request left open by a process that is gone: its lock file is not
        // held by anyone.
        let dead_lock = dir.path().join("instances/1-dead.lock");
        std::fs::write(&dead_lock, b"").unwrap();
        alive
            .connection()
            .execute(
                "INSERT INTO requests (instance, task_id, provider, model, reserved_nanos, \
                 reserved_at) VALUES ('1-dead', 'task-9', 'openai', 'gpt-4.1-mini', ?1, ?2)",
                params![
                    Money::from_dollars(0.25).nanos(),
                    crate::budget::period::now()
                ],
            )
            .unwrap();

        assert_eq!(alive.settle_abandoned().unwrap(), 1);
        assert!(!dead_lock.exists());
        let summary = alive.summary(this_month()).unwrap();
        assert_eq!(summary.spent, Money::from_dollars(0.25));
        assert_eq!(summary.reserved, Money::from_dollars(0.5));
        assert_eq!(summary.last.unwrap().outcome.as_deref(), Some("abandoned"));
        in_flight.settle_in_full(Outcome::Failed).unwrap();
        assert_eq!(alive.settle_abandoned().unwrap(), 0);

        // Lock files of ended instances do not pile up.
        drop(other);
        std::fs::write(dir.path().join("instances/2-gone.lock"), b"").unwrap();
        alive.settle_abandoned().unwrap();
        let left: Vec<_> = std::fs::read_dir(dir.path().join("instances"))
            .unwrap()
            .flatten()
            .map(|entry| entry.file_name())
            .collect();
        assert_eq!(left.len(), 1, "only the live instance's lock: {left:?}");
    }

    #[test]
    fn another_connections_commit_changes_the_data_version() {
        let dir = tempfile::tempdir().unwrap();
        let watcher = Ledger::open(dir.path()).unwrap();
        let spender = Ledger::open(dir.path()).unwrap();
        let before = watcher.data_version().unwrap();
        watcher.summary(this_month()).unwrap();
        assert_eq!(watcher.data_version().unwrap(), before);
        let reservation = spender
            .reserve(&request(0.1), Money::from_dollars(1.0), this_month())
            .unwrap();
        let reserved = watcher.data_version().unwrap();
        assert_ne!(reserved, before);
        reservation.settle_in_full(Outcome::Done).unwrap();
        assert_ne!(watcher.data_version().unwrap(), reserved);
    }

    #[test]
    fn the_export_has_one_row_per_request() {
        let dir = tempfile::tempdir().unwrap();
        let ledger = Ledger::open(dir.path()).unwrap();
        let cap = Money::from_dollars(5.0);
        ledger
            .reserve(&request(0.01), cap, this_month())
            .unwrap()
            .settle_in_full(Outcome::Cancelled)
            .unwrap();
        let csv = ledger.export_csv().unwrap();
        let lines: Vec<&str> = csv.lines().collect();
        assert_eq!(lines.len(), 2, "{csv}");
        assert!(lines[0].starts_with("id,reserved_at"));
        assert!(
            lines[1].contains(",openai,gpt-4.1-mini,cancelled,"),
            "{csv}"
        );
        assert!(lines[1].ends_with(",0.010000000,0.010000000"), "{csv}");
    }
}
