//! Named network namespaces, made the way `ip netns add` makes them, so that
//! `ip netns exec <name>` works on them: a bind mount of the namespace onto
//! `/run/netns/<name>`, with `/run/netns` a shared mount.
//!
//! Nothing here forks: a namespace is created by a fresh thread that unshares its own
//! network namespace, and work "inside" a namespace runs on a fresh thread that joined it
//! with `setns`. The calling thread (a tokio worker, say) never changes namespace.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::mount::{mount, umount2, MntFlags, MsFlags};
use nix::sched::{setns, unshare, CloneFlags};

/// Where named namespaces live, as for iproute2.
pub const NETNS_RUN_DIR: &str = "/run/netns";

/// `/run/netns/<name>`.
pub fn netns_path(name: &str) -> PathBuf {
    Path::new(NETNS_RUN_DIR).join(name)
}

/// Creates `/run/netns` and makes it a shared mount, exactly as iproute2 does: try to make
/// it shared; if it is not a mount point yet (EINVAL), bind-mount it onto itself first.
/// Shared propagation makes a namespace mounted later visible in every mount namespace
/// that sees `/run/netns`.
pub fn ensure_run_dir() -> io::Result<()> {
    std::fs::create_dir_all(NETNS_RUN_DIR)?;
    let shared = || mount(Some("none"), NETNS_RUN_DIR, None::<&str>, MsFlags::MS_SHARED | MsFlags::MS_REC, None::<&str>);
    match shared() {
        Ok(()) => Ok(()),
        Err(Errno::EINVAL) => {
            mount(Some(NETNS_RUN_DIR), NETNS_RUN_DIR, Some("none"), MsFlags::MS_BIND | MsFlags::MS_REC, None::<&str>)?;
            shared().map_err(io::Error::from)
        }
        Err(e) => Err(e.into()),
    }
}

/// Creates the named namespace `name` and runs `inside` on the creating thread, which is in
/// the new namespace (sockets `inside` opens belong to it). Fails with `AlreadyExists` if the
/// name is taken. On error nothing is left behind. Call [`ensure_run_dir`] first.
pub fn create<T: Send + 'static>(name: &str, inside: impl FnOnce() -> T + Send + 'static) -> io::Result<(PathBuf, T)> {
    let path = netns_path(name);
    // The mount point, like iproute2: O_CREAT|O_EXCL, mode 0.
    drop(OpenOptions::new().read(true).write(true).create_new(true).mode(0o000).open(&path)?);
    let target = path.clone();
    let made = on_thread(move || -> io::Result<T> {
        unshare(CloneFlags::CLONE_NEWNET)?;
        mount(Some("/proc/thread-self/ns/net"), &target, Some("none"), MsFlags::MS_BIND, None::<&str>)?;
        Ok(inside())
    })
    .and_then(|r| r);
    match made {
        Ok(v) => Ok((path, v)),
        Err(e) => {
            let _ = umount2(&path, MntFlags::MNT_DETACH);
            let _ = std::fs::remove_file(&path);
            Err(e)
        }
    }
}

/// Deletes the named namespace like `ip netns del`: lazy unmount, then unlink. The kernel
/// frees the namespace (and unregisters its devices) once nothing else holds it: processes,
/// sockets, open fds. `Ok(false)` when there was nothing to delete.
pub fn delete(name: &str) -> io::Result<bool> {
    delete_path(&netns_path(name))
}

/// [`delete`] by path.
pub fn delete_path(path: &Path) -> io::Result<bool> {
    let unmounted = match umount2(path, MntFlags::MNT_DETACH) {
        Ok(()) => true,
        // Not a mount point (a half-made entry) or already gone.
        Err(Errno::EINVAL) | Err(Errno::ENOENT) => false,
        Err(e) => return Err(context(e, &format!("unmounting {}", path.display()))),
    };
    match std::fs::remove_file(path) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(unmounted),
        Err(e) => Err(io::Error::new(e.kind(), format!("removing {}: {e}", path.display()))),
    }
}

/// Runs `f` on a fresh OS thread that has joined the network namespace at `path`
/// (`setns(CLONE_NEWNET)`); sockets created there belong to that namespace and stay in it
/// after the thread ends. A panic in `f` is resumed on the caller.
pub fn in_netns<T: Send + 'static>(path: &Path, f: impl FnOnce() -> T + Send + 'static) -> io::Result<T> {
    let ns = File::open(path).map_err(|e| io::Error::new(e.kind(), format!("opening {}: {e}", path.display())))?;
    on_thread(move || -> io::Result<T> {
        setns(&ns, CloneFlags::CLONE_NEWNET).map_err(|e| context(e, "joining the namespace"))?;
        drop(ns);
        Ok(f())
    })
    .and_then(|r| r)
}

/// `errno` as an io::Error that says what failed.
fn context(errno: Errno, what: &str) -> io::Error {
    io::Error::new(io::Error::from(errno).kind(), format!("{what}: {}", errno.desc()))
}

/// Runs `f` on a new thread and waits for it.
fn on_thread<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> io::Result<T> {
    let t = std::thread::Builder::new().name("lab-netns".into()).spawn(f)?;
    match t.join() {
        Ok(v) => Ok(v),
        Err(panic) => std::panic::resume_unwind(panic),
    }
}
