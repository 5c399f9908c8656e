//! Read-model writes on MySQL as plain text: multi-row `INSERT`s with their values written in
//! as literals ([`SqlText`]), several statements to a round trip, nothing to prepare.
//!
//! Each prepared multi-row statement of a row count met once cost the server a prepare, an
//! execute and a close, and cost a round trip each; a projector batch of adds wrote four or
//! five of them. As text, a batch is one round trip of one kind of command.

use crate::query::Param;
use crate::ReadModelError;
use moviedb_sql_kit::SqlText;
use sqlx::{AnyConnection, Executor};
use uuid::Uuid;

/// Rows per statement, as before.
const ROWS: usize = 500;
/// A statement is closed and another begun with the same head past this many bytes, and the
/// text is sent past [`SEND_AT`]: MariaDB refuses a packet over `max_allowed_packet` (16 MB
/// by default, 4 MB on older servers), and strings are written as hexadecimal, at twice their
/// size.
const STATEMENT_BYTES: usize = 1 << 20;
const SEND_AT: usize = 2 << 20;

/// The texts that write the rows of `parts` (each an `INSERT` head up to `VALUES ` and its
/// rows), in order, then `then` (a statement of the program's own, or nothing): each text is
/// one round trip, a new one begun past [`SEND_AT`] bytes.
pub(crate) fn texts<'a>(
    parts: impl IntoIterator<Item = (&'a str, &'a [Vec<Param>])>,
    then: Option<&str>,
) -> Result<Vec<String>, ReadModelError> {
    let mut texts = Vec::new();
    let mut sql = SqlText::with_capacity(4096);
    let cut = |sql: &mut SqlText, texts: &mut Vec<String>| {
        if sql.len() > SEND_AT {
            texts.push(sql.take());
        }
    };
    for (head, rows) in parts {
        for chunk in rows.chunks(ROWS) {
            let mut start = sql.len();
            sql.sql(head);
            for (i, row) in chunk.iter().enumerate() {
                if i > 0 {
                    if sql.len() - start > STATEMENT_BYTES {
                        sql.sql(";\n");
                        cut(&mut sql, &mut texts);
                        start = sql.len();
                        sql.sql(head);
                    } else {
                        sql.sql(", ");
                    }
                }
                push_row(&mut sql, row)?;
            }
            sql.sql(";\n");
            cut(&mut sql, &mut texts);
        }
    }
    if let Some(then) = then {
        sql.sql(then);
    }
    if !sql.is_empty() {
        texts.push(sql.take());
    }
    Ok(texts)
}

/// Sends each text, in order, each one round trip.
pub(crate) async fn send(
    conn: &mut AnyConnection,
    texts: Vec<String>,
) -> Result<(), ReadModelError> {
    for text in texts {
        // A `&str` alone goes as a text query (COM_QUERY), however many statements it holds.
        (&mut *conn).execute(text.as_str()).await?;
    }
    Ok(())
}

/// `head` and the ids as a list of literals, `(id, id, ...)`: a query by an `IN`
/// list, sent as text (`Executor::fetch_all` of the `&str`). Prepared, each list length was
/// its own statement, prepared and closed again for lists of more than 16 ids; those were
/// the server's last prepares under a load of adds (the projector's version reads and the
/// search indexer's movie reads).
pub(crate) fn id_list(head: &str, ids: &[Uuid]) -> String {
    let mut sql = SqlText::with_capacity(head.len() + ids.len() * 40 + 2);
    sql.sql(head).sql("(");
    for (i, id) in ids.iter().enumerate() {
        if i > 0 {
            sql.sql(", ");
        }
        sql.text(&id.to_string());
    }
    sql.sql(")");
    sql.take()
}

/// `(v, v, ...)`.
fn push_row(sql: &mut SqlText, row: &[Param]) -> Result<(), ReadModelError> {
    sql.sql("(");
    for (i, param) in row.iter().enumerate() {
        if i > 0 {
            sql.sql(", ");
        }
        match param {
            Param::Text(v) => {
                sql.text(v);
            }
            Param::Int(v) => {
                sql.int(*v);
            }
            Param::Null => {
                sql.sql("NULL");
            }
            Param::Real(v) => {
                sql.float(*v).ok_or_else(|| {
                    ReadModelError::Corrupt(format!("{v} is not a number MySQL can store"))
                })?;
            }
        }
    }
    sql.sql(")");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_row_is_literals_in_order() {
        let mut sql = SqlText::default();
        push_row(
            &mut sql,
            &[
                Param::Text("it's".into()),
                Param::Int(-3),
                Param::Real(7.25),
            ],
        )
        .expect("finite");
        assert_eq!(sql.as_str(), "(_utf8mb4 X'69742773', -3, 7.25e0)");
    }

    #[test]
    fn an_id_list_is_literals_after_the_head() {
        let id = Uuid::from_u128(0xAB);
        // A UUID is letters, digits and hyphens: quoted as it is (see `SqlText::text`).
        assert_eq!(
            id_list("SELECT 1 WHERE x IN ", &[id, id]),
            "SELECT 1 WHERE x IN ('00000000-0000-0000-0000-0000000000ab', \
             '00000000-0000-0000-0000-0000000000ab')"
        );
    }

    #[test]
    fn a_number_without_a_sql_value_is_refused() {
        let mut sql = SqlText::default();
        assert!(push_row(&mut sql, &[Param::Real(f64::NAN)]).is_err());
    }
}
