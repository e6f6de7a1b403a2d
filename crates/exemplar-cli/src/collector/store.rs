//! The collector's SQLite store: one row per `record_id`, committed before the answer.

use std::path::Path;
use std::sync::Mutex;

use exemplar_core::record::Record;
use rusqlite::{params, OpenFlags, OptionalExtension};
use serde_json::Value;

/// The store.
pub struct Db {
    conn: Mutex<rusqlite::Connection>,
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

    /// Opens (or creates) the database for the collector; past `max_bytes` of pages an
    /// insert fails with [`InsertError::Full`] (the write-ahead log is not counted).
    pub fn open_limited(path: &Path, max_bytes: Option<u64>) -> Result<Db, String> {
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
            conn: Mutex::new(conn),
        })
    }

    /// Opens an existing database for reading only (`export`, `analyze`): a missing file
    /// is an error, never a new empty database, and nothing is written to it.
    pub fn open_read_only(path: &Path) -> Result<Db, String> {
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
            conn: Mutex::new(conn),
        })
    }

    /// Stores the records in one transaction. A record whose id is stored with other
    /// content is left out and named in [`Stored::conflicts`]; the others are stored.
    pub fn insert(&self, records: &[(Record, Value)]) -> Result<Stored, InsertError> {
        let mut conn = self.conn.lock().unwrap_or_else(|e| e.into_inner());
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
        let conn = self.conn.lock().unwrap_or_else(|e| e.into_inner());
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
        let conn = self.conn.lock().unwrap_or_else(|e| e.into_inner());
        conn.query_row("SELECT COUNT(*) FROM records", [], |r| r.get::<_, i64>(0))
            .map_or(0, |n| n as usize)
    }
}

fn same_json(stored: &str, raw: &Value) -> bool {
    serde_json::from_str::<Value>(stored).is_ok_and(|v| &v == raw)
}
