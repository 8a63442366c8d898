use labgate_core::audit::AuditEvent;
use labgate_core::auth::{Actor, KeyRequest, Principal};
use labgate_proto::api_keys::Role;
use labgate_proto::audit::{AuditAction, AuditLogQuery, ResourceType};
use secrecy::ExposeSecret;

use crate::env;

async fn principal(
    env: &labgate_testkit::TestEnv,
    tenant_id: &labgate_core::ids::TenantId,
    name: &str,
) -> Principal {
    let request = KeyRequest {
        name,
        role: Role::Admin,
        expires_at: None,
        token: None,
    };
    let key = env
        .services
        .api_keys
        .create(tenant_id, &Actor::Cli, None, request)
        .await
        .unwrap();
    env.services
        .api_keys
        .authenticate(key.token.expose_secret(), Some([192, 0, 2, 7].into()))
        .await
        .unwrap()
}

fn read(connection: &str) -> AuditEvent<'_> {
    AuditEvent {
        action: AuditAction::ConnectionCredentialRead,
        resource_kind: ResourceType::AppConnection,
        resource_id: Some(connection),
        details: None,
    }
}

#[tokio::test]
async fn repeated_credential_reads_fold_per_actor_connection_and_minute() {
    let env = env().await;
    let acme = env.tenant.clone();
    let alice = principal(&env, &acme.id, "alice").await;
    let bob = principal(&env, &acme.id, "bob").await;
    let audit = &env.services.audit;
    for _ in 0..2 {
        audit.record_folded(&alice, read("c1"));
    }
    // Counting writes nothing; a flush writes the folds, and the next flush adds to them.
    assert!(
        env.store
            .recent_audit(acme.id.as_str(), 100)
            .await
            .unwrap()
            .iter()
            .all(|e| e.action != "app-connection.credential-read")
    );
    assert_eq!(audit.flush_folded().await.unwrap(), 1);
    assert_eq!(audit.flush_folded().await.unwrap(), 0, "nothing is written twice");
    audit.record_folded(&alice, read("c1"));
    audit.record_folded(&alice, read("c2"));
    audit.record_folded(&bob, read("c1"));
    env.clock.advance_ms(60_000);
    audit.record_folded(&alice, read("c1"));

    // Listing shows what this process counted so far.
    let query = AuditLogQuery {
        action: Some(AuditAction::ConnectionCredentialRead),
        ..AuditLogQuery::default()
    };
    let list = audit.list(&alice, &query, 100).await.unwrap();
    let mut folds: Vec<(String, String, u32)> = list
        .audit_logs
        .iter()
        .map(|e| {
            (
                e.actor.id.clone().unwrap(),
                e.resource_id.clone().unwrap(),
                e.occurrences,
            )
        })
        .collect();
    folds.sort();
    let alice_id = alice.actor.id().unwrap().to_owned();
    let bob_id = bob.actor.id().unwrap().to_owned();
    let mut expected = vec![
        (alice_id.clone(), "c1".to_owned(), 3),
        (alice_id.clone(), "c1".to_owned(), 1),
        (alice_id, "c2".to_owned(), 1),
        (bob_id, "c1".to_owned(), 1),
    ];
    expected.sort();
    assert_eq!(folds, expected);
    assert!(
        list.audit_logs
            .iter()
            .all(|e| e.source_ip.as_deref() == Some("192.0.2.7"))
    );
    assert!(
        list.audit_logs.iter().all(|e| e.created_at.ends_with(":00Z")),
        "dated at the minute"
    );
}
