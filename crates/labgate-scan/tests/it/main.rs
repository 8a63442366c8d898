//! Integration tests for labgate-scan.

mod common;
mod engine;
mod false_positives;
mod git;
mod routable;
mod rules;
