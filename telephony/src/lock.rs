//! One gateway per data directory, and who holds a port.
//!
//! A running gateway holds an exclusive lock (`flock`) on `{dataDir}/gateway.lock`, which
//! names its process and listeners as JSON. A second gateway on the same directory is
//! refused with that holder named, instead of sharing the database and the outbox. The
//! lock goes with the process (a crash or `kill -9` frees it); the file stays, so a stale
//! file is never mistaken for a running gateway: only the lock counts.
//!
//! When a port is already taken, [`port_holder`] finds which gateway holds it (on Linux,
//! through the lock files that running processes have open) so the error can name its
//! data directory.
//!
//! ```
//! use telephony::lock::DataDirLock;
//! let dir = tempfile::tempdir().unwrap();
//! let lock = DataDirLock::acquire(dir.path()).unwrap();
//! let err = DataDirLock::acquire(dir.path()).unwrap_err();
//! assert!(err.to_string().starts_with("another telephony gateway (pid "), "{err}");
//! drop(lock);
//! DataDirLock::acquire(dir.path()).unwrap();
//! ```

use std::fs::File;
use std::io::{Seek, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// Name of the lock file in the data directory.
pub const LOCK_FILE: &str = "gateway.lock";

/// What the lock file says about the gateway holding it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LockInfo {
    /// Its process id.
    pub pid: u32,
    /// Its data directory.
    pub data_dir: PathBuf,
    /// Its public listener, once bound.
    #[serde(default)]
    pub public_addr: Option<String>,
    /// Its admin listener, once bound.
    #[serde(default)]
    pub admin_addr: Option<String>,
}

impl LockInfo {
    fn describe(&self) -> String {
        let mut s = format!(
            "pid {}, data directory {}",
            self.pid,
            self.data_dir.display()
        );
        if let Some(a) = &self.public_addr {
            s.push_str(&format!(", public listener {a}"));
        }
        if let Some(a) = &self.admin_addr {
            s.push_str(&format!(", admin listener {a}"));
        }
        s
    }
}

/// Why the data directory could not be locked.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LockError {
    /// Another gateway holds it.
    #[error(
        "another telephony gateway ({holder}) is running on the data directory {path}; stop it first, or give this one another dataDir"
    )]
    Held {
        /// The data directory.
        path: PathBuf,
        /// Who holds it, from its lock file.
        holder: String,
    },
    /// The lock file could not be opened, locked or written.
    #[error("could not lock {path}")]
    Io {
        /// The lock file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
}

/// The held lock on a data directory; released when dropped.
#[derive(Debug)]
pub struct DataDirLock {
    file: File,
    path: PathBuf,
    info: LockInfo,
}

impl DataDirLock {
    /// Locks `data_dir` (creating it) for this process, or says who holds it.
    pub fn acquire(data_dir: &Path) -> Result<Self, LockError> {
        let path = data_dir.join(LOCK_FILE);
        let io = |source| LockError::Io {
            path: path.clone(),
            source,
        };
        std::fs::create_dir_all(data_dir).map_err(io)?;
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(io)?;
        if !try_lock(&file).map_err(io)? {
            let holder = std::fs::read_to_string(&path)
                .ok()
                .and_then(|s| serde_json::from_str::<LockInfo>(&s).ok())
                .map_or_else(
                    || "its lock file names no process yet".to_string(),
                    |i| i.describe(),
                );
            return Err(LockError::Held {
                path: data_dir.to_path_buf(),
                holder,
            });
        }
        let data_dir = std::path::absolute(data_dir).unwrap_or_else(|_| data_dir.to_path_buf());
        let mut lock = DataDirLock {
            file,
            path: path.clone(),
            info: LockInfo {
                pid: std::process::id(),
                data_dir,
                public_addr: None,
                admin_addr: None,
            },
        };
        lock.write().map_err(io)?;
        Ok(lock)
    }

    /// Records the bound listeners in the lock file.
    pub fn set_listeners(&mut self, public: &str, admin: &str) -> Result<(), LockError> {
        self.info.public_addr = Some(public.to_string());
        self.info.admin_addr = Some(admin.to_string());
        self.write().map_err(|source| LockError::Io {
            path: self.path.clone(),
            source,
        })
    }

    /// What the lock file says.
    pub fn info(&self) -> &LockInfo {
        &self.info
    }

    fn write(&mut self) -> std::io::Result<()> {
        let json = serde_json::to_vec(&self.info).expect("lock info serializes");
        self.file.set_len(0)?;
        self.file.rewind()?;
        self.file.write_all(&json)?;
        self.file.sync_data()
    }
}

/// Takes the exclusive lock without waiting: `Ok(false)` when another holds it.
#[cfg(unix)]
fn try_lock(file: &File) -> std::io::Result<bool> {
    use rustix::fs::{FlockOperation, flock};
    match flock(file, FlockOperation::NonBlockingLockExclusive) {
        Ok(()) => Ok(true),
        Err(e) if e == rustix::io::Errno::WOULDBLOCK => Ok(false),
        Err(e) => Err(e.into()),
    }
}

/// Without `flock`, the lock file is written but not locked (a second gateway is not
/// detected); said once at start.
#[cfg(not(unix))]
fn try_lock(_file: &File) -> std::io::Result<bool> {
    tracing::warn!(
        "this platform has no flock: a second gateway on the same data directory is not refused"
    );
    Ok(true)
}

/// The running gateway (other than none) whose public or admin listener is on `port`,
/// found through the `gateway.lock` files that processes hold open (Linux: `/proc`; only
/// processes this user may inspect). `None` when none is found.
pub fn port_holder(port: u16) -> Option<LockInfo> {
    #[cfg(target_os = "linux")]
    {
        let procs = std::fs::read_dir("/proc").ok()?;
        for p in procs.flatten() {
            let Ok(fds) = std::fs::read_dir(p.path().join("fd")) else {
                continue;
            };
            for fd in fds.flatten() {
                let Ok(target) = std::fs::read_link(fd.path()) else {
                    continue;
                };
                if target.file_name() != Some(std::ffi::OsStr::new(LOCK_FILE)) {
                    continue;
                }
                let Some(info) = std::fs::read_to_string(&target)
                    .ok()
                    .and_then(|s| serde_json::from_str::<LockInfo>(&s).ok())
                else {
                    continue;
                };
                let on_port = |a: &Option<String>| {
                    a.as_deref()
                        .and_then(|a| a.parse::<std::net::SocketAddr>().ok())
                        .is_some_and(|a| a.port() == port)
                };
                if on_port(&info.public_addr) || on_port(&info.admin_addr) {
                    return Some(info);
                }
            }
        }
        None
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = port;
        None
    }
}

/// Describes a gateway found by [`port_holder`].
pub fn describe(info: &LockInfo) -> String {
    info.describe()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_second_lock_names_the_first_holder_and_its_listeners() {
        let dir = tempfile::tempdir().unwrap();
        let mut first = DataDirLock::acquire(dir.path()).unwrap();
        first.set_listeners("127.0.0.1:1", "127.0.0.1:2").unwrap();
        let err = DataDirLock::acquire(dir.path()).unwrap_err().to_string();
        assert_eq!(
            err,
            format!(
                "another telephony gateway (pid {}, data directory {}, public listener 127.0.0.1:1, admin listener 127.0.0.1:2) is running on the data directory {}; stop it first, or give this one another dataDir",
                std::process::id(),
                std::path::absolute(dir.path()).unwrap().display(),
                dir.path().display()
            )
        );
        #[cfg(target_os = "linux")]
        assert_eq!(port_holder(2).unwrap().pid, std::process::id());
        drop(first);
        // Freed with its holder; the file left behind does not count.
        assert!(dir.path().join(LOCK_FILE).exists());
        DataDirLock::acquire(dir.path()).unwrap();
    }
}
