//! Workload `fuse`: the lab's own low-level FUSE daemon, a passthrough of a source directory
//! on the `fuser` crate. Node ids are the source's inode numbers (the root is node 1), so a
//! directory removed and recreated in the source comes back under a *new* node id — what a
//! network filesystem's daemon (ceph-fuse) does, and what a high-level libfuse daemon
//! (fuse2fs, bindfs: one node id per path) cannot show. Entry and attribute timeouts are
//! the TTLs of its replies.
//!
//! Like libfuse's `passthrough_ll`, each node keeps an `O_PATH` descriptor on its inode, so
//! the attributes of a directory removed from the source still read (nlink 0) while its
//! name now leads to another node.
//!
//! Directories only (lookup, getattr, readdir, mkdir, rmdir, access): enough to bind-mount,
//! look up and list; files are not served. Runs until killed (the step that started it) or
//! unmounted; it mounts with `mount(2)` directly, so it needs root (no fusermount).

use std::collections::HashMap;
use std::ffi::OsStr;
use std::fs::File;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, UNIX_EPOCH};

use fuser::{
    AccessFlags, Config, Errno, FileAttr, FileHandle, FileType, Filesystem, Generation, INodeNo, MountOption, ReplyAttr, ReplyDirectory,
    ReplyEmpty, ReplyEntry, Request, SessionACL,
};

use super::{flag, number_flag, report, Report, WorkloadError};

/// `fuse --source DIR --mountpoint DIR [--entry-timeout-ms N] [--attr-timeout-ms N]
/// [--default-permissions] [--allow-other]`.
pub fn main(args: &[String]) -> Result<(), WorkloadError> {
    let source = flag(args, "--source").ok_or_else(|| WorkloadError::Args("--source is missing".into()))?;
    let mountpoint = flag(args, "--mountpoint").ok_or_else(|| WorkloadError::Args("--mountpoint is missing".into()))?;
    let fs = Passthrough {
        source: PathBuf::from(source),
        entry_ttl: Duration::from_millis(number_flag(args, "--entry-timeout-ms", 1000)?),
        attr_ttl: Duration::from_millis(number_flag(args, "--attr-timeout-ms", 1000)?),
        root: open_path(Path::new(source)).map_err(|e| WorkloadError::sys(format!("opening {source}"), e))?,
        nodes: Mutex::new(HashMap::new()),
    };
    let mut config = Config::default();
    config.mount_options = vec![MountOption::FSName(format!("lab-fuse:{source}")), MountOption::Subtype("lab".into())];
    if args.iter().any(|a| a == "--default-permissions") {
        config.mount_options.push(MountOption::DefaultPermissions);
    }
    if args.iter().any(|a| a == "--allow-other") {
        config.acl = SessionACL::All;
    }
    let session =
        fuser::Session::new(fs, Path::new(mountpoint), &config).map_err(|e| WorkloadError::sys(format!("mounting {mountpoint}"), e))?;
    report(&Report::Mounted { mountpoint: mountpoint.to_string() });
    session.run().map_err(|e| WorkloadError::sys("serving FUSE requests", e))
}

/// The filesystem: node id -> the inode (held open) and the path it was found at.
struct Passthrough {
    source: PathBuf,
    entry_ttl: Duration,
    attr_ttl: Duration,
    root: File,
    nodes: Mutex<HashMap<u64, Node>>,
}

struct Node {
    path: PathBuf,
    inode: File,
}

/// An `O_PATH` descriptor on `path` itself (a symlink is not followed).
fn open_path(path: &Path) -> std::io::Result<File> {
    std::fs::OpenOptions::new().read(true).custom_flags(libc::O_PATH | libc::O_NOFOLLOW).open(path)
}

impl Passthrough {
    fn path_of(&self, ino: INodeNo) -> Option<PathBuf> {
        if ino == INodeNo::ROOT {
            return Some(self.source.clone());
        }
        self.nodes.lock().unwrap().get(&ino.0).map(|n| n.path.clone())
    }

    /// Looks `name` up under `parent`; learns its node id (its inode number).
    fn entry(&self, parent: INodeNo, name: &OsStr) -> Result<FileAttr, Errno> {
        let dir = self.path_of(parent).ok_or(Errno::ESTALE)?;
        let path = dir.join(name);
        let inode = open_path(&path).map_err(Errno::from)?;
        let meta = inode.metadata().map_err(Errno::from)?;
        let attr = attr_of(&meta, node_id(&meta));
        self.nodes.lock().unwrap().insert(attr.ino.0, Node { path, inode });
        Ok(attr)
    }

    /// The attributes of the node's inode, even if its name is gone from the source.
    fn attr(&self, ino: INodeNo) -> Result<FileAttr, Errno> {
        let meta = if ino == INodeNo::ROOT {
            self.root.metadata()
        } else {
            let nodes = self.nodes.lock().unwrap();
            nodes.get(&ino.0).ok_or(Errno::ESTALE)?.inode.metadata()
        };
        Ok(attr_of(&meta.map_err(Errno::from)?, ino.0))
    }
}

/// The node id of a source inode: its number, except that 1 is the FUSE root's.
fn node_id(meta: &std::fs::Metadata) -> u64 {
    if meta.ino() == INodeNo::ROOT.0 {
        u64::MAX
    } else {
        meta.ino()
    }
}

fn attr_of(meta: &std::fs::Metadata, ino: u64) -> FileAttr {
    let time = |s: i64| UNIX_EPOCH + Duration::from_secs(s.max(0) as u64);
    let ft = meta.file_type();
    let kind = if ft.is_dir() {
        FileType::Directory
    } else if ft.is_symlink() {
        FileType::Symlink
    } else {
        FileType::RegularFile
    };
    FileAttr {
        ino: INodeNo(ino),
        size: meta.size(),
        blocks: meta.blocks(),
        atime: time(meta.atime()),
        mtime: time(meta.mtime()),
        ctime: time(meta.ctime()),
        crtime: time(meta.ctime()),
        kind,
        perm: (meta.mode() & 0o7777) as u16,
        nlink: meta.nlink() as u32,
        uid: meta.uid(),
        gid: meta.gid(),
        rdev: meta.rdev() as u32,
        blksize: meta.blksize() as u32,
        flags: 0,
    }
}

impl Filesystem for Passthrough {
    fn lookup(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEntry) {
        match self.entry(parent, name) {
            Ok(attr) => reply.entry(&self.entry_ttl, &attr, Generation(0)),
            Err(e) => reply.error(e),
        }
    }

    fn getattr(&self, _req: &Request, ino: INodeNo, _fh: Option<FileHandle>, reply: ReplyAttr) {
        match self.attr(ino) {
            Ok(attr) => reply.attr(&self.attr_ttl, &attr),
            Err(e) => reply.error(e),
        }
    }

    fn access(&self, _req: &Request, ino: INodeNo, _mask: AccessFlags, reply: ReplyEmpty) {
        match self.attr(ino) {
            Ok(_) => reply.ok(),
            Err(e) => reply.error(e),
        }
    }

    fn readdir(&self, _req: &Request, ino: INodeNo, _fh: FileHandle, offset: u64, mut reply: ReplyDirectory) {
        let Some(dir) = self.path_of(ino) else { return reply.error(Errno::ESTALE) };
        let entries = match std::fs::read_dir(&dir) {
            Ok(e) => e,
            Err(e) => return reply.error(Errno::from(e)),
        };
        let mut all = vec![(ino.0, FileType::Directory, ".".into()), (ino.0, FileType::Directory, "..".into())];
        for e in entries.flatten() {
            let Ok(meta) = e.metadata() else { continue };
            let kind = if meta.is_dir() { FileType::Directory } else { FileType::RegularFile };
            all.push((node_id(&meta), kind, e.file_name()));
        }
        for (i, (id, kind, name)) in all.into_iter().enumerate().skip(offset as usize) {
            if reply.add(INodeNo(id), (i + 1) as u64, kind, name) {
                break;
            }
        }
        reply.ok();
    }

    fn mkdir(&self, _req: &Request, parent: INodeNo, name: &OsStr, mode: u32, umask: u32, reply: ReplyEntry) {
        let Some(dir) = self.path_of(parent) else { return reply.error(Errno::ESTALE) };
        if let Err(e) = std::fs::DirBuilder::new().mode(mode & !umask).create(dir.join(name)) {
            return reply.error(Errno::from(e));
        }
        match self.entry(parent, name) {
            Ok(attr) => reply.entry(&self.entry_ttl, &attr, Generation(0)),
            Err(e) => reply.error(e),
        }
    }

    fn rmdir(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEmpty) {
        let Some(dir) = self.path_of(parent) else { return reply.error(Errno::ESTALE) };
        match std::fs::remove_dir(dir.join(name)) {
            Ok(()) => reply.ok(),
            Err(e) => reply.error(Errno::from(e)),
        }
    }
}
