//! Concurrency on the durable stores, with 16 writers: racing on one stream, exactly one
//! wins each version; racing on distinct streams, a reader tailing the global log sees
//! every committed event exactly once, each stream in version order.

mod services;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use annals::store::SqliteStore;
use annals::store::{EventFilter, EventStore, ExpectedVersion, Metadata, NewEvent, RecordedEvent};
use tokio::sync::Barrier;

const WRITERS: usize = 16;

fn sqlite_store(label: &str) -> SqliteStore {
    SqliteStore::open(services::sqlite_path(label)).unwrap()
}

fn event(writer: usize, n: usize) -> NewEvent {
    NewEvent::new(
        "Raced",
        1,
        format!(r#"{{"writer":{writer},"n":{n}}}"#).into_bytes(),
        Metadata::default(),
    )
}

fn writer_of(event: &RecordedEvent) -> usize {
    let value: serde_json::Value = serde_json::from_slice(&event.payload).unwrap();
    value["writer"].as_u64().unwrap() as usize
}

/// `ROUNDS` rounds; in each, all writers append at the same expected version at once.
/// Exactly one wins each round, every other gets the conflict error, and the stream ends
/// with one event per round, gap-free, each written by that round's winner.
async fn one_winner_per_version<S: EventStore + Clone>(store: S) {
    const ROUNDS: usize = 20;
    let barrier = Arc::new(Barrier::new(WRITERS));
    let tasks: Vec<_> = (0..WRITERS)
        .map(|writer| {
            let (store, barrier) = (store.clone(), Arc::clone(&barrier));
            tokio::spawn(async move {
                let mut won = Vec::new();
                for round in 0..ROUNDS {
                    barrier.wait().await;
                    let expected = ExpectedVersion::Exact(round as u64);
                    match store
                        .append("raced", expected, vec![event(writer, round)])
                        .await
                    {
                        Ok(result) => {
                            assert_eq!(result.stream_version, round as u64 + 1);
                            won.push(round);
                        }
                        Err(error) => assert!(
                            error.is_conflict(),
                            "writer {writer}, round {round}: {error}"
                        ),
                    }
                    // Everyone has tried this round before anyone starts the next one.
                    barrier.wait().await;
                }
                won
            })
        })
        .collect();
    let mut winners: BTreeMap<usize, usize> = BTreeMap::new();
    for (writer, task) in tasks.into_iter().enumerate() {
        for round in task.await.unwrap() {
            assert!(
                winners.insert(round, writer).is_none(),
                "round {round} had two winners"
            );
        }
    }
    assert_eq!(winners.len(), ROUNDS, "a round had no winner");
    let stream = store.read_stream("raced", 1, usize::MAX).await.unwrap();
    assert_eq!(
        stream.iter().map(|e| e.stream_version).collect::<Vec<_>>(),
        (1..=ROUNDS as u64).collect::<Vec<_>>()
    );
    for (round, recorded) in stream.iter().enumerate() {
        assert_eq!(
            writer_of(recorded),
            winners[&round],
            "version {} is not the winner's event",
            round + 1
        );
    }
}

/// Writers on distinct streams race a reader tailing the global log.
async fn tailing_reader_sees_every_event_once<S: EventStore + Clone>(store: S) {
    const APPENDS: usize = 25;
    let filter = EventFilter::types(["Raced"]);
    let done = Arc::new(AtomicBool::new(false));
    let reader = {
        let (store, done, filter) = (store.clone(), Arc::clone(&done), filter.clone());
        tokio::spawn(async move {
            let mut seen: Vec<RecordedEvent> = Vec::new();
            let mut after = 0;
            loop {
                let finished = done.load(Ordering::SeqCst);
                if finished {
                    assert!(
                        store
                            .wait_for_visible_appends(Duration::from_secs(10))
                            .await
                            .unwrap()
                    );
                }
                let batch = store.read_all(after, 50, &filter).await.unwrap();
                match batch.last() {
                    Some(last) => after = last.position,
                    None if finished => break seen,
                    None => tokio::time::sleep(Duration::from_millis(1)).await,
                }
                seen.extend(batch);
            }
        })
    };
    let writers: Vec<_> = (0..WRITERS)
        .map(|writer| {
            let store = store.clone();
            tokio::spawn(async move {
                for n in 0..APPENDS {
                    let events = (0..1 + n % 3).map(|k| event(writer, n * 10 + k)).collect();
                    store
                        .append(&format!("writer-{writer}"), ExpectedVersion::Any, events)
                        .await
                        .unwrap();
                }
            })
        })
        .collect();
    for writer in writers {
        writer.await.unwrap();
    }
    done.store(true, Ordering::SeqCst);
    let seen = reader.await.unwrap();

    let expected_per_writer: u64 = (0..APPENDS).map(|n| 1 + n as u64 % 3).sum();
    assert_eq!(
        seen.len() as u64,
        expected_per_writer * WRITERS as u64,
        "events lost or duplicated"
    );
    let mut positions: Vec<u64> = seen.iter().map(|e| e.position).collect();
    positions.sort_unstable();
    positions.dedup();
    assert_eq!(positions.len(), seen.len(), "an event was seen twice");
    let mut versions: BTreeMap<&str, u64> = BTreeMap::new();
    for recorded in &seen {
        let last = versions.entry(&recorded.stream_id).or_insert(0);
        assert_eq!(
            recorded.stream_version,
            *last + 1,
            "{} out of version order",
            recorded.stream_id
        );
        *last = recorded.stream_version;
    }
}

store_matrix!(threads 4; [sqlite, postgres] => one_winner_per_version, tailing_reader_sees_every_event_once);

/// Two handles on one SQLite file, as two processes would have: still one winner.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_one_winner_per_version_across_handles() {
    let first = sqlite_store("handles");
    let second = SqliteStore::open(first.path()).unwrap();
    #[derive(Clone)]
    struct Either(SqliteStore, SqliteStore, Arc<AtomicUsize>);
    #[annals::async_trait]
    impl EventStore for Either {
        async fn append(
            &self,
            stream: &str,
            expected: ExpectedVersion,
            events: Vec<NewEvent>,
        ) -> Result<annals::store::AppendResult, annals::store::StoreError> {
            let pick = self.2.fetch_add(1, Ordering::Relaxed) % 2;
            if pick == 0 {
                self.0.append(stream, expected, events).await
            } else {
                self.1.append(stream, expected, events).await
            }
        }
        async fn read_stream(
            &self,
            s: &str,
            f: u64,
            m: usize,
        ) -> Result<Vec<RecordedEvent>, annals::store::StoreError> {
            self.0.read_stream(s, f, m).await
        }
        async fn read_all(
            &self,
            a: u64,
            m: usize,
            f: &EventFilter,
        ) -> Result<Vec<RecordedEvent>, annals::store::StoreError> {
            self.0.read_all(a, m, f).await
        }
        async fn stream_version(&self, s: &str) -> Result<u64, annals::store::StoreError> {
            self.0.stream_version(s).await
        }
        async fn head_position(&self) -> Result<u64, annals::store::StoreError> {
            self.0.head_position().await
        }
        fn catalog(&self) -> &annals::store::Catalog {
            self.0.catalog()
        }
    }
    one_winner_per_version(Either(first, second, Arc::new(AtomicUsize::new(0)))).await;
}

/// Two processes opening one brand-new SQLite file at the same instant both open it:
/// turning WAL on needs a moment alone with the file, and the one that waits does so within
/// its busy timeout instead of failing. (Connections of two threads lock the file as two
/// processes would.)
#[test]
fn sqlite_two_first_opens_of_one_file_both_succeed() {
    const TRIALS: usize = 60;
    let mut failures = Vec::new();
    for trial in 0..TRIALS {
        let path = services::sqlite_path("first-open");
        let start = Arc::new(std::sync::Barrier::new(2));
        let opens: Vec<_> = (0..2)
            .map(|_| {
                let (path, start) = (path.clone(), Arc::clone(&start));
                std::thread::spawn(move || {
                    start.wait();
                    SqliteStore::open(&path).map(drop)
                })
            })
            .collect();
        for open in opens {
            if let Err(error) = open.join().unwrap() {
                failures.push(format!("trial {trial}: {error}"));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} opens failed: {failures:#?}",
        failures.len(),
        2 * TRIALS
    );
}

/// While another process holds SQLite's write lock, an append waits for it without
/// blocking its thread: on a single-threaded runtime, an unrelated task keeps running
/// throughout the wait, and the append succeeds once the lock is released.
#[tokio::test(flavor = "current_thread")]
async fn sqlite_a_lock_wait_does_not_stall_other_tasks() {
    let store = sqlite_store("lock-wait");
    store
        .append("s-1", ExpectedVersion::NoStream, vec![event(0, 0)])
        .await
        .unwrap();
    // Another process: holds the write lock for 400 ms.
    let (locked_tx, locked_rx) = std::sync::mpsc::channel();
    let path = store.path().to_owned();
    let other = std::thread::spawn(move || {
        let connection = rusqlite::Connection::open(path).unwrap();
        connection.execute_batch("BEGIN IMMEDIATE").unwrap();
        locked_tx.send(()).unwrap();
        std::thread::sleep(Duration::from_millis(400));
        connection.execute_batch("COMMIT").unwrap();
    });
    locked_rx.recv().unwrap();

    let ticks = Arc::new(AtomicUsize::new(0));
    let ticker = tokio::spawn({
        let ticks = Arc::clone(&ticks);
        async move {
            loop {
                tokio::time::sleep(Duration::from_millis(5)).await;
                ticks.fetch_add(1, Ordering::Relaxed);
            }
        }
    });
    let appended = store
        .append("s-1", ExpectedVersion::Exact(1), vec![event(0, 1)])
        .await;
    let ticked = ticks.load(Ordering::Relaxed);
    ticker.abort();
    other.join().unwrap();
    assert_eq!(appended.unwrap().stream_version, 2);
    // About 80 ticks fit in the wait; a blocked thread lets none through.
    assert!(
        ticked >= 20,
        "the other task ran {ticked} times during the wait"
    );
}
