pub mod admin;
pub mod serve;
