//! Event data store references in table position (after `FROM` or `JOIN`), found with
//! sqlparser's tokenizer so that string literals and comments are never touched.

use sqlparser::dialect::GenericDialect;
use sqlparser::keywords::Keyword;
use sqlparser::tokenizer::{Location, Token, TokenWithSpan, Tokenizer};

use crate::VIEW;

/// Which SQL a statement is written in.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Dialect {
    /// Lake when the statement names an event data store, Athena otherwise.
    #[default]
    Auto,
    /// Athena's: statements are taken as written.
    Athena,
    /// Lake's: event data store references, and `cloudtrail_logs` too, read [`VIEW`].
    Lake,
}

/// A statement whose event data store references now read [`VIEW`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rewrite {
    pub sql: String,
    /// The references replaced, as written (`$EDS_ID`, `<EDS ID>`, an id or ARN).
    pub stores: Vec<String>,
}

/// Point the statement's event data store references at [`VIEW`]. `None` when there is nothing
/// to change (an Athena statement, or one the tokenizer cannot read: the planner then reports it).
pub fn rewrite(sql: &str, dialect: Dialect) -> Option<Rewrite> {
    if dialect == Dialect::Athena {
        return None;
    }
    let tokens = Tokenizer::new(&GenericDialect {}, sql)
        .tokenize_with_location()
        .ok()?;
    let offsets = Offsets::new(sql);
    let mut spans = Vec::new(); // (start byte, end byte, text)
    let mut after_from = false;
    let mut i = 0;
    while i < tokens.len() {
        let t = &tokens[i].token;
        if is_blank(t) {
            i += 1;
            continue;
        }
        if after_from {
            after_from = false;
            if let Some(end) = reference_end(&tokens, i, dialect) {
                let (a, b) = (
                    offsets.byte(tokens[i].span.start)?,
                    offsets.byte(tokens[end].span.end)?,
                );
                spans.push((a, b, sql.get(a..b)?.to_string()));
                i = end + 1;
                continue;
            }
        }
        after_from =
            matches!(t, Token::Word(w) if matches!(w.keyword, Keyword::FROM | Keyword::JOIN));
        i += 1;
    }
    if spans.is_empty() {
        return None;
    }
    let mut out = String::with_capacity(sql.len());
    let mut at = 0;
    for (a, b, _) in &spans {
        out.push_str(&sql[at..*a]);
        out.push_str(VIEW);
        at = *b;
    }
    out.push_str(&sql[at..]);
    Some(Rewrite {
        sql: out,
        stores: spans.into_iter().map(|(_, _, s)| s).collect(),
    })
}

fn is_blank(t: &Token) -> bool {
    matches!(t, Token::Whitespace(_))
}

/// The last token of an event data store reference starting at token `i`, if it is one.
fn reference_end(tokens: &[TokenWithSpan], i: usize, dialect: Dialect) -> Option<usize> {
    // `<EDS ID>`, `<event_data_store_id>`, `<Event data store Id>`: words in angle brackets.
    if tokens[i].token == Token::Lt {
        for (j, t) in tokens.iter().enumerate().skip(i + 1).take(16) {
            match &t.token {
                Token::Gt if j > i + 1 => return Some(j),
                Token::Word(w) if w.quote_style.is_none() => {}
                Token::Whitespace(_) | Token::Minus | Token::Number(_, _) => {}
                _ => return None,
            }
        }
        return None;
    }
    // Otherwise the tokens up to the next blank or punctuation, read as one word: `$EDS_ID`,
    // a UUID (`a1b2c3d4-5678-90ab-cdef-EXAMPLE11111` is several tokens), an ARN (`arn:aws:…`).
    let mut text = String::new();
    let mut end = i;
    for (j, t) in tokens.iter().enumerate().skip(i) {
        match &t.token {
            Token::Whitespace(_)
            | Token::LParen
            | Token::RParen
            | Token::Comma
            | Token::SemiColon
            | Token::Period => break,
            Token::Word(w) if w.quote_style.is_some() => {
                if j > i {
                    break;
                }
                text.push_str(&w.value);
            }
            other => text.push_str(&other.to_string()),
        }
        end = j;
    }
    is_store(&text, dialect).then_some(end)
}

/// Does `name`, in table position, name an event data store?
pub(crate) fn is_store(name: &str, dialect: Dialect) -> bool {
    let lower = name.to_ascii_lowercase();
    if let Some(rest) = lower.strip_prefix('$') {
        return !rest.is_empty() && rest.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
    }
    if is_uuid(&lower) {
        return true;
    }
    if lower.starts_with("arn:") && lower.contains(":cloudtrail:") {
        return lower
            .rsplit_once(":eventdatastore/")
            .is_some_and(|(_, id)| !id.is_empty());
    }
    let placeholder = lower
        .strip_prefix("config_")
        .unwrap_or(&lower)
        .trim_end_matches("_id")
        .trim_end_matches("id");
    if matches!(placeholder, "event_data_store" | "eds" | "eds_") {
        return true;
    }
    dialect == Dialect::Lake && lower == "cloudtrail_logs"
}

/// 8-4-4-4-12 groups of letters and digits (AWS's examples use `EXAMPLE` in place of hex).
fn is_uuid(s: &str) -> bool {
    let groups: Vec<&str> = s.split('-').collect();
    groups.len() == 5
        && groups
            .iter()
            .zip([8, 4, 4, 4, 12])
            .all(|(g, n)| g.len() == n && g.bytes().all(|b| b.is_ascii_alphanumeric()))
}

/// Byte offsets of the tokenizer's (line, column) locations; columns count characters from 1.
struct Offsets<'a> {
    sql: &'a str,
    line_starts: Vec<usize>,
}

impl<'a> Offsets<'a> {
    fn new(sql: &'a str) -> Self {
        let mut line_starts = vec![0];
        line_starts.extend(sql.match_indices('\n').map(|(i, _)| i + 1));
        Offsets { sql, line_starts }
    }

    fn byte(&self, at: Location) -> Option<usize> {
        let start = *self
            .line_starts
            .get(usize::try_from(at.line).ok()?.checked_sub(1)?)?;
        let column = usize::try_from(at.column).ok()?.checked_sub(1)?;
        let line = &self.sql[start..];
        match line.char_indices().nth(column) {
            Some((b, _)) => Some(start + b),
            None if line.chars().count() == column => Some(self.sql.len()),
            None => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lake(sql: &str) -> Option<String> {
        rewrite(sql, Dialect::Auto).map(|r| r.sql)
    }

    #[test]
    fn placeholders_of_the_published_samples_are_stores() {
        for (sql, store) in [
            ("SELECT * FROM $EDS_ID WHERE x = 1", "$EDS_ID"),
            ("SELECT * FROM <EDS ID> WHERE x = 1", "<EDS ID>"),
            ("SELECT * FROM <EDS_ID> WHERE x = 1", "<EDS_ID>"),
            ("SELECT * FROM <event_data_store_id> WHERE x = 1", "<event_data_store_id>"),
            ("SELECT * FROM <event-data-store-ID> WHERE x = 1", "<event-data-store-ID>"),
            ("SELECT * FROM <Event data store Id> WHERE x = 1", "<Event data store Id>"),
            ("SELECT * FROM event_data_store_ID WHERE x = 1", "event_data_store_ID"),
            (
                "SELECT * FROM a1b2c3d4-5678-90ab-cdef-EXAMPLE11111 WHERE x = 1",
                "a1b2c3d4-5678-90ab-cdef-EXAMPLE11111",
            ),
            (
                "SELECT * FROM 3270e016-59a1-4448-8dd1-d27a4796502d WHERE x = 1",
                "3270e016-59a1-4448-8dd1-d27a4796502d",
            ),
            (
                "SELECT * FROM arn:aws:cloudtrail:us-east-1:111122223333:eventdatastore/EXAMPLE-f852-4e8f-8bd1-bcf6cEXAMPLE WHERE x = 1",
                "arn:aws:cloudtrail:us-east-1:111122223333:eventdatastore/EXAMPLE-f852-4e8f-8bd1-bcf6cEXAMPLE",
            ),
        ] {
            let r = rewrite(sql, Dialect::Auto).unwrap_or_else(|| panic!("{sql}"));
            assert_eq!(r.sql, "SELECT * FROM cloudtrail_lake WHERE x = 1", "{sql}");
            assert_eq!(r.stores, vec![store.to_string()]);
        }
    }

    #[test]
    fn every_reference_is_replaced_and_nothing_else() {
        let sql = "SELECT eventName, '$EDS_ID FROM <EDS ID>' AS s -- FROM $EDS_ID\nFROM $EDS_ID\nWHERE eventName = 'a'\nUNION ALL\nSELECT eventName, 'é' AS s FROM\n  <EDS ID> e JOIN $X ON true;";
        assert_eq!(
            lake(sql).unwrap(),
            "SELECT eventName, '$EDS_ID FROM <EDS ID>' AS s -- FROM $EDS_ID\nFROM cloudtrail_lake\nWHERE eventName = 'a'\nUNION ALL\nSELECT eventName, 'é' AS s FROM\n  cloudtrail_lake e JOIN cloudtrail_lake ON true;"
        );
    }

    #[test]
    fn athena_statements_are_left_alone() {
        for sql in [
            "SELECT * FROM cloudtrail_logs WHERE eventtime > '2024-01-01'",
            "SELECT * FROM (SELECT 1) t",
            "SELECT a < b, c > d FROM cloudtrail_logs",
            "SELECT * FROM \"cloudtrail_logs\"",
            "SELECT 'unterminated",
        ] {
            assert_eq!(lake(sql), None, "{sql}");
        }
        assert_eq!(rewrite("SELECT * FROM $EDS_ID", Dialect::Athena), None);
    }

    #[test]
    fn forced_lake_reads_cloudtrail_logs_as_the_store() {
        assert_eq!(
            rewrite("SELECT count(*) FROM cloudtrail_logs", Dialect::Lake)
                .unwrap()
                .sql,
            "SELECT count(*) FROM cloudtrail_lake"
        );
        assert_eq!(lake("SELECT count(*) FROM cloudtrail_logs"), None);
    }
}
