//! The one way hlab writes a file: [`write_atomic`].
//!
//! Every save (`save_npy`, `save_params`, `save_svg`, the REPL's `:save`)
//! goes through it, so a save can neither destroy nor follow nor loosen:
//!
//! - the target must be a regular file or absent — a device, FIFO, socket
//!   or folder is refused (saving over `/dev/null` must not replace it);
//!   a symbolic link to a regular file is followed and the real file is
//!   replaced in its own folder, as editors do;
//! - the bytes go to a temporary file created exclusively (`O_EXCL`, which
//!   never follows a symbolic link) under an unpredictable name in the
//!   target's folder, are flushed to disk, and the file is renamed over the
//!   target, whose folder is then synced: a failed or killed save leaves
//!   the old file as it was;
//! - the new file keeps the old file's permission bits (a new file gets
//!   `0o666` less the umask, as `File::create` would);
//! - temporary files of hlab's naming that a killed save left behind are
//!   removed by the next save to that folder, but only when the process
//!   named in them is gone and the file is older than an hour.

use crate::error::{Error, Result};
use std::ffi::OsString;
use std::fs;
use std::io::Write;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

/// The suffix of hlab's temporary files: `.NAME.PID.RANDOM.hlab-tmp`.
const TMP_SUFFIX: &str = ".hlab-tmp";

/// How old a dead process's temporary file must be before a save removes it.
const STALE_AFTER: Duration = Duration::from_secs(3600);

/// 64 unpredictable bits (std's per-process random hash keys, mixed with a
/// counter and the clock).
pub fn random_u64() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    h.write_u128(
        SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos()),
    );
    h.finish()
}

/// What a non-regular file is, for the error message.
fn kind_of(ft: &fs::FileType) -> &'static str {
    use std::os::unix::fs::FileTypeExt;
    if ft.is_dir() {
        "a directory"
    } else if ft.is_char_device() {
        "a character device"
    } else if ft.is_block_device() {
        "a block device"
    } else if ft.is_fifo() {
        "a FIFO (named pipe)"
    } else if ft.is_socket() {
        "a socket"
    } else if ft.is_symlink() {
        "a symbolic link"
    } else {
        "not a regular file"
    }
}

/// The file a save to `path` replaces: `path` itself, or the end of its
/// chain of symbolic links; with the old file's permission bits when it
/// exists. Refuses anything but a regular file or a new name.
fn resolve_target(op: &'static str, path: &Path) -> Result<(PathBuf, Option<u32>)> {
    let expected = "expected a regular file or a new file name";
    match fs::symlink_metadata(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok((path.to_path_buf(), None)),
        Err(e) => Err(Error::io(op, path, e)),
        Ok(md) if md.file_type().is_symlink() => {
            let real = fs::canonicalize(path).map_err(|_| {
                Error::io(
                    op,
                    path,
                    format!("{expected}, got a symbolic link to a missing file"),
                )
            })?;
            let rmd = fs::metadata(&real).map_err(|e| Error::io(op, path, e))?;
            if !rmd.file_type().is_file() {
                return Err(Error::io(
                    op,
                    path,
                    format!(
                        "{expected}, got a symbolic link to {}",
                        kind_of(&rmd.file_type())
                    ),
                ));
            }
            Ok((real, Some(rmd.permissions().mode() & 0o777)))
        }
        Ok(md) if md.file_type().is_file() => {
            Ok((path.to_path_buf(), Some(md.permissions().mode() & 0o777)))
        }
        Ok(md) if md.file_type().is_dir() => {
            Err(Error::io(op, path, format!("is a directory, {expected}")))
        }
        Ok(md) => Err(Error::io(
            op,
            path,
            format!("{expected}, got {}", kind_of(&md.file_type())),
        )),
    }
}

/// True when process `pid` exists (signal 0 probes without sending).
pub fn process_alive(pid: u32) -> bool {
    let Ok(p) = libc::pid_t::try_from(pid) else {
        return false;
    };
    if p <= 0 {
        return false;
    }
    // SAFETY: kill with signal 0 only checks that the process exists.
    let r = unsafe { libc::kill(p, 0) };
    r == 0 || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
}

/// The pid named in one of our temporary file names, if `name` is one.
fn tmp_pid(name: &str) -> Option<u32> {
    let rest = name.strip_prefix('.')?.strip_suffix(TMP_SUFFIX)?;
    let mut parts = rest.rsplitn(3, '.');
    let random = parts.next()?;
    let pid = parts.next()?;
    parts.next()?;
    if random.len() != 16 || !random.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    pid.parse().ok()
}

/// Removes temporary files of our naming in `dir` that belong to a process
/// that is gone, are owned by this user and are older than an hour.
fn remove_stale_temps(dir: &Path) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    // SAFETY: getuid has no preconditions.
    let uid = unsafe { libc::getuid() };
    let now = SystemTime::now();
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = name.to_str().and_then(tmp_pid) else {
            continue;
        };
        let Ok(md) = entry.path().symlink_metadata() else {
            continue;
        };
        let old = md
            .modified()
            .ok()
            .and_then(|t| now.duration_since(t).ok())
            .is_some_and(|age| age > STALE_AFTER);
        if md.file_type().is_file()
            && md.uid() == uid
            && old
            && pid != std::process::id()
            && !process_alive(pid)
        {
            let _ = fs::remove_file(entry.path());
        }
    }
}

/// The process's umask, read from `/proc/self/status` (changing it to read
/// it would race with other threads); `0o022` where that is unavailable.
fn umask() -> u32 {
    fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("Umask:"))
                .and_then(|v| u32::from_str_radix(v.trim(), 8).ok())
        })
        .unwrap_or(0o022)
}

/// Writes `bytes` to `path` atomically (see the module documentation);
/// errors name `op` and `path`.
pub fn write_atomic(op: &'static str, path: &Path, bytes: &[u8]) -> Result<()> {
    let (target, mode) = resolve_target(op, path)?;
    let Some(name) = target.file_name() else {
        return Err(Error::io(op, path, "expected a file name, got none"));
    };
    let dir = match target.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    remove_stale_temps(&dir);
    let mut tmp_name = OsString::from(".");
    tmp_name.push(name);
    tmp_name.push(format!(
        ".{}.{:016x}{TMP_SUFFIX}",
        std::process::id(),
        random_u64()
    ));
    let tmp = dir.join(tmp_name);
    let mut file = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(&tmp)
        .map_err(|e| Error::io(op, path, e))?;
    let result = (|| -> std::io::Result<()> {
        file.write_all(bytes)?;
        let mode = match mode {
            Some(m) => m,
            None => 0o666 & !umask(),
        };
        file.set_permissions(fs::Permissions::from_mode(mode))?;
        file.sync_all()?;
        fs::rename(&tmp, &target)?;
        if let Ok(d) = fs::File::open(&dir) {
            let _ = d.sync_all();
        }
        Ok(())
    })();
    drop(file);
    result.map_err(|e| {
        let _ = fs::remove_file(&tmp);
        Error::io(op, path, e)
    })
}

/// The most bytes a script file may have (64 MB): `hlab run /dev/zero`
/// must end with an error, not fill the memory.
pub const MAX_SCRIPT_BYTES: u64 = 64 << 20;

/// Reads a script file for `hlab run` and `hlab check`: at most
/// [`MAX_SCRIPT_BYTES`] (a pipe such as `<(echo …)` is fine, an endless
/// device is refused once it passes the limit), valid UTF-8, a leading
/// byte-order mark dropped.
pub fn read_script(path: &Path) -> Result<String> {
    use std::io::Read;
    let op = "run";
    let f = fs::File::open(path).map_err(|e| Error::io(op, path, e))?;
    if f.metadata().is_ok_and(|m| m.is_dir()) {
        return Err(Error::io(
            op,
            path,
            "is a directory, expected a script file",
        ));
    }
    let mut bytes = Vec::new();
    f.take(MAX_SCRIPT_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| Error::io(op, path, e))?;
    if bytes.len() as u64 > MAX_SCRIPT_BYTES {
        return Err(Error::io(
            op,
            path,
            format!("expected a script of at most {MAX_SCRIPT_BYTES} bytes, got more"),
        ));
    }
    let text = String::from_utf8(bytes).map_err(|e| {
        Error::io(
            op,
            path,
            format!(
                "expected UTF-8 text, got an invalid byte at offset {}",
                e.utf8_error().valid_up_to()
            ),
        )
    })?;
    Ok(match text.strip_prefix('\u{feff}') {
        Some(rest) => rest.to_string(),
        None => text,
    })
}

/// This process's private scratch folder, `$TMPDIR/hlab-PID-RANDOM`:
/// created exclusively, mode `0o700`, on first use. Each use checks that it
/// is still the folder this process created (a real folder, not a link,
/// owned by this user, closed to others); anything else is refused.
pub fn private_temp_dir() -> std::result::Result<PathBuf, String> {
    use std::os::unix::fs::DirBuilderExt;
    static DIR: std::sync::OnceLock<std::result::Result<PathBuf, String>> =
        std::sync::OnceLock::new();
    let dir = DIR.get_or_init(|| {
        let base = std::env::temp_dir();
        let mut last = String::new();
        for _ in 0..16 {
            let d = base.join(format!(
                "hlab-{}-{:08x}",
                std::process::id(),
                random_u64() as u32
            ));
            match fs::DirBuilder::new().mode(0o700).create(&d) {
                Ok(()) => return Ok(d),
                Err(e) => last = format!("{}: {e}", d.display()),
            }
        }
        Err(last)
    });
    let dir = dir.clone()?;
    // SAFETY: getuid has no preconditions.
    let uid = unsafe { libc::getuid() };
    let md = fs::symlink_metadata(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    if !md.file_type().is_dir() || md.uid() != uid || md.mode() & 0o077 != 0 {
        return Err(format!(
            "{}: expected the private folder this process created (owned by uid {uid}, mode 700), got {} owned by uid {} with mode {:o}",
            dir.display(),
            kind_of(&md.file_type()).trim_start_matches("a "),
            md.uid(),
            md.mode() & 0o777
        ));
    }
    Ok(dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn temp_names_parse_back_to_their_pid() {
        assert_eq!(tmp_pid(".a.npy.123.0123456789abcdef.hlab-tmp"), Some(123));
        assert_eq!(tmp_pid(".a.npy.123.0123.hlab-tmp"), None);
        assert_eq!(tmp_pid("a.npy"), None);
        assert_eq!(tmp_pid(".x.0123456789abcdef.hlab-tmp"), None);
    }
}
