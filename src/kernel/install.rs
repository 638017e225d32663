//! `hlab kernel install`: writes the kernelspec `hlab` (kernel.json and two
//! logos) where Jupyter looks for kernels.
//!
//! | flag | directory |
//! |---|---|
//! | `--user` (default) | `$JUPYTER_DATA_DIR/kernels/hlab`, else the platform's user data dir (`~/.local/share/jupyter/kernels/hlab` on Linux) |
//! | `--sys-prefix` | `PREFIX/share/jupyter/kernels/hlab` for the active Python environment (`$VIRTUAL_ENV`, `$CONDA_PREFIX`, else `python3`'s `sys.prefix`) |
//! | `--prefix P` | `P/share/jupyter/kernels/hlab` |
//!
//! `argv` holds the absolute path of the running `hlab` binary, so the
//! kernel Jupyter starts is the one that installed it. The logos (a
//! spectrum: a bulk of small bars and one outlier) are two static PNGs in
//! `assets/`, built into the binary.

use crate::error::{Error, Result};
use serde_json::json;
use std::path::{Path, PathBuf};

/// The kernelspec's name (the directory under `kernels/`).
pub const KERNEL_NAME: &str = "hlab";

/// The kernelspec's logos, as Jupyter names them: file name and PNG bytes.
pub const LOGOS: [(&str, &[u8]); 2] = [
    (
        "logo-32x32.png",
        include_bytes!("../../assets/logo-32x32.png"),
    ),
    (
        "logo-64x64.png",
        include_bytes!("../../assets/logo-64x64.png"),
    ),
];

/// Where to install the kernelspec.
#[derive(Clone, Debug, PartialEq)]
pub enum Target {
    /// The user's Jupyter data directory.
    User,
    /// The active Python environment.
    SysPrefix,
    /// `P/share/jupyter/kernels`.
    Prefix(PathBuf),
}

/// The kernel.json for a kernel started as `exe kernel --connection-file F`.
pub fn kernel_json(exe: &Path) -> serde_json::Value {
    json!({
        "argv": [exe.display().to_string(), "kernel", "--connection-file", "{connection_file}"],
        "display_name": "hlab",
        "language": "rhai",
        "interrupt_mode": "message",
        "metadata": { "debugger": false },
    })
}

fn jupyter_user_dir() -> Result<PathBuf> {
    if let Some(d) = std::env::var_os("JUPYTER_DATA_DIR").filter(|d| !d.is_empty()) {
        return Ok(PathBuf::from(d));
    }
    let home = std::env::var_os("HOME")
        .or_else(|| std::env::var_os("USERPROFILE"))
        .map(PathBuf::from);
    if cfg!(target_os = "windows") {
        if let Some(appdata) = std::env::var_os("APPDATA") {
            return Ok(PathBuf::from(appdata).join("jupyter"));
        }
    }
    let home = home.ok_or_else(|| {
        Error::invalid(
            "kernel install",
            "cannot find the home directory (HOME is not set); use --prefix",
        )
    })?;
    if cfg!(target_os = "macos") {
        return Ok(home.join("Library").join("Jupyter"));
    }
    if let Some(x) = std::env::var_os("XDG_DATA_HOME").filter(|d| !d.is_empty()) {
        return Ok(PathBuf::from(x).join("jupyter"));
    }
    Ok(home.join(".local").join("share").join("jupyter"))
}

fn python_sys_prefix() -> Result<PathBuf> {
    for var in ["VIRTUAL_ENV", "CONDA_PREFIX"] {
        if let Some(p) = std::env::var_os(var).filter(|d| !d.is_empty()) {
            return Ok(PathBuf::from(p));
        }
    }
    for python in ["python3", "python"] {
        let out = std::process::Command::new(python)
            .args(["-c", "import sys; print(sys.prefix)"])
            .output();
        if let Ok(out) = out {
            let s = String::from_utf8_lossy(&out.stdout).trim().to_string();
            if out.status.success() && !s.is_empty() {
                return Ok(PathBuf::from(s));
            }
        }
    }
    Err(Error::invalid(
        "kernel install",
        "--sys-prefix: no Python environment found (no VIRTUAL_ENV or CONDA_PREFIX, no python3 on PATH); use --prefix",
    ))
}

/// The directory a target installs the kernelspec into.
pub fn kernel_dir(target: &Target) -> Result<PathBuf> {
    let base = match target {
        Target::User => jupyter_user_dir()?,
        Target::SysPrefix => python_sys_prefix()?.join("share").join("jupyter"),
        Target::Prefix(p) => p.join("share").join("jupyter"),
    };
    Ok(base.join("kernels").join(KERNEL_NAME))
}

/// Installs the kernelspec for the running binary; returns its directory.
pub fn install(target: &Target) -> Result<PathBuf> {
    let exe =
        std::env::current_exe().map_err(|e| Error::invalid("kernel install", e.to_string()))?;
    let exe = exe.canonicalize().unwrap_or(exe);
    install_for(target, &exe)
}

/// Installs a kernelspec whose argv starts with `exe`.
pub fn install_for(target: &Target, exe: &Path) -> Result<PathBuf> {
    let dir = kernel_dir(target)?;
    let op = "kernel install";
    std::fs::create_dir_all(&dir).map_err(|e| Error::io(op, &dir, e))?;
    let spec = serde_json::to_string_pretty(&kernel_json(exe))
        .map_err(|e| Error::invalid(op, e.to_string()))?;
    write_file(&dir.join("kernel.json"), spec.as_bytes())?;
    for (name, png) in LOGOS {
        write_file(&dir.join(name), png)?;
    }
    Ok(dir)
}

fn write_file(path: &Path, bytes: &[u8]) -> Result<()> {
    crate::fsio::write_atomic("kernel install", path, bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    #[test]
    fn kernel_json_has_the_fields_jupyter_needs() {
        let j = kernel_json(Path::new("/opt/hlab/bin/hlab"));
        assert_eq!(
            j["argv"],
            json!([
                "/opt/hlab/bin/hlab",
                "kernel",
                "--connection-file",
                "{connection_file}"
            ])
        );
        assert_eq!(j["language"], "rhai");
        assert_eq!(j["interrupt_mode"], "message");
        assert_eq!(j["display_name"], "hlab");
    }

    #[test]
    fn prefix_install_writes_spec_and_logos() {
        let dir = std::env::temp_dir().join(format!("hlab-kinstall-{}", std::process::id()));
        let got = install_for(&Target::Prefix(dir.clone()), Path::new("/x/hlab")).unwrap();
        assert_eq!(got, dir.join("share/jupyter/kernels/hlab"));
        let spec: serde_json::Value =
            serde_json::from_slice(&std::fs::read(got.join("kernel.json")).unwrap()).unwrap();
        assert_eq!(spec["argv"][0], "/x/hlab");
        for size in [32, 64] {
            let name = format!("logo-{size}x{size}.png");
            let png = std::fs::read(got.join(&name)).unwrap();
            assert_eq!(
                LOGOS.iter().find(|l| l.0 == name).map(|l| l.1),
                Some(&png[..])
            );
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// Each logo is a well-formed PNG of the size its name says: the
    /// signature, an IHDR of that size (8-bit RGBA), every chunk's CRC, and
    /// IDAT data that inflates to one filter byte plus 4 bytes a pixel per
    /// row; IEND last.
    #[test]
    fn logos_are_png_of_their_size() {
        for (name, png) in LOGOS {
            let size: u32 = name["logo-".len()..name.find('x').unwrap()]
                .parse()
                .unwrap();
            assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"), "{name}");
            let mut at = 8;
            let mut kinds = Vec::new();
            let mut idat = Vec::new();
            while at < png.len() {
                let len = u32::from_be_bytes(png[at..at + 4].try_into().unwrap()) as usize;
                let kind = &png[at + 4..at + 8];
                let data = &png[at + 8..at + 8 + len];
                let mut crc = flate2::Crc::new();
                crc.update(kind);
                crc.update(data);
                let want = u32::from_be_bytes(png[at + 8 + len..at + 12 + len].try_into().unwrap());
                assert_eq!(crc.sum(), want, "{name}: CRC of a chunk");
                if kind == b"IHDR" {
                    assert_eq!(
                        &data[..8],
                        &[size.to_be_bytes(), size.to_be_bytes()].concat()[..]
                    );
                    assert_eq!(&data[8..10], &[8, 6], "{name}: 8-bit RGBA");
                }
                if kind == b"IDAT" {
                    idat.extend_from_slice(data);
                }
                kinds.push(String::from_utf8_lossy(kind).to_string());
                at += 12 + len;
            }
            assert_eq!(kinds.first().map(String::as_str), Some("IHDR"), "{name}");
            assert_eq!(kinds.last().map(String::as_str), Some("IEND"), "{name}");
            let mut raw = Vec::new();
            flate2::read::ZlibDecoder::new(&idat[..])
                .read_to_end(&mut raw)
                .unwrap();
            assert_eq!(raw.len(), (size * (size * 4 + 1)) as usize, "{name}");
        }
    }
}
