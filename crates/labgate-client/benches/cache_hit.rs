//! The cost of a credential-cache hit, against the floor of any cache: one locked hash-map look-up
//! returning a shared pointer. `cargo bench -p labgate-client --bench cache_hit`.
//!
//! A stand-in labgate on loopback answers the one credential request that fills the cache; then a
//! million hits are timed, and the same number of bare look-ups.

use std::collections::HashMap;
use std::hint::black_box;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use axum::Json;
use axum::routing::get;
use labgate_client::{Client, CredentialCache};
use secrecy::SecretString;

const CALLS: u32 = 1_000_000;
const ID: &str = "0190a000-0000-7000-8000-000000000001";

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("address"));
        let answer = serde_json::json!({
            "credential": "glpat-benchBENCHbench1234",
            "tokenType": "personal",
            "expiresAt": null,
            "useUntil": (time::OffsetDateTime::now_utc() + time::Duration::hours(1))
                .format(&time::format_description::well_known::Rfc3339)
                .expect("a time"),
            "connectionId": ID,
            "scopes": ["api"],
            "instanceUrl": "https://gitlab.example.com",
        });
        let app = axum::Router::new().route(
            "/api/v1/credentials/gitlab",
            get(move || {
                let answer = answer.clone();
                async move { Json(answer) }
            }),
        );
        tokio::spawn(async move { axum::serve(listener, app).await });
        let client = Client::new(&url, SecretString::from("lgk_bench".to_owned())).expect("a client");
        let cache = CredentialCache::new(client);
        cache.get_credential_by_id(ID).await.expect("the first fetch");

        let started = Instant::now();
        for _ in 0..CALLS {
            black_box(cache.get_credential_by_id(black_box(ID)).await.expect("a hit"));
        }
        let hit = started.elapsed() / CALLS;

        let floor: Mutex<HashMap<String, Arc<u64>>> =
            Mutex::new(HashMap::from([(ID.to_owned(), Arc::new(1))]));
        let started = Instant::now();
        for _ in 0..CALLS {
            let value = floor.lock().expect("unpoisoned").get(black_box(ID)).cloned();
            black_box(value);
        }
        let bare = started.elapsed() / CALLS;
        println!("credential cache hit: {hit:?} per call ({CALLS} calls)");
        println!("bare locked look-up:  {bare:?} per call");
        println!(
            "ratio: {:.1}x the floor; target: under 1 µs per hit -> {}",
            hit.as_secs_f64() / bare.as_secs_f64(),
            if hit < std::time::Duration::from_micros(1) {
                "met"
            } else {
                "NOT met"
            }
        );
    });
}
