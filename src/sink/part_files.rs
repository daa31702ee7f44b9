//! Part files of an exactly-once file sink: output between two checkpoints goes to a hidden
//! pending part, renamed to its final name only once the checkpoint covering it completes.
//!
//! ```text
//! rows ──▶ .part-000003.csv.pending ──barrier: flush, fsync, close──▶ (prepared)
//!          checkpoint 7 written (sink state: next part = 4) ──commit──▶ part-000003.csv
//! restart from checkpoint 7: pending parts < 4 are renamed (the commit may not have run),
//! parts >= 4 are deleted (their rows will be produced again)
//! ```
//!
//! The committed output is the concatenation of `part-*` files in name order.

use std::fs::{self, File};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::runtime::checkpoint::store::sync_dir;

/// Buffer size of a part file writer.
const BUFFER_BYTES: usize = 1 << 20;

/// The part files of one sink folder.
#[derive(Debug)]
pub struct PartFiles {
    dir: PathBuf,
    ext: String,
    header: Option<String>,
    next_seq: u64,
    open: Option<BufWriter<File>>,
    prepared: Vec<u64>,
    restored: bool,
}

fn io(what: &str, path: &Path, e: std::io::Error) -> Error {
    Error::external(format!("{what} '{}': {e}", path.display()))
}

impl PartFiles {
    /// Part files `part-NNNNNN.<ext>` in `dir`, each starting with `header` if given.
    /// Nothing is touched before [`PartFiles::restore`].
    pub fn new(dir: PathBuf, ext: &str, header: Option<String>) -> Self {
        PartFiles { dir, ext: ext.to_string(), header, next_seq: 0, open: None, prepared: Vec::new(), restored: false }
    }

    /// The visible name of part `seq`.
    pub fn final_path(&self, seq: u64) -> PathBuf {
        self.dir.join(format!("part-{seq:06}.{}", self.ext))
    }

    fn pending_path(&self, seq: u64) -> PathBuf {
        self.dir.join(format!(".part-{seq:06}.{}.pending", self.ext))
    }

    /// `(seq, pending)` if `name` is one of this sink's part files.
    fn parse(&self, name: &str) -> Option<(u64, bool)> {
        let (digits, pending) = match name.strip_prefix(".part-") {
            Some(rest) => (rest.strip_suffix(".pending")?.strip_suffix(&format!(".{}", self.ext))?, true),
            None => (name.strip_prefix("part-")?.strip_suffix(&format!(".{}", self.ext))?, false),
        };
        (!digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()))
            .then(|| digits.parse().ok())
            .flatten()
            .map(|s| (s, pending))
    }

    /// Appends bytes to the current pending part (opened on first use).
    pub fn write(&mut self, bytes: &[u8]) -> Result<()> {
        if !self.restored {
            return Err(Error::internal("exactly-once file sink written before restore"));
        }
        if self.open.is_none() {
            let path = self.pending_path(self.next_seq);
            let file = File::create(&path).map_err(|e| io("cannot create", &path, e))?;
            let mut w = BufWriter::with_capacity(BUFFER_BYTES, file);
            if let Some(h) = &self.header {
                w.write_all(h.as_bytes()).map_err(|e| io("cannot write", &path, e))?;
            }
            self.open = Some(w);
        }
        let path = self.pending_path(self.next_seq);
        let w = self.open.as_mut().ok_or_else(|| Error::internal("no open part"))?;
        w.write_all(bytes).map_err(|e| io("cannot write", &path, e))
    }

    /// Closes the current part durably (flush, fsync) and returns the state to commit: the
    /// number of the next part.
    pub fn prepare(&mut self) -> Result<Vec<u8>> {
        if let Some(w) = self.open.take() {
            let path = self.pending_path(self.next_seq);
            let file = w.into_inner().map_err(|e| io("cannot write", &path, e.into_error()))?;
            file.sync_all().map_err(|e| io("cannot sync", &path, e))?;
            self.prepared.push(self.next_seq);
            self.next_seq += 1;
        }
        Ok(self.next_seq.to_le_bytes().to_vec())
    }

    /// Makes every prepared part before the one `state` names visible.
    pub fn commit(&mut self, state: &[u8]) -> Result<()> {
        let upto = crate::connectors::offset_word(state, 0)?;
        let (done, later): (Vec<u64>, Vec<u64>) = self.prepared.iter().partition(|s| **s < upto);
        for seq in &done {
            let (from, to) = (self.pending_path(*seq), self.final_path(*seq));
            fs::rename(&from, &to).map_err(|e| io("cannot rename", &from, e))?;
        }
        self.prepared = later;
        if !done.is_empty() {
            sync_dir(&self.dir)?;
        }
        Ok(())
    }

    /// Brings the folder to the state of a checkpoint: parts it covers are visible (pending
    /// ones renamed), later parts are deleted. `None` (start from scratch) deletes every part.
    pub fn restore(&mut self, state: Option<&[u8]>) -> Result<()> {
        let upto = match state {
            Some(s) => crate::connectors::offset_word(s, 0)?,
            None => 0,
        };
        fs::create_dir_all(&self.dir).map_err(|e| io("cannot create directory", &self.dir, e))?;
        let entries = fs::read_dir(&self.dir).map_err(|e| io("cannot read directory", &self.dir, e))?;
        for entry in entries.filter_map(|e| e.ok()) {
            let name = entry.file_name().to_string_lossy().into_owned();
            let Some((seq, pending)) = self.parse(&name) else { continue };
            if seq >= upto {
                fs::remove_file(entry.path()).map_err(|e| io("cannot delete", &entry.path(), e))?;
            } else if pending {
                let to = self.final_path(seq);
                fs::rename(entry.path(), &to).map_err(|e| io("cannot rename", &entry.path(), e))?;
            }
        }
        sync_dir(&self.dir)?;
        self.next_seq = upto;
        self.restored = true;
        Ok(())
    }

    /// Flushes the open part, which stays pending (its rows are not covered by a checkpoint).
    pub fn finish(&mut self) -> Result<()> {
        if let Some(mut w) = self.open.take() {
            w.flush().map_err(|e| io("cannot write", &self.pending_path(self.next_seq), e))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(dir: &Path) -> Vec<String> {
        let mut v: Vec<String> =
            fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
        v.sort();
        v
    }

    #[test]
    fn parts_become_visible_at_commit_and_restore_rolls_forward_or_back() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("part-000000.csv"), "from an old run\n").unwrap();
        std::fs::write(dir.path().join("notes.txt"), "not ours\n").unwrap();
        let mut p = PartFiles::new(dir.path().to_path_buf(), "csv", Some("a\n".into()));
        p.restore(None).unwrap();
        assert_eq!(names(dir.path()), ["notes.txt"], "a fresh start removes old parts only");
        p.write(b"1\n").unwrap();
        let s1 = p.prepare().unwrap();
        p.write(b"2\n").unwrap();
        let s2 = p.prepare().unwrap();
        assert_eq!(p.prepare().unwrap(), s2, "an empty interval makes no part");
        p.write(b"3\n").unwrap();
        p.commit(&s1).unwrap();
        assert_eq!(
            names(dir.path()),
            [".part-000001.csv.pending", ".part-000002.csv.pending", "notes.txt", "part-000000.csv"]
        );
        assert_eq!(fs::read_to_string(dir.path().join("part-000000.csv")).unwrap(), "a\n1\n");
        p.finish().unwrap();
        // Crash; the checkpoint holding s2 was written but its commit did not run.
        let mut q = PartFiles::new(dir.path().to_path_buf(), "csv", Some("a\n".into()));
        q.restore(Some(&s2)).unwrap();
        assert_eq!(names(dir.path()), ["notes.txt", "part-000000.csv", "part-000001.csv"]);
        q.write(b"3\n").unwrap();
        q.prepare().unwrap();
        // Crash before that checkpoint: restoring s1 drops part 1 and the pending part 2.
        let mut r = PartFiles::new(dir.path().to_path_buf(), "csv", None);
        r.restore(Some(&s1)).unwrap();
        assert_eq!(names(dir.path()), ["notes.txt", "part-000000.csv"]);
    }
}
