use axum::body::Body;
use axum::http::Request;
use labgate_testkit::TestEnv;
use proptest::prelude::*;
use serde_json::json;

use crate::{ROUTES, concrete};

fn post_keys(env: &TestEnv, content_type: Option<&str>, body: impl Into<Body>) -> Request<Body> {
    let mut request =
        Request::post("/api/v1/api-keys").header("authorization", format!("Bearer {}", env.admin_key));
    if let Some(content_type) = content_type {
        request = request.header("content-type", content_type);
    }
    request.body(body.into()).unwrap()
}

#[tokio::test]
async fn malformed_bodies_get_the_error_contract() {
    let env = TestEnv::new().await;
    let json = Some("application/json");
    let cases: Vec<(Request<Body>, u16, &str)> = vec![
        (post_keys(&env, json, "{\"name\": "), 400, "BadRequest"),
        (
            post_keys(&env, json, "{\"name\":\"x\",\"role\":\"reader\",\"extra\":1}"),
            400,
            "BadRequest",
        ),
        (
            post_keys(&env, json, "{\"name\": 5, \"role\": \"reader\"}"),
            400,
            "BadRequest",
        ),
        (
            post_keys(&env, json, "{\"name\": \"x\", \"role\": \"owner\"}"),
            400,
            "BadRequest",
        ),
        (post_keys(&env, json, "{\"role\": \"reader\"}"), 400, "BadRequest"),
        (post_keys(&env, json, "[]"), 400, "BadRequest"),
        (post_keys(&env, json, ""), 400, "BadRequest"),
        (
            post_keys(&env, json, vec![b'{', 0xff, 0xfe, b'}']),
            400,
            "BadRequest",
        ),
        (
            post_keys(&env, json, "{\"name\":\"x\",\"role\":\"reader\"} trailing"),
            400,
            "BadRequest",
        ),
        (
            post_keys(&env, Some("text/plain"), "{\"name\":\"x\",\"role\":\"reader\"}"),
            415,
            "UnsupportedMediaType",
        ),
        (
            post_keys(&env, None, "{\"name\":\"x\",\"role\":\"reader\"}"),
            415,
            "UnsupportedMediaType",
        ),
        (
            post_keys(&env, json, vec![b' '; 1024 * 1024 + 10]),
            413,
            "PayloadTooLarge",
        ),
    ];
    for (request, status, error) in cases {
        env.send(request).await.error(status, error);
    }
    // A secret sent in the wrong place is not echoed back.
    let reply = env
        .send(post_keys(
            &env,
            json,
            "{\"name\": \"x\", \"role\": \"glpat-supersecret123\"}",
        ))
        .await;
    reply.error(400, "BadRequest");
    assert!(!String::from_utf8_lossy(&reply.body).contains("supersecret"));
    // Field-level details for domain validation.
    let reply = env
        .call(
            "POST",
            "/api/v1/api-keys",
            &env.admin_key,
            Some(json!({"name": "", "role": "reader"})),
        )
        .await;
    let body = reply.error(400, "BadRequest");
    assert_eq!(body["details"][0]["field"], "name");
}

#[tokio::test]
async fn bad_paths_and_queries_are_client_errors() {
    let env = TestEnv::new().await;
    let key = Some(env.admin_key.as_str());
    env.get("/api/v1/jobs/not-a-uuid", key)
        .await
        .error(404, "NotFound");
    env.get("/api/v1/jobs/%FF%FE", key).await.error(400, "BadRequest");
    env.get("/api/v1/api-keys/..%2F..%2Fetc", key)
        .await
        .error(404, "NotFound");
    env.get("/api/v1/nothing-here", key).await.error(404, "NotFound");
    env.get("/nothing", None).await.error(404, "NotFound");
    for query in [
        "limit=0",
        "limit=101",
        "limit=-1",
        "limit=abc",
        "offset=-5",
        "state=bogus",
        "unknown=1",
    ] {
        env.get(&format!("/api/v1/jobs?{query}"), key)
            .await
            .error(400, "BadRequest");
    }
    let long = format!("/api/v1/jobs?kind={}", "k".repeat(5_000));
    env.get(&long, key).await.error(414, "UriTooLong");
    let reply = env.call("PUT", "/api/v1/jobs", &env.admin_key, None).await;
    reply.error(405, "MethodNotAllowed");
    assert!(reply.headers.contains_key("allow"));
}

/// Every list route: `offset` runs from 0 to the largest the store can count (`i64::MAX`) and
/// `limit` from 1 to 100. Past either end the answer is a 400 whose `details` say what was wrong,
/// never an empty page.
#[tokio::test]
async fn pages_out_of_bounds_are_refused_with_details() {
    use labgate_proto::pagination::{MAX_LIMIT, MAX_OFFSET};

    let env = TestEnv::new().await;
    let key = Some(env.admin_key.as_str());
    let id = uuid::Uuid::now_v7();
    let lists = [
        "/api/v1/access/sources".to_owned(),
        "/api/v1/api-keys".to_owned(),
        "/api/v1/audit-logs".to_owned(),
        "/api/v1/app-connections".to_owned(),
        "/api/v1/app-connections/gitlab".to_owned(),
        format!("/api/v1/app-connections/gitlab/{id}/events"),
        "/api/v1/jobs".to_owned(),
        "/api/v1/webhooks".to_owned(),
        format!("/api/v1/webhooks/{id}/deliveries"),
        format!("/api/v1/access/accounts?sourceId={id}"),
        format!("/api/v1/access/grants?sourceId={id}"),
        format!("/api/v1/access/resources?sourceId={id}"),
        "/api/v2/secret-scanning/findings".to_owned(),
    ];
    let beyond_u64 = format!("{}0", u64::MAX);
    let refused = [
        (format!("offset={}", MAX_OFFSET + 1), Some("offset")),
        (format!("offset={}", u64::MAX), Some("offset")),
        (format!("offset={beyond_u64}"), None),
        ("offset=-1".to_owned(), None),
        ("limit=0".to_owned(), Some("limit")),
        (format!("limit={}", MAX_LIMIT + 1), Some("limit")),
        (format!("limit={}", u64::from(u32::MAX) + 1), None),
    ];
    for list in &lists {
        // Infisical's routes answer invalid input with 422, as Infisical does.
        let (status, error) =
            if list.starts_with("/api/v1/app-connections") || list.starts_with("/api/v2/secret-scanning") {
                (422, "ValidationFailure")
            } else {
                (400, "BadRequest")
            };
        let separator = if list.contains('?') { '&' } else { '?' };
        for (query, field) in &refused {
            let body = env
                .get(&format!("{list}{separator}{query}"), key)
                .await
                .error(status, error);
            let details = body["details"]
                .as_array()
                .unwrap_or_else(|| panic!("{list}?{query}: {body}"));
            assert!(!details.is_empty(), "{list}?{query}: {body}");
            if let Some(field) = field {
                assert_eq!(details[0]["field"], *field, "{list}?{query}: {body}");
            }
        }
    }
    for list in lists[..5].iter().chain(lists.last()) {
        let reply = env
            .get(&format!("{list}?offset={MAX_OFFSET}&limit={MAX_LIMIT}"), key)
            .await;
        assert_eq!(
            reply.status,
            200,
            "{list}: {}",
            String::from_utf8_lossy(&reply.body)
        );
    }
}

fn every_route() -> Vec<(String, String)> {
    let id = uuid::Uuid::now_v7().to_string();
    ROUTES
        .iter()
        .map(|(method, path)| ((*method).to_owned(), concrete(path, &id)))
        .collect()
}

fn arbitrary_json() -> impl Strategy<Value = serde_json::Value> {
    let leaf = prop_oneof![
        Just(serde_json::Value::Null),
        any::<bool>().prop_map(serde_json::Value::from),
        any::<i64>().prop_map(serde_json::Value::from),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(serde_json::Value::from),
        ".{0,40}".prop_map(serde_json::Value::from),
        prop_oneof![
            Just("name"),
            Just("role"),
            Just("expiresAt"),
            Just("admin"),
            Just("reader")
        ]
        .prop_map(serde_json::Value::from),
    ];
    leaf.prop_recursive(3, 24, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(serde_json::Value::from),
            prop::collection::btree_map(
                prop_oneof![
                    Just("name".to_owned()),
                    Just("role".to_owned()),
                    Just("expiresAt".to_owned()),
                    "[a-z]{1,8}"
                ],
                inner,
                0..5
            )
            .prop_map(|map| serde_json::Value::Object(map.into_iter().collect())),
        ]
    })
}

/// Random bytes and random JSON, with and without a valid key, to every route: the answer is never
/// a 5xx, and every error follows the contract.
#[test]
fn random_input_never_breaks_the_server() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let env = runtime.block_on(TestEnv::new());
    let routes = every_route();
    let config = ProptestConfig {
        cases: 48,
        failure_persistence: None,
        ..ProptestConfig::default()
    };
    let body = prop_oneof![
        prop::collection::vec(any::<u8>(), 0..512).prop_map(|bytes| (bytes, "application/json".to_owned())),
        arbitrary_json().prop_map(|value| (value.to_string().into_bytes(), "application/json".to_owned())),
        prop::collection::vec(any::<u8>(), 0..64)
            .prop_map(|bytes| (bytes, "application/octet-stream".to_owned())),
    ];
    let query = prop::option::of("[a-zA-Z0-9=&%._-]{0,60}");
    proptest!(config, |(route in 0..routes.len(), (bytes, content_type) in body, query in query, with_key in any::<bool>())| {
        let (method, path) = &routes[route];
        let uri = match &query { Some(query) => format!("{path}?{query}"), None => path.clone() };
        let mut request = Request::builder().method(method.as_str()).uri(&uri).header("content-type", content_type);
        if with_key {
            request = request.header("authorization", format!("Bearer {}", env.admin_key));
        }
        let Ok(request) = request.body(Body::from(bytes)) else { return Ok(()) };
        let reply = runtime.block_on(env.send(request));
        prop_assert!(reply.status.as_u16() < 500, "{method} {uri}: {}", reply.status);
        if reply.status.as_u16() >= 400 {
            let body: serde_json::Value = serde_json::from_slice(&reply.body).unwrap();
            prop_assert_eq!(body["statusCode"].as_u64(), Some(u64::from(reply.status.as_u16())));
            prop_assert!(body["reqId"].is_string() && body["error"].is_string());
        }
    });
}
