//! Athena (Presto) SQL forms that DataFusion's planner does not take as they are.
//!
//! `FROM t [AS a] CROSS JOIN UNNEST(a.arr) AS u (x)` — DataFusion plans a table-factor UNNEST
//! without access to the tables before it. It becomes
//! `FROM (SELECT a.*, unnest(a.arr) AS x FROM t AS a) AS a`, and references `u.x` become `a.x`.
//! Like Trino's CROSS JOIN, rows whose array is empty or NULL produce no row.
//!
//! `element_at(resources, 1).arn` — a field of a function's struct result: DataFusion takes
//! `element_at(resources, 1)['arn']`.
//!
//! Trino calls DataFusion spells differently (lambdas, `count_if`, `max_by`, `if`, `try`…) are
//! rewritten by [`crate::calls`].

use std::ops::ControlFlow;

use datafusion::common::{plan_err, Result};
use datafusion::sql::sqlparser::ast::{
    visit_expressions_mut, AccessExpr, Expr, Ident, JoinOperator, Query, SetExpr, Statement,
    Subscript, TableFactor, TableWithJoins, Value,
};
use datafusion::sql::sqlparser::dialect::{Dialect, DuckDbDialect, GenericDialect};
use datafusion::sql::sqlparser::parser::Parser;

/// A statement ready for DataFusion.
#[derive(Debug)]
pub enum Athena {
    /// SQL text for DataFusion's own parser (unchanged, or rewritten into forms it takes).
    Text(String),
    /// A parsed statement, for what DataFusion's default dialect cannot read back as text
    /// (lambdas, `x -> …`).
    Parsed(Box<Statement>),
}

impl Athena {
    /// The statement as SQL text (for tests and messages).
    pub fn text(&self) -> String {
        match self {
            Athena::Text(s) => s.clone(),
            Athena::Parsed(st) => st.to_string(),
        }
    }
}

/// Rewrite an Athena statement into one DataFusion plans with the same meaning.
pub fn athena_to_datafusion(sql: &str) -> Result<Athena> {
    // Only a lambda needs DuckDB's dialect; the generic one reads everything else as DataFusion
    // would.
    let lambdas = sql.contains("->");
    let dialect: &dyn Dialect = if lambdas {
        &DuckDbDialect {}
    } else {
        &GenericDialect {}
    };
    let mut statements = match Parser::parse_sql(dialect, sql) {
        Ok(s) => s,
        Err(e) if lambdas => return plan_err!("{e}"),
        // Let DataFusion report the syntax error in its own words.
        Err(_) => return Ok(Athena::Text(sql.to_string())),
    };
    let mut changed = false;
    for st in &mut statements {
        let mut renames = Vec::new();
        if let Statement::Query(q) = st {
            rewrite_query(q, &mut renames, &mut changed)?;
        }
        if let Statement::Explain { statement, .. } = st {
            if let Statement::Query(q) = statement.as_mut() {
                rewrite_query(q, &mut renames, &mut changed)?;
            }
        }
        changed |= crate::calls::rewrite_calls(st, dialect)?;
        let _ = visit_expressions_mut(st, |e| {
            if let Expr::CompoundFieldAccess { root, access_chain } = e {
                if !matches!(
                    root.as_ref(),
                    Expr::Identifier(_) | Expr::CompoundIdentifier(_)
                ) {
                    for a in access_chain.iter_mut() {
                        if let AccessExpr::Dot(Expr::Identifier(id)) = a {
                            *a = AccessExpr::Subscript(Subscript::Index {
                                index: Expr::value(Value::SingleQuotedString(
                                    id.value.to_lowercase(),
                                )),
                            });
                            changed = true;
                        }
                    }
                }
            }
            ControlFlow::<()>::Continue(())
        });
        if !renames.is_empty() {
            let _ = visit_expressions_mut(st, |e| {
                if let Expr::CompoundIdentifier(parts) = e {
                    if let Some((_, to)) = renames.iter().find(|(from, _): &&(Ident, Ident)| {
                        from.value.eq_ignore_ascii_case(&parts[0].value)
                    }) {
                        parts[0] = to.clone();
                    }
                }
                ControlFlow::<()>::Continue(())
            });
        }
    }
    if lambdas {
        if statements.len() != 1 {
            return plan_err!(
                "one statement at a time, please (this text holds {})",
                statements.len()
            );
        }
        let st = statements.pop().expect("one statement");
        return Ok(Athena::Parsed(Box::new(st)));
    }
    if !changed {
        return Ok(Athena::Text(sql.to_string()));
    }
    Ok(Athena::Text(
        statements
            .iter()
            .map(|s| s.to_string())
            .collect::<Vec<_>>()
            .join(";\n"),
    ))
}

fn rewrite_query(
    q: &mut Query,
    renames: &mut Vec<(Ident, Ident)>,
    changed: &mut bool,
) -> Result<()> {
    if let Some(with) = &mut q.with {
        for cte in &mut with.cte_tables {
            rewrite_query(&mut cte.query, renames, changed)?;
        }
    }
    rewrite_set_expr(&mut q.body, renames, changed)
}

fn rewrite_set_expr(
    body: &mut SetExpr,
    renames: &mut Vec<(Ident, Ident)>,
    changed: &mut bool,
) -> Result<()> {
    match body {
        SetExpr::Select(select) => {
            for twj in &mut select.from {
                rewrite_from(twj, renames, changed)?;
            }
        }
        SetExpr::Query(q) => rewrite_query(q, renames, changed)?,
        SetExpr::SetOperation { left, right, .. } => {
            rewrite_set_expr(left, renames, changed)?;
            rewrite_set_expr(right, renames, changed)?;
        }
        _ => {}
    }
    Ok(())
}

fn rewrite_from(
    twj: &mut TableWithJoins,
    renames: &mut Vec<(Ident, Ident)>,
    changed: &mut bool,
) -> Result<()> {
    if let TableFactor::Derived { subquery, .. } = &mut twj.relation {
        rewrite_query(subquery, renames, changed)?;
    }
    // Fold each leading CROSS JOIN UNNEST into the relation before it.
    while let Some(first) = twj.joins.first() {
        let is_cross = matches!(first.join_operator, JoinOperator::CrossJoin(_));
        let TableFactor::UNNEST {
            alias,
            array_exprs,
            with_offset,
            with_ordinality,
            ..
        } = &first.relation
        else {
            break;
        };
        if !is_cross || *with_offset || *with_ordinality || array_exprs.len() != 1 {
            break;
        }
        let Some(alias) = alias.clone() else {
            return plan_err!("UNNEST needs an alias with a column name, as in Athena: CROSS JOIN UNNEST(resources) AS u (r)");
        };
        let column = match alias.columns.first() {
            Some(c) => c.name.clone(),
            None => alias.name.clone(),
        };
        let base = base_alias(&twj.relation)?;
        let sql = format!(
            "SELECT * FROM (SELECT {base}.*, unnest({expr}) AS {column} FROM {relation}) AS {base}",
            expr = array_exprs[0],
            relation = twj.relation,
        );
        let parsed = Parser::parse_sql(&GenericDialect {}, &sql).map_err(|e| {
            datafusion::error::DataFusionError::Plan(format!("rewriting UNNEST: {e}"))
        })?;
        let Some(Statement::Query(q)) = parsed.into_iter().next() else {
            return plan_err!("rewriting UNNEST: unexpected statement");
        };
        let SetExpr::Select(select) = *q.body else {
            return plan_err!("rewriting UNNEST: unexpected query");
        };
        let Some(from) = select.from.into_iter().next() else {
            return plan_err!("rewriting UNNEST: no relation");
        };
        twj.relation = from.relation;
        twj.joins.remove(0);
        renames.push((alias.name.clone(), base.clone()));
        *changed = true;
    }
    Ok(())
}

/// The name the relation is known by in the query: its alias, or the table's own name.
fn base_alias(relation: &TableFactor) -> Result<Ident> {
    match relation {
        TableFactor::Table { alias: Some(a), .. } | TableFactor::Derived { alias: Some(a), .. } => {
            Ok(a.name.clone())
        }
        TableFactor::Table { name, alias: None, .. } => match name.0.last().and_then(|p| p.as_ident()) {
            Some(id) => Ok(id.clone()),
            None => plan_err!("rewriting UNNEST: cannot name {name}"),
        },
        _ => plan_err!("CROSS JOIN UNNEST needs an aliased table or subquery before it, e.g. FROM cloudtrail_logs t CROSS JOIN UNNEST(t.resources) AS u (r)"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cross_join_unnest_becomes_a_projection() {
        let out = athena_to_datafusion(
            "SELECT eventname, u.r.arn FROM cloudtrail_logs AS t CROSS JOIN UNNEST(t.resources) AS u (r) WHERE u.r.type = 'x'",
        )
        .unwrap()
        .text();
        assert_eq!(
            out,
            "SELECT eventname, t.r.arn FROM (SELECT t.*, unnest(t.resources) AS r FROM cloudtrail_logs AS t) AS t WHERE t.r.type = 'x'"
        );
        let out = athena_to_datafusion(
            "SELECT r FROM cloudtrail_logs CROSS JOIN UNNEST(resources) AS unnested (r)",
        )
        .unwrap()
        .text();
        assert!(out.contains("(SELECT cloudtrail_logs.*, unnest(resources) AS r FROM cloudtrail_logs) AS cloudtrail_logs"), "{out}");
    }

    #[test]
    fn field_of_a_function_result() {
        assert_eq!(
            athena_to_datafusion("SELECT element_at(resources, 1).arn FROM t")
                .unwrap()
                .text(),
            "SELECT element_at(resources, 1)['arn'] FROM t"
        );
    }

    #[test]
    fn other_sql_is_left_alone() {
        let sql = "select count(*)  from cloudtrail_logs";
        assert_eq!(athena_to_datafusion(sql).unwrap().text(), sql);
        assert_eq!(
            athena_to_datafusion("SELECT unnest([1,2])").unwrap().text(),
            "SELECT unnest([1,2])"
        );
    }
}
