//! Child process supervision: start each service, forward its output, report when it
//! exits, and stop them all with SIGTERM, then SIGKILL after a grace period.
//!
//! Each child runs in its own process group, so a Ctrl-C in the terminal reaches only the
//! launcher. Otherwise the services would get SIGINT from the terminal and then SIGTERM
//! from the launcher, and the runtime treats a second signal as "exit at once", skipping
//! the final flush and commit.
//!
//! A task per child owns its `tokio::process::Child` and both waits on it and signals it,
//! so a signal is only ever sent to a process not yet reaped (no pid-reuse race). SIGTERM
//! goes through `nix::sys::signal::kill`: tokio's `Child` can only send SIGKILL, the
//! workspace forbids `unsafe` (so no raw `libc::kill`), and spawning `kill -TERM` would
//! depend on a `kill` binary on PATH.

use std::future::Future;
use std::io::Write;
use std::process::{ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use tokio::process::{Child, Command};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tokio::time::{Instant, sleep_until, timeout};

use crate::output;
use crate::services::Launch;

/// How far the launcher has gone in stopping the services.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stop {
    /// Keep running.
    Running,
    /// SIGTERM sent: flush, commit, exit.
    Terminate,
    /// SIGKILL.
    Kill,
}

/// A service process that ended.
#[derive(Debug)]
pub struct Exit {
    /// The service.
    pub name: &'static str,
    /// How it ended (an error if waiting on it failed).
    pub status: std::io::Result<ExitStatus>,
}

impl Exit {
    /// Whether it exited with status 0.
    pub fn success(&self) -> bool {
        matches!(&self.status, Ok(status) if status.success())
    }

    /// "exit status 0", "signal 9 (SIGKILL)"…
    pub fn describe(&self) -> String {
        use std::os::unix::process::ExitStatusExt as _;
        match &self.status {
            Ok(status) => match (status.code(), status.signal()) {
                (Some(code), _) => format!("exit status {code}"),
                (None, Some(signal)) => match Signal::try_from(signal) {
                    Ok(name) => format!("killed by {name}"),
                    Err(_) => format!("killed by signal {signal}"),
                },
                (None, None) => status.to_string(),
            },
            Err(error) => format!("unknown ({error})"),
        }
    }
}

/// The running services.
pub struct Supervisor<W> {
    running: Vec<&'static str>,
    exits_tx: mpsc::UnboundedSender<Exit>,
    exits: mpsc::UnboundedReceiver<Exit>,
    stop: watch::Sender<Stop>,
    forwarders: Vec<JoinHandle<()>>,
    sink: Arc<Mutex<W>>,
}

impl<W: Write + Send + 'static> Supervisor<W> {
    /// A supervisor whose services' output goes to `sink`.
    pub fn new(sink: Arc<Mutex<W>>) -> Self {
        let (exits_tx, exits) = mpsc::unbounded_channel();
        Supervisor {
            running: Vec::new(),
            exits_tx,
            exits,
            stop: watch::Sender::new(Stop::Running),
            forwarders: Vec::new(),
            sink,
        }
    }

    /// Starts `launch` and returns its pid.
    pub fn spawn(&mut self, launch: &Launch) -> std::io::Result<u32> {
        let mut child = Command::new(&launch.program)
            .args(&launch.args)
            .envs(launch.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0)
            // A backstop should the launcher itself fail: never leave a service behind.
            .kill_on_drop(true)
            .spawn()?;
        let pid = child.id().unwrap_or_default();
        let name = launch.name;
        for reader in [
            child.stdout.take().map(|r| Box::new(r) as Box<_>),
            child.stderr.take().map(|r| Box::new(r) as Box<_>),
        ]
        .into_iter()
        .flatten()
        {
            let reader: Box<dyn tokio::io::AsyncRead + Send + Unpin> = reader;
            let sink = self.sink.clone();
            self.forwarders.push(tokio::spawn(async move {
                output::forward(name, reader, sink).await
            }));
        }
        tokio::spawn(watch_child(
            name,
            child,
            self.stop.subscribe(),
            self.exits_tx.clone(),
        ));
        self.running.push(name);
        Ok(pid)
    }

    /// Services started and not yet exited.
    pub fn running(&self) -> &[&'static str] {
        &self.running
    }

    /// Waits for the next service to exit; pends forever if none is running.
    pub async fn next_exit(&mut self) -> Exit {
        if self.running.is_empty() {
            return std::future::pending().await;
        }
        let exit = self
            .exits
            .recv()
            .await
            .expect("the supervisor holds a sender, so the channel stays open");
        self.running.retain(|name| *name != exit.name);
        exit
    }

    /// Stops every running service: SIGTERM, then SIGKILL once `grace` has passed or
    /// `hurry` completes (a second Ctrl-C). Returns how each one ended, and waits
    /// (briefly) for their last output lines to be forwarded.
    pub async fn stop(mut self, grace: Duration, hurry: impl Future<Output = ()>) -> Vec<Exit> {
        let mut exits = Vec::new();
        if !self.running.is_empty() {
            tracing::info!(services = ?self.running, "sending SIGTERM; waiting up to {grace:?}");
            self.stop.send_replace(Stop::Terminate);
        }
        let deadline = Instant::now() + grace;
        tokio::pin!(hurry);
        let mut hurried = false;
        while !self.running.is_empty() {
            tokio::select! {
                exit = self.next_exit() => exits.push(exit),
                _ = sleep_until(deadline), if *self.stop.borrow() != Stop::Kill => {
                    tracing::warn!(services = ?self.running, "still running after {grace:?}: SIGKILL");
                    self.stop.send_replace(Stop::Kill);
                }
                _ = &mut hurry, if !hurried => {
                    hurried = true;
                    tracing::warn!(services = ?self.running, "second signal: SIGKILL");
                    self.stop.send_replace(Stop::Kill);
                }
            }
        }
        for forwarder in self.forwarders.drain(..) {
            // The pipes close when a service exits, unless a grandchild holds them.
            let _ = timeout(Duration::from_secs(2), forwarder).await;
        }
        exits
    }
}

/// Owns one child: waits for it, and signals it when the stop level rises.
async fn watch_child(
    name: &'static str,
    mut child: Child,
    mut stop: watch::Receiver<Stop>,
    exits: mpsc::UnboundedSender<Exit>,
) {
    let status = loop {
        tokio::select! {
            status = child.wait() => break status,
            changed = stop.changed() => {
                // A dropped supervisor means the launcher is going away: kill.
                let level = if changed.is_ok() { *stop.borrow_and_update() } else { Stop::Kill };
                match level {
                    Stop::Running => {}
                    Stop::Terminate => terminate(name, &child),
                    Stop::Kill => {
                        let _ = child.start_kill();
                        break child.wait().await;
                    }
                }
            }
        }
    };
    let _ = exits.send(Exit { name, status });
}

fn terminate(name: &str, child: &Child) {
    // `id()` is None once the child has been reaped: nothing to signal then.
    let Some(pid) = child.id().and_then(|pid| i32::try_from(pid).ok()) else {
        return;
    };
    if let Err(error) = kill(Pid::from_raw(pid), Signal::SIGTERM) {
        tracing::warn!(service = name, pid, %error, "cannot send SIGTERM");
    }
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;

    type Sink = Arc<Mutex<Vec<u8>>>;

    fn start(script: &str) -> (Supervisor<Vec<u8>>, Sink) {
        let sink = Arc::new(Mutex::new(Vec::new()));
        let mut sup = Supervisor::new(sink.clone());
        sup.spawn(&Launch {
            name: "svc",
            program: PathBuf::from("/bin/sh"),
            args: vec!["-c".into(), script.into()],
            http: "127.0.0.1:0".parse().unwrap(),
            env: vec![],
        })
        .unwrap();
        (sup, sink)
    }

    fn output(sink: &Sink) -> String {
        String::from_utf8(sink.lock().unwrap().clone()).unwrap()
    }

    /// Waits until the service has printed `text` (scripts print once their trap is set).
    async fn wait_for(sink: &Sink, text: &str) {
        let start = Instant::now();
        while !output(sink).contains(text) {
            assert!(
                start.elapsed() < Duration::from_secs(10),
                "never printed {text}"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    const STUBBORN: &str = "trap '' TERM; echo started; while :; do sleep 0.05; done";

    #[tokio::test]
    async fn stdout_and_stderr_lines_are_prefixed_with_the_service_name() {
        let (mut sup, sink) = start("echo out; echo err >&2");
        let exit = sup.next_exit().await;
        assert!(exit.success(), "{}", exit.describe());
        let exits = sup
            .stop(Duration::from_secs(5), std::future::pending())
            .await;
        assert!(exits.is_empty());
        let text = output(&sink);
        assert!(text.contains("[svc] out\n"), "{text}");
        assert!(text.contains("[svc] err\n"), "{text}");
    }

    #[tokio::test]
    async fn a_service_that_fails_is_reported_with_its_status() {
        let (mut sup, _) = start("exit 3");
        let exit = sup.next_exit().await;
        assert_eq!(exit.name, "svc");
        assert!(!exit.success());
        assert_eq!(exit.describe(), "exit status 3");
        assert!(sup.running().is_empty());
    }

    #[tokio::test]
    async fn stop_sends_sigterm_which_a_service_can_handle_cleanly() {
        let (sup, sink) =
            start("trap 'echo got TERM; exit 0' TERM; echo started; while :; do sleep 0.05; done");
        wait_for(&sink, "started").await;
        let exits = sup
            .stop(Duration::from_secs(10), std::future::pending())
            .await;
        assert_eq!(exits.len(), 1);
        assert!(exits[0].success(), "{}", exits[0].describe());
        assert!(output(&sink).contains("[svc] got TERM"));
    }

    #[tokio::test]
    async fn a_service_ignoring_sigterm_is_killed_after_the_grace_period() {
        let (sup, sink) = start(STUBBORN);
        wait_for(&sink, "started").await;
        let exits = sup
            .stop(Duration::from_millis(200), std::future::pending())
            .await;
        assert_eq!(exits[0].describe(), "killed by SIGKILL");
    }

    #[tokio::test]
    async fn hurrying_kills_without_waiting_for_the_grace_period() {
        let (sup, sink) = start(STUBBORN);
        wait_for(&sink, "started").await;
        let begun = Instant::now();
        let exits = sup.stop(Duration::from_secs(600), async {}).await;
        assert_eq!(exits[0].describe(), "killed by SIGKILL");
        assert!(begun.elapsed() < Duration::from_secs(60));
    }
}
