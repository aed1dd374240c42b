//! An embedded PostgreSQL cluster built from the locally installed server
//! binaries (`initdb`, `postgres`).
//!
//! Invariants:
//! - the cluster listens on a Unix socket inside its data folder only
//!   (`listen_addresses = ''`), never on TCP;
//! - when Shequn runs as root, the cluster runs as an unprivileged OS user
//!   (PostgreSQL refuses root) that owns the data folder;
//! - the postmaster is spawned from a thread that waits on it, with
//!   `PR_SET_PDEATHSIG`, so it stops when Shequn dies, even by `kill -9`;
//! - a cluster already running on the folder (another `shequn` command) is
//!   reused, not started twice, and not stopped by the borrower.

use std::io::{Read, Seek, SeekFrom};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context};
use sqlx::postgres::PgConnectOptions;

/// The port number naming the socket file (`.s.PGSQL.5432`); no TCP port is opened.
const SOCKET_PORT: u16 = 5432;
/// The cluster's superuser.
pub const SUPERUSER: &str = "postgres";

/// How to run the cluster.
#[derive(Debug, Clone)]
pub struct EmbeddedOptions {
    /// The data folder (created on first start).
    pub data_dir: PathBuf,
    /// Folder with `initdb` and `postgres`; `None` searches the usual places.
    pub bin_dir: Option<PathBuf>,
    /// OS user to run as when we are root; `None`: `postgres`, else `nobody`.
    pub os_user: Option<String>,
    /// Throwaway mode for tests: no fsync, more connections.
    pub ephemeral: bool,
}

/// A running (or borrowed) cluster.
#[derive(Debug)]
pub struct EmbeddedPostgres {
    data_dir: PathBuf,
    pid: Option<u32>,
    exited: Option<mpsc::Receiver<std::io::Result<ExitStatus>>>,
}

/// The message printed when no server binaries are found.
pub fn missing_binaries_message() -> String {
    "No PostgreSQL server binaries (initdb, postgres) were found on PATH or under \
/usr/lib/postgresql/*/bin, /usr/local/pgsql/bin or /opt/homebrew/opt/postgresql*/bin. \
Shequn runs an embedded PostgreSQL from them when no database is configured. Install them \
(Debian/Ubuntu: `apt-get install postgresql`; Fedora: `dnf install postgresql-server`; \
macOS: `brew install postgresql@16`), point `embedded.bin_dir` (SHEQUN__EMBEDDED__BIN_DIR) \
at their folder, or use an existing server by setting DATABASE_URL=postgres://user:pass@host/db."
        .to_owned()
}

fn has_binaries(dir: &Path) -> bool {
    dir.join("initdb").is_file() && dir.join("postgres").is_file()
}

fn version_key(p: &Path) -> Vec<u32> {
    p.to_string_lossy().split(|c: char| !c.is_ascii_digit()).filter_map(|s| s.parse().ok()).collect()
}

/// Finds a folder holding both `initdb` and `postgres`.
pub fn find_bin_dir(hint: Option<&Path>) -> Option<PathBuf> {
    if let Some(h) = hint {
        return has_binaries(h).then(|| h.to_path_buf());
    }
    if let Some(path) = std::env::var_os("PATH") {
        for dir in std::env::split_paths(&path) {
            if has_binaries(&dir) {
                return Some(dir);
            }
        }
    }
    let mut candidates: Vec<PathBuf> = Vec::new();
    for (parent, prefix, suffix) in [
        ("/usr/lib/postgresql", "", "bin"),
        ("/opt/homebrew/opt", "postgresql", "bin"),
        ("/usr/local/opt", "postgresql", "bin"),
        ("/usr", "pgsql-", "bin"),
    ] {
        if let Ok(rd) = std::fs::read_dir(parent) {
            for e in rd.flatten() {
                if e.file_name().to_string_lossy().starts_with(prefix) {
                    candidates.push(e.path().join(suffix));
                }
            }
        }
    }
    candidates.sort_by_key(|p| std::cmp::Reverse(version_key(p)));
    candidates.push(PathBuf::from("/usr/local/pgsql/bin"));
    candidates.into_iter().find(|d| has_binaries(d))
}

/// `(uid, gid)` of a user from /etc/passwd.
fn lookup_user(name: &str) -> Option<(u32, u32)> {
    let text = std::fs::read_to_string("/etc/passwd").ok()?;
    text.lines().find_map(|line| {
        let f: Vec<&str> = line.split(':').collect();
        (f.len() >= 4 && f[0] == name).then(|| Some((f[2].parse().ok()?, f[3].parse().ok()?)))?
    })
}

fn run_as(os_user: Option<&str>) -> anyhow::Result<Option<(u32, u32)>> {
    // SAFETY: geteuid has no preconditions and cannot fail.
    if unsafe { libc::geteuid() } != 0 {
        return Ok(None);
    }
    let names: Vec<&str> = match os_user {
        Some(n) => vec![n],
        None => vec!["postgres", "nobody"],
    };
    for n in &names {
        if let Some(ids) = lookup_user(n) {
            if ids.0 != 0 {
                return Ok(Some(ids));
            }
        }
    }
    bail!("running as root, and none of the OS users {names:?} exists to run PostgreSQL as (set embedded.os_user)")
}

fn chown_tree(path: &Path, uid: u32, gid: u32) -> anyhow::Result<()> {
    std::os::unix::fs::chown(path, Some(uid), Some(gid)).with_context(|| format!("chown {}", path.display()))?;
    if path.is_dir() {
        for e in std::fs::read_dir(path)? {
            chown_tree(&e?.path(), uid, gid)?;
        }
    }
    Ok(())
}

fn pid_alive(pid: i32) -> bool {
    // SAFETY: signal 0 only checks for existence/permission.
    pid > 0 && unsafe { libc::kill(pid, 0) } == 0
}

/// Reads `postmaster.pid`: (pid, ready?).
fn postmaster_state(data_dir: &Path) -> Option<(i32, bool)> {
    let text = std::fs::read_to_string(data_dir.join("postmaster.pid")).ok()?;
    let lines: Vec<&str> = text.lines().collect();
    let pid = lines.first()?.trim().parse().ok()?;
    let ready = lines.get(7).map(|l| l.trim() == "ready").unwrap_or(false);
    Some((pid, ready))
}

fn log_tail(path: &Path) -> String {
    let Ok(mut f) = std::fs::File::open(path) else { return String::new() };
    let len = f.metadata().map(|m| m.len()).unwrap_or(0);
    let _ = f.seek(SeekFrom::Start(len.saturating_sub(2000)));
    let mut s = String::new();
    let _ = f.read_to_string(&mut s);
    s
}

impl EmbeddedPostgres {
    /// Starts (initialising on first use) or borrows the cluster in `opts.data_dir`.
    pub fn start(opts: &EmbeddedOptions) -> anyhow::Result<Self> {
        let bin = find_bin_dir(opts.bin_dir.as_deref()).ok_or_else(|| anyhow!(missing_binaries_message()))?;
        std::fs::create_dir_all(&opts.data_dir)
            .with_context(|| format!("creating the embedded data folder {}", opts.data_dir.display()))?;
        let data_dir = opts.data_dir.canonicalize()?;
        let socket_len = data_dir.join(".s.PGSQL.5432").as_os_str().len();
        if socket_len > 100 {
            bail!("embedded.data_dir {} is too long for a Unix socket path; choose a shorter one", data_dir.display());
        }
        if let Some((pid, ready)) = postmaster_state(&data_dir) {
            if pid_alive(pid) && ready {
                tracing::info!(pid, "reusing the embedded PostgreSQL already running");
                return Ok(Self { data_dir, pid: None, exited: None });
            }
        }
        let user = run_as(opts.os_user.as_deref())?;
        if !data_dir.join("PG_VERSION").exists() {
            Self::init(&bin, &data_dir, user)?;
        }
        Self::spawn(&bin, &data_dir, user, opts.ephemeral)
    }

    fn init(bin: &Path, data_dir: &Path, user: Option<(u32, u32)>) -> anyhow::Result<()> {
        if std::fs::read_dir(data_dir)?.next().is_some() {
            bail!("embedded.data_dir {} is not empty and holds no PostgreSQL cluster", data_dir.display());
        }
        if let Some((uid, gid)) = user {
            chown_tree(data_dir, uid, gid)?;
        }
        std::fs::set_permissions(data_dir, std::fs::Permissions::from_mode(0o700))?;
        let mut cmd = Command::new(bin.join("initdb"));
        cmd.arg("-D")
            .arg(data_dir)
            .args(["-U", SUPERUSER, "--auth=trust", "--encoding=UTF8", "--locale=C", "--no-instructions"])
            .current_dir(data_dir)
            .stdin(Stdio::null());
        if let Some((uid, gid)) = user {
            cmd.uid(uid).gid(gid);
        }
        let out = cmd.output().context("running initdb")?;
        if !out.status.success() {
            bail!(
                "initdb failed ({}): {}{}",
                out.status,
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        Ok(())
    }

    fn spawn(bin: &Path, data_dir: &Path, user: Option<(u32, u32)>, ephemeral: bool) -> anyhow::Result<Self> {
        let log_path = data_dir.with_extension("log");
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_path)
            .with_context(|| format!("opening {}", log_path.display()))?;
        let mut cmd = Command::new(bin.join("postgres"));
        cmd.arg("-D")
            .arg(data_dir)
            .arg("-k")
            .arg(data_dir)
            .arg("-p")
            .arg(SOCKET_PORT.to_string())
            .args(["-c", "listen_addresses=", "-c", "unix_socket_permissions=0700"])
            .current_dir(data_dir)
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log);
        if ephemeral {
            cmd.args(["-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off"]).args([
                "-c",
                "max_connections=300",
                "-c",
                "shared_buffers=128MB",
            ]);
        } else {
            cmd.args(["-c", "max_connections=200"]);
        }
        if let Some((uid, gid)) = user {
            cmd.uid(uid).gid(gid);
        }
        // SAFETY: prctl is async-signal-safe; it runs in the child after the
        // uid switch (which would clear it) and before exec.
        unsafe {
            cmd.pre_exec(|| {
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGINT) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let (pid_tx, pid_rx) = mpsc::channel();
        let (exit_tx, exit_rx) = mpsc::channel();
        // The death signal fires when the spawning *thread* ends, so the thread
        // that spawns the postmaster is the one that waits for it.
        std::thread::Builder::new().name("embedded-postgres".into()).spawn(move || match cmd.spawn() {
            Ok(mut child) => {
                let _ = pid_tx.send(Ok(child.id()));
                let _ = exit_tx.send(child.wait());
            }
            Err(e) => {
                let _ = pid_tx.send(Err(e));
            }
        })?;
        let pid = pid_rx.recv().context("embedded postgres thread")?.context("starting postgres")?;
        let this = Self { data_dir: data_dir.to_path_buf(), pid: Some(pid), exited: Some(exit_rx) };
        this.wait_ready(&log_path)?;
        Ok(this)
    }

    fn wait_ready(&self, log_path: &Path) -> anyhow::Result<()> {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(rx) = &self.exited {
                if let Ok(status) = rx.try_recv() {
                    bail!("postgres exited during start-up ({status:?}); log tail:\n{}", log_tail(log_path));
                }
            }
            if let Some((pid, true)) = postmaster_state(&self.data_dir) {
                if Some(pid as u32) == self.pid {
                    return Ok(());
                }
            }
            if Instant::now() > deadline {
                bail!("postgres did not become ready within 60 s; log tail:\n{}", log_tail(log_path));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The data (and socket) folder.
    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// Whether this handle started the cluster (and so stops it).
    pub fn owns_cluster(&self) -> bool {
        self.pid.is_some()
    }

    /// Connection options for `database` over the Unix socket.
    pub fn connect_options(&self, database: &str) -> PgConnectOptions {
        PgConnectOptions::new().socket(&self.data_dir).port(SOCKET_PORT).username(SUPERUSER).database(database)
    }

    /// Fast shutdown (SIGINT), waiting up to 30 s, then immediate (SIGQUIT).
    pub fn stop(mut self) -> anyhow::Result<()> {
        self.stop_inner()
    }

    fn stop_inner(&mut self) -> anyhow::Result<()> {
        let (Some(pid), Some(rx)) = (self.pid.take(), self.exited.take()) else { return Ok(()) };
        // SAFETY: plain kill(2) on our own child.
        unsafe { libc::kill(pid as i32, libc::SIGINT) };
        if rx.recv_timeout(Duration::from_secs(30)).is_err() {
            unsafe { libc::kill(pid as i32, libc::SIGQUIT) };
            let _ = rx.recv_timeout(Duration::from_secs(10));
            bail!("postgres did not stop within 30 s; sent SIGQUIT");
        }
        Ok(())
    }
}

impl Drop for EmbeddedPostgres {
    fn drop(&mut self) {
        let _ = self.stop_inner();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn newest_postgres_version_folder_sorts_first() {
        let mut v = [PathBuf::from("/usr/lib/postgresql/9.6/bin"), PathBuf::from("/usr/lib/postgresql/15/bin")];
        v.sort_by_key(|p| std::cmp::Reverse(version_key(p)));
        assert_eq!(v[0], PathBuf::from("/usr/lib/postgresql/15/bin"));
    }

    #[test]
    fn an_explicit_bin_dir_without_binaries_is_not_found() {
        assert!(find_bin_dir(Some(Path::new("/nonexistent"))).is_none());
    }
}
