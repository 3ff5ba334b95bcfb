//! Governance: teams, users and their roles.
//!
//! Times are sent to the second (`2026-01-02T03:04:05Z`).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// A team (`GET /api/v1/teams`, `POST /api/v1/teams`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Team {
    pub name: String,
    pub created_at: DateTime<Utc>,
    pub created_by: String,
}

/// `GET /api/v1/teams`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct TeamList {
    pub teams: Vec<Team>,
}

/// `POST /api/v1/teams`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewTeam {
    pub name: String,
}

/// A role held in a team.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Membership {
    pub team: String,
    /// `admin`, `maintainer`, `data-scientist`, `approver` or `viewer`.
    pub role: String,
}

/// A user (`GET /api/v1/users`, `POST /api/v1/users`, a role given).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct User {
    pub name: String,
    /// A Hangar administrator.
    pub superuser: bool,
    pub roles: Vec<Membership>,
    /// Whether the user has a password (never the password itself).
    pub password: bool,
    pub created_at: DateTime<Utc>,
    pub created_by: String,
    pub disabled: bool,
}

/// `GET /api/v1/users`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct UserList {
    pub users: Vec<User>,
}

/// `POST /api/v1/users`: a role needs both `team` and `role`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewUser {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub team: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    /// At least 12 characters; without one, the user logs in with a token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
    #[serde(default)]
    pub superuser: bool,
}

/// `POST /api/v1/users/{user}/roles`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GrantRole {
    pub team: String,
    pub role: String,
}
