//! S3 failures, each saying what was wrong, where, and what to do.

use crate::credentials::CREDENTIALS_FAILED;

#[derive(Debug, thiserror::Error)]
pub enum S3Error {
    #[error("s3://{bucket}: the bucket does not exist (check the name in --source; an organization trail's bucket usually lives in the management or log-archive account)")]
    NoSuchBucket { bucket: String },
    #[error("{url}: access denied ({detail}). The credentials in use need s3:ListBucket on the bucket and s3:GetObject on its keys (and kms:Decrypt if the trail uses SSE-KMS); pick others with --profile or --role-arn")]
    AccessDenied { url: String, detail: String },
    #[error("s3://{bucket}: the credentials were rejected ({detail}). Check AWS_ACCESS_KEY_ID / AWS_PROFILE (or --profile); if they come from SSO run `aws sso login`")]
    BadCredentials { bucket: String, detail: String },
    #[error("s3://{bucket}: the credentials have expired ({detail}). Refresh them (`aws sso login --profile …`, or new session credentials) and run again")]
    ExpiredCredentials { bucket: String, detail: String },
    #[error("s3://{bucket}: the bucket is in another region than the one used ({detail}); pass its region with --bucket-region, or drop --bucket-region to find it automatically")]
    WrongRegion { bucket: String, detail: String },
    #[error("no usable AWS credentials: {detail}. Set AWS_PROFILE or --profile (run `aws sso login` for SSO profiles), AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, or run where an instance/container role is available; for a public bucket use --no-sign-request")]
    NoCredentials { detail: String },
    #[error(
        "s3://{bucket}: cannot find the bucket's region ({detail}); pass it with --bucket-region"
    )]
    Region { bucket: String, detail: String },
    #[error("{url}: {detail}")]
    Other { url: String, detail: String },
}

impl S3Error {
    /// Worth trying the whole request again (after object_store's own retries gave up on a body).
    pub fn is_transient(&self) -> bool {
        matches!(self, S3Error::Other { detail, .. } if !detail.contains("not found"))
    }
}

/// Turn an object_store error on `bucket`/`key` into an [`S3Error`] by the S3 error code in it.
pub(crate) fn classify(bucket: &str, key: &str, e: &object_store::Error) -> S3Error {
    let text = full_text(e);
    let url = format!("s3://{bucket}/{key}");
    let detail = first_line(&text);
    let has = |code: &str| text.contains(code);
    if has(CREDENTIALS_FAILED) {
        return S3Error::NoCredentials {
            detail: detail.replace(&format!("{CREDENTIALS_FAILED}: "), ""),
        };
    }
    if has("NoSuchBucket") {
        return S3Error::NoSuchBucket {
            bucket: bucket.into(),
        };
    }
    if has("ExpiredToken") || has("TokenRefreshRequired") || has("RequestExpired") {
        return S3Error::ExpiredCredentials {
            bucket: bucket.into(),
            detail,
        };
    }
    if has("InvalidAccessKeyId") || has("SignatureDoesNotMatch") || has("InvalidToken") {
        return S3Error::BadCredentials {
            bucket: bucket.into(),
            detail,
        };
    }
    // object_store reports S3's Location-less 301 as "redirect without LOCATION".
    let redirect = has("redirect without LOCATION") || has("incorrectly configured region");
    if redirect || has("PermanentRedirect") || has("AuthorizationHeaderMalformed") {
        return S3Error::WrongRegion {
            bucket: bucket.into(),
            detail: if redirect {
                "S3 answered 301 PermanentRedirect".into()
            } else {
                detail
            },
        };
    }
    if has("AccessDenied") || has("403 Forbidden") {
        return S3Error::AccessDenied { url, detail };
    }
    if let object_store::Error::NotFound { .. } = e {
        return S3Error::Other {
            url,
            detail: "not found (deleted after it was listed?)".into(),
        };
    }
    S3Error::Other { url, detail }
}

/// An error and its sources, each cause appended once (wrappers often repeat their source).
pub(crate) fn full_text(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut src = e.source();
    while let Some(inner) = src {
        let t = inner.to_string();
        if !s.contains(&t) {
            s.push_str(": ");
            s.push_str(&t);
        }
        src = inner.source();
    }
    s
}

/// The error without object_store's XML body noise: the S3 code and message when present.
fn first_line(text: &str) -> String {
    let tag = |name: &str| -> Option<&str> {
        let open = format!("<{name}>");
        let s = text.find(&open)? + open.len();
        let e = text[s..].find('<')? + s;
        Some(&text[s..e])
    };
    match (tag("Code"), tag("Message")) {
        (Some(c), Some(m)) => format!("{c}: {m}"),
        (Some(c), None) => c.to_string(),
        // No S3 error body (HEAD, or a server that sends none): the HTTP status says enough.
        _ => match text.find("status code: ") {
            Some(i) => {
                let status: String = text[i + 13..]
                    .chars()
                    .take_while(|c| *c != ':' && *c != ',')
                    .collect();
                format!("HTTP {}", status.trim())
            }
            None => text.split(": ").next().unwrap_or(text).to_string(),
        },
    }
}
