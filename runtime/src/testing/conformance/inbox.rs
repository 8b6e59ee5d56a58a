//! Inboxes: a message's statements commit with its inbox record, once.

use uuid::Uuid;

use super::read_models::{add, rows, table};
use super::support::*;
use crate::store::{InboxStore, SqlStatement};

/// A message committed twice: its statements ran once, and the inbox says it holds it;
/// another consumer's inbox does not.
pub async fn a_message_commits_its_statements_once<S: InboxStore>(store: S) {
    let case = Case::new("a_message_commits_its_statements_once");
    let table = table(&store, &case, "parcels").await;
    let (consumer, message) = (case.stream("shipping"), Uuid::now_v7());
    assert!(!store.inbox_holds(&consumer, message).await.unwrap());
    let first = store
        .commit_message(&consumer, message, vec![add(&table, "o-1", 1)])
        .await
        .unwrap();
    let again = store
        .commit_message(&consumer, message, vec![add(&table, "o-1", 1)])
        .await
        .unwrap();
    assert!(first && !again, "committed once");
    assert_eq!(rows(&store, &table).await, [("o-1".to_owned(), 1)]);
    assert!(store.inbox_holds(&consumer, message).await.unwrap());
    assert!(
        !store
            .inbox_holds(&case.stream("billing"), message)
            .await
            .unwrap()
    );
}

/// A statement the database refuses: nothing of the message is committed, its inbox record
/// neither, so it can be handled again.
pub async fn a_refused_statement_leaves_no_inbox_record<S: InboxStore>(store: S) {
    let case = Case::new("a_refused_statement_leaves_no_inbox_record");
    let table = table(&store, &case, "parcels").await;
    let (consumer, message) = (case.stream("shipping"), Uuid::now_v7());
    let refused = SqlStatement {
        sql: format!("INSERT INTO {table} (k, n) VALUES ($1, NULL)").into(),
        params: vec!["o-2".into()],
    };
    let result = store
        .commit_message(&consumer, message, vec![add(&table, "o-1", 1), refused])
        .await;
    assert!(result.is_err(), "the NOT NULL column refuses the statement");
    assert!(rows(&store, &table).await.is_empty());
    assert!(!store.inbox_holds(&consumer, message).await.unwrap());
    assert!(
        store
            .commit_message(&consumer, message, vec![add(&table, "o-1", 1)])
            .await
            .unwrap()
    );
}
