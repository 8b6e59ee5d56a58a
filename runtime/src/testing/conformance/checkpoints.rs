//! Checkpoints: named positions, moved only from where their writer saw them.

use super::support::*;

/// Moves checkpoint `name` and says whether it moved, failing on a store error.
async fn move_checkpoint<S: CheckpointStore>(store: &S, name: &str, from: u64, to: u64) -> bool {
    store
        .move_checkpoint(name, from, to)
        .await
        .unwrap_or_else(|e| panic!("moving checkpoint `{name}` from {from} to {to} failed: {e}"))
}

async fn checkpoint<S: CheckpointStore>(store: &S, name: &str) -> u64 {
    store
        .checkpoint(name)
        .await
        .unwrap_or_else(|e| panic!("reading checkpoint `{name}` failed: {e}"))
}

/// A checkpoint never written is at 0: nothing handled yet.
pub async fn a_missing_checkpoint_is_at_zero<S: CheckpointStore>(store: S) {
    let case = Case::new("a_missing_checkpoint_is_at_zero");
    assert_eq!(checkpoint(&store, &case.stream("reader")).await, 0);
}

/// The first move goes from 0 and creates the checkpoint; later moves go from where it is.
pub async fn a_checkpoint_moves_from_where_it_is<S: CheckpointStore>(store: S) {
    let case = Case::new("a_checkpoint_moves_from_where_it_is");
    let name = case.stream("reader");
    assert!(move_checkpoint(&store, &name, 0, 5).await, "the first move");
    assert_eq!(checkpoint(&store, &name).await, 5);
    assert!(move_checkpoint(&store, &name, 5, 9).await, "a second move");
    assert_eq!(checkpoint(&store, &name).await, 9);
}

/// A move from a position the checkpoint is not at writes nothing and says so: another
/// runner of the same reader got there first.
pub async fn a_move_from_elsewhere_writes_nothing<S: CheckpointStore>(store: S) {
    let case = Case::new("a_move_from_elsewhere_writes_nothing");
    let name = case.stream("reader");
    assert!(move_checkpoint(&store, &name, 0, 5).await);
    assert!(
        !move_checkpoint(&store, &name, 3, 7).await,
        "a move from a stale position is refused"
    );
    assert!(
        !move_checkpoint(&store, &name, 0, 7).await,
        "a second first move is refused"
    );
    assert_eq!(checkpoint(&store, &name).await, 5, "nothing was written");
}

/// A checkpoint can go back to 0, as a rebuild does, and move on from there.
pub async fn a_checkpoint_goes_back_to_zero_for_a_rebuild<S: CheckpointStore>(store: S) {
    let case = Case::new("a_checkpoint_goes_back_to_zero_for_a_rebuild");
    let name = case.stream("reader");
    assert!(move_checkpoint(&store, &name, 0, 8).await);
    assert!(move_checkpoint(&store, &name, 8, 0).await);
    assert_eq!(checkpoint(&store, &name).await, 0);
    assert!(move_checkpoint(&store, &name, 0, 2).await);
    assert_eq!(checkpoint(&store, &name).await, 2);
}

/// Checkpoints of different names are independent.
pub async fn checkpoints_are_per_name<S: CheckpointStore>(store: S) {
    let case = Case::new("checkpoints_are_per_name");
    let (a, b) = (case.stream("a"), case.stream("b"));
    assert!(move_checkpoint(&store, &a, 0, 4).await);
    assert!(move_checkpoint(&store, &b, 0, 6).await);
    assert!(move_checkpoint(&store, &a, 4, 5).await);
    assert_eq!(
        (checkpoint(&store, &a).await, checkpoint(&store, &b).await),
        (5, 6)
    );
}

/// Runners racing to move one checkpoint from the same position: exactly one moves it, and
/// it holds the winner's position.
pub async fn racing_moves_from_one_position_have_one_winner<S: CheckpointStore>(store: S) {
    let case = Case::new("racing_moves_from_one_position_have_one_winner");
    let name = case.stream("reader");
    assert!(move_checkpoint(&store, &name, 0, 10).await);
    let store = Arc::new(store);
    let runners: Vec<_> = (11..=18u64)
        .map(|to| {
            let (store, name) = (Arc::clone(&store), name.clone());
            tokio::spawn(async move { (to, move_checkpoint(&*store, &name, 10, to).await) })
        })
        .collect();
    let mut winners = Vec::new();
    for runner in runners {
        let (to, moved) = runner.await.expect("runner task panicked");
        if moved {
            winners.push(to);
        }
    }
    assert_eq!(winners.len(), 1, "exactly one runner moves it: {winners:?}");
    assert_eq!(checkpoint(&*store, &name).await, winners[0]);
}
