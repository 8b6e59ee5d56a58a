//! The stores tests run on, and the store matrix that runs a case on each of them.
//!
//! The real servers tests need follow one skip rule: a test whose server is unreachable
//! skips with a loud message, unless `ANNALS_REQUIRE_SERVICES=1` (CI), where it fails.
//!
//! Every PostgreSQL test gets a schema of its own, `annals_t_<pid>_<n>`, so runs never see
//! each other's data; schemas left by processes that are no longer running are dropped the
//! first time a process asks for one.

#![allow(dead_code)] // Each test crate uses a part of it.

use std::sync::atomic::{AtomicUsize, Ordering};

pub mod nats;
pub mod proxy;
pub mod rabbitmq;
pub mod raw_sql;

use annals::store::{InMemoryStore, PostgresOptions, PostgresStore, SqliteStore};
use tokio::sync::OnceCell;

/// The PostgreSQL URL: `DATABASE_URL`, or the loopback server.
pub fn database_url() -> String {
    std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned())
}

/// Whether a missing server fails the test (CI) instead of skipping it.
pub fn services_required() -> bool {
    std::env::var("ANNALS_REQUIRE_SERVICES").is_ok_and(|v| v == "1")
}

/// Skips (returns `None` after a loud message) or fails, per [`services_required`].
pub fn unavailable<T>(service: &str, error: impl std::fmt::Display) -> Option<T> {
    if services_required() {
        panic!("{service} is required (ANNALS_REQUIRE_SERVICES=1) but unreachable: {error}");
    }
    eprintln!(
        "\n*** SKIPPED: {service} is unreachable ({error}); set ANNALS_REQUIRE_SERVICES=1 to fail instead ***\n"
    );
    None
}

/// A token unique to this run of this process: process ids are reused, and a schema or
/// file left by an earlier process with the same id must never be mistaken for ours.
fn run_token() -> &'static str {
    static TOKEN: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    TOKEN.get_or_init(|| {
        let id = annals::store::NewEvent::new(
            "token",
            1,
            Vec::new(),
            annals::store::Metadata::default(),
        )
        .event_id;
        id.simple().to_string()[20..].to_owned()
    })
}

/// A fresh schema name for one test of this process: `annals_t_<pid>_<token>_<n>`.
pub fn fresh_schema() -> String {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    format!(
        "annals_t_{}_{}_{}",
        std::process::id(),
        run_token(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// A pause of 30 to 230 ms that differs from one call to the next: when a test kills a
/// process.
pub fn jitter() -> std::time::Duration {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    std::time::Duration::from_millis(30 + u64::from(nanos % 200))
}

/// A fresh SQLite file for one test, in a folder of this run of this process.
pub fn sqlite_path(label: &str) -> std::path::PathBuf {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let dir = std::env::temp_dir().join("annals-tests").join(format!(
        "{}-{}",
        std::process::id(),
        run_token()
    ));
    std::fs::create_dir_all(&dir).expect("create the test database folder");
    dir.join(format!(
        "{label}-{}.sqlite",
        NEXT.fetch_add(1, Ordering::Relaxed)
    ))
}

/// A store in a fresh schema, or `None` (after the skip message) without a server.
pub async fn postgres_store(pool_size: usize) -> Option<PostgresStore> {
    drop_stale_schemas().await;
    let options = PostgresOptions::new(database_url())
        .with_schema(fresh_schema())
        .with_pool_size(pool_size);
    match PostgresStore::connect_with(options).await {
        Ok(store) => Some(store),
        Err(error) => unavailable("PostgreSQL", error),
    }
}

/// A plain client on the test server, for raw SQL in tests.
pub async fn raw_client() -> Option<tokio_postgres::Client> {
    match tokio_postgres::connect(&database_url(), tokio_postgres::NoTls).await {
        Ok((client, connection)) => {
            tokio::spawn(connection);
            Some(client)
        }
        Err(error) => unavailable("PostgreSQL", error),
    }
}

/// Drops `annals_t_<pid>_*` schemas whose process has ended (once per process).
async fn drop_stale_schemas() {
    static ONCE: OnceCell<()> = OnceCell::const_new();
    ONCE.get_or_init(|| async {
        let Ok((client, connection)) =
            tokio_postgres::connect(&database_url(), tokio_postgres::NoTls).await
        else {
            return;
        };
        let task = tokio::spawn(connection);
        let Ok(rows) = client
            .query(
                "SELECT nspname FROM pg_namespace WHERE nspname LIKE 'annals\\_t\\_%'",
                &[],
            )
            .await
        else {
            return;
        };
        for row in rows {
            let schema: String = row.get(0);
            let pid = schema.split('_').nth(3).and_then(|p| p.parse::<u32>().ok());
            let alive =
                pid.is_some_and(|pid| std::path::Path::new(&format!("/proc/{pid}")).exists());
            if !alive {
                let _ = client
                    .batch_execute(&format!("DROP SCHEMA IF EXISTS \"{schema}\" CASCADE"))
                    .await;
            }
        }
        task.abort();
    })
    .await;
}

/// A fresh in-memory store (for the store matrix).
pub async fn memory() -> Option<InMemoryStore> {
    Some(InMemoryStore::new())
}

/// A SQLite store in a fresh file (for the store matrix).
pub async fn sqlite() -> Option<SqliteStore> {
    Some(SqliteStore::open(sqlite_path("matrix")).expect("open a fresh SQLite store"))
}

/// A PostgreSQL store in a fresh schema, or `None` without a server (for the store matrix).
pub async fn postgres() -> Option<PostgresStore> {
    postgres_store(17).await
}

/// Runs each case, an `async fn case(store)` generic over the store, on each store named
/// (`memory`, `sqlite`, `postgres`: the functions above): one `#[tokio::test]` per case and
/// store, in a module per store.
///
/// ```ignore
/// store_matrix!([memory, sqlite, postgres] => catches_up, tails_live_events);
/// store_matrix!(threads 4; [sqlite, postgres] => one_winner_per_version);
/// ```
#[macro_export]
macro_rules! store_matrix {
    ([$($store:ident),+ $(,)?] => $($case:ident),+ $(,)?) => {
        $crate::store_matrix!(threads 2; [$($store),+] => $($case),+);
    };
    (threads $threads:literal; [$store:ident $(, $rest:ident)* $(,)?] => $($case:ident),+ $(,)?) => {
        $crate::store_matrix!(@store $threads; $store => $($case),+);
        $crate::store_matrix!(threads $threads; [$($rest),*] => $($case),+);
    };
    (threads $threads:literal; [] => $($case:ident),+ $(,)?) => {};
    (@store $threads:literal; $store:ident => $($case:ident),+) => {
        mod $store {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = $threads)]
                async fn $case() {
                    let Some(store) = $crate::services::$store().await else { return };
                    super::$case(store).await;
                }
            )+
        }
    };
}
