//! Reading a file sink's directory back (docs/reference.md §7): the records under `DIR`
//! (every `*.json` except those under `DIR/checkpoints`) and the checkpoints under
//! `DIR/checkpoints`, read and parsed on every core.

use std::path::{Path, PathBuf};

use super::CHECKPOINT_DIR;
use super::verify::{ChainObjects, CheckpointObject, Finding, parse_record};

#[derive(Debug, thiserror::Error)]
#[error("cannot read {path}: {error}")]
pub struct SourceError {
    pub path: String,
    pub error: std::io::Error,
}

fn source_error(path: &Path, error: std::io::Error) -> SourceError {
    SourceError {
        path: path.display().to_string(),
        error,
    }
}

/// Every `*.json` file under `root`, leaving out the directory `skip`.
///
/// # Errors
/// When a directory cannot be listed.
pub fn json_files(root: &Path, skip: Option<&Path>) -> Result<Vec<PathBuf>, SourceError> {
    let mut files = Vec::new();
    let mut pending = vec![root.to_path_buf()];
    while let Some(directory) = pending.pop() {
        let entries = match std::fs::read_dir(&directory) {
            Ok(entries) => entries,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound && directory != root => {
                continue;
            }
            Err(error) => return Err(source_error(&directory, error)),
        };
        for entry in entries {
            let entry = entry.map_err(|error| source_error(&directory, error))?;
            let path = entry.path();
            let kind = entry
                .file_type()
                .map_err(|error| source_error(&path, error))?;
            if kind.is_dir() {
                if Some(path.as_path()) != skip {
                    pending.push(path);
                }
            } else if path
                .extension()
                .is_some_and(|extension| extension == "json")
            {
                files.push(path);
            }
        }
    }
    files.sort_unstable();
    Ok(files)
}

/// `work` over `items` on every core, results in item order. Plain scoped threads over
/// contiguous chunks: the work is CPU- and small-file-bound and needs no scheduler.
pub fn parallel_map<T, R, F>(items: &[T], work: F) -> Vec<R>
where
    T: Sync,
    R: Send,
    F: Fn(&T) -> R + Sync,
{
    let threads = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
    let chunk = items.len().div_ceil(threads).max(1);
    std::thread::scope(|scope| {
        let handles: Vec<_> = items
            .chunks(chunk)
            .map(|part| scope.spawn(|| part.iter().map(&work).collect::<Vec<R>>()))
            .collect();
        handles
            .into_iter()
            .flat_map(|handle| handle.join().unwrap_or_default())
            .collect()
    })
}

/// The records of a file sink's directory as chain links, and its checkpoints.
///
/// # Errors
/// When the directory cannot be listed. A file that cannot be read is a finding, not an
/// error.
pub fn read_directory(dir: &Path) -> Result<ChainObjects, SourceError> {
    if !dir.is_dir() {
        return Err(source_error(
            dir,
            std::io::Error::new(std::io::ErrorKind::NotFound, "not a directory"),
        ));
    }
    let checkpoint_dir = dir.join(CHECKPOINT_DIR);
    let records = json_files(dir, Some(&checkpoint_dir))?;
    let links = parallel_map(&records, |path| {
        let object = path.display().to_string();
        match std::fs::read(path) {
            Ok(bytes) => parse_record(object, &bytes),
            Err(error) => Err(Finding::Unreadable {
                object,
                reason: error.to_string(),
            }),
        }
    });
    let checkpoint_files = json_files(&checkpoint_dir, None).or_else(|error| {
        if checkpoint_dir.exists() {
            Err(error)
        } else {
            Ok(Vec::new())
        }
    })?;
    let checkpoints = checkpoint_files
        .iter()
        .map(|path| {
            Ok(CheckpointObject {
                object: path.display().to_string(),
                body: std::fs::read(path).map_err(|error| source_error(path, error))?,
            })
        })
        .collect::<Result<Vec<_>, SourceError>>()?;
    Ok((links, checkpoints))
}

/// The record bodies of a file sink's directory (for `audit query`), each with its path.
///
/// # Errors
/// When the directory cannot be listed or a file read.
pub fn read_record_bodies(dir: &Path) -> Result<Vec<(String, Vec<u8>)>, SourceError> {
    if !dir.is_dir() {
        return Err(source_error(
            dir,
            std::io::Error::new(std::io::ErrorKind::NotFound, "not a directory"),
        ));
    }
    let records = json_files(dir, Some(&dir.join(CHECKPOINT_DIR)))?;
    parallel_map(&records, |path| {
        std::fs::read(path)
            .map(|bytes| (path.display().to_string(), bytes))
            .map_err(|error| source_error(path, error))
    })
    .into_iter()
    .collect()
}
