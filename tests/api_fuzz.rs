//! The API fuzzed from its own OpenAPI document: schemathesis (pinned in
//! tests/fuzz/requirements.txt, installed into a venv under the target directory on first run)
//! against the real server on a generated subdistrict, with an admin token. Every check but
//! `positive_data_acceptance` must hold: no 5xx, every status, content type, header and body as
//! documented, invalid data refused. (`positive_data_acceptance` — schema-valid data accepted —
//! still finds semantic rules the document does not state; BENCHMARKS.md lists them.)
//!
//! `PARTYEDU_FUZZ_EXAMPLES` (default 100) sets the examples per operation; `PARTYEDU_FUZZ_SEED`
//! replays a run.

mod common;

use common::Server;
use sqlx::PgPool;
use std::path::{Path, PathBuf};
use std::process::Command;

/// A venv with the pinned schemathesis, made when missing or when the pins changed.
fn schemathesis() -> PathBuf {
    let requirements = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fuzz/requirements.txt");
    let venv = Path::new(env!("CARGO_TARGET_TMPDIR")).join("schemathesis-venv");
    let stamp = venv.join("requirements.txt");
    let wanted = std::fs::read_to_string(&requirements).unwrap();
    let bin = venv.join("bin/schemathesis");
    if bin.exists() && std::fs::read_to_string(&stamp).ok().as_ref() == Some(&wanted) {
        return bin;
    }
    std::fs::remove_dir_all(&venv).ok();
    let status = Command::new("python3")
        .args(["-m", "venv"])
        .arg(&venv)
        .status()
        .expect("python3 runs (the API fuzz test needs python3 with venv)");
    assert!(status.success(), "python3 -m venv failed");
    let status = Command::new(venv.join("bin/pip"))
        .args(["install", "--quiet", "--disable-pip-version-check", "-r"])
        .arg(&requirements)
        .status()
        .unwrap();
    assert!(
        status.success(),
        "pip install -r tests/fuzz/requirements.txt failed"
    );
    std::fs::write(&stamp, wanted).unwrap();
    bin
}

fn partyedu(url: &str, args: &[&str]) -> String {
    let output = Command::new(env!("CARGO_BIN_EXE_partyedu"))
        .args(args)
        .env("DATABASE_URL", url)
        .env("RUST_LOG", "warn")
        .output()
        .unwrap();
    assert!(output.status.success(), "{args:?}: {output:?}");
    String::from_utf8(output.stdout).unwrap()
}

/// A server on a small generated subdistrict, and an admin token.
fn seeded(pool: &PgPool) -> (Server, String) {
    let url = partyedu_testkit::database_url(pool);
    let file = Path::new(env!("CARGO_TARGET_TMPDIR")).join("api-fuzz-history.ndjson");
    let history = Command::new(env!("CARGO_BIN_EXE_partyedu"))
        .args([
            "gen",
            "--members",
            "40",
            "--years",
            "1",
            "--until",
            "2024-12-31",
        ])
        .env("RUST_LOG", "warn")
        .output()
        .unwrap();
    assert!(history.status.success());
    std::fs::write(&file, history.stdout).unwrap();
    partyedu(&url, &["import", file.to_str().unwrap()]);
    let token = partyedu(
        &url,
        &["token", "create", "--role", "admin", "--name", "fuzz-admin"],
    )
    .lines()
    .last()
    .unwrap()
    .to_owned();
    (Server::start(&url), token)
}

/// One schemathesis run; returns its output, asserting it passed.
fn run(bin: &Path, server: &Server, token: &str, extra: &[&str]) -> String {
    let examples = std::env::var("PARTYEDU_FUZZ_EXAMPLES").unwrap_or_else(|_| "100".to_owned());
    let seed = std::env::var("PARTYEDU_FUZZ_SEED").unwrap_or_else(|_| "20241231".to_owned());
    let output = Command::new(bin)
        .arg("run")
        .arg(format!("{}/api/v1/openapi.json", server.base_url))
        .args(["-H", &format!("Authorization: Bearer {token}")])
        .args([
            "--checks",
            "all",
            "--exclude-checks",
            "positive_data_acceptance",
        ])
        .args(["--max-examples", &examples, "--seed", &seed])
        .args(["--workers", "2", "--request-timeout", "40"])
        .args(["--generation-database", "none", "--no-color"])
        .args(extra)
        .current_dir(env!("CARGO_TARGET_TMPDIR"))
        .output()
        .expect("schemathesis runs");
    let text = String::from_utf8_lossy(&output.stdout).into_owned()
        + &String::from_utf8_lossy(&output.stderr);
    let summary = text
        .rsplit_once("SUMMARY")
        .map_or(text.as_str(), |(_, s)| s);
    eprintln!("schemathesis {extra:?}:{summary}");
    assert!(
        output.status.success(),
        "schemathesis found problems:\n{text}"
    );
    text
}

#[partyedu_testkit::db_test(migrations = false)]
async fn the_api_holds_to_its_openapi_document_under_fuzzing(pool: PgPool) {
    let bin = schemathesis();
    let (server, token) = seeded(&pool);
    // Examples and generated data for every operation. (Stateful runs are left out: they
    // follow GET /tokens to DELETE /tokens/{name} and revoke the run's own token.)
    run(&bin, &server, &token, &["--phases", "examples,fuzzing"]);
    // Boundary values for every operation's documented constraints. schemathesis's coverage
    // phase fails inside Python (an AST recursion error) on the event catalog's schema, so the
    // batch endpoint is fuzzed by the run above only.
    run(
        &bin,
        &server,
        &token,
        &["--phases", "coverage", "--exclude-path", "/api/v1/events"],
    );
    // The server is still up and answering.
    let ready = reqwest::get(format!("{}/readyz", server.base_url))
        .await
        .unwrap();
    assert_eq!(ready.status(), 200);
}

/// Found by the fuzzer: a `from` of i64::MIN overflowed (`from - 1`) in the database check and
/// the request's task panicked, dropping the connection.
#[partyedu_testkit::db_test(migrations = false)]
async fn verifying_from_the_lowest_position_answers(pool: PgPool) {
    let (server, token) = seeded(&pool);
    let client = reqwest::Client::new();
    for from in [i64::MIN, -1, 0, 1] {
        let response = client
            .get(format!(
                "{}/api/v1/audit/verify?from={from}",
                server.base_url
            ))
            .bearer_auth(&token)
            .send()
            .await
            .expect("an answer, not a dropped connection");
        let status = response.status();
        let body: serde_json::Value = response.json().await.unwrap();
        assert_eq!(status, 200, "from={from}: {body}");
        assert!(body["ok"].is_boolean(), "from={from}: {body}");
    }
}
