//! Starting the real `partyedu` binary for end-to-end tests.
// Each test binary uses the part of these helpers it needs.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// A running `partyedu serve` on a free port; killed when dropped.
pub struct Server {
    child: Child,
    pub base_url: String,
    log: mpsc::Receiver<String>,
}

impl Server {
    /// Starts the server against `database_url` and waits until it listens.
    pub fn start(database_url: &str) -> Server {
        let mut command = Command::new(env!("CARGO_BIN_EXE_partyedu"));
        command.env("DATABASE_URL", database_url);
        Server::start_with(command, &[])
    }

    /// Starts `command` as `partyedu serve` on a free port with JSON logs, plus `args`, and
    /// waits until it listens.
    pub fn start_with(mut command: Command, args: &[&str]) -> Server {
        let mut child = command
            .args(["serve", "--listen", "127.0.0.1:0", "--log-format", "json"])
            .args(args)
            .env("RUST_LOG", "info")
            .stdout(Stdio::inherit())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the partyedu binary starts");
        let (lines, log) = mpsc::channel();
        let stderr = child.stderr.take().expect("piped stderr");
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if lines.send(line).is_err() {
                    break;
                }
            }
        });
        let mut server = Server {
            child,
            base_url: String::new(),
            log,
        };
        let listening = server.wait_for_log("listening");
        let record: serde_json::Value = serde_json::from_str(&listening).expect("JSON log lines");
        let address = record["fields"]["address"]
            .as_str()
            .expect("the listening line names the address");
        server.base_url = format!("http://{address}");
        server
    }

    /// Waits (up to 60 s) for a log line containing `needle` and returns it.
    pub fn wait_for_log(&mut self, needle: &str) -> String {
        loop {
            match self.log.recv_timeout(Duration::from_secs(60)) {
                Ok(line) if line.contains(needle) => return line,
                Ok(_) => continue,
                Err(err) => panic!("no log line with {needle:?}: {err}"),
            }
        }
    }

    /// The log lines received since the last look, without waiting.
    pub fn log_lines(&mut self) -> Vec<String> {
        self.log.try_iter().collect()
    }

    /// Sends SIGTERM and returns whether the process exited successfully.
    pub fn terminate(&mut self) -> bool {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(status.success());
        self.child.wait().expect("the server exits").success()
    }
}

impl Server {
    /// Kills the process at once (SIGKILL): no shutdown, as in a crash.
    pub fn crash(&mut self) {
        self.child.kill().expect("the server can be killed");
        let _ = self.child.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
