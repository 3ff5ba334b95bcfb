//! `hangar keys generate|trust|list` and the signing step of
//! `hangar model push --sign`: Ed25519 signatures over a version's digest.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use ed25519_dalek::{Signer, SigningKey};
use serde_json::{json, Value};

use crate::cli::ClientArgs;
use crate::client::{Client, NewSignature, NewTrustedKey, TrustedKey};
use crate::output::{self, OutputFormat, Table};
use clap::{Args, Subcommand};
use hangar_core::{validate_name, NameError, NameKind};

pub const KEYS_ABOUT: &str = "\
Ed25519 signing keys for model versions.

`keys generate` makes a key pair on this machine: the secret key stays in a file \
only you can read, the public key goes to the server's administrators, who trust \
it with `keys trust`. `model push --sign KEY_FILE` signs the pushed version's \
digest, and a deployment made with `deploy --require-signed` serves only versions \
signed by a trusted key.";

#[derive(Args, Debug)]
pub struct KeysArgs {
    #[command(flatten)]
    pub client: ClientArgs,
    #[command(subcommand)]
    pub command: KeysCommand,
}

#[derive(Subcommand, Debug)]
pub enum KeysCommand {
    /// Generate an Ed25519 key pair here: FILE (secret, mode 0600) and FILE.pub
    #[command(
        long_about = "Generate an Ed25519 key pair on this machine, without the server: \
            FILE holds the secret key in hex (readable only by you; keep it secret), \
            FILE.pub the public key in hex (give it to an administrator for `hangar keys \
            trust`). An existing FILE is never overwritten.",
        after_help = "Example:\n  hangar keys generate --out release.key"
    )]
    Generate(KeysGenerateArgs),
    /// Trust a public key: versions it signs satisfy `deploy --require-signed` (administrators)
    #[command(after_help = "Example:\n  hangar keys trust release-2025 release.key.pub")]
    Trust(KeysTrustArgs),
    /// List the trusted public keys
    #[command(after_help = "Examples:\n  hangar keys list\n  hangar keys list --output json")]
    List,
}

#[derive(Args, Debug)]
pub struct KeysGenerateArgs {
    /// Where to write the secret key; the public key goes to FILE.pub
    #[arg(long, value_name = "FILE")]
    pub out: PathBuf,
}

#[derive(Args, Debug)]
pub struct KeysTrustArgs {
    /// A name for the key (who or what signs with it)
    #[arg(value_name = "NAME", value_parser = key_name)]
    pub name: String,

    /// The public key file (FILE.pub from `hangar keys generate`)
    #[arg(value_name = "FILE.pub")]
    pub file: PathBuf,
}

pub fn key_name(s: &str) -> Result<String, NameError> {
    validate_name(NameKind::Key, s).map(|()| s.to_owned())
}

pub async fn run(args: KeysArgs) -> anyhow::Result<()> {
    let format = args.client.output;
    match args.command {
        KeysCommand::Generate(g) => {
            let public = generate(&g.out)?;
            let pub_path = public_path(&g.out);
            output::print(&match format {
                OutputFormat::Json => output::json(&json!({
                    "secret_key_file": g.out,
                    "public_key_file": pub_path,
                    "public_key": public,
                })),
                OutputFormat::Table => format!(
                    "secret key: {} (keep it secret; sign with `hangar model push --sign {}`)\n\
                     public key: {} ({public})\n\
                     an administrator trusts it with `hangar keys trust NAME {}`\n",
                    g.out.display(),
                    g.out.display(),
                    pub_path.display(),
                    pub_path.display()
                ),
            })
        }
        KeysCommand::Trust(t) => {
            let text = std::fs::read_to_string(&t.file)
                .with_context(|| format!("cannot read {}", t.file.display()))?;
            let public_key = text.trim();
            if public_key.len() != 64 || hex::decode(public_key).is_err() {
                bail!(
                    "{} does not hold an Ed25519 public key (64 hex digits); give the FILE.pub \
                     written by `hangar keys generate`",
                    t.file.display()
                );
            }
            let client = Client::connect(&args.client)?;
            let key = client
                .trust_key(&NewTrustedKey {
                    name: t.name,
                    public_key: public_key.to_owned(),
                })
                .await?;
            output::print(&match format {
                OutputFormat::Json => output::json(&key.raw),
                OutputFormat::Table => format!(
                    "trusted key {} ({}): versions it signs pass `deploy --require-signed`\n",
                    key.body.name, key.body.public_key
                ),
            })
        }
        KeysCommand::List => {
            let client = Client::connect(&args.client)?;
            let list = client.list_trusted_keys().await?;
            output::print(&match format {
                OutputFormat::Json => output::json(&list.raw),
                OutputFormat::Table => keys_table(&list.body.keys),
            })
        }
    }
}

fn keys_table(keys: &[TrustedKey]) -> String {
    if keys.is_empty() {
        return "no trusted keys; an administrator adds one with `hangar keys trust NAME FILE.pub`\n"
            .to_owned();
    }
    let mut t = Table::new(["NAME", "PUBLIC KEY", "ADDED", "BY"]);
    for k in keys {
        t.row(vec![
            k.name.clone(),
            k.public_key.clone(),
            output::when(&k.created_at),
            k.created_by.clone(),
        ]);
    }
    t.render()
}

/// `FILE.pub` next to `FILE`.
pub fn public_path(secret: &Path) -> PathBuf {
    let mut name = secret.as_os_str().to_owned();
    name.push(".pub");
    PathBuf::from(name)
}

/// Writes a new key pair; returns the public key in hex. Neither file may
/// exist yet: a key is never overwritten by accident.
fn generate(out: &Path) -> anyhow::Result<String> {
    let key = SigningKey::generate(&mut rand_core::OsRng);
    let public = hex::encode(key.verifying_key().as_bytes());
    let pub_path = public_path(out);
    if pub_path.exists() {
        bail!(
            "{} exists already; choose another --out",
            pub_path.display()
        );
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut f = options.open(out).map_err(|e| {
        if e.kind() == std::io::ErrorKind::AlreadyExists {
            anyhow::anyhow!("{} exists already; choose another --out", out.display())
        } else {
            anyhow::anyhow!("cannot create {}: {e}", out.display())
        }
    })?;
    f.write_all(format!("{}\n", hex::encode(key.to_bytes())).as_bytes())
        .and_then(|()| f.sync_all())
        .with_context(|| format!("cannot write {}", out.display()))?;
    std::fs::write(&pub_path, format!("{public}\n"))
        .with_context(|| format!("cannot write {}", pub_path.display()))?;
    Ok(public)
}

/// Reads a secret key written by `keys generate`.
pub fn load_key(path: &Path) -> anyhow::Result<SigningKey> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the signing key {}", path.display()))?;
    let bytes: [u8; 32] = hex::decode(text.trim())
        .ok()
        .and_then(|b| b.try_into().ok())
        .with_context(|| {
            format!(
                "{} is not an Ed25519 secret key (64 hex digits from `hangar keys generate`)",
                path.display()
            )
        })?;
    Ok(SigningKey::from_bytes(&bytes))
}

/// The signature of a version's digest string (`sha256:…`), and the public
/// key, both in hex.
pub fn sign_digest(key: &SigningKey, digest: &str) -> (String, String) {
    (
        hex::encode(key.verifying_key().as_bytes()),
        hex::encode(key.sign(digest.as_bytes()).to_bytes()),
    )
}

/// Registers the signature of `model:version` with the server; the server's
/// answer (which names the trusted key, if the public key is one).
pub async fn sign_version(
    client: &Client,
    key: &SigningKey,
    model: &str,
    version: u32,
    digest: &str,
) -> anyhow::Result<Value> {
    let (public_key, signature) = sign_digest(key, digest);
    let receipt = client
        .add_signature(
            model,
            version,
            &NewSignature {
                public_key,
                signature,
            },
        )
        .await?;
    Ok(receipt.raw)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ed25519_dalek::{Signature, Verifier};

    #[test]
    fn generated_keys_sign_digests_the_public_key_verifies() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("release.key");
        let public = generate(&out).unwrap();
        assert_eq!(
            std::fs::read_to_string(public_path(&out)).unwrap().trim(),
            public
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&out).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let key = load_key(&out).unwrap();
        let digest = "sha256:ab12";
        let (pk, sig) = sign_digest(&key, digest);
        assert_eq!(pk, public);
        let vk =
            ed25519_dalek::VerifyingKey::from_bytes(&hex::decode(&pk).unwrap().try_into().unwrap())
                .unwrap();
        let sig = Signature::from_bytes(&hex::decode(sig).unwrap().try_into().unwrap());
        assert!(vk.verify(digest.as_bytes(), &sig).is_ok());

        let again = generate(&out).unwrap_err().to_string();
        assert!(again.contains("exists already"), "{again}");
    }
}
