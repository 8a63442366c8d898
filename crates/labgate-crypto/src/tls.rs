//! The process-wide rustls set-up.

/// Installs ring as the process-wide rustls crypto provider; later calls are no-ops.
///
/// reqwest and axum-server are built with their `*-no-provider` rustls features (axum-server's
/// other feature would compile aws-lc-rs next to ring), so rustls has no provider it can pick on
/// its own, and building a TLS client or server before one is installed panics. Every crate that
/// builds one calls this first.
pub fn install_default_provider() {
    // An error only means a provider is already installed (by an earlier call or by another
    // part of the process), which is all the caller needs.
    let _already_installed = rustls::crypto::ring::default_provider().install_default();
}

#[cfg(test)]
mod tests {
    #[test]
    fn installs_once_and_stays_idempotent() {
        super::install_default_provider();
        super::install_default_provider();
        assert!(rustls::crypto::CryptoProvider::get_default().is_some());
    }
}
