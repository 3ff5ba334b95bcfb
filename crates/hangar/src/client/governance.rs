//! Governance: teams, users and their roles.

use super::{Client, ClientError, Fetched};

pub use hangar_api::{GrantRole, Membership, NewTeam, NewUser, Team, TeamList, User, UserList};

impl Client {
    pub async fn list_teams(&self) -> Result<Fetched<TeamList>, ClientError> {
        let url = self.url(&["api", "v1", "teams"]);
        self.call(self.http.get(url.clone()), &url).await
    }

    pub async fn create_team(&self, team: &NewTeam) -> Result<Fetched<Team>, ClientError> {
        let url = self.url(&["api", "v1", "teams"]);
        self.call(self.http.post(url.clone()).json(team), &url)
            .await
    }

    pub async fn list_users(&self) -> Result<Fetched<UserList>, ClientError> {
        let url = self.url(&["api", "v1", "users"]);
        self.call(self.http.get(url.clone()), &url).await
    }

    pub async fn create_user(&self, user: &NewUser) -> Result<Fetched<User>, ClientError> {
        let url = self.url(&["api", "v1", "users"]);
        self.call(self.http.post(url.clone()).json(user), &url)
            .await
    }

    /// Gives `user` a role in a team, in addition to the roles they have.
    pub async fn grant_role(
        &self,
        user: &str,
        grant: &GrantRole,
    ) -> Result<Fetched<User>, ClientError> {
        let url = self.url(&["api", "v1", "users", user, "roles"]);
        self.call(self.http.post(url.clone()).json(grant), &url)
            .await
    }
}
