use labgate_scan::{DirOptions, NoProgress};

use crate::common::{ids, scanner_default};

const PAT1: &str = "glpat-Qm3k9ZxT2bLw8RfN5yHc";

#[test]
fn scans_files_skips_binaries_and_dot_git() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    std::fs::create_dir_all(root.join("config/nested")).unwrap();
    std::fs::create_dir_all(root.join(".git")).unwrap();
    std::fs::write(root.join("config/nested/app.env"), format!("\n\nTOKEN={PAT1}\n")).unwrap();
    std::fs::write(root.join(".git/config"), format!("token={PAT1}\n")).unwrap();
    std::fs::write(root.join("blob.bin"), [0u8, 1, 2, 3]).unwrap();
    std::fs::write(root.join("notes.txt"), "nothing here\n").unwrap();
    let out = scanner_default()
        .scan_directory(root, &DirOptions::default(), &NoProgress)
        .unwrap();
    assert_eq!(ids(&out.findings), ["gitlab-pat"]);
    let f = &out.findings[0];
    assert_eq!(f.location.path.as_deref(), Some("config/nested/app.env"));
    assert_eq!((f.location.start_line, f.location.start_column), (3, 7));
    assert_eq!(out.stats.binary_skipped, 1);
    assert_eq!(out.stats.blobs_scanned, 2);
}

#[test]
fn a_single_file_can_be_scanned() {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("one.env");
    std::fs::write(&file, format!("T={PAT1}")).unwrap();
    let out = scanner_default()
        .scan_directory(&file, &DirOptions::default(), &NoProgress)
        .unwrap();
    assert_eq!(out.findings[0].location.path.as_deref(), Some("one.env"));
}

#[cfg(unix)]
#[test]
fn symlink_loops_terminate_and_are_noted() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    std::fs::create_dir_all(root.join("a/b")).unwrap();
    std::fs::write(root.join("a/b/k.env"), format!("T={PAT1}\n")).unwrap();
    std::os::unix::fs::symlink("..", root.join("a/b/up")).unwrap();
    std::os::unix::fs::symlink(root, root.join("a/root")).unwrap();
    std::os::unix::fs::symlink("self", root.join("self")).unwrap();
    let opts = DirOptions {
        follow_symlinks: true,
        include_git_dir: false,
    };
    let out = scanner_default()
        .scan_directory(root, &opts, &NoProgress)
        .unwrap();
    assert_eq!(ids(&out.findings), ["gitlab-pat"]);
    assert!(out.notes.iter().any(|n| n.contains("loop")), "{:?}", out.notes);
    // Without following, links are ignored entirely.
    let out = scanner_default()
        .scan_directory(root, &DirOptions::default(), &NoProgress)
        .unwrap();
    assert_eq!(out.findings.len(), 1);
}

#[cfg(unix)]
#[test]
fn unreadable_files_are_counted_not_fatal() {
    use std::os::unix::fs::PermissionsExt as _;
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let locked = root.join("locked.env");
    std::fs::write(&locked, format!("T={PAT1}\n")).unwrap();
    std::fs::set_permissions(&locked, std::fs::Permissions::from_mode(0o000)).unwrap();
    std::fs::write(root.join("open.env"), format!("T={PAT1}\n")).unwrap();
    let out = scanner_default()
        .scan_directory(root, &DirOptions::default(), &NoProgress)
        .unwrap();
    // Root can read anything; only assert the unreadable path when the file really is unreadable.
    if std::fs::read(&locked).is_err() {
        assert_eq!(out.stats.unreadable, 1);
        assert!(out.notes.iter().any(|n| n.contains("locked.env")));
        assert_eq!(out.findings.len(), 1);
    } else {
        assert_eq!(out.findings.len(), 2);
    }
}

#[test]
fn missing_root_is_an_error() {
    let tmp = tempfile::tempdir().unwrap();
    let err = scanner_default()
        .scan_directory(&tmp.path().join("nope"), &DirOptions::default(), &NoProgress)
        .unwrap_err();
    assert!(err.to_string().contains("nope"));
}

#[test]
fn fingerprints_are_stable_and_ignore_line_moves() {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("app.env");
    std::fs::write(&file, format!("T={PAT1}\n")).unwrap();
    let a = scanner_default()
        .scan_directory(tmp.path(), &DirOptions::default(), &NoProgress)
        .unwrap();
    std::fs::write(&file, format!("# moved down\n\nT={PAT1}\n")).unwrap();
    let b = scanner_default()
        .scan_directory(tmp.path(), &DirOptions::default(), &NoProgress)
        .unwrap();
    assert_eq!(a.findings[0].fingerprint, b.findings[0].fingerprint);
    assert_ne!(
        a.findings[0].location.start_line,
        b.findings[0].location.start_line
    );
    let expected = labgate_scan::finding::fingerprint(
        "gitlab-pat",
        &labgate_scan::finding::sha256_hex(PAT1.as_bytes()),
        "app.env",
    );
    assert_eq!(a.findings[0].fingerprint, expected);
}
