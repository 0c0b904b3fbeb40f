//! The `sendwell` binary: a thin shell over the server and store crates.

mod bench;
mod bench_console;
mod bench_deliver;
mod bench_feedback;
mod bench_mail;
mod bench_operator;
mod bounce;
mod import;
mod screen;
mod send;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use sendwell_core::WorkspaceId;
use sendwell_server::config::{table, Overrides, SecretSource, Settings};
use sendwell_server::App;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "sendwell",
    version,
    about = "A permission-first email sending platform"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// Where to find the configuration and the database.
#[derive(Args, Clone, Debug, Default)]
struct Location {
    /// A TOML configuration file (also SENDWELL_CONFIG).
    #[arg(long, global = true)]
    config: Option<PathBuf>,
    #[command(flatten)]
    settings: TableFlags<EVERYWHERE>,
}

/// Flag groups of the settings table, by the commands that take them.
const EVERYWHERE: u8 = 0;
const DELIVERY: u8 = 1;
const SERVE: u8 = 2;

/// The flags of one group, made from the settings table
/// (`sendwell_server::config::table::SETTINGS`): each setting's key with
/// dashes, its description, variable and default as the help.
#[derive(Clone, Debug, Default)]
struct TableFlags<const GROUP: u8> {
    given: Vec<(&'static str, String)>,
}

impl<const GROUP: u8> TableFlags<GROUP> {
    fn settings() -> impl Iterator<Item = &'static table::Setting> {
        table::SETTINGS.iter().filter(|s| match GROUP {
            EVERYWHERE => s.flag == table::Flag::Everywhere,
            DELIVERY => s.flag == table::Flag::Delivery,
            _ => s.flag == table::Flag::Serve,
        })
    }
}

impl<const GROUP: u8> clap::FromArgMatches for TableFlags<GROUP> {
    fn from_arg_matches(matches: &clap::ArgMatches) -> Result<Self, clap::Error> {
        let mut flags = Self::default();
        flags.update_from_arg_matches(matches)?;
        Ok(flags)
    }

    fn update_from_arg_matches(&mut self, matches: &clap::ArgMatches) -> Result<(), clap::Error> {
        for s in Self::settings() {
            if s.switch {
                if matches.get_flag(s.key) {
                    self.given.push((s.key, "true".to_owned()));
                }
            } else if let Some(v) = matches.get_one::<String>(s.key) {
                self.given.push((s.key, v.clone()));
            }
        }
        Ok(())
    }
}

impl<const GROUP: u8> Args for TableFlags<GROUP> {
    fn augment_args(mut cmd: clap::Command) -> clap::Command {
        let defaults = Settings::defaults();
        for s in Self::settings() {
            let Some(name) = s.flag_name() else { continue };
            let help = format!(
                "{} (also {}) [default: {}]",
                s.about,
                s.env(),
                s.default_text(&defaults).replace('`', "")
            );
            let arg = clap::Arg::new(s.key)
                .long(name)
                .help(help)
                .global(GROUP == EVERYWHERE);
            cmd = cmd.arg(if s.switch {
                arg.action(clap::ArgAction::SetTrue)
            } else {
                arg.value_name(s.key.to_ascii_uppercase())
            });
        }
        cmd
    }

    fn augment_args_for_update(cmd: clap::Command) -> clap::Command {
        Self::augment_args(cmd)
    }
}

#[derive(Subcommand)]
enum Command {
    /// Run the HTTP API (and a delivery worker).
    Serve {
        #[command(flatten)]
        serve: TableFlags<SERVE>,
        #[command(flatten)]
        location: Location,
        #[command(flatten)]
        delivery: TableFlags<DELIVERY>,
    },
    /// Run delivery only: several workers and servers may share one PostgreSQL database.
    Worker {
        #[command(flatten)]
        location: Location,
        #[command(flatten)]
        delivery: TableFlags<DELIVERY>,
    },
    /// Apply database migrations and exit.
    Migrate {
        #[command(flatten)]
        location: Location,
    },
    /// Workspaces (operator).
    Workspace {
        #[command(subcommand)]
        command: WorkspaceCommand,
    },
    /// The delivery team's console accounts (operator).
    Operator {
        #[command(subcommand)]
        command: OperatorCommand,
    },
    /// The consent ledger.
    Consent {
        #[command(subcommand)]
        command: ConsentCommand,
    },
    /// The sending guidelines (operator).
    Guidelines {
        #[command(subcommand)]
        command: GuidelinesCommand,
    },
    /// Check email addresses; prints one JSON line each.
    CheckAddress {
        #[arg(required = true)]
        addresses: Vec<String>,
        /// Skip DNS (MX, A/AAAA) checks.
        #[arg(long)]
        offline: bool,
        /// The transport supports SMTPUTF8, so UTF-8 local parts are fine.
        #[arg(long)]
        smtputf8: bool,
    },
    /// Import a CSV of contacts into a workspace through the API, with a progress bar.
    Import(import::ImportArgs),
    /// Sends a composed message (or composes one from a JSON file and sends it).
    Send(send::SendArgs),
    /// Lists the mails the capture transport stored, or prints one raw.
    Outbox(send::OutboxArgs),
    /// Screens saved messages (.eml): one JSON line per file with the verdict and every rule that fired.
    Screen(screen::ScreenArgs),
    /// Retrains the content screen's token classifier from a labelled corpus.
    ScreenTrain(screen::TrainArgs),
    /// Parses bounce and complaint messages: one JSON line per bounced recipient.
    ParseBounce(bounce::ParseBounceArgs),
    /// Measure throughput; prints one JSON line.
    Bench {
        #[command(subcommand)]
        command: bench::BenchCommand,
    },
}

#[derive(Subcommand)]
enum WorkspaceCommand {
    /// List workspaces with their sending state.
    List {
        #[command(flatten)]
        location: Location,
    },
}

#[derive(Subcommand)]
enum OperatorCommand {
    /// Give an address a role on the delivery team; prints a one-time
    /// setup link (7 days) that sets their password and second factor.
    /// Run it again for someone who lost their phone: a new link, and
    /// their operator sessions end.
    AddUser {
        email: String,
        /// `operator` (everything) or `auditor` (reads only).
        #[arg(long, default_value = "operator")]
        role: String,
        #[command(flatten)]
        location: Location,
    },
    /// Take the delivery team's role away from an address; its operator
    /// sessions end at once.
    RemoveUser {
        email: String,
        #[command(flatten)]
        location: Location,
    },
    /// List the delivery team: address, role, whether the setup link was used.
    Users {
        #[command(flatten)]
        location: Location,
    },
}

#[derive(Subcommand)]
enum ConsentCommand {
    /// Check a workspace's whole consent chain; names the first broken link.
    /// Exits 0 when intact, 1 when broken.
    Verify {
        #[arg(long)]
        workspace: String,
        #[command(flatten)]
        location: Location,
    },
}

#[derive(Subcommand)]
enum GuidelinesCommand {
    /// Publish a new version from a Markdown file; every workspace must accept it again.
    Publish {
        file: PathBuf,
        /// Days during which workspaces that accepted an earlier version
        /// send as before and are reminded (0 to 90).
        #[arg(long, default_value_t = sendwell_server::api::operator::DEFAULT_GRACE_DAYS)]
        grace_days: u32,
        #[command(flatten)]
        location: Location,
    },
    /// Print the current version.
    Show {
        #[command(flatten)]
        location: Location,
    },
}

fn settings(location: Location) -> anyhow::Result<Settings> {
    load(location, &[])
}

/// Settings of a command that only reads: it must find an instance, never
/// make one (a typo in --data-dir would otherwise create an empty one and
/// answer from it).
fn existing(location: Location) -> anyhow::Result<Settings> {
    let s = settings(location)?;
    if !s.data_dir.is_dir() {
        anyhow::bail!(
            "there is no sendwell data directory at {}: give the one `sendwell serve` uses with --data-dir (or SENDWELL_DATA_DIR)",
            s.data_dir.display()
        );
    }
    if s.database_url.is_none() && !s.data_dir.join("sendwell.db").is_file() {
        anyhow::bail!(
            "{} holds no sendwell database: give the data directory `sendwell serve` uses, or --database-url",
            s.data_dir.display()
        );
    }
    Ok(s)
}

/// The settings with the flags given on the command line.
fn load(location: Location, flags: &[&[(&'static str, String)]]) -> anyhow::Result<Settings> {
    let mut overrides = Overrides::default();
    overrides.config = location.config;
    for (key, value) in location
        .settings
        .given
        .iter()
        .chain(flags.iter().flat_map(|f| f.iter()))
    {
        overrides.set(key, value.clone());
    }
    Ok(Settings::load(overrides, |k| std::env::var(k).ok())?)
}

fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("SENDWELL_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
}

/// What a shell reports for a process ended by SIGPIPE (128 + 13).
const CLOSED_PIPE: u8 = 141;

/// Whether an error comes from writing to a pipe whose reader has gone
/// (`sendwell workspace list | head -1`).
fn is_closed_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // `println!` panics when the reader of stdout has gone; that ends the
    // command as quietly as SIGPIPE ends other tools, instead of a panic
    // message.
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let text = info
            .payload()
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| info.payload().downcast_ref::<&str>().copied())
            .unwrap_or("");
        if text.starts_with("failed printing to stdout") && text.contains("Broken pipe") {
            std::process::exit(i32::from(CLOSED_PIPE));
        }
        default_hook(info);
    }));
    init_logging();
    sendwell_server::install_crypto_provider();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(code) => code,
        Err(e) if is_closed_pipe(&e) => ExitCode::from(CLOSED_PIPE),
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Serve {
            serve: flags,
            location,
            delivery,
        } => serve(load(location, &[&flags.given, &delivery.given])?).await,
        Command::Worker { location, delivery } => worker(load(location, &[&delivery.given])?).await,
        Command::Migrate { location } => {
            let app = App::prepare(settings(location)?).await?;
            println!("database is up to date: {}", app.database_description);
            Ok(ExitCode::SUCCESS)
        }
        Command::Workspace {
            command: WorkspaceCommand::List { location },
        } => list_workspaces(location).await,
        Command::Consent {
            command:
                ConsentCommand::Verify {
                    workspace,
                    location,
                },
        } => verify_consent(&workspace, location).await,
        Command::Guidelines {
            command:
                GuidelinesCommand::Publish {
                    file,
                    grace_days,
                    location,
                },
        } => publish_guidelines(&file, grace_days, location).await,
        Command::Guidelines {
            command: GuidelinesCommand::Show { location },
        } => {
            let app = App::prepare(existing(location)?).await?;
            let g = app.state.store.current_guidelines().await?;
            println!(
                "version {} (published {} by {})\n\n{}",
                g.version, g.published_at, g.published_by, g.text
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Operator { command } => operator_command(command).await,
        Command::Bench { command } => bench::run(command).await,
        Command::CheckAddress {
            addresses,
            offline,
            smtputf8,
        } => import::check_addresses(addresses, offline, smtputf8).await,
        Command::Import(args) => import::import(args).await,
        Command::Send(args) => send::send(args).await,
        Command::Outbox(args) => send::outbox(args).await,
        Command::Screen(args) => screen::screen(args),
        Command::ScreenTrain(args) => screen::train(args),
        Command::ParseBounce(args) => bounce::parse_bounce(args),
    }
}

/// `workspace list`: every workspace, a tab-separated line each.
async fn list_workspaces(location: Location) -> anyhow::Result<ExitCode> {
    let app = App::prepare(existing(location)?).await?;
    let mut cursor: Option<String> = None;
    loop {
        let page = app
            .state
            .store
            .list_workspaces(cursor.as_deref(), 500)
            .await?;
        for ws in &page {
            println!("{}\t{}\t{}", ws.id, ws.state, ws.name);
        }
        match page.last() {
            Some(last) if page.len() == 500 => cursor = Some(last.id.to_string()),
            _ => break,
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `consent verify`: the workspace's whole chain checked, as a JSON line;
/// exit 1 and the first broken link on standard error when it is broken.
async fn verify_consent(workspace: &str, location: Location) -> anyhow::Result<ExitCode> {
    let id = WorkspaceId::parse(workspace)?;
    let app = App::prepare(existing(location)?).await?;
    if app.state.store.workspace(&id).await?.is_none() {
        anyhow::bail!("there is no workspace {id} in {}", app.database_description);
    }
    let verification = app.state.store.verify_ledger(&id).await?;
    let view = sendwell_server::api::consent::verification_view(&verification);
    let line = serde_json::json!({
        "workspace": id.to_string(),
        "valid": view.valid,
        "events": view.events,
        "erased_events": view.erased_events,
        "first_broken": view.first_broken.as_ref().map(|b| serde_json::json!({
            "seq": b.seq, "event_id": b.event_id, "problem": b.problem,
        })),
    });
    println!("{line}");
    let Some(b) = &view.first_broken else {
        return Ok(ExitCode::SUCCESS);
    };
    let event = b
        .event_id
        .as_deref()
        .map(|e| format!(" ({e})"))
        .unwrap_or_default();
    eprintln!(
        "the consent ledger of {id} is broken at event {}{event}: {}",
        b.seq, b.problem
    );
    Ok(ExitCode::from(1))
}

/// `operator add-user | remove-user | users`.
async fn operator_command(command: OperatorCommand) -> anyhow::Result<ExitCode> {
    match command {
        OperatorCommand::AddUser {
            email,
            role,
            location,
        } => {
            let role = sendwell_core::OperatorRole::parse(&role)
                .with_context(|| format!("--role is operator or auditor; '{role}' was given"))?;
            let address = sendwell_core::EmailAddress::parse(email.trim())
                .map_err(|e| anyhow::anyhow!("'{email}' is not an email address: {e}"))?;
            let app = App::prepare(settings(location)?).await?;
            let (operator, link) = sendwell_server::accounts::add_operator(
                &app.state,
                &address,
                role,
                "operator (cli)",
            )
            .await?;
            if app.settings.public_url.is_none() {
                eprintln!(
                    "note: no public URL is configured, so the link below names {}; set SENDWELL_PUBLIC_URL (or public_url in the configuration file) to the address people reach this server at, and run add-user again",
                    app.state.public_url()
                );
            }
            println!(
                "{} is an {} now. Give them this one-time setup link (it works for {} days): they choose a password and set up their second factor with it, then sign in at {}/operator/login.\n  {link}",
                operator.account.email,
                operator.role.as_str(),
                sendwell_server::accounts::INVITE_DAYS,
                app.state.public_url()
            );
            Ok(ExitCode::SUCCESS)
        }
        OperatorCommand::RemoveUser { email, location } => {
            let address = sendwell_core::EmailAddress::parse(email.trim())
                .map_err(|e| anyhow::anyhow!("'{email}' is not an email address: {e}"))?;
            let app = App::prepare(existing(location)?).await?;
            if app.state.store.remove_operator(address.key()).await? {
                println!(
                    "{} is no longer on the delivery team; their operator sessions ended",
                    address.key()
                );
                Ok(ExitCode::SUCCESS)
            } else {
                eprintln!("{} is not on the delivery team", address.key());
                Ok(ExitCode::from(1))
            }
        }
        OperatorCommand::Users { location } => {
            let app = App::prepare(existing(location)?).await?;
            for o in app.state.store.operators().await? {
                let status = if o.account.totp_secret.is_some() {
                    "active"
                } else {
                    "setup link not used yet"
                };
                println!("{}\t{}\t{status}", o.account.email, o.role.as_str());
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// `guidelines publish`: a new version from a Markdown file.
async fn publish_guidelines(
    file: &std::path::Path,
    grace_days: u32,
    location: Location,
) -> anyhow::Result<ExitCode> {
    if grace_days > 90 {
        anyhow::bail!("--grace-days is 0 to 90; {grace_days} was given");
    }
    let text =
        std::fs::read_to_string(file).with_context(|| format!("cannot read {}", file.display()))?;
    if text.trim().len() < 20 {
        anyhow::bail!(
            "{} is empty or too short to be the guidelines",
            file.display()
        );
    }
    let app = App::prepare(settings(location)?).await?;
    let g = app
        .state
        .store
        .publish_guidelines(text.trim(), "operator (cli)", grace_days)
        .await?;
    println!(
        "published guidelines version {}; workspaces send as before for {grace_days} days and must accept it by then (transactional mail is never stopped by it)",
        g.version
    );
    Ok(ExitCode::SUCCESS)
}

async fn serve(settings: Settings) -> anyhow::Result<ExitCode> {
    let app = App::prepare(settings).await?;
    let listener = app.bind().await?;
    if app.settings.delivery.insecure_skip_domain_verification {
        tracing::warn!("--insecure-skip-domain-verification: mail may leave from sender domains nobody verified");
    }
    let addr = listener.local_addr()?;
    let url = format!("http://{addr}");
    println!(
        "sendwell {} is listening on {url}",
        env!("CARGO_PKG_VERSION")
    );
    for warning in app.settings.mail_link_warnings(addr) {
        eprintln!("warning: {warning}");
    }
    println!("  database: {}", app.database_description);
    let token_hint = match &app.operator_token_source {
        SecretSource::Given => {
            println!("  operator token: from SENDWELL_OPERATOR_TOKEN or the configuration file");
            "$SENDWELL_OPERATOR_TOKEN".to_owned()
        }
        SecretSource::File { path, created } => {
            println!(
                "  operator token: {} {}(mode 0600; keep it secret)",
                path.display(),
                if *created { "(generated now) " } else { "" }
            );
            format!("$(cat {})", path.display())
        }
    };
    println!();
    println!(
        "Next: create a workspace as the operator, naming its first admin; the answer holds an"
    );
    println!(
        "invite_url to open in a browser (and the workspace's first admin API key, for programs):"
    );
    println!(
        "  curl -s -X POST {url}/v1/workspaces -H \"Authorization: Bearer {token_hint}\" \
         -H 'Content-Type: application/json' -d '{{\"name\": \"Acme\", \"admin_email\": \"you@your-company.com\"}}'"
    );
    println!(
        "The invite leads to the console at {url}/, whose Home page lists what stands before the first send."
    );
    println!("The whole API is described at {url}/openapi.json");
    use std::io::Write;
    std::io::stdout().flush().ok();
    app.serve(listener, shutdown_signal()).await?;
    Ok(ExitCode::SUCCESS)
}

/// Delivery only, until SIGTERM or Ctrl-C.
async fn worker(settings: Settings) -> anyhow::Result<ExitCode> {
    let unbound = std::net::SocketAddr::from(([127, 0, 0, 1], 8080));
    for warning in settings.mail_link_warnings(unbound) {
        eprintln!("warning: {warning}");
    }
    let transport = settings.delivery.transport.kind.as_str();
    let app = App::prepare(settings).await?;
    println!(
        "sendwell {} worker: delivering through the {transport} transport from {}",
        env!("CARGO_PKG_VERSION"),
        app.database_description
    );
    use std::io::Write;
    std::io::stdout().flush().ok();
    app.work(shutdown_signal()).await;
    Ok(ExitCode::SUCCESS)
}

async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::warn!(error = %e, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
    tracing::info!("shutting down");
}
