//! The GitLab schemas and recorded fixtures that live beside the workspace, in `../shared/`.
//!
//! They are not part of the repository, so a local checkout without them skips the tests that
//! need them. CI must never skip those tests silently: with `CI` set, a missing path fails.

use std::path::{Path, PathBuf};

/// `<workspace root>/../shared/<relative>`, or `None` after printing why the caller skips.
///
/// # Panics
/// When the path does not exist and the `CI` environment variable is set (non-empty).
pub fn shared_dir(relative: &str) -> Option<PathBuf> {
    present_or_skip(shared_root().join(relative), in_ci())
}

fn present_or_skip(path: PathBuf, ci: bool) -> Option<PathBuf> {
    if path.exists() {
        return Some(path);
    }
    assert!(
        !ci,
        "{} is missing and CI is set: check out the GitLab schemas and fixtures in ../shared beside \
         the workspace, or these tests would pass without checking anything",
        path.display()
    );
    eprintln!(
        "skipping: {} is not available (with CI set this is a failure)",
        path.display()
    );
    None
}

/// Whether this run is CI (`CI` set to anything), where nothing may be skipped.
pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !v.is_empty())
}

/// The workspace root is the nearest ancestor of this crate whose `Cargo.toml` declares
/// `[workspace]`, so the answer does not depend on where the calling crate sits.
fn shared_root() -> PathBuf {
    let manifest_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let workspace = manifest_dir
        .ancestors()
        .find(|dir| {
            std::fs::read_to_string(dir.join("Cargo.toml")).is_ok_and(|toml| toml.contains("[workspace]"))
        })
        .unwrap_or(manifest_dir);
    workspace.join("../shared")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_root_is_beside_the_workspace() {
        let root = shared_root();
        assert!(root.ends_with("../shared"), "{}", root.display());
        let workspace = root.parent().and_then(Path::parent).unwrap();
        assert!(
            workspace.join("crates/labgate-testkit/Cargo.toml").exists(),
            "{}",
            workspace.display()
        );
    }

    #[test]
    fn a_present_path_is_returned() {
        let here = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
        assert_eq!(present_or_skip(here.clone(), true), Some(here));
    }

    #[test]
    fn a_missing_path_skips_locally() {
        let missing = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("no-such-fixture.json");
        assert_eq!(present_or_skip(missing, false), None);
    }

    #[test]
    #[should_panic(expected = "is missing and CI is set")]
    fn a_missing_path_fails_in_ci() {
        let missing = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("no-such-fixture.json");
        let _ = present_or_skip(missing, true);
    }
}
