//! Directory trees: every regular file under a root, read whole and scanned in parallel.

use std::collections::HashSet;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::Ordering;

use rayon::prelude::*;

use crate::engine::{BlobScan, Counters, Progress, ScanError, Scanner};
use crate::finding::{Finding, ScanOutput};

/// Directory-scan settings.
#[derive(Debug, Clone, Default)]
pub struct DirOptions {
    /// Follow symbolic links to files and directories; loops are detected and skipped.
    pub follow_symlinks: bool,
    /// Also descend into `.git` directories (their packed content is unreadable as text anyway).
    pub include_git_dir: bool,
}

struct Entry {
    path: PathBuf,
    rel: String,
    size: u64,
}

impl Scanner {
    /// Scans every regular file below `root` (or `root` itself when it is a file).
    ///
    /// # Errors
    /// If `root` cannot be read at all. Unreadable files below it are counted and noted.
    pub fn scan_directory(
        &self,
        root: &Path,
        opts: &DirOptions,
        progress: &dyn Progress,
    ) -> Result<ScanOutput, ScanError> {
        let meta = fs::metadata(root).map_err(|source| ScanError::Io {
            path: root.display().to_string(),
            source,
        })?;
        let mut notes = Vec::new();
        let mut files = Vec::new();
        let counters = Counters::default();
        if meta.is_file() {
            let rel = root.file_name().map_or_else(
                || root.display().to_string(),
                |n| n.to_string_lossy().into_owned(),
            );
            files.push(Entry {
                path: root.to_path_buf(),
                rel,
                size: meta.len(),
            });
        } else {
            let mut visited = HashSet::new();
            if let Ok(canon) = fs::canonicalize(root) {
                visited.insert(canon);
            }
            walk(root, root, opts, &mut visited, &mut files, &mut notes, &counters);
        }
        files.sort_by(|a, b| a.rel.cmp(&b.rel));
        progress.set_total(files.len() as u64);

        let max = self.options().max_blob_size;
        let notes = Mutex::new(notes);
        let findings: Vec<Finding> = files
            .par_iter()
            .with_min_len(16)
            .flat_map_iter(|entry| {
                let found = self.scan_file(entry, max, &counters, &notes);
                progress.blob_done(entry.size);
                found
            })
            .collect();
        let mut out = ScanOutput {
            findings,
            stats: counters.snapshot(),
            notes: notes
                .into_inner()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        };
        out.dedupe();
        Ok(out)
    }

    fn scan_file(
        &self,
        entry: &Entry,
        max: u64,
        counters: &Counters,
        notes: &Mutex<Vec<String>>,
    ) -> Vec<Finding> {
        let note = |msg: String| {
            notes
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .push(msg)
        };
        if entry.size > max {
            counters.too_large_skipped.fetch_add(1, Ordering::Relaxed);
            note(format!(
                "skipped {} ({} bytes, over the {max}-byte cap)",
                entry.rel, entry.size
            ));
            return Vec::new();
        }
        let data = match fs::read(&entry.path) {
            Ok(d) => d,
            Err(e) => {
                counters.unreadable.fetch_add(1, Ordering::Relaxed);
                note(format!("unreadable: {}: {e}", entry.rel));
                return Vec::new();
            }
        };
        match self.scan_blob(&data) {
            BlobScan::Binary => {
                counters.binary_skipped.fetch_add(1, Ordering::Relaxed);
                Vec::new()
            }
            BlobScan::Scanned(matches) => {
                counters.blobs_scanned.fetch_add(1, Ordering::Relaxed);
                counters
                    .bytes_scanned
                    .fetch_add(data.len() as u64, Ordering::Relaxed);
                matches
                    .iter()
                    .map(|m| {
                        Finding::from_match(
                            &self.rules().rules()[m.rule],
                            m,
                            Some(entry.rel.clone()),
                            None,
                            None,
                        )
                    })
                    .collect()
            }
        }
    }
}

fn walk(
    root: &Path,
    dir: &Path,
    opts: &DirOptions,
    visited: &mut HashSet<PathBuf>,
    files: &mut Vec<Entry>,
    notes: &mut Vec<String>,
    counters: &Counters,
) {
    let rel_of = |p: &Path| {
        p.strip_prefix(root)
            .unwrap_or(p)
            .to_string_lossy()
            .replace('\\', "/")
    };
    let entries = match fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) => {
            counters.unreadable.fetch_add(1, Ordering::Relaxed);
            notes.push(format!("unreadable directory: {}: {e}", rel_of(dir)));
            return;
        }
    };
    let mut children: Vec<_> = entries.filter_map(Result::ok).collect();
    children.sort_by_key(fs::DirEntry::file_name);
    for child in children {
        let path = child.path();
        let Ok(ft) = child.file_type() else {
            counters.unreadable.fetch_add(1, Ordering::Relaxed);
            continue;
        };
        if ft.is_dir() {
            if child.file_name() == ".git" && !opts.include_git_dir {
                continue;
            }
            if opts.follow_symlinks
                && let Ok(canon) = fs::canonicalize(&path)
            {
                visited.insert(canon);
            }
            walk(root, &path, opts, visited, files, notes, counters);
        } else if ft.is_file() {
            let size = child.metadata().map(|m| m.len()).unwrap_or(0);
            files.push(Entry {
                rel: rel_of(&path),
                path,
                size,
            });
        } else if ft.is_symlink() && opts.follow_symlinks {
            let Ok(target) = fs::canonicalize(&path) else {
                notes.push(format!("dangling or looping symlink skipped: {}", rel_of(&path)));
                continue;
            };
            let Ok(meta) = fs::metadata(&target) else { continue };
            if meta.is_dir() {
                // A directory reached twice (a loop, or two links to one place) is walked once.
                if visited.insert(target) {
                    walk(root, &path, opts, visited, files, notes, counters);
                } else {
                    notes.push(format!(
                        "symlink loop or repeated directory skipped: {}",
                        rel_of(&path)
                    ));
                }
            } else if meta.is_file() {
                files.push(Entry {
                    rel: rel_of(&path),
                    path,
                    size: meta.len(),
                });
            }
        }
    }
}
