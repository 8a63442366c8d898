//! Integration tests: every test starts its own simulator on 127.0.0.1:0.

mod access_events;
mod auth;
mod binary;
mod browser;
mod common;
mod control;
mod fidelity;
mod git;
mod members;
mod oauth;
mod pagination;
mod projects;
mod tokens;
mod users;
mod variables;
