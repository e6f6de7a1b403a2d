//! The collector's store: one row per `record_id`, committed before the answer. SQLite
//! (a file: one collector) or PostgreSQL (`postgres://…`: several collectors behind a load
//! balancer share it), with the same idempotence and conflict rules.

use std::path::Path;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use exemplar_core::record::Record;
use rusqlite::{params, OpenFlags, OptionalExtension};
use serde_json::Value;

/// The store.
pub struct Db {
    backend: Backend,
}

enum Backend {
    Sqlite(Mutex<rusqlite::Connection>),
    Postgres(Box<Mutex<Pg>>),
}

struct Pg {
    client: postgres::Client,
    max_bytes: Option<u64>,
    /// When the database's size was last found below the limit.
    size_checked: Option<Instant>,
}

/// Whether `--db` names a PostgreSQL database rather than a SQLite file.
pub fn is_postgres(db: &Path) -> bool {
    let s = db.to_string_lossy();
    s.starts_with("postgres://") || s.starts_with("postgresql://")
}

/// The database named for messages: a PostgreSQL URL without its password.
pub fn display_name(db: &Path) -> String {
    let s = db.to_string_lossy();
    if !is_postgres(db) {
        return s.into_owned();
    }
    match (s.find("://"), s.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let userinfo = &s[scheme + 3..at];
            let user = userinfo.split(':').next().unwrap_or_default();
            format!("{}{user}:***{}", &s[..scheme + 3], &s[at..])
        }
        _ => s.into_owned(),
    }
}

const PG_SCHEMA: &str = "CREATE TABLE IF NOT EXISTS records (
     id BIGSERIAL UNIQUE,
     record_id TEXT PRIMARY KEY,
     session_id TEXT NOT NULL,
     participant_id TEXT NOT NULL,
     experiment_id TEXT NOT NULL,
     experiment_version TEXT NOT NULL,
     seq BIGINT NOT NULL,
     type TEXT NOT NULL,
     received_at DOUBLE PRECISION NOT NULL,
     body TEXT NOT NULL
 );
 CREATE INDEX IF NOT EXISTS records_by_session ON records (session_id, seq);";

/// A PostgreSQL error with the server's own message ("db error" alone says nothing).
fn pg_error(e: &postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => format!("{}: {}", db.severity(), db.message()),
        None => match std::error::Error::source(e) {
            Some(source) => format!("{e}: {source}"),
            None => e.to_string(),
        },
    }
}

fn pg_connect(db: &Path) -> Result<postgres::Client, String> {
    let name = display_name(db);
    let config: postgres::Config = db
        .to_string_lossy()
        .parse()
        .map_err(|e| format!("{name}: {}", pg_error(&e)))?;
    config
        .clone()
        .connect_timeout(Duration::from_secs(10))
        .connect(postgres::NoTls)
        .map_err(|e| format!("{name}: {}", pg_error(&e)))
}

/// What an insert did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Stored {
    /// Newly stored records.
    pub stored: usize,
    /// Records that were already stored with the same content.
    pub duplicates: usize,
    /// Ids already stored with *other* content: these records were not stored (the rest
    /// of the batch was).
    pub conflicts: Vec<String>,
}

/// Why an insert stored nothing.
#[derive(Debug)]
pub enum InsertError {
    /// The database reached its size limit (`--max-db-mib`).
    Full,
    /// The database failed.
    Storage(String),
}

const SCHEMA: &str = "CREATE TABLE IF NOT EXISTS records (
     record_id TEXT PRIMARY KEY,
     session_id TEXT NOT NULL,
     participant_id TEXT NOT NULL,
     experiment_id TEXT NOT NULL,
     experiment_version TEXT NOT NULL,
     seq INTEGER NOT NULL,
     type TEXT NOT NULL,
     received_at REAL NOT NULL,
     body TEXT NOT NULL
 );
 CREATE INDEX IF NOT EXISTS records_by_session ON records (session_id, seq);";

impl Db {
    /// Opens (or creates) the database for the collector, with no size limit.
    pub fn open(path: &Path) -> Result<Db, String> {
        Db::open_limited(path, None)
    }

    /// Opens (or creates) the database for the collector; past `max_bytes` an insert
    /// fails with [`InsertError::Full`] (SQLite: pages of the file, the write-ahead log not
    /// counted; PostgreSQL: `pg_database_size`, checked at most every 5 s).
    pub fn open_limited(path: &Path, max_bytes: Option<u64>) -> Result<Db, String> {
        if is_postgres(path) {
            let mut client = pg_connect(path)?;
            client
                .batch_execute(PG_SCHEMA)
                .map_err(|e| format!("{}: {}", display_name(path), pg_error(&e)))?;
            return Ok(Db {
                backend: Backend::Postgres(Box::new(Mutex::new(Pg {
                    client,
                    max_bytes,
                    size_checked: None,
                }))),
            });
        }
        let at = |e: rusqlite::Error| format!("{}: {e}", path.display());
        let conn = rusqlite::Connection::open(path).map_err(at)?;
        conn.execute_batch(
            "PRAGMA journal_mode = WAL;
             PRAGMA synchronous = FULL;
             PRAGMA busy_timeout = 5000;",
        )
        .map_err(at)?;
        conn.execute_batch(SCHEMA).map_err(at)?;
        if let Some(max) = max_bytes {
            let page: u64 = conn
                .query_row("PRAGMA page_size", [], |r| r.get::<_, i64>(0))
                .map_err(at)? as u64;
            let pages = (max / page.max(1)).max(1);
            // The pragma answers with the limit it set (never below the current size).
            conn.query_row(&format!("PRAGMA max_page_count = {pages}"), [], |_| Ok(()))
                .map_err(at)?;
        }
        Ok(Db {
            backend: Backend::Sqlite(Mutex::new(conn)),
        })
    }

    /// Opens an existing database for reading only (`export`, `analyze`): a missing file
    /// is an error, never a new empty database, and nothing is written to it.
    pub fn open_read_only(path: &Path) -> Result<Db, String> {
        if is_postgres(path) {
            let name = display_name(path);
            let mut client = pg_connect(path)?;
            client
                .batch_execute("SET default_transaction_read_only = on")
                .map_err(|e| format!("{name}: {}", pg_error(&e)))?;
            let has_records: bool = client
                .query_one("SELECT to_regclass('records') IS NOT NULL", &[])
                .and_then(|row| row.try_get(0))
                .map_err(|e| format!("{name}: {}", pg_error(&e)))?;
            if !has_records {
                return Err(format!(
                    "{name}: not a collector database (no records table)"
                ));
            }
            return Ok(Db {
                backend: Backend::Postgres(Box::new(Mutex::new(Pg {
                    client,
                    max_bytes: None,
                    size_checked: None,
                }))),
            });
        }
        if !path.is_file() {
            return Err(format!("{}: no such database", path.display()));
        }
        let at = |e: rusqlite::Error| format!("{}: {e}", path.display());
        let conn = rusqlite::Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(at)?;
        let has_records: bool = conn
            .query_row(
                "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = 'records'",
                [],
                |r| r.get::<_, i64>(0),
            )
            .map_err(at)?
            > 0;
        if !has_records {
            return Err(format!(
                "{}: not a collector database (no records table)",
                path.display()
            ));
        }
        Ok(Db {
            backend: Backend::Sqlite(Mutex::new(conn)),
        })
    }

    /// Stores the records in one transaction. A record whose id is stored with other
    /// content is left out and named in [`Stored::conflicts`]; the others are stored.
    pub fn insert(&self, records: &[(Record, Value)]) -> Result<Stored, InsertError> {
        let conn = match &self.backend {
            Backend::Sqlite(conn) => conn,
            Backend::Postgres(pg) => {
                return pg.lock().unwrap_or_else(|e| e.into_inner()).insert(records)
            }
        };
        let mut conn = conn.lock().unwrap_or_else(|e| e.into_inner());
        let storage = |e: rusqlite::Error| match e.sqlite_error_code() {
            Some(rusqlite::ErrorCode::DiskFull) => InsertError::Full,
            _ => InsertError::Storage(e.to_string()),
        };
        let tx = conn.transaction().map_err(storage)?;
        let mut out = Stored::default();
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0.0, |d| d.as_secs_f64());
        for (record, raw) in records {
            let body = raw.to_string();
            let existing: Option<String> = tx
                .query_row(
                    "SELECT body FROM records WHERE record_id = ?1",
                    [&record.record_id],
                    |r| r.get(0),
                )
                .optional()
                .map_err(storage)?;
            match existing {
                Some(b) if same_json(&b, raw) => out.duplicates += 1,
                Some(_) => out.conflicts.push(record.record_id.clone()),
                None => {
                    let kind = raw["type"].as_str().unwrap_or_default();
                    tx.execute(
                        "INSERT INTO records (record_id, session_id, participant_id, experiment_id, experiment_version, seq, type, received_at, body)
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                        params![
                            record.record_id,
                            record.session_id,
                            record.participant_id,
                            record.experiment_id,
                            record.experiment_version,
                            record.seq as i64,
                            kind,
                            now,
                            body
                        ],
                    )
                    .map_err(storage)?;
                    out.stored += 1;
                }
            }
        }
        tx.commit().map_err(storage)?;
        Ok(out)
    }

    /// Every stored record, in arrival order.
    pub fn all(&self) -> Result<Vec<Value>, String> {
        let conn = match &self.backend {
            Backend::Sqlite(conn) => conn,
            Backend::Postgres(pg) => {
                let mut pg = pg.lock().unwrap_or_else(|e| e.into_inner());
                let rows = pg
                    .client
                    .query("SELECT body FROM records ORDER BY id", &[])
                    .map_err(|e| pg_error(&e))?;
                return rows
                    .iter()
                    .map(|r| {
                        r.try_get::<_, String>(0)
                            .map_err(|e| pg_error(&e))
                            .and_then(|b| serde_json::from_str(&b).map_err(|e| e.to_string()))
                    })
                    .collect();
            }
        };
        let conn = conn.lock().unwrap_or_else(|e| e.into_inner());
        let mut stmt = conn
            .prepare("SELECT body FROM records ORDER BY rowid")
            .map_err(|e| e.to_string())?;
        let rows = stmt
            .query_map([], |r| r.get::<_, String>(0))
            .map_err(|e| e.to_string())?;
        rows.map(|r| {
            r.map_err(|e| e.to_string())
                .and_then(|b| serde_json::from_str(&b).map_err(|e| e.to_string()))
        })
        .collect()
    }

    /// Number of stored records.
    pub fn count(&self) -> usize {
        let conn = match &self.backend {
            Backend::Sqlite(conn) => conn,
            Backend::Postgres(pg) => {
                let mut pg = pg.lock().unwrap_or_else(|e| e.into_inner());
                return pg
                    .client
                    .query_one("SELECT COUNT(*) FROM records", &[])
                    .and_then(|r| r.try_get::<_, i64>(0))
                    .map_or(0, |n| n as usize);
            }
        };
        let conn = conn.lock().unwrap_or_else(|e| e.into_inner());
        conn.query_row("SELECT COUNT(*) FROM records", [], |r| r.get::<_, i64>(0))
            .map_or(0, |n| n as usize)
    }
}

fn same_json(stored: &str, raw: &Value) -> bool {
    serde_json::from_str::<Value>(stored).is_ok_and(|v| &v == raw)
}

impl Pg {
    /// As [`Db::insert`]: one transaction; `ON CONFLICT DO NOTHING` makes a record sent to
    /// two collectors at once stored once, and the stored body decides duplicate or
    /// conflict.
    fn insert(&mut self, records: &[(Record, Value)]) -> Result<Stored, InsertError> {
        let storage = |e: postgres::Error| {
            if e.code() == Some(&postgres::error::SqlState::DISK_FULL) {
                InsertError::Full
            } else {
                InsertError::Storage(pg_error(&e))
            }
        };
        if let Some(max) = self.max_bytes {
            let fresh = self
                .size_checked
                .is_some_and(|at| at.elapsed() < Duration::from_secs(5));
            if !fresh {
                let size: i64 = self
                    .client
                    .query_one("SELECT pg_database_size(current_database())", &[])
                    .and_then(|r| r.try_get(0))
                    .map_err(storage)?;
                if size as u64 >= max {
                    self.size_checked = None;
                    return Err(InsertError::Full);
                }
                self.size_checked = Some(Instant::now());
            }
        }
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0.0, |d| d.as_secs_f64());
        let mut tx = self.client.transaction().map_err(storage)?;
        let mut out = Stored::default();
        for (record, raw) in records {
            let body = raw.to_string();
            let kind = raw["type"].as_str().unwrap_or_default();
            let inserted = tx
                .execute(
                    "INSERT INTO records (record_id, session_id, participant_id, experiment_id, experiment_version, seq, type, received_at, body)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT (record_id) DO NOTHING",
                    &[
                        &record.record_id,
                        &record.session_id,
                        &record.participant_id,
                        &record.experiment_id,
                        &record.experiment_version,
                        &(record.seq as i64),
                        &kind,
                        &now,
                        &body,
                    ],
                )
                .map_err(storage)?;
            if inserted == 1 {
                out.stored += 1;
                continue;
            }
            let stored: String = tx
                .query_one(
                    "SELECT body FROM records WHERE record_id = $1",
                    &[&record.record_id],
                )
                .and_then(|r| r.try_get(0))
                .map_err(storage)?;
            if same_json(&stored, raw) {
                out.duplicates += 1;
            } else {
                out.conflicts.push(record.record_id.clone());
            }
        }
        tx.commit().map_err(storage)?;
        Ok(out)
    }
}
