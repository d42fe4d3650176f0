//! The real `partyedu` binary as a child process, for the modes that measure through HTTP
//! (`soak`, `latency`): an admin token, `serve` on a free port (its address read from its JSON
//! log), its resident memory from /proc, and a tally of timed requests.

use anyhow::{Context, Result, bail};
use hdrhistogram::Histogram;
use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::Mutex;

/// A new admin token, from `partyedu token create` against `database_url`.
pub fn admin_token(binary: &str, database_url: &str, name: &str) -> Result<String> {
    let output = Command::new(binary)
        .args(["token", "create", "--role", "admin", "--name", name])
        .env("DATABASE_URL", database_url)
        .output()
        .with_context(|| format!("running {binary}"))?;
    if !output.status.success() {
        bail!("token create: {}", String::from_utf8_lossy(&output.stderr));
    }
    Ok(String::from_utf8(output.stdout)?
        .lines()
        .last()
        .context("no token printed")?
        .to_owned())
}

/// `partyedu serve` running on a free loopback port; killed when dropped.
pub struct Server {
    child: Child,
    pub pid: u32,
    /// `http://127.0.0.1:PORT`.
    pub base: String,
}

impl Server {
    /// Starts `serve` and waits (up to `within`) until it listens. Error lines of its log are
    /// echoed to this process's standard error.
    pub fn start(binary: &str, database_url: &str, within: Duration) -> Result<Server> {
        let mut child = Command::new(binary)
            .args(["serve", "--listen", "127.0.0.1:0", "--log-format", "json"])
            .env("DATABASE_URL", database_url)
            .env("RUST_LOG", "info")
            .stderr(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .with_context(|| format!("starting {binary} serve"))?;
        let pid = child.id();
        let stderr = child.stderr.take().context("piped stderr")?;
        let (tx, rx) = std::sync::mpsc::channel::<String>();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if line.contains("\"level\":\"ERROR\"") || line.contains("panicked") {
                    eprintln!("server: {line}");
                }
                let _ = tx.send(line);
            }
        });
        let mut server = Server {
            child,
            pid,
            base: String::new(),
        };
        let deadline = Instant::now() + within;
        let address = loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = rx
                .recv_timeout(left)
                .context("the server did not say where it listens")?;
            if line.contains("listening") {
                let record: Value = serde_json::from_str(&line)?;
                break record["fields"]["address"]
                    .as_str()
                    .context("an address")?
                    .to_owned();
            }
        };
        // The log keeps coming; nobody reads it any more.
        std::thread::spawn(move || for _ in rx {});
        server.base = format!("http://{address}");
        Ok(server)
    }

    /// The server's resident memory (VmRSS), in KiB.
    pub fn rss_kib(&self) -> Option<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid)).ok()?;
        status
            .lines()
            .find(|l| l.starts_with("VmRSS:"))?
            .split_whitespace()
            .nth(1)?
            .parse()
            .ok()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.child.kill().ok();
        self.child.wait().ok();
    }
}

/// Latencies of the answers that were as expected, and what the others said.
pub struct Tally {
    pub hist: Histogram<u64>,
    pub errors: Vec<String>,
}

impl Tally {
    pub fn new() -> Tally {
        Tally {
            hist: Histogram::new_with_bounds(1, 120_000_000, 3).expect("valid bounds"),
            errors: Vec::new(),
        }
    }

    /// `requests, errors, p50, p99, max` in milliseconds.
    pub fn summary(&self) -> String {
        format!(
            "{} requests, {} errors, p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
            self.hist.len() + self.errors.len() as u64,
            self.errors.len(),
            ms(self.hist.value_at_quantile(0.5)),
            ms(self.hist.value_at_quantile(0.99)),
            ms(self.hist.max())
        )
    }
}

pub fn ms(us: u64) -> f64 {
    us as f64 / 1000.0
}

/// Sends `request`, times it to the last byte of the answer, and records it in `tally`: its
/// latency when the status is `expect`, else the status and body as an error.
pub async fn timed(request: reqwest::RequestBuilder, expect: u16, tally: Arc<Mutex<Tally>>) {
    let at = Instant::now();
    let outcome = match request.send().await {
        Ok(response) if response.status().as_u16() == expect => response
            .bytes()
            .await
            .map(|_| ())
            .map_err(|e| e.to_string()),
        Ok(response) => Err(format!(
            "{}: {}",
            response.status(),
            response.text().await.unwrap_or_default()
        )),
        Err(err) => Err(format!("transport: {err}")),
    };
    let took = at.elapsed().as_micros() as u64;
    let mut tally = tally.lock().await;
    match outcome {
        Ok(()) => {
            tally.hist.record(took.max(1)).ok();
        }
        Err(e) => tally.errors.push(e),
    }
}
