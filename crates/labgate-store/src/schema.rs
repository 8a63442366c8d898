//! A backend-neutral description of the schema, so the two migration trees can be compared.

use std::collections::BTreeSet;

use crate::{Pool, Result, Store};

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct ColumnInfo {
    pub table: String,
    pub column: String,
    /// A type family both backends share: `text`, `int4`, `int8`, `bytes`, `bool`, or the raw
    /// declared type when it maps to none of them.
    pub family: String,
    pub nullable: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct IndexInfo {
    pub table: String,
    pub name: String,
    pub unique: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SchemaInventory {
    pub tables: BTreeSet<String>,
    pub columns: BTreeSet<ColumnInfo>,
    pub indexes: BTreeSet<IndexInfo>,
}

fn family(declared: &str) -> String {
    match declared.to_ascii_lowercase().as_str() {
        "text" | "character varying" | "varchar" => "text".to_owned(),
        "integer" | "int" | "int4" => "int4".to_owned(),
        "bigint" | "int8" => "int8".to_owned(),
        "blob" | "bytea" => "bytes".to_owned(),
        "boolean" | "bool" => "bool".to_owned(),
        other => other.to_owned(),
    }
}

const MIGRATIONS_TABLE: &str = "_sqlx_migrations";

impl Store {
    /// Tables, columns and named indexes of labgate's schema (the migrations bookkeeping table and
    /// primary-key indexes excluded).
    pub async fn schema_inventory(&self) -> Result<SchemaInventory> {
        let mut inventory = SchemaInventory::default();
        match &self.pool {
            Pool::Sqlite(pool) => {
                let tables: Vec<String> = sqlx::query_scalar(
                    "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' \
                     AND name <> $1 ORDER BY name",
                )
                .bind(MIGRATIONS_TABLE)
                .fetch_all(pool)
                .await?;
                for table in tables {
                    let columns: Vec<(String, String, bool)> = sqlx::query_as(
                        "SELECT name, type, \"notnull\" FROM pragma_table_info($1) ORDER BY cid",
                    )
                    .bind(&table)
                    .fetch_all(pool)
                    .await?;
                    for (column, declared, not_null) in columns {
                        inventory.columns.insert(ColumnInfo {
                            table: table.clone(),
                            column,
                            family: family(&declared),
                            nullable: !not_null,
                        });
                    }
                    let indexes: Vec<(String, bool, String)> =
                        sqlx::query_as("SELECT name, \"unique\", origin FROM pragma_index_list($1)")
                            .bind(&table)
                            .fetch_all(pool)
                            .await?;
                    for (name, unique, origin) in indexes {
                        if origin == "c" {
                            inventory.indexes.insert(IndexInfo {
                                table: table.clone(),
                                name,
                                unique,
                            });
                        }
                    }
                    inventory.tables.insert(table);
                }
            }
            Pool::Postgres(pool) => {
                let columns: Vec<(String, String, String, String)> = sqlx::query_as(
                    "SELECT table_name::TEXT, column_name::TEXT, data_type::TEXT, is_nullable::TEXT \
                     FROM information_schema.columns WHERE table_schema = current_schema() AND table_name <> $1 \
                     ORDER BY table_name, ordinal_position",
                )
                .bind(MIGRATIONS_TABLE)
                .fetch_all(pool)
                .await?;
                for (table, column, declared, nullable) in columns {
                    inventory.tables.insert(table.clone());
                    inventory.columns.insert(ColumnInfo {
                        table,
                        column,
                        family: family(&declared),
                        nullable: nullable == "YES",
                    });
                }
                let indexes: Vec<(String, String, bool)> = sqlx::query_as(
                    "SELECT t.relname::TEXT, i.relname::TEXT, ix.indisunique FROM pg_index ix \
                     JOIN pg_class i ON i.oid = ix.indexrelid JOIN pg_class t ON t.oid = ix.indrelid \
                     JOIN pg_namespace n ON n.oid = t.relnamespace \
                     WHERE n.nspname = current_schema() AND NOT ix.indisprimary AND t.relname <> $1",
                )
                .bind(MIGRATIONS_TABLE)
                .fetch_all(pool)
                .await?;
                for (table, name, unique) in indexes {
                    inventory.indexes.insert(IndexInfo { table, name, unique });
                }
            }
        }
        Ok(inventory)
    }
}
