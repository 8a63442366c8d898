//! Text that is not plain UTF-8 on the surface: UTF-16 files.

use labgate_scan::{BlobScan, DirOptions, GitOptions, NoProgress};

use crate::common::scanner_default;
use crate::git::{git, init};

const PAT: &str = "glpat-Qm3k9ZxT2bLw8RfN5yHc";
const GHP: &str = "ghp_Wq3ZbN8xK2mLp5RtV9cYh4JdF7sGa1Eu6TnB";

fn utf16(text: &str, little_endian: bool, bom: bool) -> Vec<u8> {
    let mut out = Vec::new();
    let units = (if bom { vec![0xFEFF_u16] } else { vec![] })
        .into_iter()
        .chain(text.encode_utf16());
    for u in units {
        out.extend(if little_endian {
            u.to_le_bytes()
        } else {
            u.to_be_bytes()
        });
    }
    out
}

#[test]
fn utf16_files_are_scanned_with_the_right_lines_and_columns() {
    let scanner = scanner_default();
    // Non-ASCII before the token on its line checks that columns count characters.
    let text = "# Windows settings\r\n\r\n$env:Ünïcode_TOKEN = \"{PAT}\"\r\n".replace("{PAT}", PAT);
    for little_endian in [true, false] {
        for bom in [true, false] {
            let data = utf16(&text, little_endian, bom);
            let BlobScan::Scanned(found) = scanner.scan_blob(&data) else {
                panic!("UTF-16 (le={little_endian}, bom={bom}) was treated as binary");
            };
            assert_eq!(found.len(), 1, "le={little_endian} bom={bom}");
            let m = &found[0];
            assert_eq!(m.secret, PAT.as_bytes());
            assert_eq!((m.start_line, m.start_column), (3, 23));
            assert_eq!(m.end_line, 3);
            // The span points into the UTF-16 bytes of the original file.
            assert_eq!(data[m.secret_span.clone()], utf16(PAT, little_endian, false));
            assert_eq!(
                m.metadata.get("text_encoding").map(String::as_str),
                Some(if little_endian { "utf-16le" } else { "utf-16be" })
            );
        }
    }
}

#[test]
fn utf16_in_directories_and_history_is_not_skipped_as_binary() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    init(dir);
    let content = utf16(&format!("line one\nGITHUB_TOKEN={GHP}\n"), true, true);
    std::fs::write(dir.join("settings.ps1"), &content).unwrap();
    std::fs::write(
        dir.join("image.bin"),
        [0x89, b'P', b'N', b'G', 0, 0, 0, 13, 1, 2, 3, 0, 0, 7, 9],
    )
    .unwrap();
    git(dir, &["add", "-A"]);
    git(dir, &["commit", "-q", "-m", "settings"]);

    let files = scanner_default()
        .scan_directory(dir, &DirOptions::default(), &NoProgress)
        .unwrap();
    assert_eq!(files.findings.len(), 1);
    assert_eq!(files.findings[0].location.path.as_deref(), Some("settings.ps1"));
    assert_eq!(files.findings[0].location.start_line, 2);
    assert_eq!(files.stats.binary_skipped, 1);

    let history = scanner_default()
        .scan_repository(dir, &GitOptions::default(), &NoProgress)
        .unwrap();
    assert_eq!(history.findings.len(), 1);
    assert_eq!(history.findings[0].secret, GHP);
    assert_eq!(history.findings[0].location.start_line, 2);
    assert_eq!(history.stats.binary_skipped, 1);
}
