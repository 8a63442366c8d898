//! Integration tests for labgate-scan.

mod cli;
mod common;
mod dir;
mod encodings;
mod engine;
mod false_positives;
mod git;
mod remote;
mod routable;
mod rules;
mod verify;
