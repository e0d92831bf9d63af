//! Windows system calls no safe crate wraps, behind safe functions: write-through rename,
//! byte-range locks, the user SID of this process or another, the process serving a named
//! pipe, waiting for a process to end, and an owner-only security descriptor for the pipe.
//!
//! The only unsafe code in twg-common lives here; every block says why it is sound.
//!
//! Why over 400 lines: keeping every unsafe block of twg-common in one file, with its
//! tests, is the point.
#![allow(unsafe_code)]

use std::ffi::c_void;
use std::fs::File;
use std::io;
use std::os::windows::ffi::OsStrExt;
use std::os::windows::io::{AsRawHandle, FromRawHandle, OwnedHandle, RawHandle};
use std::path::Path;
use std::time::Duration;
use windows_sys::Win32::Foundation::{
    ERROR_ACCESS_DENIED, ERROR_INSUFFICIENT_BUFFER, ERROR_INVALID_PARAMETER, ERROR_LOCK_VIOLATION,
    ERROR_SHARING_VIOLATION, HANDLE, LocalFree, WAIT_OBJECT_0, WAIT_TIMEOUT,
};
use windows_sys::Win32::Security::Authorization::{
    ConvertSidToStringSidW, ConvertStringSecurityDescriptorToSecurityDescriptorW, SDDL_REVISION_1,
};
use windows_sys::Win32::Security::{
    EqualSid, GetLengthSid, GetTokenInformation, PSECURITY_DESCRIPTOR, SECURITY_ATTRIBUTES,
    TOKEN_QUERY, TOKEN_USER, TokenUser,
};
use windows_sys::Win32::Storage::FileSystem::{
    LOCKFILE_EXCLUSIVE_LOCK, LOCKFILE_FAIL_IMMEDIATELY, LockFileEx, MOVEFILE_REPLACE_EXISTING,
    MOVEFILE_WRITE_THROUGH, MoveFileExW,
};
use windows_sys::Win32::System::IO::OVERLAPPED;
use windows_sys::Win32::System::Pipes::GetNamedPipeServerProcessId;
use windows_sys::Win32::System::Threading::{
    GetCurrentProcess, OpenProcess, OpenProcessToken, PROCESS_QUERY_LIMITED_INFORMATION,
    PROCESS_SYNCHRONIZE, WaitForSingleObject,
};

fn wide(s: &std::ffi::OsStr) -> Vec<u16> {
    s.encode_wide().chain(std::iter::once(0)).collect()
}

/// Renames `from` over `to`, returning only once the rename is on disk
/// (`MOVEFILE_WRITE_THROUGH`): without it a power loss can bring back the old file, and with
/// it a spent refresh token.
///
/// A file that another process has open cannot be replaced on Windows (`MoveFileExW` fails
/// with access denied or a sharing violation even when every handle shares delete), and
/// readers of `auth.conf` take no lock: they hold it open for the moment a read takes. So
/// those two errors are retried, for up to about 1.3 s, before the save counts as failed.
/// Seen under Wine: six concurrent fallback clients, one failing its preflight save.
pub fn rename_write_through(from: &Path, to: &Path) -> io::Result<()> {
    let (from, to) = (wide(from.as_os_str()), wide(to.as_os_str()));
    let mut attempt = 0u32;
    loop {
        // SAFETY: both are NUL-terminated UTF-16 strings that outlive the call.
        let ok = unsafe {
            MoveFileExW(
                from.as_ptr(),
                to.as_ptr(),
                MOVEFILE_REPLACE_EXISTING | MOVEFILE_WRITE_THROUGH,
            )
        };
        if ok != 0 {
            return Ok(());
        }
        let err = io::Error::last_os_error();
        let held_open = matches!(
            err.raw_os_error().map(|c| c as u32),
            Some(ERROR_ACCESS_DENIED | ERROR_SHARING_VIOLATION)
        );
        if !held_open || attempt >= RENAME_RETRIES {
            return Err(err);
        }
        attempt += 1;
        std::thread::sleep(Duration::from_millis(u64::from(attempt.min(10)) * 5));
    }
}

/// Retries of a rename over a file another process holds open: 5 ms, 10 ms, … then 50 ms
/// apart, about 1.3 s in all.
const RENAME_RETRIES: u32 = 30;

/// Takes an exclusive lock on `len` bytes at `offset` of `file` without waiting. `Ok(false)`
/// when another handle holds it. The lock ends when the handle closes (also when the
/// process dies). Locking a range past the end of the file is allowed, and leaves the
/// file's content readable and writable through other handles.
pub fn try_lock_range(file: &File, offset: u64, len: u64) -> io::Result<bool> {
    let mut overlapped = OVERLAPPED::default();
    overlapped.Anonymous.Anonymous.Offset = offset as u32;
    overlapped.Anonymous.Anonymous.OffsetHigh = (offset >> 32) as u32;
    // SAFETY: the handle is open for the call's duration; `overlapped` is a valid, zeroed
    // OVERLAPPED that lives until the call returns (the file is not opened for overlapped
    // I/O, so the call completes synchronously and keeps no pointer to it).
    let ok = unsafe {
        LockFileEx(
            file.as_raw_handle() as HANDLE,
            LOCKFILE_EXCLUSIVE_LOCK | LOCKFILE_FAIL_IMMEDIATELY,
            0,
            len as u32,
            (len >> 32) as u32,
            &mut overlapped,
        )
    };
    if ok != 0 {
        return Ok(true);
    }
    let e = io::Error::last_os_error();
    if e.raw_os_error() == Some(ERROR_LOCK_VIOLATION as i32) {
        return Ok(false);
    }
    Err(e)
}

/// A copy of a security identifier (a user's SID).
#[derive(Clone, PartialEq, Eq)]
pub struct Sid(Vec<u8>);

impl Sid {
    fn as_psid(&self) -> *mut c_void {
        self.0.as_ptr() as *mut c_void
    }

    /// The `S-1-5-21-…` form.
    pub fn to_string_sid(&self) -> io::Result<String> {
        let mut out: *mut u16 = std::ptr::null_mut();
        // SAFETY: `self.0` holds a valid SID copied from a token; on success `out` points
        // at a NUL-terminated string allocated with LocalAlloc, read once and freed here.
        unsafe {
            if ConvertSidToStringSidW(self.as_psid(), &mut out) == 0 {
                return Err(io::Error::last_os_error());
            }
            let mut len = 0;
            while *out.add(len) != 0 {
                len += 1;
            }
            let s = String::from_utf16_lossy(std::slice::from_raw_parts(out, len));
            LocalFree(out as *mut c_void);
            Ok(s)
        }
    }

    /// `EqualSid`, the system's own comparison.
    pub fn same_as(&self, other: &Sid) -> bool {
        // SAFETY: both buffers hold valid SIDs copied from tokens and outlive the call.
        unsafe { EqualSid(self.as_psid(), other.as_psid()) != 0 }
    }
}

impl std::fmt::Debug for Sid {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.to_string_sid() {
            Ok(s) => f.write_str(&s),
            Err(_) => f.write_str("<sid>"),
        }
    }
}

fn owned(handle: HANDLE) -> io::Result<OwnedHandle> {
    if handle.is_null() {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: a non-null handle just returned to us by OpenProcess/OpenProcessToken, owned
    // by nobody else; OwnedHandle closes it once.
    Ok(unsafe { OwnedHandle::from_raw_handle(handle as RawHandle) })
}

/// The user SID in the access token of the process behind `process` (a process handle
/// with query rights).
fn token_user(process: HANDLE) -> io::Result<Sid> {
    let mut token: HANDLE = std::ptr::null_mut();
    // SAFETY: `process` is a valid process handle for the call; `token` receives a new
    // handle that `owned` takes over.
    if unsafe { OpenProcessToken(process, TOKEN_QUERY, &mut token) } == 0 {
        return Err(io::Error::last_os_error());
    }
    let token = owned(token)?;
    let mut needed = 0u32;
    // SAFETY: a size query (null buffer, length 0): it only writes `needed`.
    let ok = unsafe {
        GetTokenInformation(
            token.as_raw_handle() as HANDLE,
            TokenUser,
            std::ptr::null_mut(),
            0,
            &mut needed,
        )
    };
    let e = io::Error::last_os_error();
    if ok == 0 && e.raw_os_error() != Some(ERROR_INSUFFICIENT_BUFFER as i32) {
        return Err(e);
    }
    // u64 words keep the buffer aligned for TOKEN_USER.
    let mut buf = vec![0u64; (needed as usize).div_ceil(8).max(1)];
    // SAFETY: `buf` is writable for `needed` bytes and aligned for TOKEN_USER; on success
    // it holds a TOKEN_USER whose SID pointer points into `buf`, valid while `buf` lives,
    // and GetLengthSid gives that SID's length, which is copied out before `buf` drops.
    unsafe {
        if GetTokenInformation(
            token.as_raw_handle() as HANDLE,
            TokenUser,
            buf.as_mut_ptr() as *mut c_void,
            needed,
            &mut needed,
        ) == 0
        {
            return Err(io::Error::last_os_error());
        }
        let user = &*(buf.as_ptr() as *const TOKEN_USER);
        let sid = user.User.Sid;
        let len = GetLengthSid(sid) as usize;
        Ok(Sid(
            std::slice::from_raw_parts(sid as *const u8, len).to_vec()
        ))
    }
}

/// This process's user.
pub fn current_user() -> io::Result<Sid> {
    // SAFETY: GetCurrentProcess returns a pseudo-handle that needs no closing.
    token_user(unsafe { GetCurrentProcess() })
}

/// The user the process `pid` runs as.
pub fn process_user(pid: u32) -> io::Result<Sid> {
    // SAFETY: OpenProcess has no pointer arguments; `owned` checks the result.
    let process = owned(unsafe { OpenProcess(PROCESS_QUERY_LIMITED_INFORMATION, 0, pid) })?;
    token_user(process.as_raw_handle() as HANDLE)
}

/// The pid of the process serving the named pipe `pipe` (a client handle).
pub fn pipe_server_pid(pipe: &impl AsRawHandle) -> io::Result<u32> {
    let mut pid = 0u32;
    // SAFETY: the handle is a connected pipe client handle, open for the call.
    if unsafe { GetNamedPipeServerProcessId(pipe.as_raw_handle() as HANDLE, &mut pid) } == 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(pid)
}

/// Opens the named pipe `name` for blocking reads and writes as a client that allows the
/// server to identify it but not to impersonate it: without that (std sets no quality of
/// service by default), whatever serves the pipe, a squatter included, could act as this
/// user with the client's own token before the client has checked who it is. tokio's pipe
/// client, which the full CLI uses, sets the same.
pub fn open_pipe_client(name: &str) -> io::Result<File> {
    use std::os::windows::fs::OpenOptionsExt;
    use windows_sys::Win32::Storage::FileSystem::{SECURITY_IDENTIFICATION, SECURITY_SQOS_PRESENT};
    std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .security_qos_flags(SECURITY_IDENTIFICATION | SECURITY_SQOS_PRESENT)
        .open(name)
}

/// Cancels the synchronous I/O (a blocking pipe read) that `thread` is waiting in, so the
/// call returns with an error and the thread can end.
pub fn cancel_blocking_io(thread: &impl AsRawHandle) -> io::Result<()> {
    // SAFETY: the handle is a live thread handle (a JoinHandle's), open for the call.
    let ok = unsafe {
        windows_sys::Win32::System::IO::CancelSynchronousIo(thread.as_raw_handle() as HANDLE)
    };
    if ok == 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Waits up to `timeout` for the process `pid` to end. `Ok(true)` when it has ended (or
/// never existed), `Ok(false)` when it still runs.
pub fn wait_process_exit(pid: u32, timeout: Duration) -> io::Result<bool> {
    // SAFETY: no pointer arguments; the result is checked below.
    let raw = unsafe { OpenProcess(PROCESS_SYNCHRONIZE, 0, pid) };
    if raw.is_null() {
        let e = io::Error::last_os_error();
        // No such process: it is gone (and its pid not reused by anything we may wait on).
        if e.raw_os_error() == Some(ERROR_INVALID_PARAMETER as i32) {
            return Ok(true);
        }
        return Err(e);
    }
    let process = owned(raw)?;
    let ms = u32::try_from(timeout.as_millis())
        .unwrap_or(u32::MAX - 1)
        .min(u32::MAX - 1);
    // SAFETY: `process` is a valid handle with SYNCHRONIZE access for the call.
    match unsafe { WaitForSingleObject(process.as_raw_handle() as HANDLE, ms) } {
        WAIT_OBJECT_0 => Ok(true),
        WAIT_TIMEOUT => Ok(false),
        _ => Err(io::Error::last_os_error()),
    }
}

/// The DACL of the object behind `handle` (a pipe, a file) in SDDL, e.g. `D:P(A;;FA;;;S-1-…)`.
pub fn dacl_sddl(handle: &impl AsRawHandle) -> io::Result<String> {
    use windows_sys::Win32::Security::Authorization::{
        ConvertSecurityDescriptorToStringSecurityDescriptorW, GetSecurityInfo, SE_KERNEL_OBJECT,
    };
    use windows_sys::Win32::Security::DACL_SECURITY_INFORMATION;
    let mut descriptor: PSECURITY_DESCRIPTOR = std::ptr::null_mut();
    // SAFETY: the handle is open for the call; only the descriptor out-pointer is asked
    // for (the others are null), and on success it owns a LocalAlloc'd block freed below.
    let status = unsafe {
        GetSecurityInfo(
            handle.as_raw_handle() as HANDLE,
            SE_KERNEL_OBJECT,
            DACL_SECURITY_INFORMATION,
            std::ptr::null_mut(),
            std::ptr::null_mut(),
            std::ptr::null_mut(),
            std::ptr::null_mut(),
            &mut descriptor,
        )
    };
    if status != 0 {
        return Err(io::Error::from_raw_os_error(status as i32));
    }
    let mut text: *mut u16 = std::ptr::null_mut();
    // SAFETY: `descriptor` is the valid descriptor just returned; on success `text` is a
    // NUL-terminated LocalAlloc'd string, read once; both blocks are freed once.
    unsafe {
        let ok = ConvertSecurityDescriptorToStringSecurityDescriptorW(
            descriptor,
            SDDL_REVISION_1,
            DACL_SECURITY_INFORMATION,
            &mut text,
            std::ptr::null_mut(),
        );
        let result = if ok == 0 {
            Err(io::Error::last_os_error())
        } else {
            let mut len = 0;
            while *text.add(len) != 0 {
                len += 1;
            }
            let s = String::from_utf16_lossy(std::slice::from_raw_parts(text, len));
            LocalFree(text as *mut c_void);
            Ok(s)
        };
        LocalFree(descriptor);
        result
    }
}

/// Detaches from this process's console when no other process shares it (a console that
/// was created for us, as Task Scheduler does, and whose window closes with it). A console
/// shared with a shell is left alone. `Ok(true)` when detached.
pub fn free_own_console() -> io::Result<bool> {
    use windows_sys::Win32::System::Console::{FreeConsole, GetConsoleProcessList};
    let mut pids = [0u32; 2];
    // SAFETY: `pids` is writable for 2 entries, the length passed.
    let n = unsafe { GetConsoleProcessList(pids.as_mut_ptr(), 2) };
    if n != 1 {
        // 0: no console at all; 2 or more: someone else's console.
        return Ok(false);
    }
    // SAFETY: no arguments; only detaches this process from its console.
    if unsafe { FreeConsole() } == 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(true)
}

/// A security descriptor whose DACL grants everything to one user and nothing to anyone
/// else (`D:P(A;;GA;;;<sid>)`: protected, so no inherited entries are added).
pub struct OwnerOnly {
    descriptor: PSECURITY_DESCRIPTOR,
    attributes: SECURITY_ATTRIBUTES,
}

// SAFETY: the descriptor is built once and never written again; the raw pointers only
// point at that immutable LocalAlloc'd block, freed in Drop.
unsafe impl Send for OwnerOnly {}
// SAFETY: as above, shared access only reads it.
unsafe impl Sync for OwnerOnly {}

impl std::fmt::Debug for OwnerOnly {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("OwnerOnly")
    }
}

/// The SDDL of [`OwnerOnly`] for `sid`.
pub fn owner_only_sddl(sid: &str) -> String {
    format!("D:P(A;;GA;;;{sid})")
}

impl OwnerOnly {
    /// For the current user.
    pub fn current_user() -> io::Result<Self> {
        let sddl = owner_only_sddl(&current_user()?.to_string_sid()?);
        let text = wide(std::ffi::OsStr::new(&sddl));
        let mut descriptor: PSECURITY_DESCRIPTOR = std::ptr::null_mut();
        // SAFETY: `text` is a NUL-terminated UTF-16 string alive for the call; on success
        // `descriptor` owns a LocalAlloc'd block freed in Drop.
        let ok = unsafe {
            ConvertStringSecurityDescriptorToSecurityDescriptorW(
                text.as_ptr(),
                SDDL_REVISION_1,
                &mut descriptor,
                std::ptr::null_mut(),
            )
        };
        if ok == 0 {
            return Err(io::Error::last_os_error());
        }
        let attributes = SECURITY_ATTRIBUTES {
            nLength: std::mem::size_of::<SECURITY_ATTRIBUTES>() as u32,
            lpSecurityDescriptor: descriptor,
            bInheritHandle: 0,
        };
        Ok(Self {
            descriptor,
            attributes,
        })
    }

    /// A `SECURITY_ATTRIBUTES*` for `CreateNamedPipeW`, valid while `self` lives.
    pub fn attributes(&self) -> *mut c_void {
        &self.attributes as *const SECURITY_ATTRIBUTES as *mut c_void
    }
}

impl Drop for OwnerOnly {
    fn drop(&mut self) {
        // SAFETY: allocated by ConvertStringSecurityDescriptorToSecurityDescriptorW with
        // LocalAlloc, freed once.
        unsafe { LocalFree(self.descriptor) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The impersonation level the client of the server end `pipe` granted (it must have
    /// written first: a pipe server can impersonate only after reading).
    fn client_impersonation_level(pipe: &impl AsRawHandle) -> io::Result<i32> {
        use windows_sys::Win32::Security::{RevertToSelf, TokenImpersonationLevel};
        use windows_sys::Win32::System::Pipes::ImpersonateNamedPipeClient;
        use windows_sys::Win32::System::Threading::{GetCurrentThread, OpenThreadToken};
        // SAFETY: the handle is a connected pipe server handle, open for the call.
        if unsafe { ImpersonateNamedPipeClient(pipe.as_raw_handle() as HANDLE) } == 0 {
            return Err(io::Error::last_os_error());
        }
        let mut token: HANDLE = std::ptr::null_mut();
        // SAFETY: `token` is a live out-pointer; the thread handle is a pseudo-handle.
        let opened = unsafe { OpenThreadToken(GetCurrentThread(), TOKEN_QUERY, 1, &mut token) };
        let opened = if opened == 0 {
            Err(io::Error::last_os_error())
        } else {
            owned(token)
        };
        // SAFETY: no arguments; ends the impersonation begun above on this thread.
        unsafe { RevertToSelf() };
        let token = opened?;
        let mut level = 0i32;
        let mut len = 0u32;
        // SAFETY: `level` is a live i32, the size TokenImpersonationLevel writes.
        let ok = unsafe {
            GetTokenInformation(
                token.as_raw_handle() as HANDLE,
                TokenImpersonationLevel,
                (&mut level as *mut i32).cast(),
                std::mem::size_of::<i32>() as u32,
                &mut len,
            )
        };
        if ok == 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(level)
    }

    #[test]
    #[ignore = "Wine 8.0 grants impersonation whatever the client asks (tokio's client, which \
                asks for identification, gets it too); run on Windows with --ignored"]
    fn a_pipe_server_can_identify_the_quick_client_but_not_impersonate_it() {
        use std::io::Write;
        use windows_sys::Win32::Security::SecurityIdentification;
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let name = format!(r"\\.\pipe\twg-test-qos-{}", std::process::id());
        let level = rt.block_on(async {
            let mut server = tokio::net::windows::named_pipe::ServerOptions::new()
                .create(&name)
                .unwrap();
            let client_name = name.clone();
            let client = std::thread::spawn(move || {
                let mut pipe = open_pipe_client(&client_name).unwrap();
                pipe.write_all(b"x").unwrap();
                pipe
            });
            server.connect().await.unwrap();
            let mut byte = [0u8; 1];
            tokio::io::AsyncReadExt::read_exact(&mut server, &mut byte)
                .await
                .unwrap();
            let level = client_impersonation_level(&server);
            drop(client.join().unwrap());
            level
        });
        assert_eq!(level.unwrap(), SecurityIdentification);
    }

    #[test]
    fn a_rename_over_a_file_another_handle_reads_waits_for_it() {
        let dir = tempfile::tempdir().unwrap();
        let (from, to) = (dir.path().join("new"), dir.path().join("auth.conf"));
        std::fs::write(&from, b"new").unwrap();
        std::fs::write(&to, b"old").unwrap();
        // A reader, as an unlocked load of auth.conf is, holding the file for 200 ms.
        let reader = std::fs::File::open(&to).unwrap();
        let closer = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(200));
            drop(reader);
        });
        rename_write_through(&from, &to).unwrap();
        closer.join().unwrap();
        assert_eq!(std::fs::read(&to).unwrap(), b"new");
        assert!(!from.exists());
    }

    #[test]
    fn this_process_runs_as_the_current_user() {
        let me = current_user().unwrap();
        let sid = me.to_string_sid().unwrap();
        assert!(sid.starts_with("S-1-"), "{sid}");
        assert!(process_user(std::process::id()).unwrap().same_as(&me));
        assert_eq!(owner_only_sddl(&sid), format!("D:P(A;;GA;;;{sid})"));
        OwnerOnly::current_user().unwrap();
    }

    #[test]
    fn waiting_on_a_running_then_ended_process() {
        let mut child = std::process::Command::new(std::env::current_exe().unwrap())
            .arg("--help")
            .stdout(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let pid = child.id();
        child.wait().unwrap();
        assert!(wait_process_exit(pid, Duration::from_millis(10)).unwrap());
        assert!(!wait_process_exit(std::process::id(), Duration::from_millis(10)).unwrap());
    }
}
