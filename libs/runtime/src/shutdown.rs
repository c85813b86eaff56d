//! Shutdown: one token that every task watches, fired by SIGTERM or SIGINT.

use tokio_util::sync::CancellationToken;

/// A cloneable shutdown trigger. Loops select on [`Shutdown::cancelled`] and, when it
/// fires, stop taking new records, flush and commit.
#[derive(Debug, Clone, Default)]
pub struct Shutdown {
    token: CancellationToken,
}

impl Shutdown {
    /// A trigger that has not fired.
    pub fn new() -> Self {
        Shutdown::default()
    }

    /// Fires the trigger.
    pub fn trigger(&self) {
        self.token.cancel();
    }

    /// Whether the trigger has fired.
    pub fn is_triggered(&self) -> bool {
        self.token.is_cancelled()
    }

    /// Completes once the trigger fires.
    pub async fn cancelled(&self) {
        self.token.cancelled().await
    }
}

/// Completes on the first SIGTERM or SIGINT and names it.
pub async fn signal() -> &'static str {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let (Ok(mut term), Ok(mut int)) = (
            signal(SignalKind::terminate()),
            signal(SignalKind::interrupt()),
        ) else {
            tracing::error!("cannot install signal handlers; only Ctrl-C will stop this");
            let _ = tokio::signal::ctrl_c().await;
            return "SIGINT";
        };
        tokio::select! {
            _ = term.recv() => "SIGTERM",
            _ = int.recv() => "SIGINT",
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
        "Ctrl-C"
    }
}
