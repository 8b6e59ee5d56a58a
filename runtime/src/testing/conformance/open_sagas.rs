//! Open sagas: one row per saga and instance, replaced when written again, read back per
//! saga, due ones soonest first, removed.

use chrono::{DateTime, Duration, Utc};

use super::support::*;
use crate::store::{OpenSaga, SagaStore};

fn open(saga: &str, instance: &str, wake_at: Option<DateTime<Utc>>) -> OpenSaga {
    // Stores keep microseconds.
    let now = DateTime::from_timestamp_micros(Utc::now().timestamp_micros()).unwrap();
    OpenSaga {
        saga: saga.to_owned(),
        instance: instance.to_owned(),
        wake_at,
        stuck: None,
        updated_at: now,
    }
}

fn at(seconds: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(1_800_000_000 + seconds, 0).unwrap()
}

async fn keep<S: SagaStore>(store: &S, open: &OpenSaga) {
    store
        .keep_open_saga(open)
        .await
        .unwrap_or_else(|e| panic!("keeping an open saga failed: {e}"));
}

async fn listed<S: SagaStore>(store: &S, saga: &str) -> Vec<OpenSaga> {
    store
        .open_sagas(saga)
        .await
        .unwrap_or_else(|e| panic!("listing `{saga}`'s open sagas failed: {e}"))
}

/// A row read back with every field; a second write replaces it; other sagas' rows apart.
pub async fn an_open_saga_is_kept_once_and_replaced<S: SagaStore>(store: S) {
    let case = Case::new("an_open_saga_is_kept_once_and_replaced");
    let (saga, other) = (case.stream("saga"), case.stream("other"));
    let first = open(&saga, "i-1", Some(at(10)));
    keep(&store, &first).await;
    keep(&store, &open(&other, "i-1", Some(at(5)))).await;
    assert_eq!(listed(&store, &saga).await, [first]);
    let stuck = OpenSaga {
        wake_at: None,
        stuck: Some("refund failed 5 times: gateway down".into()),
        ..open(&saga, "i-1", None)
    };
    keep(&store, &stuck).await;
    assert_eq!(listed(&store, &saga).await, [stuck]);
    assert_eq!(listed(&store, &other).await.len(), 1);
}

/// Due rows are those woken at or before `now`, soonest first, at most `limit`; a stuck
/// row (no wake time) is never due.
pub async fn due_sagas_come_soonest_first<S: SagaStore>(store: S) {
    let case = Case::new("due_sagas_come_soonest_first");
    let saga = case.stream("saga");
    keep(&store, &open(&saga, "late", Some(at(30)))).await;
    keep(&store, &open(&saga, "first", Some(at(10)))).await;
    keep(&store, &open(&saga, "second", Some(at(20)))).await;
    keep(&store, &open(&saga, "stuck", None)).await;
    let due = |now, limit| {
        let store = &store;
        let saga = &saga;
        async move {
            store
                .due_sagas(saga, now, limit)
                .await
                .unwrap_or_else(|e| panic!("reading due sagas failed: {e}"))
                .into_iter()
                .map(|open| open.instance)
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(due(at(20), 10).await, ["first", "second"]);
    assert_eq!(due(at(20), 1).await, ["first"]);
    assert_eq!(due(at(9), 10).await, Vec::<String>::new());
    assert_eq!(
        due(at(10) + Duration::days(365), 10).await,
        ["first", "second", "late"]
    );
}

/// A forgotten row is gone; forgetting one that is not there is no error.
pub async fn a_forgotten_saga_is_gone<S: SagaStore>(store: S) {
    let case = Case::new("a_forgotten_saga_is_gone");
    let saga = case.stream("saga");
    keep(&store, &open(&saga, "a", Some(at(1)))).await;
    keep(&store, &open(&saga, "b", Some(at(2)))).await;
    store.forget_open_saga(&saga, "a").await.unwrap();
    store.forget_open_saga(&saga, "never-opened").await.unwrap();
    let instances: Vec<String> = listed(&store, &saga)
        .await
        .into_iter()
        .map(|open| open.instance)
        .collect();
    assert_eq!(instances, ["b"]);
}
