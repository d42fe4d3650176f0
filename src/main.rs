//! The `partyedu` binary: parses the command line, sets up logging, and runs a subcommand.

use anyhow::Context;
use clap::{Parser, Subcommand, ValueEnum};
use indicatif::{ProgressBar, ProgressStyle};
use partyedu_projections::{RuleBook, RunOptions, engine};
use partyedu_server::audit::{self, AuditKey};
use partyedu_server::auth::{self, Role};
use partyedu_server::recorder::Recorder;
use partyedu_server::sheets::{self, Lang, SheetError, SheetFormat, SheetKind};
use partyedu_server::transfer::{self, ImportError};
use partyedu_server::{AppState, Limits, Stats};
use partyedu_store::EventStore;
use sqlx::PgPool;
use sqlx::postgres::PgConnectOptions;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use tokio::net::TcpListener;
use tracing_subscriber::EnvFilter;

#[derive(Parser)]
#[command(
    name = "partyedu",
    version,
    about = "Party-member education records and statistics",
    long_about = "Party-member education records and statistics: an append-only log of what \
        happened (classes, lectures, home visits, micro-wishes, registry changes) in PostgreSQL, \
        and the statistics folded from it.\n\n\
        Nothing needs configuring: without DATABASE_URL, partyedu uses the PostgreSQL at the \
        default address (as psql finds it), or starts a private cluster of its own from the \
        machine's PostgreSQL binaries.",
    after_help = "Examples:\n  \
        partyedu serve --demo                 start with a generated subdistrict to look at\n  \
        partyedu token create --role viewer --name office\n  \
        partyedu gen --members 400 > log.ndjson && partyedu import log.ndjson"
)]
struct Cli {
    /// PostgreSQL to use, e.g. postgres://USER@HOST:5432/partyedu; the database is created
    /// when missing, and nothing is ever started. Without it: the default address as psql
    /// builds it (PGHOST, PGPORT, PGUSER, PGDATABASE; database `partyedu`), and when nothing
    /// answers there, a private cluster in $PARTYEDU_DATA_DIR/pg (default
    /// ~/.local/share/partyedu/pg, /var/lib/partyedu/pg for root).
    #[arg(long, env = "DATABASE_URL", global = true, hide_env_values = true)]
    database_url: Option<String>,
    /// The deployment's time zone (IANA name): calendar years are taken in it, and timestamps
    /// are returned in it.
    #[arg(
        long,
        env = "PARTYEDU_TIME_ZONE",
        default_value = "Asia/Shanghai",
        global = true
    )]
    time_zone: chrono_tz::Tz,
    /// Log line format on standard error (`RUST_LOG` sets the level, e.g. `info,sqlx=warn`).
    #[arg(long, env = "PARTYEDU_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text, global = true)]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, ValueEnum)]
enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object a line.
    Json,
}

/// Where rule sets come from: the shipped ones, plus a folder.
#[derive(clap::Args)]
struct RuleSource {
    /// A folder of rule set files (`*.toml`) to add to the shipped ones; a file with a shipped
    /// rule set's id replaces it.
    #[arg(long, env = "PARTYEDU_RULES_DIR")]
    rules_dir: Option<PathBuf>,
}

/// Where the operator's audit key is (docs/operators.md, "The audit key").
#[derive(clap::Args)]
struct AuditKeySource {
    /// A file holding the operator's private audit key (`partyedu key generate --out FILE`).
    /// Without it, the key text in the environment variable PARTYEDU_AUDIT_KEY; without
    /// either, the file `audit-key` in the data directory ($PARTYEDU_DATA_DIR, default
    /// ~/.local/share/partyedu, /var/lib/partyedu for root), which `serve` and `checkpoint`
    /// generate on first use. Private keys never go into the database.
    #[arg(long, env = "PARTYEDU_AUDIT_KEY_FILE")]
    audit_key_file: Option<PathBuf>,
    /// The origin line of the signed checkpoints, naming this log: `partyedu/<deployment>`
    /// (also the name of a generated key).
    #[arg(long, env = "PARTYEDU_AUDIT_ORIGIN", default_value = "partyedu/local")]
    audit_origin: String,
}

impl AuditKeySource {
    /// The key, from the first place that has one; with `generate`, one is made in the data
    /// directory when no place has one.
    fn key(&self, generate: bool) -> anyhow::Result<Option<AuditKey>> {
        let text = std::env::var(audit::KEY_ENV).ok();
        let found = audit::load_signer(
            self.audit_key_file.as_deref(),
            text.as_deref(),
            &partyedu_database::cluster::data_dir(),
            &self.audit_origin,
            generate,
        )?;
        Ok(found.map(|(signer, place)| {
            tracing::info!(public_key = %signer.verifier().to_text(), "audit key: {place}");
            AuditKey::new(signer, &self.audit_origin)
        }))
    }
}

impl RuleSource {
    /// The rule book, with `live` (a rule set's id) live.
    fn stats(&self, live: &str) -> anyhow::Result<Stats> {
        let book = RuleBook::shipped_and(self.rules_dir.as_deref()).with_context(|| match &self
            .rules_dir
        {
            Some(dir) => format!("loading rule sets from {}", dir.display()),
            None => "loading the shipped rule sets".to_owned(),
        })?;
        Stats::new(book, live).map_err(anyhow::Error::msg)
    }
}

#[derive(Subcommand)]
enum Command {
    /// Migrate the database, then serve the HTTP API (and, on one instance of several, the
    /// projector) until SIGINT or SIGTERM.
    #[command(after_help = "Examples:\n  \
        partyedu serve --demo\n  \
        partyedu serve --listen 0.0.0.0:8080 --rules reach-all")]
    Serve {
        /// Address to listen on; port 0 picks a free port (printed in the log).
        #[arg(long, env = "PARTYEDU_LISTEN", default_value = "127.0.0.1:8080")]
        listen: SocketAddr,
        /// Request bodies larger than this many bytes are refused with 413.
        #[arg(long, env = "PARTYEDU_MAX_BODY_BYTES", default_value_t = Limits::default().max_body_bytes)]
        max_body_bytes: usize,
        /// Batches of more events than this are refused with 413.
        #[arg(long, env = "PARTYEDU_MAX_BATCH_EVENTS", default_value_t = Limits::default().max_batch_events)]
        max_batch_events: usize,
        #[command(flatten)]
        source: RuleSource,
        /// The live rule set's id, until an admin switches it (`PUT /api/v1/rules/live`).
        #[arg(long, env = "PARTYEDU_RULES", default_value = "cn-2019-hours")]
        rules: String,
        /// When the log is empty, fill it with the source article's subdistrict (about 4,300
        /// members, two years) and print an admin token to look at it with; on a log that is
        /// not empty, nothing is added.
        #[arg(long)]
        demo: bool,
        #[command(flatten)]
        audit: AuditKeySource,
    },
    /// Manage API tokens: create, list, revoke.
    #[command(
        subcommand,
        after_help = "Example:\n  partyedu token create --role viewer --name office"
    )]
    Token(TokenCommand),
    /// Import an NDJSON file of event records, or a spreadsheet (XLSX or CSV, UTF-8 or
    /// GB18030), validated as the API would; a file with any problem stores nothing and names
    /// each problem's line (or row and column), and running it again stores nothing new.
    #[command(after_help = "Examples:\n  \
        partyedu import export-2025.ndjson\n  \
        partyedu import 2025年3月培训签到表.xlsx --as class-register\n  \
        partyedu import 学习强国导出.csv --as online-hours")]
    Import {
        /// The file (NDJSON as written by `export` or `gen`, or a sheet with `--as`).
        file: PathBuf,
        /// What a spreadsheet holds: `class-register` (classes and their attendees, by id or
        /// name) or `online-hours` (members' online study from the platforms' exports).
        #[arg(long = "as")]
        sheet: Option<partyedu_server::sheets::SheetKind>,
    },
    /// Write the empty spreadsheet (a header and an example row) that `import --as` and the
    /// dashboard read.
    #[command(after_help = "Example:\n  \
        partyedu template class-register --format xlsx --lang zh-CN --out 培训签到表.xlsx")]
    Template {
        /// `class-register` or `online-hours`.
        kind: partyedu_server::sheets::SheetKind,
        /// `csv` (UTF-8 with a BOM, as Excel opens it) or `xlsx`.
        #[arg(long, default_value = "xlsx")]
        format: String,
        /// The headers' language: `zh-CN` or `en`.
        #[arg(long, default_value = "zh-CN")]
        lang: String,
        /// Where to write it (default: standard output).
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Write a valid, realistic, deterministic history as NDJSON to standard output (for
    /// `import`).
    #[command(after_help = "Example:\n  \
        partyedu gen --members 40000 --years 2 --seed 7 > city.ndjson")]
    Gen {
        /// Members at the end of the history, roughly.
        #[arg(long, default_value_t = 4_000)]
        members: usize,
        /// Calendar years, ending with the year of `--until`.
        #[arg(long, default_value_t = 1)]
        years: u32,
        /// The random seed: the same seed and options give the same file.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// The last day of the history (default: today, local time).
        #[arg(long)]
        until: Option<chrono::NaiveDate>,
        /// The source article's subdistrict itself, as `serve --demo` records it: its yearly
        /// figures whatever `--members` is, and the last year's plan complete by `--until`.
        #[arg(long)]
        article: bool,
    },
    /// Show each projection's checkpoint, lag, rule set and any rebuild in progress.
    #[command(after_help = "Example:\n  partyedu projections")]
    Projections,
    /// Rebuild the read models into a new generation beside the live one, then swap it in;
    /// or, with `--diff`, show what another rule set would change.
    #[command(after_help = "Examples:\n  \
        partyedu rebuild\n  \
        partyedu rebuild --rules reach-all --diff --year 2025")]
    Rebuild {
        /// The rule set to compare with the live one (with `--diff`).
        #[arg(long)]
        rules: Option<String>,
        /// Print per org unit and group the figures that would change (old → new); changes
        /// nothing.
        #[arg(long, requires = "rules")]
        diff: bool,
        /// The year the diff looks at (default: this year).
        #[arg(long)]
        year: Option<i32>,
        #[command(flatten)]
        source: RuleSource,
        /// The live rule set's id.
        #[arg(
            long = "live-rules",
            env = "PARTYEDU_RULES",
            default_value = "cn-2019-hours"
        )]
        live_rules: String,
    },
    /// Manage the operator's audit key, which signs the checkpoints of the log.
    #[command(
        subcommand,
        after_help = "Example:\n  partyedu key generate --name partyedu/fushan --out /etc/partyedu/audit-key"
    )]
    Key(KeyCommand),
    /// Extend the audit tree to the log's safe frontier and sign a checkpoint now; prints the
    /// signed note (C2SP checkpoint text), byte for byte as stored.
    #[command(after_help = "Example:\n  partyedu checkpoint > checkpoint.txt")]
    Checkpoint {
        #[command(flatten)]
        audit: AuditKeySource,
    },
    /// Check the log: re-hash the database's rows against the audit tree and the signed
    /// checkpoints; or, with --file or --proof, an export or a proof file offline, without any
    /// database; with --figure also recompute an exported figure from the export. Exits
    /// non-zero naming the first bad position (or line) and what is wrong, or each figure that
    /// differs.
    #[command(after_help = "Examples:\n  \
        partyedu verify\n  \
        partyedu verify --file export.ndjson --checkpoint checkpoint.txt --public-key key.txt\n  \
        partyedu verify --figure coverage.json --file export.ndjson --checkpoint checkpoint.txt --public-key key.txt\n  \
        partyedu verify --proof proof.json --public-key key.txt")]
    Verify(VerifyArgs),
    /// Write the log as NDJSON to standard output, in position order.
    #[command(after_help = "Example:\n  partyedu export --type ClassHeld > classes.ndjson")]
    Export {
        /// Only events after this position.
        #[arg(long, default_value_t = 0)]
        after: i64,
        /// Only events of this type (repeatable).
        #[arg(long = "type")]
        types: Vec<String>,
    },
}

#[derive(Subcommand)]
enum KeyCommand {
    /// Generate a new Ed25519 key pair: the private key (keep it secret) and the verifier key
    /// to publish, which is printed on the last line of standard output.
    #[command(after_help = "Examples:\n  \
        partyedu key generate --name partyedu/fushan --out /etc/partyedu/audit-key\n  \
        partyedu key generate --name partyedu/fushan > private-key.txt")]
    Generate {
        /// The key's name, shown in every signature line (e.g. the checkpoints' origin,
        /// `partyedu/fushan`); no spaces or `+`.
        #[arg(long)]
        name: String,
        /// Write the private key to this new file, readable by its owner only (mode 0600;
        /// an existing file is never overwritten). Without it the private key is printed on
        /// standard output and the verifier key on standard error.
        #[arg(long)]
        out: Option<PathBuf>,
    },
}

/// `partyedu verify`: the database, an export, or a proof file.
#[derive(clap::Args)]
struct VerifyArgs {
    /// Re-hash only the database's rows from this position on (the part before is still
    /// checked through the stored subtrees and the signed roots).
    #[arg(long, conflicts_with_all = ["file", "proof"])]
    from: Option<i64>,
    /// Re-hash only the database's rows up to this position.
    #[arg(long, conflicts_with_all = ["file", "proof"])]
    to: Option<i64>,
    /// Check this export of the whole log (`partyedu export`) offline against --checkpoint,
    /// with --public-key; no database is used.
    #[arg(long, requires_all = ["checkpoint", "public_key"], conflicts_with = "proof")]
    file: Option<PathBuf>,
    /// One or more signed checkpoints (with --file): as `partyedu checkpoint` prints one, or
    /// `GET /api/v1/audit/checkpoints` serves them with `Accept: text/plain`. Several narrow
    /// down where a changed export breaks.
    #[arg(long, requires = "file")]
    checkpoint: Option<PathBuf>,
    /// The operator's verifier key, as `GET /api/v1/audit/key` serves it: required with
    /// --file; with --proof the proof's key must be this one; against the database, the
    /// checkpoints' signatures are checked with it (default: the configured audit key's).
    #[arg(long)]
    public_key: Option<PathBuf>,
    /// Check one inclusion proof file (as `GET /api/v1/audit/proof/inclusion` answers) offline;
    /// no database is used.
    #[arg(long)]
    proof: Option<PathBuf>,
    /// A statistic saved as the API answered it with `evidence=true` (coverage, coverage
    /// members, headlines, a member's history): after --file verifies against --checkpoint
    /// and the figure's own checkpoint, recompute it from the export's records up to its as-of
    /// position (CONTRACT §4, no database) and report every figure that differs.
    #[arg(long, requires_all = ["file", "checkpoint", "public_key"], conflicts_with = "proof")]
    figure: Option<PathBuf>,
    #[command(flatten)]
    audit: AuditKeySource,
}

#[derive(Subcommand)]
enum TokenCommand {
    /// Create a token; its value is printed alone on the last line, and only this once.
    #[command(after_help = "Examples:\n  \
        partyedu token create --role admin --name ops\n  \
        partyedu token create --role recorder --org C-FSH4 --name secretary-fsh4")]
    Create {
        /// What it may do: recorder (records events), viewer (reads statistics), auditor
        /// (reads everything, changes nothing), admin (everything).
        #[arg(long)]
        role: Role,
        /// Limit the token to this org unit and everything below it; it must be an
        /// established org unit.
        #[arg(long)]
        org: Option<String>,
        /// The token's name, which becomes the `actor` of what it records; never reused.
        #[arg(long)]
        name: String,
    },
    /// List every token with who created and revoked it, and when.
    #[command(after_help = "Example:\n  partyedu token list")]
    List,
    /// Revoke a token by name, at once, on every instance.
    #[command(after_help = "Example:\n  partyedu token revoke secretary-fsh4")]
    Revoke {
        /// The token's name.
        name: String,
    },
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    init_logging(cli.log_format);
    match run(cli).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    if let Command::Gen {
        members,
        years,
        seed,
        until,
        article,
    } = cli.command
    {
        let until = until.unwrap_or_else(|| {
            chrono::Utc::now()
                .with_timezone(&cli.time_zone)
                .date_naive()
        });
        let mut config = partyedu_gen::GenConfig::new(members, years, seed, until);
        config.article = article;
        return generate(cli.time_zone, config);
    }
    // The offline forms never look for a database: they must work where there is none.
    match &cli.command {
        Command::Key(KeyCommand::Generate { name, out }) => {
            return key_generate(name, out.as_deref());
        }
        Command::Verify(args) if args.file.is_some() || args.proof.is_some() => {
            return verify_offline(args);
        }
        Command::Template {
            kind,
            format,
            lang,
            out,
        } => return template(*kind, format, lang, out.as_deref()),
        _ => {}
    }
    let database = locate_database(cli.database_url.clone()).await?;
    let result = match prepare(&database).await {
        Ok(pool) => run_with(cli, database.options(), pool).await,
        Err(err) => Err(err),
    };
    // A private cluster this process started stops with it (unless another command uses it).
    database.release().await;
    result
}

/// Finds PostgreSQL (see `partyedu_database`) and says where, when it is a private cluster.
async fn locate_database(url: Option<String>) -> anyhow::Result<partyedu_database::Database> {
    let mut settings = partyedu_database::Settings::from_env("partyedu");
    settings.url = url.filter(|u| !u.is_empty());
    let database = partyedu_database::locate(&settings).await?;
    match database.private_cluster_note() {
        Some(note) => tracing::info!("database: {note}"),
        None => tracing::debug!(place = database.place(), "database"),
    }
    Ok(database)
}

/// Creates the database when missing and migrates it: the one place every command does it.
async fn prepare(database: &partyedu_database::Database) -> anyhow::Result<PgPool> {
    partyedu_store::prepare_database(database.options())
        .await
        .with_context(|| format!("preparing the database at {}", database.place()))
}

async fn run_with(cli: Cli, options: &PgConnectOptions, pool: PgPool) -> anyhow::Result<()> {
    match cli.command {
        Command::Serve {
            listen,
            max_body_bytes,
            max_batch_events,
            source,
            rules,
            demo,
            audit,
        } => {
            let limits = Limits {
                max_body_bytes,
                max_batch_events,
            };
            let stats = source.stats(&rules)?;
            if demo {
                load_demo(pool.clone(), cli.time_zone, listen).await?;
            }
            let key = audit
                .key(true)?
                .expect("a key is generated when none is found");
            serve(pool, options, cli.time_zone, listen, limits, stats, key).await
        }
        Command::Token(command) => token(pool, cli.time_zone, command).await,
        Command::Import { file, sheet } => import(pool, cli.time_zone, &file, sheet).await,
        Command::Gen { .. } | Command::Template { .. } => {
            unreachable!("gen and template need no database and ran before")
        }
        Command::Projections => projections(pool, cli.time_zone).await,
        Command::Rebuild {
            rules,
            diff,
            year,
            source,
            live_rules,
        } => {
            let stats = source.stats(&live_rules)?;
            match rules {
                Some(other) if diff => rule_diff(pool, cli.time_zone, &stats, &other, year).await,
                _ => rebuild(pool, cli.time_zone).await,
            }
        }
        Command::Export { after, types } => export(pool, cli.time_zone, after, &types).await,
        Command::Key(_) => unreachable!("key generate needs no database and ran before"),
        Command::Checkpoint { audit } => checkpoint(pool, &audit).await,
        Command::Verify(args) => verify_database(pool, &args).await,
    }
}

fn init_logging(format: LogFormat) {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn"));
    // Logs go to stderr: stdout is for what a command prints (a token, an export).
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}

async fn serve(
    pool: PgPool,
    options: &PgConnectOptions,
    tz: chrono_tz::Tz,
    listen: SocketAddr,
    limits: Limits,
    stats: Stats,
    key: AuditKey,
) -> anyhow::Result<()> {
    let listener = TcpListener::bind(listen)
        .await
        .with_context(|| format!("binding {listen}"))?;
    // End-to-end tests and operators read the bound address from this line.
    tracing::info!(address = %listener.local_addr()?, "listening");
    let store = EventStore::new(pool);
    partyedu_projections::ensure_projection(&store).await?;
    // Every loaded rule set is kept materialised: a switch or a what-if between any two reads
    // ready models (their cost is a few rows per member and year each).
    let materialise: Vec<_> = stats.book.sets().cloned().collect();
    let state = AppState::new(store.clone(), tz, limits, stats).with_audit(key.clone());
    // Read the log into the recorder's state now rather than on the first request.
    state.recorder.warm_up().await.context("reading the log")?;
    let (stop, stopped) = tokio::sync::watch::channel(false);
    // Every event is under a signed checkpoint about a tick after the safe frontier passes it.
    let tree = tokio::spawn(audit::run_tree(
        store.clone(),
        Some(key),
        std::time::Duration::from_secs(1),
        wait_for(stopped.clone()),
    ));
    let projector = tokio::spawn(engine::run(
        store,
        partyedu_store::session_options(options.clone()),
        RunOptions {
            tz,
            poll_interval: std::time::Duration::from_millis(500),
            materialise,
        },
        wait_for(stopped.clone()),
    ));
    tokio::spawn(async move {
        shutdown_signal().await;
        let _ = stop.send(true);
    });
    partyedu_server::serve(listener, state, wait_for(stopped)).await?;
    let _ = projector.await;
    let _ = tree.await;
    tracing::info!("stopped");
    Ok(())
}

/// Resolves once `stopped` turns true.
async fn wait_for(mut stopped: tokio::sync::watch::Receiver<bool>) {
    let _ = stopped.wait_for(|stop| *stop).await;
}

/// Resolves on SIGINT or SIGTERM.
async fn shutdown_signal() {
    let interrupt = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        () = interrupt => {},
        () = terminate => {},
    }
    tracing::info!("shutting down");
}

/// `partyedu key generate`.
fn key_generate(name: &str, out: Option<&Path>) -> anyhow::Result<()> {
    let (private, verifier) = partyedu_audit::generate_key(name)?;
    match out {
        Some(path) => {
            audit::write_private_key(path, &private)?;
            eprintln!("private key written to {} (mode 0600)", path.display());
            println!("{verifier}");
        }
        None => {
            println!("{private}");
            eprintln!("verifier key (publish it): {verifier}");
        }
    }
    Ok(())
}

/// `partyedu checkpoint`: the note on standard output, exactly as stored.
async fn checkpoint(pool: PgPool, source: &AuditKeySource) -> anyhow::Result<()> {
    let key = source
        .key(true)?
        .expect("a key is generated when none is found");
    let checkpoint = audit::checkpoint_now(&EventStore::new(pool), &key).await?;
    tracing::info!(size = checkpoint.head.size, "signed a checkpoint");
    print!("{}", checkpoint.note);
    Ok(())
}

fn read_text(path: &Path) -> anyhow::Result<String> {
    std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))
}

/// `partyedu verify` against the database.
async fn verify_database(pool: PgPool, args: &VerifyArgs) -> anyhow::Result<()> {
    let verifier = match &args.public_key {
        Some(path) => Some(partyedu_audit::Verifier::from_text(&read_text(path)?)?),
        None => args.audit.key(false)?.map(|k| k.signer.verifier()),
    };
    let store = EventStore::new(pool);
    let report =
        partyedu_audit::verify_database(&store, verifier.as_ref(), args.from, args.to).await?;
    print!(
        "{}",
        audit::database_report_text(&report, verifier.as_ref())
    );
    match audit::first_problem(&report) {
        None => {
            println!("the log verifies");
            Ok(())
        }
        Some(problem) => anyhow::bail!("the log does not verify: {problem}"),
    }
}

/// `partyedu verify --file` and `--proof`: no database.
fn verify_offline(args: &VerifyArgs) -> anyhow::Result<()> {
    let key = args.public_key.as_deref().map(read_text).transpose()?;
    if let Some(path) = &args.proof {
        let report = partyedu_audit::verify_inclusion_proof(&read_text(path)?, key.as_deref())
            .with_context(|| format!("the proof {} does not verify", path.display()))?;
        println!(
            "event {} at position {} is leaf {} of the tree of {} leaves signed as {} by the \
             key {}",
            report.event_id,
            report.position,
            report.leaf_index,
            report.tree_size,
            report.origin,
            report.key_name
        );
        if key.is_none() {
            println!(
                "no --public-key given: compare the proof's key with the operator's published one"
            );
        }
        return Ok(());
    }
    let (Some(file), Some(checkpoint), Some(key)) = (&args.file, &args.checkpoint, key) else {
        anyhow::bail!("--file needs --checkpoint and --public-key");
    };
    let open = || {
        std::fs::File::open(file)
            .map(std::io::BufReader::new)
            .with_context(|| format!("opening {}", file.display()))
    };
    let mut checkpoints = read_text(checkpoint)?;
    let figure = match &args.figure {
        Some(path) => {
            let (figure, note) = read_figure(path, &key)?;
            // The figure's own checkpoint is checked with the others.
            if !checkpoints.ends_with('\n') {
                checkpoints.push('\n');
            }
            checkpoints.push_str(&note);
            Some((path, figure, note))
        }
        None => None,
    };
    let report = partyedu_audit::verify_export(open()?, &checkpoints, &key)?;
    print!("{}", audit::export_report_text(&report));
    if let (None, Some((path, figure, note))) = (&report.first_break, figure) {
        return verify_figure(path, &figure, &note, open()?, &report);
    }
    match &report.first_break {
        None => {
            println!("the export verifies");
            Ok(())
        }
        Some(problem) => anyhow::bail!("{} does not verify: {problem}", file.display()),
    }
}

/// A figure file (a statistic answered with `evidence=true`) and its signed checkpoint, which
/// must verify with `key`.
fn read_figure(path: &Path, key: &str) -> anyhow::Result<(serde_json::Value, String)> {
    let figure: serde_json::Value = serde_json::from_str(&read_text(path)?)
        .with_context(|| format!("{} is not JSON", path.display()))?;
    let note = figure["evidence"]["checkpoint"]
        .as_str()
        .with_context(|| {
            format!(
                "{} has no evidence.checkpoint: fetch the statistic with evidence=true",
                path.display()
            )
        })?
        .to_owned();
    partyedu_audit::verify_checkpoint(&note, &partyedu_audit::Verifier::from_text(key)?)
        .with_context(|| {
            format!(
                "the checkpoint in {} does not verify with the public key",
                path.display()
            )
        })?;
    Ok((figure, note))
}

/// `partyedu verify --figure`: the export verified, recompute the figure from its records.
fn verify_figure(
    path: &Path,
    figure: &serde_json::Value,
    note: &str,
    export: impl std::io::BufRead,
    verified: &partyedu_audit::ExportReport,
) -> anyhow::Result<()> {
    let size = partyedu_audit::parse_checkpoint_unverified(note)?.size;
    // Every record the checkpoints cover (the figure's and any later one given).
    let covered = verified.checkpoint_sizes.iter().copied().max().unwrap_or(0);
    let mut records = Vec::new();
    for line in export.lines().take(covered as usize) {
        records.push(serde_json::from_str::<serde_json::Value>(&line?)?);
    }
    let report = partyedu_figures::check::check_figure(figure, &records, size as usize)
        .map_err(|problem| anyhow::anyhow!("{}: {problem}", path.display()))?;
    println!("{}", report.subject);
    for note in &report.notes {
        println!("note: {note}");
    }
    if report.holds() {
        println!(
            "the figure verifies: {} value(s) recomputed from the records under the checkpoint \
             of size {size}, all the same",
            report.compared
        );
        return Ok(());
    }
    for difference in &report.differences {
        println!("differs: {difference}");
    }
    anyhow::bail!(
        "{} does not verify: {} of {} value(s) differ from what the records give; the first: {}",
        path.display(),
        report.differences.len(),
        report.compared,
        report.differences[0]
    )
}

/// Who did it, for tokens made at the command line: the operating-system user.
fn cli_actor() -> String {
    let user = std::env::var("USER").unwrap_or_default();
    format!("cli:{}", if user.is_empty() { "unknown" } else { &user })
}

async fn token(pool: PgPool, tz: chrono_tz::Tz, command: TokenCommand) -> anyhow::Result<()> {
    match command {
        TokenCommand::Create { role, org, name } => {
            let token =
                auth::create_token(&pool, &name, role, org.as_deref(), &cli_actor()).await?;
            println!(
                "created token `{name}` ({role}, scope {})",
                org.as_deref().unwrap_or("everything")
            );
            println!("{token}");
        }
        TokenCommand::List => {
            println!(
                "{:<24} {:<9} {:<16} {:<26} {:<16} revoked",
                "name", "role", "scope", "created", "by"
            );
            for t in auth::list_tokens(&pool, tz).await? {
                let revoked = match (&t.revoked_at, &t.revoked_by) {
                    (Some(at), Some(by)) => format!("{} by {by}", at.to_rfc3339()),
                    _ => "-".to_owned(),
                };
                println!(
                    "{:<24} {:<9} {:<16} {:<26} {:<16} {revoked}",
                    t.name,
                    t.role.as_str(),
                    t.org_scope.as_deref().unwrap_or("everything"),
                    t.created_at.to_rfc3339(),
                    t.created_by,
                );
            }
        }
        TokenCommand::Revoke { name } => {
            auth::revoke_token(&pool, &name, &cli_actor()).await?;
            println!("revoked token `{name}`");
        }
    }
    Ok(())
}

async fn import(
    pool: PgPool,
    tz: chrono_tz::Tz,
    file: &Path,
    sheet: Option<SheetKind>,
) -> anyhow::Result<()> {
    let format = SheetFormat::of_path(file);
    if format.is_some() && sheet.is_none() {
        anyhow::bail!(
            "{} is a spreadsheet: say what it holds with --as class-register or --as online-hours",
            file.display()
        );
    }
    let recorder = Recorder::new(EventStore::new(pool), tz);
    let bar = ProgressBar::new(0).with_style(
        ProgressStyle::with_template("{msg} [{bar:40}] {pos}/{len} events ({per_sec}, {eta})")
            .expect("a valid template")
            .progress_chars("=> "),
    );
    bar.set_message("validating");
    bar.enable_steady_tick(std::time::Duration::from_millis(200));
    let progress = |stored: usize, total: usize| {
        bar.set_message("storing");
        bar.set_length(total as u64);
        bar.set_position(stored as u64);
    };
    let stored = match (sheet, format) {
        (Some(kind), Some(format)) => {
            let bytes =
                std::fs::read(file).with_context(|| format!("reading {}", file.display()))?;
            let result =
                sheets::import_sheet(&recorder, kind, &bytes, format, &cli_actor(), progress).await;
            bar.finish_and_clear();
            match result {
                Err(SheetError::Problems(problems)) => {
                    for p in &problems {
                        eprintln!("{p}");
                    }
                    anyhow::bail!(
                        "{} problem(s) in {}; nothing was stored",
                        problems.len(),
                        file.display()
                    )
                }
                other => other?,
            }
        }
        (Some(_), None) => anyhow::bail!(
            "--as reads a spreadsheet: {} is neither .xlsx nor .csv",
            file.display()
        ),
        (None, _) => {
            let reader = std::io::BufReader::new(
                std::fs::File::open(file).with_context(|| format!("opening {}", file.display()))?,
            );
            let result = transfer::import(&recorder, reader, &cli_actor(), progress).await;
            bar.finish_and_clear();
            match result {
                Err(ImportError::Refused(problems)) => {
                    for p in &problems {
                        eprintln!("line {}: {}: {}", p.line, p.path, p.problem);
                    }
                    anyhow::bail!(
                        "{} refused record(s) in {}; nothing was stored",
                        problems.len(),
                        file.display()
                    )
                }
                other => other?,
            }
        }
    };
    println!("imported {stored} new event(s) from {}", file.display());
    Ok(())
}

/// Writes the empty sheet of `kind`.
fn template(kind: SheetKind, format: &str, lang: &str, out: Option<&Path>) -> anyhow::Result<()> {
    let lang = Lang::parse(lang)
        .ok_or_else(|| anyhow::anyhow!("--lang: `{lang}` is neither zh-CN nor en"))?;
    let bytes = match format {
        "csv" => sheets::template_csv(kind, lang),
        "xlsx" => sheets::template_xlsx(kind, lang)?,
        other => anyhow::bail!("--format: `{other}` is neither csv nor xlsx"),
    };
    match out {
        Some(path) => {
            std::fs::write(path, bytes).with_context(|| format!("writing {}", path.display()))?
        }
        None => std::io::Write::write_all(&mut std::io::stdout().lock(), &bytes)?,
    }
    Ok(())
}

async fn export(
    pool: PgPool,
    tz: chrono_tz::Tz,
    after: i64,
    types: &[String],
) -> anyhow::Result<()> {
    let store = EventStore::new(pool);
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    let types = (!types.is_empty()).then_some(types);
    let written = transfer::export(&store, after, types, tz, &mut out).await?;
    tracing::info!(records = written, "exported");
    Ok(())
}

fn generate(tz: chrono_tz::Tz, mut config: partyedu_gen::GenConfig) -> anyhow::Result<()> {
    config.tz = tz;
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    let summary = partyedu_gen::generate(&config, &mut out)?;
    std::io::Write::flush(&mut out)?;
    tracing::info!(events = summary.events, "generated");
    Ok(())
}

async fn projections(pool: PgPool, tz: chrono_tz::Tz) -> anyhow::Result<()> {
    let status = engine::status(&EventStore::new(pool)).await?;
    println!(
        "{:<8} {:>10} {:>20} {:>10} {:>10}  updated",
        "name", "generation", "checkpoint", "lag", "lag (s)"
    );
    println!(
        "{:<8} {:>10} {:>20} {:>10} {:>10.1}  {}",
        status.name,
        status.generation,
        status.checkpoint,
        status.lag_events,
        status.lag_seconds,
        status
            .updated_at
            .map(|at| partyedu_server::local_timestamp(at, tz))
            .unwrap_or_else(|| "-".to_owned()),
    );
    if let Some(r) = status.rebuild {
        println!(
            "rebuild: generation {} at {}/{} events ({:.1}%)",
            r.generation,
            r.events_folded,
            r.target_events,
            r.progress() * 100.0
        );
    }
    Ok(())
}

/// Builds a new generation of the read models from the whole log while the live one keeps
/// serving, then swaps it in.
async fn rebuild(pool: PgPool, tz: chrono_tz::Tz) -> anyhow::Result<()> {
    let store = EventStore::new(pool);
    let generation = engine::begin_rebuild(&store).await?;
    let mut projector = partyedu_projections::Projector::new(store.clone(), tz, generation).await?;
    let bar = ProgressBar::new(0).with_style(
        ProgressStyle::with_template("rebuilding [{bar:40}] {pos}/{len} events ({per_sec}, {eta})")
            .expect("a valid template")
            .progress_chars("=> "),
    );
    let result = async {
        loop {
            let status = engine::status(&store).await?;
            if let Some(r) = status.rebuild.iter().find(|r| r.generation == generation) {
                bar.set_length(r.target_events as u64);
                bar.set_position(r.events_folded as u64);
            }
            if projector.try_run_once().await? == 0 {
                match engine::swap(&store, generation).await {
                    Ok(()) => return Ok::<_, anyhow::Error>(()),
                    // The live generation moved on meanwhile: fold the rest, then try again.
                    Err(engine::SwapError::Behind { .. }) => {
                        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    }
                    Err(err) => return Err(err.into()),
                }
            }
        }
    }
    .await;
    bar.finish_and_clear();
    if let Err(err) = result {
        engine::drop_generation(&store, generation).await.ok();
        return Err(err.context("the rebuild failed; the live read models are untouched"));
    }
    println!("rebuilt the read models as generation {generation} and swapped them in");
    Ok(())
}

/// Prints what `other` would change against the live rule set, per org unit and group.
async fn rule_diff(
    pool: PgPool,
    tz: chrono_tz::Tz,
    stats: &Stats,
    other: &str,
    year: Option<i32>,
) -> anyhow::Result<()> {
    let store = EventStore::new(pool);
    let live = stats
        .book
        .get(&stats.live)
        .expect("Stats::new checked the live id");
    let new = stats
        .book
        .get(other)
        .with_context(|| format!("no rule set `{other}`"))?;
    let status = engine::status(&store).await?;
    let today = chrono::Utc::now().with_timezone(&tz).date_naive();
    let year = year.unwrap_or_else(|| chrono::Datelike::year(&today));
    let scope = partyedu_projections::query::Scope {
        generation: status.generation,
        as_of: status.checkpoint,
        year,
        reference_date: partyedu_projections::query::reference_date(year, today),
        org: None,
    };
    let old_rows = partyedu_projections::query::coverage(store.pool(), &scope, live).await?;
    let new_rows = partyedu_projections::query::coverage(store.pool(), &scope, new).await?;
    println!(
        "{year}, as of position {}: {} ({}) → {} ({})",
        scope.as_of,
        live.id(),
        &live.hash[..12],
        new.id(),
        &new.hash[..12]
    );
    println!(
        "{:<16} {:<15} {:>22} {:>22}",
        "org", "group", "reached", "compliant"
    );
    let mut changed = 0;
    for (old, new) in old_rows.iter().zip(&new_rows) {
        if (old.reached, old.compliant) == (new.reached, new.compliant) {
            continue;
        }
        changed += 1;
        println!(
            "{:<16} {:<15} {:>22} {:>22}",
            old.org_id,
            old.group,
            format!("{} → {} /{}", old.reached, new.reached, old.in_scope),
            format!("{} → {} /{}", old.compliant, new.compliant, old.in_scope),
        );
    }
    println!("{changed} of {} rows would change", old_rows.len());
    Ok(())
}

/// Fills an empty log with a generated subdistrict, validated and recorded as an import would
/// be, and prints an admin token and a few addresses to start from.
async fn load_demo(pool: PgPool, tz: chrono_tz::Tz, listen: SocketAddr) -> anyhow::Result<()> {
    let store = EventStore::new(pool.clone());
    if store.head_position().await? > 0 {
        tracing::info!("the log is not empty: no demo data loaded");
        return Ok(());
    }
    let today = chrono::Utc::now().with_timezone(&tz).date_naive();
    let mut config = partyedu_gen::GenConfig::demo(today);
    config.tz = tz;
    let mut file = Vec::new();
    let summary = partyedu_gen::generate(&config, &mut file)?;
    tracing::info!(events = summary.events, "recording the demo subdistrict");
    let recorder = Recorder::new(store, tz);
    let stored = transfer::import(&recorder, file.as_slice(), "demo", |done, total| {
        if done == total || done % 50_000 < 10_000 {
            tracing::info!(done, total, "recording the demo subdistrict");
        }
    })
    .await?;
    let name = format!("demo-admin-{}", today.format("%Y%m%d"));
    let token = auth::create_token(&pool, &name, Role::Admin, None, "demo").await?;
    println!("demo: {stored} events recorded; statistics fill in as the projection catches up");
    println!("demo: admin token `{name}`: {token}");
    println!(
        "demo: try  curl -H 'Authorization: Bearer {token}' 'http://{listen}/api/v1/headlines?year={}'",
        chrono::Datelike::year(&today)
    );
    Ok(())
}
