//! The audit log: one JSON line per request and per scheduled state change, hash-chained,
//! written in batches (one write and one fsync for every request waiting), and checkpointed
//! with a MAC computed by a key that never leaves the token.
//!
//! A request is answered only after its record is durable; when records cannot be written
//! the log reports unhealthy and requests fail closed.

mod record;
mod verify;
mod writer;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use prometheus_client::metrics::histogram::Histogram;
use tokio::sync::oneshot;

pub use record::{Event, Parameters, RequestRecord, ResponseIds, StateChange};
pub use verify::{verify, Problem, Report};

use crate::metrics;
use writer::{Job, Writer};

/// Files are `audit-<first sequence number>.jsonl`, so name order is chain order.
const FILE_PREFIX: &str = "audit-";
const FILE_SUFFIX: &str = ".jsonl";
/// The label of the token key that signs checkpoints.
pub const CHECKPOINT_SIGNER: &str = "hsmkms-system/audit-checkpoint-mac";

/// What the log needs from the token: a MAC over a checkpoint's head. Runs on the writer
/// thread, so it blocks.
pub type Signer = Box<dyn Fn(Vec<u8>) -> Result<Vec<u8>, String> + Send>;

/// Why a record could not be made durable.
#[derive(Debug, Clone, thiserror::Error)]
#[error("audit log: {0}")]
pub struct AuditError(pub String);

/// Where and how the log is written.
#[derive(Debug, Clone)]
pub struct Options {
    /// The directory holding the files.
    pub dir: PathBuf,
    /// A file past this size is closed with a checkpoint and the next one opened.
    pub rotate_bytes: u64,
    /// A checkpoint is written when this long has passed with records not yet covered.
    pub checkpoint_every: std::time::Duration,
    /// Under load, how long a write waits for more records to share its fsync.
    pub commit_delay: std::time::Duration,
}

/// The log's handle. Cheap to share; records go to one writer thread.
pub struct AuditLog {
    sender: Mutex<Option<std::sync::mpsc::Sender<Job>>>,
    healthy: Arc<AtomicBool>,
    /// Requests being served whose record is not sent yet: the writer waits for them (up
    /// to the commit delay) so that they share its fsync.
    in_flight: Arc<AtomicUsize>,
    thread: Mutex<Option<std::thread::JoinHandle<()>>>,
    /// How long each group commit took and how many records it held, for the metrics.
    stats: WriteStats,
}

/// What each group commit costs: its latency (write and fsync) and its size.
#[derive(Debug, Clone)]
pub struct WriteStats {
    /// Seconds per write, fsync included.
    pub write_seconds: Histogram,
    /// Records per write.
    pub batch_records: Histogram,
}

impl WriteStats {
    fn new() -> WriteStats {
        WriteStats {
            write_seconds: metrics::latency(),
            batch_records: metrics::sizes(),
        }
    }
}

impl AuditLog {
    /// Opens (or continues) the chain in `options.dir` and starts the writer. Blocking.
    pub fn open(options: Options, signer: Signer) -> Result<AuditLog, AuditError> {
        let healthy = Arc::new(AtomicBool::new(true));
        let in_flight = Arc::new(AtomicUsize::new(0));
        let stats = WriteStats::new();
        let writer = Writer::open(
            options,
            signer,
            healthy.clone(),
            in_flight.clone(),
            stats.clone(),
        )?;
        let (sender, receiver) = std::sync::mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("audit-writer".into())
            .spawn(move || writer.run(receiver))
            .map_err(|e| AuditError(e.to_string()))?;
        Ok(AuditLog {
            sender: Mutex::new(Some(sender)),
            healthy,
            in_flight,
            thread: Mutex::new(Some(thread)),
            stats,
        })
    }

    /// A log that writes nothing (development only; announced at start-up).
    pub fn disabled() -> AuditLog {
        AuditLog {
            sender: Mutex::new(None),
            healthy: Arc::new(AtomicBool::new(true)),
            in_flight: Arc::new(AtomicUsize::new(0)),
            thread: Mutex::new(None),
            stats: WriteStats::new(),
        }
    }

    /// Write latencies and batch sizes.
    pub fn stats(&self) -> &WriteStats {
        &self.stats
    }

    /// Whether the last write succeeded (readiness).
    pub fn is_healthy(&self) -> bool {
        self.healthy.load(Ordering::SeqCst)
    }

    /// Marks a request as being served until its record is sent (`record_request`).
    pub fn serving(&self) -> Serving {
        self.in_flight.fetch_add(1, Ordering::SeqCst);
        Serving(self.in_flight.clone())
    }

    /// Appends the record of the request `serving` marked; returns once it is durable.
    pub async fn record_request(&self, serving: Serving, event: Event) -> Result<(), AuditError> {
        drop(serving);
        self.record(event).await
    }

    /// Appends `event`; returns once it is durable on disk.
    pub async fn record(&self, event: Event) -> Result<(), AuditError> {
        let (done, wait) = oneshot::channel();
        let sent = {
            let sender = self.sender.lock().unwrap_or_else(PoisonError::into_inner);
            match sender.as_ref() {
                None => return Ok(()),
                Some(s) => s.send(Job::Record(Box::new(event), done)).is_ok(),
            }
        };
        if !sent {
            return Err(AuditError("the writer has stopped".into()));
        }
        wait.await
            .map_err(|_| AuditError("the writer has stopped".into()))?
    }

    /// Writes a final checkpoint and stops the writer (graceful shutdown). Blocking.
    pub fn close(&self) {
        let sender = self
            .sender
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        drop(sender);
        let thread = self
            .thread
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(thread) = thread {
            let _ = thread.join();
        }
    }
}

/// A request being served, counted until its record is sent or the request is dropped.
pub struct Serving(Arc<AtomicUsize>);

impl Drop for Serving {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// The log files in `dir`, in chain order.
pub fn files_in(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)?
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|path| {
            path.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with(FILE_PREFIX) && n.ends_with(FILE_SUFFIX))
        })
        .collect();
    files.sort();
    Ok(files)
}

fn file_name(first_seq: u64) -> String {
    format!("{FILE_PREFIX}{first_seq:020}{FILE_SUFFIX}")
}

/// What a checkpoint's MAC covers: its sequence number and the hash of the record before.
pub fn checkpoint_message(seq: u64, head: &str) -> Vec<u8> {
    format!("hsmkms-audit-checkpoint:{seq}:{head}").into_bytes()
}

/// Lower-case hex.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The hash that chains `line` (without its newline) to the next record.
pub fn line_hash(line: &[u8]) -> String {
    use sha2::Digest;
    hex(&sha2::Sha256::digest(line))
}

/// The time records carry: epoch milliseconds of the system clock (never the development
/// clock).
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// The `prev` of the first record ever written.
pub fn genesis() -> String {
    "0".repeat(64)
}
