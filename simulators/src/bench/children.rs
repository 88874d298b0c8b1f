//! Child processes: a private, tuned Mosquitto and `fieldops serve|gateway|api`, killed when
//! dropped and stopped with SIGTERM at the end.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::mpsc;

use super::{progress, STARTUP_TIMEOUT};

/// The private Mosquitto's in-flight window towards each subscriber: larger than the gateway's
/// batch (up to 4000), so the next batch keeps arriving while one commits (the gateway
/// acknowledges only after commit). What deploy/mosquitto/fieldops.conf recommends.
const MOSQUITTO_MAX_INFLIGHT: u32 = 5_000;

/// A child process that is killed if dropped (error paths, Ctrl-C) and stopped with SIGTERM by
/// [`ChildProc::stop`].
pub(crate) struct ChildProc {
    pub(super) name: &'static str,
    child: Child,
    pub(crate) pid: u32,
    pub(crate) log: PathBuf,
}

impl ChildProc {
    fn spawn(mut cmd: Command, name: &'static str, log: PathBuf, stdout: Stdio) -> Result<Self> {
        let log_file =
            std::fs::File::create(&log).with_context(|| format!("creating {}", log.display()))?;
        cmd.stdin(Stdio::null())
            .stdout(stdout)
            .stderr(Stdio::from(log_file))
            .kill_on_drop(true);
        let child = cmd
            .spawn()
            .with_context(|| format!("starting {name} ({:?})", cmd.as_std().get_program()))?;
        let pid = child.id().with_context(|| format!("{name} has no pid"))?;
        Ok(ChildProc {
            name,
            child,
            pid,
            log,
        })
    }

    /// Fails if the child has exited, with the end of its log.
    pub(crate) fn check_alive(&mut self) -> Result<()> {
        match self.child.try_wait() {
            Ok(None) => Ok(()),
            Ok(Some(status)) => Err(anyhow!(
                "{} exited ({status}); end of its log {}:\n{}",
                self.name,
                self.log.display(),
                tail(&self.log, 20)
            )),
            Err(e) => Err(anyhow!("{}: {e}", self.name)),
        }
    }

    /// SIGTERM (through kill(1): no unsafe code here), then SIGKILL if it takes over 10 s.
    pub(crate) async fn stop(mut self) {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.pid.to_string())
            .status()
            .await;
        if tokio::time::timeout(Duration::from_secs(10), self.child.wait())
            .await
            .is_err()
        {
            let _ = self.child.kill().await;
        }
    }
}

pub(crate) fn tail(path: &Path, lines: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// A free TCP port on 127.0.0.1 (bound, read, released).
fn free_port() -> Result<u16> {
    let l = std::net::TcpListener::bind("127.0.0.1:0").context("finding a free port")?;
    Ok(l.local_addr()?.port())
}

/// Starts a private Mosquitto with a configuration tuned for throughput; returns it and its port.
pub(super) async fn start_mosquitto(exe: &Path, dir: &Path) -> Result<(ChildProc, u16)> {
    let port = free_port()?;
    let conf = dir.join("mosquitto.conf");
    let text = mosquitto_config(port);
    std::fs::write(&conf, &text).with_context(|| format!("writing {}", conf.display()))?;
    let mut cmd = Command::new(exe);
    cmd.arg("-c").arg(&conf);
    let mut proc_ = ChildProc::spawn(cmd, "mosquitto", dir.join("mosquitto.log"), Stdio::null())?;
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        proc_.check_alive()?;
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            break;
        }
        if Instant::now() > deadline {
            bail!("mosquitto did not listen on 127.0.0.1:{port} within 10 s");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    progress(format!(
        "private mosquitto (pid {}) on 127.0.0.1:{port}: {}",
        proc_.pid,
        text.lines()
            .filter(|l| !l.starts_with('#') && !l.is_empty())
            .collect::<Vec<_>>()
            .join("; ")
    ));
    Ok((proc_, port))
}

/// The private broker's configuration: the delivery settings deploy/mosquitto/fieldops.conf
/// recommends (in-flight window 5000, queue 1,000,000), anonymous on 127.0.0.1 instead of the
/// password and ACL files, and persistence off: the benchmark measures the ingest path, and a
/// persistent Mosquitto writes its state only every `autosave_interval`, not per message, so it
/// would change little but leave files behind.
fn mosquitto_config(port: u16) -> String {
    format!(
        "# fieldops bench-ingest: private broker\n\
         listener {port} 127.0.0.1\n\
         allow_anonymous true\n\
         persistence false\n\
         max_inflight_messages {MOSQUITTO_MAX_INFLIGHT}\n\
         max_queued_messages 1000000\n\
         message_size_limit 262144\n\
         log_dest stderr\n\
         log_type error\n\
         log_type warning\n"
    )
}

/// Starts `fieldops serve|gateway`, waits for its `HTTP listening` line (and, for `serve`, its
/// MQTT endpoint line) and keeps draining its stdout (which may hold the first-run admin
/// password: it is read and dropped, never shown).
pub(crate) async fn start_fieldops(
    cmd: Command,
    name: &'static str,
    dir: &Path,
) -> Result<(ChildProc, SocketAddr, Option<SocketAddr>)> {
    let mut proc_ = ChildProc::spawn(cmd, name, dir.join(format!("{name}.log")), Stdio::piped())?;
    let stdout = proc_
        .child
        .stdout
        .take()
        .context("child stdout not captured")?;
    let (tx, mut rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        let mut lines = BufReader::new(stdout).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            if let Some(addr) = line.strip_prefix("fieldops: HTTP listening on http://") {
                let _ = tx.send((true, addr.trim().to_owned()));
            } else if let Some(addr) =
                line.strip_prefix("fieldops: MQTT endpoint for trackers on mqtt://")
            {
                let _ = tx.send((false, addr.trim().to_owned()));
            }
        }
    });
    let deadline = Instant::now() + STARTUP_TIMEOUT;
    let mut mqtt = None;
    loop {
        proc_.check_alive()?;
        if Instant::now() > deadline {
            bail!(
                "{name} printed no `fieldops: HTTP listening on` line within {} s; end of its log:\n{}",
                STARTUP_TIMEOUT.as_secs(),
                tail(&proc_.log, 20)
            );
        }
        match tokio::time::timeout(Duration::from_millis(100), rx.recv()).await {
            Ok(Some((true, addr))) => {
                let http: SocketAddr = addr
                    .parse()
                    .with_context(|| format!("{name} printed a bad HTTP address {addr:?}"))?;
                return Ok((proc_, http, mqtt));
            }
            Ok(Some((false, addr))) => {
                mqtt = Some(addr.parse::<SocketAddr>().with_context(|| {
                    format!("{name} printed a bad MQTT endpoint address {addr:?}")
                })?);
            }
            Ok(None) => {
                proc_.check_alive()?;
                bail!("{name} closed its stdout before saying where it listens");
            }
            Err(_) => {}
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn mosquitto_config_is_tuned_and_private() {
        let c = mosquitto_config(4242);
        assert!(c.contains("listener 4242 127.0.0.1"));
        assert!(c.contains("max_inflight_messages 5000"));
        assert!(c.contains("persistence false"));
    }
}
