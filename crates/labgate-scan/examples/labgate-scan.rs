//! Stand-alone `labgate scan` for benchmarks and local use without the full labgate binary:
//! `cargo run --release -p labgate-scan --example labgate-scan -- PATH [options]`.

use std::process::ExitCode;

use clap::Parser;
use labgate_scan::cli::{ScanArgs, run};

#[derive(Parser)]
#[command(
    name = "labgate-scan",
    version,
    about = "Scan a directory, git history or repository URL for secrets"
)]
struct Cli {
    #[command(flatten)]
    args: ScanArgs,
}

fn main() -> ExitCode {
    match run(Cli::parse().args) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}
