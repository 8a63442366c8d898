//! Access sync: GitLab accounts, groups, projects and memberships, and the effective access
//! labgate computes from them with the path each grant comes by.

pub mod diff;
pub mod effective;
pub mod gitlab;
pub mod model;
pub mod reports;
pub mod snapshot;
