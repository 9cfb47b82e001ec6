//! A private PostgreSQL cluster for development and tests, run from the machine's installed
//! server binaries in a data folder Aura owns: `initdb` once, `pg_ctl start` on each use,
//! listening on a Unix socket inside that folder only (no TCP port to collide with).
//!
//! PostgreSQL refuses to run as root. When Aura itself runs as root (containers, CI machines),
//! the cluster's processes run as an unprivileged system user instead: `postgres` where the
//! PostgreSQL packages created it, else a dedicated `aura-postgres` user created on first use.

use std::fs::{self, File};
use std::io;
use std::os::unix::fs::{chown, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use nix::unistd::{Uid, User};
use url::Url;

/// The cluster's bootstrap superuser, which owns Aura's schema.
pub const OWNER_ROLE: &str = "aura_owner";
const PORT: u16 = 5432;
/// Unix socket paths are limited to 107 bytes, including `/.s.PGSQL.5432`.
const MAX_SOCKET_DIR_LEN: usize = 90;
const PREFERRED_SERVICE_USER: &str = "postgres";
const FALLBACK_SERVICE_USER: &str = "aura-postgres";

#[derive(Debug, thiserror::Error)]
pub enum EmbeddedError {
    #[error(
        "PostgreSQL server binaries (initdb, pg_ctl, postgres) were not found{searched}.\n\
         Aura runs a private PostgreSQL cluster when AURA_DATABASE_URL is not set. Install the \
         server, for example:\n  Debian/Ubuntu:  apt-get install postgresql\n  Fedora:         \
         dnf install postgresql-server\n  macOS:          brew install postgresql@16\n\
         or set AURA_PG_BIN_DIR to the folder holding them, or set AURA_DATABASE_URL to use an \
         existing database."
    )]
    BinariesNotFound { searched: String },
    #[error(
        "the data folder path {0} is too long for a Unix socket; choose a shorter AURA_DATA_DIR"
    )]
    PathTooLong(PathBuf),
    #[error(
        "the PostgreSQL service user `{user}` cannot write to {dir}; choose an AURA_DATA_DIR \
         that user can reach (a folder outside any private home directory)"
    )]
    NotReachable { user: String, dir: PathBuf },
    #[error("`{command}` failed: {detail}")]
    CommandFailed { command: String, detail: String },
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: io::Error,
    },
}

fn io_error(context: impl Into<String>) -> impl FnOnce(io::Error) -> EmbeddedError {
    let context = context.into();
    move |source| EmbeddedError::Io { context, source }
}

/// Where the PostgreSQL server programs live.
#[derive(Debug, Clone)]
pub struct PgBinaries {
    dir: PathBuf,
}

impl PgBinaries {
    /// Finds the server binaries: in `explicit` only when given, otherwise through `pg_config`,
    /// Debian's versioned folders (newest first), then `PATH`.
    pub fn locate(explicit: Option<&Path>) -> Result<Self, EmbeddedError> {
        let candidates: Vec<PathBuf> = match explicit {
            Some(dir) => vec![dir.to_owned()],
            None => {
                let mut dirs = Vec::new();
                if let Ok(out) = Command::new("pg_config").arg("--bindir").output() {
                    if out.status.success() {
                        dirs.push(PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()));
                    }
                }
                let mut versioned: Vec<(u32, PathBuf)> = fs::read_dir("/usr/lib/postgresql")
                    .into_iter()
                    .flatten()
                    .flatten()
                    .filter_map(|entry| {
                        let version = entry.file_name().to_str()?.parse().ok()?;
                        Some((version, entry.path().join("bin")))
                    })
                    .collect();
                versioned.sort_by_key(|(version, _)| std::cmp::Reverse(*version));
                dirs.extend(versioned.into_iter().map(|(_, dir)| dir));
                dirs.extend(
                    std::env::var_os("PATH")
                        .iter()
                        .flat_map(std::env::split_paths),
                );
                dirs
            }
        };
        let complete = |dir: &&PathBuf| {
            ["initdb", "pg_ctl", "postgres"]
                .iter()
                .all(|tool| dir.join(tool).is_file())
        };
        match candidates.iter().find(complete) {
            Some(dir) => Ok(Self { dir: dir.clone() }),
            None => Err(EmbeddedError::BinariesNotFound {
                searched: explicit
                    .map(|dir| format!(" in {}", dir.display()))
                    .unwrap_or_default(),
            }),
        }
    }

    fn tool(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }
}

/// The account the cluster's processes run as.
#[derive(Debug, Clone)]
enum ServiceAccount {
    /// Aura is not root: the cluster runs as the same user.
    CurrentUser,
    /// Aura is root: the cluster runs as this unprivileged user.
    Unprivileged(User),
}

impl ServiceAccount {
    fn for_this_process() -> Result<Self, EmbeddedError> {
        if !Uid::effective().is_root() {
            return Ok(Self::CurrentUser);
        }
        for name in [PREFERRED_SERVICE_USER, FALLBACK_SERVICE_USER] {
            if let Some(user) = lookup_user(name)? {
                return Ok(Self::Unprivileged(user));
            }
        }
        run(Command::new("useradd").args([
            "--system",
            "--user-group",
            "--no-create-home",
            "--shell",
            "/usr/sbin/nologin",
            "--comment",
            "Aura embedded PostgreSQL",
            FALLBACK_SERVICE_USER,
        ]))?;
        lookup_user(FALLBACK_SERVICE_USER)?
            .map(Self::Unprivileged)
            .ok_or_else(|| EmbeddedError::CommandFailed {
                command: format!("useradd {FALLBACK_SERVICE_USER}"),
                detail: "the user does not exist after creating it".into(),
            })
    }

    fn name(&self) -> String {
        match self {
            Self::CurrentUser => User::from_uid(Uid::effective())
                .ok()
                .flatten()
                .map(|u| u.name)
                .unwrap_or_else(|| Uid::effective().to_string()),
            Self::Unprivileged(user) => user.name.clone(),
        }
    }

    /// A command that runs `program` as this account, with supplementary groups cleared so the
    /// cluster inherits nothing of root's.
    fn command(&self, program: &Path) -> Command {
        match self {
            Self::CurrentUser => Command::new(program),
            Self::Unprivileged(user) => {
                let mut cmd = Command::new("setpriv");
                cmd.arg(format!("--reuid={}", user.uid))
                    .arg(format!("--regid={}", user.gid))
                    .arg("--clear-groups")
                    .arg("--")
                    .arg(program);
                cmd
            }
        }
    }

    fn take_ownership(&self, path: &Path) -> Result<(), EmbeddedError> {
        if let Self::Unprivileged(user) = self {
            chown(path, Some(user.uid.as_raw()), Some(user.gid.as_raw()))
                .map_err(io_error(format!("chown {}", path.display())))?;
        }
        Ok(())
    }

    fn ensure_can_write(&self, dir: &Path) -> Result<(), EmbeddedError> {
        if let Self::Unprivileged(_) = self {
            let status = self
                .command(Path::new("test"))
                .args(["-w".as_ref(), dir.as_os_str()])
                .status()
                .map_err(io_error("run setpriv"))?;
            if !status.success() {
                return Err(EmbeddedError::NotReachable {
                    user: self.name(),
                    dir: dir.to_owned(),
                });
            }
        }
        Ok(())
    }
}

fn lookup_user(name: &str) -> Result<Option<User>, EmbeddedError> {
    User::from_name(name).map_err(|e| io_error(format!("look up user {name}"))(e.into()))
}

/// A running private cluster.
#[derive(Debug)]
pub struct EmbeddedCluster {
    binaries: PgBinaries,
    account: ServiceAccount,
    root: PathBuf,
    started_here: bool,
}

impl EmbeddedCluster {
    /// Starts the cluster in the data folder `root`, creating it on first use. Safe to call from
    /// several processes at once (a lock file serialises them); a cluster already running there
    /// is reused. Checks for the server binaries before touching the disk, and initialises into
    /// a scratch folder that is renamed into place only once `initdb` succeeded, so a failure
    /// never leaves a half-initialised cluster behind.
    pub fn start(root: &Path, bin_dir: Option<&Path>) -> Result<Self, EmbeddedError> {
        let binaries = PgBinaries::locate(bin_dir)?;
        let account = ServiceAccount::for_this_process()?;
        fs::create_dir_all(root).map_err(io_error(format!("create {}", root.display())))?;
        let root = root
            .canonicalize()
            .map_err(io_error(format!("resolve {}", root.display())))?;
        if root.join("run").as_os_str().len() > MAX_SOCKET_DIR_LEN {
            return Err(EmbeddedError::PathTooLong(root));
        }
        let lock = File::create(root.join(".lock")).map_err(io_error("create the lock file"))?;
        lock.lock().map_err(io_error("lock the data folder"))?;

        let mut cluster = Self {
            binaries,
            account,
            root,
            started_here: false,
        };
        cluster.prepare_folder()?;
        if !cluster.pgdata().join("PG_VERSION").is_file() {
            cluster.initialise()?;
        }
        if !cluster.is_running()? {
            cluster.start_server()?;
            cluster.started_here = true;
        }
        Ok(cluster)
        // `lock` is released here, once the cluster is up.
    }

    /// The schema owner's URL for `database` (over the Unix socket, trust authentication; the
    /// socket folder is private to the service user, and root).
    pub fn owner_url(&self, database: &str) -> String {
        self.url(OWNER_ROLE, database)
    }

    /// The URL of `role` for `database` on this cluster.
    pub fn url(&self, role: &str, database: &str) -> String {
        let mut url = Url::parse("postgres://localhost").expect("a constant URL parses");
        url.set_username(role)
            .expect("postgres URLs take a user name");
        url.set_path(database);
        url.query_pairs_mut()
            .append_pair("host", &self.socket_dir().to_string_lossy())
            .append_pair("port", &PORT.to_string());
        url.into()
    }

    pub fn data_folder(&self) -> &Path {
        &self.root
    }

    /// The folder of the installation the cluster runs from, whose pg_dump and pg_restore
    /// match its server version.
    pub fn bin_dir(&self) -> &Path {
        &self.binaries.dir
    }

    /// Whether this call started the server (rather than finding it running).
    pub fn started_here(&self) -> bool {
        self.started_here
    }

    /// The process id of the running postmaster, from its pid file.
    pub fn postmaster_pid(&self) -> Option<u32> {
        fs::read_to_string(self.pgdata().join("postmaster.pid"))
            .ok()?
            .lines()
            .next()?
            .trim()
            .parse()
            .ok()
    }

    /// Stops the server (fast shutdown: sessions are disconnected, data is safe).
    pub fn stop(&self) -> Result<(), EmbeddedError> {
        self.pg_ctl(&["stop", "-m", "fast", "-w"])
    }

    /// Starts the server again after [`EmbeddedCluster::stop`].
    pub fn restart(&self) -> Result<(), EmbeddedError> {
        self.start_server()
    }

    fn pgdata(&self) -> PathBuf {
        self.root.join("pgdata")
    }

    fn socket_dir(&self) -> PathBuf {
        self.root.join("run")
    }

    fn log_file(&self) -> PathBuf {
        self.root.join("postgres.log")
    }

    fn prepare_folder(&self) -> Result<(), EmbeddedError> {
        let socket_dir = self.socket_dir();
        fs::create_dir_all(&socket_dir).map_err(io_error("create the socket folder"))?;
        // Trust authentication is safe only because nobody else can reach the socket.
        fs::set_permissions(&socket_dir, fs::Permissions::from_mode(0o700))
            .map_err(io_error("restrict the socket folder"))?;
        for path in [&self.root, &socket_dir] {
            self.account.take_ownership(path)?;
        }
        self.account.ensure_can_write(&self.root)
    }

    fn initialise(&self) -> Result<(), EmbeddedError> {
        let scratch = self.root.join("pgdata.initialising");
        if scratch.exists() {
            fs::remove_dir_all(&scratch).map_err(io_error("remove an unfinished initdb"))?;
        }
        let mut initdb = self.account.command(&self.binaries.tool("initdb"));
        initdb
            .arg("--pgdata")
            .arg(&scratch)
            .args([
                "--username",
                OWNER_ROLE,
                "--auth",
                "trust",
                "--encoding",
                "UTF8",
            ])
            .args(["--locale", "C", "--no-instructions"])
            .current_dir(&self.root);
        run(&mut initdb)?;
        let settings = format!(
            "\n# Aura's private cluster: no TCP, a socket in the data folder only.\n\
             listen_addresses = ''\n\
             unix_socket_directories = '{}'\n\
             port = {PORT}\n",
            self.socket_dir().display()
        );
        let conf = scratch.join("postgresql.conf");
        let mut contents = fs::read_to_string(&conf).map_err(io_error("read postgresql.conf"))?;
        contents.push_str(&settings);
        fs::write(&conf, contents).map_err(io_error("write postgresql.conf"))?;
        fs::rename(&scratch, self.pgdata()).map_err(io_error("move the new cluster into place"))
    }

    fn is_running(&self) -> Result<bool, EmbeddedError> {
        let out = self.pg_ctl_output(&["status"])?;
        // pg_ctl status: 0 running, 3 not running, 4 no usable data folder.
        match out.status.code() {
            Some(0) => Ok(true),
            Some(3) => Ok(false),
            _ => Err(command_failed("pg_ctl status", &out)),
        }
    }

    fn start_server(&self) -> Result<(), EmbeddedError> {
        let log = self.log_file();
        if !log.exists() {
            File::create(&log).map_err(io_error("create the server log"))?;
            self.account.take_ownership(&log)?;
        }
        self.pg_ctl(&["start", "-w", "-t", "60", "-l", &log.to_string_lossy()])
    }

    fn pg_ctl(&self, args: &[&str]) -> Result<(), EmbeddedError> {
        let out = self.pg_ctl_output(args)?;
        if out.status.success() {
            Ok(())
        } else {
            Err(command_failed(&format!("pg_ctl {}", args[0]), &out))
        }
    }

    fn pg_ctl_output(&self, args: &[&str]) -> Result<Output, EmbeddedError> {
        self.account
            .command(&self.binaries.tool("pg_ctl"))
            .arg("--pgdata")
            .arg(self.pgdata())
            .args(args)
            .current_dir(&self.root)
            .output()
            .map_err(io_error("run pg_ctl"))
    }
}

fn run(command: &mut Command) -> Result<(), EmbeddedError> {
    let out = command
        .output()
        .map_err(io_error(format!("run {:?}", command.get_program())))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(command_failed(
            &command.get_program().to_string_lossy(),
            &out,
        ))
    }
}

fn command_failed(command: &str, out: &Output) -> EmbeddedError {
    let mut detail = String::from_utf8_lossy(&out.stderr).trim().to_owned();
    if detail.is_empty() {
        detail = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    }
    EmbeddedError::CommandFailed {
        command: command.to_owned(),
        detail,
    }
}
