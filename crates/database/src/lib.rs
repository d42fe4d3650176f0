//! Where partyedu's PostgreSQL is, so that no command needs setting up first.
//!
//! In order: `DATABASE_URL` when it is set (used as it is; nothing is ever started); else the
//! default address built as `psql` builds it (`PGHOST`, `PGPORT`, `PGUSER`, `PGDATABASE`, the
//! local socket, then localhost); and when nothing answers there, a private cluster started from
//! the machine's own PostgreSQL binaries, with its data in the user's data directory
//! ([`cluster`]). Every failure is one line naming the place it concerns.

pub mod cluster;

pub use cluster::{Cluster, ClusterError, Lease};

use sqlx::Connection;
use sqlx::postgres::{PgConnectOptions, PgConnection, PgSslMode};
use std::path::PathBuf;
use std::time::Duration;

/// What [`locate`] goes by.
#[derive(Clone, Debug)]
pub struct Settings {
    /// `DATABASE_URL`, when given: used as it is, and nothing is started.
    pub url: Option<String>,
    /// The database when neither the URL nor `PGDATABASE` names one.
    pub default_database: String,
    /// The private cluster's directory; [`cluster::default_dir`] when absent.
    pub cluster_dir: Option<PathBuf>,
}

impl Settings {
    /// The settings of the environment: `DATABASE_URL` and `PARTYEDU_DATA_DIR`.
    pub fn from_env(default_database: &str) -> Settings {
        Settings {
            url: std::env::var("DATABASE_URL").ok().filter(|u| !u.is_empty()),
            default_database: default_database.to_owned(),
            cluster_dir: None,
        }
    }
}

/// Where the database is, and, for a private cluster, this process's hold on it.
#[derive(Debug)]
pub struct Database {
    options: PgConnectOptions,
    origin: Origin,
    lease: Option<Lease>,
}

/// How the server was found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Origin {
    /// `DATABASE_URL`.
    Url,
    /// The default address (libpq's environment variables and defaults).
    DefaultAddress,
    /// A private cluster in this directory.
    Private(PathBuf),
}

#[derive(Debug, thiserror::Error)]
pub enum LocateError {
    #[error(
        "DATABASE_URL is not a PostgreSQL URL ({0}); it looks like postgres://USER@HOST:PORT/DATABASE"
    )]
    BadUrl(String),
    #[error("cannot reach PostgreSQL at {place} (DATABASE_URL): {reason}")]
    Unreachable { place: String, reason: String },
    #[error("PostgreSQL at {place} refused the connection: {reason}")]
    Refused { place: String, reason: String },
    #[error(transparent)]
    Cluster(#[from] ClusterError),
}

/// Finds the server the settings name, starting a private cluster when nothing else answers.
pub async fn locate(settings: &Settings) -> Result<Database, LocateError> {
    if let Some(url) = &settings.url {
        let options: PgConnectOptions = url
            .parse()
            .map_err(|e: sqlx::Error| LocateError::BadUrl(one_line(&e.to_string())))?;
        return match probe(&options).await {
            Probe::Answers => Ok(Database::new(options, Origin::Url, None)),
            Probe::Nothing(reason) => Err(LocateError::Unreachable {
                place: place(&options),
                reason,
            }),
            Probe::Refuses(reason) => Err(LocateError::Refused {
                place: place(&options),
                reason,
            }),
        };
    }
    let mut options = PgConnectOptions::new();
    if options.get_socket().is_none() && options.get_host().starts_with('/') {
        // libpq's way of naming a socket directory (PGHOST=/run/postgresql, or the local
        // socket found by default): make it explicit, so the place prints and renders as one.
        let dir = options.get_host().to_owned();
        options = options.socket(dir);
    }
    if std::env::var_os("PGUSER").is_none() {
        // As libpq: the operating-system user. (sqlx's own guess says "anonymous" where
        // `$USER` is unset, as in containers and CI.)
        if let Some(user) = os_user() {
            options = options.username(&user);
        }
    }
    if options.get_database().is_none() {
        options = options.database(&settings.default_database);
    }
    match probe(&options).await {
        Probe::Answers => return Ok(Database::new(options, Origin::DefaultAddress, None)),
        Probe::Refuses(reason) => {
            return Err(LocateError::Refused {
                place: place(&options),
                reason,
            });
        }
        Probe::Nothing(reason) => {
            tracing::debug!(place = place(&options), reason, "nothing answers");
        }
    }
    let dir = match &settings.cluster_dir {
        Some(dir) => dir.clone(),
        None => cluster::default_dir(),
    };
    let cluster = Cluster::new(dir.clone())?;
    // Blocking work (locks, initdb, pg_ctl) off the async threads.
    let lease = tokio::task::spawn_blocking(move || cluster.acquire())
        .await
        .map_err(|e| ClusterError::Failed(e.to_string()))??;
    let database = options
        .get_database()
        .unwrap_or(&settings.default_database)
        .to_owned();
    let options = lease.cluster().connect_options(&database);
    Ok(Database::new(options, Origin::Private(dir), Some(lease)))
}

impl Database {
    fn new(options: PgConnectOptions, origin: Origin, lease: Option<Lease>) -> Self {
        Database {
            options,
            origin,
            lease,
        }
    }

    /// How to connect (the database may not exist yet: the store creates it).
    pub fn options(&self) -> &PgConnectOptions {
        &self.options
    }

    /// A URL for the same database, e.g. for a child process's `DATABASE_URL`.
    pub fn url(&self) -> String {
        url_of(&self.options)
    }

    pub fn origin(&self) -> &Origin {
        &self.origin
    }

    /// The place in words: host (or socket directory), port, database and user.
    pub fn place(&self) -> String {
        place(&self.options)
    }

    /// Where a private cluster lives and how to reach it with `psql`; `None` otherwise.
    pub fn private_cluster_note(&self) -> Option<String> {
        let lease = self.lease.as_ref()?;
        let database = self.options.get_database().unwrap_or("postgres");
        Some(format!(
            "private PostgreSQL cluster in {} ({}); psql: {}",
            lease.cluster().dir().display(),
            if lease.started() {
                "started now, stopped when the last partyedu command using it exits"
            } else {
                "already running"
            },
            lease.cluster().psql_command(database)
        ))
    }

    /// Lets go of a private cluster: stopped now when this was its last user.
    pub async fn release(self) {
        if let Some(lease) = self.lease {
            let _ = tokio::task::spawn_blocking(move || lease.release()).await;
        }
    }

    /// For a private cluster this process started: stop it once no partyedu process has used
    /// it for about `every` (see [`Lease::stop_when_idle`]).
    pub fn stop_when_idle(&self, every: Duration) {
        if let Some(lease) = &self.lease {
            lease.stop_when_idle(every);
        }
    }
}

enum Probe {
    Answers,
    /// Nothing listens (refused connection, no socket): a reason to start a private cluster.
    Nothing(String),
    /// Something answers but will not let us in, or does not answer in time.
    Refuses(String),
}

async fn probe(options: &PgConnectOptions) -> Probe {
    // An address answers when it speaks PostgreSQL, even when the database is still missing.
    let options = options.clone();
    match tokio::time::timeout(Duration::from_secs(5), PgConnection::connect_with(&options)).await {
        Err(_) => Probe::Refuses("no answer within 5 s".to_owned()),
        Ok(Ok(connection)) => {
            let _ = connection.close().await;
            Probe::Answers
        }
        Ok(Err(sqlx::Error::Io(err))) => Probe::Nothing(err.to_string()),
        Ok(Err(sqlx::Error::Database(err))) if err.code().as_deref() == Some("3D000") => {
            Probe::Answers
        }
        Ok(Err(err)) => Probe::Refuses(one_line(&err.to_string())),
    }
}

/// A URL that libpq and sqlx both read back as `options` (less any password): a socket
/// directory goes in the `host` parameter. (sqlx's own rendering panics on a socket given as a
/// host.)
pub fn url_of(options: &PgConnectOptions) -> String {
    let user = encode(options.get_username());
    let database = options.get_database().map(encode).unwrap_or_default();
    let port = options.get_port();
    match options.get_socket() {
        Some(dir) => format!(
            "postgres://{user}@localhost:{port}/{database}?host={}",
            encode(&dir.to_string_lossy())
        ),
        None => format!("postgres://{user}@{}:{port}/{database}", options.get_host()),
    }
}

/// Percent-encodes all but unreserved characters and `/` (harmless in a query value).
fn encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' | b'/' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn place(options: &PgConnectOptions) -> String {
    let host = match options.get_socket() {
        Some(dir) => format!("socket directory {}", dir.display()),
        None => format!("host {}", options.get_host()),
    };
    format!(
        "{host}, port {}, database {}, user {}",
        options.get_port(),
        options.get_database().unwrap_or("(none)"),
        options.get_username()
    )
}

/// The operating-system user's name: `$USER`, `$LOGNAME`, else `id -un`.
fn os_user() -> Option<String> {
    ["USER", "LOGNAME"]
        .into_iter()
        .find_map(|var| std::env::var(var).ok().filter(|u| !u.is_empty()))
        .or_else(|| {
            let out = std::process::Command::new("id").arg("-un").output().ok()?;
            let name = String::from_utf8_lossy(&out.stdout).trim().to_owned();
            (out.status.success() && !name.is_empty()).then_some(name)
        })
}

fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Options for a private cluster's socket: nothing from the environment's TLS settings applies.
fn socket_options(socket_dir: &std::path::Path, user: &str, database: &str) -> PgConnectOptions {
    PgConnectOptions::new_without_pgpass()
        .socket(socket_dir)
        .port(cluster::PORT)
        .username(user)
        .database(database)
        .ssl_mode(PgSslMode::Disable)
}
