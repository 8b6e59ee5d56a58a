//! The conformance suite every event store passes: one public async function per
//! behaviour of the storage model, named after what it proves and generic over the store.
//!
//! A store runs the suites for the capabilities it has with [`conformance_suite!`], which
//! turns every case into a `#[tokio::test]` of the calling crate (which therefore needs
//! `tokio` with the `macros` and `rt-multi-thread` features):
//!
//! ```
//! // In a store's tests (here the in-memory store stands for yours):
//! annals::testing::conformance_suite! {
//!     store: async { annals::store::InMemoryStore::new() },
//!     suites: [events, snapshots, checkpoints],
//! }
//! # fn main() {}
//! ```
//!
//! | suite | what the store implements | what the cases prove |
//! | --- | --- | --- |
//! | `events` | [`EventStore`](crate::store::EventStore) | expected versions, re-sent appends recorded once, unique event ids, gap-free versions, positions, reads of streams and of the log, filters, what is stored, what is refused before writing, a reader tailing concurrent writers, one catalog of names |
//! | `snapshots` | [`SnapshotStore`](crate::store::SnapshotStore) (and `EventStore`) | the latest snapshot per stream, never replaced by an older one; temporal loads through the repository |
//! | `checkpoints` | [`CheckpointStore`](crate::store::CheckpointStore) | conditional moves, one winner among racing runners |
//! | `dead_letters` | [`DeadLetterStore`](crate::store::DeadLetterStore) | letters per owner, each position or message once, read back whole and in log order, removed one by one |
//! | `open_sagas` | [`SagaStore`](crate::store::SagaStore) | one row per saga and instance, replaced when written again; due rows soonest first; removed |
//! | `inboxes` | [`InboxStore`](crate::store::InboxStore) | a message's statements committed with its inbox record, once; nothing of a refused one |
//! | `sql_read_models` | [`SqlTarget`](crate::store::SqlTarget) | statements committed with their checkpoint, all or nothing; resets; views switched forward only; queries |
//!
//! `store:` is an expression of type `impl Future<Output = S>`, evaluated once per case;
//! `optional store:` gives `Option<S>` instead, and a case whose store is `None` returns at
//! once (a server that is not running: print why before returning `None`). A fresh store
//! is not required: every case uses stream ids, type names, checkpoint names and tables
//! private to its run, and looks only at its own, so a store shared between cases (and
//! between runs, as a database is) passes too.
//!
//! Payloads are JSON, and are compared as JSON values (not bytes), so a store may keep
//! them in a JSON column that normalises whitespace.

mod checkpoints;
mod dead_letters;
mod expected_versions;
mod idempotence;
mod inbox;
mod log;
mod open_sagas;
mod positions;
mod read_models;
mod records;
mod snapshots;
mod streams;
mod support;
mod temporal;

pub use self::checkpoints::*;
pub use self::dead_letters::*;
pub use self::expected_versions::*;
pub use self::idempotence::*;
pub use self::inbox::*;
pub use self::log::*;
pub use self::open_sagas::*;
pub use self::positions::*;
pub use self::read_models::*;
pub use self::records::*;
pub use self::snapshots::*;
pub use self::streams::*;
pub use self::temporal::*;

/// Generates a `#[tokio::test]` per case of the named suites, each running the case on a
/// store of its own (see the [module documentation](self)).
#[doc(hidden)]
#[macro_export]
macro_rules! __annals_conformance_suite {
    (store: $factory:expr, suites: [$($suite:ident),* $(,)?] $(,)?) => {
        $crate::testing::conformance_suite! {
            optional store: async { ::core::option::Option::Some($factory.await) },
            suites: [$($suite),*],
        }
    };
    (optional store: $factory:expr, suites: [$($suite:ident),* $(,)?] $(,)?) => {
        $( $crate::testing::conformance_suite!(@suite $suite ($factory)); )*
    };
    (@suite events ($factory:expr)) => {
        $crate::testing::conformance_suite!(@cases ($factory);
            append_with_no_stream_creates_the_stream,
            append_with_any_creates_the_stream,
            append_with_exact_zero_creates_the_stream,
            no_stream_conflicts_on_an_existing_stream,
            stream_exists_appends_to_an_existing_stream,
            stream_exists_conflicts_on_a_new_stream,
            exact_appends_at_the_current_version,
            exact_conflicts_on_a_stale_version,
            exact_conflicts_on_a_version_ahead,
            exact_conflicts_on_a_new_stream,
            exact_zero_conflicts_on_an_existing_stream,
            any_appends_to_an_existing_stream,
            conflict_writes_nothing_and_the_stream_continues_gap_free,
            concurrent_appends_with_one_expected_version_have_one_winner,
            an_impossible_expected_version_conflicts,
            a_resent_append_is_recorded_once_with_its_first_result,
            a_resent_event_at_a_known_version_reports_its_first_result,
            a_resent_append_with_any_is_recorded_once,
            an_event_id_stored_in_another_stream_is_refused,
            an_append_reusing_a_stored_id_is_refused_whole,
            an_id_twice_in_one_append_is_refused,
            located_events_are_where_they_were_appended,
            stream_versions_are_one_based_and_gap_free,
            first_event_of_an_empty_store_has_position_one,
            global_positions_increase_strictly_across_streams,
            append_positions_match_positions_read_back,
            read_stream_from_a_middle_version,
            visit_stream_sees_what_read_stream_returns,
            visit_stream_hands_the_first_events_id,
            visit_stream_respects_from_and_max_count,
            visit_stream_stops_when_the_visitor_breaks,
            read_stream_respects_max_count,
            read_stream_from_version_zero_reads_from_the_start,
            reads_past_the_end_are_empty,
            unknown_stream_is_empty_with_version_zero,
            read_all_from_a_position,
            read_all_respects_max_count,
            read_all_filters_by_event_type,
            read_all_max_count_counts_only_matching_events,
            read_all_filter_matching_nothing_is_empty,
            visit_all_sees_what_read_all_returns,
            visit_all_hands_over_each_envelope_whole,
            count_after_counts_what_read_all_returns,
            read_all_finds_sparse_events_far_apart,
            concurrent_writers_never_make_a_tailing_reader_skip_an_event,
            metadata_round_trips,
            event_id_type_and_schema_version_round_trip,
            recorded_at_is_set_and_shared_within_an_append,
            empty_append_is_rejected,
            empty_stream_id_is_rejected,
            one_mib_payload_round_trips,
            hostile_and_unicode_stream_ids_are_kept_verbatim_and_separate,
            ten_thousand_event_stream_reads_back_completely_in_order,
            head_position_is_zero_for_an_empty_log,
            head_position_tracks_appends,
            the_catalog_refuses_a_second_claimant,
            what_no_store_holds_is_refused_before_writing,
        );
    };
    (@suite snapshots ($factory:expr)) => {
        $crate::testing::conformance_suite!(@cases ($factory);
            unknown_stream_has_no_snapshot,
            no_snapshot_at_first,
            saved_snapshot_loads_back,
            later_snapshot_replaces_an_earlier_one,
            older_snapshot_does_not_replace_a_newer_one,
            snapshots_are_per_stream,
            temporal_load_at_each_version,
            temporal_load_as_of_a_time_between_appends,
        );
    };
    (@suite checkpoints ($factory:expr)) => {
        $crate::testing::conformance_suite!(@cases ($factory);
            a_missing_checkpoint_is_at_zero,
            a_checkpoint_moves_from_where_it_is,
            a_move_from_elsewhere_writes_nothing,
            a_checkpoint_goes_back_to_zero_for_a_rebuild,
            checkpoints_are_per_name,
            racing_moves_from_one_position_have_one_winner,
        );
    };
    (@suite dead_letters ($factory:expr)) => {
        $crate::testing::conformance_suite!(@cases ($factory);
            dead_letters_read_back_whole_per_owner,
            a_dead_letter_is_recorded_once,
            dead_letters_come_back_in_log_order,
            a_removed_dead_letter_is_gone,
        );
    };
    (@suite open_sagas ($factory:expr)) => {
        $crate::testing::conformance_suite!(@cases ($factory);
            an_open_saga_is_kept_once_and_replaced,
            due_sagas_come_soonest_first,
            a_forgotten_saga_is_gone,
        );
    };
    (@suite inboxes ($factory:expr)) => {
        $crate::testing::conformance_suite!(@cases ($factory);
            a_message_commits_its_statements_once,
            a_refused_statement_leaves_no_inbox_record,
        );
    };
    (@suite sql_read_models ($factory:expr)) => {
        $crate::testing::conformance_suite!(@cases ($factory);
            statements_commit_with_their_checkpoint,
            statements_run_in_order,
            a_batch_from_a_moved_checkpoint_commits_nothing,
            a_refused_statement_commits_nothing,
            a_reset_empties_the_model_and_rewinds_its_checkpoint,
            racing_batches_from_one_checkpoint_have_one_winner,
            views_switch_to_newer_versions_only,
            every_kind_of_value_binds_and_reads_back,
        );
    };
    (@cases ($factory:expr); $($case:ident),* $(,)?) => {
        $(
            #[::tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() {
                let ::core::option::Option::Some(store) = $factory.await else { return };
                $crate::testing::conformance::$case(store).await;
            }
        )*
    };
}

#[doc(inline)]
pub use crate::__annals_conformance_suite as conformance_suite;
