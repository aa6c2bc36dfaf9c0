//! The hsmkms daemon: load settings, open the token and sidecar, serve until signalled.

use std::io::{IsTerminal, Write};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Parser, Subcommand};
use tokio::net::TcpListener;

// Every request allocates a few dozen small buffers on whichever worker thread runs it;
// mimalloc's per-thread free lists serve that pattern with less locking than the system
// allocator (measured with `make bench`, see docs/performance.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// AWS KMS-compatible key management daemon backed by a PKCS#11 token.
#[derive(Parser)]
#[command(version)]
struct Args {
    /// Settings file (TOML); HSMKMS__SECTION__KEY environment variables override it.
    #[arg(long, default_value = "config/dev.toml")]
    config: PathBuf,
    /// Listen address, overriding server.listen (port 0 picks a free port).
    #[arg(long)]
    listen: Option<SocketAddr>,
    /// Instead of serving, run a tool.
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Audit-log tools.
    Audit {
        #[command(subcommand)]
        tool: AuditTool,
    },
    /// Token set-up tools.
    Token {
        #[command(subcommand)]
        tool: TokenTool,
    },
}

#[derive(Subcommand)]
enum TokenTool {
    /// Makes the key-encryption key of wrapped custody (hsm.kek_label), logged in as the
    /// security officer so it can be marked trusted; does nothing when it exists.
    CreateKek {
        /// File holding the security officer's PIN (trailing newline ignored).
        #[arg(long)]
        so_pin_file: PathBuf,
    },
}

#[derive(Subcommand)]
enum AuditTool {
    /// Checks the hash chain and the token-signed checkpoints; exits 1 at the first
    /// edited, missing, inserted, reordered, truncated or unsigned record.
    Verify {
        /// A directory of audit files (checked from the first record), or one file.
        path: PathBuf,
    },
}

// Sidecar calls run on blocking threads (token calls on the token's own). Sidecar writes take one lock, so under a
// burst more threads only wait, and each thread keeps its own allocator heap: the pool is
// bounded well below tokio's default of 512 (measured with `make bench`, CreateKey at 256).
fn main() -> ExitCode {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .max_blocking_threads(64)
        .build();
    match runtime {
        Ok(runtime) => runtime.block_on(daemon()),
        Err(e) => {
            eprintln!("cannot start the async runtime: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn daemon() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
    let args = Args::parse();
    if let Some(Command::Audit {
        tool: AuditTool::Verify { path },
    }) = &args.command
    {
        return verify_audit(&args.config, path).await;
    }
    if let Some(Command::Token {
        tool: TokenTool::CreateKek { so_pin_file },
    }) = &args.command
    {
        return create_kek(&args.config, so_pin_file);
    }
    match run(args).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e}");
            ExitCode::FAILURE
        }
    }
}

/// Prints the verdict on stdout: `ok: ...` and exit 0, or `FAILED: ...` and exit 1.
async fn verify_audit(config: &std::path::Path, path: &std::path::Path) -> ExitCode {
    let checked = match hsmkms::config::Settings::load(config) {
        Ok(settings) => hsmkms::verify_audit(&settings, path).await,
        Err(e) => Err(e.into()),
    };
    match checked {
        Ok(Ok(report)) => {
            println!(
                "ok: {} records, {} checkpoints verified by the token, last sequence number {}",
                report.records, report.checkpoints, report.last_seq
            );
            ExitCode::SUCCESS
        }
        Ok(Err(problem)) => {
            println!("FAILED: {problem}");
            ExitCode::FAILURE
        }
        Err(e) => {
            tracing::error!("{e}");
            ExitCode::from(2)
        }
    }
}

/// Prints `created key-encryption key <id>` or `key-encryption key <id> exists`.
fn create_kek(config: &std::path::Path, so_pin_file: &std::path::Path) -> ExitCode {
    let made = hsmkms::config::Settings::load(config)
        .map_err(|e| e.to_string())
        .and_then(|settings| {
            let pin = hsmkms::config::read_secret_file(so_pin_file).map_err(|e| e.to_string())?;
            hsmkms::hsm::create_kek(&settings.hsm, pin).map_err(|e| e.to_string())
        });
    match made {
        Ok((id, true)) => println!("created key-encryption key {id}"),
        Ok((id, false)) => println!("key-encryption key {id} exists"),
        Err(e) => {
            tracing::error!("{e}");
            return ExitCode::FAILURE;
        }
    }
    ExitCode::SUCCESS
}

async fn run(args: Args) -> Result<(), Box<dyn std::error::Error>> {
    let settings = hsmkms::config::Settings::load(&args.config)?;
    let listen = args.listen.unwrap_or(settings.server.listen);
    let transport = hsmkms::api::Transport::new(&settings.server, listen)?;
    let ops_transport = (settings.server.ops_listen)
        .map(|address| hsmkms::api::ops_transport(&settings.server, address).map(|t| (address, t)))
        .transpose()?;
    let cloud_transport = (settings.cloud_kms.listen)
        .map(|address| hsmkms::api::Transport::new(&settings.server, address).map(|t| (address, t)))
        .transpose()?;
    let opened = hsmkms::open(&settings).await?;
    let listener = TcpListener::bind(listen).await?;
    let cloud_listener = match cloud_transport {
        Some((address, transport)) => Some((TcpListener::bind(address).await?, transport)),
        None => None,
    };
    let ops_listener = match ops_transport {
        Some((address, transport)) => Some((TcpListener::bind(address).await?, transport)),
        None => None,
    };
    let endpoint = format!("{}://{}", transport.scheme(), listener.local_addr()?);
    let cloud_endpoint = match &cloud_listener {
        Some((l, t)) => Some(format!("{}://{}", t.scheme(), l.local_addr()?)),
        None => None,
    };
    print_banner(&endpoint, cloud_endpoint.as_deref(), &settings);
    let service = Arc::new(hsmkms::api::Service::new(
        opened.kms.clone(),
        opened.audit.clone(),
        &settings,
    )?);
    let (stop, stopped) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        shutdown_signal().await;
        tracing::info!("shutting down");
        let _ = stop.send(true);
    });
    let until_stopped = |mut stopped: tokio::sync::watch::Receiver<bool>| async move {
        let _ = stopped.wait_for(|s| *s).await;
    };
    let ops = ops_listener.map(|(ops_listener, ops_transport)| {
        let (service, stopped) = (service.clone(), until_stopped(stopped.clone()));
        tokio::spawn(hsmkms::api::serve_ops(
            ops_listener,
            ops_transport,
            service,
            stopped,
        ))
    });
    let cloud = match cloud_listener {
        Some((cloud_listener, cloud_transport)) => {
            let cloud = hsmkms::api::cloud::CloudService::new(service.clone(), &settings)?;
            Some(tokio::spawn(hsmkms::api::cloud::serve(
                cloud_listener,
                cloud_transport,
                Arc::new(cloud),
                until_stopped(stopped.clone()),
            )))
        }
        None => None,
    };
    hsmkms::api::serve(listener, transport, service, until_stopped(stopped)).await;
    for server in [ops, cloud].into_iter().flatten() {
        server.await?;
    }
    close(opened, &settings).await
}

/// After the last answer: lets the scheduler finish its run, signs the audit log's tail, then closes
/// the token's sessions and finalizes its module.
async fn close(
    opened: hsmkms::Opened,
    settings: &hsmkms::config::Settings,
) -> Result<(), Box<dyn std::error::Error>> {
    opened.scheduler.stop().await;
    let audit = opened.audit.clone();
    tokio::task::spawn_blocking(move || audit.close()).await?;
    let grace = std::time::Duration::from_secs(settings.server.shutdown_grace_seconds);
    opened.kms.hsm().close(grace).await;
    tracing::info!("stopped");
    Ok(())
}

/// Tells the operator where to point AWS tools. The first line is read by scripts and
/// tests: keep its shape. A closed stdout must not stop the daemon, so errors are ignored.
fn print_banner(endpoint: &str, cloud: Option<&str>, settings: &hsmkms::config::Settings) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "hsmkms listening on {endpoint}");
    if let Some(cloud) = cloud {
        let _ = writeln!(out, "cloud kms listening on {cloud}");
    }
    let _ = writeln!(
        out,
        "try: aws kms create-key --endpoint-url {endpoint} --region {}",
        settings.aws.region
    );
    if let Some(credential) = settings.credentials.first() {
        let _ = writeln!(
            out,
            "     signing as {} ({})",
            credential.access_key_id, credential.principal
        );
    }
    let _ = out.flush();
}

/// Completes on SIGINT or SIGTERM.
async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(term) => term,
                Err(_) => return interrupt.await.unwrap_or(()),
            };
        tokio::select! {
            _ = interrupt => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    interrupt.await.unwrap_or(());
}
