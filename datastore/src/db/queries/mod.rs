//! Every SQL statement of the datastore, grouped by what it is about. Functions take a
//! connection and run on either backend; callers decide about transactions.

pub mod advisories;
pub mod auth;
pub mod directory;
pub mod distributions;
pub mod events;
pub mod keys;
pub mod outbound;
pub mod people;
pub mod publishers;
pub mod releases;
pub mod schedules;
pub mod sessions;
pub mod tasks;
pub mod uploads;
pub mod votes;
pub mod waivers;

/// `INSERT … ON CONFLICT DO NOTHING`, spelled for each backend (the multi-backend connection
/// cannot express it directly).
macro_rules! insert_or_ignore {
    ($conn:expr, $table:expr, $values:expr) => {{
        use diesel::RunQueryDsl;
        match $conn {
            $crate::db::DbConnection::Postgres(c) => {
                diesel::insert_into($table).values($values).on_conflict_do_nothing().execute(c)
            }
            $crate::db::DbConnection::Sqlite(c) => diesel::insert_or_ignore_into($table).values($values).execute(c),
        }
    }};
}
pub(crate) use insert_or_ignore;

/// Turns "no row" into `None`, as `OptionalExtension` does, for readability at call sites.
pub use diesel::OptionalExtension;
