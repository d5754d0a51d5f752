//! Remote endpoints the user keeps (the app's Targets screen). An endpoint names where requests
//! go and which variable or keyring entry holds the key — never the key itself.

use rusqlite::{OptionalExtension, params};
use serde::{Deserialize, Serialize};
use tradeoff_core::format::now_rfc3339;
use tradeoff_core::spec::target::remote::ProviderKind;

use crate::{Store, StoreError};

/// A remote endpoint as the Targets screen edits it and the database keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct Endpoint {
    pub name: String,
    pub provider: ProviderKind,
    /// Empty: the provider's public API.
    pub base_url: String,
    pub api_key_env: Option<String>,
    /// The model to use by default, when the user picked one.
    pub model: Option<String>,
    pub include_usage: bool,
}

impl Store {
    pub fn endpoints(&self) -> Result<Vec<Endpoint>, StoreError> {
        let mut statement = self.conn.prepare(&format!("{SELECT} ORDER BY name"))?;
        let rows = statement.query_map([], endpoint_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Adds an endpoint or replaces the one with the same name.
    pub fn save_endpoint(&self, endpoint: &Endpoint) -> Result<(), StoreError> {
        self.conn.execute(
            "INSERT INTO endpoints (name, provider, base_url, api_key_env, model, include_usage, updated_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
             ON CONFLICT (name) DO UPDATE SET provider = excluded.provider, base_url = excluded.base_url,
                 api_key_env = excluded.api_key_env, model = excluded.model,
                 include_usage = excluded.include_usage, updated_at = excluded.updated_at",
            params![
                endpoint.name,
                endpoint.provider.as_str(),
                endpoint.base_url,
                endpoint.api_key_env,
                endpoint.model,
                endpoint.include_usage,
                now_rfc3339()
            ],
        )?;
        Ok(())
    }

    /// Whether an endpoint of that name existed.
    pub fn delete_endpoint(&self, name: &str) -> Result<bool, StoreError> {
        Ok(self
            .conn
            .execute("DELETE FROM endpoints WHERE name = ?1", [name])?
            > 0)
    }

    pub fn endpoint(&self, name: &str) -> Result<Option<Endpoint>, StoreError> {
        Ok(self
            .conn
            .query_row(&format!("{SELECT} WHERE name = ?1"), [name], endpoint_row)
            .optional()?)
    }
}

const SELECT: &str = "SELECT name, provider, base_url, api_key_env, model, include_usage FROM endpoints";

/// An endpoint row; a provider this version does not know is a corrupt row, said as such.
fn endpoint_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Endpoint> {
    let provider: String = r.get(1)?;
    Ok(Endpoint {
        name: r.get(0)?,
        provider: ProviderKind::parse(&provider).ok_or_else(|| {
            rusqlite::Error::FromSqlConversionFailure(
                1,
                rusqlite::types::Type::Text,
                format!("unknown provider `{provider}`").into(),
            )
        })?,
        base_url: r.get(2)?,
        api_key_env: r.get(3)?,
        model: r.get(4)?,
        include_usage: r.get(5)?,
    })
}
