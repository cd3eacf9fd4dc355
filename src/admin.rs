//! The database side of the command line: `migrate`, `token create`, and opening the database
//! for `serve` (with `--migrate` or a schema check).

use anyhow::{anyhow, bail, Context as _};

use crate::cli::{DatabaseArgs, TokenCommand, TokenCreateArgs};
use crate::config::{self, Config};
use crate::store::audit::{self, Actor, AuditEntry};
use crate::store::migrations::{self, SCHEMA_VERSION};
use crate::store::tokens::{self, NewToken, Role};
use crate::store::{self as store_mod, SecretKey, Store, StoreError, StoreSettings};

const NO_DATABASE: &str = "no database configured: set ISPMONITOR_DATABASE_URL, or pass --config with a `database:` section";

/// The database of a config, if one is configured (URL from the environment or the file).
pub fn open_store(config: &Config) -> anyhow::Result<Option<Store>> {
    let Some(url) = store_mod::database_url(&config.database) else {
        return Ok(None);
    };
    let key = SecretKey::from_environment(config.database.secret_key_file.as_deref())?;
    let settings = StoreSettings::from_config(&config.database, key);
    Ok(Some(Store::connect(&url, settings)?))
}

/// The config named by `--config`, or the defaults when there is none.
fn load_config(args: &DatabaseArgs) -> anyhow::Result<Config> {
    match &args.config {
        Some(path) => config::load_file(path).map_err(|e| anyhow!("{e}")),
        None => config::load_str("{}", std::path::Path::new(".")).map_err(|e| anyhow!("{e}")),
    }
}

fn required_store(args: &DatabaseArgs) -> anyhow::Result<Store> {
    open_store(&load_config(args)?)?.ok_or_else(|| anyhow!(NO_DATABASE))
}

/// `ispmonitor migrate`.
pub async fn migrate(args: DatabaseArgs) -> anyhow::Result<()> {
    let store = required_store(&args)?;
    let mut client = store.client().await.context("connecting to the database")?;
    let report = migrations::migrate(&mut client).await?;
    if report.applied.is_empty() {
        println!(
            "database schema is at version {}: nothing to do",
            report.from
        );
    } else {
        println!(
            "database schema migrated from version {} to {} ({})",
            report.from,
            report.to,
            report.applied.join(", ")
        );
    }
    Ok(())
}

/// `ispmonitor token ...`.
pub async fn token(command: TokenCommand) -> anyhow::Result<()> {
    match command {
        TokenCommand::Create(args) => create_token(args).await,
    }
}

async fn create_token(args: TokenCreateArgs) -> anyhow::Result<()> {
    let role = Role::parse(&args.role)
        .ok_or_else(|| anyhow!("--role {:?}: use admin, operator or viewer", args.role))?;
    crate::api::tokens::check_token_name(&args.name).map_err(|m| anyhow!("--name: {m}"))?;
    let store = required_store(&args.database)?;
    let mut client = store.client().await.context("connecting to the database")?;
    migrations::check_schema(&client).await?;
    let tx = client.transaction().await.map_err(StoreError::from)?;
    let actor = Actor::cli();
    let new = NewToken {
        name: &args.name,
        role,
        created_by: &actor.name,
    };
    let issued = match tokens::create(&tx, new).await {
        Err(StoreError::Duplicate { .. }) => bail!("a token named {:?} already exists", args.name),
        other => other?,
    };
    let after = serde_json::json!({"id": issued.info.id, "name": issued.info.name,
        "role": role.as_str(), "prefix": issued.info.prefix});
    let entry = AuditEntry {
        actor: &actor,
        action: "create",
        kind: "token",
        target: Some(&args.name),
        before: None,
        after: Some(after),
    };
    audit::record(&tx, &entry).await?;
    tx.commit().await.map_err(StoreError::from)?;
    println!(
        "created {} token {:?} (id {}); it is shown only this once:",
        role.as_str(),
        args.name,
        issued.info.id
    );
    println!("{}", issued.token.expose());
    Ok(())
}

/// Before `serve`: migrate when asked, else refuse a schema older than this build. A database
/// that does not answer yet is not fatal: the API reports it on /ready and the poller keeps
/// to the YAML inventory until it answers.
pub async fn prepare_database(store: &Store, migrate: bool) -> anyhow::Result<()> {
    if migrate {
        let mut client = store
            .client()
            .await
            .context("--migrate: cannot reach the database")?;
        let report = migrations::migrate(&mut client).await?;
        tracing::info!(from = report.from, to = report.to, applied = ?report.applied, "database migrations applied");
        return Ok(());
    }
    let client = match store.client().await {
        Ok(client) => client,
        Err(e) => {
            tracing::warn!("database not reachable at start ({e}); retrying in the background");
            return Ok(());
        }
    };
    match migrations::check_schema(&client).await {
        Ok(version) if version > SCHEMA_VERSION => {
            tracing::warn!(
                version,
                expected = SCHEMA_VERSION,
                "the database schema is newer than this build"
            );
            Ok(())
        }
        Ok(_) => Ok(()),
        Err(e @ StoreError::SchemaTooOld { .. }) => Err(e.into()),
        Err(e) => {
            tracing::warn!(
                "cannot read the schema version at start ({e}); retrying in the background"
            );
            Ok(())
        }
    }
}
