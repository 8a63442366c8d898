//! Inputs: directory trees, local git history, and remote repositories.

pub mod dir;
pub mod git;
pub mod remote;
