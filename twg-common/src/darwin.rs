//! macOS system calls no safe crate wraps: the per-user temporary directory
//! (`confstr(_CS_DARWIN_USER_TEMP_DIR)`), a process's executable (`proc_pidpath`) and a
//! socket peer's uid (`getpeereid`).
#![allow(unsafe_code)]

use std::ffi::{CStr, OsStr};
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;

/// The user's private temporary directory (`/var/folders/…/T/`, owned by the user, mode
/// 0700): what `TMPDIR` normally holds in a GUI session, and what is left when a shell
/// has no `TMPDIR` (ssh, sudo). `None` when the system cannot give it.
pub fn user_temp_dir() -> Option<PathBuf> {
    // SAFETY: with a null buffer and length 0, confstr only returns the size it needs.
    let len = unsafe { libc::confstr(libc::_CS_DARWIN_USER_TEMP_DIR, std::ptr::null_mut(), 0) };
    if len == 0 {
        return None;
    }
    let mut buf = vec![0u8; len];
    // SAFETY: `buf` is writable for `buf.len()` bytes, the length passed; confstr writes at
    // most that many bytes, NUL included.
    let written = unsafe {
        libc::confstr(
            libc::_CS_DARWIN_USER_TEMP_DIR,
            buf.as_mut_ptr().cast(),
            buf.len(),
        )
    };
    // The value could have grown between the two calls: then it was cut short, so give up.
    if written == 0 || written > buf.len() {
        return None;
    }
    let dir = CStr::from_bytes_until_nul(&buf).ok()?;
    let dir = PathBuf::from(OsStr::from_bytes(dir.to_bytes()));
    dir.is_absolute().then_some(dir)
}

/// The executable of process `pid`, as the kernel recorded it at exec. `None` when the
/// process is gone or not ours to inspect.
pub fn process_path(pid: i32) -> Option<PathBuf> {
    let mut buf = vec![0u8; libc::PROC_PIDPATHINFO_MAXSIZE as usize];
    // SAFETY: `buf` is writable for `buf.len()` bytes, the size passed; proc_pidpath writes
    // at most that many and returns how many it wrote (0 or less on failure).
    let n = unsafe { libc::proc_pidpath(pid, buf.as_mut_ptr().cast(), buf.len() as u32) };
    let n = usize::try_from(n)
        .ok()
        .filter(|&n| n > 0 && n <= buf.len())?;
    buf.truncate(n);
    // The length returned excludes the NUL, but do not rely on it.
    if let Some(nul) = buf.iter().position(|&b| b == 0) {
        buf.truncate(nul);
    }
    Some(PathBuf::from(OsStr::from_bytes(&buf)))
}

/// The effective uid of the process at the other end of a connected Unix socket.
pub fn peer_uid(stream: &std::os::unix::net::UnixStream) -> std::io::Result<u32> {
    use std::os::fd::AsRawFd;
    let mut uid: libc::uid_t = 0;
    let mut gid: libc::gid_t = 0;
    // SAFETY: the descriptor is open for the borrow's lifetime, and both out-pointers point
    // to live locals of the types getpeereid writes.
    let rc = unsafe { libc::getpeereid(stream.as_raw_fd(), &mut uid, &mut gid) };
    if rc != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(uid)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs on a Mac (the Linux cross-check only type-checks it).
    #[test]
    fn user_temp_dir_is_private_and_ours() {
        use std::os::unix::fs::MetadataExt;
        let dir = user_temp_dir().expect("confstr(_CS_DARWIN_USER_TEMP_DIR)");
        let meta = std::fs::metadata(&dir).unwrap();
        assert!(meta.is_dir(), "{}", dir.display());
        assert_eq!(meta.uid(), rustix::process::geteuid().as_raw());
        assert_eq!(meta.mode() & 0o077, 0, "{}", dir.display());
    }

    /// Runs on a Mac (the Linux cross-check only type-checks it).
    #[test]
    fn process_path_names_this_test_binary() {
        let me = i32::try_from(std::process::id()).unwrap();
        let exe = std::env::current_exe().unwrap().canonicalize().unwrap();
        let got = process_path(me).expect("proc_pidpath of our own pid");
        assert_eq!(got.canonicalize().unwrap(), exe);
        assert_eq!(process_path(i32::MAX), None);
    }
}
