//! Logs go to stderr as text or JSON; stdout is kept for what the operator must read (the
//! address, a bootstrap key) and for command output.

use tracing_subscriber::EnvFilter;

pub fn init(json: bool, level: &str) {
    let default = format!("{level},sqlx=warn,hyper=warn,rustls=warn");
    let filter = EnvFilter::try_from_env("RUST_LOG").unwrap_or_else(|_| EnvFilter::new(default));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let result = if json {
        builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .try_init()
    } else {
        builder
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .try_init()
    };
    // A subscriber may already be installed (tests); that one keeps logging.
    drop(result);
}
