//! The in-memory dead letters.

use async_trait::async_trait;
use uuid::Uuid;

use super::InMemoryStore;
use crate::store::{DeadLetter, DeadLetterStore, StoreError};

#[async_trait]
impl DeadLetterStore for InMemoryStore {
    async fn add_dead_letter(&self, letter: &DeadLetter) -> Result<bool, StoreError> {
        let mut state = self.write();
        let taken = state.dead_letters.iter().any(|kept| {
            kept.owner == letter.owner
                && ((letter.position.is_some() && kept.position == letter.position)
                    || (letter.message_id.is_some() && kept.message_id == letter.message_id))
        });
        if !taken {
            state.dead_letters.push(letter.clone());
        }
        Ok(!taken)
    }

    async fn dead_letters(&self, owner: &str) -> Result<Vec<DeadLetter>, StoreError> {
        let mut letters: Vec<DeadLetter> = self
            .read()
            .dead_letters
            .iter()
            .filter(|letter| letter.owner == owner)
            .cloned()
            .collect();
        letters.sort_by_key(|letter| (letter.position, letter.recorded_at, letter.id));
        Ok(letters)
    }

    async fn remove_dead_letter(&self, owner: &str, id: Uuid) -> Result<bool, StoreError> {
        let mut state = self.write();
        let before = state.dead_letters.len();
        state
            .dead_letters
            .retain(|letter| !(letter.owner == owner && letter.id == id));
        Ok(state.dead_letters.len() < before)
    }
}
