pub mod admin;
pub mod connections;
pub mod remote;
pub mod serve;
