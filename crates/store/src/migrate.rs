//! Migrations, embedded in the binary, one list per backend. Applied
//! migrations never change: each is recorded with a checksum, and a database
//! whose recorded checksum differs, or that is newer than this binary, is
//! refused with a message rather than touched.

use crate::{Backend, Result, Store, StoreError};
use sendwell_core::secret::sha256_hex;
use sqlx::Row;

struct Migration {
    version: i64,
    name: &'static str,
    sql: &'static str,
}

/// The migrations of one backend, from `migrations/<dir>/`, in order.
macro_rules! migrations {
    ($dir:literal) => {
        &[
            Migration {
                version: 1,
                name: "foundation",
                sql: include_str!(concat!(
                    "../../../migrations/",
                    $dir,
                    "/0001_foundation.sql"
                )),
            },
            Migration {
                version: 2,
                name: "valid_users",
                sql: include_str!(concat!(
                    "../../../migrations/",
                    $dir,
                    "/0002_valid_users.sql"
                )),
            },
            Migration {
                version: 3,
                name: "messages",
                sql: include_str!(concat!("../../../migrations/", $dir, "/0003_messages.sql")),
            },
            Migration {
                version: 4,
                name: "delivery",
                sql: include_str!(concat!("../../../migrations/", $dir, "/0004_delivery.sql")),
            },
            Migration {
                version: 5,
                name: "feedback",
                sql: include_str!(concat!("../../../migrations/", $dir, "/0005_feedback.sql")),
            },
            Migration {
                version: 6,
                name: "hardening",
                sql: include_str!(concat!("../../../migrations/", $dir, "/0006_hardening.sql")),
            },
            Migration {
                version: 7,
                name: "promises",
                sql: include_str!(concat!("../../../migrations/", $dir, "/0007_promises.sql")),
            },
            Migration {
                version: 8,
                name: "states",
                sql: include_str!(concat!("../../../migrations/", $dir, "/0008_states.sql")),
            },
            Migration {
                version: 9,
                name: "members",
                sql: include_str!(concat!("../../../migrations/", $dir, "/0009_members.sql")),
            },
            Migration {
                version: 10,
                name: "operators",
                sql: include_str!(concat!("../../../migrations/", $dir, "/0010_operators.sql")),
            },
            Migration {
                version: 11,
                name: "campaigns",
                sql: include_str!(concat!("../../../migrations/", $dir, "/0011_campaigns.sql")),
            },
            Migration {
                version: 12,
                name: "scheduling",
                sql: include_str!(concat!(
                    "../../../migrations/",
                    $dir,
                    "/0012_scheduling.sql"
                )),
            },
            Migration {
                version: 13,
                name: "topics",
                sql: include_str!(concat!("../../../migrations/", $dir, "/0013_topics.sql")),
            },
            Migration {
                version: 14,
                name: "forms",
                sql: include_str!(concat!("../../../migrations/", $dir, "/0014_forms.sql")),
            },
            Migration {
                version: 15,
                name: "warmup",
                sql: include_str!(concat!("../../../migrations/", $dir, "/0015_warmup.sql")),
            },
            Migration {
                version: 16,
                name: "sunset",
                sql: include_str!(concat!("../../../migrations/", $dir, "/0016_sunset.sql")),
            },
        ]
    };
}

const SQLITE: &[Migration] = migrations!("sqlite");
const POSTGRES: &[Migration] = migrations!("postgres");

/// An arbitrary constant naming sendwell's migration lock on PostgreSQL.
const PG_LOCK_KEY: i64 = 0x5E4D_3E11;

pub(crate) async fn run(store: &Store) -> Result<()> {
    let migrations = match store.backend {
        Backend::Sqlite => SQLITE,
        Backend::Postgres => POSTGRES,
    };
    let mut conn = store.write.acquire().await?;
    if store.backend == Backend::Postgres {
        // Several servers may start at once against one database.
        sqlx::query("SELECT pg_advisory_lock($1)")
            .bind(PG_LOCK_KEY)
            .execute(&mut *conn)
            .await?;
    }
    let outcome = apply(&mut conn, migrations, store.now().millis()).await;
    if store.backend == Backend::Postgres {
        sqlx::query("SELECT pg_advisory_unlock($1)")
            .bind(PG_LOCK_KEY)
            .execute(&mut *conn)
            .await?;
    }
    outcome
}

async fn apply(conn: &mut sqlx::AnyConnection, migrations: &[Migration], now: i64) -> Result<()> {
    sqlx::raw_sql(
        "CREATE TABLE IF NOT EXISTS schema_migrations (version BIGINT PRIMARY KEY, \
         name TEXT NOT NULL, checksum TEXT NOT NULL, applied_at BIGINT NOT NULL)",
    )
    .execute(&mut *conn)
    .await?;
    let rows = sqlx::query("SELECT version, checksum FROM schema_migrations ORDER BY version")
        .fetch_all(&mut *conn)
        .await?;
    let mut applied = Vec::with_capacity(rows.len());
    for row in rows {
        applied.push((
            row.try_get::<i64, _>("version")?,
            row.try_get::<String, _>("checksum")?,
        ));
    }
    let newest_known = migrations.last().map_or(0, |m| m.version);
    if let Some((v, _)) = applied.iter().find(|(v, _)| *v > newest_known) {
        return Err(StoreError::Integrity(format!(
            "the database has migration {v}, newer than this sendwell knows (up to {newest_known}): \
             run a sendwell at least as new as the one that migrated it"
        )));
    }
    for m in migrations {
        let checksum = sha256_hex(m.sql.as_bytes());
        match applied.iter().find(|(v, _)| *v == m.version) {
            Some((_, recorded)) if *recorded == checksum => continue,
            Some(_) => {
                return Err(StoreError::Migration {
                    version: m.version,
                    name: m.name.to_owned(),
                    reason: "it was changed after it was applied to this database".to_owned(),
                })
            }
            None => {}
        }
        let failed = |e: sqlx::Error| StoreError::Migration {
            version: m.version,
            name: m.name.to_owned(),
            reason: e.to_string(),
        };
        let mut tx = sqlx::Connection::begin(&mut *conn).await?;
        sqlx::raw_sql(m.sql)
            .execute(&mut *tx)
            .await
            .map_err(failed)?;
        sqlx::query("INSERT INTO schema_migrations (version, name, checksum, applied_at) VALUES ($1, $2, $3, $4)")
            .bind(m.version)
            .bind(m.name)
            .bind(checksum)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        tracing::info!(version = m.version, name = m.name, "applied migration");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use sendwell_core::{DeliveryStatus, MessageState, ReviewState};

    /// The names in every `IN (...)` list that follows `after` in `sql`.
    fn lists_after<'a>(sql: &'a str, after: &str) -> Vec<Vec<&'a str>> {
        sql.match_indices(after)
            .filter_map(|(at, _)| {
                let rest = &sql[at..];
                let open = rest.find("IN (")? + 4;
                let close = rest[open..].find(')')? + open;
                Some(
                    rest[open..close]
                        .split(',')
                        .map(|s| s.trim().trim_matches('\''))
                        .collect(),
                )
            })
            .collect()
    }

    #[test]
    fn the_schema_lists_exactly_the_states_of_the_code() {
        let names = |all: &[&'static str]| all.to_vec();
        let delivery = names(
            &DeliveryStatus::ALL
                .iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>(),
        );
        let message = names(
            &MessageState::ALL
                .iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>(),
        );
        let review = names(
            &ReviewState::ALL
                .iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>(),
        );
        for migrations in [SQLITE, POSTGRES] {
            // The last migration that states each rule is the one in force.
            let last = |rule: &str| {
                migrations
                    .iter()
                    .rev()
                    .find(|m| m.sql.contains(rule))
                    .unwrap_or_else(|| panic!("no migration states {rule}"))
            };
            let m = last("deliveries_state_known");
            let deliveries = lists_after(m.sql, "NEW.state NOT IN")
                .into_iter()
                .chain(lists_after(m.sql, "CHECK (state IN"))
                .collect::<Vec<_>>();
            assert!(!deliveries.is_empty());
            for list in deliveries {
                assert!(
                    list == delivery || list == message,
                    "{list:?} is neither the delivery nor the message states"
                );
            }
            let r = last("review_state");
            let reviews = lists_after(r.sql, "review_state NOT IN")
                .into_iter()
                .chain(lists_after(r.sql, "review_state IN"))
                .collect::<Vec<_>>();
            assert!(!reviews.is_empty());
            assert!(reviews.iter().all(|l| *l == review), "{reviews:?}");
            assert!(m.sql.contains(&format!("'{}'", delivery.join("', '"))));
            assert!(m.sql.contains(&format!("'{}'", message.join("', '"))));
        }
    }
}
