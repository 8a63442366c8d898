//! History scans against repositories built with the real git command.

use std::path::Path;
use std::process::Command;

use labgate_scan::{GitOptions, LocationKind, NoProgress, ScanError};

use crate::common::{ids, scanner_default};
use crate::routable::generate;

pub fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .args(args)
        .current_dir(dir)
        .env("GIT_AUTHOR_NAME", "Dev One")
        .env("GIT_AUTHOR_EMAIL", "dev1@corp.test")
        .env("GIT_COMMITTER_NAME", "Dev One")
        .env("GIT_COMMITTER_EMAIL", "dev1@corp.test")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .output()
        .expect("git runs");
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

pub fn init(dir: &Path) {
    git(dir, &["init", "-q", "-b", "main"]);
}

pub fn commit_file(dir: &Path, path: &str, content: &str, message: &str, date: &str) -> String {
    let full = dir.join(path);
    std::fs::create_dir_all(full.parent().unwrap()).unwrap();
    std::fs::write(&full, content).unwrap();
    git(dir, &["add", "-A"]);
    let out = Command::new("git")
        .args(["commit", "-q", "-m", message])
        .current_dir(dir)
        .env("GIT_AUTHOR_NAME", "Dev One")
        .env("GIT_AUTHOR_EMAIL", "dev1@corp.test")
        .env("GIT_COMMITTER_NAME", "Dev One")
        .env("GIT_COMMITTER_EMAIL", "dev1@corp.test")
        .env("GIT_AUTHOR_DATE", date)
        .env("GIT_COMMITTER_DATE", date)
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    git(dir, &["rev-parse", "HEAD"])
}

const PAT1: &str = "glpat-Qm3k9ZxT2bLw8RfN5yHc";
const PAT2: &str = "glpat-Zr8Lq2Vn6TbX4cWp9KsD";

#[test]
fn deleted_secrets_are_found_and_attributed_to_the_introducing_commit() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    init(dir);
    commit_file(dir, "README.md", "hello\n", "init", "2024-01-01T00:00:00Z");
    let c2 = commit_file(
        dir,
        "ci/deploy.env",
        &format!("TOKEN={PAT1}\n"),
        "add deploy config",
        "2024-01-02T00:00:00Z",
    );
    commit_file(
        dir,
        "ci/deploy.env",
        "TOKEN=$FROM_CI\n",
        "move token to CI variables",
        "2024-01-03T00:00:00Z",
    );
    let out = scanner_default()
        .scan_repository(dir, &GitOptions::default(), &NoProgress)
        .unwrap();
    assert_eq!(ids(&out.findings), ["gitlab-pat"]);
    let f = &out.findings[0];
    assert_eq!(f.secret, PAT1);
    assert_eq!(f.location.path.as_deref(), Some("ci/deploy.env"));
    let c = f.location.commit.as_ref().unwrap();
    assert_eq!(c.id, c2);
    assert_eq!(c.author, "Dev One");
    assert_eq!(c.email, "dev1@corp.test");
    assert_eq!(c.summary, "add deploy config");
    assert_eq!(c.date, "2024-01-02T00:00:00Z");
    assert_eq!(out.stats.commits, 3);
}

#[test]
fn all_refs_are_scanned_tags_notes_and_merge_request_refs() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    init(dir);
    commit_file(dir, "a.txt", "base\n", "init", "2024-01-01T00:00:00Z");
    // A commit reachable only from an MR ref, as GitLab stores them.
    git(dir, &["checkout", "-q", "-b", "feature"]);
    let mr = commit_file(
        dir,
        "mr.env",
        &format!("T={PAT1}\n"),
        "mr change",
        "2024-01-02T00:00:00Z",
    );
    git(dir, &["checkout", "-q", "main"]);
    git(dir, &["branch", "-q", "-D", "feature"]);
    git(dir, &["update-ref", "refs/merge-requests/1/head", &mr]);
    // A secret only in a git note.
    git(
        dir,
        &["notes", "add", "-m", &format!("deploy with {PAT2}"), "HEAD"],
    );
    // A secret in a blob tagged directly (no commit at all).
    let blob_file = dir.join("loose.txt");
    std::fs::write(&blob_file, "AWS=AKIAQYLPMN5HHHFPZAM2\n").unwrap();
    let blob = git(dir, &["hash-object", "-w", "loose.txt"]);
    std::fs::remove_file(&blob_file).unwrap();
    git(dir, &["tag", "-a", "-m", "blob tag", "keyblob", &blob]);

    let out = scanner_default()
        .scan_repository(dir, &GitOptions::default(), &NoProgress)
        .unwrap();
    let mut found: Vec<&str> = out.findings.iter().map(|f| f.secret.as_str()).collect();
    found.sort_unstable();
    assert_eq!(found, ["AKIAQYLPMN5HHHFPZAM2", PAT1, PAT2]);
    let mr_finding = out.findings.iter().find(|f| f.secret == PAT1).unwrap();
    assert_eq!(mr_finding.location.commit.as_ref().unwrap().id, mr);
}

#[test]
fn merge_only_content_and_blob_dedupe() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    init(dir);
    commit_file(dir, "conf.ini", "a=1\n", "init", "2024-01-01T00:00:00Z");
    git(dir, &["checkout", "-q", "-b", "side"]);
    commit_file(dir, "conf.ini", "a=2\n", "side", "2024-01-02T00:00:00Z");
    git(dir, &["checkout", "-q", "main"]);
    commit_file(dir, "conf.ini", "a=3\n", "main", "2024-01-03T00:00:00Z");
    // Resolve the conflict by introducing a token only in the merge commit.
    let _ = Command::new("git")
        .args(["merge", "-q", "side"])
        .current_dir(dir)
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .output();
    std::fs::write(dir.join("conf.ini"), format!("a=4\ntoken={PAT1}\n")).unwrap();
    git(dir, &["add", "conf.ini"]);
    git(
        dir,
        &[
            "-c",
            "user.name=Dev One",
            "-c",
            "user.email=dev1@corp.test",
            "commit",
            "-q",
            "-m",
            "merge side",
        ],
    );
    // The same content under two more paths: one blob, scanned once, three locations.
    std::fs::write(dir.join("copy1.ini"), format!("a=4\ntoken={PAT1}\n")).unwrap();
    std::fs::write(dir.join("copy2.ini"), format!("a=4\ntoken={PAT1}\n")).unwrap();
    git(dir, &["add", "-A"]);
    git(
        dir,
        &[
            "-c",
            "user.name=Dev One",
            "-c",
            "user.email=dev1@corp.test",
            "commit",
            "-q",
            "-m",
            "copies",
        ],
    );

    let out = scanner_default()
        .scan_repository(dir, &GitOptions::default(), &NoProgress)
        .unwrap();
    let mut paths: Vec<_> = out
        .findings
        .iter()
        .map(|f| f.location.path.clone().unwrap())
        .collect();
    paths.sort();
    assert_eq!(paths, ["conf.ini", "copy1.ini", "copy2.ini"]);
    let merge = out
        .findings
        .iter()
        .find(|f| f.location.path.as_deref() == Some("conf.ini"))
        .unwrap();
    assert_eq!(merge.location.commit.as_ref().unwrap().summary, "merge side");
    let blobs: std::collections::HashSet<_> = out.findings.iter().map(|f| f.location.blob.clone()).collect();
    assert_eq!(blobs.len(), 1, "one blob id for identical content");
}

#[test]
fn unreachable_objects_need_all_objects() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    init(dir);
    commit_file(dir, "a.txt", "base\n", "init", "2024-01-01T00:00:00Z");
    std::fs::write(dir.join("dangling.txt"), format!("T={PAT2}\n")).unwrap();
    let blob = git(dir, &["hash-object", "-w", "dangling.txt"]);
    std::fs::remove_file(dir.join("dangling.txt")).unwrap();

    let reachable = scanner_default()
        .scan_repository(dir, &GitOptions::default(), &NoProgress)
        .unwrap();
    assert!(reachable.findings.is_empty());
    let all = scanner_default()
        .scan_repository(dir, &GitOptions { all_objects: true }, &NoProgress)
        .unwrap();
    assert_eq!(ids(&all.findings), ["gitlab-pat"]);
    assert_eq!(all.findings[0].location.path, None);
    assert_eq!(all.findings[0].location.blob.as_deref(), Some(blob.as_str()));
    assert!(all.notes.iter().any(|n| n.contains("unreachable")));
}

#[test]
fn packed_history_with_routable_token_and_binary_skip_counts() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    init(dir);
    let token = generate("glpat-", &[('o', "1"), ('u', "b2")]);
    for i in 0..20 {
        commit_file(
            dir,
            "src/lib.rs",
            &format!("// rev {i}\nfn f() -> u32 {{ {i} }}\n"),
            &format!("c{i}"),
            "2024-02-01T00:00:00Z",
        );
    }
    commit_file(
        dir,
        "deploy/.env",
        &format!("GITLAB_TOKEN={token}\n"),
        "env",
        "2024-02-02T00:00:00Z",
    );
    std::fs::write(dir.join("logo.png"), b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR").unwrap();
    git(dir, &["add", "-A"]);
    git(
        dir,
        &[
            "-c",
            "user.name=a",
            "-c",
            "user.email=a@b",
            "commit",
            "-q",
            "-m",
            "logo",
        ],
    );
    git(dir, &["gc", "-q", "--aggressive"]);
    let out = scanner_default()
        .scan_repository(dir, &GitOptions::default(), &NoProgress)
        .unwrap();
    assert_eq!(ids(&out.findings), ["gitlab-pat-routable"]);
    assert_eq!(out.findings[0].secret, token);
    assert_eq!(out.stats.binary_skipped, 1);
    assert_eq!(out.stats.blobs_scanned, 21);
}

#[test]
fn huge_blobs_are_capped_with_a_note() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    init(dir);
    commit_file(
        dir,
        "big.txt",
        &format!("{}\nT={PAT1}\n", "a".repeat(5000)),
        "big",
        "2024-01-01T00:00:00Z",
    );
    let mut rules = labgate_scan::RuleSet::builtin().unwrap();
    rules.retain_confidence(labgate_scan::Confidence::Medium);
    let scanner = labgate_scan::Scanner::with_options(
        rules,
        labgate_scan::ScanOptions {
            max_blob_size: 1000,
            decode_base64: false,
        },
    )
    .unwrap();
    let out = scanner
        .scan_repository(dir, &GitOptions::default(), &NoProgress)
        .unwrap();
    assert!(out.findings.is_empty());
    assert_eq!(out.stats.too_large_skipped, 1);
    assert!(out.notes.iter().any(|n| n.contains("over the 1000-byte cap")));
}

#[test]
fn empty_repository_is_not_an_error() {
    let tmp = tempfile::tempdir().unwrap();
    init(tmp.path());
    let out = scanner_default()
        .scan_repository(tmp.path(), &GitOptions::default(), &NoProgress)
        .unwrap();
    assert!(out.findings.is_empty());
    assert!(out.notes.iter().any(|n| n.contains("empty")));
}

#[test]
fn shallow_clone_is_a_clear_error() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    std::fs::create_dir(&src).unwrap();
    init(&src);
    commit_file(&src, "a", "1\n", "one", "2024-01-01T00:00:00Z");
    commit_file(&src, "a", "2\n", "two", "2024-01-02T00:00:00Z");
    let url = format!("file://{}", src.display());
    git(tmp.path(), &["clone", "-q", "--depth", "1", &url, "shallow"]);
    let err = scanner_default()
        .scan_repository(&tmp.path().join("shallow"), &GitOptions::default(), &NoProgress)
        .unwrap_err();
    assert!(matches!(err, ScanError::Git(_)));
    assert!(err.to_string().contains("shallow"), "{err}");
}

#[test]
fn corrupt_repository_is_a_clear_error() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    init(dir);
    commit_file(
        dir,
        "a.txt",
        "content that will vanish\n",
        "init",
        "2024-01-01T00:00:00Z",
    );
    let blob = git(dir, &["rev-parse", "HEAD:a.txt"]);
    let obj = dir.join(".git/objects").join(&blob[..2]).join(&blob[2..]);
    std::fs::remove_file(obj).unwrap();
    let err = scanner_default()
        .scan_repository(dir, &GitOptions::default(), &NoProgress)
        .unwrap_err();
    assert!(err.to_string().contains("corrupt repository"), "{err}");
    assert!(err.to_string().contains(&blob), "{err}");
}

#[test]
fn not_a_repository_is_an_error() {
    let tmp = tempfile::tempdir().unwrap();
    let err = scanner_default()
        .scan_repository(tmp.path(), &GitOptions::default(), &NoProgress)
        .unwrap_err();
    assert!(err.to_string().contains("not a readable git repository"), "{err}");
}

#[test]
fn tokens_in_commit_messages_are_findings_of_the_commit_not_of_a_file() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    init(dir);
    commit_file(dir, "README.md", "hello\n", "init", "2024-01-01T00:00:00Z");
    let leaky = commit_file(
        dir,
        "app.py",
        "print('hi')\n",
        &format!("fix CI\n\nUsed {PAT1} to test the pipeline trigger."),
        "2024-01-02T00:00:00Z",
    );
    let out = scanner_default()
        .scan_repository(dir, &GitOptions::default(), &NoProgress)
        .unwrap();
    assert_eq!(ids(&out.findings), ["gitlab-pat"]);
    let f = &out.findings[0];
    assert_eq!(f.secret, PAT1);
    assert_eq!(f.location.kind, LocationKind::CommitMessage);
    assert_eq!(f.location.path, None);
    assert_eq!(f.location.blob, None);
    assert_eq!(f.location.commit.as_ref().unwrap().id, leaky);
    assert_eq!(f.location.commit.as_ref().unwrap().summary, "fix CI");
    assert_eq!((f.location.start_line, f.location.start_column), (3, 6));

    // The report says where it is, and a token in the subject line is not printed by the
    // summary of the commit.
    commit_file(
        dir,
        "c.env",
        &format!("T={PAT2}\n"),
        &format!("rotate {PAT2}"),
        "2024-01-03T00:00:00Z",
    );
    let out = scanner_default()
        .scan_repository(dir, &GitOptions::default(), &NoProgress)
        .unwrap();
    assert_eq!(out.findings.len(), 3);
    let ctx = labgate_scan::report::ReportContext {
        target: dir.display().to_string(),
        started: time::OffsetDateTime::UNIX_EPOCH,
        finished: time::OffsetDateTime::UNIX_EPOCH,
        show_secrets: false,
        suppressed: 0,
    };
    let text = labgate_scan::report::render(labgate_scan::report::Format::Text, &out, &ctx);
    assert!(
        text.contains(&format!("<message of commit {leaky}>:3:6")),
        "{text}"
    );
    assert!(!text.contains(PAT2), "{text}");
    let json = labgate_scan::report::render(labgate_scan::report::Format::Json, &out, &ctx);
    assert!(json.contains("\"kind\": \"commit-message\""), "{json}");
    assert!(!json.contains(PAT2), "{json}");
}

#[test]
fn tokens_in_annotated_tag_messages_are_findings_of_the_tag() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    init(dir);
    commit_file(dir, "README.md", "hello\n", "init", "2024-01-01T00:00:00Z");
    git(
        dir,
        &[
            "tag",
            "-a",
            "v1.0.0",
            "-m",
            &format!("Release 1.0\n\ndeploy token: {PAT1}\n"),
        ],
    );
    // A lightweight tag has no message and must not be mistaken for one.
    git(dir, &["tag", "light"]);
    let tag_id = git(dir, &["rev-parse", "v1.0.0"]);
    let out = scanner_default()
        .scan_repository(dir, &GitOptions::default(), &NoProgress)
        .unwrap();
    assert_eq!(ids(&out.findings), ["gitlab-pat"]);
    let f = &out.findings[0];
    assert_eq!(f.location.kind, LocationKind::TagMessage);
    assert_eq!(f.location.path, None);
    assert_eq!(f.location.commit, None);
    let tag = f.location.tag.as_ref().unwrap();
    assert_eq!(tag.name, "v1.0.0");
    assert_eq!(tag.id, tag_id);
    assert_eq!(tag.tagger, "Dev One");
    assert_eq!((f.location.start_line, f.location.start_column), (3, 15));
}

#[test]
fn a_commit_range_scans_only_what_its_commits_brought_in() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    init(dir);
    let base = commit_file(
        dir,
        "old.env",
        &format!("T={PAT1}\n"),
        "old leak",
        "2024-01-01T00:00:00Z",
    );
    commit_file(dir, "notes.md", "notes\n", "notes", "2024-01-02T00:00:00Z");
    let before = git(dir, &["rev-parse", "HEAD"]);
    let added = commit_file(
        dir,
        "sub/new.env",
        &format!("T={PAT2}\n"),
        "new leak",
        "2024-01-03T00:00:00Z",
    );
    commit_file(dir, "sub/new.env", "T=$CI\n", "remove it", "2024-01-04T00:00:00Z");
    let after = commit_file(dir, "notes.md", "more notes\n", "more", "2024-01-05T00:00:00Z");
    let scanner = scanner_default();

    let range = scanner
        .scan_commits(
            dir,
            std::slice::from_ref(&after),
            std::slice::from_ref(&before),
            &NoProgress,
        )
        .unwrap();
    let secrets: Vec<&str> = range.findings.iter().map(|f| f.secret.as_str()).collect();
    assert_eq!(secrets, vec![PAT2], "the old leak is outside the range");
    let location = &range.findings[0].location;
    assert_eq!(location.path.as_deref(), Some("sub/new.env"));
    assert_eq!(location.commit.as_ref().unwrap().id, added);
    assert_eq!(range.stats.commits, 3);

    // Nothing hidden: the whole history reachable from the tip, each blob at its first commit.
    let all = scanner
        .scan_commits(dir, std::slice::from_ref(&after), &[], &NoProgress)
        .unwrap();
    let mut secrets: Vec<&str> = all.findings.iter().map(|f| f.secret.as_str()).collect();
    secrets.sort_unstable();
    assert_eq!(secrets, vec![PAT1, PAT2]);
    let old = all.findings.iter().find(|f| f.secret == PAT1).unwrap();
    assert_eq!(old.location.commit.as_ref().unwrap().id, base);

    // An annotated tag's message is scanned; an id the repository lacks is ignored when hidden.
    git(dir, &["tag", "-a", "v1", "-m", &format!("release {PAT1}")]);
    let tag = git(dir, &["rev-parse", "v1"]);
    let tagged = scanner
        .scan_commits(dir, &[tag], &[after.clone(), "1".repeat(40)], &NoProgress)
        .unwrap();
    assert_eq!(tagged.findings.len(), 1);
    assert_eq!(tagged.findings[0].location.kind, LocationKind::TagMessage);
    assert!(labgate_scan::is_ancestor(dir, &before, &after).unwrap());
    assert!(!labgate_scan::is_ancestor(dir, &after, &before).unwrap());
    let refs = labgate_scan::read_refs(dir).unwrap();
    assert!(
        refs.iter()
            .any(|(name, id)| name == "refs/heads/main" && *id == after)
    );
}
