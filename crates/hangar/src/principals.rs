//! `hangar team` and `hangar user`: who exists and what each may do, per team.

use reqwest::Method;
use serde_json::{json, Value};

use crate::cli::{TeamArgs, TeamCommand, UserArgs, UserCommand};
use crate::client::Client;
use crate::login::{read_secret_line, roles_cell, time_cell};
use crate::output::{self, OutputFormat, Table};

pub async fn team(args: TeamArgs) -> anyhow::Result<()> {
    let client = Client::connect(&args.client)?;
    let format = args.client.output;
    match args.command {
        TeamCommand::Create(c) => {
            let v = client
                .send_json(
                    Method::POST,
                    &["api", "v1", "teams"],
                    &json!({"name": c.name}),
                )
                .await?;
            output::print(&match format {
                OutputFormat::Json => output::json(&v),
                OutputFormat::Table => format!(
                    "created team {}; give people roles in it with `hangar user create USER --team {} --role ROLE`\n",
                    output::value(&v["name"]),
                    output::value(&v["name"])
                ),
            })
        }
        TeamCommand::List => {
            let v = client.get_json(&["api", "v1", "teams"], &[]).await?;
            output::print(&match format {
                OutputFormat::Json => output::json(&v),
                OutputFormat::Table => {
                    let mut t = Table::new(["TEAM", "CREATED", "BY"]);
                    for team in v["teams"].as_array().into_iter().flatten() {
                        t.row(vec![
                            output::value(&team["name"]),
                            time_cell(&team["created_at"]),
                            output::value(&team["created_by"]),
                        ]);
                    }
                    t.render()
                }
            })
        }
    }
}

pub async fn user(args: UserArgs) -> anyhow::Result<()> {
    let client = Client::connect(&args.client)?;
    let format = args.client.output;
    let v = match args.command {
        UserCommand::Create(c) => {
            let mut body = json!({"name": c.name, "superuser": c.superuser});
            if let (Some(team), Some(role)) = (&c.team, c.role) {
                body["team"] = json!(team);
                body["role"] = json!(role.as_str());
            }
            if c.password_stdin {
                body["password"] = json!(read_secret_line("password")?);
            }
            let v = client
                .send_json(Method::POST, &["api", "v1", "users"], &body)
                .await?;
            if format == OutputFormat::Table {
                let login = if v["password"].as_bool() == Some(true) {
                    format!(
                        "they log in with `hangar login --user {} --password-stdin`",
                        c.name
                    )
                } else {
                    format!(
                        "no password: give them a token from `hangar token create --user {}`",
                        c.name
                    )
                };
                return output::print(&format!(
                    "created user {} ({}); {login}\n",
                    c.name,
                    describe_roles(&v)
                ));
            }
            v
        }
        UserCommand::Grant(g) => {
            let v = client
                .send_json(
                    Method::POST,
                    &["api", "v1", "users", &g.name, "roles"],
                    &json!({"team": g.team, "role": g.role.as_str()}),
                )
                .await?;
            if format == OutputFormat::Table {
                return output::print(&format!("{} is now {}\n", g.name, describe_roles(&v)));
            }
            v
        }
        UserCommand::List => {
            let v = client.get_json(&["api", "v1", "users"], &[]).await?;
            if format == OutputFormat::Table {
                let mut t = Table::new(["USER", "ROLES", "ADMIN", "PASSWORD", "CREATED", "BY"]);
                for u in v["users"].as_array().into_iter().flatten() {
                    let yes_no = |b: &Value| {
                        if b.as_bool() == Some(true) {
                            "yes"
                        } else {
                            "no"
                        }
                    };
                    let name = if u["disabled"].as_bool() == Some(true) {
                        format!("{} (disabled)", output::value(&u["name"]))
                    } else {
                        output::value(&u["name"])
                    };
                    t.row(vec![
                        name,
                        roles_cell(&u["roles"]),
                        yes_no(&u["superuser"]).to_owned(),
                        yes_no(&u["password"]).to_owned(),
                        time_cell(&u["created_at"]),
                        output::value(&u["created_by"]),
                    ]);
                }
                return output::print(&t.render());
            }
            v
        }
    };
    output::print(&output::json(&v))
}

/// `administrator; credit: approver`, or `no roles yet`.
fn describe_roles(user: &Value) -> String {
    let roles = roles_cell(&user["roles"]);
    match (user["superuser"].as_bool() == Some(true), roles.as_str()) {
        (true, "-") => "Hangar administrator".to_owned(),
        (true, r) => format!("Hangar administrator; {r}"),
        (false, "-") => "no roles yet".to_owned(),
        (false, r) => r.to_owned(),
    }
}
