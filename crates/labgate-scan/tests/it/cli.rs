//! The `labgate scan` driver, run in-process.

use std::path::Path;
use std::process::ExitCode;

use clap::Parser;
use labgate_scan::cli::{ScanArgs, run};

use crate::git::{commit_file, init};

#[derive(Parser)]
struct Harness {
    #[command(flatten)]
    args: ScanArgs,
}

pub fn args(list: &[&str]) -> ScanArgs {
    let mut argv = vec!["labgate-scan", "--no-progress"];
    argv.extend_from_slice(list);
    Harness::try_parse_from(argv).expect("arguments parse").args
}

pub fn run_to_file(dir: &Path, list: &[&str]) -> (ExitCode, String) {
    let out = dir.join("report.out");
    let mut all = list.to_vec();
    let out_s = out.to_str().unwrap().to_owned();
    all.extend_from_slice(&["--output", &out_s]);
    let code = run(args(&all)).expect("scan runs");
    (code, std::fs::read_to_string(out).unwrap())
}

const PAT1: &str = "glpat-Qm3k9ZxT2bLw8RfN5yHc";

fn project() -> tempfile::TempDir {
    let tmp = tempfile::tempdir().unwrap();
    let repo = tmp.path().join("repo");
    std::fs::create_dir(&repo).unwrap();
    init(&repo);
    commit_file(
        &repo,
        "deploy.env",
        &format!("GITLAB_TOKEN={PAT1}\n"),
        "add token",
        "2024-03-01T10:00:00Z",
    );
    commit_file(
        &repo,
        "deploy.env",
        "GITLAB_TOKEN=$CI_VAR\n",
        "remove token",
        "2024-03-02T10:00:00Z",
    );
    tmp
}

#[test]
fn history_is_the_default_and_no_history_scans_the_tree() {
    let tmp = project();
    let repo = tmp.path().join("repo");
    let r = repo.to_str().unwrap();
    let (code, json) = run_to_file(tmp.path(), &[r, "--format", "json"]);
    assert_eq!(code, ExitCode::from(1));
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v["findings"].as_array().unwrap().len(), 1);
    assert_eq!(v["findings"][0]["rule_id"], "gitlab-pat");
    assert_eq!(v["findings"][0]["location"]["commit"]["summary"], "add token");

    let (code, json) = run_to_file(tmp.path(), &[r, "--no-history", "--format", "json"]);
    assert_eq!(code, ExitCode::SUCCESS);
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert!(v["findings"].as_array().unwrap().is_empty());
}

#[test]
fn secrets_are_redacted_unless_asked() {
    let tmp = project();
    let r = tmp.path().join("repo");
    let r = r.to_str().unwrap();
    for format in ["text", "json", "sarif", "gitlab"] {
        let (_, report) = run_to_file(tmp.path(), &[r, "--format", format]);
        assert!(!report.contains(PAT1), "{format} leaks the secret");
        assert!(report.contains("glpa…5yHc"), "{format} lacks the redacted form");
    }
    let (_, report) = run_to_file(tmp.path(), &[r, "--format", "json", "--show-secrets"]);
    assert!(report.contains(PAT1));
}

#[test]
fn exit_code_is_configurable() {
    let tmp = project();
    let r = tmp.path().join("repo");
    let (code, _) = run_to_file(tmp.path(), &[r.to_str().unwrap(), "--exit-code", "42"]);
    assert_eq!(code, ExitCode::from(42));
    let (code, _) = run_to_file(tmp.path(), &[r.to_str().unwrap(), "--exit-code", "0"]);
    assert_eq!(code, ExitCode::SUCCESS);
}

#[test]
fn sarif_and_gitlab_reports_have_the_expected_shape() {
    let tmp = project();
    let r = tmp.path().join("repo");
    let (_, sarif) = run_to_file(tmp.path(), &[r.to_str().unwrap(), "--format", "sarif"]);
    let v: serde_json::Value = serde_json::from_str(&sarif).unwrap();
    assert_eq!(v["version"], "2.1.0");
    let run = &v["runs"][0];
    assert_eq!(run["tool"]["driver"]["name"], "labgate");
    assert_eq!(run["tool"]["driver"]["rules"][0]["id"], "gitlab-pat");
    let res = &run["results"][0];
    assert_eq!(res["ruleId"], "gitlab-pat");
    assert_eq!(res["level"], "error");
    assert_eq!(
        res["locations"][0]["physicalLocation"]["artifactLocation"]["uri"],
        "deploy.env"
    );
    assert_eq!(res["locations"][0]["physicalLocation"]["region"]["startLine"], 1);
    assert!(
        res["partialFingerprints"]["secretHash"]
            .as_str()
            .unwrap()
            .starts_with("sha256:")
    );
    assert!(res["partialFingerprints"]["commitSha"].is_string());

    let (_, gl) = run_to_file(tmp.path(), &[r.to_str().unwrap(), "--format", "gitlab"]);
    let v: serde_json::Value = serde_json::from_str(&gl).unwrap();
    assert_eq!(v["version"], "15.0.0");
    assert_eq!(v["scan"]["type"], "secret_detection");
    assert_eq!(v["scan"]["status"], "success");
    let start = v["scan"]["start_time"].as_str().unwrap();
    assert_eq!(start.len(), 19, "no zone suffix: {start}");
    let vuln = &v["vulnerabilities"][0];
    assert_eq!(vuln["severity"], "Critical");
    assert_eq!(vuln["identifiers"][0]["value"], "gitlab_personal_access_token");
    assert_eq!(vuln["location"]["file"], "deploy.env");
    assert_eq!(vuln["location"]["commit"]["message"], "add token");
    assert_eq!(vuln["id"].as_str().unwrap().len(), 36);
}

#[test]
fn text_report_names_place_rule_commit_and_totals() {
    let tmp = project();
    let r = tmp.path().join("repo");
    let (_, text) = run_to_file(tmp.path(), &[r.to_str().unwrap()]);
    assert!(text.contains("deploy.env:1:14 [gitlab-pat]"), "{text}");
    assert!(text.contains("Dev One <dev1@corp.test>"));
    assert!(text.contains("1 finding(s)"));
}

#[test]
fn baseline_from_a_previous_report_and_from_toml() {
    let tmp = project();
    let r = tmp.path().join("repo");
    let r = r.to_str().unwrap();
    let (_, json) = run_to_file(tmp.path(), &[r, "--format", "json"]);
    let base = tmp.path().join("baseline.json");
    std::fs::write(&base, &json).unwrap();
    let (code, text) = run_to_file(tmp.path(), &[r, "--baseline", base.to_str().unwrap()]);
    assert_eq!(code, ExitCode::SUCCESS);
    assert!(
        text.contains("0 finding(s) (1 suppressed by the baseline)"),
        "{text}"
    );

    let toml_base = tmp.path().join("allow.toml");
    std::fs::write(&toml_base, "[[ignore]]\npath = \"*.env\"\nreason = \"rotated\"\n").unwrap();
    let (code, _) = run_to_file(tmp.path(), &[r, "--baseline", toml_base.to_str().unwrap()]);
    assert_eq!(code, ExitCode::SUCCESS);
    std::fs::write(
        &toml_base,
        "[[ignore]]\nrule = \"gitlab-pat\"\npath = \"other/**\"\n",
    )
    .unwrap();
    let (code, _) = run_to_file(tmp.path(), &[r, "--baseline", toml_base.to_str().unwrap()]);
    assert_eq!(code, ExitCode::from(1), "both keys must match");
}

#[test]
fn test_fixtures_are_skipped_only_on_request() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("tree");
    std::fs::create_dir_all(dir.join("tests/fixtures")).unwrap();
    std::fs::write(dir.join("tests/fixtures/token.txt"), format!("{PAT1}\n")).unwrap();
    let d = dir.to_str().unwrap();
    let (code, _) = run_to_file(tmp.path(), &[d]);
    assert_eq!(code, ExitCode::from(1));
    let (code, _) = run_to_file(tmp.path(), &[d, "--ignore-test-fixtures"]);
    assert_eq!(code, ExitCode::SUCCESS);
}

#[test]
fn custom_rules_file_and_min_confidence() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("tree");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("a.cfg"),
        "acme = acme_0123456789abcdef0123456789abcdef\npassword = \"h7Gq!2mZ@x9LrT4#vB8k\"\n",
    )
    .unwrap();
    let rules = tmp.path().join("acme.toml");
    std::fs::write(
        &rules,
        "[[rule]]\nid = \"acme\"\nname = \"ACME\"\ndescription = \"d\"\npattern = '''(?P<secret>acme_[0-9a-f]{32})'''\nkeywords = [\"acme_\"]\nconfidence = \"medium\"\nseverity = \"low\"\n",
    )
    .unwrap();
    let d = dir.to_str().unwrap();
    let (_, json) = run_to_file(
        tmp.path(),
        &[d, "--format", "json", "--rules", rules.to_str().unwrap()],
    );
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    let ids: Vec<_> = v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["rule_id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(ids, ["acme"]);
    let (_, json) = run_to_file(tmp.path(), &[d, "--format", "json", "--min-confidence", "low"]);
    assert!(json.contains("generic-secret-assignment"));
}

#[test]
fn bad_input_gives_errors_not_panics() {
    let tmp = tempfile::tempdir().unwrap();
    let missing = tmp.path().join("missing");
    assert!(run(args(&[missing.to_str().unwrap()])).is_err());
    let plain = tmp.path().join("plain");
    std::fs::create_dir(&plain).unwrap();
    let err = run(args(&[plain.to_str().unwrap(), "--history"])).unwrap_err();
    assert!(err.to_string().contains("not a git repository"));
    assert!(
        run(args(&["https://user:secret@gitlab.local/g/p.git"]))
            .unwrap_err()
            .to_string()
            .contains("credentials")
    );
    let bad_base = tmp.path().join("b.toml");
    std::fs::write(&bad_base, "[[ignore]]\nnothing = 1\n").unwrap();
    assert!(
        run(args(&[
            plain.to_str().unwrap(),
            "--baseline",
            bad_base.to_str().unwrap()
        ]))
        .is_err()
    );
    assert!(
        Harness::try_parse_from(["x", "--verify"]).is_err(),
        "--verify needs --gitlab-url"
    );
}

#[test]
fn remote_urls_are_mirror_cloned_with_merge_request_refs() {
    let tmp = project();
    let repo = tmp.path().join("repo");
    // Move the token commit to an MR ref only.
    let head = crate::git::git(&repo, &["rev-parse", "HEAD~1"]);
    crate::git::git(&repo, &["update-ref", "refs/merge-requests/7/head", &head]);
    crate::git::git(&repo, &["reset", "-q", "--hard", "HEAD~1"]);
    crate::git::git(&repo, &["checkout", "-q", "--orphan", "fresh"]);
    commit_file(&repo, "x.txt", "clean\n", "fresh start", "2024-04-01T00:00:00Z");
    crate::git::git(&repo, &["branch", "-q", "-D", "main"]);
    let url = format!("file://{}", repo.display());
    let (code, json) = run_to_file(tmp.path(), &[&url, "--format", "json"]);
    assert_eq!(code, ExitCode::from(1), "{json}");
    assert!(json.contains("\"gitlab-pat\""));
}
