//! Column ↔ value conversions for SQLite rows: the shared [`crate::codec`] and its readers
//! for [`SqliteRow`].

use sqlx::sqlite::SqliteRow;
use sqlx::Sqlite;

pub(crate) use crate::codec::*;

crate::codec::row_getters!(SqliteRow, Sqlite);
