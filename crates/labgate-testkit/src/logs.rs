//! Every log line of a test binary, so tests can assert what never reaches the logs.

use std::sync::{Arc, OnceLock};

use parking_lot::Mutex;

type Buffer = Arc<Mutex<Vec<u8>>>;

static LOGS: OnceLock<Buffer> = OnceLock::new();

#[derive(Clone)]
struct LogSink(Buffer);

impl std::io::Write for LogSink {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Sends every log line of this process, at every level, into a buffer (once per process).
pub fn install_log_capture() {
    let _ = buffer();
}

fn buffer() -> Buffer {
    LOGS.get_or_init(|| {
        let buffer = Arc::new(Mutex::new(Vec::new()));
        let sink = LogSink(buffer.clone());
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .with_ansi(false)
            .with_writer(move || sink.clone())
            .finish();
        let _ = tracing::subscriber::set_global_default(subscriber);
        buffer
    })
    .clone()
}

/// Everything logged so far by this process.
pub fn captured_logs() -> String {
    String::from_utf8_lossy(&buffer().lock()).into_owned()
}
