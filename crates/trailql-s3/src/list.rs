//! The pruned walk of a trail bucket. Delimited listings find organizations, accounts and regions
//! (only the wanted ones go further); each wanted region folder is then listed flat, starting
//! after the key of the window's first minute and stopping at the first day past its end. Only
//! `CloudTrail/` folders are walked, so digests, Insights and other services are never listed as
//! events. A prefix outside the layout is listed whole and each key classified.
//!
//! The folders down to the regions are found first (a few listings); the files then come as a
//! stream, page by page as they are asked for, so a caller that reads while it lists holds a few
//! pages of keys, not the whole listing.

use std::sync::Arc;

use futures::stream::BoxStream;
use futures::{StreamExt, TryStreamExt};
use object_store::path::Path as ObjectPath;
use object_store::ObjectStore;
use trailql_layout::{KeyKind, ListScope, SourceFile, TrailRoot};

use crate::error::{classify, S3Error};
use crate::url::S3Url;

/// Listings in flight at once while walking.
const LIST_CONCURRENCY: usize = 16;

/// One thing a listing reached: a file, or a prefix that could not be listed (the walk goes on).
#[derive(Debug)]
pub enum Listed {
    File(SourceFile),
    Problem {
        /// `s3://bucket/prefix`
        prefix: String,
        message: String,
    },
}

/// What a walk found, collected.
#[derive(Debug, Default)]
pub struct Listing {
    pub files: Vec<SourceFile>,
    /// Prefixes that could not be listed (`s3://…`, what went wrong); the walk went on.
    pub problems: Vec<(String, String)>,
}

/// A region folder to list: `…/CloudTrail/REGION/`.
struct RegionFolder {
    base: String,
    account: String,
    region: String,
}

fn path(prefix: &str) -> Option<ObjectPath> {
    let p = prefix.trim_end_matches('/');
    (!p.is_empty()).then(|| ObjectPath::from(p))
}

/// Child folder names of `prefix` and how many objects it holds directly.
async fn children(
    store: &dyn ObjectStore,
    bucket: &str,
    prefix: &str,
) -> Result<(Vec<String>, usize), S3Error> {
    let (folders, files) = dir(store, bucket, prefix).await?;
    Ok((folders, files.len()))
}

/// One delimited listing of `prefix`: the names of its sub-folders and the keys of its objects.
pub(crate) async fn dir(
    store: &dyn ObjectStore,
    bucket: &str,
    prefix: &str,
) -> Result<(Vec<String>, Vec<String>), S3Error> {
    let r = store
        .list_with_delimiter(path(prefix).as_ref())
        .await
        .map_err(|e| classify(bucket, prefix, &e))?;
    let folders = r
        .common_prefixes
        .iter()
        .filter_map(|p| p.filename().map(str::to_string))
        .collect();
    let files = r
        .objects
        .into_iter()
        .map(|o| o.location.to_string())
        .collect();
    Ok((folders, files))
}

fn is_account(s: &str) -> bool {
    s.len() == 12 && s.bytes().all(|b| b.is_ascii_digit())
}

/// Find the region folders of one source (or its flat listing), then stream the files in the
/// scope. Fails when the source cannot be listed at all (no bucket, no access).
pub(crate) async fn list_source(
    store: Arc<dyn ObjectStore>,
    url: &S3Url,
    scope: &ListScope,
) -> Result<BoxStream<'static, Listed>, S3Error> {
    let bucket = url.bucket.as_str();
    let store_ref = store.as_ref();
    let mut problems: Vec<Listed> = Vec::new();
    let problem = |prefix: &str, e: S3Error| Listed::Problem {
        prefix: format!("s3://{bucket}/{prefix}"),
        message: e.to_string(),
    };
    // (the account's `CloudTrail/` folder, account)
    let mut accounts: Vec<(String, String)> = Vec::new();
    let mut folders: Vec<RegionFolder> = Vec::new();
    let mut orgs: Vec<String> = Vec::new();

    let awslogs = |base: &str,
                   names: Vec<String>,
                   orgs: &mut Vec<String>,
                   accounts: &mut Vec<(String, String)>| {
        for n in names {
            if n.starts_with("o-") {
                orgs.push(format!("{base}{n}/"));
            } else if is_account(&n) && scope.wants_account(&n) {
                accounts.push((format!("{base}{n}/CloudTrail/"), n));
            }
        }
    };
    match TrailRoot::parse(&url.prefix) {
        TrailRoot::Above { base } => {
            let logs = format!("{base}AWSLogs/");
            let (names, objects) = children(store_ref, bucket, &logs).await?;
            if names.is_empty() && objects == 0 {
                // No trail layout here: read whatever JSON the prefix holds.
                return flat(store, bucket, &base).await;
            }
            awslogs(&logs, names, &mut orgs, &mut accounts);
        }
        TrailRoot::AwsLogs { base } => {
            let (names, _) = children(store_ref, bucket, &base).await?;
            awslogs(&base, names, &mut orgs, &mut accounts);
        }
        TrailRoot::Org { base } => orgs.push(base),
        TrailRoot::Account { base, account } => {
            if scope.wants_account(&account) {
                accounts.push((base, account));
            }
        }
        TrailRoot::Region {
            base,
            account,
            region,
        } => {
            if scope.wants_account(&account) && scope.wants_region(&region) {
                folders.push(RegionFolder {
                    base,
                    account,
                    region,
                });
            }
        }
        TrailRoot::Flat { base } => return flat(store, bucket, &base).await,
    }

    // Organizations → accounts.
    let found: Vec<_> = futures::stream::iter(orgs)
        .map(|org| async move { (children(store_ref, bucket, &org).await, org) })
        .buffer_unordered(LIST_CONCURRENCY)
        .collect()
        .await;
    for (r, org) in found {
        match r {
            Ok((names, _)) => awslogs(&org, names, &mut Vec::new(), &mut accounts),
            Err(e) => problems.push(problem(&org, e)),
        }
    }
    // Accounts → regions.
    let found: Vec<_> =
        futures::stream::iter(accounts)
            .map(|(base, account)| async move {
                (children(store_ref, bucket, &base).await, base, account)
            })
            .buffer_unordered(LIST_CONCURRENCY)
            .collect()
            .await;
    for (r, base, account) in found {
        match r {
            Ok((names, _)) => folders.extend(
                names
                    .into_iter()
                    .filter(|r| scope.wants_region(r))
                    .map(|region| RegionFolder {
                        base: format!("{base}{region}/"),
                        account: account.clone(),
                        region,
                    }),
            ),
            Err(e) => problems.push(problem(&base, e)),
        }
    }
    // Region folders → files in the window, a few folders listed at once.
    let bucket: Arc<str> = bucket.into();
    let scope = Arc::new(scope.clone());
    let files = futures::stream::iter(folders)
        .map(move |f| region_files(store.clone(), bucket.clone(), f, scope.clone()))
        .flatten_unordered(LIST_CONCURRENCY);
    Ok(futures::stream::iter(problems).chain(files).boxed())
}

/// The files of one region folder in the scope, in key order, page by page; a listing that
/// fails part way ends with a problem.
fn region_files(
    store: Arc<dyn ObjectStore>,
    bucket: Arc<str>,
    f: RegionFolder,
    scope: Arc<ListScope>,
) -> BoxStream<'static, Listed> {
    let prefix = path(&f.base);
    let raw = match scope.start_after(&f.base, &f.account, &f.region) {
        Some(after) => store.list_with_offset(prefix.as_ref(), &ObjectPath::from(after.as_str())),
        None => store.list(prefix.as_ref()),
    };
    futures::stream::unfold(Some(raw), move |raw| {
        let (bucket, base, scope) = (bucket.clone(), f.base.clone(), scope.clone());
        async move {
            let mut raw = raw?;
            loop {
                let meta = match raw.next().await? {
                    Ok(m) => m,
                    Err(e) => {
                        let message = classify(&bucket, &base, &e).to_string();
                        let prefix = format!("s3://{bucket}/{base}");
                        return Some((Listed::Problem { prefix, message }, None));
                    }
                };
                let key = meta.location.to_string();
                if scope.past_end(&base, &key) {
                    // Keys sort by day: nothing after this can match; dropping the stream stops
                    // paging.
                    return None;
                }
                let file = SourceFile::object(&bucket, &key, meta.size, meta.e_tag);
                if let KeyKind::TrailLog(k) = &file.kind {
                    if !scope.window.may_contain(k, scope.late_margin) {
                        if scope.beyond(k) {
                            return None;
                        }
                        continue;
                    }
                }
                return Some((Listed::File(file), Some(raw)));
            }
        }
    })
    .boxed()
}

/// Every object under `base`, streamed; fails if the first page cannot be listed, and ends with
/// a problem if a later page cannot.
async fn flat(
    store: Arc<dyn ObjectStore>,
    bucket: &str,
    base: &str,
) -> Result<BoxStream<'static, Listed>, S3Error> {
    let mut raw = store.list(path(base).as_ref());
    let first = raw
        .try_next()
        .await
        .map_err(|e| classify(bucket, base, &e))?;
    let (bucket, base) = (bucket.to_string(), base.to_string());
    let file = move |m: object_store::ObjectMeta, bucket: &str| {
        Listed::File(SourceFile::object(
            bucket,
            m.location.as_ref(),
            m.size,
            m.e_tag,
        ))
    };
    let first = first.map(|m| file(m, &bucket));
    let rest = raw
        .map(move |r| match r {
            Ok(m) => file(m, &bucket),
            Err(e) => Listed::Problem {
                prefix: format!("s3://{bucket}/{base}"),
                message: classify(&bucket, &base, &e).to_string(),
            },
        })
        .scan(false, |ended, item| {
            let out = (!*ended).then_some(item);
            *ended |= matches!(out, Some(Listed::Problem { .. }));
            futures::future::ready(out)
        });
    Ok(futures::stream::iter(first).chain(rest).boxed())
}
