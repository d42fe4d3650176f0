//! A private PostgreSQL cluster, started from the machine's own binaries when no server answers.
//!
//! Layout of its directory (default [`default_dir`]): `data/` (the cluster, made by `initdb`),
//! `run/` (the only place it listens: a Unix socket, never TCP), `postgresql.log`, and two lock
//! files. The data is the log itself, so it is never a temporary directory: it survives restarts.
//!
//! Several partyedu commands may share the cluster. Each holds a shared lock on `users.lock`
//! while it runs; starting and stopping happen under `start.lock`. The last user out (the one
//! that can take `users.lock` exclusively) stops the cluster, so "the command that started it
//! stops it" also holds when another command is still using it: then the other one does.
//!
//! PostgreSQL refuses to run as root, so under root the cluster belongs to the `postgres` system
//! user (or `nobody`), its commands run through `runuser`, and the directory defaults to
//! `/var/lib/partyedu/pg`, since root's home is not readable by that user.

use sqlx::postgres::PgConnectOptions;
use std::fs::{self, File, OpenOptions};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

/// The socket's port number: it only names the socket file inside the cluster's own `run/`.
pub const PORT: u16 = 5432;
/// The cluster's superuser, made by `initdb`; local connections are trusted.
pub const SUPERUSER: &str = "partyedu";

/// Where PostgreSQL's server binaries usually are, beyond `PATH` (Debian/Ubuntu, RHEL/Fedora's
/// PGDG packages, source builds, Homebrew). `PARTYEDU_PG_SEARCH` (`:`-separated) replaces it.
const USUAL_PLACES: &[&str] = &[
    "/usr/lib/postgresql/*/bin",
    "/usr/pgsql-*/bin",
    "/usr/local/pgsql/bin",
    "/opt/homebrew/opt/postgresql@*/bin",
    "/usr/local/opt/postgresql@*/bin",
];

#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    #[error(
        "nothing answers at the default PostgreSQL address and no PostgreSQL server binaries \
         (initdb, pg_ctl) were found on PATH or in {places} to start a private one: install them \
         (Debian/Ubuntu: `apt install postgresql`; Fedora: `dnf install postgresql-server`; \
         macOS: `brew install postgresql`), or set DATABASE_URL to a server you have"
    )]
    NoBinaries { places: String },
    #[error("private PostgreSQL cluster in {dir}: {what}")]
    Io { dir: String, what: String },
    #[error("private PostgreSQL cluster: {0}")]
    Failed(String),
}

/// The cluster's directory when nothing says otherwise: `pg` in [`data_dir`].
pub fn default_dir() -> PathBuf {
    data_dir().join("pg")
}

/// partyedu's data directory (the private cluster, the generated audit key):
/// `$PARTYEDU_DATA_DIR`, else `$XDG_DATA_HOME/partyedu` (`~/.local/share/partyedu`), or
/// `/var/lib/partyedu` for root.
pub fn data_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("PARTYEDU_DATA_DIR").filter(|d| !d.is_empty()) {
        return PathBuf::from(dir);
    }
    if is_root() {
        return PathBuf::from("/var/lib/partyedu");
    }
    let data_home = std::env::var_os("XDG_DATA_HOME")
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/share")))
        .unwrap_or_else(std::env::temp_dir);
    data_home.join("partyedu")
}

/// A private cluster: where it lives, its binaries, and who it runs as.
#[derive(Clone, Debug)]
pub struct Cluster {
    dir: PathBuf,
    bin: PathBuf,
    /// The unprivileged user it runs as when we are root.
    owner: Option<Owner>,
}

#[derive(Clone, Debug)]
struct Owner {
    name: String,
    uid: u32,
    gid: u32,
}

impl Cluster {
    /// The cluster in `dir`, with the machine's PostgreSQL binaries.
    pub fn new(dir: PathBuf) -> Result<Cluster, ClusterError> {
        let bin = find_binaries().ok_or_else(|| ClusterError::NoBinaries {
            places: search_places().join(", "),
        })?;
        let owner = if is_root() {
            Some(
                ["postgres", "nobody"]
                    .into_iter()
                    .find_map(Owner::lookup)
                    .ok_or_else(|| {
                        ClusterError::Failed(
                            "running as root, and neither a `postgres` nor a `nobody` user \
                             exists to run PostgreSQL as"
                                .to_owned(),
                        )
                    })?,
            )
        } else {
            None
        };
        Ok(Cluster { dir, bin, owner })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn socket_dir(&self) -> PathBuf {
        self.dir.join("run")
    }

    fn data(&self) -> PathBuf {
        self.dir.join("data")
    }

    fn log(&self) -> PathBuf {
        self.dir.join("postgresql.log")
    }

    /// Connect options for `database` in this cluster.
    pub fn connect_options(&self, database: &str) -> PgConnectOptions {
        crate::socket_options(&self.socket_dir(), SUPERUSER, database)
    }

    /// The `psql` command line that reaches `database` here.
    pub fn psql_command(&self, database: &str) -> String {
        format!(
            "psql -h {} -p {PORT} -U {SUPERUSER} {database}",
            self.socket_dir().display()
        )
    }

    /// Makes sure the cluster runs (creating it on first use) and registers this process as a
    /// user of it until the lease is released.
    pub fn acquire(self) -> Result<Lease, ClusterError> {
        self.prepare_dir()?;
        let start = self.lock_file("start.lock")?;
        start.lock().map_err(|e| self.io("locking start.lock", e))?;
        let users = self.lock_file("users.lock")?;
        users
            .lock_shared()
            .map_err(|e| self.io("locking users.lock", e))?;
        let started = if self.running() {
            false
        } else {
            if !self.data().join("PG_VERSION").exists() {
                self.initdb()?;
            }
            self.pg_ctl(&[
                "-l",
                &self.log().to_string_lossy(),
                "-w",
                "-t",
                "60",
                "start",
            ])
            .map_err(|e| {
                ClusterError::Failed(format!(
                    "starting it failed: {e}; its log: {}",
                    tail(&self.log())
                ))
            })?;
            tracing::info!(dir = %self.dir.display(), "private PostgreSQL cluster started");
            true
        };
        drop(start);
        Ok(Lease {
            cluster: self,
            users: Some(users),
            started,
        })
    }

    fn prepare_dir(&self) -> Result<(), ClusterError> {
        fs::create_dir_all(self.socket_dir()).map_err(|e| self.io("creating it", e))?;
        for dir in [self.dir.clone(), self.socket_dir()] {
            fs::set_permissions(&dir, fs::Permissions::from_mode(0o700))
                .map_err(|e| self.io("setting permissions", e))?;
            if let Some(owner) = &self.owner {
                std::os::unix::fs::chown(&dir, Some(owner.uid), Some(owner.gid))
                    .map_err(|e| self.io(&format!("handing it to {}", owner.name), e))?;
            }
        }
        Ok(())
    }

    /// `initdb` into a scratch directory renamed into place, so an interrupted first start
    /// leaves no half-made cluster behind.
    fn initdb(&self) -> Result<(), ClusterError> {
        let scratch = self.dir.join("data.init");
        if scratch.exists() {
            fs::remove_dir_all(&scratch).map_err(|e| self.io("removing data.init", e))?;
        }
        let output = self
            .command("initdb")
            .arg("-D")
            .arg(&scratch)
            .args(["-U", SUPERUSER, "-A", "trust", "-E", "UTF8", "--locale=C"])
            .output()
            .map_err(|e| self.io("running initdb", e))?;
        if !output.status.success() {
            return Err(ClusterError::Failed(format!(
                "initdb failed: {}",
                String::from_utf8_lossy(&output.stderr).trim()
            )));
        }
        let settings = format!(
            "\n# partyedu's private cluster: a Unix socket only, never TCP.\n\
             listen_addresses = ''\nunix_socket_directories = '{}'\nport = {PORT}\n",
            self.socket_dir().display()
        );
        OpenOptions::new()
            .append(true)
            .open(scratch.join("postgresql.conf"))
            .and_then(|mut f| std::io::Write::write_all(&mut f, settings.as_bytes()))
            .map_err(|e| self.io("writing postgresql.conf", e))?;
        fs::rename(&scratch, self.data()).map_err(|e| self.io("moving data.init to data", e))?;
        tracing::info!(dir = %self.dir.display(), "private PostgreSQL cluster created");
        Ok(())
    }

    /// Restarts the running cluster at once (`pg_ctl restart -m fast`: open sessions are
    /// ended, as in a database restart under load), waiting until it accepts connections.
    pub fn restart(&self) -> Result<(), ClusterError> {
        self.pg_ctl(&[
            "-l",
            &self.log().to_string_lossy(),
            "-m",
            "fast",
            "-w",
            "-t",
            "60",
            "restart",
        ])
        .map_err(|e| {
            ClusterError::Failed(format!(
                "restarting it failed: {e}; its log: {}",
                tail(&self.log())
            ))
        })
    }

    fn running(&self) -> bool {
        self.pg_ctl(&["status"]).is_ok()
    }

    fn pg_ctl(&self, args: &[&str]) -> Result<(), String> {
        let output = self
            .command("pg_ctl")
            .arg("-D")
            .arg(self.data())
            .args(args)
            .stdin(Stdio::null())
            .output()
            .map_err(|e| e.to_string())?;
        if output.status.success() {
            Ok(())
        } else {
            Err(String::from_utf8_lossy(&output.stderr).trim().to_owned())
        }
    }

    /// A command of the cluster's binaries, run as its owner, from its directory (root's
    /// working directory may be unreadable to the owner).
    fn command(&self, program: &str) -> Command {
        let mut command = match &self.owner {
            None => Command::new(self.bin.join(program)),
            Some(owner) => {
                let mut c = Command::new(runuser());
                c.args(["-u", &owner.name, "--"])
                    .arg(self.bin.join(program));
                c
            }
        };
        command.current_dir(&self.dir);
        command
    }

    /// The argument vector of `pg_ctl stop` (as the owner), for a detached stopper.
    fn stop_argv(&self) -> Vec<String> {
        let mut argv = Vec::new();
        if let Some(owner) = &self.owner {
            argv.push(runuser().to_string_lossy().into_owned());
            argv.extend(["-u".to_owned(), owner.name.clone(), "--".to_owned()]);
        }
        argv.push(self.bin.join("pg_ctl").to_string_lossy().into_owned());
        argv.push("-D".to_owned());
        argv.push(self.data().to_string_lossy().into_owned());
        argv.extend(["-m", "fast", "-w", "-s", "stop"].map(str::to_owned));
        argv
    }

    fn lock_file(&self, name: &str) -> Result<File, ClusterError> {
        OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(self.dir.join(name))
            .map_err(|e| self.io(&format!("opening {name}"), e))
    }

    fn io(&self, what: &str, err: std::io::Error) -> ClusterError {
        ClusterError::Io {
            dir: self.dir.display().to_string(),
            what: format!("{what}: {err}"),
        }
    }
}

/// A process's hold on a running private cluster.
#[derive(Debug)]
pub struct Lease {
    cluster: Cluster,
    users: Option<File>,
    started: bool,
}

impl Lease {
    pub fn cluster(&self) -> &Cluster {
        &self.cluster
    }

    /// Whether this process started the cluster.
    pub fn started(&self) -> bool {
        self.started
    }

    /// Lets go; stops the cluster now when no other partyedu process uses it.
    pub fn release(mut self) {
        drop(self.users.take());
        let cluster = &self.cluster;
        let Ok(start) = cluster.lock_file("start.lock") else {
            return;
        };
        if start.lock().is_err() {
            return;
        }
        let Ok(users) = cluster.lock_file("users.lock") else {
            return;
        };
        if users.try_lock().is_ok() {
            match cluster.pg_ctl(&["-m", "fast", "-w", "-s", "stop"]) {
                Ok(()) => {
                    tracing::info!(dir = %cluster.dir.display(), "private PostgreSQL cluster stopped")
                }
                Err(err) => tracing::warn!(%err, "stopping the private PostgreSQL cluster"),
            }
        }
    }

    /// Leaves a detached stopper behind that, every `every`, stops the cluster once no
    /// partyedu process uses it. For test runs, where a process per test follows another:
    /// stopping after each would restart the server hundreds of times, and nothing else knows
    /// when the run ends. Only the process that started the cluster leaves one.
    pub fn stop_when_idle(&self, every: Duration) {
        if !self.started {
            return;
        }
        let cluster = &self.cluster;
        // `flock -n -E 75` exits 75 while a user holds users.lock; any other outcome ends the
        // watch (stopped now, or stopped by someone else).
        let script = r#"every="$1"; start="$2"; users="$3"; shift 3
while sleep "$every"; do
    flock -x "$start" flock -n -E 75 -x "$users" "$@"
    [ $? -eq 75 ] || exit 0
done"#;
        let mut command = Command::new("sh");
        command
            .arg("-c")
            .arg(script)
            .arg("partyedu-cluster-stopper")
            .arg(every.as_secs().max(1).to_string())
            .arg(cluster.dir.join("start.lock"))
            .arg(cluster.dir.join("users.lock"))
            .args(cluster.stop_argv())
            .current_dir(&cluster.dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        // Its own process group: not ended with the test process's group.
        std::os::unix::process::CommandExt::process_group(&mut command, 0);
        if let Err(err) = command.spawn() {
            tracing::warn!(%err, "no stopper for the private PostgreSQL cluster: it keeps running");
        }
    }
}

impl Owner {
    fn lookup(name: &str) -> Option<Owner> {
        let id = |flag: &str| -> Option<u32> {
            let out = Command::new("id").args([flag, name]).output().ok()?;
            out.status
                .success()
                .then(|| String::from_utf8_lossy(&out.stdout).trim().parse().ok())
                .flatten()
        };
        Some(Owner {
            name: name.to_owned(),
            uid: id("-u")?,
            gid: id("-g")?,
        })
    }
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

fn runuser() -> PathBuf {
    ["/usr/sbin/runuser", "/sbin/runuser", "/usr/bin/runuser"]
        .into_iter()
        .map(PathBuf::from)
        .find(|p| p.is_file())
        .unwrap_or_else(|| PathBuf::from("runuser"))
}

fn search_places() -> Vec<String> {
    match std::env::var("PARTYEDU_PG_SEARCH") {
        Ok(list) => list
            .split(':')
            .filter(|p| !p.is_empty())
            .map(str::to_owned)
            .collect(),
        Err(_) => USUAL_PLACES.iter().map(|p| (*p).to_owned()).collect(),
    }
}

/// A directory holding both `initdb` and `pg_ctl`: on `PATH` first, then the usual places,
/// newest version first.
fn find_binaries() -> Option<PathBuf> {
    let has_both = |dir: &Path| dir.join("initdb").is_file() && dir.join("pg_ctl").is_file();
    let on_path = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .unwrap_or_default();
    on_path
        .into_iter()
        .chain(search_places().iter().flat_map(|p| expand(p)))
        .find(|dir| has_both(dir))
}

/// Expands one `*` in a path pattern, newest version first (`/usr/lib/postgresql/*/bin`).
fn expand(pattern: &str) -> Vec<PathBuf> {
    let Some((head, tail)) = pattern.split_once('*') else {
        return vec![PathBuf::from(pattern)];
    };
    let (parent, prefix) = head.rsplit_once('/').unwrap_or((".", head));
    let (suffix, rest) = tail.split_once('/').unwrap_or((tail, ""));
    let Ok(entries) = fs::read_dir(if parent.is_empty() { "/" } else { parent }) else {
        return Vec::new();
    };
    let mut found: Vec<(Vec<u32>, PathBuf)> = entries
        .filter_map(Result::ok)
        .filter_map(|entry| {
            let name = entry.file_name().into_string().ok()?;
            let version = name.strip_prefix(prefix)?.strip_suffix(suffix)?;
            let key = version
                .split('.')
                .map(|part| part.parse().unwrap_or(0))
                .collect();
            Some((key, entry.path().join(rest)))
        })
        .collect();
    found.sort_by(|a, b| b.0.cmp(&a.0));
    found.into_iter().map(|(_, path)| path).collect()
}

/// The last lines of a log file, for an error message.
fn tail(path: &Path) -> String {
    let text = fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(5)..].join(" | ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_expand_newest_first() {
        let root = std::env::temp_dir().join(format!("partyedu-expand-{}", std::process::id()));
        for version in ["9.6", "15", "13"] {
            fs::create_dir_all(root.join(version).join("bin")).unwrap();
        }
        let pattern = format!("{}/*/bin", root.display());
        let found: Vec<PathBuf> = expand(&pattern);
        assert_eq!(
            found,
            ["15", "13", "9.6"]
                .map(|v| root.join(v).join("bin"))
                .to_vec()
        );
        fs::remove_dir_all(root).unwrap();
    }
}
