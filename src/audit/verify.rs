//! `hsmkms audit verify`: walks the chain across files and reports the first record that
//! is edited, missing, inserted, reordered, truncated, badly signed or not yet signed.

use std::fmt;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;

use super::writer::{Chained, Line};
use super::{checkpoint_message, genesis, line_hash, Event};

/// What the chain looks like when it is sound.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    /// Records read, checkpoints included.
    pub records: u64,
    /// Checkpoints whose MAC verified.
    pub checkpoints: u64,
    /// The last sequence number.
    pub last_seq: u64,
}

/// The first thing wrong, with the sequence number it concerns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Problem {
    /// A file could not be read.
    Unreadable(String),
    /// A line that is not a record (edited into invalid JSON, or cut short).
    Malformed { after_seq: u64, file: String },
    /// The sequence number jumps: records were deleted.
    Missing { seq: u64, found: u64 },
    /// A sequence number comes again or goes back: records were inserted or reordered.
    OutOfOrder { seq: u64, expected: u64 },
    /// The record does not chain to the one before: that one was edited, or this one.
    Broken { seq: u64 },
    /// A checkpoint whose MAC the token does not confirm.
    BadCheckpoint { seq: u64 },
    /// Records after the last checkpoint: nothing vouches for them yet.
    UnsignedTail { from: u64, to: u64 },
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Problem::Unreadable(e) => write!(f, "cannot read the log: {e}"),
            Problem::Malformed { after_seq, file } => write!(
                f,
                "record after {after_seq} in {file} is not a complete record (edited or truncated)"
            ),
            Problem::Missing { seq, found } => {
                write!(f, "record {seq} is missing (the next one found is {found})")
            }
            Problem::OutOfOrder { seq, expected } => write!(
                f,
                "record {seq} is out of order or repeated (expected {expected}): inserted or reordered"
            ),
            Problem::Broken { seq } => write!(
                f,
                "record {seq} does not chain to record {}: one of them was edited",
                seq.saturating_sub(1)
            ),
            Problem::BadCheckpoint { seq } => {
                write!(f, "checkpoint {seq} is not signed by the token's audit key")
            }
            Problem::UnsignedTail { from, to } => write!(
                f,
                "records {from} to {to} are not covered by a checkpoint (unsigned tail)"
            ),
        }
    }
}

/// Checks the chain in `files` (in chain order), from the very first record when
/// `from_genesis`, else from whatever record the first file starts with (a single file
/// of a longer chain). `mac_ok` asks the token whether a MAC is its audit key's MAC over a
/// message.
pub fn verify(
    files: &[PathBuf],
    from_genesis: bool,
    mut mac_ok: impl FnMut(&[u8], &[u8]) -> Result<bool, String>,
) -> Result<Report, Problem> {
    let (mut expected, mut head) = match from_genesis {
        true => (1u64, genesis()),
        false => first_record(files)?,
    };
    let (mut records, mut checkpoints, mut unsigned_from) = (0u64, 0u64, None::<u64>);
    for path in files {
        let file = std::fs::File::open(path)
            .map_err(|e| Problem::Unreadable(format!("{}: {e}", path.display())))?;
        let malformed = |after: u64| Problem::Malformed {
            after_seq: after,
            file: path.display().to_string(),
        };
        for line in BufReader::new(file).split(b'\n') {
            let line = line.map_err(|e| Problem::Unreadable(e.to_string()))?;
            let chained: Chained =
                serde_json::from_slice(&line).map_err(|_| malformed(expected - 1))?;
            check_order(chained.seq, expected)?;
            if chained.prev != head {
                return Err(Problem::Broken { seq: chained.seq });
            }
            if chained.kind == "checkpoint" {
                check_checkpoint(&line, (chained.seq, &head), &mut mac_ok)?;
                checkpoints += 1;
                unsigned_from = None;
            } else {
                unsigned_from.get_or_insert(chained.seq);
            }
            head = line_hash(&line);
            expected = chained.seq + 1;
            records += 1;
        }
        if !ends_with_newline(path)? {
            return Err(malformed(expected - 1));
        }
    }
    if let Some(from) = unsigned_from {
        return Err(Problem::UnsignedTail {
            from,
            to: expected - 1,
        });
    }
    Ok(Report {
        records,
        checkpoints,
        last_seq: expected - 1,
    })
}

/// The sequence number and `prev` of the first record in `files`.
fn first_record(files: &[PathBuf]) -> Result<(u64, String), Problem> {
    let Some(path) = files.first() else {
        return Ok((1, genesis()));
    };
    let file = std::fs::File::open(path)
        .map_err(|e| Problem::Unreadable(format!("{}: {e}", path.display())))?;
    let mut line = Vec::new();
    BufReader::new(file)
        .read_until(b'\n', &mut line)
        .map_err(|e| Problem::Unreadable(e.to_string()))?;
    match serde_json::from_slice::<Chained>(line.trim_ascii_end()) {
        Ok(first) => Ok((first.seq, first.prev)),
        Err(_) => Err(Problem::Malformed {
            after_seq: 0,
            file: path.display().to_string(),
        }),
    }
}

fn check_order(seq: u64, expected: u64) -> Result<(), Problem> {
    match seq.cmp(&expected) {
        std::cmp::Ordering::Equal => Ok(()),
        std::cmp::Ordering::Greater => Err(Problem::Missing {
            seq: expected,
            found: seq,
        }),
        std::cmp::Ordering::Less => Err(Problem::OutOfOrder { seq, expected }),
    }
}

fn check_checkpoint(
    line: &[u8],
    (seq, head): (u64, &str),
    mac_ok: &mut impl FnMut(&[u8], &[u8]) -> Result<bool, String>,
) -> Result<(), Problem> {
    let bad = Problem::BadCheckpoint { seq };
    let Ok(parsed) = serde_json::from_slice::<Line<Event>>(line) else {
        return Err(bad);
    };
    let Event::Checkpoint {
        head: signed, mac, ..
    } = &parsed.event
    else {
        return Err(bad);
    };
    let Some(mac) = unhex(mac) else {
        return Err(bad);
    };
    if signed != head {
        return Err(bad);
    }
    match mac_ok(&checkpoint_message(seq, head), &mac) {
        Ok(true) => Ok(()),
        Ok(false) => Err(bad),
        Err(e) => Err(Problem::Unreadable(format!(
            "the token cannot check MACs: {e}"
        ))),
    }
}

fn ends_with_newline(path: &PathBuf) -> Result<bool, Problem> {
    let bytes = std::fs::read(path).map_err(|e| Problem::Unreadable(e.to_string()))?;
    Ok(bytes.last().is_none_or(|b| *b == b'\n'))
}

fn unhex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}
