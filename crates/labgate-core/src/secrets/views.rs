//! The API's shapes of projects, environments, secrets and versions.

use labgate_proto::audit::AuditActor;
use labgate_proto::secrets::{
    EnvironmentView, ProjectView, SecretTagView, SecretType, SecretVersionView, SecretView,
};

use super::model::{Secret, SecretEnvironment, SecretProject, SecretVersion, TagSlug};
use crate::timefmt::format_time;

pub fn environment_view(environment: &SecretEnvironment) -> EnvironmentView {
    EnvironmentView {
        id: environment.id.to_string(),
        name: environment.name.clone(),
        slug: environment.slug.to_string(),
        position: environment.position,
    }
}

pub fn project_view(project: &SecretProject) -> ProjectView {
    ProjectView {
        id: project.id.to_string(),
        name: project.name.clone(),
        slug: project.slug.clone(),
        environments: project.environments.iter().map(environment_view).collect(),
        created_at: format_time(project.created_at),
        updated_at: format_time(project.updated_at),
    }
}

fn tag_views(tags: &[TagSlug]) -> Vec<SecretTagView> {
    tags.iter()
        .map(|tag| SecretTagView {
            slug: tag.to_string(),
            name: tag.to_string(),
        })
        .collect()
}

/// The secret with its value: only for answers that are meant to carry it.
pub fn secret_view(secret: Secret) -> SecretView {
    SecretView {
        id: secret.id.to_string(),
        workspace: secret.project_id.to_string(),
        secret_key: secret.key.to_string(),
        secret_value: secret.value,
        secret_comment: secret.comment,
        version: secret.version,
        secret_type: SecretType::Shared,
        environment: secret.environment.to_string(),
        secret_path: secret.path.to_string(),
        tags: tag_views(&secret.tags),
        created_at: format_time(secret.created_at),
        updated_at: format_time(secret.updated_at),
    }
}

pub fn version_view(version: SecretVersion) -> SecretVersionView {
    SecretVersionView {
        version: version.version,
        secret_key: version.key.to_string(),
        secret_comment: version.comment,
        tags: tag_views(&version.tags),
        actor: AuditActor {
            kind: version.actor.kind(),
            id: version.actor.id().map(str::to_owned),
        },
        created_at: format_time(version.created_at),
        secret_value: version.value,
    }
}
