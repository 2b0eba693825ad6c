//! `-s cloudtrail-api://us-east-1,eu-west-1`: an account's CloudTrail event history (the
//! LookupEvents API) as a source. The account is the one the credentials belong to; the regions
//! are listed after the scheme (none: the SDK's region, from `AWS_REGION` or the profile).

/// The scheme users write before the regions.
pub const SCHEME: &str = "cloudtrail-api://";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiSource {
    /// The regions to look up, in the order given, without repeats; empty: the SDK's region.
    pub regions: Vec<String>,
}

impl ApiSource {
    /// Is `s` written as an API source (scheme compared case-insensitively)?
    pub fn is_api(s: &str) -> bool {
        s.len() >= SCHEME.len() && s[..SCHEME.len()].eq_ignore_ascii_case(SCHEME)
    }

    /// `cloudtrail-api://REGION[,REGION…]` (a trailing `/` is allowed).
    pub fn parse(s: &str) -> Result<ApiSource, String> {
        if !ApiSource::is_api(s) {
            return Err(format!("{s}: not a {SCHEME}REGION[,REGION…] source"));
        }
        let mut regions: Vec<String> = Vec::new();
        for r in s[SCHEME.len()..].trim_end_matches('/').split(',') {
            let r = r.trim().to_ascii_lowercase();
            if r.is_empty() {
                continue;
            }
            if !is_region(&r) {
                return Err(format!(
                    "{s}: '{r}' is not a region name (write {SCHEME}us-east-1,eu-west-1)"
                ));
            }
            if !regions.contains(&r) {
                regions.push(r);
            }
        }
        Ok(ApiSource { regions })
    }
}

/// `us-east-1`, `ap-southeast-2`, `us-gov-west-1`, `cn-north-1`: letters, digits and dashes, with
/// at least two dashes and a number at the end.
fn is_region(r: &str) -> bool {
    let parts: Vec<&str> = r.split('-').collect();
    parts.len() >= 3
        && parts
            .iter()
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_alphanumeric()))
        && parts
            .last()
            .is_some_and(|p| p.bytes().all(|b| b.is_ascii_digit()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regions_are_read_after_the_scheme() {
        assert_eq!(
            ApiSource::parse("cloudtrail-api://us-east-1,EU-west-1, us-east-1/").unwrap(),
            ApiSource {
                regions: vec!["us-east-1".into(), "eu-west-1".into()]
            }
        );
        assert_eq!(
            ApiSource::parse("CloudTrail-API://").unwrap().regions,
            Vec::<String>::new()
        );
        assert!(ApiSource::is_api("cloudtrail-api://x"));
        assert!(!ApiSource::is_api("s3://cloudtrail-api"));
        let e = ApiSource::parse("cloudtrail-api://us-east-1,bucket/key").unwrap_err();
        assert!(e.contains("'bucket/key' is not a region name"), "{e}");
        assert!(ApiSource::parse("cloudtrail-api://useast1").is_err());
    }
}
