//! Reading the query folder: which pipelines there are and what their files say.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// One query file as last read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueryFile {
    /// Its path.
    pub path: PathBuf,
    /// Its text, or why it could not be read (reported as the pipeline's error).
    pub text: std::result::Result<String, String>,
}

/// Every `*.sql` file directly in `dir` (not in sub-folders; names starting with `.` are
/// skipped, like editors' temporary files), by pipeline name (the file name without
/// `.sql`). Fails only if the folder itself cannot be read.
pub fn scan(dir: &Path) -> Result<BTreeMap<String, QueryFile>> {
    let entries = std::fs::read_dir(dir)
        .map_err(|e| Error::external(format!("cannot read the folder '{}': {e}", dir.display())))?;
    let mut files = BTreeMap::new();
    for entry in entries.flatten() {
        let path = entry.path();
        let Some(name) = pipeline_name(&path) else { continue };
        if !path.is_file() {
            continue;
        }
        let text = std::fs::read_to_string(&path).map_err(|e| format!("cannot read '{}': {e}", path.display()));
        files.insert(name, QueryFile { path, text });
    }
    Ok(files)
}

/// The pipeline name of a query file: its name without `.sql`, if it is one.
fn pipeline_name(path: &Path) -> Option<String> {
    let file = path.file_name()?.to_str()?;
    let name = file.strip_suffix(".sql")?;
    (!name.is_empty() && !name.starts_with('.')).then(|| name.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_sql_files_at_the_top_level_count() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a.sql"), "SELECT 1").unwrap();
        std::fs::write(dir.path().join("notes.txt"), "x").unwrap();
        std::fs::write(dir.path().join(".b.sql"), "x").unwrap();
        std::fs::create_dir(dir.path().join("c.sql")).unwrap();
        std::fs::create_dir(dir.path().join("sub")).unwrap();
        std::fs::write(dir.path().join("sub/d.sql"), "x").unwrap();
        let files = scan(dir.path()).unwrap();
        assert_eq!(files.keys().collect::<Vec<_>>(), vec!["a"]);
        assert_eq!(files["a"].text.as_deref(), Ok("SELECT 1"));
        assert!(scan(&dir.path().join("missing")).unwrap_err().message.contains("cannot read the folder"));
    }
}
