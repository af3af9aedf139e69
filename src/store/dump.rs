//! The database's rows as `COPY` text, for `agentbox backup` / `restore`. There is no
//! `pg_dump` for the embedded database, and the same code must serve external Postgres, so the
//! data is copied table by table with SQL: out in one REPEATABLE READ READ ONLY transaction (one
//! consistent snapshot of every table), in after the migrations have built the schema, parents
//! before children, in one transaction that either restores every row or none.

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};

use futures::StreamExt;
use serde::{Deserialize, Serialize};
use sqlx::PgConnection;
use tokio::sync::mpsc;

use super::{MIGRATOR, Store, StoreError};

/// Schemas whose tables hold the platform's data.
const SCHEMAS: [&str; 2] = ["auth", "public"];
/// Tables the migrations fill by themselves: their rows alone do not make a database "in use".
const SEEDED: [&str; 3] = ["auth.claims_key", "public.providers", "public.models"];

/// One column of a dumped table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ColumnInfo {
    pub name: String,
    /// The type as `format_type` writes it (`uuid`, `timestamp with time zone`, `vector`).
    #[serde(rename = "type")]
    pub type_name: String,
}

/// One dumped table: its columns in the order of the data, and its row count.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TableInfo {
    /// `schema.table`.
    pub name: String,
    pub columns: Vec<ColumnInfo>,
    pub rows: u64,
}

/// What a dump streams, table by table, in restore order.
#[derive(Debug)]
pub enum DumpChunk {
    /// A table starts (its `rows` are not known yet: 0).
    Table(TableInfo),
    /// `COPY` text of the current table.
    Data(Vec<u8>),
    /// The current table is complete.
    End { rows: u64 },
}

/// The migrations the dumped database had applied, and its tables.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DatabaseDump {
    pub migrations: Vec<i64>,
    pub tables: Vec<TableInfo>,
}

/// What a restore reads for one table: its data in chunks, then `None`.
pub type RestoreFeed = mpsc::Receiver<Result<Vec<u8>, String>>;

/// A pgvector column is written as `real[]`, whose text form every Postgres reads: an archive
/// from a server with pgvector restores into one without it, and back.
const VECTOR: &str = "vector";

fn quote(ident: &str) -> String {
    format!("\"{}\"", ident.replace('"', "\"\""))
}

fn qualified(name: &str) -> String {
    match name.split_once('.') {
        Some((schema, table)) => format!("{}.{}", quote(schema), quote(table)),
        None => quote(name),
    }
}

impl Store {
    /// The version of every applied migration.
    pub async fn applied_migrations(&self) -> Result<Vec<i64>, StoreError> {
        let pool = self.owner.clone();
        self.detached(async move {
            sqlx::query_scalar("select version from _sqlx_migrations where success order by version")
                .fetch_all(&pool)
                .await
                .or_else(|err| match err {
                    sqlx::Error::Database(db) if db.code().as_deref() == Some("42P01") => Ok(Vec::new()),
                    other => Err(other.into()),
                })
        })
        .await
    }

    /// Applies the migrations up to `version` only (a restore builds the schema its archive
    /// was made with, fills it, then applies the rest).
    pub async fn migrate_to(&self, version: i64) -> Result<(), StoreError> {
        let pool = self.owner.clone();
        self.detached(async move {
            // sqlx documents these fields as semver-exempt; Cargo.lock pins the version.
            let partial = sqlx::migrate::Migrator {
                migrations: Cow::Owned(
                    MIGRATOR
                        .iter()
                        .filter(|m| m.version <= version)
                        .cloned()
                        .collect(),
                ),
                ignore_missing: false,
                locking: true,
                no_tx: false,
            };
            Ok(partial.run(&pool).await?)
        })
        .await
    }

    /// Every migration version this binary knows.
    pub fn known_migrations() -> Vec<i64> {
        MIGRATOR.iter().map(|m| m.version).collect()
    }

    /// Whether any table holds rows besides the ones the migrations put there: the tables
    /// that do, by name (a restore refuses to replace them without `--force`).
    pub async fn tables_in_use(&self) -> Result<Vec<String>, StoreError> {
        let pool = self.owner.clone();
        self.detached(async move {
            let mut conn = pool.acquire().await?;
            let mut used = Vec::new();
            for table in data_tables(&mut conn).await? {
                if SEEDED.contains(&table.as_str()) {
                    continue;
                }
                let sql = format!("select exists (select 1 from {})", qualified(&table));
                if sqlx::query_scalar::<_, bool>(&sql).fetch_one(&mut *conn).await? {
                    used.push(table);
                }
            }
            Ok(used)
        })
        .await
    }

    /// Streams every table's rows into `sink`, parents before children, from one consistent
    /// snapshot. The COPY streams are always read to their end, even when the sink has gone
    /// (a connection left in the middle of a response wedges the embedded server): the dump
    /// then ends early with the sink's own error left to its owner.
    pub async fn dump_tables(&self, sink: mpsc::Sender<DumpChunk>) -> Result<DatabaseDump, StoreError> {
        let pool = self.owner.clone();
        self.detached(async move {
            let mut tx = pool.begin().await?;
            sqlx::query("set transaction isolation level repeatable read, read only")
                .execute(&mut *tx)
                .await?;
            let migrations: Vec<i64> =
                sqlx::query_scalar("select version from _sqlx_migrations where success order by version")
                    .fetch_all(&mut *tx)
                    .await?;
            let mut tables = Vec::new();
            let mut open = true;
            for name in restore_order(&mut tx).await? {
                let columns = columns(&mut tx, &name).await?;
                let mut table = TableInfo {
                    name,
                    columns,
                    rows: 0,
                };
                open = open && sink.send(DumpChunk::Table(table.clone())).await.is_ok();
                let select: Vec<String> = table
                    .columns
                    .iter()
                    .map(|c| {
                        if c.type_name == VECTOR {
                            format!("{}::real[]", quote(&c.name))
                        } else {
                            quote(&c.name)
                        }
                    })
                    .collect();
                let sql = format!(
                    "copy (select {} from {}) to stdout",
                    select.join(", "),
                    qualified(&table.name)
                );
                let mut stream = tx.copy_out_raw(&sql).await?;
                let mut failure = None;
                while let Some(chunk) = stream.next().await {
                    match chunk {
                        // Text format: one line per row, newlines inside values are escaped.
                        Ok(bytes) => {
                            table.rows += bytecount(&bytes);
                            open = open && sink.send(DumpChunk::Data(bytes.to_vec())).await.is_ok();
                        }
                        Err(err) => failure = Some(err),
                    }
                }
                drop(stream);
                if let Some(err) = failure {
                    return Err(err.into());
                }
                open = open && sink.send(DumpChunk::End { rows: table.rows }).await.is_ok();
                for column in &mut table.columns {
                    if column.type_name == VECTOR {
                        "real[]".clone_into(&mut column.type_name);
                    }
                }
                tables.push(table);
            }
            tx.commit().await?;
            Ok(DatabaseDump { migrations, tables })
        })
        .await
    }

    /// Replaces the rows of every table with the archive's, in one transaction: every table is
    /// emptied (seed rows too: the archive has its own), the rows of `tables` are copied in
    /// from `feeds` in order (one feed per table) with user triggers off (they would stamp
    /// times, or make a second profile for each restored auth user), and identity sequences
    /// continue after the restored ids. On any failure nothing changes.
    pub async fn restore_tables(
        &self,
        tables: Vec<TableInfo>,
        feeds: mpsc::Receiver<RestoreFeed>,
    ) -> Result<(), StoreError> {
        let pool = self.owner.clone();
        self.detached(async move {
            let mut feeds = feeds;
            let mut tx = pool.begin().await?;
            let existing = data_tables(&mut tx).await?;
            let targets: Vec<String> = existing.iter().map(|t| qualified(t)).collect();
            if !targets.is_empty() {
                sqlx::query(&format!("truncate table {} restart identity", targets.join(", ")))
                    .execute(&mut *tx)
                    .await?;
            }
            for target in &targets {
                sqlx::query(&format!("alter table {target} disable trigger user"))
                    .execute(&mut *tx)
                    .await?;
            }
            for table in &tables {
                if !existing.contains(&table.name) {
                    return Err(StoreError::Restore(format!(
                        "the archive has table {}, which this database does not",
                        table.name
                    )));
                }
                let Some(feed) = feeds.recv().await else {
                    return Err(StoreError::Restore(format!("no data came for {}", table.name)));
                };
                let copied = copy_in(&mut tx, table, feed).await?;
                if copied != table.rows {
                    return Err(StoreError::Restore(format!(
                        "{}: {copied} rows restored, the archive says {}",
                        table.name, table.rows
                    )));
                }
            }
            for target in &targets {
                sqlx::query(&format!("alter table {target} enable trigger user"))
                    .execute(&mut *tx)
                    .await?;
            }
            reset_sequences(&mut tx).await?;
            tx.commit().await?;
            Ok(())
        })
        .await
    }
}

// One pass over each chunk as it streams by; not worth a crate.
#[allow(clippy::naive_bytecount)]
fn bytecount(bytes: &[u8]) -> u64 {
    bytes.iter().filter(|&&b| b == b'\n').count() as u64
}

/// The tables of the data schemas (not the migrations' own, not an extension's).
async fn data_tables(conn: &mut PgConnection) -> Result<Vec<String>, StoreError> {
    Ok(sqlx::query_scalar(
        "select n.nspname || '.' || c.relname
           from pg_catalog.pg_class c
           join pg_catalog.pg_namespace n on n.oid = c.relnamespace
          where c.relkind in ('r', 'p') and not c.relispartition
            and n.nspname = any($1) and c.relname <> '_sqlx_migrations'
            and not exists (select 1 from pg_catalog.pg_depend d
                             where d.objid = c.oid and d.deptype = 'e')
          order by 1",
    )
    .bind(SCHEMAS.as_slice())
    .fetch_all(conn)
    .await?)
}

/// The data tables, each after every table its foreign keys point to (ties by name, so the
/// order is stable). A cycle of foreign keys (none in the schema) is broken by name order.
async fn restore_order(conn: &mut PgConnection) -> Result<Vec<String>, StoreError> {
    let tables = data_tables(conn).await?;
    let edges: Vec<(String, String)> = sqlx::query_as(
        "select cn.nspname || '.' || c.relname, fn.nspname || '.' || f.relname
           from pg_catalog.pg_constraint k
           join pg_catalog.pg_class c on c.oid = k.conrelid
           join pg_catalog.pg_namespace cn on cn.oid = c.relnamespace
           join pg_catalog.pg_class f on f.oid = k.confrelid
           join pg_catalog.pg_namespace fn on fn.oid = f.relnamespace
          where k.contype = 'f'",
    )
    .fetch_all(conn)
    .await?;
    Ok(topological(&tables, &edges))
}

/// Orders `tables` so that each comes after the tables it references (`edges`: child → parent).
fn topological(tables: &[String], edges: &[(String, String)]) -> Vec<String> {
    let known: BTreeSet<&str> = tables.iter().map(String::as_str).collect();
    let mut parents: BTreeMap<&str, BTreeSet<&str>> = known.iter().map(|t| (*t, BTreeSet::new())).collect();
    for (child, parent) in edges {
        if child != parent && known.contains(child.as_str()) && known.contains(parent.as_str()) {
            parents
                .get_mut(child.as_str())
                .expect("known table")
                .insert(parent.as_str());
        }
    }
    let mut order = Vec::with_capacity(tables.len());
    let mut placed = BTreeSet::new();
    while placed.len() < known.len() {
        let ready = parents
            .iter()
            .find(|(table, deps)| !placed.contains(*table) && deps.iter().all(|d| placed.contains(d)))
            .map(|(table, _)| *table);
        // A cycle: take the first remaining table by name and carry on.
        let next = ready.unwrap_or_else(|| {
            *known
                .iter()
                .find(|t| !placed.contains(*t))
                .expect("a table remains")
        });
        placed.insert(next);
        order.push(next.to_owned());
    }
    order
}

/// The columns a dump writes: every stored column (generated ones are computed again).
async fn columns(conn: &mut PgConnection, table: &str) -> Result<Vec<ColumnInfo>, StoreError> {
    let rows: Vec<(String, String)> = sqlx::query_as(
        "select a.attname::text, case when t.typname = 'vector' then 'vector'
                                 else pg_catalog.format_type(a.atttypid, a.atttypmod) end
           from pg_catalog.pg_attribute a
           join pg_catalog.pg_type t on t.oid = a.atttypid
          where a.attrelid = $1::regclass and a.attnum > 0 and not a.attisdropped
            and a.attgenerated = ''
          order by a.attnum",
    )
    .bind(qualified(table))
    .fetch_all(conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(name, type_name)| ColumnInfo { name, type_name })
        .collect())
}

/// Copies one table's rows in. A column that is `vector` here and `real[]` in the archive
/// goes through a staging table and a cast; everything else is copied straight in.
async fn copy_in(
    conn: &mut PgConnection,
    table: &TableInfo,
    mut feed: RestoreFeed,
) -> Result<u64, StoreError> {
    let here = columns(conn, &table.name).await?;
    let mut casts = Vec::new();
    for column in &table.columns {
        let Some(target) = here.iter().find(|c| c.name == column.name) else {
            return Err(StoreError::Restore(format!(
                "{}: the archive has column {}, which this database does not",
                table.name, column.name
            )));
        };
        casts.push(target.type_name == VECTOR && column.type_name != VECTOR);
    }
    let names: Vec<String> = table.columns.iter().map(|c| quote(&c.name)).collect();
    let staged = casts.iter().any(|&cast| cast);
    let into = if staged {
        sqlx::query(&format!(
            "create temporary table agentbox_restore_staging on commit drop as
                 select {} from {} limit 0",
            table
                .columns
                .iter()
                .zip(&casts)
                .map(|(c, &cast)| if cast {
                    format!("{}::real[] as {}", quote(&c.name), quote(&c.name))
                } else {
                    quote(&c.name)
                })
                .collect::<Vec<_>>()
                .join(", "),
            qualified(&table.name)
        ))
        .execute(&mut *conn)
        .await?;
        "agentbox_restore_staging".to_owned()
    } else {
        qualified(&table.name)
    };
    let mut copy = conn
        .copy_in_raw(&format!("copy {into} ({}) from stdin", names.join(", ")))
        .await?;
    let mut failure = None;
    while let Some(chunk) = feed.recv().await {
        match chunk {
            Ok(bytes) => {
                if let Err(err) = copy.send(bytes).await {
                    failure = Some(StoreError::from(err));
                    break;
                }
            }
            Err(message) => {
                failure = Some(StoreError::Restore(message));
                break;
            }
        }
    }
    if let Some(err) = failure {
        // Ends the COPY cleanly (the connection stays usable), then the transaction rolls back.
        let _ = copy.abort("restore stopped").await;
        return Err(err);
    }
    let copied = copy.finish().await?;
    if staged {
        let select: Vec<String> = table
            .columns
            .iter()
            .zip(&casts)
            .map(|(c, &cast)| {
                if cast {
                    format!("{}::vector", quote(&c.name))
                } else {
                    quote(&c.name)
                }
            })
            .collect();
        sqlx::query(&format!(
            "insert into {} ({}) overriding system value select {} from agentbox_restore_staging",
            qualified(&table.name),
            names.join(", "),
            select.join(", ")
        ))
        .execute(&mut *conn)
        .await?;
        sqlx::query("drop table agentbox_restore_staging")
            .execute(&mut *conn)
            .await?;
    }
    Ok(copied)
}

/// Identity and serial columns continue after the largest restored value.
async fn reset_sequences(conn: &mut PgConnection) -> Result<(), StoreError> {
    let sequences: Vec<(String, String, String)> = sqlx::query_as(
        "select format('%I.%I', n.nspname, c.relname), a.attname::text,
                pg_catalog.pg_get_serial_sequence(format('%I.%I', n.nspname, c.relname), a.attname)
           from pg_catalog.pg_attribute a
           join pg_catalog.pg_class c on c.oid = a.attrelid
           join pg_catalog.pg_namespace n on n.oid = c.relnamespace
          where c.relkind = 'r' and n.nspname = any($1) and a.attnum > 0 and not a.attisdropped
            and pg_catalog.pg_get_serial_sequence(format('%I.%I', n.nspname, c.relname), a.attname) is not null",
    )
    .bind(SCHEMAS.as_slice())
    .fetch_all(&mut *conn)
    .await?;
    for (table, column, sequence) in sequences {
        sqlx::query(&format!(
            "select pg_catalog.setval($1::regclass, coalesce((select max({}) from {table}), 0) + 1, false)",
            quote(&column)
        ))
        .bind(sequence)
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn parents_come_before_their_children() {
        let tables = names(&["public.messages", "auth.users", "public.sessions", "public.users"]);
        let edges = vec![
            ("public.messages".into(), "public.sessions".into()),
            ("public.messages".into(), "public.users".into()),
            ("public.sessions".into(), "public.users".into()),
            ("public.users".into(), "auth.users".into()),
        ];
        assert_eq!(
            topological(&tables, &edges),
            names(&["auth.users", "public.users", "public.sessions", "public.messages"])
        );
    }

    #[test]
    fn self_references_and_cycles_do_not_stall_the_order() {
        let tables = names(&["a", "b", "c"]);
        let edges = vec![
            ("a".into(), "a".into()),
            ("a".into(), "b".into()),
            ("b".into(), "a".into()),
        ];
        // c is free; a and b wait on each other: the cycle is broken by name order.
        assert_eq!(topological(&tables, &edges), names(&["c", "a", "b"]));
    }

    #[test]
    fn identifiers_are_quoted() {
        assert_eq!(qualified("public.odd\"name"), "\"public\".\"odd\"\"name\"");
        assert_eq!(bytecount(b"a\tb\n\\n escaped\nlast\n"), 3);
    }
}
