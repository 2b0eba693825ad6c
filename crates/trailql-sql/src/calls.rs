//! Trino function calls that DataFusion spells differently, rewritten in the parsed statement.
//!
//! | Athena (Trino)                      | planned as                                                  |
//! |-------------------------------------|-------------------------------------------------------------|
//! | `transform(a, x -> e)`              | `array_transform(a, x -> e)`                                |
//! | `filter(a, x -> p)`                 | `array_filter(a, x -> p)`                                   |
//! | `all_match(a, x -> p)`              | `NOT array_any_match(a, x -> NOT p)` (NULL as in Trino)     |
//! | `none_match(a, x -> p)`             | `NOT array_any_match(a, x -> p)`                            |
//! | `x -> x.field` inside a lambda      | `x['field']` (DataFusion resolves no compound lambda names) |
//! | `count_if(p)`                       | `count(CASE WHEN p THEN 1 END)`                             |
//! | `arbitrary(x)`                      | `any_value(x)`                                              |
//! | `max_by(x, y)` / `min_by(x, y)`     | `first_value(x ORDER BY y DESC/ASC) FILTER (y IS NOT NULL)` |
//! | `max_by(x, y) OVER (PARTITION BY p)` | `first_value(x) OVER (PARTITION BY p ORDER BY y DESC …)`   |
//! | `max_by(x, y, n)` / `min_by(x, y, n)` | the first `n` of `array_agg(x ORDER BY y …)`              |
//! | `approx_percentile(x, p)`           | `approx_percentile_cont(p) WITHIN GROUP (ORDER BY x)`       |
//! | `approx_percentile(x, w, p)`        | `approx_percentile_cont_with_weight(w, p) WITHIN GROUP …`   |
//! | `approx_percentile(x, ARRAY[p, q])` | an array of one percentile per element                      |
//! | `if(c, a [, b])`                    | `CASE WHEN c THEN a [ELSE b] END`                           |
//! | `at_timezone(t, zone)`              | `t AT TIME ZONE zone`                                       |
//! | `try(e)`                            | `e` with its casts as `TRY_CAST` and `/`, `%` by zero NULL  |
//!
//! Replacements are written as SQL text and parsed back with the statement's dialect, so they
//! read like the table above.

use std::ops::ControlFlow;

use datafusion::common::{plan_err, DataFusionError, Result};
use datafusion::sql::sqlparser::ast::{
    visit_expressions_mut, AccessExpr, BinaryOperator, CastKind, Expr, Function, FunctionArg,
    FunctionArgExpr, FunctionArguments, Ident, LambdaFunction, ObjectName, ObjectNamePart,
    Statement, Subscript, Value, VisitMut, WindowType,
};
use datafusion::sql::sqlparser::dialect::Dialect;
use datafusion::sql::sqlparser::parser::Parser;

/// Rewrite every Trino call in `st`; true when something changed.
pub fn rewrite_calls(st: &mut Statement, dialect: &dyn Dialect) -> Result<bool> {
    let mut changed = false;
    let mut failure = None;
    let _ = visit_expressions_mut(st, |e| match rewrite_expr(e, dialect) {
        Ok(c) => {
            changed |= c;
            ControlFlow::Continue(())
        }
        Err(err) => {
            failure = Some(err);
            ControlFlow::Break(())
        }
    });
    match failure {
        Some(err) => Err(err),
        None => Ok(changed),
    }
}

/// One node, after its children (the visitor walks bottom-up).
fn rewrite_expr(e: &mut Expr, dialect: &dyn Dialect) -> Result<bool> {
    if let Expr::Lambda(lambda) = e {
        return Ok(lambda_fields(lambda));
    }
    let Expr::Function(f) = e else {
        return Ok(false);
    };
    let Some(name) = simple_name(&f.name) else {
        return Ok(false);
    };
    let args = plain_args(f);
    let text = |s: String| parse_expr(dialect, &s, &name);
    let replacement = match (name.as_str(), args.as_deref()) {
        ("transform", Some([_, FunctionArgExpr::Expr(Expr::Lambda(_))])) => {
            rename(f, "array_transform");
            return Ok(true);
        }
        ("filter", Some([_, FunctionArgExpr::Expr(Expr::Lambda(_))])) => {
            rename(f, "array_filter");
            return Ok(true);
        }
        ("all_match", Some([a, FunctionArgExpr::Expr(Expr::Lambda(l))])) => {
            let negated = LambdaFunction {
                params: l.params.clone(),
                body: Box::new(Expr::UnaryOp {
                    op: datafusion::sql::sqlparser::ast::UnaryOperator::Not,
                    expr: Box::new(Expr::Nested(l.body.clone())),
                }),
                syntax: l.syntax,
            };
            text(format!("(NOT array_any_match({a}, {negated}))"))?
        }
        ("none_match", Some([a, l @ FunctionArgExpr::Expr(Expr::Lambda(_))])) => {
            text(format!("(NOT array_any_match({a}, {l}))"))?
        }
        ("count_if", Some([p])) => {
            let mut out = text(format!("count(CASE WHEN {p} THEN 1 END)"))?;
            keep_clauses(f, &mut out);
            out
        }
        ("arbitrary", Some([_])) => {
            rename(f, "any_value");
            return Ok(true);
        }
        ("max_by" | "min_by", Some([x, y])) if f.over.is_some() => {
            // As a window function: the first `x` of the partition ordered by `y`.
            let dir = if name == "max_by" { "DESC" } else { "ASC" };
            let Some(WindowType::WindowSpec(spec)) = &f.over else {
                return plan_err!(
                    "{name}(x, y) OVER a named window is not supported; spell the window out"
                );
            };
            if !spec.order_by.is_empty() || spec.window_frame.is_some() {
                return plan_err!("{name}(x, y) OVER (… ORDER BY …) is not supported; use first_value(x) OVER (… ORDER BY y {dir})");
            }
            let partition = if spec.partition_by.is_empty() {
                String::new()
            } else {
                let parts: Vec<String> = spec.partition_by.iter().map(|e| e.to_string()).collect();
                format!("PARTITION BY {} ", parts.join(", "))
            };
            text(format!(
                "first_value({x}) OVER ({partition}ORDER BY {y} {dir} NULLS LAST ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING)"
            ))?
        }
        ("max_by" | "min_by", Some([x, y])) => {
            let dir = if name == "max_by" { "DESC" } else { "ASC" };
            let mut out = text(format!("first_value({x} ORDER BY {y} {dir} NULLS LAST)"))?;
            and_filter(f, &mut out, text(format!("{y} IS NOT NULL"))?);
            keep_clauses(f, &mut out);
            out
        }
        ("max_by" | "min_by", Some([x, y, n])) => {
            if f.over.is_some() {
                return plan_err!("{name}(x, y, n) is not supported as a window function; use row_number() OVER (… ORDER BY y) instead");
            }
            let dir = if name == "max_by" { "DESC" } else { "ASC" };
            let filter = match &f.filter {
                Some(p) => format!("({y} IS NOT NULL) AND ({p})"),
                None => format!("{y} IS NOT NULL"),
            };
            text(format!(
                "array_slice(array_agg({x} ORDER BY {y} {dir}) FILTER (WHERE {filter}), 1, {n})"
            ))?
        }
        ("approx_percentile", Some([x, p])) => percentiles(f, dialect, &format!("{x}"), None, p)?,
        ("approx_percentile", Some([x, w, p])) => {
            percentiles(f, dialect, &format!("{x}"), Some(&format!("{w}")), p)?
        }
        ("if", Some([c, a])) => text(format!("CASE WHEN {c} THEN {a} END"))?,
        ("if", Some([c, a, b])) => text(format!("CASE WHEN {c} THEN {a} ELSE {b} END"))?,
        ("at_timezone", Some([FunctionArgExpr::Expr(t), FunctionArgExpr::Expr(z)])) => {
            Expr::Nested(Box::new(Expr::AtTimeZone {
                timestamp: Box::new(t.clone()),
                time_zone: Box::new(z.clone()),
            }))
        }
        ("try", Some([FunctionArgExpr::Expr(inner)])) => {
            let mut inner = inner.clone();
            make_safe(&mut inner);
            Expr::Nested(Box::new(inner))
        }
        _ => return Ok(false),
    };
    *e = replacement;
    Ok(true)
}

/// `approx_percentile(x[, w], p)` for one percentile or an `ARRAY[…]` of them.
fn percentiles(
    f: &Function,
    dialect: &dyn Dialect,
    x: &str,
    weight: Option<&str>,
    p: &FunctionArgExpr,
) -> Result<Expr> {
    let one = |p: &dyn std::fmt::Display| -> String {
        let filter = f
            .filter
            .as_ref()
            .map(|c| format!(" FILTER (WHERE {c})"))
            .unwrap_or_default();
        match weight {
            Some(w) => format!(
                "approx_percentile_cont_with_weight({w}, {p}) WITHIN GROUP (ORDER BY {x}){filter}"
            ),
            None => format!("approx_percentile_cont({p}) WITHIN GROUP (ORDER BY {x}){filter}"),
        }
    };
    if f.over.is_some() {
        return plan_err!("approx_percentile is not supported as a window function here");
    }
    let sql = match p {
        FunctionArgExpr::Expr(Expr::Array(array)) => format!(
            "make_array({})",
            array
                .elem
                .iter()
                .map(|e| one(e))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        p => one(p),
    };
    parse_expr(dialect, &sql, "approx_percentile")
}

/// `x -> x.arn` becomes `x -> x['arn']`: DataFusion resolves a lambda parameter only alone.
fn lambda_fields(lambda: &mut LambdaFunction) -> bool {
    let params: Vec<String> = lambda
        .params
        .iter()
        .map(|p| p.name.value.to_lowercase())
        .collect();
    let mut changed = false;
    let _ = visit_expressions_mut(lambda.body.as_mut(), |e| {
        if let Expr::CompoundIdentifier(parts) = e {
            if parts.len() >= 2 && params.contains(&parts[0].value.to_lowercase()) {
                let root = Expr::Identifier(parts[0].clone());
                let access_chain = parts[1..]
                    .iter()
                    .map(|id| {
                        AccessExpr::Subscript(Subscript::Index {
                            index: Expr::value(Value::SingleQuotedString(id.value.to_lowercase())),
                        })
                    })
                    .collect();
                *e = Expr::CompoundFieldAccess {
                    root: Box::new(root),
                    access_chain,
                };
                changed = true;
            }
        }
        ControlFlow::<()>::Continue(())
    });
    changed
}

/// What `try` protects against, made to give NULL: failed casts and division by zero.
fn make_safe(e: &mut Expr) {
    let _ = e.visit(&mut SafeVisitor);
}

struct SafeVisitor;

impl datafusion::sql::sqlparser::ast::VisitorMut for SafeVisitor {
    type Break = ();

    fn post_visit_expr(&mut self, e: &mut Expr) -> ControlFlow<()> {
        match e {
            Expr::Cast { kind, .. } => *kind = CastKind::TryCast,
            Expr::BinaryOp {
                op: BinaryOperator::Divide | BinaryOperator::Modulo,
                right,
                ..
            } => {
                let divisor = std::mem::replace(right.as_mut(), Expr::value(Value::Null));
                **right = Expr::Function(Function {
                    name: ObjectName(vec![ObjectNamePart::Identifier(Ident::new("nullif"))]),
                    uses_odbc_syntax: false,
                    parameters: FunctionArguments::None,
                    args: FunctionArguments::List(
                        datafusion::sql::sqlparser::ast::FunctionArgumentList {
                            duplicate_treatment: None,
                            args: vec![
                                FunctionArg::Unnamed(FunctionArgExpr::Expr(divisor)),
                                FunctionArg::Unnamed(FunctionArgExpr::Expr(Expr::value(
                                    Value::Number("0".into(), false),
                                ))),
                            ],
                            clauses: vec![],
                        },
                    ),
                    filter: None,
                    null_treatment: None,
                    over: None,
                    within_group: vec![],
                });
            }
            _ => {}
        }
        ControlFlow::Continue(())
    }
}

/// The function's one-part, lower-case name.
fn simple_name(name: &ObjectName) -> Option<String> {
    match name.0.as_slice() {
        [part] => part.as_ident().map(|id| id.value.to_lowercase()),
        _ => None,
    }
}

/// Positional arguments with no clauses (ORDER BY, …) inside the parentheses.
fn plain_args(f: &Function) -> Option<Vec<FunctionArgExpr>> {
    let FunctionArguments::List(list) = &f.args else {
        return None;
    };
    if !list.clauses.is_empty() || list.duplicate_treatment.is_some() {
        return None;
    }
    list.args
        .iter()
        .map(|a| match a {
            FunctionArg::Unnamed(e) => Some(e.clone()),
            _ => None,
        })
        .collect()
}

fn rename(f: &mut Function, to: &str) {
    f.name = ObjectName(vec![ObjectNamePart::Identifier(Ident::new(to))]);
}

/// Carry `FILTER (WHERE …)` and `OVER (…)` from the call being replaced.
fn keep_clauses(from: &Function, to: &mut Expr) {
    if let Expr::Function(g) = to {
        if g.filter.is_none() {
            g.filter = from.filter.clone();
        }
        g.over = from.over.clone();
    }
}

/// Add `cond` to the replacement's FILTER, with the original call's own filter.
fn and_filter(from: &Function, to: &mut Expr, cond: Expr) {
    if let Expr::Function(g) = to {
        g.filter = Some(Box::new(match &from.filter {
            Some(p) => Expr::BinaryOp {
                left: Box::new(Expr::Nested(Box::new(cond))),
                op: BinaryOperator::And,
                right: Box::new(Expr::Nested(p.clone())),
            },
            None => cond,
        }));
    }
}

fn parse_expr(dialect: &dyn Dialect, sql: &str, function: &str) -> Result<Expr> {
    Parser::new(dialect)
        .try_with_sql(sql)
        .and_then(|mut p| p.parse_expr())
        .map_err(|e| DataFusionError::Plan(format!("rewriting {function}(…) as `{sql}`: {e}")))
}
