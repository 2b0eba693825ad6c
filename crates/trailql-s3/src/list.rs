//! The pruned walk of a trail bucket. Delimited listings find organizations, accounts and regions
//! (only the wanted ones go further); each wanted region folder is then listed flat, starting
//! after the key of the window's first minute and stopping at the first day past its end. Only
//! `CloudTrail/` folders are walked, so digests, Insights and other services are never listed as
//! events. A prefix outside the layout is listed whole and each key classified.

use futures::{StreamExt, TryStreamExt};
use object_store::path::Path as ObjectPath;
use object_store::ObjectStore;
use trailql_layout::{KeyKind, ListScope, SourceFile, TrailRoot};

use crate::error::{classify, S3Error};
use crate::url::S3Url;

/// Listings in flight at once while walking.
const LIST_CONCURRENCY: usize = 16;

/// What a walk found.
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

pub(crate) async fn list_source(
    store: &dyn ObjectStore,
    url: &S3Url,
    scope: &ListScope,
) -> Result<Listing, S3Error> {
    let bucket = url.bucket.as_str();
    let mut out = Listing::default();
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
            let (names, objects) = children(store, bucket, &logs).await?;
            if names.is_empty() && objects == 0 {
                // No trail layout here: read whatever JSON the prefix holds.
                flat(store, bucket, &base, &mut out).await?;
            } else {
                awslogs(&logs, names, &mut orgs, &mut accounts);
            }
        }
        TrailRoot::AwsLogs { base } => {
            let (names, _) = children(store, bucket, &base).await?;
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
        TrailRoot::Flat { base } => flat(store, bucket, &base, &mut out).await?,
    }

    // Organizations → accounts.
    let found: Vec<_> = futures::stream::iter(orgs)
        .map(|org| async move { (children(store, bucket, &org).await, org) })
        .buffer_unordered(LIST_CONCURRENCY)
        .collect()
        .await;
    for (r, org) in found {
        match r {
            Ok((names, _)) => awslogs(&org, names, &mut Vec::new(), &mut accounts),
            Err(e) => out
                .problems
                .push((format!("s3://{bucket}/{org}"), e.to_string())),
        }
    }
    // Accounts → regions.
    let found: Vec<_> = futures::stream::iter(accounts)
        .map(|(base, account)| async move { (children(store, bucket, &base).await, base, account) })
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
            Err(e) => out
                .problems
                .push((format!("s3://{bucket}/{base}"), e.to_string())),
        }
    }
    // Region folders → files in the window.
    let found: Vec<_> = futures::stream::iter(folders)
        .map(|f| async move { (list_region(store, bucket, &f, scope).await, f.base) })
        .buffer_unordered(LIST_CONCURRENCY)
        .collect()
        .await;
    for (r, base) in found {
        match r {
            Ok(files) => out.files.extend(files),
            Err(e) => out
                .problems
                .push((format!("s3://{bucket}/{base}"), e.to_string())),
        }
    }
    out.files.sort_by(|a, b| a.display.cmp(&b.display));
    Ok(out)
}

async fn list_region(
    store: &dyn ObjectStore,
    bucket: &str,
    f: &RegionFolder,
    scope: &ListScope,
) -> Result<Vec<SourceFile>, S3Error> {
    let prefix = path(&f.base);
    let mut stream = match scope.start_after(&f.base, &f.account, &f.region) {
        Some(after) => store.list_with_offset(prefix.as_ref(), &ObjectPath::from(after.as_str())),
        None => store.list(prefix.as_ref()),
    };
    let mut files = Vec::new();
    while let Some(meta) = stream
        .try_next()
        .await
        .map_err(|e| classify(bucket, &f.base, &e))?
    {
        let key = meta.location.to_string();
        if scope.past_end(&f.base, &key) {
            // Keys sort by day: nothing after this can match; dropping the stream stops paging.
            break;
        }
        let file = SourceFile::object(bucket, &key, meta.size, meta.e_tag);
        if let KeyKind::TrailLog(k) = &file.kind {
            if !scope.window.may_contain(k, scope.late_margin) {
                if scope.beyond(k) {
                    break;
                }
                continue;
            }
        }
        files.push(file);
    }
    Ok(files)
}

async fn flat(
    store: &dyn ObjectStore,
    bucket: &str,
    base: &str,
    out: &mut Listing,
) -> Result<(), S3Error> {
    let metas: Vec<_> = store
        .list(path(base).as_ref())
        .try_collect()
        .await
        .map_err(|e| classify(bucket, base, &e))?;
    out.files.extend(
        metas
            .into_iter()
            .map(|m| SourceFile::object(bucket, m.location.as_ref(), m.size, m.e_tag)),
    );
    Ok(())
}
