//! End-to-end tests of the `labgate` binary: real processes on a fresh database of the run's
//! backend (`LABGATE_TEST_BACKEND`).

mod access;
mod access_provision;
mod config;
mod connect_button;
mod connections;
mod demo;
mod keys;
mod oauth;
mod secrets;
mod serve;
mod syncs;
mod ui;
mod workers;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex, mpsc};
use std::time::Duration;

use labgate_testkit::{TestBackend, TestDatabase};

/// A data directory and database for one test, and a way to run `labgate` against them.
pub struct Site {
    pub dir: tempfile::TempDir,
    pub database: TestDatabase,
}

impl Site {
    pub async fn new() -> Site {
        Site {
            dir: tempfile::tempdir().unwrap(),
            database: TestDatabase::new().await,
        }
    }

    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("labgate-data")
    }

    /// `labgate` with this site's database; SQLite sites use the zero-configuration default
    /// (`./labgate-data/labgate.db` under the working directory).
    pub fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_labgate"));
        command
            .args(args)
            .current_dir(self.dir.path())
            .env("RUST_LOG", "info");
        for (name, _) in std::env::vars() {
            if name.starts_with("LABGATE_") && !name.starts_with("LABGATE_TEST_") {
                command.env_remove(name);
            }
        }
        if self.database.backend() == TestBackend::Postgres {
            command.env("LABGATE_DATABASE_URL", self.database.url());
        }
        command
    }

    pub fn run(&self, args: &[&str]) -> Output {
        self.run_with(args, &[])
    }

    pub fn run_with(&self, args: &[&str], env: &[(&str, &str)]) -> Output {
        let mut command = self.command(args);
        command.envs(env.iter().copied());
        command.output().unwrap()
    }

    /// Starts `labgate serve` on a free port and waits for its address line.
    pub fn serve(&self, env: &[(&str, &str)]) -> Server {
        self.serve_on("127.0.0.1:0", env)
    }

    /// Starts `labgate serve` on `listen` and waits for its address line.
    pub fn serve_on(&self, listen: &str, env: &[(&str, &str)]) -> Server {
        let mut command = self.command(&["serve", "--listen", listen]);
        command
            .envs(env.iter().copied())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = command.spawn().unwrap();
        let stdout = child.stdout.take().unwrap();
        // Drained as it comes: a process logging more than a pipe holds would otherwise block.
        let logs: Arc<Mutex<String>> = Arc::default();
        let stderr = child.stderr.take().unwrap();
        let kept = logs.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let mut kept = kept.lock().unwrap();
                kept.push_str(&line);
                kept.push('\n');
            }
        });
        let (lines, received) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if lines.send(line).is_err() {
                    break;
                }
            }
        });
        let mut printed = Vec::new();
        loop {
            match received.recv_timeout(Duration::from_secs(60)) {
                Ok(line) => {
                    let address = line.strip_prefix("labgate listening on ").map(str::to_owned);
                    printed.push(line);
                    if let Some(url) = address {
                        return Server {
                            child,
                            url,
                            printed,
                            logs,
                        };
                    }
                }
                Err(_) => {
                    let _ = child.kill();
                    let _ = child.wait();
                    panic!(
                        "labgate serve did not start; stdout: {printed:?}\nstderr: {}",
                        logs.lock().unwrap()
                    );
                }
            }
        }
    }
}

pub struct Server {
    pub child: Child,
    pub url: String,
    /// Lines printed on stdout up to the address line.
    pub printed: Vec<String>,
    /// What it logged on stderr so far.
    pub logs: Arc<Mutex<String>>,
}

impl Server {
    pub fn bootstrap_key(&self) -> Option<String> {
        self.printed
            .iter()
            .find_map(|line| line.trim().strip_prefix("lgk_").map(|rest| format!("lgk_{rest}")))
    }

    /// Sends SIGTERM and returns the exit status and stderr.
    pub fn stop(mut self) -> (std::process::ExitStatus, String) {
        terminate(&self.child);
        let status = wait_timeout(&mut self.child, Duration::from_secs(30));
        // The drain thread ends with the pipe; give it the moment it needs to read the rest.
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while Arc::strong_count(&self.logs) > 1 && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        let logs = self.logs.lock().unwrap().clone();
        (status, logs)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn terminate(child: &Child) {
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

pub fn wait_timeout(child: &mut Child, limit: Duration) -> std::process::ExitStatus {
    let deadline = std::time::Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "process did not exit in time"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

pub fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

pub fn client() -> reqwest::Client {
    labgate_server::install_crypto_provider();
    reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap()
}

pub fn file_mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

/// Runs the CLI to the end with `env`, feeding `stdin` (closed at once without it).
pub fn cli(site: &Site, env: &[(&str, &str)], args: &[&str], stdin: Option<&str>) -> Output {
    let mut command = site.command(args);
    command
        .envs(env.iter().copied())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = command.spawn().unwrap();
    let mut input = child.stdin.take().unwrap();
    if let Some(text) = stdin {
        std::io::Write::write_all(&mut input, text.as_bytes()).unwrap();
    }
    drop(input);
    child.wait_with_output().unwrap()
}

/// The output of a command that must have succeeded.
pub fn ok(output: &Output) -> String {
    assert!(output.status.success(), "{}{}", stdout(output), stderr(output));
    stdout(output)
}

/// The JSON printed by a command that must have succeeded.
pub fn json(output: &Output) -> serde_json::Value {
    serde_json::from_str(&ok(output)).unwrap()
}
