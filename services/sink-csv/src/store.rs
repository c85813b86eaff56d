//! Per-partition CSV files and the checkpoint that makes them exactly-once.
//!
//! Each assigned partition writes its own file,
//! `<dir>/<topic>/<topic>-<partition>-<first offset>.csv`, and owns a checkpoint,
//! `<dir>/<topic>/.<topic>-<partition>.checkpoint.json`:
//! `{"file": …, "length": …, "next_offset": …}`. The checkpoint is the truth about what
//! is durable: rows of the named file up to `length` cover every record before
//! `next_offset`, and nothing else counts.
//!
//! A flush writes the batch's rows, fsyncs the file, then replaces the checkpoint
//! atomically (write a temporary file, fsync, rename, fsync the directory). On
//! (re)assignment the partition is recovered from its checkpoint: the file is truncated
//! to `length`, discarding rows written after the last checkpoint by a process that then
//! crashed, and records before `next_offset` are skipped when Kafka redelivers them. So a
//! SIGKILL at any instant neither loses a row (the checkpoint moves only after the fsync)
//! nor doubles one (rows past the checkpoint are cut, records before it skipped). Kafka's
//! committed offsets trail the checkpoint and serve lag monitoring and a fast restart.

use std::collections::HashMap;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use ferroflow_runtime::kafka::context::TopicPartition;
use serde::{Deserialize, Serialize};

use crate::rows::RecordKind;

/// What is durable for one partition.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkpoint {
    /// Current file name (in the topic's directory), none before the first row.
    pub file: Option<String>,
    /// Bytes of `file` that hold durable rows.
    pub length: u64,
    /// Offset of the first record not yet covered.
    pub next_offset: i64,
}

/// Errors of the file store; all of them stop the service (a restart recovers).
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A file operation failed.
    #[error("{action} {path}: {source}")]
    Io {
        /// What was being done.
        action: &'static str,
        /// On which file.
        path: PathBuf,
        /// The OS error.
        source: io::Error,
    },
    /// The checkpoint cannot be read.
    #[error(
        "checkpoint {path} is unreadable ({detail}); move it away only if its files are gone too"
    )]
    BadCheckpoint {
        /// Its path.
        path: PathBuf,
        /// Parse error.
        detail: String,
    },
    /// The checkpoint names a file that is shorter than the checkpoint says.
    #[error(
        "{path} is {actual} bytes but its checkpoint says {expected}: the file was changed outside sink-csv"
    )]
    Truncated {
        /// The data file.
        path: PathBuf,
        /// Bytes per checkpoint.
        expected: u64,
        /// Bytes on disk.
        actual: u64,
    },
}

fn io_err<'a>(action: &'static str, path: &'a Path) -> impl FnOnce(io::Error) -> StoreError + 'a {
    move |source| StoreError::Io {
        action,
        path: path.to_path_buf(),
        source,
    }
}

/// When files are rotated.
#[derive(Debug, Clone, Copy)]
pub struct Rotation {
    /// Maximum file size.
    pub max_bytes: u64,
    /// Maximum file age.
    pub max_age: Duration,
}

/// What a flush did.
#[derive(Debug, Default, Clone, Copy)]
pub struct Flushed {
    /// Rows made durable.
    pub rows: u64,
    /// Bytes written.
    pub bytes: u64,
}

struct OpenFile {
    name: String,
    handle: File,
    length: u64,
    opened: Instant,
}

/// One partition's file, pending rows and checkpoint.
pub struct PartitionSink {
    topic_dir: PathBuf,
    topic: String,
    partition: i32,
    kind: RecordKind,
    durable: Option<Checkpoint>,
    file: Option<OpenFile>,
    rows: csv::Writer<Vec<u8>>,
    pending_rows: u64,
    pending_first_offset: Option<i64>,
    pending_next_offset: Option<i64>,
}

impl PartitionSink {
    /// Recovers partition `tp` from its checkpoint in `dir` (or starts it fresh).
    pub fn open(dir: &Path, tp: &TopicPartition, kind: RecordKind) -> Result<Self, StoreError> {
        let topic_dir = dir.join(&tp.topic);
        fs::create_dir_all(&topic_dir).map_err(io_err("create directory", &topic_dir))?;
        let mut sink = PartitionSink {
            topic_dir,
            topic: tp.topic.clone(),
            partition: tp.partition,
            kind,
            durable: None,
            file: None,
            rows: new_row_writer(),
            pending_rows: 0,
            pending_first_offset: None,
            pending_next_offset: None,
        };
        let path = sink.checkpoint_path();
        match fs::read(&path) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(io_err("read", &path)(e)),
            Ok(bytes) => {
                let checkpoint: Checkpoint =
                    serde_json::from_slice(&bytes).map_err(|e| StoreError::BadCheckpoint {
                        path: path.clone(),
                        detail: e.to_string(),
                    })?;
                if let Some(name) = &checkpoint.file {
                    sink.file = Some(sink.reopen(name, checkpoint.length)?);
                }
                tracing::info!(
                    topic = %sink.topic, partition = sink.partition, next_offset = checkpoint.next_offset,
                    file = ?checkpoint.file, length = checkpoint.length, "partition recovered from checkpoint"
                );
                sink.durable = Some(checkpoint);
            }
        }
        Ok(sink)
    }

    /// Opens the checkpointed file and cuts it to its durable length.
    fn reopen(&self, name: &str, length: u64) -> Result<OpenFile, StoreError> {
        let path = self.topic_dir.join(name);
        let handle = match OpenOptions::new().write(true).open(&path) {
            Ok(handle) => handle,
            // The checkpoint is written before the file is created; a crash in between
            // leaves a checkpoint for a file with nothing but its header.
            Err(e)
                if e.kind() == io::ErrorKind::NotFound
                    && length == header_bytes(self.kind).len() as u64 =>
            {
                return self.create(name);
            }
            Err(e) => return Err(io_err("open", &path)(e)),
        };
        let actual = handle.metadata().map_err(io_err("stat", &path))?.len();
        if actual < length {
            return Err(StoreError::Truncated {
                path,
                expected: length,
                actual,
            });
        }
        if actual > length {
            tracing::warn!(path = %path.display(), cut = actual - length, "cutting rows written after the last checkpoint");
            handle.set_len(length).map_err(io_err("truncate", &path))?;
            handle.sync_all().map_err(io_err("fsync", &path))?;
        }
        Ok(OpenFile {
            name: name.to_string(),
            handle: append_at(handle, length, &path)?,
            length,
            opened: Instant::now(),
        })
    }

    fn create(&self, name: &str) -> Result<OpenFile, StoreError> {
        let path = self.topic_dir.join(name);
        let mut handle = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(&path)
            .map_err(io_err("create", &path))?;
        let header = header_bytes(self.kind);
        handle.write_all(&header).map_err(io_err("write", &path))?;
        handle.sync_all().map_err(io_err("fsync", &path))?;
        sync_dir(&self.topic_dir)?;
        Ok(OpenFile {
            name: name.to_string(),
            handle,
            length: header.len() as u64,
            opened: Instant::now(),
        })
    }

    /// Offset of the next record this partition needs; earlier ones are already covered.
    pub fn next_needed(&self) -> Option<i64> {
        self.pending_next_offset
            .or(self.durable.as_ref().map(|c| c.next_offset))
    }

    /// Whether the record at `offset` is already covered (durable or pending).
    pub fn covers(&self, offset: i64) -> bool {
        self.next_needed().is_some_and(|next| offset < next)
    }

    /// The row buffer for the record at `offset`; call [`PartitionSink::row_written`] after.
    pub fn rows(&mut self) -> &mut csv::Writer<Vec<u8>> {
        &mut self.rows
    }

    /// Marks the record at `offset` as handled, with a row (`true`) or as a dead letter.
    pub fn handled(&mut self, offset: i64, with_row: bool) {
        if with_row {
            self.pending_rows += 1;
        }
        self.pending_first_offset.get_or_insert(offset);
        self.pending_next_offset = Some(offset + 1);
    }

    /// Whether anything waits to be flushed.
    pub fn dirty(&self) -> bool {
        self.pending_next_offset.is_some()
    }

    /// Makes the pending rows durable and moves the checkpoint; returns what it wrote and
    /// the offset to commit.
    pub fn flush(&mut self, rotation: Rotation) -> Result<Option<(Flushed, i64)>, StoreError> {
        let Some(next_offset) = self.pending_next_offset else {
            return Ok(None);
        };
        let bytes = std::mem::replace(&mut self.rows, new_row_writer())
            .into_inner()
            .map_err(|e| io_err("buffer rows for", &self.topic_dir)(e.into_error()))?;
        if !bytes.is_empty() && self.file.is_none() {
            let first = self.pending_first_offset.unwrap_or(next_offset);
            let name = format!("{}-{:03}-{:020}.csv", self.topic, self.partition, first);
            // Checkpoint first, naming the new file at its header length: whatever the
            // instant of a crash, the checkpoint never names rows that are not there.
            let durable_next = self
                .durable
                .as_ref()
                .map(|c| c.next_offset)
                .unwrap_or(first);
            self.write_checkpoint(&Checkpoint {
                file: Some(name.clone()),
                length: header_bytes(self.kind).len() as u64,
                next_offset: durable_next,
            })?;
            self.file = Some(self.create(&name)?);
        }
        let mut flushed = Flushed::default();
        if let Some(file) = &mut self.file
            && !bytes.is_empty()
        {
            let path = self.topic_dir.join(&file.name);
            file.handle
                .write_all(&bytes)
                .map_err(io_err("write", &path))?;
            file.handle.sync_data().map_err(io_err("fsync", &path))?;
            file.length += bytes.len() as u64;
            flushed = Flushed {
                rows: self.pending_rows,
                bytes: bytes.len() as u64,
            };
        }
        let checkpoint = Checkpoint {
            file: self.file.as_ref().map(|f| f.name.clone()),
            length: self.file.as_ref().map(|f| f.length).unwrap_or(0),
            next_offset,
        };
        self.write_checkpoint(&checkpoint)?;
        self.durable = Some(checkpoint);
        self.pending_rows = 0;
        self.pending_first_offset = None;
        self.pending_next_offset = None;
        // Rotation happens between flushes: the finished file is complete and final, and
        // the next rows start a new one.
        let due =
            |f: &OpenFile| f.length >= rotation.max_bytes || f.opened.elapsed() >= rotation.max_age;
        if self.file.as_ref().is_some_and(due)
            && let Some(file) = self.file.take()
        {
            tracing::info!(file = %file.name, bytes = file.length, "file rotated");
        }
        Ok(Some((flushed, next_offset)))
    }

    fn checkpoint_path(&self) -> PathBuf {
        self.topic_dir.join(format!(
            ".{}-{:03}.checkpoint.json",
            self.topic, self.partition
        ))
    }

    fn write_checkpoint(&self, checkpoint: &Checkpoint) -> Result<(), StoreError> {
        let path = self.checkpoint_path();
        let tmp = path.with_extension("json.tmp");
        let bytes = serde_json::to_vec(checkpoint).unwrap_or_default();
        let mut file = File::create(&tmp).map_err(io_err("create", &tmp))?;
        file.write_all(&bytes).map_err(io_err("write", &tmp))?;
        file.sync_all().map_err(io_err("fsync", &tmp))?;
        fs::rename(&tmp, &path).map_err(io_err("rename", &path))?;
        sync_dir(&self.topic_dir)
    }
}

fn new_row_writer() -> csv::Writer<Vec<u8>> {
    csv::WriterBuilder::new()
        .has_headers(false)
        .from_writer(Vec::with_capacity(64 * 1024))
}

fn header_bytes(kind: RecordKind) -> Vec<u8> {
    let mut writer = csv::Writer::from_writer(Vec::new());
    let _ = writer.write_record(kind.header());
    writer.into_inner().unwrap_or_default()
}

fn append_at(mut handle: File, length: u64, path: &Path) -> Result<File, StoreError> {
    use std::io::Seek;
    handle
        .seek(io::SeekFrom::Start(length))
        .map_err(io_err("seek", path))?;
    Ok(handle)
}

/// Makes a rename or a new file in `dir` durable (on Linux a directory entry needs its own
/// fsync).
fn sync_dir(dir: &Path) -> Result<(), StoreError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io_err("fsync directory", dir))
}

/// All partitions this instance currently writes.
pub struct Store {
    dir: PathBuf,
    rotation: Rotation,
    kinds: HashMap<String, RecordKind>,
    partitions: HashMap<TopicPartition, PartitionSink>,
}

impl Store {
    /// A store under `dir` for topics of the given kinds.
    pub fn new(dir: PathBuf, rotation: Rotation, kinds: HashMap<String, RecordKind>) -> Self {
        Store {
            dir,
            rotation,
            kinds,
            partitions: HashMap::new(),
        }
    }

    /// The kind of records on `topic`.
    pub fn kind(&self, topic: &str) -> Option<RecordKind> {
        self.kinds.get(topic).copied()
    }

    /// The partition's sink, recovered from its checkpoint on first use after assignment.
    pub fn partition(
        &mut self,
        topic: &str,
        partition: i32,
    ) -> Result<&mut PartitionSink, StoreError> {
        let tp = TopicPartition {
            topic: topic.to_string(),
            partition,
        };
        if !self.partitions.contains_key(&tp) {
            let kind = self.kind(topic).unwrap_or(RecordKind::StockTick);
            let sink = PartitionSink::open(&self.dir, &tp, kind)?;
            self.partitions.insert(tp.clone(), sink);
        }
        Ok(self.partitions.get_mut(&tp).expect("inserted above"))
    }

    /// Flushes every partition with pending records; returns the totals and the offsets to
    /// commit.
    pub fn flush(&mut self) -> Result<(Flushed, Vec<(TopicPartition, i64)>), StoreError> {
        let mut total = Flushed::default();
        let mut commits = Vec::new();
        for (tp, sink) in &mut self.partitions {
            if let Some((flushed, next)) = sink.flush(self.rotation)? {
                total.rows += flushed.rows;
                total.bytes += flushed.bytes;
                commits.push((tp.clone(), next));
            }
        }
        Ok((total, commits))
    }

    /// Forgets revoked partitions. Their pending rows are dropped, not written: the next
    /// owner recovers from the checkpoint and processes those records again, so nothing
    /// is lost and, since they were never written here, nothing doubled.
    pub fn release(&mut self, partitions: &[TopicPartition]) -> u64 {
        let mut dropped = 0;
        for tp in partitions {
            if let Some(sink) = self.partitions.remove(tp) {
                dropped += sink.pending_rows;
            }
        }
        dropped
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ROT: Rotation = Rotation {
        max_bytes: 1 << 30,
        max_age: Duration::from_secs(3600),
    };

    fn tp() -> TopicPartition {
        TopicPartition {
            topic: "stock-ticks".into(),
            partition: 0,
        }
    }

    fn add(sink: &mut PartitionSink, offset: i64) {
        sink.rows()
            .write_record([
                "stock-ticks",
                "0",
                &offset.to_string(),
                "",
                "T",
                "1",
                "2",
                "",
                "",
            ])
            .unwrap();
        sink.handled(offset, true);
    }

    fn data_lines(dir: &Path) -> Vec<String> {
        let mut lines = Vec::new();
        let mut files: Vec<_> = fs::read_dir(dir.join("stock-ticks"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "csv"))
            .collect();
        files.sort();
        for f in files {
            lines.extend(
                fs::read_to_string(f)
                    .unwrap()
                    .lines()
                    .skip(1)
                    .map(String::from),
            );
        }
        lines
    }

    #[test]
    fn flushed_rows_survive_and_unflushed_rows_are_redone_after_a_crash() {
        let dir = tempfile::tempdir().unwrap();
        let mut sink = PartitionSink::open(dir.path(), &tp(), RecordKind::StockTick).unwrap();
        for o in 0..3 {
            add(&mut sink, o);
        }
        sink.flush(ROT).unwrap();
        add(&mut sink, 3);
        drop(sink); // crash: offset 3 never flushed

        let mut sink = PartitionSink::open(dir.path(), &tp(), RecordKind::StockTick).unwrap();
        assert!(sink.covers(2) && !sink.covers(3));
        add(&mut sink, 3);
        sink.flush(ROT).unwrap();
        assert_eq!(data_lines(dir.path()).len(), 4);
    }

    #[test]
    fn rows_written_after_the_checkpoint_are_cut_on_recovery() {
        let dir = tempfile::tempdir().unwrap();
        let mut sink = PartitionSink::open(dir.path(), &tp(), RecordKind::StockTick).unwrap();
        add(&mut sink, 0);
        sink.flush(ROT).unwrap();
        // A crash between the data fsync and the checkpoint rename leaves extra bytes,
        // possibly half a row.
        let name = sink.durable.as_ref().unwrap().file.clone().unwrap();
        let path = dir.path().join("stock-ticks").join(name);
        fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap()
            .write_all(b"stock-ticks,0,1,,T,1,2,,\nstock-ti")
            .unwrap();
        drop(sink);

        let mut sink = PartitionSink::open(dir.path(), &tp(), RecordKind::StockTick).unwrap();
        assert!(!sink.covers(1));
        add(&mut sink, 1);
        sink.flush(ROT).unwrap();
        let lines = data_lines(dir.path());
        assert_eq!(lines.len(), 2, "{lines:?}");
        assert!(lines[1].starts_with("stock-ticks,0,1,"));
    }

    #[test]
    fn checkpoint_naming_a_file_not_yet_created_recovers_to_an_empty_file() {
        let dir = tempfile::tempdir().unwrap();
        let sink = PartitionSink::open(dir.path(), &tp(), RecordKind::StockTick).unwrap();
        sink.write_checkpoint(&Checkpoint {
            file: Some("stock-ticks-000-00000000000000000005.csv".into()),
            length: header_bytes(RecordKind::StockTick).len() as u64,
            next_offset: 5,
        })
        .unwrap();
        let sink = PartitionSink::open(dir.path(), &tp(), RecordKind::StockTick).unwrap();
        assert!(sink.covers(4) && !sink.covers(5));
        assert_eq!(data_lines(dir.path()).len(), 0);
    }

    #[test]
    fn files_rotate_by_size_and_every_row_is_in_exactly_one_file() {
        let dir = tempfile::tempdir().unwrap();
        let small = Rotation {
            max_bytes: 200,
            max_age: Duration::from_secs(3600),
        };
        let mut sink = PartitionSink::open(dir.path(), &tp(), RecordKind::StockTick).unwrap();
        for o in 0..40 {
            add(&mut sink, o);
            if o % 4 == 3 {
                sink.flush(small).unwrap();
            }
        }
        sink.flush(small).unwrap();
        let files = fs::read_dir(dir.path().join("stock-ticks"))
            .unwrap()
            .filter(|e| {
                e.as_ref()
                    .unwrap()
                    .path()
                    .extension()
                    .is_some_and(|x| x == "csv")
            })
            .count();
        assert!(files > 3, "{files} files");
        let offsets: Vec<i64> = data_lines(dir.path())
            .iter()
            .map(|l| l.split(',').nth(2).unwrap().parse().unwrap())
            .collect();
        assert_eq!(offsets, (0..40).collect::<Vec<_>>());
    }

    #[test]
    fn dead_letter_only_batch_moves_the_checkpoint_without_a_file() {
        let dir = tempfile::tempdir().unwrap();
        let mut sink = PartitionSink::open(dir.path(), &tp(), RecordKind::StockTick).unwrap();
        sink.handled(0, false);
        sink.flush(ROT).unwrap();
        let sink = PartitionSink::open(dir.path(), &tp(), RecordKind::StockTick).unwrap();
        assert!(sink.covers(0));
        assert_eq!(sink.durable.as_ref().unwrap().file, None);
    }

    #[test]
    fn released_partition_drops_its_pending_rows() {
        let dir = tempfile::tempdir().unwrap();
        let mut kinds = HashMap::new();
        kinds.insert("stock-ticks".to_string(), RecordKind::StockTick);
        let mut store = Store::new(dir.path().into(), ROT, kinds);
        add(store.partition("stock-ticks", 0).unwrap(), 0);
        assert_eq!(store.release(&[tp()]), 1);
        let (flushed, commits) = store.flush().unwrap();
        assert_eq!((flushed.rows, commits.len()), (0, 0));
    }
}
