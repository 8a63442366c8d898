use std::path::Path;

use labgate_scan::source::remote::{check_url, clone_command, is_remote};

#[test]
fn token_goes_to_the_environment_never_argv() {
    let token = "glpat-Qm3k9ZxT2bLw8RfN5yHc";
    let cmd = clone_command("https://gitlab.local/g/p.git", Path::new("/tmp/x"), Some(token));
    let argv: Vec<String> = cmd.get_args().map(|a| a.to_string_lossy().into_owned()).collect();
    assert!(
        argv.iter()
            .all(|a| !a.contains(token) && !a.contains("Authorization"))
    );
    assert_eq!(&argv[..2], ["clone", "--mirror"]);
    let envs: Vec<(String, String)> = cmd
        .get_envs()
        .filter_map(|(k, v)| {
            Some((
                k.to_string_lossy().into_owned(),
                v?.to_string_lossy().into_owned(),
            ))
        })
        .collect();
    let count: usize = envs
        .iter()
        .find(|(k, _)| k == "GIT_CONFIG_COUNT")
        .unwrap()
        .1
        .parse()
        .unwrap();
    let idx = count - 1;
    let key = envs
        .iter()
        .find(|(k, _)| *k == format!("GIT_CONFIG_KEY_{idx}"))
        .unwrap();
    assert_eq!(key.1, "http.extraHeader");
    let value = &envs
        .iter()
        .find(|(k, _)| *k == format!("GIT_CONFIG_VALUE_{idx}"))
        .unwrap()
        .1;
    use base64::Engine as _;
    let encoded = value.strip_prefix("Authorization: Basic ").unwrap();
    let decoded = base64::engine::general_purpose::STANDARD.decode(encoded).unwrap();
    assert_eq!(decoded, format!("oauth2:{token}").as_bytes());
    assert!(envs.iter().any(|(k, v)| k == "GIT_TERMINAL_PROMPT" && v == "0"));
}

#[test]
fn without_a_token_no_header_is_set() {
    let cmd = clone_command("https://gitlab.local/g/p.git", Path::new("/tmp/x"), None);
    assert!(
        cmd.get_envs()
            .all(|(k, _)| !k.to_string_lossy().starts_with("GIT_CONFIG_KEY"))
    );
}

#[test]
fn urls_with_credentials_are_refused() {
    assert!(check_url("https://oauth2:glpat-abc@gitlab.local/g/p.git").is_err());
    assert!(check_url("https://gitlab.local/g/p.git").is_ok());
    assert!(is_remote("https://gitlab.local/g/p.git"));
    assert!(is_remote("git@gitlab.local:g/p.git"));
    assert!(!is_remote("./some/dir"));
}

#[test]
fn clone_errors_are_clear_and_never_echo_the_token() {
    let tmp = tempfile::tempdir().unwrap();
    let missing = format!("file://{}/nope", tmp.path().display());
    let err = labgate_scan::source::remote::mirror_clone(
        &missing,
        &tmp.path().join("d"),
        Some("glpat-Qm3k9ZxT2bLw8RfN5yHc"),
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("git clone --mirror"), "{err}");
    assert!(!err.contains("glpat-Qm3k9ZxT2bLw8RfN5yHc"), "{err}");
}
