//! Column ↔ value conversions for SQLite rows: the shared [`crate::codec`] and its readers
//! for [`SqliteRow`].

use sqlx::Sqlite;
use sqlx::sqlite::SqliteRow;

pub(crate) use crate::codec::*;

crate::codec::row_getters!(SqliteRow, Sqlite);
