//! SQL read models: statements committed with their checkpoint, all or nothing; resets;
//! versions switched by views; queries.

use crate::store::SqlStatement;

use super::support::*;

/// A table of this case: `(k TEXT PRIMARY KEY, n BIGINT NOT NULL)`, created.
pub(super) async fn table<S: SqlTarget>(store: &S, case: &Case, base: &str) -> String {
    let table = case.table(base);
    store
        .prepare_read_model(&[format!(
            "CREATE TABLE IF NOT EXISTS {table} (k TEXT PRIMARY KEY, n BIGINT NOT NULL)"
        )])
        .await
        .unwrap_or_else(|e| panic!("creating table `{table}` failed: {e}"));
    table
}

/// `INSERT INTO table (k, n) VALUES (k, n)`, adding to `n` when `k` is there.
pub(super) fn add(table: &str, k: &str, n: i64) -> SqlStatement {
    SqlStatement {
        sql: format!(
            "INSERT INTO {table} (k, n) VALUES ($1, $2) ON CONFLICT (k) DO UPDATE SET n = {table}.n + excluded.n"
        )
        .into(),
        params: vec![k.into(), n.into()],
    }
}

/// The rows `(k, n)` of `table`, by `k`.
pub(super) async fn rows<S: SqlTarget>(store: &S, table: &str) -> Vec<(String, i64)> {
    let rows = store
        .query(&format!("SELECT k, n FROM {table} ORDER BY k"), &[])
        .await
        .unwrap_or_else(|e| panic!("querying `{table}` failed: {e}"));
    rows.into_iter()
        .map(|row| match row.as_slice() {
            [SqlValue::Text(k), SqlValue::Int(n)] => (k.clone(), *n),
            other => panic!("unexpected row of `{table}`: {other:?}"),
        })
        .collect()
}

async fn commit<S: SqlTarget>(
    store: &S,
    checkpoint: &str,
    from: u64,
    to: u64,
    statements: Vec<SqlStatement>,
) -> Result<bool, StoreError> {
    store
        .commit_projection(checkpoint, from, to, statements)
        .await
}

fn pairs(rows: &[(&str, i64)]) -> Vec<(String, i64)> {
    rows.iter().map(|(k, n)| ((*k).to_owned(), *n)).collect()
}

/// A batch's statements and its checkpoint commit together.
pub async fn statements_commit_with_their_checkpoint<S: SqlTarget>(store: S) {
    let case = Case::new("statements_commit_with_their_checkpoint");
    let table = table(&store, &case, "totals").await;
    let name = case.stream("model");
    let committed = commit(
        &store,
        &name,
        0,
        3,
        vec![add(&table, "a", 1), add(&table, "b", 2)],
    )
    .await
    .unwrap();
    assert!(committed);
    assert_eq!(rows(&store, &table).await, pairs(&[("a", 1), ("b", 2)]));
    assert_eq!(store.checkpoint(&name).await.unwrap(), 3);
}

/// Statements run in the order given, inside one transaction.
pub async fn statements_run_in_order<S: SqlTarget>(store: S) {
    let case = Case::new("statements_run_in_order");
    let table = table(&store, &case, "totals").await;
    let times_ten = SqlStatement {
        sql: format!("UPDATE {table} SET n = n * 10 WHERE k = $1").into(),
        params: vec!["a".into()],
    };
    let statements = vec![add(&table, "a", 1), times_ten, add(&table, "a", 5)];
    assert!(
        commit(&store, &case.stream("model"), 0, 1, statements)
            .await
            .unwrap()
    );
    assert_eq!(rows(&store, &table).await, pairs(&[("a", 15)]));
}

/// A batch read after a checkpoint another runner has moved commits nothing, and says so.
pub async fn a_batch_from_a_moved_checkpoint_commits_nothing<S: SqlTarget>(store: S) {
    let case = Case::new("a_batch_from_a_moved_checkpoint_commits_nothing");
    let table = table(&store, &case, "totals").await;
    let name = case.stream("model");
    assert!(
        commit(&store, &name, 0, 5, vec![add(&table, "a", 1)])
            .await
            .unwrap()
    );
    let late = commit(&store, &name, 0, 7, vec![add(&table, "b", 2)])
        .await
        .unwrap();
    assert!(!late, "the late batch is refused");
    assert_eq!(
        rows(&store, &table).await,
        pairs(&[("a", 1)]),
        "nothing of it"
    );
    assert_eq!(store.checkpoint(&name).await.unwrap(), 5);
}

/// A statement the database refuses fails the batch: the statements before it roll back,
/// and the checkpoint stays.
pub async fn a_refused_statement_commits_nothing<S: SqlTarget>(store: S) {
    let case = Case::new("a_refused_statement_commits_nothing");
    let table = table(&store, &case, "totals").await;
    let name = case.stream("model");
    let refused = SqlStatement {
        sql: format!("INSERT INTO {table} (k, n) VALUES ($1, $2)").into(),
        params: vec!["b".into(), SqlValue::Null], // n is NOT NULL
    };
    let result = commit(&store, &name, 0, 4, vec![add(&table, "a", 1), refused]).await;
    assert!(result.is_err(), "the batch fails: {result:?}");
    assert_eq!(
        rows(&store, &table).await,
        pairs(&[]),
        "nothing of the batch"
    );
    assert_eq!(
        store.checkpoint(&name).await.unwrap(),
        0,
        "the checkpoint stays"
    );
}

/// A reset runs its statements and puts the checkpoint back to 0, together.
pub async fn a_reset_empties_the_model_and_rewinds_its_checkpoint<S: SqlTarget>(store: S) {
    let case = Case::new("a_reset_empties_the_model_and_rewinds_its_checkpoint");
    let table = table(&store, &case, "totals").await;
    let name = case.stream("model");
    assert!(
        commit(&store, &name, 0, 9, vec![add(&table, "a", 1)])
            .await
            .unwrap()
    );
    store
        .reset_projection(&name, &[format!("DELETE FROM {table}")])
        .await
        .unwrap();
    assert_eq!(rows(&store, &table).await, pairs(&[]));
    assert_eq!(store.checkpoint(&name).await.unwrap(), 0);
}

/// Runners racing to commit batches read after the same checkpoint: one commits, the
/// others write nothing.
pub async fn racing_batches_from_one_checkpoint_have_one_winner<S: SqlTarget>(store: S) {
    let case = Case::new("racing_batches_from_one_checkpoint_have_one_winner");
    let table = table(&store, &case, "totals").await;
    let name = case.stream("model");
    let store = Arc::new(store);
    let runners: Vec<_> = (1..=4i64)
        .map(|n| {
            let (store, name, statement) = (
                Arc::clone(&store),
                name.clone(),
                add(&table, &format!("k{n}"), n),
            );
            tokio::spawn(async move { (n, commit(&*store, &name, 0, 10, vec![statement]).await) })
        })
        .collect();
    let mut winners = Vec::new();
    for runner in runners {
        let (n, committed) = runner.await.expect("runner task panicked");
        // A loser either sees the winner's checkpoint, or trips over the winner's first
        // insert of the checkpoint row: both write nothing.
        if committed.unwrap_or(false) {
            winners.push(n);
        }
    }
    assert_eq!(winners.len(), 1, "one batch commits: {winners:?}");
    let winner = winners[0];
    assert_eq!(
        rows(&*store, &table).await,
        pairs(&[(&format!("k{winner}"), winner)])
    );
}

/// Views follow the newest version published, never an older one.
pub async fn views_switch_to_newer_versions_only<S: SqlTarget>(store: S) {
    let case = Case::new("views_switch_to_newer_versions_only");
    let (v1, v2) = (
        table(&store, &case, "totals_v1").await,
        table(&store, &case, "totals_v2").await,
    );
    let (view, name) = (case.table("totals"), case.table("model"));
    assert!(
        commit(&store, &case.stream("v1"), 0, 1, vec![add(&v1, "a", 1)])
            .await
            .unwrap()
    );
    assert!(
        commit(&store, &case.stream("v2"), 0, 1, vec![add(&v2, "a", 2)])
            .await
            .unwrap()
    );
    let publish = |version: u32, table: &str| {
        let views = [(view.clone(), table.to_owned())];
        let (store, name) = (&store, name.clone());
        async move { store.publish_version(&name, version, &views).await.unwrap() }
    };
    assert!(publish(1, &v1).await, "version 1 goes live");
    assert_eq!(rows(&store, &view).await, pairs(&[("a", 1)]));
    assert!(publish(2, &v2).await, "version 2 replaces it");
    assert_eq!(rows(&store, &view).await, pairs(&[("a", 2)]));
    assert!(!publish(1, &v1).await, "version 1 cannot take it back");
    assert!(!publish(2, &v2).await, "version 2 is live already");
    assert_eq!(rows(&store, &view).await, pairs(&[("a", 2)]));
}

/// Every kind of value binds to a parameter and comes back from a query.
pub async fn every_kind_of_value_binds_and_reads_back<S: SqlTarget>(store: S) {
    let case = Case::new("every_kind_of_value_binds_and_reads_back");
    let table = case.table("kinds");
    store
        .prepare_read_model(&[format!(
            "CREATE TABLE IF NOT EXISTS {table} (k TEXT PRIMARY KEY, i BIGINT, r DOUBLE PRECISION, b BOOLEAN, y BYTEA, z TEXT)"
        )])
        .await
        .unwrap();
    let insert = SqlStatement {
        sql: format!("INSERT INTO {table} (k, i, r, b, y, z) VALUES ($1, $2, $3, $4, $5, $6)")
            .into(),
        params: vec![
            "ünïcode '$1' \"quoted\"".into(),
            (-42i64).into(),
            2.5f64.into(),
            true.into(),
            vec![0u8, 159, 255].into(),
            SqlValue::Null,
        ],
    };
    assert!(
        commit(&store, &case.stream("model"), 0, 1, vec![insert])
            .await
            .unwrap()
    );
    let rows = store
        .query(
            &format!("SELECT k, i, r, b, y, z FROM {table} WHERE i = $1"),
            &[(-42i64).into()],
        )
        .await
        .unwrap();
    let [row] = rows.as_slice() else {
        panic!("one row expected: {rows:?}");
    };
    assert_eq!(row[0], SqlValue::Text("ünïcode '$1' \"quoted\"".into()));
    assert_eq!(row[1], SqlValue::Int(-42));
    assert_eq!(row[2], SqlValue::Real(2.5));
    assert!(
        matches!(row[3], SqlValue::Bool(true) | SqlValue::Int(1)),
        "{:?}",
        row[3]
    );
    assert_eq!(row[4], SqlValue::Bytes(vec![0, 159, 255]));
    assert_eq!(row[5], SqlValue::Null);
}
