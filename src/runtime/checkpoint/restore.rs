//! Choosing what a starting job resumes from.

use super::store::CheckpointStore;
use super::Checkpoint;
use crate::error::Result;

/// How a checkpointed job starts.
#[derive(Debug)]
pub enum Start {
    /// No usable checkpoint: from the beginning of every source. Checkpoint ids start at
    /// `next_id`.
    Fresh {
        /// First checkpoint id to use.
        next_id: u64,
    },
    /// From this checkpoint.
    Resume(Checkpoint),
}

/// Reads the newest checkpoint of `store` and decides: resume it if it was taken by the same
/// job (`fingerprint`: plans, tables and parallelism), else start from scratch with a warning on
/// stderr, as the old state cannot be mapped onto different operators.
pub fn decide(store: &CheckpointStore, fingerprint: &str) -> Result<Start> {
    let next_id = store.ids()?.last().map_or(1, |id| id + 1);
    match store.latest()? {
        None => Ok(Start::Fresh { next_id }),
        Some(c) if c.fingerprint == fingerprint => Ok(Start::Resume(c)),
        Some(c) => {
            tracing::warn!(
                "the queries, their tables or their parallelism changed since checkpoint {} in '{}': \
                 starting from scratch",
                c.id,
                store.dir().display()
            );
            Ok(Start::Fresh { next_id })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_changed_plan_starts_from_scratch_after_the_old_ids() {
        let dir = tempfile::tempdir().unwrap();
        let store = CheckpointStore::open(dir.path()).unwrap();
        assert!(matches!(decide(&store, "a").unwrap(), Start::Fresh { next_id: 1 }));
        store.write(&Checkpoint { id: 4, fingerprint: "a".into(), ..Default::default() }).unwrap();
        assert!(matches!(decide(&store, "a").unwrap(), Start::Resume(c) if c.id == 4));
        assert!(matches!(decide(&store, "b").unwrap(), Start::Fresh { next_id: 5 }));
    }
}
