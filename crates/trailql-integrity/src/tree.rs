//! Finding the folders validation reads, one listing per level and pruned like queries: account
//! folders (organization trails included), region folders, and the year/month/day folders that
//! overlap a time span. Nothing here holds more than one level's names.

use chrono::NaiveDate;
use trailql_layout::folder_days;

use crate::store::Store;

/// An account's folder: `AWSLogs/[o-…/]ACCOUNT/`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct AccountRoot {
    pub path: String,
    pub account: String,
}

fn is_account(s: &str) -> bool {
    s.len() == 12 && s.bytes().all(|b| b.is_ascii_digit())
}

/// The account folders under the store's scope, `account` only when given.
pub(crate) fn accounts(
    store: &dyn Store,
    account: Option<&str>,
) -> Result<Vec<AccountRoot>, String> {
    let scope = store.scope();
    let parts: Vec<&str> = scope
        .trim_end_matches('/')
        .split('/')
        .skip_while(|p| *p != "AWSLogs")
        .skip(1)
        .collect();
    let wanted = |a: &str| account.is_none_or(|w| w == a);
    let root = |base: &str, a: &str| AccountRoot {
        path: format!("{base}{a}/"),
        account: a.to_string(),
    };
    // The wanted accounts of an organization folder.
    let org_accounts = |org: &str, out: &mut Vec<AccountRoot>| -> Result<(), String> {
        let org = format!("AWSLogs/{org}/");
        for a in store.list(&org)?.folders {
            if is_account(&a) && wanted(&a) {
                out.push(root(&org, &a));
            }
        }
        Ok(())
    };
    let mut out = Vec::new();
    match parts.as_slice() {
        [] => {
            for name in store.list("AWSLogs/")?.folders {
                if is_account(&name) && wanted(&name) {
                    out.push(root("AWSLogs/", &name));
                } else if name.starts_with("o-") {
                    org_accounts(&name, &mut out)?;
                }
            }
        }
        [org] if org.starts_with("o-") => org_accounts(org, &mut out)?,
        [org, a, ..] if org.starts_with("o-") && wanted(a) => {
            out.push(root(&format!("AWSLogs/{org}/"), a))
        }
        [a, ..] if is_account(a) && wanted(a) => out.push(root("AWSLogs/", a)),
        _ => {}
    }
    out.sort();
    Ok(out)
}

/// The day folders `…/YYYY/MM/DD/` under `region_prefix` between `from` and `to` (inclusive),
/// newest first: one listing for the years, one per year for its months, one per month.
pub(crate) fn days(
    store: &dyn Store,
    region_prefix: &str,
    from: NaiveDate,
    to: NaiveDate,
) -> Result<Vec<(NaiveDate, String)>, String> {
    let overlaps = |parts: &[&str]| folder_days(parts).is_some_and(|(a, b)| a <= to && b >= from);
    let mut out = Vec::new();
    for y in store.list(region_prefix)?.folders {
        if !overlaps(&[&y]) {
            continue;
        }
        let ym = format!("{region_prefix}{y}/");
        for m in store.list(&ym)?.folders {
            if !overlaps(&[&y, &m]) {
                continue;
            }
            let ymd = format!("{ym}{m}/");
            for d in store.list(&ymd)?.folders {
                if let Some((date, _)) =
                    folder_days(&[&y, &m, &d]).filter(|(day, _)| (from..=to).contains(day))
                {
                    out.push((date, format!("{ymd}{d}/")));
                }
            }
        }
    }
    out.sort_by_key(|d| std::cmp::Reverse(d.0));
    Ok(out)
}
