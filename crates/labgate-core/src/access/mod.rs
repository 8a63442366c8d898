//! Access sync: GitLab accounts, groups, projects and memberships, and the effective access
//! labgate computes from them with the path each grant comes by. Sources say what to read
//! (`sources`), the `access.sync` job reads it (`sync`), a recurring sweep keeps it fresh
//! (`schedule`).

pub mod diff;
pub mod effective;
pub mod gitlab;
pub mod grants;
pub mod hooks;
pub mod model;
pub mod provisioning;
pub mod reports;
mod schedule;
pub mod snapshot;
pub mod sources;
pub mod sync;

pub use schedule::DEFAULT_SYNC_INTERVAL;
pub use sources::{AccessScope, AccessSource, AccessSyncRun, AccessSyncSettings, AccessSyncs};
pub use sync::SyncJobEnd;
