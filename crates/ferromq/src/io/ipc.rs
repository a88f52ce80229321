//! ipc specifics: unix-domain stream sockets at a path, in Linux's abstract
//! namespace, or at a generated path for `ipc://*`.

use super::stream::{Listener, Stream};
use crate::endpoint::{IpcAddr, MAX_IPC_PATH};
use crate::error::{Error, ErrorKind, Result};
use mio::net::{UnixListener, UnixStream};
use std::io;
use std::os::linux::net::SocketAddrExt;
use std::os::unix::fs::{DirBuilderExt, FileTypeExt, MetadataExt};
use std::os::unix::net::SocketAddr;
use std::path::{Path, PathBuf};

/// Removes what a bound ipc endpoint put on the filesystem when it goes
/// away: its socket file, and the directory made for `ipc://*`.
pub(crate) struct IpcCleanup {
    /// The socket file and its inode: a later bind of the same path (which
    /// replaces the file) must not lose its file to our cleanup.
    file: Option<(PathBuf, u64)>,
    dir: Option<PathBuf>,
}

impl Drop for IpcCleanup {
    fn drop(&mut self) {
        if let Some((path, ino)) = &self.file {
            if std::fs::symlink_metadata(path).is_ok_and(|m| m.ino() == *ino) {
                let _ = std::fs::remove_file(path);
            }
        }
        if let Some(dir) = &self.dir {
            let _ = std::fs::remove_dir(dir);
        }
    }
}

fn bind_error(err: &io::Error, endpoint: &str) -> Error {
    match err.kind() {
        io::ErrorKind::AddrInUse => Error::new(
            ErrorKind::EADDRINUSE,
            format!("{endpoint} is already in use"),
        ),
        io::ErrorKind::NotFound => Error::new(
            ErrorKind::ENOENT,
            format!("cannot bind {endpoint}: its directory does not exist"),
        ),
        _ => Error::from_io(err, &format!("cannot bind {endpoint}")),
    }
}

/// A new private directory for `ipc://*`, where libzmq makes one: in the
/// first of TMPDIR, TEMPDIR and TMP that names an existing directory, else
/// in the working directory (and then the endpoint is relative).
fn make_temp_dir() -> Result<PathBuf> {
    let base = ["TMPDIR", "TEMPDIR", "TMP"]
        .iter()
        .filter_map(std::env::var_os)
        .map(PathBuf::from)
        .find(|p| p.is_dir())
        .unwrap_or_default();
    let mut last_err = None;
    for _ in 0..16 {
        let dir = base.join(format!(
            "tmp{:06x}",
            crate::pattern::random_u32() & 0xFF_FFFF
        ));
        match std::fs::DirBuilder::new().mode(0o700).create(&dir) {
            Ok(()) => return Ok(dir),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => last_err = Some(e),
            Err(e) => return Err(Error::from_io(&e, "cannot create a directory for ipc://*")),
        }
    }
    let e = last_err.unwrap_or_else(|| io::Error::other("no free name"));
    Err(Error::from_io(&e, "cannot create a directory for ipc://*"))
}

/// Binds `addr`; returns the listener and its LAST_ENDPOINT string.
pub(crate) fn bind(addr: &IpcAddr) -> Result<(Listener, String)> {
    match addr {
        IpcAddr::Abstract(name) => {
            let endpoint = format!("ipc://@{name}");
            let sa = SocketAddr::from_abstract_name(name.as_bytes())
                .map_err(|e| Error::from_io(&e, &format!("bad abstract name in {endpoint}")))?;
            let listener = UnixListener::bind_addr(&sa).map_err(|e| bind_error(&e, &endpoint))?;
            let cleanup = IpcCleanup {
                file: None,
                dir: None,
            };
            Ok((
                Listener::Unix {
                    listener,
                    _cleanup: cleanup,
                },
                endpoint,
            ))
        }
        IpcAddr::Path(path) => {
            let endpoint = format!("ipc://{path}");
            let (listener, cleanup) = bind_path(Path::new(path), None, &endpoint)?;
            Ok((
                Listener::Unix {
                    listener,
                    _cleanup: cleanup,
                },
                endpoint,
            ))
        }
        IpcAddr::Wildcard => {
            let dir = make_temp_dir()?;
            let path = dir.join("socket");
            let endpoint = format!("ipc://{}", path.display());
            if path.as_os_str().len() > MAX_IPC_PATH {
                let _ = std::fs::remove_dir(&dir);
                return Err(Error::new(
                    ErrorKind::ENAMETOOLONG,
                    format!(
                        "the generated path for ipc://* ({}) is longer than {MAX_IPC_PATH} bytes; \
                         set TMPDIR to a shorter directory",
                        path.display()
                    ),
                ));
            }
            match bind_path(&path, Some(dir.clone()), &endpoint) {
                Ok((listener, cleanup)) => Ok((
                    Listener::Unix {
                        listener,
                        _cleanup: cleanup,
                    },
                    endpoint,
                )),
                Err(e) => {
                    let _ = std::fs::remove_dir(&dir);
                    Err(e)
                }
            }
        }
    }
}

fn bind_path(
    path: &Path,
    dir: Option<PathBuf>,
    endpoint: &str,
) -> Result<(UnixListener, IpcCleanup)> {
    // A socket file left by a process that died is replaced, as libzmq
    // does. Anything else at that path is not ours to remove.
    match std::fs::symlink_metadata(path) {
        Ok(m) if m.file_type().is_socket() => {
            let _ = std::fs::remove_file(path);
        }
        Ok(_) => {
            return Err(Error::new(
                ErrorKind::EADDRINUSE,
                format!("cannot bind {endpoint}: the path exists and is not a socket"),
            ))
        }
        Err(_) => {}
    }
    let listener = UnixListener::bind(path).map_err(|e| bind_error(&e, endpoint))?;
    let ino = std::fs::symlink_metadata(path)
        .map(|m| m.ino())
        .map_err(|e| Error::from_io(&e, &format!("cannot inspect {endpoint}")))?;
    Ok((
        listener,
        IpcCleanup {
            file: Some((path.to_owned(), ino)),
            dir,
        },
    ))
}

/// Starts a non-blocking connect to `addr`.
pub(crate) fn connect(addr: &IpcAddr) -> io::Result<Stream> {
    let stream = match addr {
        IpcAddr::Path(path) => UnixStream::connect(path)?,
        IpcAddr::Abstract(name) => {
            UnixStream::connect_addr(&SocketAddr::from_abstract_name(name.as_bytes())?)?
        }
        IpcAddr::Wildcard => {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "cannot connect to ipc://*",
            ))
        }
    };
    Ok(Stream::Unix(stream))
}
