//! CloudTrail's public keys from the `ListPublicKeys` API (AWS SDK), when no `--public-keys` file
//! is given: one paginated call per region whose digests are checked (keys are per region), for
//! the validation window, made before the walk so a failure stops validation with advice.

use std::collections::HashMap;
use std::sync::Mutex;

use aws_sdk_cloudtrail::config::Region;
use aws_sdk_cloudtrail::error::DisplayErrorContext;
use aws_sdk_cloudtrail::primitives::DateTime as SdkTime;
use chrono::{DateTime, Duration, TimeZone, Utc};
use trailql_s3::{sdk_config, S3Options, SdkConfig};

use crate::keys::{KeyRing, PublicKey, PublicKeys};
use crate::rt::Rt;

pub struct CloudTrailKeys {
    rt: Rt,
    sdk: SdkConfig,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    by_region: Mutex<HashMap<String, PublicKeys>>,
}

impl CloudTrailKeys {
    /// With the AWS configuration a run's S3 options describe (profile, role, credentials).
    pub fn load(
        opts: &S3Options,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
    ) -> Result<CloudTrailKeys, String> {
        let rt = Rt::own()?;
        let sdk = rt.block_on(sdk_config(opts)).map_err(|e| e.to_string())?;
        Ok(CloudTrailKeys::with_rt(rt, sdk, start, end))
    }

    /// Keys for digests written between `start` and `end`, for synchronous callers.
    pub fn new(
        sdk: SdkConfig,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
    ) -> Result<CloudTrailKeys, String> {
        Ok(CloudTrailKeys::with_rt(Rt::own()?, sdk, start, end))
    }

    /// The same, used from a blocking task (`spawn_blocking`) of the runtime `handle`.
    pub fn with_handle(
        handle: tokio::runtime::Handle,
        sdk: SdkConfig,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
    ) -> CloudTrailKeys {
        CloudTrailKeys::with_rt(Rt::Shared(handle), sdk, start, end)
    }

    fn with_rt(rt: Rt, sdk: SdkConfig, start: DateTime<Utc>, end: DateTime<Utc>) -> Self {
        CloudTrailKeys {
            rt,
            sdk,
            // Digests are written up to an hour after the period they cover.
            start: start - Duration::hours(1),
            end: end + Duration::hours(2),
            by_region: Mutex::new(HashMap::new()),
        }
    }

    /// Regions fetched so far and how many keys each returned.
    pub fn fetched(&self) -> Vec<(String, usize)> {
        let mut v: Vec<_> = self
            .by_region
            .lock()
            .expect("key map")
            .iter()
            .map(|(r, k)| (r.clone(), k.keys.len()))
            .collect();
        v.sort();
        v
    }
}

impl KeyRing for CloudTrailKeys {
    fn prepare(&self, regions: &[String]) -> Result<(), String> {
        for region in regions {
            if self.by_region.lock().expect("key map").contains_key(region) {
                continue;
            }
            let end = self.end.min(Utc::now());
            let keys = self
                .rt
                .block_on(list_public_keys(&self.sdk, region, self.start, end))?;
            self.by_region
                .lock()
                .expect("key map")
                .insert(region.clone(), keys);
        }
        Ok(())
    }

    fn find(
        &self,
        region: &str,
        fingerprint: &str,
        at: Option<DateTime<Utc>>,
    ) -> Option<PublicKey> {
        let map = self.by_region.lock().expect("key map");
        map.get(region)?.find(fingerprint, at).cloned()
    }

    fn origin(&self) -> Option<String> {
        let fetched = self.fetched();
        (!fetched.is_empty()).then(|| {
            let regions: Vec<String> = fetched
                .iter()
                .map(|(r, n)| format!("{r} ({n} key{})", if *n == 1 { "" } else { "s" }))
                .collect();
            format!(
                "public keys from CloudTrail ListPublicKeys: {}",
                regions.join(", ")
            )
        })
    }

    fn hint(&self) -> &'static str {
        "ListPublicKeys returned no such key for the window"
    }
}

fn sdk_time(t: DateTime<Utc>) -> SdkTime {
    SdkTime::from_secs(t.timestamp())
}

fn chrono_time(t: Option<&SdkTime>) -> Option<DateTime<Utc>> {
    t.and_then(|t| Utc.timestamp_opt(t.secs(), 0).single())
}

/// Every public key CloudTrail used in `region` between `start` and `end` (all pages).
pub async fn list_public_keys(
    sdk: &SdkConfig,
    region: &str,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
) -> Result<PublicKeys, String> {
    let conf = aws_sdk_cloudtrail::config::Builder::from(sdk)
        .region(Region::new(region.to_string()))
        .build();
    let client = aws_sdk_cloudtrail::Client::from_conf(conf);
    let mut keys = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let out = client
            .list_public_keys()
            .start_time(sdk_time(start))
            .end_time(sdk_time(end))
            .set_next_token(token.take())
            .send()
            .await
            .map_err(|e| {
                format!(
                    "cannot list CloudTrail's public keys in {region} ({}). Save them where credentials work with `aws cloudtrail list-public-keys --region {region} --start-time {} --end-time {} --output json > keys.json` and pass --public-keys keys.json",
                    DisplayErrorContext(&e),
                    start.format("%Y-%m-%dT%H:%M:%SZ"),
                    end.format("%Y-%m-%dT%H:%M:%SZ"),
                )
            })?;
        for k in out.public_key_list() {
            let fp = k.fingerprint().unwrap_or_default();
            let der = k
                .value()
                .ok_or(format!("ListPublicKeys in {region}: key {fp} has no Value"))?;
            keys.push(
                PublicKey::from_der(
                    fp,
                    der.as_ref(),
                    chrono_time(k.validity_start_time()),
                    chrono_time(k.validity_end_time()),
                )
                .map_err(|e| format!("ListPublicKeys in {region}: {e}"))?,
            );
        }
        match out.next_token() {
            Some(t) if !t.is_empty() => token = Some(t.to_string()),
            _ => break,
        }
    }
    Ok(PublicKeys { keys })
}
