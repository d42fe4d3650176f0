//! A newcomer's first hour: with nothing configured the binary finds or starts its own
//! PostgreSQL, runs from any directory, and says what to do when it cannot.

mod common;

use common::Server;
use sqlx::Connection;
use sqlx::postgres::{PgConnectOptions, PgConnection};
use std::path::{Path, PathBuf};
use std::process::Command;

/// A loopback port where nothing listens (bound, then let go).
fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

fn scratch_dir(name: &str) -> PathBuf {
    let dir =
        std::env::temp_dir().join(format!("partyedu-{name}-{}", uuid::Uuid::now_v7().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// `partyedu` with no DATABASE_URL and nothing at the default address, run from `cwd`.
fn unconfigured(cwd: &Path, port: u16) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_partyedu"));
    command
        .current_dir(cwd)
        .env_remove("DATABASE_URL")
        .env_remove("PGDATABASE")
        .env_remove("PGUSER")
        .env("PGHOST", "127.0.0.1")
        .env("PGPORT", port.to_string());
    command
}

async fn count_events(socket_dir: &Path) -> i64 {
    let options = PgConnectOptions::new_without_pgpass()
        .socket(socket_dir)
        .port(5432)
        .username("partyedu")
        .database("partyedu");
    let mut connection = PgConnection::connect_with(&options).await.unwrap();
    let count = sqlx::query_scalar("SELECT count(*) FROM events")
        .fetch_one(&mut connection)
        .await
        .unwrap();
    connection.close().await.unwrap();
    count
}

async fn healthz(server: &Server) -> u16 {
    reqwest::get(format!("{}/healthz", server.base_url))
        .await
        .unwrap()
        .status()
        .as_u16()
}

/// The demo on a private cluster, from a directory that is not the checkout: it answers,
/// stops with its cluster, and a second start on the same data finds the first run's events
/// (and adds no second demo).
#[tokio::test]
async fn the_demo_runs_on_a_private_cluster_that_keeps_its_data() {
    let data = scratch_dir("first-hour");
    let port = closed_port();
    let socket_dir = data.join("pg").join("run");
    let start = || {
        let mut command = unconfigured(&data, port);
        command.env("PARTYEDU_DATA_DIR", &data);
        Server::start_with(command, &["--demo"])
    };

    let mut first = start();
    assert_eq!(healthz(&first).await, 200);
    let recorded = count_events(&socket_dir).await;
    assert!(recorded > 100_000, "the demo recorded {recorded} events");
    assert!(first.terminate(), "serve stops cleanly");
    assert!(
        !socket_dir.join(".s.PGSQL.5432").exists(),
        "the cluster stopped with the service that started it"
    );

    let mut second = start();
    assert_eq!(healthz(&second).await, 200);
    assert_eq!(count_events(&socket_dir).await, recorded);
    assert!(second.terminate());
    std::fs::remove_dir_all(&data).ok();
}

/// With no PostgreSQL binaries anywhere, the error says which package to install and that
/// DATABASE_URL is the alternative.
#[test]
fn without_postgres_binaries_the_error_names_the_package() {
    let empty = scratch_dir("no-binaries");
    let output = unconfigured(&empty, closed_port())
        .args(["token", "list"])
        .env("PATH", &empty)
        .env("PARTYEDU_PG_SEARCH", "")
        .env("PARTYEDU_DATA_DIR", &empty)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    for needle in [
        "apt install postgresql",
        "dnf install",
        "brew install",
        "DATABASE_URL",
    ] {
        assert!(stderr.contains(needle), "{needle:?} missing from: {stderr}");
    }
    assert!(!stderr.contains("panicked"), "{stderr}");
    std::fs::remove_dir_all(&empty).ok();
}

/// A DATABASE_URL where nothing answers is one line naming host, port and database; nothing
/// is started in its place.
#[test]
fn a_wrong_url_is_one_line_naming_the_place() {
    let dir = scratch_dir("wrong-url");
    let port = closed_port();
    let output = Command::new(env!("CARGO_BIN_EXE_partyedu"))
        .args(["token", "list"])
        .env(
            "DATABASE_URL",
            format!("postgres://someone@127.0.0.1:{port}/records"),
        )
        .env("PARTYEDU_DATA_DIR", &dir)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    for needle in [
        "host 127.0.0.1",
        &format!("port {port}"),
        "database records",
    ] {
        assert!(stderr.contains(needle), "{needle:?} missing from: {stderr}");
    }
    assert!(!dir.join("pg").exists(), "nothing was started");
    std::fs::remove_dir_all(&dir).ok();
}

/// Every command's `--help` ends with an example.
#[test]
fn every_command_explains_itself_with_an_example() {
    let help = |args: &[&str]| {
        let output = Command::new(env!("CARGO_BIN_EXE_partyedu"))
            .args(args)
            .arg("--help")
            .output()
            .unwrap();
        assert!(output.status.success(), "{args:?}");
        String::from_utf8(output.stdout).unwrap()
    };
    let commands = |text: &str| -> Vec<String> {
        text.split("Commands:")
            .nth(1)
            .map(|rest| {
                rest.lines()
                    .skip(1)
                    .take_while(|l| l.starts_with("  "))
                    .filter_map(|l| l.split_whitespace().next().map(str::to_owned))
                    .filter(|c| c != "help")
                    .collect()
            })
            .unwrap_or_default()
    };
    let top = help(&[]);
    let mut pending: Vec<Vec<String>> = commands(&top).into_iter().map(|c| vec![c]).collect();
    assert!(pending.len() >= 7, "{top}");
    assert!(top.contains("Examples:"), "{top}");
    while let Some(path) = pending.pop() {
        let args: Vec<&str> = path.iter().map(String::as_str).collect();
        let text = help(&args);
        let nested = commands(&text);
        if nested.is_empty() {
            // The last paragraph is the examples, however many there are.
            let last = text.trim_end().rsplit("\n\n").next().unwrap_or_default();
            assert!(
                last.starts_with("Example"),
                "`partyedu {}` --help ends without an example:\n{text}",
                args.join(" ")
            );
        }
        pending.extend(nested.into_iter().map(|c| {
            let mut p = path.clone();
            p.push(c);
            p
        }));
    }
}
