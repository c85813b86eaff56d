//! The signals that stop the launcher: SIGINT (Ctrl-C), SIGTERM, and SIGHUP (the
//! terminal closed). The services run in their own process groups, so a Ctrl-C reaches
//! only the launcher, which then stops them in order; see [`crate::supervisor`].

use tokio::signal::unix::{Signal, SignalKind, signal};

/// Installed signal handlers; each [`Signals::recv`] waits for the next signal.
pub struct Signals {
    interrupt: Signal,
    terminate: Signal,
    hangup: Signal,
}

impl Signals {
    /// Installs the handlers. Done before any service starts, so that a signal during
    /// start-up stops the services instead of killing the launcher and orphaning them.
    pub fn install() -> std::io::Result<Self> {
        Ok(Signals {
            interrupt: signal(SignalKind::interrupt())?,
            terminate: signal(SignalKind::terminate())?,
            hangup: signal(SignalKind::hangup())?,
        })
    }

    /// Waits for the next signal and names it.
    pub async fn recv(&mut self) -> &'static str {
        tokio::select! {
            _ = self.interrupt.recv() => "SIGINT",
            _ = self.terminate.recv() => "SIGTERM",
            _ = self.hangup.recv() => "SIGHUP",
        }
    }
}
