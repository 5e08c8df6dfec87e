//! The two backends' migrations describe the same schema: every table has the same columns,
//! with the same nullability, on SQLite and on PostgreSQL.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "a failing test should stop at the failure")]

use std::collections::BTreeMap;

use diesel::prelude::*;
use diesel::sql_types::{Bool, Text};
use testkit::{Backend, TestDatabase};

#[derive(QueryableByName, Debug)]
struct Column {
    #[diesel(sql_type = Text)]
    table_name: String,
    #[diesel(sql_type = Text)]
    column_name: String,
    #[diesel(sql_type = Bool)]
    nullable: bool,
}

type Schema = BTreeMap<String, BTreeMap<String, bool>>;

fn schema_of(db: &TestDatabase) -> Schema {
    let store = datastore::db::Db::connect(&db.url, 1).unwrap();
    store.migrate().unwrap();
    let mut conn = store.conn().unwrap();
    let query = match db.backend {
        Backend::Sqlite => {
            "SELECT m.name AS table_name, p.name AS column_name, (p.\"notnull\" = 0 AND p.pk = 0) AS nullable \
             FROM sqlite_master m JOIN pragma_table_info(m.name) p \
             WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite_%' AND m.name NOT LIKE '__diesel%'"
        }
        Backend::Postgres => {
            "SELECT table_name::text AS table_name, column_name::text AS column_name, (is_nullable = 'YES') AS nullable \
             FROM information_schema.columns WHERE table_schema = current_schema() AND table_name NOT LIKE '__diesel%'"
        }
    };
    let columns: Vec<Column> = diesel::sql_query(query).load(&mut *conn).unwrap();
    let mut schema = Schema::new();
    for c in columns {
        schema.entry(c.table_name).or_default().insert(c.column_name, c.nullable);
    }
    schema
}

#[test]
fn sqlite_and_postgres_migrations_match() {
    let sqlite = schema_of(&TestDatabase::new(Backend::Sqlite).unwrap());
    let Some(postgres) = TestDatabase::new(Backend::Postgres) else { return };
    let postgres = schema_of(&postgres);
    assert_eq!(sqlite.len(), 38, "the whole data model: {:?}", sqlite.keys());
    assert_eq!(sqlite, postgres);
}
