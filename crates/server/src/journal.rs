//! The unsubscribe journal: an unsubscribe must never be lost. When its
//! database write does not finish at once (SQLite's single writer is busy,
//! PostgreSQL is away), the request is appended to a file in the data
//! directory, synced to disk, and the person is told it is done. A
//! background task applies the journal's entries until each one sticks;
//! entries left over from a crash are applied on the next start.
//!
//! The file holds one JSON object a line. The task renames the file before
//! working on it, so requests keep appending to a fresh one meanwhile, and
//! writes the entries that failed back.

use serde::{Deserialize, Serialize};
use std::io::Write as _;
use std::path::PathBuf;

/// One unsubscribe request, as it came in.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingUnsubscribe {
    pub token: String,
    /// The form body (`List-Unsubscribe=One-Click`, or the page's fields).
    pub body: String,
    pub ip: String,
    pub user_agent: Option<String>,
    /// When the request came in (milliseconds since the epoch).
    pub received_at: i64,
    /// It came by mail to the List-Unsubscribe mailto address.
    #[serde(default)]
    pub mailto: bool,
}

pub struct Journal {
    path: PathBuf,
    /// Serialises appends and the rename that starts a replay.
    lock: std::sync::Mutex<()>,
}

impl Journal {
    pub fn new(dir: PathBuf) -> Self {
        Self {
            path: dir.join("pending-unsubscribes.jsonl"),
            lock: std::sync::Mutex::new(()),
        }
    }

    fn replaying(&self) -> PathBuf {
        self.path.with_extension("replaying")
    }

    /// Appends `entry` and syncs the file: once this returns, the request
    /// survives a crash.
    pub fn append(&self, entry: &PendingUnsubscribe) -> std::io::Result<()> {
        let mut line = serde_json::to_vec(entry).map_err(std::io::Error::other)?;
        line.push(b'\n');
        let _guard = self
            .lock
            .lock()
            .map_err(|_| std::io::Error::other("journal lock"))?;
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)?;
        file.write_all(&line)?;
        file.sync_data()
    }

    /// Takes every waiting entry out of the journal (to be applied, and
    /// the failures given back with [`Journal::give_back`]).
    pub fn take(&self) -> std::io::Result<Vec<PendingUnsubscribe>> {
        let replaying = self.replaying();
        {
            let _guard = self
                .lock
                .lock()
                .map_err(|_| std::io::Error::other("journal lock"))?;
            // Entries of a replay that a crash interrupted come first.
            if !replaying.exists() {
                match std::fs::rename(&self.path, &replaying) {
                    Ok(()) => {}
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
                    Err(e) => return Err(e),
                }
            }
        }
        let text = std::fs::read_to_string(&replaying)?;
        Ok(text
            .lines()
            .filter_map(|l| match serde_json::from_str(l) {
                Ok(e) => Some(e),
                Err(e) => {
                    // A torn last line from a crash mid-append: nothing to apply.
                    tracing::warn!(error = %e, "unsubscribe journal: an unreadable line was skipped");
                    None
                }
            })
            .collect())
    }

    /// Ends a replay: the entries that did not stick go back in.
    pub fn give_back(&self, failed: &[PendingUnsubscribe]) -> std::io::Result<()> {
        for entry in failed {
            self.append(entry)?;
        }
        match std::fs::remove_file(self.replaying()) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Whether anything waits.
    pub fn is_empty(&self) -> bool {
        !self.path.exists() && !self.replaying().exists()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(token: &str) -> PendingUnsubscribe {
        PendingUnsubscribe {
            token: token.to_owned(),
            body: "List-Unsubscribe=One-Click".to_owned(),
            ip: "203.0.113.9".to_owned(),
            user_agent: None,
            received_at: 1,
            mailto: false,
        }
    }

    #[test]
    fn entries_survive_until_applied_and_failures_come_back() {
        let dir = tempfile::tempdir().expect("dir");
        let j = Journal::new(dir.path().to_owned());
        assert!(j.is_empty());
        j.append(&entry("a")).expect("append");
        j.append(&entry("b")).expect("append");
        assert!(!j.is_empty());
        let taken = j.take().expect("take");
        assert_eq!(taken, vec![entry("a"), entry("b")]);
        // Appends during a replay go to a fresh file.
        j.append(&entry("c")).expect("append");
        j.give_back(&[entry("b")]).expect("give back");
        let again = j.take().expect("take");
        assert_eq!(again, vec![entry("c"), entry("b")]);
        j.give_back(&[]).expect("done");
        assert!(j.is_empty());
        // A replay interrupted by a crash is picked up again.
        j.append(&entry("d")).expect("append");
        let _ = j.take().expect("take");
        let fresh = Journal::new(dir.path().to_owned());
        assert_eq!(fresh.take().expect("take"), vec![entry("d")]);
    }
}
