//! Text that is not plain UTF-8 on the surface: UTF-16 files, and values that their format
//! declares to be base64 (Kubernetes secrets, Docker config), decoded without `--decode`.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use labgate_scan::{BlobScan, DirOptions, GitOptions, NoProgress};

use crate::common::{scanner_default, secrets};
use crate::git::{commit_file, git, init};

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

#[test]
fn kubernetes_secret_data_is_decoded_by_default() {
    let scanner = scanner_default();
    let yaml = format!(
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: ci\ntype: Opaque\ndata:\n  username: {}\n  token: {}\n",
        STANDARD.encode("deploy-bot"),
        STANDARD.encode(PAT),
    );
    let BlobScan::Scanned(found) = scanner.scan_blob(yaml.as_bytes()) else {
        panic!()
    };
    assert_eq!(found.len(), 1);
    let m = &found[0];
    assert_eq!(m.secret, PAT.as_bytes());
    // The finding points at the encoded value on its original line.
    assert_eq!((m.start_line, m.start_column), (8, 10));
    assert_eq!(
        &yaml.as_bytes()[m.secret_span.clone()],
        STANDARD.encode(PAT).as_bytes()
    );
    assert_eq!(m.metadata.get("encoding").map(String::as_str), Some("base64"));
    assert_eq!(
        m.metadata.get("decoded_from").map(String::as_str),
        Some("kubernetes-secret-data")
    );

    // The same manifest as JSON, and as one document of several.
    let json = format!(
        r#"{{"apiVersion": "v1", "kind": "Secret", "metadata": {{"name": "ci"}}, "data": {{"token": "{}"}}}}"#,
        STANDARD.encode(PAT)
    );
    assert_eq!(
        secrets(&scanner, &json),
        [("gitlab-pat".to_owned(), PAT.to_owned())]
    );
    let multi = format!("kind: ConfigMap\ndata:\n  a: b\n---\n{yaml}");
    assert_eq!(
        secrets(&scanner, &multi),
        [("gitlab-pat".to_owned(), PAT.to_owned())]
    );
}

#[test]
fn docker_config_auth_and_dockerconfigjson_in_a_secret_are_decoded() {
    let scanner = scanner_default();
    let auth = STANDARD.encode(format!("gitlab-ci-token:{PAT}"));
    let config = format!(
        "{{\n  \"auths\": {{\n    \"registry.gitlab.corp\": {{\n      \"auth\": \"{auth}\"\n    }}\n  }}\n}}\n"
    );
    let BlobScan::Scanned(found) = scanner.scan_blob(config.as_bytes()) else {
        panic!()
    };
    // The token inside replaces the generic "registry credentials" match on the same value.
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].secret, PAT.as_bytes());
    assert_eq!((found[0].start_line, found[0].start_column), (4, 16));
    assert_eq!(
        found[0].metadata.get("decoded_from").map(String::as_str),
        Some("docker-config-auth")
    );

    // `kubectl create secret docker-registry` output: base64 of that JSON, inside a Secret.
    let manifest = format!(
        "apiVersion: v1\nkind: Secret\ntype: kubernetes.io/dockerconfigjson\ndata:\n  .dockerconfigjson: {}\n",
        STANDARD.encode(&config)
    );
    let BlobScan::Scanned(found) = scanner.scan_blob(manifest.as_bytes()) else {
        panic!()
    };
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].secret, PAT.as_bytes());
    assert_eq!((found[0].start_line, found[0].start_column), (5, 22));
    assert_eq!(
        found[0].metadata.get("decoded_from").map(String::as_str),
        Some("kubernetes-secret-data/docker-config-auth")
    );

    // A registry login without a known token format is still reported, as before.
    let plain = STANDARD.encode("ci-bot:UdTqT7kYQxWQte4n4Nh68ir1");
    let config = format!(r#"{{"auths": {{"registry.local": {{"auth": "{plain}"}}}}}}"#);
    assert_eq!(
        secrets(&scanner, &config),
        [("docker-config-auth".to_owned(), plain.clone())]
    );
}

#[test]
fn declared_base64_that_decodes_to_placeholders_or_binary_reports_nothing() {
    let scanner = scanner_default();
    let yaml = format!(
        "kind: Secret\ndata:\n  token: {}\n  cert: {}\n",
        STANDARD.encode("glpat-xxxxxxxxxxxxxxxxxxxx"),
        STANDARD.encode([0u8, 159, 146, 150, 1, 2, 3, 4, 5, 6, 7, 8])
    );
    assert!(secrets(&scanner, &yaml).is_empty());
}

#[test]
fn history_scans_decode_kubernetes_secrets_too() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    init(dir);
    let yaml = format!(
        "apiVersion: v1\nkind: Secret\ndata:\n  token: {}\n",
        STANDARD.encode(PAT)
    );
    commit_file(
        dir,
        "k8s/secret.yaml",
        &yaml,
        "add secret",
        "2024-01-01T00:00:00Z",
    );
    let out = scanner_default()
        .scan_repository(dir, &GitOptions::default(), &NoProgress)
        .unwrap();
    assert_eq!(out.findings.len(), 1);
    assert_eq!(out.findings[0].secret, PAT);
    assert_eq!(out.findings[0].location.path.as_deref(), Some("k8s/secret.yaml"));
    assert_eq!(out.findings[0].location.start_line, 4);
}
