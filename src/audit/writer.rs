//! The writer thread: group commit, the hash chain, rotation and checkpoints.

use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use tokio::sync::oneshot;

use super::{
    checkpoint_message, file_name, files_in, genesis, hex, line_hash, now_ms, AuditError, Event,
    Options, Signer, WriteStats, CHECKPOINT_SIGNER,
};
use crate::metrics;

/// Records taken into one write at most; more wait for the next.
const MAX_BATCH: usize = 4096;
/// While writes fail, how often a checkpoint is tried, so the log finds out by itself
/// that it can write again (and readiness returns) even when no request comes.
const RETRY_EVERY: std::time::Duration = std::time::Duration::from_secs(1);

/// Work for the writer.
pub(super) enum Job {
    /// Append this event; answer when it is durable.
    Record(Box<Event>, oneshot::Sender<Result<(), AuditError>>),
}

/// A line as written: the chain fields, then the event.
#[derive(Serialize, Deserialize)]
pub(super) struct Line<E> {
    pub seq: u64,
    pub prev: String,
    #[serde(flatten)]
    pub event: E,
}

/// The chain fields of any line, the rest left unread.
#[derive(Deserialize)]
pub(super) struct Chained {
    pub seq: u64,
    pub prev: String,
    #[serde(rename = "type")]
    pub kind: String,
}

/// Where the chain stands.
#[derive(Clone)]
struct Head {
    /// The next sequence number.
    seq: u64,
    /// The hash of the last line written.
    hash: String,
    /// Records written since the last checkpoint.
    unsigned: u64,
}

pub(super) struct Writer {
    options: Options,
    signer: Signer,
    healthy: Arc<AtomicBool>,
    in_flight: Arc<AtomicUsize>,
    head: Head,
    /// The file being appended to, and how long we know it to be.
    path: PathBuf,
    len: u64,
    /// The UTC day the file was opened on: files also rotate at midnight.
    day: u64,
    last_checkpoint: Instant,
    stats: WriteStats,
}

impl Writer {
    /// Continues the chain in `options.dir`: the last complete line gives the head; a
    /// partial last line (a write cut by a crash, never acknowledged) is cut off.
    pub(super) fn open(
        options: Options,
        signer: Signer,
        healthy: Arc<AtomicBool>,
        in_flight: Arc<AtomicUsize>,
        stats: WriteStats,
    ) -> Result<Writer, AuditError> {
        let io = |e: std::io::Error| AuditError(format!("{}: {e}", options.dir.display()));
        std::fs::create_dir_all(&options.dir).map_err(io)?;
        let files = files_in(&options.dir).map_err(io)?;
        let mut head = Head {
            seq: 1,
            hash: genesis(),
            unsigned: 0,
        };
        let mut current = None;
        for path in files.iter().rev() {
            if let Some((found, len)) = last_line(path)? {
                head = found;
                current = Some((path.clone(), len));
                break;
            }
        }
        let (path, len) = current.unwrap_or_else(|| (options.dir.join(file_name(head.seq)), 0));
        let mut writer = Writer {
            options,
            signer,
            healthy,
            in_flight,
            head,
            path,
            len,
            day: today(),
            last_checkpoint: Instant::now(),
            stats,
        };
        let start = Event::Start {
            time_ms: now_ms(),
            version: env!("CARGO_PKG_VERSION").into(),
        };
        writer.append(&[start])?;
        writer.checkpoint()?;
        Ok(writer)
    }

    /// Serves jobs until every handle is dropped, then signs the tail.
    pub(super) fn run(mut self, jobs: Receiver<Job>) {
        loop {
            let wait = match self.healthy.load(Ordering::SeqCst) {
                true => self.options.checkpoint_every,
                false => RETRY_EVERY,
            };
            let wait = wait.saturating_sub(self.last_checkpoint.elapsed());
            match jobs.recv_timeout(wait) {
                Ok(first) => {
                    let batch = self.gather(first, &jobs);
                    self.commit(batch);
                }
                Err(RecvTimeoutError::Timeout) => self.timed_checkpoint(),
                Err(RecvTimeoutError::Disconnected) => break,
            }
        }
        if self.head.unsigned > 0 {
            if let Err(e) = self.checkpoint() {
                tracing::error!(error = %e, "cannot write the final audit checkpoint");
            }
        }
        tracing::info!(last_seq = self.head.seq - 1, "audit log closed");
    }

    /// The records for one write: those queued behind `first`, and those of requests still
    /// being served, until they have all come or the commit delay has passed. Concurrent
    /// requests so share one fsync; a lone request is written at once.
    fn gather(&self, first: Job, jobs: &Receiver<Job>) -> Vec<Job> {
        let until = Instant::now() + self.options.commit_delay;
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            if let Ok(job) = jobs.try_recv() {
                batch.push(job);
                continue;
            }
            let left = until.saturating_duration_since(Instant::now());
            if self.in_flight.load(Ordering::SeqCst) == 0 || left.is_zero() {
                break;
            }
            match jobs.recv_timeout(left) {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        batch
    }

    fn timed_checkpoint(&mut self) {
        if self.head.unsigned == 0 && self.healthy.load(Ordering::SeqCst) {
            self.last_checkpoint = Instant::now();
            return;
        }
        if let Err(e) = self.checkpoint() {
            tracing::error!(error = %e, "cannot write an audit checkpoint; will retry");
            self.last_checkpoint = Instant::now();
        }
    }

    /// One write and one fsync for the whole batch; every waiter hears the outcome.
    fn commit(&mut self, batch: Vec<Job>) {
        let (events, waiters): (Vec<Event>, Vec<_>) = batch
            .into_iter()
            .map(|Job::Record(event, done)| (*event, done))
            .unzip();
        let started = Instant::now();
        let result = self.rotate_if_due().and_then(|()| self.append(&events));
        metrics::observe(&self.stats.write_seconds, started.elapsed());
        self.stats.batch_records.observe(events.len() as f64);
        for done in waiters {
            let _ = done.send(result.clone());
        }
    }

    fn rotate_if_due(&mut self) -> Result<(), AuditError> {
        if self.len < self.options.rotate_bytes && self.day == today() {
            return Ok(());
        }
        self.checkpoint()?;
        self.path = self.options.dir.join(file_name(self.head.seq));
        self.len = 0;
        self.day = today();
        tracing::info!(file = %self.path.display(), "audit log rotated");
        Ok(())
    }

    /// Signs the chain head with the token key and appends the checkpoint.
    fn checkpoint(&mut self) -> Result<(), AuditError> {
        let message = checkpoint_message(self.head.seq, &self.head.hash);
        let mac = (self.signer)(message).map_err(AuditError)?;
        let checkpoint = Event::Checkpoint {
            time_ms: now_ms(),
            head: self.head.hash.clone(),
            signer: CHECKPOINT_SIGNER.into(),
            mac: hex(&mac),
        };
        self.append(&[checkpoint])?;
        self.head.unsigned = 0;
        self.last_checkpoint = Instant::now();
        Ok(())
    }

    /// Appends `events` durably, or leaves the file and the head as they were.
    fn append(&mut self, events: &[Event]) -> Result<(), AuditError> {
        let mut head = self.head.clone();
        let mut bytes = Vec::new();
        for event in events {
            let line = Line {
                seq: head.seq,
                prev: head.hash.clone(),
                event,
            };
            let start = bytes.len();
            serde_json::to_writer(&mut bytes, &line).map_err(|e| AuditError(e.to_string()))?;
            head.hash = line_hash(&bytes[start..]);
            bytes.push(b'\n');
            head.seq += 1;
            head.unsigned += 1;
        }
        match self.write(&bytes) {
            Ok(()) => {
                self.head = head;
                self.len += bytes.len() as u64;
                self.healthy.store(true, Ordering::SeqCst);
                Ok(())
            }
            Err(e) => {
                self.healthy.store(false, Ordering::SeqCst);
                tracing::error!(file = %self.path.display(), error = %e, "audit records cannot be written; requests fail until they can");
                Err(AuditError(format!("{}: {e}", self.path.display())))
            }
        }
    }

    /// Opens the file by name for each write, so a file replaced or removed under the
    /// daemon is noticed (its length is not the one we wrote) instead of written past.
    fn write(&self, bytes: &[u8]) -> std::io::Result<()> {
        let mut file = OpenOptions::new()
            .append(true)
            .create(self.len == 0)
            .open(&self.path)?;
        let found = file.metadata()?.len();
        if found != self.len {
            return Err(std::io::Error::other(format!(
                "the file is {found} bytes, the log wrote {}: changed under the daemon",
                self.len
            )));
        }
        let written = file.write_all(bytes).and_then(|()| file.sync_data());
        if written.is_err() {
            let _ = file.set_len(self.len);
        }
        written?;
        if self.len == 0 {
            sync_dir(&self.options.dir)?;
        }
        Ok(())
    }
}

/// The head after the last complete line of `path` and the file's length without any
/// partial tail (which is cut off); `None` for a file with no complete line.
fn last_line(path: &PathBuf) -> Result<Option<(Head, u64)>, AuditError> {
    let io = |e: std::io::Error| AuditError(format!("{}: {e}", path.display()));
    let file = File::open(path).map_err(io)?;
    let mut reader = BufReader::new(file);
    let (mut last, mut complete_len, mut unsigned) = (None::<Vec<u8>>, 0u64, 0u64);
    let mut line = Vec::new();
    loop {
        line.clear();
        let n = reader.read_until(b'\n', &mut line).map_err(io)?;
        if n == 0 || line.last() != Some(&b'\n') {
            break;
        }
        complete_len += n as u64;
        line.pop();
        let is_checkpoint =
            serde_json::from_slice::<Chained>(&line).is_ok_and(|l| l.kind == "checkpoint");
        unsigned = if is_checkpoint { 0 } else { unsigned + 1 };
        last = Some(line.clone());
    }
    let on_disk = std::fs::metadata(path).map_err(io)?.len();
    if on_disk > complete_len {
        tracing::warn!(file = %path.display(), bytes = on_disk - complete_len, "cutting off a partial audit record (a write cut short, never acknowledged)");
        OpenOptions::new()
            .write(true)
            .open(path)
            .and_then(|f| f.set_len(complete_len).and_then(|()| f.sync_all()))
            .map_err(io)?;
    }
    let Some(last) = last else {
        return Ok(None);
    };
    let parsed: Chained = serde_json::from_slice(&last)
        .map_err(|e| AuditError(format!("{}: last record unreadable: {e}", path.display())))?;
    let head = Head {
        seq: parsed.seq + 1,
        hash: line_hash(&last),
        unsigned,
    };
    Ok(Some((head, complete_len)))
}

fn sync_dir(dir: &std::path::Path) -> std::io::Result<()> {
    File::open(dir)?.sync_all()
}

fn today() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() / 86_400)
        .unwrap_or(0)
}
