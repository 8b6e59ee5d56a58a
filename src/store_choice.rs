//! Which store a runnable example runs on, from its command line: a SQLite file by
//! default, the in-memory store, or PostgreSQL.
//!
//! ```text
//! --db FILE          the SQLite file FILE (default: the example's own file, or its env var)
//! --memory           the in-memory store
//! --postgres [URL]   PostgreSQL at URL (or DATABASE_URL, or postgres://postgres@127.0.0.1:5432/postgres)
//! ```

use std::fmt::Display;
use std::future::Future;
use std::process::ExitCode;
use std::time::Duration;

use annals::store::{
    CheckpointStore, EventStore, InMemoryStore, PostgresOptions, PostgresStore, SagaStore,
    SnapshotStore, SqliteStore,
};

/// What an example fails with.
pub type Error = Box<dyn std::error::Error>;

/// What every store offers and the examples use.
pub trait ExampleStore: EventStore + SnapshotStore + CheckpointStore + SagaStore + Clone {}

impl<T: EventStore + SnapshotStore + CheckpointStore + SagaStore + Clone> ExampleStore for T {}

/// A runnable example: what it does on whichever store it was given.
pub trait Example {
    /// Its name, in messages.
    const NAME: &'static str;
    /// The variable that names its SQLite file.
    const FILE_VAR: &'static str;
    /// Its SQLite file by default.
    const FILE: &'static str;
    /// Its PostgreSQL schema.
    const SCHEMA: &'static str;

    /// Runs it on `store`.
    fn run<St: ExampleStore>(self, store: St) -> impl Future<Output = Result<(), Error>>;
}

/// The example's `main`: reads the command line, opens the store, runs the example, and
/// says what went wrong.
pub async fn run_example<X: Example>(example: X) -> ExitCode {
    let name = X::NAME;
    let choice = match StoreChoice::from_args(X::FILE_VAR, X::FILE) {
        Ok(choice) => choice,
        Err(message) => {
            eprintln!("error: {message}");
            eprintln!("usage: {name} [--db FILE | --memory | --postgres [URL]]");
            return ExitCode::from(2);
        }
    };
    let result = match choice {
        StoreChoice::Memory => {
            println!("annals {name}, on the in-memory store\n");
            example.run(InMemoryStore::new()).await
        }
        StoreChoice::Sqlite(db) => {
            println!("annals {name}, on the SQLite file {db}\n");
            match SqliteStore::open(&db) {
                Ok(store) => example.run(store).await,
                Err(error) => Err(format!("cannot open the SQLite file {db}: {error}").into()),
            }
        }
        StoreChoice::Postgres(url) => match connect_postgres(&url, X::SCHEMA).await {
            Ok(store) => {
                let (url, schema) = (redact(&url), X::SCHEMA);
                println!("annals {name}, on PostgreSQL at {url}, schema {schema}\n");
                example.run(store).await
            }
            Err(error) => Err(error.into()),
        },
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::FAILURE
        }
    }
}

/// The store an example was asked to run on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreChoice {
    /// A SQLite file.
    Sqlite(String),
    /// The in-memory store.
    Memory,
    /// PostgreSQL at this URL.
    Postgres(String),
}

impl StoreChoice {
    /// Reads the process's arguments; the SQLite file defaults to `$file_var`, else `file`.
    pub fn from_args(file_var: &str, file: &str) -> Result<StoreChoice, String> {
        Self::parse(std::env::args().skip(1), file_var, file)
    }

    /// Reads `args` (without the program's name).
    pub fn parse(
        args: impl IntoIterator<Item = String>,
        file_var: &str,
        file: &str,
    ) -> Result<StoreChoice, String> {
        let mut args = args.into_iter().peekable();
        let mut choice =
            StoreChoice::Sqlite(std::env::var(file_var).unwrap_or_else(|_| file.to_owned()));
        while let Some(arg) = args.next() {
            choice = match arg.as_str() {
                "--memory" => StoreChoice::Memory,
                "--db" => StoreChoice::Sqlite(args.next().ok_or("--db needs a file name")?),
                "--postgres" => StoreChoice::Postgres(
                    args.next_if(|next| !next.starts_with("--"))
                        .or_else(|| std::env::var("DATABASE_URL").ok())
                        .unwrap_or_else(|| {
                            "postgres://postgres@127.0.0.1:5432/postgres".to_owned()
                        }),
                ),
                other => return Err(format!("unknown argument `{other}`")),
            };
        }
        Ok(choice)
    }
}

/// Connects to PostgreSQL at `url`, in `schema`, within 10 s; the error says what to do.
pub async fn connect_postgres(url: &str, schema: &str) -> Result<PostgresStore, String> {
    let shown = redact(url);
    let options = PostgresOptions::new(url)
        .with_schema(schema)
        .with_pool_size(4);
    match tokio::time::timeout(
        Duration::from_secs(10),
        PostgresStore::connect_with(options),
    )
    .await
    {
        Ok(Ok(store)) => Ok(store),
        Ok(Err(error)) => Err(unreachable_postgres(&shown, error)),
        Err(_) => Err(unreachable_postgres(&shown, "no answer within 10 s")),
    }
}

fn unreachable_postgres(url: &str, error: impl Display) -> String {
    format!(
        "cannot reach PostgreSQL at {url}: {error}\n  \
         start the server, or pass --postgres URL (or set DATABASE_URL), \
         or drop --postgres to use the SQLite file"
    )
}

/// The URL without its password, for messages.
pub fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    match rest.split_once('@') {
        Some((user_info, host)) if user_info.contains(':') => {
            let user = user_info.split(':').next().unwrap_or_default();
            format!("{scheme}://{user}:***@{host}")
        }
        _ => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<StoreChoice, String> {
        StoreChoice::parse(
            args.iter().map(|arg| (*arg).to_owned()),
            "ANNALS_NO_SUCH_VARIABLE",
            "x.sqlite",
        )
    }

    #[test]
    fn the_sqlite_file_is_the_default() {
        assert_eq!(parse(&[]), Ok(StoreChoice::Sqlite("x.sqlite".into())));
    }

    #[test]
    fn postgres_takes_an_optional_url() {
        assert_eq!(
            parse(&["--postgres", "postgres://u@h/db"]),
            Ok(StoreChoice::Postgres("postgres://u@h/db".into()))
        );
        assert!(matches!(
            parse(&["--postgres", "--memory"]),
            Ok(StoreChoice::Memory)
        ));
    }

    #[test]
    fn an_unknown_argument_is_refused() {
        assert!(parse(&["--nope"]).unwrap_err().contains("--nope"));
    }

    #[test]
    fn a_password_is_not_shown() {
        assert_eq!(redact("postgres://u:secret@h/db"), "postgres://u:***@h/db");
    }
}
