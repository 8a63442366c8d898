//! Integration tests for labgate-crypto: the public API as the store and server use it.

mod api;
mod props;
