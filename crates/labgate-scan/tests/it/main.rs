//! Integration tests for labgate-scan.

mod common;
mod routable;
mod rules;
