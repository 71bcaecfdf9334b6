//! The data layer: one connection type over SQLite and PostgreSQL, the pool,
//! embedded migrations, and one file of queries per table.
//!
//! Queries are written once against [`DbConnection`] (diesel's
//! `MultiConnection`). The few statements that must differ per backend (the
//! queue claim, upserts, date truncation) live in [`backend`] and nowhere else.
//! Every call runs on a blocking thread through [`Db::run`], never on the async
//! executor.

pub mod alert_variants;
pub mod alerts;
pub mod audit;
pub mod backend;
pub mod cases;
pub mod deliveries;
pub mod domain_pauses;
pub mod gate;
pub mod limits;
pub mod listen;
pub mod lists;
pub mod log;
pub mod petitions;
pub mod reports;
pub mod schema;
pub mod sealing;
pub mod secrets;
pub mod sessions;
pub mod signature_reports;
pub mod signatures;
pub mod subscriptions;
pub mod supporters;
pub mod tokens;
pub mod types;
pub mod users;

use std::sync::Arc;
use std::time::Duration;

use chrono::{NaiveDateTime, Utc};
use diesel::connection::SimpleConnection;
use diesel::pg::PgConnection;
use diesel::r2d2::{self, ManageConnection, Pool, PooledConnection};
use diesel::sqlite::SqliteConnection;
use diesel::Connection;
use diesel_migrations::{embed_migrations, EmbeddedMigrations, MigrationHarness};

use crate::vault::DataKeys;

pub const SQLITE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/sqlite");
pub const POSTGRES_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/postgres");

/// Arbitrary but fixed: the advisory lock every instance takes while migrating.
const MIGRATION_LOCK_ID: i64 = 0x0063_6c61_7269_6f6e;

#[derive(diesel::MultiConnection)]
pub enum DbConnection {
    Postgres(PgConnection),
    Sqlite(SqliteConnection),
}

impl DbConnection {
    pub fn is_sqlite(&self) -> bool {
        matches!(self, DbConnection::Sqlite(_))
    }
}

#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("database query failed")]
    Query(#[from] diesel::result::Error),
    #[error("no database connection available")]
    Pool(#[from] r2d2::PoolError),
    #[error("database connection failed: {0}")]
    Connect(String),
    #[error("migrations failed: {0}")]
    Migration(String),
    #[error("database task panicked or was cancelled")]
    Join(#[from] tokio::task::JoinError),
    #[error("personal data does not open: {0}")]
    Vault(#[from] crate::vault::VaultError),
}

pub type DbResult<T> = Result<T, DbError>;

/// Which backend a URL names, decided by its scheme: diesel's own
/// `MultiConnection::establish` would try each backend in turn, and SQLite
/// accepts any string as a file name.
#[derive(Debug, Clone)]
pub enum DbUrl {
    Sqlite(String),
    Postgres(String),
}

impl DbUrl {
    pub fn parse(url: &str) -> Result<DbUrl, DbError> {
        if let Some(path) = url.strip_prefix("sqlite://") {
            if path.is_empty() {
                return Err(DbError::Connect("sqlite:// needs a file path".into()));
            }
            Ok(DbUrl::Sqlite(path.to_string()))
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            // libpq tries GSSAPI encryption by default, which loads Kerberos;
            // its exit handlers then race the pool's threads and can abort
            // the process as it exits ("k5_mutex_lock … Assertion failed").
            // Clarion never authenticates by Kerberos unless the URL asks.
            let url = if url.contains("gssencmode=") {
                url.to_string()
            } else if url.contains('?') {
                format!("{url}&gssencmode=disable")
            } else {
                format!("{url}?gssencmode=disable")
            };
            Ok(DbUrl::Postgres(url))
        } else {
            Err(DbError::Connect(
                "database URL must start with sqlite:// or postgres://".into(),
            ))
        }
    }
}

/// r2d2 manager that opens the backend the URL names and prepares SQLite.
#[derive(Debug, Clone)]
pub struct Manager {
    url: DbUrl,
}

impl Manager {
    pub fn connect_once(url: &DbUrl) -> Result<DbConnection, DbError> {
        match url {
            DbUrl::Postgres(u) => {
                let mut conn =
                    PgConnection::establish(u).map_err(|e| DbError::Connect(e.to_string()))?;
                // Plan each statement for its parameters. diesel prepares
                // statements once per connection, and PostgreSQL may settle
                // on a generic plan made while a table was nearly empty (a
                // sequential scan), then keep it as the table grows until
                // autovacuum's next ANALYZE: signing on a fresh database
                // slowed to a crawl, each batch scanning every supporter.
                conn.batch_execute(PG_PLANS)
                    .map_err(|e| DbError::Connect(e.to_string()))?;
                Ok(DbConnection::Postgres(conn))
            }
            DbUrl::Sqlite(path) => {
                if let Some(parent) = std::path::Path::new(path).parent() {
                    if !parent.as_os_str().is_empty() {
                        std::fs::create_dir_all(parent).map_err(|e| {
                            DbError::Connect(format!("cannot create {}: {e}", parent.display()))
                        })?;
                    }
                }
                let mut conn = SqliteConnection::establish(path)
                    .map_err(|e| DbError::Connect(e.to_string()))?;
                // WAL lets readers run beside the one writer; busy_timeout makes
                // a second writer wait instead of failing; NORMAL is durable in
                // WAL mode except for the last transactions on power loss.
                // A checkpoint runs inside whichever commit crosses the
                // threshold and stalls the signature writer (and every request
                // waiting on its batch) while it writes back and syncs; every
                // 20,000 pages (~80 MB of WAL at 4 KiB a page) rather than
                // SQLite's 1,000 makes those stalls rarer and merges rewrites
                // of the same index pages (10,000 pages took bench/sign, mails
                // queued, from 8,800–9,300 to 10,800–13,600 signatures/s; it
                // went to 20,000 with the background checkpointer). Serving
                // processes also checkpoint in the background
                // (`spawn_checkpointer`), so this threshold is mostly a
                // backstop.
                // secure_delete overwrites what a delete or an update frees
                // with zeros, so an erased address or comment is not left
                // readable in a free block of the file (contract §4: after
                // erasure the personal data is gone; see `truncate_wal` for
                // the copies in the WAL).
                conn.batch_execute(
                    "PRAGMA journal_mode = WAL; PRAGMA busy_timeout = 10000; \
                     PRAGMA foreign_keys = ON; PRAGMA synchronous = NORMAL; \
                     PRAGMA journal_size_limit = 67108864; PRAGMA secure_delete = ON;",
                )
                .and_then(|()| conn.batch_execute(AUTOCHECKPOINT))
                .map_err(|e| DbError::Connect(e.to_string()))?;
                Ok(DbConnection::Sqlite(conn))
            }
        }
    }
}

impl ManageConnection for Manager {
    type Connection = DbConnection;
    type Error = DbError;

    fn connect(&self) -> Result<DbConnection, DbError> {
        Manager::connect_once(&self.url)
    }

    fn is_valid(&self, conn: &mut DbConnection) -> Result<(), DbError> {
        conn.batch_execute("SELECT 1").map_err(DbError::Query)
    }

    fn has_broken(&self, _conn: &mut DbConnection) -> bool {
        false
    }
}

pub type Conn = PooledConnection<Manager>;

/// A pooled connection with the process's data keys entered on this thread
/// for as long as it is held ([`crate::vault::scope`]).
pub struct ScopedConn {
    conn: Conn,
    _keys: crate::vault::ScopeGuard,
    _gate: gate::Entered,
    /// [`Db::get_for_writer`]: the settings to put back when the connection
    /// goes back to the pool.
    restore: &'static [&'static str],
}

impl Drop for ScopedConn {
    fn drop(&mut self) {
        for sql in self.restore {
            if let Err(e) = self.conn.batch_execute(sql) {
                tracing::warn!(error = %e, "putting a writer's connection settings back failed");
            }
        }
    }
}

impl std::ops::Deref for ScopedConn {
    type Target = Conn;
    fn deref(&self) -> &Conn {
        &self.conn
    }
}

impl std::ops::DerefMut for ScopedConn {
    fn deref_mut(&mut self) -> &mut Conn {
        &mut self.conn
    }
}

/// The answer of `PRAGMA wal_checkpoint`: `busy` is 1 when it could not
/// finish.
#[derive(diesel::QueryableByName)]
struct CheckpointResult {
    #[diesel(sql_type = diesel::sql_types::Integer)]
    busy: i32,
    /// Frames in the WAL.
    #[diesel(sql_type = diesel::sql_types::Integer)]
    log: i32,
    /// Frames of it copied into the database file.
    #[diesel(sql_type = diesel::sql_types::Integer)]
    checkpointed: i32,
}

/// SQLite's WAL threshold on every connection but an urgent writer's
/// (see `Manager::connect_once`).
const AUTOCHECKPOINT: &str = "PRAGMA wal_autocheckpoint = 20000";
/// How every PostgreSQL connection plans (see [`Manager::connect_once`]),
/// and what a writer's connection goes back to ([`Db::get_for_writer`]).
const PG_PLANS: &str = "SET plan_cache_mode = force_custom_plan";

/// A WAL longer than this (pages) after the background checkpoint is
/// checkpointed again with the [`gate`] held, so that it can be started
/// over (~4 MiB).
const WAL_RESTART_PAGES: i32 = 1000;

/// At most this many pages (~800 KiB) are left to copy with the gate held.
const WAL_TAIL_PAGES: i32 = 200;

/// A WAL still longer than this (pages, ~160 MiB) then is started over
/// even if readers must be waited for (briefly): no connection's own
/// commit checkpoints it while an urgent writer holds it
/// ([`Db::get_for_writer`]).
const WAL_FORCE_PAGES: i32 = 40_000;

/// The pool, cheap to clone; every query goes through [`Db::run`].
#[derive(Clone)]
pub struct Db {
    pool: Pool<Manager>,
    url: DbUrl,
    /// The data keys personal data is sealed with; `None` (a bare
    /// connection, as tests and tools make) seals nothing and opens only
    /// plaintext.
    keys: Option<Arc<DataKeys>>,
    /// SQLite: this process's writers to the file take turns here
    /// ([`gate`]).
    gate: Option<Arc<gate::Gate>>,
}

impl Db {
    pub fn connect(database_url: &str, pool_size: u32) -> Result<Db, DbError> {
        let url = DbUrl::parse(database_url)?;
        // Fail fast with the real reason rather than r2d2's time-out.
        let first = Manager::connect_once(&url)?;
        drop(first);
        let pool = Pool::builder()
            .max_size(pool_size)
            .min_idle(Some(1))
            .connection_timeout(Duration::from_secs(10))
            .build(Manager { url: url.clone() })
            .map_err(|e| DbError::Connect(e.to_string()))?;
        let gate = match &url {
            DbUrl::Sqlite(path) => Some(gate::for_file(path)),
            DbUrl::Postgres(_) => None,
        };
        Ok(Db {
            pool,
            url,
            keys: None,
            gate,
        })
    }

    /// This pool with `keys` entered for every call ([`crate::vault`]).
    pub fn with_data_keys(mut self, keys: Arc<DataKeys>) -> Db {
        self.keys = Some(keys);
        self
    }

    /// The data keys, if this pool has them.
    pub fn data_keys(&self) -> Option<&Arc<DataKeys>> {
        self.keys.as_ref()
    }

    pub fn is_sqlite(&self) -> bool {
        matches!(self.url, DbUrl::Sqlite(_))
    }

    /// SQLite: checkpoints the WAL twice a second from a pool connection,
    /// on a thread of its own, so that the commit crossing
    /// `wal_autocheckpoint` (usually the signature writer's, with requests
    /// waiting on it) never has to. A PASSIVE checkpoint never blocks
    /// writers or readers, but under steady writes it never catches up
    /// either: frames committed while it ran are left, so the WAL cannot
    /// start over and grows until a writer's own commit checkpoints it
    /// (measured: 8.5 % of the signature writer's time in a surge, fsync
    /// included). So when the WAL is longer than [`WAL_RESTART_PAGES`], it
    /// catches up with what was written meanwhile (at most three more
    /// passes, until [`WAL_TAIL_PAGES`] are left), checkpoints the rest
    /// with the process's [`gate`] held (the writers pause for those few
    /// frames, not for the whole WAL), and the next write starts the WAL
    /// over. Nothing to do on PostgreSQL.
    pub fn spawn_checkpointer(&self) {
        if !self.is_sqlite() {
            return;
        }
        let db = self.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_millis(500));
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
            loop {
                tick.tick().await;
                let r = db.run(checkpoint_tick).await;
                match r {
                    // The runtime is shutting down.
                    Err(DbError::Join(j)) if j.is_cancelled() => break,
                    Err(e) => tracing::warn!(error = %e, "WAL checkpoint failed"),
                    Ok(()) => {}
                }
            }
        });
    }

    /// SQLite: copies the whole WAL into the database file and truncates
    /// it to nothing (`wal_checkpoint(TRUNCATE)`), so the page images it
    /// holds from before a change (an erased supporter's address, names,
    /// comment) are gone from disk now rather than at the next restart.
    /// Waits for readers and writers through the busy timeout and tries
    /// again a few times while the checkpoint cannot finish; `false` if it
    /// never could. Nothing to do on PostgreSQL, whose old row versions are
    /// the business of VACUUM.
    pub async fn truncate_wal(&self) -> DbResult<bool> {
        if !self.is_sqlite() {
            return Ok(true);
        }
        for attempt in 0..5u64 {
            let done = self
                .run(|c| match c {
                    DbConnection::Sqlite(c) => {
                        use diesel::RunQueryDsl;
                        let row: CheckpointResult =
                            diesel::sql_query("PRAGMA wal_checkpoint(TRUNCATE)").get_result(c)?;
                        Ok::<_, DbError>(row.busy == 0)
                    }
                    DbConnection::Postgres(_) => Ok(true),
                })
                .await?;
            if done {
                return Ok(true);
            }
            tokio::time::sleep(Duration::from_millis(50 * (attempt + 1))).await;
        }
        Ok(false)
    }

    pub fn state(&self) -> r2d2::State {
        self.pool.state()
    }

    pub fn max_size(&self) -> u32 {
        self.pool.max_size()
    }

    /// A connection for synchronous code (CLI commands, the worker's
    /// thread), with the data keys entered on this thread while it is held.
    pub fn get(&self) -> DbResult<ScopedConn> {
        let conn = self.pool.get()?;
        Ok(ScopedConn {
            conn,
            _keys: crate::vault::enter(self.keys.as_ref()),
            _gate: gate::enter(self.gate.as_ref()),
            restore: &[],
        })
    }

    /// [`Db::get`] for a writer that requests wait on (the batching
    /// writers): on SQLite its commits never checkpoint the WAL
    /// themselves while it holds the connection, however long the WAL has
    /// grown; the background checkpointer and the process's other
    /// connections do (measured: a writer's own checkpoints, fsync
    /// included, were 6-8 % of its time in a surge, and stalls of 10 ms and
    /// more while every signer waited).
    ///
    /// On PostgreSQL, while the writer holds it, statements keep the plan
    /// PostgreSQL caches for them (`plan_cache_mode = auto`) rather than
    /// being planned again at every execution, and no plan reads a whole
    /// table where an index can answer (`enable_seqscan = off`). Every
    /// statement a writer runs is an insert or a lookup by an indexed key,
    /// so a plan that does not depend on the table's size is the right one,
    /// and re-planning their multi-row INSERTs was a third of the database's
    /// CPU under bench/sign. The seqscan guard is what makes `auto` safe:
    /// without it a lookup prepared while its table was small settled on a
    /// scan and kept it as the table grew (see [`Manager::connect_once`]).
    /// Set for the connection rather than in each transaction: one round
    /// trip less per batch.
    pub fn get_for_writer(&self) -> DbResult<ScopedConn> {
        let mut conn = self.get()?;
        let (set, restore): (&str, &'static [&'static str]) = if conn.is_sqlite() {
            ("PRAGMA wal_autocheckpoint = 0", &[AUTOCHECKPOINT])
        } else {
            (
                "SET plan_cache_mode = auto; SET enable_seqscan = off",
                // The connection's own settings, as `connect_once` made them.
                &[PG_PLANS, "RESET enable_seqscan"],
            )
        };
        conn.batch_execute(set)?;
        conn.restore = restore;
        Ok(conn)
    }

    /// Runs `f` with a pooled connection on a blocking thread.
    pub async fn run<T, E, F>(&self, f: F) -> Result<T, E>
    where
        F: FnOnce(&mut DbConnection) -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: From<DbError> + Send + 'static,
    {
        let pool = self.pool.clone();
        let keys = self.keys.clone();
        let gate = self.gate.clone();
        crate::telemetry::spawn_blocking_with_tracing(move || {
            let mut conn = pool.get().map_err(DbError::from)?;
            let _gate = gate::enter(gate.as_ref());
            crate::vault::scope(keys.as_ref(), || f(&mut conn))
        })
        .await
        .map_err(DbError::from)?
    }

    /// Applies pending migrations; skips fast when none are pending. On
    /// PostgreSQL an advisory lock makes instances that start together take
    /// turns.
    pub fn migrate(&self) -> DbResult<usize> {
        let mut conn = self.get()?;
        migrate(&mut conn)
    }
}

/// One turn of [`Db::spawn_checkpointer`] on connection `c`.
fn checkpoint_tick(c: &mut DbConnection) -> DbResult<()> {
    let mut wal = checkpoint_passive(c)?;
    if wal.log <= WAL_RESTART_PAGES {
        return Ok(());
    }
    // Catch up with what was written meanwhile until little is left, so
    // the writers pause only for that.
    for _ in 0..3 {
        if wal.log - wal.checkpointed <= WAL_TAIL_PAGES {
            break;
        }
        wal = checkpoint_passive(c)?;
    }
    let _turn = gate::hold_urgent();
    if checkpoint_passive(c)?.log > WAL_FORCE_PAGES {
        checkpoint_restart(c)?;
    }
    Ok(())
}

/// A RESTART checkpoint, waiting for readers at most 200 ms: the
/// backstop for a WAL that readers kept from starting over.
fn checkpoint_restart(conn: &mut DbConnection) -> DbResult<()> {
    conn.batch_execute("PRAGMA busy_timeout = 200")?;
    let done = conn.batch_execute("PRAGMA wal_checkpoint(RESTART)");
    conn.batch_execute("PRAGMA busy_timeout = 10000")?;
    Ok(done?)
}

/// A PASSIVE checkpoint; the WAL after it.
fn checkpoint_passive(conn: &mut DbConnection) -> DbResult<CheckpointResult> {
    match conn {
        DbConnection::Sqlite(c) => {
            use diesel::RunQueryDsl;
            Ok(diesel::sql_query("PRAGMA wal_checkpoint(PASSIVE)").get_result(c)?)
        }
        DbConnection::Postgres(_) => Ok(CheckpointResult {
            busy: 0,
            log: 0,
            checkpointed: 0,
        }),
    }
}

pub fn migrate(conn: &mut DbConnection) -> DbResult<usize> {
    let err = |e: Box<dyn std::error::Error + Send + Sync>| DbError::Migration(e.to_string());
    match conn {
        DbConnection::Sqlite(c) => {
            if !c.has_pending_migration(SQLITE_MIGRATIONS).map_err(err)? {
                return Ok(0);
            }
            let done = c
                .run_pending_migrations(SQLITE_MIGRATIONS)
                .map_err(err)?
                .len();
            log::backfill(conn)?;
            Ok(done)
        }
        DbConnection::Postgres(c) => {
            c.batch_execute(&format!("SELECT pg_advisory_lock({MIGRATION_LOCK_ID})"))?;
            let result = c
                .has_pending_migration(POSTGRES_MIGRATIONS)
                .and_then(|pending| {
                    if pending {
                        c.run_pending_migrations(POSTGRES_MIGRATIONS)
                            .map(|v| v.len())
                    } else {
                        Ok(0)
                    }
                })
                .map_err(err);
            // Under the same lock: instances starting together log each
            // older confirmation once.
            let result = match result {
                Ok(n) if n > 0 => log::backfill(conn).map(|()| n),
                other => other,
            };
            if let DbConnection::Postgres(c) = conn {
                c.batch_execute(&format!("SELECT pg_advisory_unlock({MIGRATION_LOCK_ID})"))?;
            }
            result
        }
    }
}

/// Runs `f` in a write transaction. On SQLite the transaction begins
/// IMMEDIATE, taking the write lock up front: a deferred transaction that
/// reads first can fail with SQLITE_BUSY when it later writes, without waiting.
/// It holds this process's [`gate`] from BEGIN to COMMIT, so its writers
/// queue in memory rather than in SQLite's busy handler.
/// `f` must not open a nested transaction.
pub fn write_tx<T, E, F>(conn: &mut DbConnection, f: F) -> Result<T, E>
where
    F: FnOnce(&mut DbConnection) -> Result<T, E>,
    E: From<DbError>,
{
    if conn.is_sqlite() {
        let _turn = gate::hold();
        conn.batch_execute("BEGIN IMMEDIATE")
            .map_err(|e| E::from(DbError::Query(e)))?;
        match f(conn) {
            Ok(v) => match conn.batch_execute("COMMIT") {
                Ok(()) => Ok(v),
                Err(e) => {
                    let _ = conn.batch_execute("ROLLBACK");
                    Err(E::from(DbError::Query(e)))
                }
            },
            Err(e) => {
                let _ = conn.batch_execute("ROLLBACK");
                Err(e)
            }
        }
    } else {
        let mut out = None;
        let r = conn.transaction::<(), TxAbort, _>(|c| match f(c) {
            Ok(v) => {
                out = Some(Ok(v));
                Ok(())
            }
            Err(e) => {
                out = Some(Err(e));
                Err(TxAbort::Rollback)
            }
        });
        match (r, out) {
            (Ok(()), Some(v)) => v,
            (Err(TxAbort::Db(e)), _) => Err(E::from(DbError::Query(e))),
            (_, Some(v)) => v,
            (_, None) => unreachable!("the closure ran"),
        }
    }
}

enum TxAbort {
    Rollback,
    Db(diesel::result::Error),
}

impl From<diesel::result::Error> for TxAbort {
    fn from(e: diesel::result::Error) -> Self {
        TxAbort::Db(e)
    }
}

/// Now, in UTC, to the microsecond (what both backends store).
pub fn now() -> NaiveDateTime {
    let n = Utc::now().naive_utc();
    n.with_nanosecond_micros()
}

trait TruncMicros {
    fn with_nanosecond_micros(self) -> Self;
}

impl TruncMicros for NaiveDateTime {
    fn with_nanosecond_micros(self) -> Self {
        use chrono::Timelike;
        let micros = self.nanosecond() / 1000 * 1000;
        self.with_nanosecond(micros).unwrap_or(self)
    }
}

/// A new time-ordered id (UUID v7), so ordering by id is ordering by creation
/// and serves as the paging cursor.
pub fn new_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

/// True when `e` is a unique-constraint violation.
pub fn is_unique_violation(e: &diesel::result::Error) -> bool {
    matches!(
        e,
        diesel::result::Error::DatabaseError(diesel::result::DatabaseErrorKind::UniqueViolation, _)
    )
}

#[cfg(test)]
mod tests {
    use diesel::migration::MigrationSource;

    use super::*;

    fn versions(m: EmbeddedMigrations) -> Vec<String> {
        MigrationSource::<diesel::sqlite::Sqlite>::migrations(&m)
            .unwrap()
            .iter()
            .map(|m| m.name().version().to_string())
            .collect()
    }

    /// Pages the WAL file beside `path` has reached (it is reused from
    /// its start after a checkpoint, not shrunk, so this is its longest).
    fn wal_pages(path: &std::path::Path) -> u64 {
        let wal = path.with_file_name(format!(
            "{}-wal",
            path.file_name().unwrap().to_string_lossy()
        ));
        std::fs::metadata(wal).map_or(0, |m| m.len()) / 4096
    }

    /// `rounds` rounds of 300 transactions by a writer that never
    /// checkpoints itself ([`Db::get_for_writer`]), each inserting a row
    /// of three pages, with a turn of the background checkpointer after
    /// each round when `ticks`. Returns the WAL's longest, in pages.
    fn write_rounds(rounds: usize, ticks: bool) -> u64 {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("wal.db");
        let db = Db::connect(&format!("sqlite://{}", path.display()), 2).unwrap();
        let mut writer = db.get_for_writer().unwrap();
        writer
            .batch_execute("CREATE TABLE t (id INTEGER PRIMARY KEY, v BLOB NOT NULL)")
            .unwrap();
        let mut checkpointer = db.get().unwrap();
        for _ in 0..rounds {
            for _ in 0..300 {
                writer
                    .batch_execute("INSERT INTO t (v) VALUES (randomblob(9000))")
                    .unwrap();
            }
            if ticks {
                checkpoint_tick(&mut checkpointer).unwrap();
            }
        }
        wal_pages(&path)
    }

    #[test]
    fn the_background_checkpoints_keep_the_wal_short_while_the_writers_skip_their_own() {
        // A round writes well over WAL_RESTART_PAGES (300 x 3 pages and
        // more), so every turn finds the WAL long and starts it over.
        let unchecked = write_rounds(8, false);
        let checked = write_rounds(8, true);
        // Without the turns the writer's WAL only grows: eight rounds long.
        assert!(unchecked >= 8 * 900, "the WAL reached {unchecked} pages");
        // With them it never holds much more than one round.
        assert!(
            checked <= 2 * 1200 + WAL_TAIL_PAGES as u64,
            "the WAL reached {checked} pages with the checkpoints, {unchecked} without"
        );
    }

    #[test]
    fn sqlite_and_postgres_migrations_have_the_same_versions() {
        let pg: Vec<String> = MigrationSource::<diesel::pg::Pg>::migrations(&POSTGRES_MIGRATIONS)
            .unwrap()
            .iter()
            .map(|m| m.name().version().to_string())
            .collect();
        assert!(!pg.is_empty());
        assert_eq!(versions(SQLITE_MIGRATIONS), pg);
    }
}
