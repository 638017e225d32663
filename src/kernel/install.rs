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
//! kernel Jupyter starts is the one that installed it. The logos are drawn
//! here (a spectrum: a bulk of small bars and one outlier) and written as
//! PNG, so the repository carries no binary files.

use crate::error::{Error, Result};
use serde_json::json;
use std::io::Write;
use std::path::{Path, PathBuf};

/// The kernelspec's name (the directory under `kernels/`).
pub const KERNEL_NAME: &str = "hlab";

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
    for size in [32u32, 64] {
        let png = logo_png(size);
        write_file(&dir.join(format!("logo-{size}x{size}.png")), &png)?;
    }
    Ok(dir)
}

fn write_file(path: &Path, bytes: &[u8]) -> Result<()> {
    crate::fsio::write_atomic("kernel install", path, bytes)
}

/// The logo as RGBA pixels, `size`×`size`: a rounded dark square with a bulk
/// of short blue bars and one tall orange outlier.
pub fn logo_rgba(size: u32) -> Vec<u8> {
    let s = size as f64;
    let mut px = vec![0u8; (size * size * 4) as usize];
    let radius = s * 0.18;
    let bg = [31u8, 42, 68, 255];
    let bulk = [120u8, 180, 240, 255];
    let outlier = [245u8, 150, 40, 255];
    // Bars: 7 bulk heights then the outlier, as fractions of the size.
    let heights = [0.16, 0.22, 0.28, 0.24, 0.18, 0.14, 0.10, 0.66];
    let left = s * 0.14;
    let width = s * 0.72;
    let step = width / heights.len() as f64;
    let base = s * 0.84;
    for y in 0..size {
        for x in 0..size {
            let (fx, fy) = (x as f64 + 0.5, y as f64 + 0.5);
            // Rounded-rectangle mask.
            let dx = (radius - fx).max(fx - (s - radius)).max(0.0);
            let dy = (radius - fy).max(fy - (s - radius)).max(0.0);
            if dx * dx + dy * dy > radius * radius {
                continue;
            }
            let mut c = bg;
            let k = ((fx - left) / step).floor();
            if k >= 0.0 && (k as usize) < heights.len() {
                let within = fx - left - k * step;
                let h = heights[k as usize] * s;
                if within > step * 0.15 && within < step * 0.85 && fy <= base && fy >= base - h {
                    c = if k as usize == heights.len() - 1 {
                        outlier
                    } else {
                        bulk
                    };
                }
            }
            let i = ((y * size + x) * 4) as usize;
            px[i..i + 4].copy_from_slice(&c);
        }
    }
    px
}

/// The logo as a PNG file.
pub fn logo_png(size: u32) -> Vec<u8> {
    encode_png(size, size, &logo_rgba(size))
}

/// A minimal PNG encoder: 8-bit RGBA, no filtering, zlib via `flate2`.
fn encode_png(width: u32, height: u32, rgba: &[u8]) -> Vec<u8> {
    fn chunk(out: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
        out.extend((data.len() as u32).to_be_bytes());
        out.extend(kind);
        out.extend(data);
        let mut crc = flate2::Crc::new();
        crc.update(kind);
        crc.update(data);
        out.extend(crc.sum().to_be_bytes());
    }
    let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut ihdr = Vec::new();
    ihdr.extend(width.to_be_bytes());
    ihdr.extend(height.to_be_bytes());
    ihdr.extend([8u8, 6, 0, 0, 0]);
    chunk(&mut out, b"IHDR", &ihdr);
    let row = (width * 4) as usize;
    let mut raw = Vec::with_capacity((row + 1) * height as usize);
    for line in rgba.chunks(row) {
        raw.push(0);
        raw.extend(line);
    }
    let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::best());
    let compressed = match z.write_all(&raw) {
        Ok(()) => z.finish().unwrap_or_default(),
        Err(_) => Vec::new(),
    };
    chunk(&mut out, b"IDAT", &compressed);
    chunk(&mut out, b"IEND", &[]);
    out
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
            let png = std::fs::read(got.join(format!("logo-{size}x{size}.png"))).unwrap();
            assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"));
            assert!(png.len() < 4096, "logo {size} is {} bytes", png.len());
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn png_decodes_back_to_the_pixels() {
        let png = logo_png(32);
        // IHDR: width and height.
        assert_eq!(&png[16..24], &[0, 0, 0, 32, 0, 0, 0, 32]);
        // IDAT follows IHDR (8 + 25 bytes in); inflate it back.
        let len = u32::from_be_bytes([png[33], png[34], png[35], png[36]]) as usize;
        assert_eq!(&png[37..41], b"IDAT");
        let mut raw = Vec::new();
        flate2::read::ZlibDecoder::new(&png[41..41 + len])
            .read_to_end(&mut raw)
            .unwrap();
        assert_eq!(raw.len(), 32 * (32 * 4 + 1));
        let px = logo_rgba(32);
        assert_eq!(&raw[1..129], &px[..128]);
    }
}
