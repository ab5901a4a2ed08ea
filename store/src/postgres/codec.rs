//! Column ↔ value conversions for PostgreSQL rows: the shared [`crate::codec`] and its
//! readers for [`PgRow`].

use sqlx::Postgres;
use sqlx::postgres::PgRow;

pub(crate) use crate::codec::*;

crate::codec::row_getters!(PgRow, Postgres);
