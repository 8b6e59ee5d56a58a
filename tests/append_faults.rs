//! Appends whose connection is cut: an append cut mid-flight may have committed, so its
//! error says the outcome is unknown; the command path re-sends the same events (the same
//! ids), and the store recognises a re-sent append that had committed. Through a proxy that
//! resets every connection every 50–300 ms, every command is recorded exactly once.

mod services;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use annals::store::{
    AppendResult, Catalog, EventFilter, EventStore, ExpectedVersion, NewEvent, PostgresOptions,
    PostgresStore, RecordedEvent, Snapshot, SnapshotStore, StoreError, StreamVisitor,
};
use annals::{Repository, RetryPolicy};
use annals_examples::bank::{Account, Deposit, Open};
use services::proxy::CuttingProxy;

/// A store that counts how its appends end: the faults the test meets. After an
/// outcome-unknown failure it asks the database directly whether the append had committed.
#[derive(Clone)]
struct Counted {
    inner: PostgresStore,
    direct: PostgresStore,
    outcomes: Arc<Outcomes>,
}

#[derive(Default)]
struct Outcomes {
    written: AtomicUsize,
    unknown: AtomicUsize,
    unknown_but_committed: AtomicUsize,
    unavailable: AtomicUsize,
    other: AtomicUsize,
}

#[annals::async_trait]
impl EventStore for Counted {
    async fn append(
        &self,
        stream: &str,
        expected: ExpectedVersion,
        events: Vec<NewEvent>,
    ) -> Result<AppendResult, StoreError> {
        let first = events[0].event_id;
        let result = self.inner.append(stream, expected, events).await;
        if let Err(StoreError::OutcomeUnknown { .. }) = &result {
            let stored = self
                .direct
                .read_stream(stream, 1, usize::MAX)
                .await
                .unwrap();
            if stored.iter().any(|event| event.event_id == first) {
                self.outcomes
                    .unknown_but_committed
                    .fetch_add(1, Ordering::Relaxed);
            }
        }
        let counter = match &result {
            Ok(_) => &self.outcomes.written,
            Err(StoreError::OutcomeUnknown { .. }) => &self.outcomes.unknown,
            Err(StoreError::Unavailable(_)) => &self.outcomes.unavailable,
            Err(_) => &self.outcomes.other,
        };
        counter.fetch_add(1, Ordering::Relaxed);
        result
    }
    async fn read_stream(
        &self,
        stream: &str,
        from: u64,
        max: usize,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        self.inner.read_stream(stream, from, max).await
    }
    async fn visit_stream(
        &self,
        stream: &str,
        from: u64,
        max: usize,
        visitor: &mut StreamVisitor<'_>,
    ) -> Result<usize, StoreError> {
        self.inner.visit_stream(stream, from, max, visitor).await
    }
    async fn read_all(
        &self,
        after: u64,
        max: usize,
        filter: &EventFilter,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        self.inner.read_all(after, max, filter).await
    }
    async fn stream_version(&self, stream: &str) -> Result<u64, StoreError> {
        self.inner.stream_version(stream).await
    }
    async fn head_position(&self) -> Result<u64, StoreError> {
        self.inner.head_position().await
    }
    fn catalog(&self) -> &Catalog {
        self.inner.catalog()
    }
}

#[annals::async_trait]
impl SnapshotStore for Counted {
    async fn load_snapshot(&self, stream: &str) -> Result<Option<Snapshot>, StoreError> {
        self.inner.load_snapshot(stream).await
    }
    async fn save_snapshot(&self, snapshot: Snapshot) -> Result<(), StoreError> {
        self.inner.save_snapshot(snapshot).await
    }
}

/// The store in `schema`, reached through the proxy (connecting again while a cut lands).
async fn through(proxy: &CuttingProxy, schema: &str) -> PostgresStore {
    let url = services::database_url().replacen(":5432", &format!(":{}", proxy.port()), 1);
    assert_ne!(
        url,
        services::database_url(),
        "DATABASE_URL must name port 5432"
    );
    for _ in 0..50 {
        let options = PostgresOptions::new(url.clone())
            .with_schema(schema)
            .with_pool_size(4)
            .with_migrations(false)
            .with_notifications(false);
        if let Ok(store) = PostgresStore::connect_with(options).await {
            return store;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("could not connect through the proxy");
}

/// 8 accounts, each opened and then sent deposits one after the other, through a proxy
/// resetting every connection every 50–300 ms, until at least 20 appends met a cut (and
/// 400 deposits at least): every command succeeds, and each deposit is in the log exactly
/// once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commands_through_connections_cut_mid_append_are_recorded_exactly_once() {
    // The schema is migrated directly; the commands go through the proxy.
    let Some(direct) = services::postgres_store(2).await else {
        return;
    };
    let schema = direct.schema().to_owned();
    let upstream: SocketAddr = "127.0.0.1:5432".parse().unwrap();
    let proxy = CuttingProxy::start(
        upstream,
        Duration::from_millis(50),
        Duration::from_millis(300),
    )
    .await;
    let store = Counted {
        inner: through(&proxy, &schema).await,
        direct,
        outcomes: Arc::default(),
    };
    let retry = RetryPolicy::default()
        .with_max_attempts(20)
        .with_backoff(Duration::ZERO, Duration::from_millis(50));
    let accounts = Repository::<Account, _>::new(store.clone()).with_retry(retry);

    // How many appends must meet a fault before the run ends (more, for a longer run:
    // `ANNALS_PROXY_FAULTS=900`).
    let faults: usize = std::env::var("ANNALS_PROXY_FAULTS")
        .ok()
        .and_then(|value| value.parse().ok())
        .unwrap_or(20);
    let tasks: Vec<_> = (0..8)
        .map(|account| {
            let (accounts, store) = (accounts.clone(), store.clone());
            tokio::spawn(async move {
                let id = format!("a{account}");
                let open = Open {
                    account: id.clone(),
                    owner: "Ada".into(),
                };
                accounts.execute(open).await.expect("open");
                let mut references = Vec::new();
                let mut n = 0;
                while n < 50
                    || store.outcomes.unknown.load(Ordering::Relaxed)
                        + store.outcomes.unavailable.load(Ordering::Relaxed)
                        < faults
                {
                    n += 1;
                    assert!(n < 250 * faults, "the proxy did not cut enough appends");
                    let reference = format!("{id}-{n}");
                    let deposit = Deposit {
                        account: id.clone(),
                        amount: 1,
                        reference: reference.clone(),
                    };
                    accounts
                        .execute(deposit)
                        .await
                        .unwrap_or_else(|error| panic!("deposit {reference}: {error}"));
                    references.push(reference);
                }
                references
            })
        })
        .collect();
    let mut sent = Vec::new();
    for task in tasks {
        sent.extend(task.await.unwrap());
    }
    let cuts = proxy.cuts();
    drop(proxy);

    // What the log holds, read directly.
    let client = services::raw_client().await.unwrap();
    let rows = client
        .query(
            &format!(
                "SELECT payload->>'reference', count(*) FROM \"{schema}\".events
                 WHERE event_type = 'Deposited' GROUP BY 1"
            ),
            &[],
        )
        .await
        .unwrap();
    let stored: HashMap<String, i64> = rows.iter().map(|row| (row.get(0), row.get(1))).collect();
    let outcomes = &store.outcomes;
    eprintln!(
        "{} deposits through {cuts} cuts: appends written {}, outcome unknown {} (of which committed {}), unavailable {}, other errors {}",
        sent.len(),
        outcomes.written.load(Ordering::Relaxed),
        outcomes.unknown.load(Ordering::Relaxed),
        outcomes.unknown_but_committed.load(Ordering::Relaxed),
        outcomes.unavailable.load(Ordering::Relaxed),
        outcomes.other.load(Ordering::Relaxed),
    );
    let duplicated: Vec<_> = stored.iter().filter(|(_, count)| **count > 1).collect();
    assert!(
        duplicated.is_empty(),
        "deposits recorded twice: {duplicated:?}"
    );
    let missing: Vec<_> = sent.iter().filter(|r| !stored.contains_key(*r)).collect();
    assert!(
        missing.is_empty(),
        "deposits that succeeded but are not in the log: {missing:?}"
    );
    assert_eq!(stored.len(), sent.len(), "nothing but the deposits sent");
    assert!(
        outcomes.unknown.load(Ordering::Relaxed) > 0,
        "no append had its connection cut in flight: the test proved nothing"
    );
    assert_eq!(
        outcomes.other.load(Ordering::Relaxed),
        0,
        "only cuts failed appends"
    );
}
