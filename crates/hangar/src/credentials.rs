//! The tokens `hangar login` stores, one per server URL, in
//! `credentials.json` under the configuration directory: `$HANGAR_CONFIG_DIR`,
//! else `$XDG_CONFIG_HOME/hangar`, else `~/.config/hangar`.
//!
//! The file is created with mode 0600 (written to a temporary file in the
//! same directory, then renamed), so a token never sits readable by others.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;
use serde::{Deserialize, Serialize};

const FILE: &str = "credentials.json";

/// One stored login.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Login {
    pub token: String,
    #[serde(default)]
    pub user: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<String>,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct File {
    /// Server URL (without a trailing slash) → its login.
    #[serde(default)]
    servers: BTreeMap<String, Login>,
}

/// The credentials file, read once.
#[derive(Debug)]
pub struct Store {
    path: PathBuf,
    file: File,
}

/// Where the configuration lives, from the environment given.
fn config_dir(var: impl Fn(&str) -> Option<String>) -> Option<PathBuf> {
    let set = |name: &str| var(name).filter(|v| !v.trim().is_empty());
    if let Some(dir) = set("HANGAR_CONFIG_DIR") {
        return Some(PathBuf::from(dir));
    }
    if let Some(dir) = set("XDG_CONFIG_HOME") {
        return Some(Path::new(&dir).join("hangar"));
    }
    set("HOME").map(|home| Path::new(&home).join(".config").join("hangar"))
}

/// The key a server is stored under: the URL as given, without trailing `/`.
fn key(server: &str) -> String {
    server.trim().trim_end_matches('/').to_owned()
}

impl Store {
    /// Reads the credentials file; a missing file is an empty store.
    pub fn open() -> anyhow::Result<Store> {
        let dir = config_dir(|name| std::env::var(name).ok())
            .context("cannot tell where to keep credentials: set HANGAR_CONFIG_DIR or HOME")?;
        Store::open_in(&dir)
    }

    pub fn open_in(dir: &Path) -> anyhow::Result<Store> {
        let path = dir.join(FILE);
        let file = match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes).with_context(|| {
                format!(
                    "{} is not a Hangar credentials file; remove it and run `hangar login`",
                    path.display()
                )
            })?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => File::default(),
            Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
        };
        Ok(Store { path, file })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn get(&self, server: &str) -> Option<&Login> {
        self.file.servers.get(&key(server))
    }

    pub fn token(&self, server: &str) -> Option<String> {
        self.get(server).map(|l| l.token.clone())
    }

    pub fn set(&mut self, server: &str, login: Login) {
        self.file.servers.insert(key(server), login);
    }

    /// Forgets the server's login; whether there was one.
    pub fn remove(&mut self, server: &str) -> bool {
        self.file.servers.remove(&key(server)).is_some()
    }

    /// Writes the file (mode 0600) atomically.
    pub fn save(&self) -> anyhow::Result<()> {
        let dir = self.path.parent().unwrap_or(Path::new("."));
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
        let tmp = dir.join(format!(".{FILE}.{}.tmp", std::process::id()));
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create(true).truncate(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        let write = || -> std::io::Result<()> {
            let mut f = options.open(&tmp)?;
            let text = serde_json::to_string_pretty(&self.file).map_err(std::io::Error::other)?;
            f.write_all(text.as_bytes())?;
            f.write_all(b"\n")?;
            f.sync_all()?;
            std::fs::rename(&tmp, &self.path)
        };
        write().map_err(|e| {
            let _ = std::fs::remove_file(&tmp);
            anyhow::anyhow!("cannot write {}: {e}", self.path.display())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check_dir(vars: &[(&str, &str)], expected: Option<&str>) {
        let dir = config_dir(|name| {
            vars.iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.to_string())
        });
        assert_eq!(dir, expected.map(PathBuf::from), "{vars:?}");
    }

    #[test]
    fn the_config_dir_is_hangars_then_xdgs_then_homes() {
        check_dir(
            &[("HANGAR_CONFIG_DIR", "/etc/h"), ("XDG_CONFIG_HOME", "/x")],
            Some("/etc/h"),
        );
        check_dir(
            &[("XDG_CONFIG_HOME", "/x"), ("HOME", "/home/a")],
            Some("/x/hangar"),
        );
        check_dir(&[("HOME", "/home/a")], Some("/home/a/.config/hangar"));
        check_dir(
            &[("HANGAR_CONFIG_DIR", " "), ("HOME", "/h")],
            Some("/h/.config/hangar"),
        );
        check_dir(&[], None);
    }

    #[test]
    fn logins_are_kept_per_server_in_a_private_file() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open_in(dir.path()).unwrap();
        assert_eq!(store.token("http://a:1"), None);
        let login = |t: &str| Login {
            token: t.into(),
            user: "ada".into(),
            token_id: None,
            expires_at: None,
        };
        store.set("http://a:1/", login("one"));
        store.set("http://b:2", login("two"));
        store.save().unwrap();

        let mut again = Store::open_in(dir.path()).unwrap();
        assert_eq!(again.token("http://a:1").as_deref(), Some("one"));
        assert_eq!(again.token("http://b:2/").as_deref(), Some("two"));
        assert!(again.remove("http://a:1"));
        assert!(!again.remove("http://a:1"));
        again.save().unwrap();
        assert_eq!(
            Store::open_in(dir.path()).unwrap().token("http://a:1"),
            None
        );

        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join(FILE))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }
}
