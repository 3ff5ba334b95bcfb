//! Finding `libonnxruntime.so`: flag or configuration, then `ORT_DYLIB_PATH`,
//! then the documented default locations.

use std::path::{Path, PathBuf};

/// Where `scripts/fetch-onnxruntime.sh` puts the library, relative to the
/// working directory (the repository root for `make run`).
pub const DEFAULT_ORT_DIR: &str = "vendor/onnxruntime";

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OrtLocation {
    Found(PathBuf),
    /// Nothing found; the candidates that were tried, for the error message.
    Missing(Vec<PathBuf>),
}

const LIB: &str = "libonnxruntime.so";

/// Looks for the library. `configured` comes from `--ort-dylib` or the config
/// file; `env` is the value of `ORT_DYLIB_PATH`; `exe_dir` is the directory of
/// the running binary. An explicitly given path that does not exist is not
/// silently replaced by a default.
pub fn locate_onnxruntime(
    configured: Option<&Path>,
    env: Option<&Path>,
    exe_dir: Option<&Path>,
) -> OrtLocation {
    if let Some(p) = configured.or(env) {
        return if p.is_file() {
            OrtLocation::Found(p.to_path_buf())
        } else {
            OrtLocation::Missing(vec![p.to_path_buf()])
        };
    }
    let mut candidates = vec![Path::new(DEFAULT_ORT_DIR).join(LIB)];
    if let Some(dir) = exe_dir {
        candidates.push(dir.join(LIB));
        // target/{debug,release}/hangar inside the repository
        candidates.push(dir.join("../..").join(DEFAULT_ORT_DIR).join(LIB));
        candidates.push(dir.join("../lib").join(LIB));
    }
    candidates.push(PathBuf::from("/usr/local/lib").join(LIB));
    candidates.push(PathBuf::from("/usr/lib").join(LIB));
    match candidates.iter().find(|p| p.is_file()) {
        Some(p) => OrtLocation::Found(p.clone()),
        None => OrtLocation::Missing(candidates),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn explicit_path_wins_and_is_not_replaced_when_missing() {
        let missing = Path::new("/nonexistent/libonnxruntime.so");
        assert_eq!(
            locate_onnxruntime(Some(missing), None, None),
            OrtLocation::Missing(vec![missing.to_path_buf()])
        );
        let this = std::env::current_exe().unwrap();
        assert_eq!(
            locate_onnxruntime(None, Some(&this), None),
            OrtLocation::Found(this.clone())
        );
        assert_eq!(
            locate_onnxruntime(Some(&this), Some(missing), None),
            OrtLocation::Found(this)
        );
    }
}
