//! How a PostgreSQL store connects.

use crate::store::StoreError;

/// The schema annals uses unless told otherwise.
pub(super) const DEFAULT_SCHEMA: &str = "annals";

/// Connection options for [`PostgresStore`](super::PostgresStore).
///
/// ```
/// use annals::store::PostgresOptions;
///
/// let options = PostgresOptions::new("postgres://postgres@127.0.0.1:5432/postgres")
///     .with_schema("bank")
///     .with_pool_size(8);
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct PostgresOptions {
    pub(super) url: String,
    pub(super) schema: String,
    pub(super) pool_size: usize,
    pub(super) worker_pool_size: usize,
    pub(super) migrate: bool,
    pub(super) notify: bool,
}

impl PostgresOptions {
    /// Options for the server at `url` (`postgres://user@host:port/database`): schema
    /// `annals`, a pool of 16 connections for commands and 4 for background workers,
    /// migrations run on connect, notifications on.
    pub fn new(url: impl Into<String>) -> Self {
        PostgresOptions {
            url: url.into(),
            schema: DEFAULT_SCHEMA.to_owned(),
            pool_size: 16,
            worker_pool_size: 4,
            migrate: true,
            notify: true,
        }
    }

    /// The schema holding the store's tables: lowercase letters, digits and `_`, starting
    /// with a letter or `_`, at most 63 characters.
    pub fn with_schema(mut self, schema: impl Into<String>) -> Self {
        self.schema = schema.into();
        self
    }

    /// The largest number of connections the store opens (at least 1).
    pub fn with_pool_size(mut self, connections: usize) -> Self {
        self.pool_size = connections.max(1);
        self
    }

    /// The largest number of connections background workers (projection runners) open, in
    /// a pool of their own (at least 1): however many projections run, they queue on these,
    /// never on the connections of the command path. Opened when first used.
    pub fn with_worker_pool_size(mut self, connections: usize) -> Self {
        self.worker_pool_size = connections.max(1);
        self
    }

    /// Whether the store runs its migrations on connect (the default), or leaves them to
    /// the user's own tool ([`PostgresStore::migrations`](super::PostgresStore::migrations)).
    pub fn with_migrations(mut self, run_on_connect: bool) -> Self {
        self.migrate = run_on_connect;
        self
    }

    /// Whether live readers of other processes are woken by `NOTIFY` after appends (the
    /// default), or poll. A background task of the store sends one coalesced notification
    /// after bursts of appends (at most every few milliseconds, outside the appending
    /// transactions, so writers never queue on PostgreSQL's notification lock).
    pub fn with_notifications(mut self, notify: bool) -> Self {
        self.notify = notify;
        self
    }
}

/// Checks a schema name, so it can be quoted into SQL safely.
pub(super) fn validate_schema_name(schema: &str) -> Result<(), StoreError> {
    let invalid = |reason| {
        Err(StoreError::InvalidOption {
            option: "schema",
            value: schema.to_owned(),
            reason,
        })
    };
    let mut chars = schema.chars();
    match chars.next() {
        None => return invalid("it is empty"),
        Some(c) if !(c.is_ascii_lowercase() || c == '_') => {
            return invalid("it must start with a lowercase letter or `_`");
        }
        _ => {}
    }
    if schema.len() > 63 {
        return invalid("it is longer than 63 bytes");
    }
    if !chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_') {
        return invalid("only lowercase letters, digits and `_` are allowed");
    }
    if schema.starts_with("pg_") {
        return invalid("names starting with `pg_` are reserved by PostgreSQL");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::validate_schema_name;

    #[test]
    fn schema_names_are_plain_lowercase_identifiers() {
        assert!(validate_schema_name("annals").is_ok());
        assert!(validate_schema_name("_bank_2").is_ok());
        for bad in [
            "",
            "Bank",
            "2bank",
            "bank-prod",
            "bank\"; DROP SCHEMA public; --",
            "pg_temp",
            &"a".repeat(64),
        ] {
            assert!(validate_schema_name(bad).is_err(), "{bad:?} was accepted");
        }
    }
}
