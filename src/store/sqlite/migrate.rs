//! The SQLite schema's migrations, run on the writer's connection when the store opens: each
//! file of `migrations/sqlite` not yet applied, in its own transaction, recorded in
//! `_sqlx_migrations` (the table and checksums the first releases wrote, so a database they
//! made carries on where it stopped). A migration changed after it was applied is refused.

use rusqlite::{Connection, OptionalExtension, params};

use crate::store::StoreError;

/// Every migration: (version, description, SQL), oldest first.
const MIGRATIONS: &[(i64, &str, &str)] = &[
    (
        1,
        "ledger",
        include_str!("../../../migrations/sqlite/0001_ledger.sql"),
    ),
    (
        2,
        "notifications",
        include_str!("../../../migrations/sqlite/0002_notifications.sql"),
    ),
    (
        3,
        "token expiry",
        include_str!("../../../migrations/sqlite/0003_token_expiry.sql"),
    ),
    (
        4,
        "one idempotency record",
        include_str!("../../../migrations/sqlite/0004_one_idempotency_record.sql"),
    ),
    (
        5,
        "code merchants",
        include_str!("../../../migrations/sqlite/0005_code_merchants.sql"),
    ),
    (
        6,
        "request log",
        include_str!("../../../migrations/sqlite/0006_request_log.sql"),
    ),
    (
        7,
        "sandbox",
        include_str!("../../../migrations/sqlite/0007_sandbox.sql"),
    ),
    (
        8,
        "protocol modes",
        include_str!("../../../migrations/sqlite/0008_protocol_modes.sql"),
    ),
    (
        9,
        "token flow",
        include_str!("../../../migrations/sqlite/0009_token_flow.sql"),
    ),
    (
        10,
        "cert mode",
        include_str!("../../../migrations/sqlite/0010_cert_mode.sql"),
    ),
    (
        11,
        "notification attempts",
        include_str!("../../../migrations/sqlite/0011_notification_attempts.sql"),
    ),
    (
        12,
        "app methods",
        include_str!("../../../migrations/sqlite/0012_app_methods.sql"),
    ),
    (
        13,
        "snapshots",
        include_str!("../../../migrations/sqlite/0013_snapshots.sql"),
    ),
];

const TABLE: &str = "CREATE TABLE IF NOT EXISTS _sqlx_migrations (
    version BIGINT PRIMARY KEY,
    description TEXT NOT NULL,
    installed_on TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
    success BOOLEAN NOT NULL,
    checksum BLOB NOT NULL,
    execution_time BIGINT NOT NULL
)";

fn checksum(sql: &str) -> Result<Vec<u8>, StoreError> {
    openssl::hash::hash(openssl::hash::MessageDigest::sha384(), sql.as_bytes())
        .map(|d| d.to_vec())
        .map_err(|e| StoreError::Io(format!("sha384: {e}")))
}

/// Whether the database holds a ticketgate schema at all (a migration was applied).
pub fn is_migrated(conn: &Connection) -> Result<bool, StoreError> {
    let table: Option<String> = conn
        .query_row(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name = '_sqlx_migrations'",
            [],
            |r| r.get(0),
        )
        .optional()?;
    Ok(table.is_some())
}

/// Applies the migrations the database has not had.
pub fn run(conn: &mut Connection) -> Result<(), StoreError> {
    conn.execute_batch(TABLE)?;
    for &(version, description, sql) in MIGRATIONS {
        let sum = checksum(sql)?;
        let applied: Option<(Vec<u8>, bool)> = conn
            .query_row(
                "SELECT checksum, success FROM _sqlx_migrations WHERE version = ?1",
                params![version],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?;
        match applied {
            Some((stored, true)) if stored == sum => continue,
            Some((_, true)) => {
                return Err(StoreError::Migration(format!(
                    "migration {version} ({description}) was changed after it was applied"
                )));
            }
            Some((_, false)) => {
                return Err(StoreError::Migration(format!(
                    "migration {version} ({description}) failed part-way earlier; restore a backup"
                )));
            }
            None => {}
        }
        let started = std::time::Instant::now();
        let tx = conn.transaction()?;
        tx.execute_batch(sql).map_err(|e| {
            StoreError::Migration(format!("migration {version} ({description}): {e}"))
        })?;
        let took = i64::try_from(started.elapsed().as_nanos()).unwrap_or(i64::MAX);
        tx.execute(
            "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) \
             VALUES (?1, ?2, TRUE, ?3, ?4)",
            params![version, description, sum, took],
        )?;
        tx.commit()?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_migration_file_is_listed_in_order() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/migrations/sqlite");
        let mut files: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        files.sort();
        assert_eq!(files.len(), MIGRATIONS.len(), "{files:?}");
        for (file, &(version, description, _)) in files.iter().zip(MIGRATIONS) {
            let (number, name) = file.trim_end_matches(".sql").split_once('_').unwrap();
            assert_eq!(number.parse::<i64>().unwrap(), version, "{file}");
            assert_eq!(name.replace('_', " "), description, "{file}");
        }
    }

    #[test]
    fn a_fresh_database_migrates_once_and_a_changed_migration_is_refused() {
        let mut conn = Connection::open_in_memory().unwrap();
        run(&mut conn).unwrap();
        run(&mut conn).unwrap();
        assert!(is_migrated(&conn).unwrap());
        conn.execute(
            "UPDATE _sqlx_migrations SET checksum = x'00' WHERE version = 2",
            [],
        )
        .unwrap();
        let err = run(&mut conn).unwrap_err().to_string();
        assert!(
            err.contains("migration 2 (notifications) was changed"),
            "{err}"
        );
    }
}
