//! Who is told when a folder's secrets change: functions registered at wiring time (the
//! auto-sync scheduler), called once per committed write, after the commit.

use futures_util::future::BoxFuture;
use parking_lot::RwLock;

use super::model::{EnvironmentSlug, SecretPath};
use crate::ids::{SecretProjectId, TenantId};

/// A folder whose secrets a committed write changed.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct FolderChange {
    pub tenant: TenantId,
    pub project: SecretProjectId,
    pub environment: EnvironmentSlug,
    pub path: SecretPath,
}

pub type ChangeHook = Box<dyn Fn(FolderChange) -> BoxFuture<'static, ()> + Send + Sync>;

/// The registered hooks, shared by every clone of the service.
#[derive(Default)]
pub struct ChangeHooks {
    hooks: RwLock<Vec<std::sync::Arc<ChangeHook>>>,
}

impl std::fmt::Debug for ChangeHooks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChangeHooks")
            .field("hooks", &self.hooks.read().len())
            .finish()
    }
}

impl ChangeHooks {
    pub fn register(&self, hook: ChangeHook) {
        self.hooks.write().push(std::sync::Arc::new(hook));
    }

    /// Calls every hook in registration order and waits for each.
    pub async fn notify(&self, change: &FolderChange) {
        let hooks: Vec<_> = self.hooks.read().clone();
        for hook in hooks {
            hook(change.clone()).await;
        }
    }
}
