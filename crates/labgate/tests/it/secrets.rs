//! `labgate projects` and `labgate secrets` against a running server: values go in on stdin or
//! from a file, never on the command line, and come back out with `get`.

use crate::{Site, cli, json, ok, stderr};

const VALUE: &str = "pa55-word with spaces";
const FILE_VALUE: &str = "line one\nline two";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secrets_through_the_cli() {
    let site = Site::new().await;
    let server = site.serve(&[]);
    let key = server.bootstrap_key().unwrap();
    let env = [
        ("LABGATE_URL", server.url.as_str()),
        ("LABGATE_API_KEY", key.as_str()),
    ];
    let run = |args: &[&str], stdin: Option<&str>| cli(&site, &env, args, stdin);

    let project = json(&run(
        &["projects", "create", "--name", "Payments API", "--json"],
        None,
    ));
    assert_eq!(project["project"]["slug"], "payments-api");
    let listed = ok(&run(&["projects", "list"], None));
    assert!(
        listed.contains("payments-api") && listed.contains("dev, staging, prod"),
        "{listed}"
    );

    let folder = ["--project", "payments-api", "--env", "dev", "--path", "/app"];
    let with = |args: &[&'static str]| -> Vec<&'static str> { args.iter().copied().chain(folder).collect() };

    // The value comes from stdin; the trailing newline of `echo` is not part of it.
    let set = json(&run(
        &with(&["secrets", "set", "DB_PASSWORD", "--json"]),
        Some(&format!("{VALUE}\n")),
    ));
    assert_eq!(set["secret"]["version"], 1);
    assert_eq!(
        ok(&run(&with(&["secrets", "get", "DB_PASSWORD"]), None)),
        format!("{VALUE}\n")
    );

    // Setting it again from a file makes version 2, content taken as it is.
    let file = site.dir.path().join("value.txt");
    std::fs::write(&file, format!("{FILE_VALUE}\n")).unwrap();
    let file = file.to_str().unwrap().to_owned();
    let mut args: Vec<&str> = with(&["secrets", "set", "DB_PASSWORD", "--json"]);
    args.extend(["--value-file", &file]);
    assert_eq!(json(&run(&args, None))["secret"]["version"], 2);
    let got = json(&run(&with(&["secrets", "get", "DB_PASSWORD", "--json"]), None));
    assert_eq!(got["secret"]["secretValue"], FILE_VALUE);

    let dotenv = site.dir.path().join(".env");
    std::fs::write(
        &dotenv,
        "# service\nexport API_URL=https://api.example\nTOKEN=\"t0k\"\n",
    )
    .unwrap();
    let dotenv = dotenv.to_str().unwrap().to_owned();
    let mut args: Vec<&str> = with(&["secrets", "import", "--json"]);
    args.push(&dotenv);
    let summary = json(&run(&args, None));
    assert_eq!(summary["created"], serde_json::json!(["API_URL", "TOKEN"]));

    let table = ok(&run(&with(&["secrets", "list"]), None));
    assert!(
        table.contains("API_URL") && table.contains("DB_PASSWORD"),
        "{table}"
    );
    assert!(
        !table.contains("t0k") && !table.contains("line one"),
        "values are hidden: {table}"
    );
    let shown = ok(&run(&with(&["secrets", "list", "--show-values"]), None));
    assert!(shown.contains("t0k"), "{shown}");

    let history = json(&run(
        &with(&["secrets", "history", "DB_PASSWORD", "--json"]),
        None,
    ));
    assert_eq!(history["versions"].as_array().unwrap().len(), 2);
    let rolled = json(&run(
        &with(&["secrets", "rollback", "DB_PASSWORD", "--version", "1", "--json"]),
        None,
    ));
    assert_eq!(rolled["secret"]["version"], 3);
    assert_eq!(
        ok(&run(&with(&["secrets", "get", "DB_PASSWORD"]), None)),
        format!("{VALUE}\n")
    );
    assert_eq!(
        ok(&run(
            &with(&["secrets", "get", "DB_PASSWORD", "--version", "2"]),
            None
        )),
        format!("{FILE_VALUE}\n")
    );

    // Several keys are deleted together; then they are gone.
    let deleted = json(&run(
        &with(&["secrets", "delete", "API_URL", "TOKEN", "--json"]),
        None,
    ));
    assert_eq!(deleted["secrets"].as_array().unwrap().len(), 2);
    let missing = run(&with(&["secrets", "get", "TOKEN"]), None);
    assert!(!missing.status.success());
    assert!(stderr(&missing).contains("not found"), "{}", stderr(&missing));

    // Bad input is a message and a failing exit, not a crash.
    let bad = run(&with(&["secrets", "set", "BAD KEY"]), Some("x"));
    assert!(!bad.status.success());
    assert!(stderr(&bad).contains("secret key"), "{}", stderr(&bad));
    std::fs::write(site.dir.path().join("broken.env"), "A=1\nnot a pair\n").unwrap();
    let broken = site.dir.path().join("broken.env");
    let mut args: Vec<&str> = with(&["secrets", "import"]);
    args.push(broken.to_str().unwrap());
    let refused = run(&args, None);
    assert!(!refused.status.success());
    assert!(stderr(&refused).contains("line 2"), "{}", stderr(&refused));
    let unknown = run(&["secrets", "list", "--project", "nope", "--env", "dev"], None);
    assert!(
        stderr(&unknown).contains("no project has the slug"),
        "{}",
        stderr(&unknown)
    );

    let (_, logs) = server.stop();
    for value in [VALUE, "t0k", "line one"] {
        assert!(!logs.contains(value), "a value reached the server's logs");
    }
}
