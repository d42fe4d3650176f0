//! The API fuzzed from its own OpenAPI document: schemathesis (pinned in
//! tests/fuzz/requirements.txt, installed into a venv under the target directory on first run)
//! against the real server on a generated subdistrict, with an admin token. Every check
//! schemathesis has runs (`--checks all`, nothing excluded): no 5xx; every status, content type,
//! header and body as documented; data the document calls invalid refused
//! (`negative_data_rejection`), and data it calls valid accepted (`positive_data_acceptance`).
//!
//! `tests/fuzz/hooks.py` does two things, each explained there: it never revokes the run's own
//! token (that would turn the rest of the run into `401`s, which every check accepts), and it
//! lets `positive_data_acceptance` meet the `400`s no JSON Schema can state — a position beyond
//! the log's head, a time in the future, a date after tomorrow, two parameters or fields that
//! exclude each other — matched on the API's own words, per operation; any other refusal of
//! schema-valid data fails. The run reports how many it let through, by rule.
//!
//! Phases: examples and fuzzing, then coverage (boundary values of every constraint). Stateful
//! runs are left out: the document declares no links, and the links schemathesis infers lead
//! `GET /tokens` to `DELETE /tokens/{name}`, which no hook of path parameters reaches.
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
        &["token", "create", "--role", "admin", "--name", TOKEN_NAME],
    )
    .lines()
    .last()
    .unwrap()
    .to_owned();
    (Server::start(&url), token)
}

/// The run's admin token.
const TOKEN_NAME: &str = "fuzz-admin";

/// What one schemathesis run did.
struct Ran {
    generated: u64,
    /// Failures the hooks dropped (refusals of schema-valid data by a listed rule).
    filtered: u64,
    /// Refusals of schema-valid data let through by the hooks' rules, by rule.
    allowed: std::collections::BTreeMap<String, u64>,
}

/// One schemathesis run of `phases`, asserting it passed: no failure, no error, no operation
/// that only met `401`/`403`.
fn run(bin: &Path, server: &Server, token: &str, phases: &str) -> Ran {
    let examples = std::env::var("PARTYEDU_FUZZ_EXAMPLES").unwrap_or_else(|_| "100".to_owned());
    let seed = std::env::var("PARTYEDU_FUZZ_SEED").unwrap_or_else(|_| "20241231".to_owned());
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("api-fuzz-{phases}"));
    std::fs::remove_dir_all(&dir).ok();
    std::fs::create_dir_all(&dir).unwrap();
    let report = dir.join("report.json");
    let tally = dir.join("allowed.txt");
    let output = Command::new(bin)
        .arg("run")
        .arg(format!("{}/api/v1/openapi.json", server.base_url))
        .args(["-H", &format!("Authorization: Bearer {token}")])
        .args(["--checks", "all", "--phases", phases])
        .args(["--max-examples", &examples, "--seed", &seed])
        .args(["--workers", "2", "--request-timeout", "40"])
        .args(["--generation-database", "none", "--no-color"])
        .args(["--report", "json", "--report-json-path"])
        .arg(&report)
        .env(
            "PYTHONPATH",
            Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fuzz"),
        )
        .env("SCHEMATHESIS_HOOKS", "hooks")
        .env("PARTYEDU_FUZZ_TOKEN_NAME", TOKEN_NAME)
        .env("PARTYEDU_FUZZ_TALLY", &tally)
        .current_dir(&dir)
        .output()
        .expect("schemathesis runs");
    let text = String::from_utf8_lossy(&output.stdout).into_owned()
        + &String::from_utf8_lossy(&output.stderr);
    let summary = text
        .rsplit_once("SUMMARY")
        .map_or(text.as_str(), |(_, s)| s);
    eprintln!("schemathesis {phases}:{summary}");
    assert!(
        output.status.success(),
        "schemathesis found problems:\n{text}"
    );
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&report).expect("the JSON report")).unwrap();
    assert_eq!(report["failures"], serde_json::json!([]), "{text}");
    assert_eq!(report["errors"], serde_json::json!([]), "{text}");
    assert_eq!(report["operations"]["errored"], 0, "{text}");
    // Every operation met the token as valid: none answered only 401/403.
    assert_eq!(
        report["warnings"]["missing_auth"],
        serde_json::json!([]),
        "{text}"
    );
    let mut allowed = std::collections::BTreeMap::new();
    for rule in std::fs::read_to_string(&tally).unwrap_or_default().lines() {
        *allowed.entry(rule.to_owned()).or_default() += 1;
    }
    let ran = Ran {
        generated: report["test_cases"]["generated"].as_u64().unwrap(),
        filtered: report["filtered"].as_u64().unwrap_or(0),
        allowed,
    };
    eprintln!(
        "schemathesis {phases}: {} test cases, 0 failures; {} refusals of schema-valid data \
         let through, problems by rule: {:?}",
        ran.generated, ran.filtered, ran.allowed
    );
    ran
}

#[partyedu_testkit::db_test(migrations = false)]
async fn the_api_holds_to_its_openapi_document_under_fuzzing(pool: PgPool) {
    let bin = schemathesis();
    let (mut server, token) = seeded(&pool);
    // No kept-alive connections: the server closes an idle one after its header read timeout
    // (20 s), and a request sent on it just then fails in the client.
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()
        .unwrap();
    let document: serde_json::Value = client
        .get(format!("{}/api/v1/openapi.json", server.base_url))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let operations: usize = document["paths"]
        .as_object()
        .unwrap()
        .values()
        .map(|item| item.as_object().unwrap().len())
        .sum();
    // The read models first fold the generated history: a statistic asked for a position
    // they have not reached answers `503 lagging`, which would be the fuzzer's finding. The safe
    // frontier is the cluster's, so another session's long transaction can hold it back.
    let seeded_head = head(&pool).await;
    let waited = std::time::Instant::now();
    while checkpoint(&client, &server, &token).await < seeded_head {
        assert!(
            waited.elapsed() < std::time::Duration::from_secs(600),
            "the read models did not fold the seeded history within 10 minutes"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    eprintln!(
        "the read models folded the seeded history in {:?}",
        waited.elapsed()
    );
    let fuzzed = run(&bin, &server, &token, "examples,fuzzing");
    let covered = run(&bin, &server, &token, "coverage");
    eprintln!(
        "{operations} operations documented; {} + {} test cases",
        fuzzed.generated, covered.generated
    );
    // The run's token still works (nothing revoked it) and the server is still up.
    let tokens = client
        .get(format!("{}/api/v1/tokens", server.base_url))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(tokens.status(), 200);
    let ready = reqwest::get(format!("{}/readyz", server.base_url))
        .await
        .unwrap();
    assert_eq!(ready.status(), 200);
    // The read models kept up with what the fuzzer recorded: no stored event stopped the
    // projector (a name holding U+0000 once did, for good). The safe frontier is the cluster's
    // (another session's open transaction holds it back), so reaching the head is waited for
    // a while, and what must hold is that the projector never failed.
    let head = head(&pool).await;
    let mut reached = 0;
    for _ in 0..300 {
        reached = checkpoint(&client, &server, &token).await;
        if reached >= head {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let failures: Vec<String> = server
        .log_lines()
        .into_iter()
        .filter(|line| line.contains("projector stopped"))
        .collect();
    assert!(failures.is_empty(), "the projector failed: {failures:?}");
    if reached < head {
        eprintln!(
            "the read models reached {reached} of {head}: another session's open transaction \
             holds the cluster's safe frontier back (the projector reported no failure)"
        );
    }
}

/// The read models' checkpoint.
async fn checkpoint(client: &reqwest::Client, server: &Server, token: &str) -> i64 {
    let status: serde_json::Value = client
        .get(format!("{}/api/v1/projections", server.base_url))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    status["projections"][0]["checkpoint"].as_i64().unwrap()
}

/// The log's head position.
async fn head(pool: &PgPool) -> i64 {
    sqlx::query_scalar("SELECT COALESCE(max(position), 0)::bigint FROM events")
        .fetch_one(pool)
        .await
        .unwrap()
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
