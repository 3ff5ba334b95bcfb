//! Deployment changes: each one a new revision, committed and then
//! installed, under the change lock — deploy, promote, roll back (also by a
//! guardrail), follow an alias, remove, and restore at start-up.

use super::*;

impl Serving {
    /// Resolves, loads, records and makes live a new revision. On any
    /// failure before the swap, the deployment keeps its current revision.
    pub(super) async fn commit(
        &self,
        name: &str,
        table: RoutingTable,
        settings: DeploymentSettings,
        kind: RevisionKind,
        message: &str,
        actor: &str,
    ) -> Result<Revision, Error> {
        self.check_policy(&table, &settings).await?;
        let (routes, shadow) = self.load_table(&table).await?;
        let revision = self
            .db
            .create_revision(name, &table, &settings, &kind, message, actor)
            .await?;
        tracing::info!(
            deployment = name,
            revision = revision.number,
            kind = kind.name(),
            actor,
            routes = %table.routes.iter().map(|r| format!("{}={}%", r.target, r.weight)).collect::<Vec<_>>().join(","),
            "revision live"
        );
        self.install(revision.clone(), routes, shadow);
        self.collect_garbage();
        Ok(revision)
    }

    /// Governance before any traffic moves: a high-risk version receives
    /// production traffic (a route weight above zero) only with four-eyes
    /// approval of its exact digest (shadow traffic needs none), and a
    /// deployment that requires signatures serves only versions signed by a
    /// trusted key.
    pub(super) async fn check_policy(
        &self,
        table: &RoutingTable,
        settings: &DeploymentSettings,
    ) -> Result<(), Error> {
        for r in table.routes.iter().filter(|r| r.weight > 0) {
            crate::service::governance::production_check(&self.db, &r.target.model, r.version)
                .await?;
        }
        if settings.require_signed {
            let targets = table
                .routes
                .iter()
                .map(|r| (&r.target.model, r.version))
                .chain(table.shadow.iter().map(|s| (&s.target.model, s.version)));
            for (model, version) in targets {
                crate::service::governance::signature_check(&self.db, model, version).await?;
            }
        }
        Ok(())
    }

    pub(super) async fn resolve(&self, target: &VersionRef) -> Result<u32, Error> {
        Ok(self.db.resolve(target).await?.version)
    }

    pub(super) async fn current_settings(
        &self,
        name: &str,
    ) -> Result<Option<DeploymentSettings>, Error> {
        match self.db.get_deployment(name).await {
            Ok(d) => Ok(Some(d.current.settings)),
            Err(StoreError::NotFound(_)) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// Creates or changes a deployment: a new revision with these routes,
    /// shadow and settings (`None`: keep the current settings).
    pub async fn apply(
        &self,
        name: &str,
        routes: Vec<Route>,
        shadow: Option<VersionRef>,
        settings: Option<DeploymentSettings>,
        message: &str,
        actor: &str,
    ) -> Result<Revision, Error> {
        let held = self.hold_changes().await;
        self.apply_held(&held, name, routes, shadow, settings, message, actor)
            .await
    }

    /// [`Serving::apply`] while the caller holds the change lock, so that
    /// what it checked and merged under the lock is what gets committed.
    #[allow(clippy::too_many_arguments)]
    pub(crate) async fn apply_held(
        &self,
        _held: &ChangeGuard<'_>,
        name: &str,
        routes: Vec<Route>,
        shadow: Option<VersionRef>,
        settings: Option<DeploymentSettings>,
        message: &str,
        actor: &str,
    ) -> Result<Revision, Error> {
        routing::validate_routes(&routes).map_err(routing_error)?;
        let settings = match settings {
            Some(s) => s,
            None => self.current_settings(name).await?.unwrap_or_default(),
        };
        routing::validate_settings(&settings).map_err(routing_error)?;
        let mut resolved = Vec::with_capacity(routes.len());
        for r in routes {
            let version = self.resolve(&r.target).await?;
            resolved.push(ResolvedRoute {
                target: r.target,
                weight: r.weight,
                version,
            });
        }
        let shadow = match shadow {
            Some(target) => Some(ResolvedShadow {
                version: self.resolve(&target).await?,
                target,
            }),
            None => None,
        };
        let table = RoutingTable {
            routes: resolved,
            shadow,
        };
        table.validate_shadow().map_err(routing_error)?;
        self.commit(name, table, settings, RevisionKind::Deploy, message, actor)
            .await
    }

    /// The settings `name` has now, under the change lock (defaults for a
    /// deployment that does not exist yet).
    pub(crate) async fn settings_held(
        &self,
        _held: &ChangeGuard<'_>,
        name: &str,
    ) -> Result<DeploymentSettings, Error> {
        Ok(self.current_settings(name).await?.unwrap_or_default())
    }

    /// Promotes the canary to all traffic.
    pub async fn promote(&self, name: &str, message: &str, actor: &str) -> Result<Revision, Error> {
        let _guard = self.changes.lock().await;
        let current = self.db.get_deployment(name).await?.current;
        let table = routing::promote(&current.table).map_err(routing_error)?;
        self.commit(
            name,
            table,
            current.settings,
            RevisionKind::Promote,
            message,
            actor,
        )
        .await
    }

    /// Returns to the routing table and settings of an earlier revision
    /// (by default the one before the current), exactly as they were.
    pub async fn rollback(
        &self,
        name: &str,
        to: Option<u32>,
        message: &str,
        actor: &str,
    ) -> Result<Revision, Error> {
        let _guard = self.changes.lock().await;
        let current = self.db.get_deployment(name).await?.current;
        let to = routing::rollback_target(current.number, to).map_err(routing_error)?;
        let target = self.db.get_revision(name, to).await?;
        self.commit(
            name,
            target.table,
            target.settings,
            RevisionKind::Rollback { to },
            message,
            actor,
        )
        .await
    }

    /// Takes the canary out of traffic because a guardrail fired. Does
    /// nothing if the deployment changed meanwhile.
    pub async fn guardrail_rollback(
        &self,
        name: &str,
        from: u32,
        reason: &str,
    ) -> Result<Option<Revision>, Error> {
        let _guard = self.changes.lock().await;
        let current = self.db.get_deployment(name).await?.current;
        if current.number != from {
            return Ok(None);
        }
        let table = routing::without_canary(&current.table).map_err(routing_error)?;
        tracing::warn!(
            deployment = name,
            revision = from,
            reason,
            "guardrail fired: rolling the canary back"
        );
        let kind = RevisionKind::Guardrail {
            from,
            reason: reason.to_string(),
        };
        self.commit(name, table, current.settings, kind, reason, "hangar")
            .await
            .map(Some)
    }

    pub async fn remove(&self, name: &str) -> Result<(), Error> {
        let _guard = self.changes.lock().await;
        self.db.delete_deployment(name).await?;
        self.deployments
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .remove(name);
        self.failed
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .remove(name);
        self.collect_garbage();
        Ok(())
    }

    /// Does any deployment send live traffic (weight above zero) to
    /// `model@alias`?
    pub async fn alias_is_live(&self, model: &str, alias: &str) -> Result<bool, Error> {
        Ok(self.db.list_deployments().await?.iter().any(|d| {
            d.current.table.routes.iter().any(|r| {
                r.weight > 0
                    && r.target.model == model
                    && matches!(&r.target.selector, VersionSelector::Alias(a) if a == alias)
            })
        }))
    }

    /// Deployments that follow `model@alias` get a new revision with the
    /// alias's new version. A failure to load leaves them as they are (logged).
    pub async fn alias_moved(&self, model: &str, alias: &str, actor: &str) -> Result<(), Error> {
        let _guard = self.changes.lock().await;
        for d in self.db.list_deployments().await? {
            let current = d.current;
            if !current.table.follows(model, alias) {
                continue;
            }
            let follows = |t: &VersionRef| {
                t.model == model && matches!(&t.selector, VersionSelector::Alias(a) if a == alias)
            };
            let version = match self.db.get_alias(model, alias).await {
                Ok(a) => a.version,
                Err(StoreError::NotFound(_)) => {
                    tracing::warn!(deployment = %d.name, "followed alias was deleted; the deployment keeps its versions");
                    continue;
                }
                Err(e) => return Err(e.into()),
            };
            let mut table = current.table.clone();
            for r in table.routes.iter_mut().filter(|r| follows(&r.target)) {
                r.version = version;
            }
            if let Some(s) = table.shadow.as_mut().filter(|s| follows(&s.target)) {
                s.version = version;
            }
            if table == current.table {
                continue;
            }
            let kind = RevisionKind::AliasMoved {
                model: model.to_string(),
                alias: alias.to_string(),
            };
            let message = format!("{model}@{alias} moved to version {version}");
            if let Err(e) = self
                .commit(
                    &d.name,
                    table,
                    current.settings.clone(),
                    kind,
                    &message,
                    actor,
                )
                .await
            {
                tracing::error!(deployment = %d.name, error = %e, "could not follow alias; keeping the current revision");
            }
        }
        Ok(())
    }

    /// Brings back every stored deployment at start. One that cannot load is
    /// reported (not ready) instead of stopping the server.
    pub async fn restore(&self) -> Result<(), Error> {
        let _guard = self.changes.lock().await;
        for d in self.db.list_deployments().await? {
            match self.load_table(&d.current.table).await {
                Ok((routes, shadow)) => self.install(d.current, routes, shadow),
                Err(e) => {
                    tracing::error!(deployment = %d.name, error = %e, "deployment could not be restored");
                    self.failed
                        .write()
                        .unwrap_or_else(|p| p.into_inner())
                        .insert(d.name.clone(), e.message().to_string());
                }
            }
        }
        self.collect_garbage();
        self.ready.store(true, Ordering::Release);
        Ok(())
    }
}
