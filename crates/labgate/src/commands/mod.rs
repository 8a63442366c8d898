pub mod access;
pub mod admin;
pub mod connections;
pub mod demo;
pub mod remote;
pub mod secrets;
pub mod serve;
pub mod syncs;
