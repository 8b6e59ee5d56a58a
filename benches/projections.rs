//! Projection catch-up against raw keyset-paged reads, in one run (issue: projections).
//!
//! `cargo bench --bench projections` (`-- --quick` for one round; `--rounds N`; `--store
//! memory|sqlite|postgres` and `--only annals|floor|envelope` to profile one reader of one
//! store). The figure: catch-up of 100,000 bank events into an in-memory read model
//! (per-account balances in a `HashMap`), in events/s, beside a floor measured in the same
//! run and reported as a ratio annals / floor (target ≥ 0.7), on each store:
//!
//! - annals: a `#[derive(Projection)]` read model consuming the whole `AccountEvent` enum,
//!   spawned with `ProjectionRunner` from position 0, timed from `spawn` until
//!   `wait_for(last position)` returns (the runner has read the log in batches and come back
//!   with a short read: caught up).
//! - floor: what a hand-written program does with the raw driver: a keyset-paged read of
//!   the same rows, in pages of 1,000, ordered by position, each payload decoded with
//!   serde_json into the same payload structs through a `match` on the type name, and
//!   applied to the same struct with the same methods.
//!   - memory: `InMemoryStore::read_all` *is* the store's keyset read, so the floor is the
//!     log cloned once beforehand (not timed) and walked in pages of 1,000;
//!   - SQLite: rusqlite, `SELECT position, stream_id, event_type, payload FROM
//!     annals_events WHERE position > ?1 ORDER BY position LIMIT 1000`, columns borrowed;
//!   - PostgreSQL: tokio-postgres, `SELECT position, stream_id, event_type, payload::text
//!     FROM "schema".events WHERE position > $1 ORDER BY position LIMIT 1000`, prepared.
//!
//!   (`stream_id` is in the floor's SELECT because the read model is per account.)
//! - envelope (diagnostic, SQLite and PostgreSQL): the same loop selecting every column
//!   `read_all` selects (the envelope a handler sees: stream version, event id, schema
//!   version, metadata, recorded-at), borrowed, the metadata decoded. annals / envelope
//!   separates the runtime's own overhead from the cost of reading the whole envelope.
//!
//! Each round runs annals and the floors one after the other (the order rotates every
//! round); each figure is the best of the rounds, and every reader's read model is checked
//! equal. The 100,000 events are 1,000 accounts × (Opened + 99 deposits and withdrawals),
//! each account appended with one `EventStore::append` of 100 events (an append is atomic
//! per stream, so 100 is the largest batch per account), with the correlation and
//! causation ids the command path writes. PostgreSQL is the server at `DATABASE_URL`
//! (default postgres://postgres@127.0.0.1:5432/postgres), in a fresh schema dropped at the
//! end; it is skipped with a message when unreachable, unless `ANNALS_REQUIRE_SERVICES=1`.

#[path = "projection_log.rs"]
mod projection_log;

use std::time::{Duration, Instant};

use annals::Uuid;
use annals::projection::{ProjectionRunner, RunnerOptions};
use annals::store::{EventFilter, EventStore, InMemoryStore, Metadata, RecordedEvent};
use projection_log::{
    ACCOUNTS, Args, Balances, EVENTS, PAGE, TARGET, drop_schema, fill, postgres_floor,
    postgres_log, print_postgres, project_raw, rate, ratio, shown, sqlite_floor, sqlite_log,
    verdict,
};

const WAIT: Duration = Duration::from_secs(600);
const PG_SCHEMA: &str = "bench_projections";

// ------------------------------------------------------------------------------------------
// Timing
// ------------------------------------------------------------------------------------------

/// The three readers of a round.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Side {
    Annals,
    /// The figure's floor: the columns the read model needs.
    Floor,
    /// The diagnostic floor: every column of the envelope that `Recorded` hands the handlers.
    Envelope,
}

/// The best figures of one store across rounds.
struct Figures {
    store: &'static str,
    /// Per runner batch size: the best catch-up time.
    annals: Vec<(usize, Duration)>,
    floor: Duration,
    /// `None` where there is no envelope floor (memory: the records are the envelope).
    envelope: Option<Duration>,
}

impl Figures {
    fn new(store: &'static str, batch_sizes: &[usize], envelope: bool) -> Self {
        Figures {
            store,
            annals: batch_sizes.iter().map(|&b| (b, Duration::MAX)).collect(),
            floor: Duration::MAX,
            envelope: envelope.then_some(Duration::MAX),
        }
    }

    fn keep(&mut self, side: Side, batch_size: usize, took: Duration) {
        match side {
            Side::Annals => {
                for (b, best) in &mut self.annals {
                    if *b == batch_size {
                        *best = (*best).min(took);
                    }
                }
            }
            Side::Floor => self.floor = self.floor.min(took),
            Side::Envelope => {
                if let Some(best) = &mut self.envelope {
                    *best = (*best).min(took);
                }
            }
        }
    }
}

/// Spawns the projection from position 0 and times its catch-up to `last`.
async fn annals_catch_up<S: EventStore + Clone>(
    store: &S,
    batch_size: usize,
    last: u64,
) -> (Duration, Balances) {
    let runner = ProjectionRunner::new(store.clone())
        .with_options(RunnerOptions::default().with_batch_size(batch_size));
    let start = Instant::now();
    let handle = runner.spawn(Balances::default());
    handle.wait_for(last, WAIT).await.expect("catch-up");
    let took = start.elapsed();
    assert_eq!(handle.handled(), EVENTS as u64, "every event handled");
    let model = handle.read(Balances::clone);
    handle.stop().await;
    (took, model)
}

/// The floor of the in-memory store: the log, cloned beforehand, walked in pages of 1,000
/// by position (the event at position `p` is at index `p - 1`).
fn memory_floor(log: &[RecordedEvent]) -> Balances {
    let mut model = Balances::default();
    let mut after = 0usize;
    loop {
        let start = after.min(log.len());
        let page = &log[start..(start + PAGE).min(log.len())];
        for recorded in page {
            project_raw(
                &mut model,
                &recorded.stream_id,
                &recorded.event_type,
                &recorded.payload,
            );
            after = recorded.position as usize;
        }
        if page.len() < PAGE {
            return model;
        }
    }
}

/// What the envelope floors decode besides the payload: the envelope fields a `Recorded`
/// carries, kept from the optimiser with `black_box`.
fn envelope(
    stream_version: i64,
    event_id: Uuid,
    schema_version: i64,
    metadata: Option<&[u8]>,
    ids: [Option<Uuid>; 2],
) {
    let metadata = metadata.map(|json| serde_json::from_slice::<Metadata>(json).expect("metadata"));
    std::hint::black_box((stream_version, event_id, schema_version, metadata, ids));
}

/// The SQLite envelope floor: every column `read_all` selects, borrowed, the metadata
/// decoded.
fn sqlite_envelope(connection: &rusqlite::Connection) -> Balances {
    let sql = format!(
        "SELECT position, stream_id, stream_version, event_id, event_type, schema_version,
                payload, metadata, recorded_at, correlation_id, causation_id
         FROM annals_events WHERE position > ?1 ORDER BY position LIMIT {PAGE}"
    );
    let mut model = Balances::default();
    let each = |row: &rusqlite::Row<'_>| {
        let text = |i| row.get_ref(i).and_then(|v| Ok(v.as_str()?)).expect("text");
        let event_id = row.get_ref(3).and_then(|v| Ok(v.as_blob()?)).expect("id");
        let metadata = row.get_ref(7).and_then(|v| Ok(v.as_str_or_null()?));
        let recorded_at: i64 = row.get(8).expect("recorded_at");
        let id = |i| {
            let bytes = row.get_ref(i).and_then(|v| Ok(v.as_blob_or_null()?));
            bytes
                .expect("id")
                .map(|b| Uuid::from_slice(b).expect("uuid"))
        };
        envelope(
            row.get(2).expect("stream_version"),
            Uuid::from_slice(event_id).expect("uuid"),
            row.get(5).expect("schema_version"),
            metadata.expect("metadata").map(str::as_bytes),
            [id(9), id(10)],
        );
        std::hint::black_box(chrono::DateTime::from_timestamp_micros(recorded_at));
        let payload = row.get_ref(6).and_then(|v| Ok(v.as_blob()?));
        project_raw(&mut model, text(1), text(4), payload.expect("payload"));
    };
    sqlite_floor::pages(connection, &sql, each, || {});
    model
}

/// The PostgreSQL envelope floor.
mod postgres_envelope {
    use super::*;
    use tokio_postgres::types::{FromSql, Type};
    use tokio_postgres::{Client, Statement};

    /// A `jsonb` value in PostgreSQL's binary format (a version byte, then the JSON text),
    /// borrowed: what the store reads.
    struct Jsonb<'a>(&'a [u8]);

    impl<'a> FromSql<'a> for Jsonb<'a> {
        fn from_sql(
            _: &Type,
            raw: &'a [u8],
        ) -> Result<Self, Box<dyn std::error::Error + Sync + Send>> {
            match raw.split_first() {
                Some((1, json)) => Ok(Jsonb(json)),
                _ => Err("unsupported jsonb format".into()),
            }
        }

        fn accepts(ty: &Type) -> bool {
            *ty == Type::JSONB
        }
    }

    pub fn envelope_sql() -> String {
        format!(
            "SELECT position, stream_id, stream_version, event_id, event_type, schema_version,
                    payload, metadata, recorded_at, correlation_id, causation_id
             FROM \"{PG_SCHEMA}\".events WHERE position > $1 ORDER BY position LIMIT {PAGE}"
        )
    }

    /// The diagnostic floor: every column `read_all` selects, `jsonb` in binary, borrowed,
    /// the metadata decoded.
    pub async fn envelope(client: &Client, statement: &Statement) -> Balances {
        let mut model = Balances::default();
        postgres_floor::pages(client, statement, async |rows| {
            for row in rows {
                let metadata: Option<Jsonb<'_>> = row.get(7);
                super::envelope(
                    row.get(2),
                    row.get(3),
                    row.get::<_, i32>(5).into(),
                    metadata.map(|m| m.0),
                    [row.get(9), row.get(10)],
                );
                std::hint::black_box(row.get::<_, chrono::DateTime<chrono::Utc>>(8));
                let payload: Jsonb<'_> = row.get(6);
                project_raw(&mut model, row.get(1), row.get(4), payload.0);
            }
        })
        .await;
        model
    }
}

/// What to run: `cargo bench --bench projections -- [--quick] [--rounds N]
/// [--store memory|sqlite|postgres] [--only annals|floor|envelope]` (the last two to profile
/// one reader of one store, e.g. under `perf record`).
struct Options {
    args: Args<Side>,
    batch_sizes: Vec<usize>,
}

impl Options {
    fn from_args() -> Self {
        let sides = [
            ("annals", Side::Annals),
            ("floor", Side::Floor),
            ("envelope", Side::Envelope),
        ];
        let mut batch_sizes = vec![PAGE];
        let default = RunnerOptions::default().batch_size();
        if default != PAGE {
            batch_sizes.push(default);
        }
        Options {
            args: Args::parse(10, &sides),
            batch_sizes,
        }
    }
}

/// One round on one store: annals at each batch size, the floor and the envelope floor
/// (where `floor(Side::Envelope)` is given), in an order that rotates every round; every
/// read model built is checked against the others.
async fn round<S, F, Fut>(
    figures: &mut Figures,
    options: &Options,
    store: &S,
    last: u64,
    round: usize,
    mut floor: F,
) where
    S: EventStore + Clone,
    F: FnMut(Side) -> Fut,
    Fut: std::future::Future<Output = Balances>,
{
    let mut sides = vec![Side::Annals, Side::Floor];
    if figures.envelope.is_some() {
        sides.push(Side::Envelope);
    }
    let turn = round % sides.len();
    sides.rotate_left(turn);
    let mut models = Vec::new();
    for side in sides {
        if options.args.skips(side) {
            continue;
        }
        if side == Side::Annals {
            for &batch_size in &options.batch_sizes {
                let (took, model) = annals_catch_up(store, batch_size, last).await;
                figures.keep(side, batch_size, took);
                models.push(model);
            }
        } else {
            let start = Instant::now();
            let model = std::hint::black_box(floor(side).await);
            figures.keep(side, PAGE, start.elapsed());
            models.push(model);
        }
    }
    for model in &models {
        assert_eq!(model.by_account.len(), ACCOUNTS);
        assert_eq!(model, &models[0], "every reader built the same read model");
    }
}

// ------------------------------------------------------------------------------------------
// The stores
// ------------------------------------------------------------------------------------------

async fn bench_memory(options: &Options) -> Figures {
    let store = InMemoryStore::new();
    let last = fill(&store).await;
    let log = store
        .read_all(0, usize::MAX, &EventFilter::all())
        .await
        .expect("read the log");
    assert_eq!(log.len(), EVENTS);
    let mut figures = Figures::new("memory", &options.batch_sizes, false);
    for r in 0..options.args.rounds {
        round(&mut figures, options, &store, last, r, |_| {
            let model = memory_floor(&log);
            async move { model }
        })
        .await;
    }
    figures
}

async fn bench_sqlite(options: &Options) -> Figures {
    let (dir, store, raw, last) = sqlite_log("projections").await;
    let mut figures = Figures::new("SQLite", &options.batch_sizes, true);
    for r in 0..options.args.rounds {
        round(&mut figures, options, &store, last, r, |side| {
            let model = match side {
                Side::Envelope => sqlite_envelope(&raw),
                _ => sqlite_floor::needed(&raw),
            };
            async move { model }
        })
        .await;
    }
    drop((raw, store));
    let _ = std::fs::remove_dir_all(&dir);
    figures
}

async fn bench_postgres(options: &Options) -> Option<Figures> {
    let (raw, store, last) = postgres_log(PG_SCHEMA).await?;
    let needed = raw
        .prepare(&postgres_floor::needed_sql(PG_SCHEMA))
        .await
        .expect("prepare");
    let envelope = raw
        .prepare(&postgres_envelope::envelope_sql())
        .await
        .expect("prepare");
    let mut figures = Figures::new("PostgreSQL", &options.batch_sizes, true);
    for r in 0..options.args.rounds {
        round(&mut figures, options, &store, last, r, |side| {
            let (raw, needed, envelope) = (&raw, &needed, &envelope);
            async move {
                match side {
                    Side::Envelope => postgres_envelope::envelope(raw, envelope).await,
                    _ => postgres_floor::needed(raw, needed).await,
                }
            }
        })
        .await;
    }
    drop(store);
    drop_schema(&raw, PG_SCHEMA).await;
    Some(figures)
}

fn print(figures: &Figures) {
    for &(batch_size, took) in &figures.annals {
        let envelope = figures
            .envelope
            .map_or(("n/a".to_owned(), "n/a".to_owned()), |e| {
                (rate(e), shown(ratio(took, e)))
            });
        let versus_floor = ratio(took, figures.floor);
        println!(
            "  {:<11} {:>6} {:>12} {:>12} {:>7}  ≥ {TARGET:.2}× {:<6} {:>12} {:>8}",
            figures.store,
            batch_size,
            rate(took),
            rate(figures.floor),
            shown(versus_floor),
            verdict(versus_floor),
            envelope.0,
            envelope.1,
        );
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let options = Options::from_args();
    println!(
        "annals projection catch-up of {EVENTS} events vs a raw keyset-paged read + decode \
         (pages of {PAGE}); best of {} rounds, annals and the floors alternating; \
         ratio = annals events/s / floor events/s; envelope = the diagnostic floor that \
         reads every column annals reads",
        options.args.rounds
    );
    let default = RunnerOptions::default().batch_size();
    if default == PAGE {
        println!(
            "(the runner's default batch size is {default}: the batch-{PAGE} row is the default)"
        );
    }
    let mut figures = Vec::new();
    if options.args.runs("memory") {
        figures.push(bench_memory(&options).await);
    }
    if options.args.runs("sqlite") {
        figures.push(bench_sqlite(&options).await);
    }
    let postgres = if options.args.runs("postgres") {
        Some(bench_postgres(&options).await)
    } else {
        None
    };
    println!(
        "\n  {:<11} {:>6} {:>12} {:>12} {:>7}  {:<13} {:>12} {:>8}",
        "store", "batch", "annals ev/s", "floor ev/s", "ratio", "target", "envelope", "ratio"
    );
    for f in &figures {
        print(f);
    }
    print_postgres(postgres, print);
}
