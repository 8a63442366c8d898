//! Access sync benchmark: gitlab-sim generates a large instance in process (at `SCALE=1`: 20,000
//! users, 2,000 groups, 50,000 projects, 500,000 memberships, 2,000 shares), answers every
//! request 50 ms late and holds each user to `RPM` authenticated requests a minute; labgate's
//! own ceiling is set to the same figure. One full instance-scope sync runs end to end through
//! the worker with an administrator's token, then (unless `GROUP_SYNC=0`) one group-scope sync
//! of the top-level group with the most projects.
//!
//! For each run it prints the requests labgate counted and the simulator saw against the lower
//! bound (one request per page of each listing needed, plus one detail per group, computed from
//! the simulator's data), the wall time against the rate-limit bound (lower-bound requests /
//! `RPM` minutes) and the process's peak memory (`VmHWM`); the simulator lives in this process,
//! so its share (the resident size once the instance is generated) is printed too.
//!
//! ```sh
//! SCALE=0.05 cargo run --release -p labgate-worker --example access_bench
//! ```
//! `SCALE=1 RPM=2000 LATENCY_MS=50 GROUP_SYNC=1 EXPORT_ROWS=1000000` are the defaults.
//!
//! Grants are computed when read, so after the instance sync it also times the reports on its
//! run: pages at the start, middle and end, one account's and one group's grants, and the first
//! `EXPORT_ROWS` rows of a CSV export.

use std::time::{Duration, Instant};

use gitlab_sim::db::AccessReadBound;
use gitlab_sim::{FaultRule, Generate, Seed};
use labgate_core::Services;
use labgate_core::access::AccessSyncSettings;
use labgate_core::access::reports::GrantFilter;
use labgate_gitlab::ClientOptions;
use labgate_proto::access::{AccessScope, AccessScopeKind, AccessSyncStatus, CreateAccessSourceRequest};
use labgate_proto::access_reports::AccessExportFormat;
use labgate_proto::connections::{AccessTokenCredentials, CreateConnectionRequest};
use labgate_testkit::TestEnv;
use labgate_worker::{Worker, WorkerSettings, default_handlers};

const TOKEN: &str = "glpat-benchBENCHbench12345";

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(default)
}

/// A line of `/proc/self/status` in MiB (`VmHWM`, `VmRSS`).
fn status_mib(field: &str) -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status.lines().find_map(|line| {
                line.strip_prefix(field)?
                    .strip_prefix(':')?
                    .trim()
                    .strip_suffix("kB")?
                    .trim()
                    .parse::<f64>()
                    .ok()
            })
        })
        .map_or(f64::NAN, |kib| kib / 1024.0)
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

fn sim_gets(env: &TestEnv) -> u64 {
    env.sim()
        .requests()
        .snapshot()
        .iter()
        .filter(|row| row.method == "GET" && row.route.starts_with("/api/v4"))
        .map(|row| row.count)
        .sum()
}

struct Measured {
    what: String,
    source: String,
    bound: AccessReadBound,
    requests: u64,
    sim_requests: u64,
    wall: Duration,
    summary: String,
    /// When each phase of the run began, from the start of the run.
    phases: Vec<(Duration, String)>,
}

async fn run_sync(
    env: &TestEnv,
    services: &Services,
    connection: &str,
    what: String,
    scope: AccessScope,
    bound: AccessReadBound,
) -> Measured {
    let access = &services.access;
    let source = access
        .create(
            &env.admin,
            CreateAccessSourceRequest {
                name: if matches!(scope.kind, AccessScopeKind::Instance) {
                    "bench-instance".to_owned()
                } else {
                    "bench-group".to_owned()
                },
                connection_id: connection.to_owned(),
                scope,
            },
        )
        .await
        .expect("the access source");
    let queued = access.trigger_sync(&env.admin, &source.id).await.expect("a sync");
    env.sim().requests().reset();
    let w = worker(services);
    let started = Instant::now();
    // The run's phases as another reader of the sync sees them, polled every 100 ms.
    let watcher = {
        let access = access.clone();
        let admin = env.admin.clone();
        let sync_id = queued.id.clone();
        tokio::spawn(async move {
            let mut phases: Vec<(Duration, String)> = Vec::new();
            loop {
                if let Ok(sync) = access.sync(&admin, &sync_id).await {
                    let phase = sync.progress.phase.unwrap_or_default();
                    if phases.last().is_none_or(|(_, last)| *last != phase) {
                        phases.push((started.elapsed(), phase));
                    }
                    if matches!(
                        sync.status,
                        AccessSyncStatus::Succeeded | AccessSyncStatus::Failed
                    ) {
                        return phases;
                    }
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        })
    };
    while w.run_once().await.expect("the queue answers").is_some() {}
    let wall = started.elapsed();
    let phases = watcher.await.expect("the phase watcher");
    let sync = access.sync(&env.admin, &queued.id).await.expect("the sync");
    assert_eq!(sync.status, AccessSyncStatus::Succeeded, "{sync:?}");
    let summary = access
        .sync_log(&env.admin, &sync.id)
        .await
        .expect("the sync log")
        .lines
        .into_iter()
        .map(|line| line.message)
        .filter(|message| message.contains("request"))
        .collect::<Vec<_>>()
        .join("; ");
    Measured {
        what,
        source: source.id.clone(),
        bound,
        requests: sync.request_count,
        sim_requests: sim_gets(env),
        wall,
        summary,
        phases,
    }
}

fn report(measured: &Measured, rpm: u64) {
    let bound = measured.bound.requests();
    let limit_minutes = bound as f64 / rpm as f64;
    let wall_minutes = measured.wall.as_secs_f64() / 60.0;
    println!(
        "| {} | {} groups, {} projects, {} memberships | {} (sim saw {}) vs bound {} ({:+.2} %) | {:.1} min vs {:.1} min at {rpm}/min: throughput {:.1} % of the limit |",
        measured.what,
        measured.bound.groups,
        measured.bound.projects,
        measured.bound.memberships,
        measured.requests,
        measured.sim_requests,
        bound,
        (measured.requests as f64 - bound as f64) * 100.0 / bound as f64,
        wall_minutes,
        limit_minutes,
        limit_minutes * 100.0 / wall_minutes,
    );
    if !measured.summary.is_empty() {
        println!("|   log | {} | | |", measured.summary);
    }
    let phases: Vec<String> = measured
        .phases
        .iter()
        .map(|(at, phase)| format!("{phase} at {:.1} s", at.as_secs_f64()))
        .collect();
    println!("|   phases | {} | | |", phases.join(", "));
}

/// The fastest of three calls, and the first call's answer.
async fn fastest<T, F: std::future::Future<Output = T>>(mut call: impl FnMut() -> F) -> (T, Duration) {
    let mut best = Duration::MAX;
    let mut first = None;
    for _ in 0..3 {
        let started = Instant::now();
        let answer = call().await;
        best = best.min(started.elapsed());
        first.get_or_insert(answer);
    }
    (first.expect("three calls"), best)
}

/// How long the reports take on the instance's run, whose grants are computed when read: pages
/// at the start, middle and end, one account's and one group's grants, and an export.
async fn measure_reads(env: &TestEnv, services: &Services, source: &str, group: &str, export_limit: u64) {
    let reports = &services.access_reports;
    let all = GrantFilter::default();
    let page = |offset: u64, filter: GrantFilter| {
        let admin = env.admin.clone();
        async move {
            reports
                .grants(&admin, Some(source), &filter, offset, 100)
                .await
                .expect("a page of grants")
        }
    };
    let cold = Instant::now();
    let first = page(0, all.clone()).await;
    let cold = cold.elapsed();
    let total = first.total_count;
    println!();
    println!("| read (instance run, {total} grants, computed when read) | answer | time |");
    println!("|---|---|---|");
    println!(
        "| first page of 100, first read of the run (loads its group tree and shares) | {} grants | {:.1} ms |",
        first.grants.len(),
        cold.as_secs_f64() * 1e3
    );
    for (what, offset) in [
        ("first page of 100", 0),
        ("page of 100 at the middle", total / 2),
        ("last page of 100", total.saturating_sub(100)),
    ] {
        let (answer, took) = fastest(|| page(offset, all.clone())).await;
        println!(
            "| {what} (offset {offset}) | {} grants | {:.1} ms |",
            answer.grants.len(),
            took.as_secs_f64() * 1e3
        );
    }
    let middle = page(total / 2, all.clone()).await;
    if let Some(username) = middle
        .grants
        .first()
        .and_then(|grant| grant.account.username.clone())
    {
        let filter = GrantFilter {
            account: Some(username.clone()),
            resource: None,
        };
        let (answer, took) = fastest(|| page(0, filter.clone())).await;
        println!(
            "| one account's grants ({username}), first page | {} of {} | {:.1} ms |",
            answer.grants.len(),
            answer.total_count,
            took.as_secs_f64() * 1e3
        );
    }
    for resource in [
        Some(group.to_owned()),
        middle
            .grants
            .first()
            .and_then(|grant| grant.resource.full_path.clone()),
    ]
    .into_iter()
    .flatten()
    {
        let filter = GrantFilter {
            account: None,
            resource: Some(resource.clone()),
        };
        let (answer, took) = fastest(|| page(0, filter.clone())).await;
        println!(
            "| grants on {resource}, first page | {} of {} | {:.1} ms |",
            answer.grants.len(),
            answer.total_count,
            took.as_secs_f64() * 1e3
        );
    }
    let started = Instant::now();
    let mut export = reports
        .export_grants(&env.admin, Some(source), &all, AccessExportFormat::Csv)
        .await
        .expect("an export");
    let mut rows = 0u64;
    let mut bytes = 0u64;
    while let Some(chunk) = export.chunks.next_chunk().await.expect("an export chunk") {
        rows += chunk.matches('\n').count() as u64;
        bytes += chunk.len() as u64;
        if rows > export_limit {
            break;
        }
    }
    let took = started.elapsed().as_secs_f64();
    println!(
        "| CSV export, first {} rows | {:.0} MiB | {took:.1} s: {:.0} grants/s |",
        rows.saturating_sub(1),
        bytes as f64 / 1_048_576.0,
        rows.saturating_sub(1) as f64 / took
    );
}

#[tokio::main]
async fn main() {
    let scale: f64 = env_or("SCALE", 1.0);
    let rpm: u64 = env_or("RPM", 2_000);
    let latency_ms: u64 = env_or("LATENCY_MS", 50);
    let group_sync: u8 = env_or("GROUP_SYNC", 1);
    let export_limit: u64 = env_or("EXPORT_ROWS", 1_000_000);
    let started = Instant::now();
    let mut seed = Seed::builder()
        .admin("root")
        .personal_token("root", "bench", &["api"], TOKEN)
        .build();
    seed.generate = Some(Generate::large().scaled(scale));
    seed.rate_limits.authenticated_api_per_minute = Some(rpm);
    let env = TestEnv::builder().sim(seed).build().await;
    let sim_mib = status_mib("VmRSS");
    let (users, groups, projects) = env
        .sim()
        .state()
        .read(|db| (db.users.len(), db.groups.len(), db.projects.len()));
    println!(
        "SCALE={scale}: generated {users} users, {groups} groups, {projects} projects in {:.1} s; \
         resident {sim_mib:.0} MiB with the simulator loaded",
        started.elapsed().as_secs_f64()
    );
    env.sim().faults().add(FaultRule {
        latency_ms,
        ..FaultRule::default()
    });

    let mut services = env.services.clone();
    services.connections = services.connections.clone().with_client_options(ClientOptions {
        use_env_proxy: false,
        ..ClientOptions::default()
    });
    services.access = services
        .access
        .clone()
        .with_connections(services.connections.clone())
        .with_settings(AccessSyncSettings {
            max_rpm: u32::try_from(rpm).unwrap_or(u32::MAX),
            ..AccessSyncSettings::default()
        });
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

    let today = env.sim().clock().today();
    let bound = env.sim().state().read(|db| db.access_read_bound(None, today));
    let instance = run_sync(
        &env,
        &services,
        &connection,
        "instance scope".to_owned(),
        AccessScope {
            kind: AccessScopeKind::Instance,
            full_path: None,
        },
        bound,
    )
    .await;
    // The top-level group with the most projects under it.
    let (path, group_bound) = env.sim().state().read(|db| {
        db.groups
            .values()
            .filter(|group| group.parent_id.is_none())
            .map(|group| {
                (
                    group.full_path.clone(),
                    db.access_read_bound(Some(group.id), today),
                )
            })
            .max_by_key(|(_, bound)| bound.projects)
            .expect("a top-level group")
    });
    measure_reads(&env, &services, &instance.source, &path, export_limit).await;
    let mut runs = vec![instance];
    if group_sync != 0 {
        runs.push(
            run_sync(
                &env,
                &services,
                &connection,
                format!("group scope ({path})"),
                AccessScope {
                    kind: AccessScopeKind::Group,
                    full_path: Some(path),
                },
                group_bound,
            )
            .await,
        );
    }

    println!();
    println!("| sync | read | requests (labgate) vs lower bound | wall time vs rate-limit bound |");
    println!("|---|---|---|---|");
    for run in &runs {
        report(run, rpm);
    }
    println!();
    println!(
        "peak memory (VmHWM) {:.0} MiB, of which the simulator with its generated instance about {sim_mib:.0} MiB; \
         latency {latency_ms} ms, limit {rpm} requests/minute at GitLab and in labgate",
        status_mib("VmHWM")
    );
}
