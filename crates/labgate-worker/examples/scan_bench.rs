//! Secret scanning benchmark: a gitlab-sim group of generated projects with real git history
//! (some with planted GitLab tokens, later deleted from the branch), a data source on the group,
//! and a full scan end to end through the worker (mirror clone, history scan, findings stored)
//! with bounded parallelism. Then incremental scans of one-commit pushes on the warm mirror
//! cache, timed from the push being acknowledged (gitlab-sim then sends its webhook to labgate
//! served on a real socket, so the figure includes the delivery) to the push scan being stored;
//! against, in the same run, a full rescan of the same project on the warm cache and a cold one
//! (mirror clone and full scan).
//!
//! ```sh
//! cargo run --release -p labgate-worker --example scan_bench
//! ```
//! `PROJECTS=50 COMMITS=300 PUSHES=15 PARALLELISM=2` are the defaults.

use std::io::Write as _;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine as _;
use gitlab_sim::Seed;
use labgate_core::Services;
use labgate_core::scanning::ScanSettings;
use labgate_core::scanning::findings::FindingQuery;
use labgate_proto::connections::{AccessTokenCredentials, CreateConnectionRequest};
use labgate_proto::secret_scanning::{
    CreateDataSourceRequest, GitLabDataSourceConfig, ScanKind, ScanScope, ScanStatus,
};
use labgate_testkit::TestEnv;
use labgate_worker::{Worker, WorkerSettings, default_handlers};

const TOKEN: &str = "glpat-benchBENCHbench12345";
const FILES: usize = 24;

fn env_number(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(default)
}

/// A small deterministic generator, so every run builds the same history.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn token(&mut self) -> String {
        const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
        let tail: String = (0..20)
            .map(|_| char::from(ALPHABET[self.below(ALPHABET.len())]))
            .collect();
        format!("glpat-{tail}")
    }
}

/// One generated source file: config, code and prose lines, as a repository holds.
fn file_content(rng: &mut Rng, file: usize, generation: usize) -> String {
    let mut out = String::new();
    let lines = 30 + rng.below(60);
    for line in 0..lines {
        match rng.below(4) {
            0 => out.push_str(&format!(
                "fn handler_{file}_{line}(input: &str) -> usize {{ input.len() + {} }}\n",
                rng.below(1000)
            )),
            1 => out.push_str(&format!(
                "setting_{line} = \"value-{generation}-{}\"\n",
                rng.below(100_000)
            )),
            2 => out.push_str(&format!(
                "# Revision {generation}: the {line}th step retries {} times before giving up.\n",
                rng.below(9)
            )),
            _ => out.push_str(&format!(
                "    let total_{line} = items.iter().filter(|i| i.weight > {}).count();\n",
                rng.below(500)
            )),
        }
    }
    out
}

fn data(stream: &mut Vec<u8>, bytes: &[u8]) {
    stream.extend_from_slice(format!("data {}\n", bytes.len()).as_bytes());
    stream.extend_from_slice(bytes);
    stream.push(b'\n');
}

/// A `git fast-import` stream of `commits` commits on `main`; with `plant`, one commit in the
/// middle adds a file holding the token and a later one deletes it.
fn history(project: usize, commits: usize, plant: Option<&str>) -> Vec<u8> {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15 ^ (project as u64 + 1));
    let mut stream = Vec::new();
    let start = 1_600_000_000 + project as u64 * 1_000;
    let planted_at = commits / 2;
    for n in 0..commits {
        stream.extend_from_slice(b"commit refs/heads/main\n");
        stream.extend_from_slice(format!("mark :{}\n", n + 1).as_bytes());
        stream.extend_from_slice(
            format!(
                "committer Dev {n} <dev{}@example.com> {} +0000\n",
                n % 7,
                start + n as u64 * 3_600
            )
            .as_bytes(),
        );
        data(&mut stream, format!("Change {n} of project {project}").as_bytes());
        if n > 0 {
            stream.extend_from_slice(format!("from :{n}\n").as_bytes());
        }
        let touched = if n == 0 { FILES } else { 1 + rng.below(3) };
        for k in 0..touched {
            let file = if n == 0 { k } else { rng.below(FILES) };
            stream.extend_from_slice(format!("M 100644 inline src/module_{file}.rs\n").as_bytes());
            let content = file_content(&mut rng, file, n);
            data(&mut stream, content.as_bytes());
        }
        if let Some(token) = plant {
            if n == planted_at {
                stream.extend_from_slice(b"M 100644 inline config/deploy.env\n");
                data(
                    &mut stream,
                    format!("GITLAB_TOKEN={token}\nREGION=eu\n").as_bytes(),
                );
            } else if n == planted_at + 3 {
                stream.extend_from_slice(b"D config/deploy.env\n");
            }
        }
    }
    stream
}

fn auth_header() -> String {
    format!(
        "http.extraHeader=Authorization: Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("alice:{TOKEN}"))
    )
}

fn git(dir: &Path, args: &[&str]) {
    let out = Command::new("git")
        .arg("-c")
        .arg(auth_header())
        .args(args)
        .current_dir(dir)
        .env("GIT_TERMINAL_PROMPT", "0")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("HOME", dir)
        .env("GIT_AUTHOR_NAME", "Bench")
        .env("GIT_AUTHOR_EMAIL", "bench@example.com")
        .env("GIT_COMMITTER_NAME", "Bench")
        .env("GIT_COMMITTER_EMAIL", "bench@example.com")
        .output()
        .expect("run git");
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Builds a project's history with fast-import and pushes it to gitlab-sim.
fn publish(sim_url: &str, work: &Path, project: usize, commits: usize, plant: Option<&str>) {
    let dir = work.join(format!("p{project:02}.git"));
    std::fs::create_dir_all(&dir).expect("a work directory");
    git(&dir, &["init", "-q", "--bare"]);
    let mut child = Command::new("git")
        .args(["fast-import", "--quiet"])
        .current_dir(&dir)
        .stdin(Stdio::piped())
        .spawn()
        .expect("run git fast-import");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(&history(project, commits, plant))
        .expect("feed fast-import");
    assert!(child.wait().expect("fast-import ends").success());
    let url = format!("{sim_url}/bench/p{project:02}.git");
    git(&dir, &["push", "-q", &url, "main"]);
}

fn worker(services: &Services) -> Worker {
    let settings = WorkerSettings {
        owner: "bench".to_owned(),
        ..WorkerSettings::default()
    };
    let handlers = default_handlers(
        &settings,
        labgate_worker::delivery_client(&services.network).expect("an HTTP client"),
    );
    Worker::new(services.clone(), settings, handlers)
}

async fn drain(worker: &Worker) {
    while worker.run_once().await.expect("the queue answers").is_some() {}
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1_000.0
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let rank = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

#[tokio::main]
async fn main() {
    let projects = env_number("PROJECTS", 50);
    let commits = env_number("COMMITS", 300);
    let pushes = env_number("PUSHES", 15).max(1);
    let parallelism = env_number("PARALLELISM", 2);
    let mut seed = Seed::builder()
        .user("alice")
        .group("bench", "Bench")
        .member("bench", "alice", 50)
        .personal_token("alice", "bench", &["api"], TOKEN);
    for p in 0..projects {
        seed = seed.project(&format!("bench/p{p:02}"), &format!("P{p:02}"));
    }
    let env = TestEnv::builder().sim(seed.build()).build().await;
    let served = env.serve().await;
    let work = tempfile::tempdir().expect("a temporary directory");

    let started = Instant::now();
    let mut rng = Rng(42);
    let mut planted = 0;
    for p in 0..projects {
        let token = (p % 5 == 0).then(|| rng.token());
        planted += usize::from(token.is_some());
        publish(env.sim().url(), work.path(), p, commits, token.as_deref());
    }
    println!(
        "generated {projects} projects x {commits} commits ({planted} with a planted token) in {:.1} s",
        started.elapsed().as_secs_f64()
    );

    let cache = work.path().join("scan-cache");
    let services = env
        .services
        .clone()
        .with_scan_settings(ScanSettings::new(cache, 10 * 1024 * 1024 * 1024, parallelism))
        .with_site_url(Some(&served.url("")));
    let connection = services
        .connections
        .create(
            &env.admin,
            CreateConnectionRequest {
                name: "bench".to_owned(),
                description: None,
                method: "access-token".to_owned(),
                credentials: Some(
                    AccessTokenCredentials {
                        access_token: TOKEN.to_owned(),
                        instance_url: Some(env.sim().url().to_owned()),
                        access_token_type: "personal".to_owned(),
                    }
                    .into(),
                ),
                project_id: None,
                is_platform_managed_credentials: None,
                gateway_id: None,
                usages: None,
                auto_rotate: Some(false),
                rotate_before_days: None,
            },
        )
        .await
        .expect("the connection")
        .id;
    let scanning = &services.secret_scanning;
    // Auto-scan on: the group hook is installed and the first full scan queued.
    let source = scanning
        .create(
            &env.admin,
            CreateDataSourceRequest {
                name: "bench".to_owned(),
                description: None,
                connection_id: connection,
                config: GitLabDataSourceConfig {
                    scope: ScanScope::Group,
                    project_id: None,
                    group_id: Some("bench".to_owned()),
                    include_projects: None,
                },
                is_auto_scan_enabled: Some(true),
            },
        )
        .await
        .expect("the data source");
    let w = worker(&services);
    let started = Instant::now();
    drain(&w).await;
    let full = started.elapsed();
    let scans = scanning.scans(&env.admin, &source.id).await.expect("scans").scans;
    let run = scans
        .iter()
        .find(|s| s.kind == ScanKind::Full)
        .expect("the full scan");
    assert_eq!(run.status, ScanStatus::Completed, "{:?}", run.status_message);
    let findings = scanning
        .findings(&env.admin, &FindingQuery::default())
        .await
        .expect("findings")
        .findings
        .len();

    // Incremental scans of one-commit pushes to one project, on the warm cache.
    let checkout = work.path().join("checkout");
    std::fs::create_dir_all(&checkout).expect("a checkout directory");
    let url = format!("{}/bench/p01.git", env.sim().url());
    git(&checkout, &["clone", "-q", &url, "repo"]);
    let repo = checkout.join("repo");
    let mut times = Vec::with_capacity(pushes);
    let mut push_findings = 0;
    for n in 0..pushes {
        let leak = (n % 3 == 0).then(|| rng.token());
        let content = match &leak {
            Some(token) => format!("TOKEN={token}\n"),
            None => format!("change {n}\n"),
        };
        std::fs::write(repo.join(format!("push-{n}.txt")), content).expect("write a file");
        git(&repo, &["add", "."]);
        git(&repo, &["commit", "-q", "-m", &format!("push {n}")]);
        git(&repo, &["push", "-q", "origin", "HEAD"]);
        let pushed = Instant::now();
        loop {
            w.run_once().await.expect("the queue answers");
            let done = scanning
                .scans(&env.admin, &source.id)
                .await
                .expect("scans")
                .scans
                .into_iter()
                .filter(|s| s.kind == ScanKind::Push && s.status == ScanStatus::Completed)
                .count();
            if done > n {
                break;
            }
            assert!(
                pushed.elapsed() < Duration::from_secs(60),
                "push {n} was not scanned"
            );
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        times.push(pushed.elapsed());
        push_findings += usize::from(leak.is_some());
    }
    let pushed_found = scanning
        .findings(&env.admin, &FindingQuery::default())
        .await
        .expect("findings")
        .findings
        .len()
        - findings;
    assert_eq!(pushed_found, push_findings, "every pushed token is found");
    times.sort();
    let median = percentile(&times, 0.5);
    let p95 = percentile(&times, 0.95);

    // Baselines on the same project: a full rescan on the warm cache, and a cold one.
    let resource = scanning
        .resources(&env.admin, &source.id)
        .await
        .expect("resources")
        .resources
        .into_iter()
        .find(|r| r.name == "bench/p01")
        .expect("the project");
    scanning
        .trigger_resource_scan(&env.admin, &source.id, &resource.id)
        .await
        .expect("a rescan");
    let started = Instant::now();
    drain(&w).await;
    let warm = started.elapsed();
    let cold_services = services.clone().with_scan_settings(ScanSettings::new(
        work.path().join("cold-cache"),
        10 * 1024 * 1024 * 1024,
        parallelism,
    ));
    cold_services
        .secret_scanning
        .trigger_resource_scan(&env.admin, &source.id, &resource.id)
        .await
        .expect("a cold rescan");
    let started = Instant::now();
    drain(&worker(&cold_services)).await;
    let cold = started.elapsed();

    println!();
    println!("| measurement | result |");
    println!("|---|---|");
    println!(
        "| full scan, {projects} repositories x {commits} commits, parallelism {parallelism} | {:.2} s, {:.1} repos/s, {findings} findings ({planted} planted) |",
        full.as_secs_f64(),
        projects as f64 / full.as_secs_f64()
    );
    println!(
        "| push scan, 1 commit, warm cache ({pushes} pushes) | median {:.0} ms, p95 {:.0} ms, {push_findings} tokens pushed, all found |",
        ms(median),
        ms(p95)
    );
    println!(
        "| baseline: full rescan of the same project, warm cache | {:.0} ms ({:.1}x the median push scan) |",
        ms(warm),
        ms(warm) / ms(median)
    );
    println!(
        "| baseline: cold mirror clone and full scan of the same project | {:.0} ms ({:.1}x the median push scan) |",
        ms(cold),
        ms(cold) / ms(median)
    );
}
