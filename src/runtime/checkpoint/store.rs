//! The state directory: checkpoint files written atomically, the last few kept.
//!
//! A checkpoint is written to a temporary file, fsynced, renamed to `chk-<id>.json` and the
//! directory fsynced: a reader (the next start) sees either the whole file or none of it,
//! whatever moment the process dies at.

use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};

use super::{Checkpoint, FORMAT};
use crate::error::{Error, Result};

/// How many complete checkpoints are kept.
pub const KEEP: usize = 3;

/// Checkpoint files in one state directory.
#[derive(Debug, Clone)]
pub struct CheckpointStore {
    dir: PathBuf,
}

fn io(what: &str, path: &Path, e: std::io::Error) -> Error {
    Error::external(format!("{what} '{}': {e}", path.display()))
}

impl CheckpointStore {
    /// Opens (creating it if needed) the state directory `dir`.
    pub fn open(dir: impl Into<PathBuf>) -> Result<Self> {
        let dir = dir.into();
        fs::create_dir_all(&dir).map_err(|e| io("cannot create state directory", &dir, e))?;
        Ok(CheckpointStore { dir })
    }

    /// The state directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Ids of the complete checkpoints, oldest first. Temporary files are not listed.
    pub fn ids(&self) -> Result<Vec<u64>> {
        let entries = fs::read_dir(&self.dir).map_err(|e| io("cannot read state directory", &self.dir, e))?;
        let mut ids: Vec<u64> = entries
            .filter_map(|e| e.ok())
            .filter_map(|e| {
                let name = e.file_name().into_string().ok()?;
                name.strip_prefix("chk-")?.strip_suffix(".json")?.parse().ok()
            })
            .collect();
        ids.sort_unstable();
        Ok(ids)
    }

    fn path(&self, id: u64) -> PathBuf {
        self.dir.join(format!("chk-{id:010}.json"))
    }

    /// Writes `checkpoint` atomically, then deletes all but the newest [`KEEP`] checkpoints
    /// and any temporary file a crash left behind.
    pub fn write(&self, checkpoint: &Checkpoint) -> Result<()> {
        let tmp = self.dir.join(format!(".chk-{:010}.json.tmp", checkpoint.id));
        let bytes = serde_json::to_vec(checkpoint)
            .map_err(|e| Error::internal(format!("cannot encode checkpoint {}: {e}", checkpoint.id)))?;
        let mut file = File::create(&tmp).map_err(|e| io("cannot create", &tmp, e))?;
        file.write_all(&bytes).map_err(|e| io("cannot write", &tmp, e))?;
        file.sync_all().map_err(|e| io("cannot sync", &tmp, e))?;
        drop(file);
        let path = self.path(checkpoint.id);
        fs::rename(&tmp, &path).map_err(|e| io("cannot rename", &tmp, e))?;
        sync_dir(&self.dir)?;
        let ids = self.ids()?;
        for old in ids.iter().take(ids.len().saturating_sub(KEEP)) {
            let _ = fs::remove_file(self.path(*old));
        }
        if let Ok(entries) = fs::read_dir(&self.dir) {
            for e in entries.filter_map(|e| e.ok()) {
                let name = e.file_name().to_string_lossy().into_owned();
                if name.starts_with(".chk-") && name.ends_with(".tmp") && e.path() != tmp {
                    let _ = fs::remove_file(e.path());
                }
            }
        }
        Ok(())
    }

    /// The newest checkpoint that can be read, if any.
    ///
    /// An unreadable newest checkpoint (damaged, or written by a build with another
    /// [`FORMAT`]) is skipped with a warning on stderr in favour of the previous one. If there
    /// are checkpoints but none can be read, this is an error naming the newest one and why:
    /// starting from scratch would silently throw away the job's progress (and a file sink's
    /// committed output).
    pub fn latest(&self) -> Result<Option<Checkpoint>> {
        let ids = self.ids()?;
        let mut newest_error = None;
        for id in ids.iter().rev() {
            let path = self.path(*id);
            let bytes = fs::read(&path).map_err(|e| io("cannot read", &path, e))?;
            match decode(&bytes) {
                Ok(c) => return Ok(Some(c)),
                Err(why) => {
                    tracing::warn!("skipping unreadable checkpoint '{}': {why}", path.display());
                    newest_error.get_or_insert((path, why));
                }
            }
        }
        match newest_error {
            None => Ok(None),
            Some((path, why)) => Err(Error::external(format!(
                "no checkpoint in '{}' can be read (the newest, '{}': {why}); delete the state directory \
                 (or move its chk-* files away) to start the job from scratch",
                self.dir.display(),
                path.display()
            ))),
        }
    }
}

/// Decodes a checkpoint file; the error says why it cannot be used.
pub fn decode(bytes: &[u8]) -> std::result::Result<Checkpoint, String> {
    /// Just the layout version, to explain a file of another format.
    #[derive(serde::Deserialize)]
    struct Probe {
        format: Option<u32>,
    }
    match serde_json::from_slice::<Probe>(bytes) {
        Err(e) => return Err(format!("not a checkpoint file ({e})")),
        Ok(Probe { format: None }) => {
            return Err(format!(
                "written by an older wavecrest (checkpoint format 1; this build reads format {FORMAT})"
            ))
        }
        Ok(Probe { format: Some(f) }) if f != FORMAT => {
            return Err(format!("checkpoint format {f}; this build reads format {FORMAT}"))
        }
        Ok(_) => {}
    }
    serde_json::from_slice::<Checkpoint>(bytes).map_err(|e| format!("damaged checkpoint ({e})"))
}

/// Makes a rename in `dir` durable.
pub fn sync_dir(dir: &Path) -> Result<()> {
    #[cfg(unix)]
    File::open(dir).and_then(|d| d.sync_all()).map_err(|e| io("cannot sync", dir, e))?;
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn checkpoint(id: u64) -> Checkpoint {
        let mut c = Checkpoint { id, fingerprint: "plan".into(), ..Default::default() };
        c.sinks.insert(0, id.to_le_bytes().to_vec());
        c
    }

    #[test]
    fn keeps_the_last_three_and_reads_the_newest() {
        let dir = tempfile::tempdir().unwrap();
        let store = CheckpointStore::open(dir.path().join("state")).unwrap();
        assert_eq!(store.latest().unwrap(), None);
        for id in 1..=5 {
            store.write(&checkpoint(id)).unwrap();
        }
        assert_eq!(store.ids().unwrap(), vec![3, 4, 5]);
        assert_eq!(store.latest().unwrap(), Some(checkpoint(5)));
    }

    #[test]
    fn a_torn_write_is_never_read() {
        let dir = tempfile::tempdir().unwrap();
        let store = CheckpointStore::open(dir.path()).unwrap();
        store.write(&checkpoint(1)).unwrap();
        // A crash in the middle of writing checkpoint 2 leaves only its temporary file.
        fs::write(dir.path().join(".chk-0000000002.json.tmp"), b"{\"id\":2,\"finger").unwrap();
        assert_eq!(store.ids().unwrap(), vec![1]);
        assert_eq!(store.latest().unwrap(), Some(checkpoint(1)));
        store.write(&checkpoint(3)).unwrap();
        let names: Vec<String> =
            fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
        assert!(!names.iter().any(|n| n.ends_with(".tmp")), "leftover temporary files are removed: {names:?}");
    }

    #[test]
    fn an_unreadable_newest_checkpoint_falls_back_to_the_previous() {
        let dir = tempfile::tempdir().unwrap();
        let store = CheckpointStore::open(dir.path()).unwrap();
        store.write(&checkpoint(1)).unwrap();
        fs::write(dir.path().join("chk-0000000002.json"), b"not json").unwrap();
        assert_eq!(store.latest().unwrap(), Some(checkpoint(1)));
    }

    #[test]
    fn byte_fields_are_base64_and_the_file_is_compact() {
        let dir = tempfile::tempdir().unwrap();
        let store = CheckpointStore::open(dir.path()).unwrap();
        let mut c = checkpoint(1);
        c.sinks.insert(1, vec![200; 3000]);
        store.write(&c).unwrap();
        let text = fs::read_to_string(dir.path().join("chk-0000000001.json")).unwrap();
        // 3 000 bytes: 4 000 base64 characters, not about 12 000 for a list of numbers.
        assert!(text.len() < 4_200, "{} bytes", text.len());
        assert!(text.contains(r#""format":2"#), "{text}");
        assert_eq!(store.latest().unwrap(), Some(c));
    }

    #[test]
    fn only_unreadable_checkpoints_are_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let store = CheckpointStore::open(dir.path()).unwrap();
        // Format 1: no format field, bytes as lists of numbers.
        let old = r#"{"id":3,"fingerprint":"plan","finished":false,"sources":{},"workers":{},"sinks":{"0":[3,0]}}"#;
        fs::write(dir.path().join("chk-0000000003.json"), old).unwrap();
        let e = store.latest().unwrap_err().to_string();
        assert!(e.contains("no checkpoint in") && e.contains("chk-0000000003.json"), "{e}");
        assert!(e.contains("older wavecrest (checkpoint format 1"), "{e}");
        fs::write(dir.path().join("chk-0000000004.json"), r#"{"format":2,"id":4}"#).unwrap();
        let e = store.latest().unwrap_err().to_string();
        assert!(e.contains("chk-0000000004.json': damaged checkpoint (missing field"), "{e}");
        fs::write(dir.path().join("chk-0000000005.json"), r#"{"format":9}"#).unwrap();
        let e = store.latest().unwrap_err().to_string();
        assert!(e.contains("checkpoint format 9; this build reads format 2"), "{e}");
    }
}
