//! Governance: teams, users and their roles; API tokens and consumer keys;
//! approvals, signatures and trusted signing keys; the audit log; login and
//! who am I.

use super::{Client, ClientError, Fetched};

pub use hangar_api::{
    Approvals, AuditEntry, AuditLog, AuditVerification, ConsumerKeyList, CreatedConsumerKey,
    CreatedToken, Decision, GrantRole, LoginRequest, LoginToken, Membership, NewConsumerKey,
    NewDecision, NewSignature, NewTeam, NewToken, NewTrustedKey, NewUser, SignatureReceipt, Team,
    TeamList, Token, TokenList, TrustedKey, TrustedKeyList, User, UserList, Whoami,
};

impl Client {
    /// `/api/v1/models/{model}/versions/{version}/{leaf}`.
    fn version_url(&self, model: &str, version: u32, leaf: &str) -> reqwest::Url {
        self.url(&[
            "api",
            "v1",
            "models",
            model,
            "versions",
            &version.to_string(),
            leaf,
        ])
    }

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

    /// The caller's API tokens, another `user`'s (administrators), or the
    /// metrics tokens.
    pub async fn list_tokens(
        &self,
        user: Option<&str>,
        metrics: bool,
    ) -> Result<Fetched<TokenList>, ClientError> {
        let url = self.url(&["api", "v1", "tokens"]);
        let mut query: Vec<(&str, &str)> = user.map(|u| ("user", u)).into_iter().collect();
        if metrics {
            query.push(("kind", "metrics"));
        }
        self.call(self.http.get(url.clone()).query(&query), &url)
            .await
    }

    pub async fn create_token(
        &self,
        token: &NewToken,
    ) -> Result<Fetched<CreatedToken>, ClientError> {
        let url = self.url(&["api", "v1", "tokens"]);
        self.call(self.http.post(url.clone()).json(token), &url)
            .await
    }

    pub async fn revoke_token(&self, id: &str) -> Result<Fetched<Token>, ClientError> {
        let url = self.url(&["api", "v1", "tokens", id]);
        self.call(self.http.delete(url.clone()), &url).await
    }

    pub async fn list_consumer_keys(&self) -> Result<Fetched<ConsumerKeyList>, ClientError> {
        let url = self.url(&["api", "v1", "consumer-keys"]);
        self.call(self.http.get(url.clone()), &url).await
    }

    pub async fn create_consumer_key(
        &self,
        key: &NewConsumerKey,
    ) -> Result<Fetched<CreatedConsumerKey>, ClientError> {
        let url = self.url(&["api", "v1", "consumer-keys"]);
        self.call(self.http.post(url.clone()).json(key), &url).await
    }

    pub async fn revoke_consumer_key(&self, id: &str) -> Result<Fetched<Token>, ClientError> {
        let url = self.url(&["api", "v1", "consumer-keys", id]);
        self.call(self.http.delete(url.clone()), &url).await
    }

    /// The decisions and signatures of `model:version`, and whether it may
    /// receive production traffic.
    pub async fn approvals(
        &self,
        model: &str,
        version: u32,
    ) -> Result<Fetched<Approvals>, ClientError> {
        let url = self.version_url(model, version, "approvals");
        self.call(self.http.get(url.clone()), &url).await
    }

    pub async fn decide(
        &self,
        model: &str,
        version: u32,
        decision: &NewDecision,
    ) -> Result<Fetched<Decision>, ClientError> {
        let url = self.version_url(model, version, "approvals");
        self.call(self.http.post(url.clone()).json(decision), &url)
            .await
    }

    pub async fn add_signature(
        &self,
        model: &str,
        version: u32,
        signature: &NewSignature,
    ) -> Result<Fetched<SignatureReceipt>, ClientError> {
        let url = self.version_url(model, version, "signatures");
        self.call(self.http.post(url.clone()).json(signature), &url)
            .await
    }

    pub async fn list_trusted_keys(&self) -> Result<Fetched<TrustedKeyList>, ClientError> {
        let url = self.url(&["api", "v1", "trusted-keys"]);
        self.call(self.http.get(url.clone()), &url).await
    }

    pub async fn trust_key(&self, key: &NewTrustedKey) -> Result<Fetched<TrustedKey>, ClientError> {
        let url = self.url(&["api", "v1", "trusted-keys"]);
        self.call(self.http.post(url.clone()).json(key), &url).await
    }

    /// Audit entries matching `query` (actor, object, from, to, limit),
    /// newest first.
    pub async fn audit(&self, query: &[(&str, String)]) -> Result<Fetched<AuditLog>, ClientError> {
        let url = self.url(&["api", "v1", "audit"]);
        self.call(self.http.get(url.clone()).query(query), &url)
            .await
    }

    /// Verifies the audit log's hash chain.
    pub async fn verify_audit(&self) -> Result<Fetched<AuditVerification>, ClientError> {
        let url = self.url(&["api", "v1", "audit", "verify"]);
        self.call(self.http.get(url.clone()), &url).await
    }

    /// Exchanges a user name and password for an API token.
    pub async fn login(&self, request: &LoginRequest) -> Result<Fetched<LoginToken>, ClientError> {
        let url = self.url(&["api", "v1", "login"]);
        self.call(self.http.post(url.clone()).json(request), &url)
            .await
    }

    /// The principal this client's credential authenticates as.
    pub async fn whoami(&self) -> Result<Fetched<Whoami>, ClientError> {
        let url = self.url(&["api", "v1", "whoami"]);
        self.call(self.http.get(url.clone()), &url).await
    }
}
