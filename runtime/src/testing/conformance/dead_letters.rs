//! Dead letters: kept per owner, once per position or message, read back whole and in
//! order, removed one by one.

use super::support::*;
use crate::store::{DeadLetter, DeadLetterStore};

async fn add<S: DeadLetterStore>(store: &S, letter: &DeadLetter) -> bool {
    store
        .add_dead_letter(letter)
        .await
        .unwrap_or_else(|e| panic!("adding a dead letter failed: {e}"))
}

async fn letters<S: DeadLetterStore>(store: &S, owner: &str) -> Vec<DeadLetter> {
    store
        .dead_letters(owner)
        .await
        .unwrap_or_else(|e| panic!("reading `{owner}`'s dead letters failed: {e}"))
}

/// A relay's and a consumer's letters read back with every field, each owner's apart.
pub async fn dead_letters_read_back_whole_per_owner<S: DeadLetterStore>(store: S) {
    let case = Case::new("dead_letters_read_back_whole_per_owner");
    let (relay, consumer) = (case.stream("relay"), case.stream("consumer"));
    let event = DeadLetter::event(
        &relay,
        7,
        "order-1",
        uuid::Uuid::now_v7(),
        "mapping failed",
        false,
    );
    let message = DeadLetter::message(
        &consumer,
        Some(uuid::Uuid::now_v7()),
        "orders.placed",
        b"{\"total\":1}".to_vec(),
        vec![("annals-message-type".into(), "OrderPlaced".into())],
        "handler failed 5 times",
    );
    assert!(add(&store, &event).await);
    assert!(add(&store, &message).await);
    let read = |letter: &DeadLetter| {
        let mut letter = letter.clone();
        // Stores keep microseconds.
        letter.recorded_at =
            chrono::DateTime::from_timestamp_micros(letter.recorded_at.timestamp_micros()).unwrap();
        letter
    };
    assert_eq!(letters(&store, &relay).await, [read(&event)]);
    assert_eq!(letters(&store, &consumer).await, [read(&message)]);
}

/// A second letter of one owner for the same position, or the same message id, is not
/// added: a worker that crashed after recording it records nothing twice.
pub async fn a_dead_letter_is_recorded_once<S: DeadLetterStore>(store: S) {
    let case = Case::new("a_dead_letter_is_recorded_once");
    let owner = case.stream("relay");
    let first = DeadLetter::event(&owner, 3, "s", uuid::Uuid::now_v7(), "first", false);
    let again = DeadLetter::event(&owner, 3, "s", uuid::Uuid::now_v7(), "again", false);
    assert!(add(&store, &first).await);
    assert!(!add(&store, &again).await, "the same position again");
    let message_id = Some(uuid::Uuid::now_v7());
    let consumer = case.stream("consumer");
    let message = |error: &str| {
        DeadLetter::message(&consumer, message_id, "s", Vec::new(), Vec::new(), error)
    };
    assert!(add(&store, &message("first")).await);
    assert!(
        !add(&store, &message("again")).await,
        "the same message again"
    );
    assert_eq!(letters(&store, &owner).await.len(), 1);
    assert_eq!(letters(&store, &consumer).await.len(), 1);
}

/// Letters come back by position, whatever order they were added in.
pub async fn dead_letters_come_back_in_log_order<S: DeadLetterStore>(store: S) {
    let case = Case::new("dead_letters_come_back_in_log_order");
    let owner = case.stream("relay");
    for position in [9, 2, 5] {
        let letter = DeadLetter::event(
            &owner,
            position,
            "s",
            uuid::Uuid::now_v7(),
            "e",
            position != 2,
        );
        add(&store, &letter).await;
    }
    let positions: Vec<Option<u64>> = letters(&store, &owner)
        .await
        .iter()
        .map(|l| l.position)
        .collect();
    assert_eq!(positions, [Some(2), Some(5), Some(9)]);
}

/// A letter removed is gone; removing it again, or another owner's, removes nothing.
pub async fn a_removed_dead_letter_is_gone<S: DeadLetterStore>(store: S) {
    let case = Case::new("a_removed_dead_letter_is_gone");
    let owner = case.stream("relay");
    let letter = DeadLetter::event(&owner, 1, "s", uuid::Uuid::now_v7(), "e", false);
    add(&store, &letter).await;
    let remove = |owner: String| {
        let store = &store;
        async move { store.remove_dead_letter(&owner, letter.id).await.unwrap() }
    };
    assert!(!remove(case.stream("other")).await, "another owner's id");
    assert!(remove(owner.clone()).await);
    assert!(!remove(owner.clone()).await, "removed twice");
    assert!(letters(&store, &owner).await.is_empty());
}
