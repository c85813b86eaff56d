//! The data directory: CSV files go to `<data-dir>/csv`, sink-db's SQLite database to
//! `<data-dir>/db`.
//!
//! Both sinks keep the next offset of every partition beside their output (sink-csv in
//! per-partition checkpoints, sink-db in its `kafka_offsets` table). Those offsets mean
//! something only on the cluster they came from. The embedded mock cluster starts empty
//! every run, so its offsets restart at 0, and offsets of an earlier run would make a sink
//! skip the new records as already written; the same goes for output written against
//! another Kafka cluster. So an output directory is reused only for the cluster recorded
//! in its `.ferroflow-cluster-id` marker; otherwise it is moved aside to
//! `<name>-<UTC time>` (never deleted) before the services start.

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use anyhow::Context as _;

/// Name of the marker file recording which cluster the CSV files belong to.
pub const MARKER: &str = ".ferroflow-cluster-id";

/// Which cluster the services are about to write from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source<'a> {
    /// A cluster that starts empty (the embedded one): earlier files never match.
    Fresh,
    /// A lasting cluster with this id.
    Cluster(&'a str),
    /// A lasting cluster that did not give its id: earlier files are left as they are.
    Unknown,
}

/// Creates `<data_dir>/csv` for sink-csv; see [`prepare_output_dir`].
pub fn prepare_csv_dir(data_dir: &Path, source: Source<'_>) -> anyhow::Result<PathBuf> {
    prepare_output_dir(data_dir, "csv", source)
}

/// Creates `<data_dir>/db` for sink-db's SQLite database; see [`prepare_output_dir`].
pub fn prepare_db_dir(data_dir: &Path, source: Source<'_>) -> anyhow::Result<PathBuf> {
    prepare_output_dir(data_dir, "db", source)
}

/// Creates `<data_dir>/<name>` and returns it as an absolute path (the banner shows it and
/// the sink gets it, whatever its working directory), first moving aside output whose
/// offsets do not belong to `source`.
pub fn prepare_output_dir(
    data_dir: &Path,
    name: &str,
    source: Source<'_>,
) -> anyhow::Result<PathBuf> {
    let dir = data_dir.join(name);
    if !is_empty_or_missing(&dir)? {
        let recorded = std::fs::read_to_string(dir.join(MARKER)).ok();
        let reason = match source {
            Source::Fresh => Some("the embedded cluster starts empty".to_string()),
            Source::Cluster(id) if recorded.as_deref().map(str::trim) != Some(id) => Some(format!(
                "they were not written from cluster {id} (marker: {})",
                recorded.as_deref().map_or("none", str::trim)
            )),
            Source::Cluster(_) | Source::Unknown => None,
        };
        if let Some(reason) = reason {
            let aside = data_dir.join(format!("{name}-{}", stamp(SystemTime::now())));
            std::fs::rename(&dir, &aside).with_context(|| {
                format!(
                    "cannot move the earlier run's {} aside to {}",
                    dir.display(),
                    aside.display()
                )
            })?;
            tracing::warn!(
                "moved earlier output to {}: {reason}, so its stored offsets would not \
                 match this run's",
                aside.display()
            );
        }
    }
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let marker = match source {
        Source::Fresh => Some("embedded (in memory, new every run)"),
        Source::Cluster(id) => Some(id),
        Source::Unknown => None,
    };
    if let Some(marker) = marker {
        std::fs::write(dir.join(MARKER), format!("{marker}\n"))
            .with_context(|| format!("cannot write {}", dir.join(MARKER).display()))?;
    }
    dir.canonicalize()
        .with_context(|| format!("cannot resolve {}", dir.display()))
}

fn is_empty_or_missing(dir: &Path) -> anyhow::Result<bool> {
    match std::fs::read_dir(dir) {
        Ok(mut entries) => Ok(entries.next().is_none()),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(true),
        Err(error) => Err(error).with_context(|| format!("cannot read {}", dir.display())),
    }
}

/// `20261123T153722Z`: sortable, and free of the colons some tools mind in paths.
fn stamp(time: SystemTime) -> String {
    humantime::format_rfc3339_seconds(time)
        .to_string()
        .replace(['-', ':'], "")
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, UNIX_EPOCH};

    use super::*;

    /// A data dir holding `csv/stock-ticks/a.csv` and, if given, a marker.
    fn earlier_run(marker: Option<&str>) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        let old = dir.path().join("csv/stock-ticks");
        std::fs::create_dir_all(&old).unwrap();
        std::fs::write(old.join("a.csv"), "x\n").unwrap();
        if let Some(marker) = marker {
            std::fs::write(dir.path().join("csv").join(MARKER), marker).unwrap();
        }
        dir
    }

    fn moved_aside(dir: &Path) -> Vec<String> {
        std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .filter(|n| n.starts_with("csv-"))
            .collect()
    }

    fn kept(dir: &Path) -> bool {
        dir.join("csv/stock-ticks/a.csv").is_file()
    }

    #[test]
    fn csv_directory_is_created_under_the_data_directory_and_made_absolute() {
        let dir = tempfile::tempdir().unwrap();
        let csv = prepare_csv_dir(&dir.path().join("nested/data"), Source::Fresh).unwrap();
        assert!(csv.is_absolute());
        assert!(csv.is_dir());
        assert!(csv.ends_with("nested/data/csv"));
    }

    #[test]
    fn earlier_files_are_moved_aside_intact_for_a_fresh_cluster() {
        let dir = earlier_run(Some("embedded"));
        prepare_csv_dir(dir.path(), Source::Fresh).unwrap();
        assert!(!kept(dir.path()));
        let moved = moved_aside(dir.path());
        assert_eq!(moved.len(), 1, "{moved:?}");
        let file = dir.path().join(&moved[0]).join("stock-ticks/a.csv");
        assert_eq!(std::fs::read_to_string(file).unwrap(), "x\n");
    }

    #[test]
    fn files_from_the_same_lasting_cluster_are_kept() {
        let dir = earlier_run(Some("cluster-A\n"));
        prepare_csv_dir(dir.path(), Source::Cluster("cluster-A")).unwrap();
        assert!(kept(dir.path()));
        assert!(moved_aside(dir.path()).is_empty());
    }

    #[test]
    fn files_from_another_or_an_unrecorded_cluster_are_moved_aside() {
        for marker in [Some("embedded"), Some("cluster-B"), None] {
            let dir = earlier_run(marker);
            prepare_csv_dir(dir.path(), Source::Cluster("cluster-A")).unwrap();
            assert!(!kept(dir.path()), "{marker:?}");
            assert_eq!(moved_aside(dir.path()).len(), 1, "{marker:?}");
            let now = std::fs::read_to_string(dir.path().join("csv").join(MARKER)).unwrap();
            assert_eq!(now, "cluster-A\n");
        }
    }

    #[test]
    fn files_are_left_alone_when_the_cluster_id_is_unknown() {
        let dir = earlier_run(None);
        prepare_csv_dir(dir.path(), Source::Unknown).unwrap();
        assert!(kept(dir.path()));
        assert!(!dir.path().join("csv").join(MARKER).exists());
    }

    #[test]
    fn the_database_directory_follows_the_same_rule() {
        let dir = tempfile::tempdir().unwrap();
        let old = dir.path().join("db");
        std::fs::create_dir_all(&old).unwrap();
        std::fs::write(old.join("sink-db.sqlite"), "x").unwrap();
        let db = prepare_db_dir(dir.path(), Source::Fresh).unwrap();
        assert!(db.ends_with("db") && db.is_dir());
        assert!(!db.join("sink-db.sqlite").exists());
        let aside: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .filter(|n| n.starts_with("db-"))
            .collect();
        assert_eq!(aside.len(), 1, "{aside:?}");
    }

    #[test]
    fn an_empty_csv_directory_is_reused() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("csv")).unwrap();
        prepare_csv_dir(dir.path(), Source::Fresh).unwrap();
        assert!(moved_aside(dir.path()).is_empty());
    }

    #[test]
    fn stamp_is_compact_utc() {
        let t = UNIX_EPOCH + Duration::from_secs(1_795_448_242);
        assert_eq!(stamp(t), "20261123T153722Z");
    }
}
