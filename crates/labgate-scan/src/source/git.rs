//! Git history read straight from the object database with gix.
//!
//! Three passes, so that the expensive middle one parallelises and the other two stay cheap:
//! 1. enumerate blobs reachable from every ref (or every object with `all_objects`), each id once;
//! 2. scan the blobs in parallel, each thread with its own repository handle and pack caches;
//! 3. only for blobs with findings, walk commits oldest first to find where each was introduced.
//!
//! Commit and annotated-tag messages are scanned during the first pass, where each commit and
//! tag is parsed anyway: people paste tokens into messages, and those never reach a blob.

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::Mutex;
use std::sync::atomic::Ordering;

use gix::ObjectId;
use gix::objs::{Find as _, FindHeader as _};
use rayon::prelude::*;

use crate::engine::{BlobMatch, BlobScan, Counters, Progress, ScanError, Scanner};
use crate::finding::{CommitInfo, Finding, ScanOutput, TagInfo};

/// History-scan settings.
#[derive(Debug, Clone, Default)]
pub struct GitOptions {
    /// Also scan objects no ref reaches (dangling commits, dropped stashes, leftovers in packs).
    pub all_objects: bool,
}

fn git_err(context: &str, e: impl std::fmt::Display) -> ScanError {
    ScanError::Git(format!("{context}: {e}"))
}

/// True when `path` is a git repository (bare or with a working tree).
#[must_use]
pub fn is_repository(path: &Path) -> bool {
    path.join(".git").exists() || (path.join("objects").is_dir() && path.join("HEAD").is_file())
}

type BlobHits = (ObjectId, Vec<BlobMatch>);

struct CommitNode {
    id: ObjectId,
    time: i64,
    parents: Vec<ObjectId>,
}

struct Enumerated {
    blobs: Vec<ObjectId>,
    /// Every reachable commit with its committer time and parents.
    commits: Vec<CommitNode>,
    refs: u64,
    /// Findings in commit and tag messages.
    messages: Vec<Finding>,
}

impl Scanner {
    /// Scans the full history of the repository at `path`.
    ///
    /// # Errors
    /// If the path is not a repository, the repository is shallow, or an object that history
    /// refers to is missing or corrupt.
    pub fn scan_repository(
        &self,
        path: &Path,
        opts: &GitOptions,
        progress: &dyn Progress,
    ) -> Result<ScanOutput, ScanError> {
        let mut repo = gix::open_opts(path, gix::open::Options::isolated())
            .map_err(|e| git_err(&format!("{} is not a readable git repository", path.display()), e))?;
        cap_caches(&mut repo);
        if repo.is_shallow().unwrap_or(false) {
            return Err(ScanError::Git(format!(
                "{} is a shallow clone: its history is incomplete. Fetch the full history \
                 (git fetch --unshallow) or scan the working tree with --no-history",
                path.display()
            )));
        }
        let mut notes = Vec::new();
        let enumerated = enumerate_reachable(self, &repo)?;
        let mut blobs = enumerated.blobs;
        if opts.all_objects {
            let before = blobs.len();
            let mut seen: HashSet<ObjectId> = blobs.iter().copied().collect();
            let iter = repo.objects.iter().map_err(|e| git_err("listing objects", e))?;
            for id in iter {
                let id = id.map_err(|e| git_err("listing objects", e))?;
                if seen.contains(&id) {
                    continue;
                }
                let header = repo
                    .objects
                    .try_header(&id)
                    .map_err(|e| git_err(&format!("reading object {id}"), e))?;
                if header.is_some_and(|h| h.kind == gix::object::Kind::Blob) {
                    seen.insert(id);
                    blobs.push(id);
                }
            }
            if blobs.len() > before {
                notes.push(format!("{} unreachable blob(s) scanned", blobs.len() - before));
            }
        }
        if enumerated.refs == 0 && blobs.is_empty() {
            notes.push("repository is empty: no refs and no commits".to_owned());
        }
        order_by_pack_offset(&repo, &mut blobs);
        progress.set_total(blobs.len() as u64);

        let counters = Counters::default();
        let skipped = Mutex::new(Vec::new());
        let matched = self.scan_blobs(&repo, &blobs, &counters, &skipped, progress)?;
        notes.extend(
            skipped
                .into_inner()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        );

        let targets: HashSet<ObjectId> = matched.iter().map(|(id, _)| *id).collect();
        let places = if targets.is_empty() {
            HashMap::new()
        } else {
            attribute(&repo, &enumerated.commits, &targets)?
        };
        let rules = self.rules().rules();
        let mut findings = Vec::new();
        for (id, matches) in &matched {
            let blob = Some(id.to_string());
            match places.get(id) {
                Some(locs) if !locs.is_empty() => {
                    for (path, commit) in locs {
                        findings.extend(matches.iter().map(|m| {
                            Finding::from_match(
                                &rules[m.rule],
                                m,
                                Some(path.clone()),
                                blob.clone(),
                                Some(commit.clone()),
                            )
                        }));
                    }
                }
                _ => findings.extend(
                    matches
                        .iter()
                        .map(|m| Finding::from_match(&rules[m.rule], m, None, blob.clone(), None)),
                ),
            }
        }
        let in_messages = message_secrets(&enumerated.messages);
        findings.extend(enumerated.messages);
        scrub_summaries(&in_messages, &mut findings);
        let mut stats = counters.snapshot();
        stats.commits = enumerated.commits.len() as u64;
        stats.refs = enumerated.refs;
        let mut out = ScanOutput {
            findings,
            stats,
            notes,
        };
        out.dedupe();
        Ok(out)
    }

    fn scan_blobs(
        &self,
        repo: &gix::Repository,
        blobs: &[ObjectId],
        counters: &Counters,
        notes: &Mutex<Vec<String>>,
        progress: &dyn Progress,
    ) -> Result<Vec<BlobHits>, ScanError> {
        let shared = repo.clone().into_sync();
        let max = self.options().max_blob_size;
        let results: Result<Vec<Option<BlobHits>>, ScanError> = blobs
            .par_iter()
            .with_min_len(64)
            .map_init(
                || {
                    let mut repo = shared.to_thread_local();
                    cap_caches(&mut repo);
                    (repo, Vec::new())
                },
                |(repo, buf), id| {
                    let header = repo
                        .objects
                        .try_header(id)
                        .map_err(|e| git_err(&format!("reading blob {id}"), e))?
                        .ok_or_else(|| ScanError::Git(format!("corrupt repository: blob {id} is missing")))?;
                    if header.size > max {
                        counters.too_large_skipped.fetch_add(1, Ordering::Relaxed);
                        notes
                            .lock()
                            .unwrap_or_else(std::sync::PoisonError::into_inner)
                            .push(format!(
                                "skipped blob {id} ({} bytes, over the {max}-byte cap)",
                                header.size
                            ));
                        progress.blob_done(0);
                        return Ok(None);
                    }
                    let data = repo
                        .objects
                        .try_find(id, buf)
                        .map_err(|e| git_err(&format!("corrupt repository: blob {id} cannot be read"), e))?
                        .ok_or_else(|| ScanError::Git(format!("corrupt repository: blob {id} is missing")))?;
                    let len = data.data.len() as u64;
                    let found = match self.scan_blob(data.data) {
                        BlobScan::Binary => {
                            counters.binary_skipped.fetch_add(1, Ordering::Relaxed);
                            None
                        }
                        BlobScan::Scanned(m) => {
                            counters.blobs_scanned.fetch_add(1, Ordering::Relaxed);
                            counters.bytes_scanned.fetch_add(len, Ordering::Relaxed);
                            (!m.is_empty()).then_some((*id, m))
                        }
                    };
                    progress.blob_done(len);
                    // A huge blob must not pin its buffer for the rest of the scan.
                    if buf.capacity() > 4 * 1024 * 1024 {
                        *buf = Vec::new();
                    }
                    Ok(found)
                },
            )
            .collect();
        Ok(results?.into_iter().flatten().collect())
    }
}

/// Bytes of decoded delta bases each repository handle may keep. gix defaults to 96 MiB per
/// handle, which with one handle per thread would break the memory budget; reading blobs in
/// pack order gets most of the benefit from a much smaller cache.
const PACK_CACHE_BYTES: usize = 4 * 1024 * 1024;

fn cap_caches(repo: &mut gix::Repository) {
    repo.object_cache_size(None);
    repo.objects.set_pack_cache(|| {
        Box::new(gix::odb::pack::cache::lru::StaticLinkedList::<64>::new(
            PACK_CACHE_BYTES,
        ))
    });
}

/// Sorts blobs by their position in the packs (loose objects last), so that delta bases are
/// decoded just before the deltas that need them and each thread's contiguous share of the
/// work has locality. Reading pack indices is cheap: they are sorted tables of id and offset.
fn order_by_pack_offset(repo: &gix::Repository, blobs: &mut [ObjectId]) {
    let wanted: HashSet<ObjectId> = blobs.iter().copied().collect();
    let mut position: HashMap<ObjectId, u64> = HashMap::with_capacity(blobs.len());
    let pack_dir = repo.common_dir().join("objects").join("pack");
    let Ok(entries) = std::fs::read_dir(&pack_dir) else {
        return;
    };
    let mut indices: Vec<_> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "idx"))
        .collect();
    indices.sort();
    for (pack_no, idx_path) in indices.iter().enumerate() {
        let Ok(index) = gix::odb::pack::index::File::at(idx_path, repo.object_hash()) else {
            continue;
        };
        let base = (pack_no as u64) << 48;
        for entry in index.iter() {
            if wanted.contains(&entry.oid) {
                position.entry(entry.oid).or_insert(base | entry.pack_offset);
            }
        }
    }
    blobs.sort_by_key(|id| (position.get(id).copied().unwrap_or(u64::MAX), *id));
}

fn find<'a>(
    repo: &gix::Repository,
    id: &ObjectId,
    buf: &'a mut Vec<u8>,
    what: &str,
) -> Result<gix::objs::Data<'a>, ScanError> {
    repo.objects
        .try_find(id, buf)
        .map_err(|e| ScanError::Git(format!("corrupt repository: {what} {id} cannot be read: {e}")))?
        .ok_or_else(|| ScanError::Git(format!("corrupt repository: {what} {id} is missing")))
}

/// Secrets found in each commit's message, by commit id.
fn message_secrets(messages: &[Finding]) -> HashMap<String, Vec<String>> {
    let mut by_commit: HashMap<String, Vec<String>> = HashMap::new();
    for m in messages {
        if let Some(c) = &m.location.commit
            && !m.secret.is_empty()
        {
            by_commit.entry(c.id.clone()).or_default().push(m.secret.clone());
        }
    }
    by_commit
}

/// A token in a commit subject would otherwise be printed, unredacted, as the summary of every
/// finding in that commit, the message finding itself included.
fn scrub_summaries(by_commit: &HashMap<String, Vec<String>>, findings: &mut [Finding]) {
    if by_commit.is_empty() {
        return;
    }
    for c in findings.iter_mut().filter_map(|f| f.location.commit.as_mut()) {
        for secret in by_commit.get(&c.id).into_iter().flatten() {
            c.summary = c.summary.replace(secret.as_str(), "[redacted]");
        }
    }
}

impl Scanner {
    /// Findings in a commit or tag message. Binary sniffing is skipped: a message is text by
    /// definition, whatever bytes it holds.
    fn scan_message(
        &self,
        message: &[u8],
        commit: Option<&CommitInfo>,
        tag: Option<&TagInfo>,
    ) -> Vec<Finding> {
        let matches = self.scan_text(message);
        let rules = self.rules().rules();
        matches
            .iter()
            .map(|m| Finding::in_message(&rules[m.rule], m, commit.cloned(), tag.cloned()))
            .collect()
    }
}

fn enumerate_reachable(scanner: &Scanner, repo: &gix::Repository) -> Result<Enumerated, ScanError> {
    let hash = repo.object_hash();
    let mut buf = Vec::new();
    let mut tips: Vec<ObjectId> = Vec::new();
    let mut refs = 0u64;
    let platform = repo.references().map_err(|e| git_err("reading refs", e))?;
    for r in platform.all().map_err(|e| git_err("reading refs", e))? {
        let r = r.map_err(|e| git_err("reading refs", e))?;
        refs += 1;
        if let Some(id) = r.target().try_id() {
            tips.push(id.to_owned());
        }
    }
    // A detached HEAD is reachable history that no branch names.
    if let Ok(Some(id)) = repo.head_id().map(|id| Some(id.detach())) {
        tips.push(id);
    }

    let mut commits_todo = Vec::new();
    let mut trees_todo = Vec::new();
    let mut blobs = HashSet::new();
    let mut seen_tags = HashSet::new();
    let mut messages = Vec::new();
    while let Some(id) = tips.pop() {
        let data = find(repo, &id, &mut buf, "object")?;
        match data.kind {
            gix::object::Kind::Tag => {
                if seen_tags.insert(id) {
                    let tag = gix::objs::TagRef::from_bytes(data.data, hash)
                        .map_err(|e| git_err(&format!("corrupt repository: tag {id}"), e))?;
                    tips.push(tag.target());
                    if !tag.message.is_empty() {
                        let info = tag_info(id, &tag);
                        messages.extend(scanner.scan_message(tag.message, None, Some(&info)));
                    }
                }
            }
            gix::object::Kind::Commit => commits_todo.push(id),
            gix::object::Kind::Tree => trees_todo.push(id),
            gix::object::Kind::Blob => {
                blobs.insert(id);
            }
        }
    }

    let mut seen_commits = HashSet::new();
    let mut commits = Vec::new();
    while let Some(id) = commits_todo.pop() {
        if !seen_commits.insert(id) {
            continue;
        }
        let data = find(repo, &id, &mut buf, "commit")?;
        let commit = gix::objs::CommitRef::from_bytes(data.data, hash)
            .map_err(|e| git_err(&format!("corrupt repository: commit {id}"), e))?;
        trees_todo.push(commit.tree());
        let parents: Vec<ObjectId> = commit.parents().collect();
        commits_todo.extend(parents.iter().filter(|p| !seen_commits.contains(*p)).copied());
        let time = commit.time().map(|t| t.seconds).unwrap_or(0);
        let found = scanner.scan_text(commit.message);
        if !found.is_empty() {
            let info = commit_info(id, &commit);
            let rules = scanner.rules().rules();
            messages.extend(
                found
                    .iter()
                    .map(|m| Finding::in_message(&rules[m.rule], m, Some(info.clone()), None)),
            );
        }
        commits.push(CommitNode { id, time, parents });
    }

    let mut seen_trees = HashSet::new();
    while let Some(id) = trees_todo.pop() {
        if !seen_trees.insert(id) {
            continue;
        }
        let data = find(repo, &id, &mut buf, "tree")?;
        for entry in gix::objs::TreeRefIter::from_bytes(data.data, hash) {
            let entry = entry.map_err(|e| git_err(&format!("corrupt repository: tree {id}"), e))?;
            if entry.mode.is_tree() {
                if !seen_trees.contains(entry.oid) {
                    trees_todo.push(entry.oid.to_owned());
                }
            } else if entry.mode.is_blob_or_symlink() {
                blobs.insert(entry.oid.to_owned());
            }
        }
    }
    let mut blobs: Vec<ObjectId> = blobs.into_iter().collect();
    blobs.sort_unstable();
    Ok(Enumerated {
        blobs,
        commits,
        refs,
        messages,
    })
}

/// Finds, for each target blob, the first commit (by commit time) and path where it appears.
/// A tree already walked is not walked again, so the cost is one visit per unique tree.
fn attribute(
    repo: &gix::Repository,
    commits: &[CommitNode],
    targets: &HashSet<ObjectId>,
) -> Result<HashMap<ObjectId, Vec<(String, CommitInfo)>>, ScanError> {
    let hash = repo.object_hash();
    let ordered = parents_first(commits);
    let mut places: HashMap<ObjectId, Vec<(String, CommitInfo)>> = HashMap::new();
    let mut seen_trees = HashSet::new();
    let mut buf = Vec::new();
    let mut tree_buf = Vec::new();
    for id in ordered {
        let data = find(repo, &id, &mut buf, "commit")?;
        let commit = gix::objs::CommitRef::from_bytes(data.data, hash)
            .map_err(|e| git_err(&format!("corrupt repository: commit {id}"), e))?;
        let mut info: Option<CommitInfo> = None;
        let mut stack = vec![(commit.tree(), String::new())];
        while let Some((tree, prefix)) = stack.pop() {
            if !seen_trees.insert(tree) {
                continue;
            }
            let data = find(repo, &tree, &mut tree_buf, "tree")?;
            for entry in gix::objs::TreeRefIter::from_bytes(data.data, hash) {
                let entry = entry.map_err(|e| git_err(&format!("corrupt repository: tree {tree}"), e))?;
                let name = String::from_utf8_lossy(entry.filename);
                let path = if prefix.is_empty() {
                    name.into_owned()
                } else {
                    format!("{prefix}/{name}")
                };
                if entry.mode.is_tree() {
                    stack.push((entry.oid.to_owned(), path));
                } else if entry.mode.is_blob_or_symlink() && targets.contains(entry.oid) {
                    let info = info.get_or_insert_with(|| commit_info(id, &commit)).clone();
                    let slot = places.entry(entry.oid.to_owned()).or_default();
                    if !slot.iter().any(|(p, _)| *p == path) {
                        slot.push((path, info));
                    }
                }
            }
        }
    }
    Ok(places)
}

/// Commits ordered so every parent precedes its children (clock skew and equal timestamps cannot
/// reorder history), oldest roots first.
fn parents_first(commits: &[CommitNode]) -> Vec<ObjectId> {
    let index: HashMap<ObjectId, usize> = commits.iter().enumerate().map(|(i, c)| (c.id, i)).collect();
    let mut by_time: Vec<usize> = (0..commits.len()).collect();
    by_time.sort_by_key(|&i| (commits[i].time, commits[i].id));
    let mut done = vec![false; commits.len()];
    let mut order = Vec::with_capacity(commits.len());
    for start in by_time {
        let mut stack = vec![(start, false)];
        while let Some((i, expanded)) = stack.pop() {
            if done[i] {
                continue;
            }
            if expanded {
                done[i] = true;
                order.push(commits[i].id);
                continue;
            }
            stack.push((i, true));
            for p in &commits[i].parents {
                if let Some(&pi) = index.get(p).filter(|&&pi| !done[pi]) {
                    stack.push((pi, false));
                }
            }
        }
    }
    order
}

fn rfc3339(seconds: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(seconds)
        .ok()
        .and_then(|t| t.format(&time::format_description::well_known::Rfc3339).ok())
        .unwrap_or_default()
}

fn tag_info(id: ObjectId, tag: &gix::objs::TagRef<'_>) -> TagInfo {
    let (tagger, email, date) = match tag.tagger() {
        Ok(Some(t)) => (t.name.to_string(), t.email.to_string(), rfc3339(t.seconds())),
        _ => (String::new(), String::new(), String::new()),
    };
    TagInfo {
        name: tag.name.to_string(),
        id: id.to_string(),
        tagger,
        email,
        date,
    }
}

fn commit_info(id: ObjectId, commit: &gix::objs::CommitRef<'_>) -> CommitInfo {
    let (author, email, seconds) = commit.author().map_or_else(
        |_| (String::new(), String::new(), 0),
        |a| (a.name.to_string(), a.email.to_string(), a.seconds()),
    );
    let date = rfc3339(seconds);
    let summary = String::from_utf8_lossy(commit.message().summary().as_ref()).into_owned();
    CommitInfo {
        id: id.to_string(),
        author,
        email,
        date,
        summary,
    }
}

/// The refs of the repository at `path` with the object each names, e.g.
/// `("refs/heads/main", "<40 hex>")`. Symbolic refs (HEAD) are left out.
///
/// # Errors
/// If the path is not a readable repository or a ref cannot be read.
pub fn read_refs(path: &Path) -> Result<Vec<(String, String)>, ScanError> {
    let repo = gix::open_opts(path, gix::open::Options::isolated())
        .map_err(|e| git_err(&format!("{} is not a readable git repository", path.display()), e))?;
    let platform = repo.references().map_err(|e| git_err("reading refs", e))?;
    let mut out = Vec::new();
    for r in platform.all().map_err(|e| git_err("reading refs", e))? {
        let r = r.map_err(|e| git_err("reading refs", e))?;
        if let Some(id) = r.target().try_id() {
            out.push((r.name().as_bstr().to_string(), id.to_string()));
        }
    }
    Ok(out)
}

impl Scanner {
    /// Scans only what the commits reachable from `tips` and from none of `hidden` brought in:
    /// their messages, the blobs each of them added or changed (against every parent), and the
    /// messages of annotated tags among `tips`. Each finding's location is the commit that
    /// introduced the blob at that path. Ids in `hidden` that the repository lacks are ignored
    /// (a force push's old tip may never have been fetched); a tip it lacks is an error.
    ///
    /// # Errors
    /// If the path is not a repository, it is shallow, a tip is missing, or an object that history
    /// refers to is missing or corrupt.
    pub fn scan_commits(
        &self,
        path: &Path,
        tips: &[String],
        hidden: &[String],
        progress: &dyn Progress,
    ) -> Result<ScanOutput, ScanError> {
        let mut repo = gix::open_opts(path, gix::open::Options::isolated())
            .map_err(|e| git_err(&format!("{} is not a readable git repository", path.display()), e))?;
        cap_caches(&mut repo);
        if repo.is_shallow().unwrap_or(false) {
            return Err(ScanError::Git(format!(
                "{} is a shallow clone: its history is incomplete",
                path.display()
            )));
        }
        let hash = repo.object_hash();
        let mut buf = Vec::new();
        let mut messages = Vec::new();
        let mut start = Vec::new();
        for tip in tips {
            let id =
                ObjectId::from_hex(tip.as_bytes()).map_err(|e| git_err(&format!("commit id {tip:?}"), e))?;
            let mut id = id;
            // Annotated tags (possibly of tags) down to the commit they name.
            loop {
                let data = find(&repo, &id, &mut buf, "object")?;
                match data.kind {
                    gix::object::Kind::Tag => {
                        let tag = gix::objs::TagRef::from_bytes(data.data, hash)
                            .map_err(|e| git_err(&format!("corrupt repository: tag {id}"), e))?;
                        if !tag.message.is_empty() {
                            let info = tag_info(id, &tag);
                            messages.extend(self.scan_message(tag.message, None, Some(&info)));
                        }
                        id = tag.target();
                    }
                    gix::object::Kind::Commit => {
                        start.push(id);
                        break;
                    }
                    _ => break,
                }
            }
        }
        let hidden = ancestors(&repo, hidden)?;
        // The new commits: reachable from the tips, stopping at anything already known.
        let mut seen = HashSet::new();
        let mut todo = start;
        let mut commits = Vec::new();
        while let Some(id) = todo.pop() {
            if hidden.contains(&id) || !seen.insert(id) {
                continue;
            }
            let data = find(&repo, &id, &mut buf, "commit")?;
            let commit = gix::objs::CommitRef::from_bytes(data.data, hash)
                .map_err(|e| git_err(&format!("corrupt repository: commit {id}"), e))?;
            let parents: Vec<ObjectId> = commit.parents().collect();
            todo.extend(parents.iter().filter(|p| !hidden.contains(*p)).copied());
            let found = self.scan_text(commit.message);
            if !found.is_empty() {
                let info = commit_info(id, &commit);
                let rules = self.rules().rules();
                messages.extend(
                    found
                        .iter()
                        .map(|m| Finding::in_message(&rules[m.rule], m, Some(info.clone()), None)),
                );
            }
            let time = commit.time().map(|t| t.seconds).unwrap_or(0);
            commits.push(CommitNode { id, time, parents });
        }
        // What each new commit brought in, oldest first so a blob is credited to its first commit.
        let mut places: HashMap<ObjectId, Vec<(String, ObjectId)>> = HashMap::new();
        for id in parents_first(&commits) {
            let (tree, parent_trees) = {
                let data = find(&repo, &id, &mut buf, "commit")?;
                let commit = gix::objs::CommitRef::from_bytes(data.data, hash)
                    .map_err(|e| git_err(&format!("corrupt repository: commit {id}"), e))?;
                let parents: Vec<ObjectId> = commit.parents().collect();
                let tree = commit.tree();
                let mut parent_trees = Vec::with_capacity(parents.len());
                let mut parent_buf = Vec::new();
                for parent in parents {
                    let data = find(&repo, &parent, &mut parent_buf, "commit")?;
                    let parent = gix::objs::CommitRef::from_bytes(data.data, hash)
                        .map_err(|e| git_err(&format!("corrupt repository: commit {parent}"), e))?;
                    parent_trees.push(parent.tree());
                }
                (tree, parent_trees)
            };
            let mut added = Vec::new();
            introduced(&repo, tree, &parent_trees, "", &mut added)?;
            for (path, blob) in added {
                let slot = places.entry(blob).or_default();
                if !slot.iter().any(|(p, _)| *p == path) {
                    slot.push((path, id));
                }
            }
        }
        let mut blobs: Vec<ObjectId> = places.keys().copied().collect();
        order_by_pack_offset(&repo, &mut blobs);
        progress.set_total(blobs.len() as u64);
        let counters = Counters::default();
        let skipped = Mutex::new(Vec::new());
        let matched = self.scan_blobs(&repo, &blobs, &counters, &skipped, progress)?;
        let notes = skipped
            .into_inner()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let rules = self.rules().rules();
        let mut infos: HashMap<ObjectId, CommitInfo> = HashMap::new();
        let mut findings = Vec::new();
        for (blob, matches) in &matched {
            for (path, commit) in places.get(blob).into_iter().flatten() {
                let info = match infos.get(commit) {
                    Some(info) => info.clone(),
                    None => {
                        let data = find(&repo, commit, &mut buf, "commit")?;
                        let parsed = gix::objs::CommitRef::from_bytes(data.data, hash)
                            .map_err(|e| git_err(&format!("corrupt repository: commit {commit}"), e))?;
                        let info = commit_info(*commit, &parsed);
                        infos.insert(*commit, info.clone());
                        info
                    }
                };
                findings.extend(matches.iter().map(|m| {
                    Finding::from_match(
                        &rules[m.rule],
                        m,
                        Some(path.clone()),
                        Some(blob.to_string()),
                        Some(info.clone()),
                    )
                }));
            }
        }
        let in_messages = message_secrets(&messages);
        findings.extend(messages);
        scrub_summaries(&in_messages, &mut findings);
        let mut stats = counters.snapshot();
        stats.commits = commits.len() as u64;
        let mut out = ScanOutput {
            findings,
            stats,
            notes,
        };
        out.dedupe();
        Ok(out)
    }
}

/// Every commit reachable from `tips` (tags peeled); ids the repository lacks are skipped.
fn ancestors(repo: &gix::Repository, tips: &[String]) -> Result<HashSet<ObjectId>, ScanError> {
    let hash = repo.object_hash();
    let mut buf = Vec::new();
    let mut todo: Vec<ObjectId> = tips
        .iter()
        .filter_map(|tip| ObjectId::from_hex(tip.as_bytes()).ok())
        .collect();
    let mut seen = HashSet::new();
    while let Some(id) = todo.pop() {
        if seen.contains(&id) {
            continue;
        }
        let Some(data) = repo
            .objects
            .try_find(&id, &mut buf)
            .map_err(|e| git_err(&format!("reading object {id}"), e))?
        else {
            continue;
        };
        match data.kind {
            gix::object::Kind::Tag => {
                let tag = gix::objs::TagRef::from_bytes(data.data, hash)
                    .map_err(|e| git_err(&format!("corrupt repository: tag {id}"), e))?;
                todo.push(tag.target());
            }
            gix::object::Kind::Commit => {
                let commit = gix::objs::CommitRef::from_bytes(data.data, hash)
                    .map_err(|e| git_err(&format!("corrupt repository: commit {id}"), e))?;
                todo.extend(commit.parents());
                seen.insert(id);
            }
            _ => {}
        }
    }
    Ok(seen)
}

/// The blobs (with their paths) in `tree` that no parent tree holds at the same path: what a
/// commit added or changed. Subtrees equal to a parent's are skipped whole.
fn introduced(
    repo: &gix::Repository,
    tree: ObjectId,
    parents: &[ObjectId],
    prefix: &str,
    out: &mut Vec<(String, ObjectId)>,
) -> Result<(), ScanError> {
    if parents.contains(&tree) {
        return Ok(());
    }
    let hash = repo.object_hash();
    let mut buf = Vec::new();
    let mut parent_entries: Vec<HashMap<Vec<u8>, (bool, ObjectId)>> = Vec::with_capacity(parents.len());
    for parent in parents {
        let data = find(repo, parent, &mut buf, "tree")?;
        let mut entries = HashMap::new();
        for entry in gix::objs::TreeRefIter::from_bytes(data.data, hash) {
            let entry = entry.map_err(|e| git_err(&format!("corrupt repository: tree {parent}"), e))?;
            entries.insert(
                entry.filename.to_vec(),
                (entry.mode.is_tree(), entry.oid.to_owned()),
            );
        }
        parent_entries.push(entries);
    }
    let data = find(repo, &tree, &mut buf, "tree")?;
    let mut children = Vec::new();
    for entry in gix::objs::TreeRefIter::from_bytes(data.data, hash) {
        let entry = entry.map_err(|e| git_err(&format!("corrupt repository: tree {tree}"), e))?;
        let oid = entry.oid.to_owned();
        let same_in_a_parent = parent_entries
            .iter()
            .any(|p| p.get(entry.filename).is_some_and(|(_, id)| *id == oid));
        if same_in_a_parent {
            continue;
        }
        let name = String::from_utf8_lossy(entry.filename);
        let path = if prefix.is_empty() {
            name.into_owned()
        } else {
            format!("{prefix}/{name}")
        };
        if entry.mode.is_tree() {
            let sub_parents: Vec<ObjectId> = parent_entries
                .iter()
                .filter_map(|p| {
                    p.get(entry.filename)
                        .filter(|(is_tree, _)| *is_tree)
                        .map(|(_, id)| *id)
                })
                .collect();
            children.push((oid, sub_parents, path));
        } else if entry.mode.is_blob_or_symlink() {
            out.push((path, oid));
        }
    }
    for (oid, sub_parents, path) in children {
        introduced(repo, oid, &sub_parents, &path, out)?;
    }
    Ok(())
}

/// Whether commit `ancestor` is `descendant` or one of its ancestors, in the repository at
/// `path`. False when the repository lacks `ancestor`.
///
/// # Errors
/// If the path is not a readable repository or history is corrupt.
pub fn is_ancestor(path: &Path, ancestor: &str, descendant: &str) -> Result<bool, ScanError> {
    let repo = gix::open_opts(path, gix::open::Options::isolated())
        .map_err(|e| git_err(&format!("{} is not a readable git repository", path.display()), e))?;
    let Ok(ancestor) = ObjectId::from_hex(ancestor.as_bytes()) else {
        return Ok(false);
    };
    Ok(ancestors(&repo, &[descendant.to_owned()])?.contains(&ancestor))
}
