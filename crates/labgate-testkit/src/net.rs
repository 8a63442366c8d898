//! Network doubles for tests of the outgoing-request guard: a resolver answering from a table
//! (names like `db.internal` resolve without asking any DNS server) and a forward proxy on
//! loopback that records what it was asked to reach and reaches nothing.

use std::collections::HashMap;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;

use labgate_gitlab::NameResolver;
use parking_lot::Mutex;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// Names answered from a table; any other name does not resolve. Entries can change while
/// clients use the table, which is how a test plays a name that rebinds between two lookups.
#[derive(Debug, Clone, Default)]
pub struct HostTable {
    entries: Arc<Mutex<HashMap<String, Vec<IpAddr>>>>,
}

impl HostTable {
    /// A table where `host` resolves to `address`.
    ///
    /// # Panics
    /// If `address` is not an IP address.
    #[must_use]
    pub fn with(self, host: &str, address: &str) -> HostTable {
        self.set(host, address);
        self
    }

    /// Points `host` at `address` from now on.
    ///
    /// # Panics
    /// If `address` is not an IP address.
    pub fn set(&self, host: &str, address: &str) {
        let ip: IpAddr = address.parse().expect("an IP address");
        self.entries.lock().insert(host.to_ascii_lowercase(), vec![ip]);
    }

    /// The table as a resolver for a `NetworkPolicy`.
    pub fn resolver(&self) -> Arc<dyn NameResolver> {
        Arc::new(self.clone())
    }
}

impl NameResolver for HostTable {
    fn lookup(
        &self,
        host: &str,
        port: u16,
    ) -> Pin<Box<dyn Future<Output = std::io::Result<Vec<SocketAddr>>> + Send + 'static>> {
        let found: Option<Vec<SocketAddr>> = self
            .entries
            .lock()
            .get(&host.to_ascii_lowercase())
            .map(|addresses| addresses.iter().map(|ip| SocketAddr::new(*ip, port)).collect());
        Box::pin(async move {
            found.ok_or_else(|| {
                std::io::Error::new(
                    std::io::ErrorKind::NotFound,
                    "the name is not in the test's host table",
                )
            })
        })
    }
}

type OnRequest = Arc<dyn Fn(&str) + Send + Sync>;

/// A forward proxy on 127.0.0.1 that records each request's method and target
/// (`CONNECT db.internal:443`, `POST http://localhost:8080/hook`) and connects nowhere: it
/// refuses tunnels with 502 and answers plain requests 204 itself.
pub struct RecordingProxy {
    address: SocketAddr,
    seen: Arc<Mutex<Vec<String>>>,
}

impl RecordingProxy {
    pub async fn start() -> RecordingProxy {
        Self::start_with(|_| {}).await
    }

    /// A proxy that calls `on_request` with each recorded line before answering.
    ///
    /// # Panics
    /// If no loopback port can be bound.
    pub async fn start_with(on_request: impl Fn(&str) + Send + Sync + 'static) -> RecordingProxy {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind a loopback port");
        let address = listener.local_addr().expect("a bound address");
        let seen = Arc::new(Mutex::new(Vec::new()));
        let on_request: OnRequest = Arc::new(on_request);
        let recorded = Arc::clone(&seen);
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let recorded = Arc::clone(&recorded);
                let on_request = Arc::clone(&on_request);
                tokio::spawn(async move {
                    let _ = serve(stream, &recorded, &on_request).await;
                });
            }
        });
        RecordingProxy { address, seen }
    }

    /// `http://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("http://{}", self.address)
    }

    /// Every request so far, as `METHOD target`.
    pub fn seen(&self) -> Vec<String> {
        self.seen.lock().clone()
    }
}

async fn serve(
    mut stream: TcpStream,
    recorded: &Mutex<Vec<String>>,
    on_request: &OnRequest,
) -> std::io::Result<()> {
    let mut buffer = Vec::new();
    let mut chunk = [0_u8; 4096];
    let head_end = loop {
        let read = stream.read(&mut chunk).await?;
        if read == 0 {
            return Ok(());
        }
        buffer.extend_from_slice(chunk.get(..read).unwrap_or_default());
        if let Some(at) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
            break at + 4;
        }
        if buffer.len() > 64 * 1024 {
            return Ok(());
        }
    };
    let head = String::from_utf8_lossy(buffer.get(..head_end).unwrap_or_default()).into_owned();
    let mut words = head.lines().next().unwrap_or_default().split(' ');
    let method = words.next().unwrap_or_default().to_owned();
    let target = words.next().unwrap_or_default().to_owned();
    let line = format!("{method} {target}");
    recorded.lock().push(line.clone());
    on_request(&line);
    if method == "CONNECT" {
        stream
            .write_all(b"HTTP/1.1 502 Bad Gateway\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
            .await?;
        return stream.shutdown().await;
    }
    // Read the body before answering, so closing the connection cannot reset it under the client.
    let length: usize = head
        .lines()
        .filter_map(|l| l.split_once(':'))
        .find(|(name, _)| name.trim().eq_ignore_ascii_case("content-length"))
        .and_then(|(_, value)| value.trim().parse().ok())
        .unwrap_or(0);
    let mut body = buffer.len() - head_end;
    while body < length {
        let read = stream.read(&mut chunk).await?;
        if read == 0 {
            break;
        }
        body += read;
    }
    stream
        .write_all(b"HTTP/1.1 204 No Content\r\nconnection: close\r\n\r\n")
        .await?;
    stream.shutdown().await
}
