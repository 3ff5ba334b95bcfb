//! `hangar login|logout|whoami` and `hangar token`: getting, keeping and
//! managing the credentials the other commands send.

use std::io::BufRead;

use anyhow::{bail, Context};
use serde_json::json;

use crate::cli::values::user_name;
use crate::cli::{ClientArgs, RevokeArgs};
use crate::client::{Client, CreatedToken, LoginRequest, NewToken, Token, Whoami};
use crate::credentials::{Login, Store};
use crate::output::{self, OutputFormat, Table};
use clap::{Args, Subcommand};

pub const LOGIN_ABOUT: &str = "\
Log in to a server (--server) and store a token for the commands that follow.

With --user, the password is read from stdin (--password-stdin) and exchanged for \
an API token (30 days unless --expires says otherwise). With --token (or \
HANGAR_TOKEN), that token is checked with the server and stored as is: the way to \
keep an administrator's or a CI token.

The token is kept in credentials.json under $HANGAR_CONFIG_DIR (else \
$XDG_CONFIG_HOME/hangar, else ~/.config/hangar), readable only by you, one per \
server URL. --token / HANGAR_TOKEN on any command takes precedence over it.";

pub const LOGIN_EXAMPLES: &str = "\
Examples:
  printf '%s' \"$PASSWORD\" | hangar login --user ada --password-stdin
  hangar login --user ada --password-stdin --expires 12h < password.txt
  hangar login --token \"$HANGAR_ADMIN_TOKEN\"
  hangar --server http://hangar.internal:8080 login --user ada --password-stdin";

#[derive(Args, Debug)]
pub struct LoginArgs {
    #[command(flatten)]
    pub client: ClientArgs,

    /// Log in as this user with a password read from stdin (--password-stdin)
    #[arg(long, value_name = "USER", value_parser = user_name, requires = "password_stdin")]
    pub user: Option<String>,

    /// Read the password from stdin (its first line)
    #[arg(long, requires = "user")]
    pub password_stdin: bool,

    /// How long the token of a password login lasts: 30d, 12h, 90m or an RFC 3339 time [default: 30d]
    #[arg(long, value_name = "WHEN", requires = "user")]
    pub expires: Option<String>,
}

#[derive(Args, Debug)]
pub struct LogoutArgs {
    #[command(flatten)]
    pub client: ClientArgs,
}

#[derive(Args, Debug)]
pub struct WhoamiArgs {
    #[command(flatten)]
    pub client: ClientArgs,
}

#[derive(Args, Debug)]
pub struct TokenArgs {
    #[command(flatten)]
    pub client: ClientArgs,
    #[command(subcommand)]
    pub command: TokenCommand,
}

#[derive(Subcommand, Debug)]
pub enum TokenCommand {
    /// Create an API token (or a metrics token); it is printed once and never shown again
    #[command(
        long_about = "Create an API token for yourself, or (administrators) for --user. The \
            token acts with the user's roles; it is printed once and stored by the server \
            only as a hash, so keep it now. Without --expires it does not expire; revoke it \
            with `hangar token revoke ID`.\n\n\
            With --metrics (administrators), a metrics token instead: it belongs to no user \
            and may read /metrics (which covers every team's deployments) and nothing else. \
            Give it to a Prometheus scraper as its bearer token (`authorization: \
            credentials_file:` in the scrape config).",
        after_help = "Examples:\n  \
            hangar token create --name ci --expires 90d\n  \
            hangar token create --user ada --expires 30d --output json | jq -r .token\n  \
            hangar token create --metrics --name prometheus --output json | jq -r .token > /etc/prometheus/hangar-token"
    )]
    Create(TokenCreateArgs),
    /// List API tokens (never their secrets): expiry, last use, revocation
    #[command(after_help = "Examples:\n  hangar token list\n  hangar token list --user ada")]
    List(TokenListArgs),
    /// Revoke an API token at once
    #[command(after_help = "Example:\n  hangar token revoke 3f2a9c1b0d4e5f60")]
    Revoke(RevokeArgs),
}

#[derive(Args, Debug)]
pub struct TokenCreateArgs {
    /// The user the token acts as [default: you]; others' need an administrator
    #[arg(long, value_name = "USER", value_parser = user_name)]
    pub user: Option<String>,

    /// When the token expires: 30d, 12h, 90m or an RFC 3339 time [default: never]
    #[arg(long, value_name = "WHEN")]
    pub expires: Option<String>,

    /// A name saying what the token is for
    #[arg(long, value_name = "NAME")]
    pub name: Option<String>,

    /// A metrics token: reads /metrics and nothing else, for a Prometheus scraper
    /// (administrators)
    #[arg(long, conflicts_with = "user")]
    pub metrics: bool,
}

#[derive(Args, Debug)]
pub struct TokenListArgs {
    /// List this user's tokens [default: yours]; others' need an administrator
    #[arg(long, value_name = "USER", value_parser = user_name)]
    pub user: Option<String>,

    /// List the metrics tokens instead (administrators)
    #[arg(long, conflicts_with = "user")]
    pub metrics: bool,
}

pub async fn login(args: LoginArgs) -> anyhow::Result<()> {
    let server = args.client.server.clone();
    let mut store = Store::open()?;
    let (login, how) = match (&args.user, &args.client.token) {
        (Some(user), _) => {
            let password = read_secret_line("password")?;
            let client = Client::with_token(&server, None)?;
            let request = LoginRequest {
                user: user.clone(),
                password,
                expires: args.expires.clone(),
            };
            let issued = client.login(&request).await.map_err(|e| {
                if e.is_unauthenticated() {
                    anyhow::anyhow!("wrong user name or password for {server}")
                } else {
                    e.into()
                }
            })?;
            let issued = issued.body;
            let login = Login {
                token: issued.token,
                user: user.clone(),
                token_id: Some(issued.id),
                expires_at: Some(
                    issued
                        .expires_at
                        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                ),
            };
            (login, "password")
        }
        (None, Some(token)) if !token.trim().is_empty() => {
            let token = token.trim().to_owned();
            let client = Client::with_token(&server, Some(&token))?;
            let who = client.whoami().await.map_err(|e| {
                if e.is_unauthenticated() {
                    anyhow::anyhow!(
                        "{server} does not accept this token (unknown, expired or revoked)"
                    )
                } else {
                    e.into()
                }
            })?;
            let login = Login {
                token,
                user: who.body.name,
                // A token given to us is not ours to revoke on logout.
                token_id: None,
                expires_at: None,
            };
            (login, "token")
        }
        _ => bail!(
            "say how to log in: --user USER --password-stdin for a password, \
             or --token TOKEN (or HANGAR_TOKEN) to store a token"
        ),
    };
    store.set(&server, login.clone());
    store.save()?;
    output::print(&match args.client.output {
        OutputFormat::Json => output::json(&json!({
            "server": server,
            "user": login.user,
            "token_id": login.token_id,
            "expires_at": login.expires_at,
            "credentials": store.path(),
            "method": how,
        })),
        OutputFormat::Table => {
            let expiry = login
                .expires_at
                .as_deref()
                .map(|t| format!(" (expires {})", output::time(t)))
                .unwrap_or_default();
            format!(
                "logged in to {server} as {}{expiry}; token stored in {}\n",
                login.user,
                store.path().display()
            )
        }
    })
}

pub async fn logout(args: LogoutArgs) -> anyhow::Result<()> {
    let server = args.client.server.clone();
    let mut store = Store::open()?;
    let Some(login) = store.get(&server).cloned() else {
        return output::print(&format!("not logged in to {server}; nothing to do\n"));
    };
    // Revoke what a password login issued; a server that is gone or has
    // already forgotten the token does not stop the local logout.
    let mut revoked = false;
    if let Some(id) = &login.token_id {
        if let Ok(client) = Client::with_token(&server, Some(&login.token)) {
            revoked = client.revoke_token(id).await.is_ok();
        }
    }
    store.remove(&server);
    store.save()?;
    output::print(&format!(
        "logged out of {server}{}\n",
        if revoked {
            "; the token is revoked"
        } else {
            ""
        }
    ))
}

pub async fn whoami(args: WhoamiArgs) -> anyhow::Result<()> {
    let client = Client::connect(&args.client)?;
    let who = client.whoami().await?;
    output::print(&match args.client.output {
        OutputFormat::Json => output::json(&who.raw),
        OutputFormat::Table => whoami_card(&who.body),
    })
}

fn whoami_card(who: &Whoami) -> String {
    let mut fields = vec![
        ("name", who.name.clone()),
        (
            "kind",
            match who.kind.as_str() {
                "consumer_key" => "consumer key".to_owned(),
                k => k.to_owned(),
            },
        ),
    ];
    if who.superuser {
        fields.push((
            "administrator",
            "yes (every team, users, keys, audit)".into(),
        ));
    }
    fields.push(("roles", memberships_cell(&who.roles)));
    if let Some(p) = who.purpose.as_deref().filter(|p| !p.is_empty()) {
        fields.push(("purpose", p.to_owned()));
    }
    fields.push(("token id", who.token_id.clone()));
    output::card(&fields)
}

pub async fn token(args: TokenArgs) -> anyhow::Result<()> {
    let client = Client::connect(&args.client)?;
    let format = args.client.output;
    match args.command {
        TokenCommand::Create(c) => {
            let token = client
                .create_token(&NewToken {
                    user: c.user,
                    name: c.name,
                    expires: c.expires,
                    kind: c.metrics.then(|| "metrics".to_owned()),
                })
                .await?;
            output::print(&match format {
                OutputFormat::Json => output::json(&token.raw),
                OutputFormat::Table => created_token(&token.body),
            })
        }
        TokenCommand::List(l) => {
            let list = client.list_tokens(l.user.as_deref(), l.metrics).await?;
            output::print(&match format {
                OutputFormat::Json => output::json(&list.raw),
                OutputFormat::Table => tokens_table(&list.body.tokens),
            })
        }
        TokenCommand::Revoke(r) => {
            let token = client.revoke_token(&r.id).await?;
            output::print(&match format {
                OutputFormat::Json => output::json(&token.raw),
                OutputFormat::Table => format!(
                    "revoked token {} ({}); it no longer authenticates\n",
                    token.body.id,
                    token.body.user.as_deref().unwrap_or("-")
                ),
            })
        }
    }
}

fn created_token(t: &CreatedToken) -> String {
    let expiry = match &t.token.expires_at {
        Some(at) => format!("expires {}", output::when(at)),
        None => "does not expire".to_owned(),
    };
    let whom = if t.token.kind == "metrics" {
        "reading /metrics only".to_owned()
    } else {
        format!("for {}", t.token.user.as_deref().unwrap_or("-"))
    };
    format!(
        "created token {} {whom} ({expiry})\n\n  {}\n\n\
         This token will not be shown again: store it now. Revoke it with \
         `hangar token revoke {}`.\n",
        t.token.id, t.secret, t.token.id,
    )
}

fn tokens_table(tokens: &[Token]) -> String {
    if tokens.is_empty() {
        return "no API tokens; create one with `hangar token create`\n".to_owned();
    }
    let mut t = Table::new([
        "ID",
        "NAME",
        "USER",
        "CREATED",
        "EXPIRES",
        "LAST USED",
        "REVOKED",
    ]);
    for k in tokens {
        t.row(vec![
            k.id.clone(),
            if k.name.is_empty() {
                "-".to_owned()
            } else {
                k.name.clone()
            },
            k.user.clone().unwrap_or_else(|| "-".to_owned()),
            at_cell(Some(&k.created_at)),
            at_cell(k.expires_at.as_ref()),
            at_cell(k.last_used_at.as_ref()),
            at_cell(k.revoked_at.as_ref()),
        ]);
    }
    t.render()
}

/// `credit: approver, fraud: viewer`, or `-`.
pub fn memberships_cell(roles: &[crate::client::Membership]) -> String {
    if roles.is_empty() {
        return "-".to_owned();
    }
    roles
        .iter()
        .map(|r| format!("{}: {}", r.team, r.role))
        .collect::<Vec<_>>()
        .join(", ")
}

/// A time as the tables show it, or `-`.
pub fn at_cell(t: Option<&chrono::DateTime<chrono::Utc>>) -> String {
    t.map_or_else(|| "-".to_owned(), output::when)
}

/// The first line of stdin, without its line ending: how passwords arrive
/// (`--password-stdin`), so they never appear in a process list or history.
pub fn read_secret_line(what: &str) -> anyhow::Result<String> {
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .with_context(|| format!("cannot read the {what} from stdin"))?;
    let secret = line.trim_end_matches(['\r', '\n']).to_owned();
    if secret.is_empty() {
        bail!("no {what} on stdin: pipe it in, e.g. printf '%s' \"$PASSWORD\" | hangar ...");
    }
    Ok(secret)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A new token as the server sends it: `fields` over an API token's.
    fn token(fields: serde_json::Value) -> CreatedToken {
        let mut v = json!({
            "kind": "api", "name": "", "deployments": [], "purpose": "", "rate_limit": null,
            "created_at": "2026-01-02T03:04:05Z", "created_by": "root",
            "revoked_at": null, "last_used_at": null,
        });
        for (k, f) in fields.as_object().unwrap() {
            v[k] = f.clone();
        }
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn a_new_token_is_shown_once_with_a_warning() {
        let text = created_token(&token(json!({
            "id": "0123456789abcdef", "user": "ada", "token": "hgr_0123456789abcdef_s3cret",
            "expires_at": null,
        })));
        assert!(text.contains("\n  hgr_0123456789abcdef_s3cret\n"), "{text}");
        assert!(text.contains("will not be shown again"), "{text}");
        assert!(text.contains("does not expire"), "{text}");
        assert!(
            text.contains("created token 0123456789abcdef for ada"),
            "{text}"
        );
        let text = created_token(&token(json!({
            "id": "0123456789abcdef", "kind": "metrics", "user": null, "token": "hgr_x",
            "expires_at": null,
        })));
        assert!(text.contains("reading /metrics only"), "{text}");
    }

    #[test]
    fn whoami_lists_roles_per_team() {
        let who: Whoami = serde_json::from_value(json!({
            "name": "ada", "kind": "user", "superuser": false,
            "roles": [{"team": "credit", "role": "data-scientist"}, {"team": "fraud", "role": "viewer"}],
            "purpose": null, "token_id": "abc",
        }))
        .unwrap();
        let card = whoami_card(&who);
        assert_eq!(
            card,
            "name:      ada\nkind:      user\nroles:     credit: data-scientist, fraud: viewer\ntoken id:  abc\n"
        );
    }
}
