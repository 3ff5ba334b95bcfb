//! `hangar team` and `hangar user`: who exists and what each may do, per team.

use crate::cli::values::{one_of, team_name, user_name};
use crate::cli::ClientArgs;
use crate::client::{Client, GrantRole, NewTeam, NewUser, User};
use crate::login::{at_cell, memberships_cell, read_secret_line};
use crate::output::{self, OutputFormat, Table};
use clap::{Args, Subcommand};
use hangar_core::governance::Role;

pub const USER_ABOUT: &str = "\
Create or list users, or give a user a role in a team. Administrators only.

Roles are per team: admin (everything in the team), maintainer (deploy, promote, \
roll back, issue consumer keys), data-scientist (push versions, write model cards, \
set non-production aliases), approver (approve versions for production), viewer \
(read everything of the team). A user sees only their teams' models and \
deployments. --superuser makes a Hangar administrator (users, teams, keys, audit).";

#[derive(Args, Debug)]
pub struct TeamArgs {
    #[command(flatten)]
    pub client: ClientArgs,
    #[command(subcommand)]
    pub command: TeamCommand,
}

#[derive(Subcommand, Debug)]
pub enum TeamCommand {
    /// Create a team (administrators)
    #[command(after_help = "Example:\n  hangar team create credit")]
    Create(TeamCreateArgs),
    /// List the teams you can see (all of them for administrators)
    #[command(after_help = "Examples:\n  hangar team list\n  hangar team list --output json")]
    List,
}

#[derive(Args, Debug)]
pub struct TeamCreateArgs {
    /// Name of the team
    #[arg(value_name = "TEAM", value_parser = team_name)]
    pub name: String,
}

#[derive(Args, Debug)]
pub struct UserArgs {
    #[command(flatten)]
    pub client: ClientArgs,
    #[command(subcommand)]
    pub command: UserCommand,
}

/// A role in a team, as `--help` words it.
fn role_help(role: Role) -> &'static str {
    match role {
        Role::Admin => "Everything in the team",
        Role::Maintainer => "Deploy, promote, roll back, issue consumer keys",
        Role::DataScientist => "Push versions, write model cards, set non-production aliases",
        Role::Approver => "Approve versions for production",
        Role::Viewer => "Read everything of the team",
    }
}

#[derive(Subcommand, Debug)]
pub enum UserCommand {
    /// Create a user, optionally with a role in a team and a password
    #[command(
        long_about = "Create a user, optionally with a role in a team (--team and --role \
            together) and a password for `hangar login` and the dashboard (--password-stdin, \
            at least 12 characters). A user without a password logs in with a token an \
            administrator creates for them (`hangar token create --user`).",
        after_help = "Examples:\n  \
            printf '%s' \"$PASSWORD\" | hangar user create ada --team credit --role data-scientist --password-stdin\n  \
            hangar user create grace --team credit --role approver\n  \
            hangar user create root2 --superuser --password-stdin < password.txt"
    )]
    Create(UserCreateArgs),
    /// List users with their roles
    #[command(after_help = "Examples:\n  hangar user list\n  hangar user list --output json")]
    List,
    /// Give a user a role in a team (in addition to the roles they have)
    #[command(after_help = "Example:\n  hangar user grant ada --team fraud --role viewer")]
    Grant(UserGrantArgs),
}

#[derive(Args, Debug)]
pub struct UserCreateArgs {
    /// Name of the user
    #[arg(value_name = "USER", value_parser = user_name)]
    pub name: String,

    /// The team the user gets --role in
    #[arg(long, value_name = "TEAM", value_parser = team_name, requires = "role")]
    pub team: Option<String>,

    /// The user's role in --team
    #[arg(long, value_name = "ROLE", value_parser = one_of(&Role::ALL, Role::as_str, role_help), requires = "team")]
    pub role: Option<Role>,

    /// Read the user's password from stdin (its first line)
    #[arg(long)]
    pub password_stdin: bool,

    /// Make the user a Hangar administrator
    #[arg(long)]
    pub superuser: bool,
}

#[derive(Args, Debug)]
pub struct UserGrantArgs {
    /// Name of the user
    #[arg(value_name = "USER", value_parser = user_name)]
    pub name: String,

    /// The team
    #[arg(long, value_name = "TEAM", value_parser = team_name)]
    pub team: String,

    /// The role in that team
    #[arg(long, value_name = "ROLE", value_parser = one_of(&Role::ALL, Role::as_str, role_help))]
    pub role: Role,
}

pub async fn team(args: TeamArgs) -> anyhow::Result<()> {
    let client = Client::connect(&args.client)?;
    let format = args.client.output;
    match args.command {
        TeamCommand::Create(c) => {
            let team = client.create_team(&NewTeam { name: c.name }).await?;
            output::print(&match format {
                OutputFormat::Json => output::json(&team.raw),
                OutputFormat::Table => format!(
                    "created team {}; give people roles in it with `hangar user create USER --team {} --role ROLE`\n",
                    team.body.name, team.body.name
                ),
            })
        }
        TeamCommand::List => {
            let list = client.list_teams().await?;
            output::print(&match format {
                OutputFormat::Json => output::json(&list.raw),
                OutputFormat::Table => {
                    let mut t = Table::new(["TEAM", "CREATED", "BY"]);
                    for team in &list.body.teams {
                        t.row(vec![
                            team.name.clone(),
                            at_cell(Some(&team.created_at)),
                            team.created_by.clone(),
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
            let (team, role) = match (c.team, c.role) {
                (Some(team), Some(role)) => (Some(team), Some(role.as_str().to_owned())),
                _ => (None, None),
            };
            let password = if c.password_stdin {
                Some(read_secret_line("password")?)
            } else {
                None
            };
            let user = client
                .create_user(&NewUser {
                    name: c.name.clone(),
                    team,
                    role,
                    password,
                    superuser: c.superuser,
                })
                .await?;
            if format == OutputFormat::Table {
                let login = if user.body.password {
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
                    describe_roles(&user.body)
                ));
            }
            user.raw
        }
        UserCommand::Grant(g) => {
            let grant = GrantRole {
                team: g.team,
                role: g.role.as_str().to_owned(),
            };
            let user = client.grant_role(&g.name, &grant).await?;
            if format == OutputFormat::Table {
                return output::print(&format!(
                    "{} is now {}\n",
                    g.name,
                    describe_roles(&user.body)
                ));
            }
            user.raw
        }
        UserCommand::List => {
            let list = client.list_users().await?;
            if format == OutputFormat::Table {
                let mut t = Table::new(["USER", "ROLES", "ADMIN", "PASSWORD", "CREATED", "BY"]);
                let yes_no = |b: bool| if b { "yes" } else { "no" };
                for u in &list.body.users {
                    let name = if u.disabled {
                        format!("{} (disabled)", u.name)
                    } else {
                        u.name.clone()
                    };
                    t.row(vec![
                        name,
                        memberships_cell(&u.roles),
                        yes_no(u.superuser).to_owned(),
                        yes_no(u.password).to_owned(),
                        at_cell(Some(&u.created_at)),
                        u.created_by.clone(),
                    ]);
                }
                return output::print(&t.render());
            }
            list.raw
        }
    };
    output::print(&output::json(&v))
}

/// `administrator; credit: approver`, or `no roles yet`.
fn describe_roles(user: &User) -> String {
    let roles = memberships_cell(&user.roles);
    match (user.superuser, roles.as_str()) {
        (true, "-") => "Hangar administrator".to_owned(),
        (true, r) => format!("Hangar administrator; {r}"),
        (false, "-") => "no roles yet".to_owned(),
        (false, r) => r.to_owned(),
    }
}
