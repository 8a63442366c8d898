pub mod admin;
pub mod remote;
pub mod serve;
