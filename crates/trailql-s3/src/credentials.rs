//! Credentials the way aws-cli users expect: the AWS SDK's default chain (environment,
//! `AWS_PROFILE`/`--profile` with `~/.aws/config` and SSO, web identity, container and instance
//! roles), optionally assuming `--role-arn`, handed to object_store and cached until shortly
//! before they expire.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use aws_config::meta::region::RegionProviderChain;
use aws_config::{BehaviorVersion, SdkConfig};
use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider};
use object_store::aws::AwsCredential;
use object_store::CredentialProvider;

use crate::client::S3Options;
use crate::error::{full_text, S3Error};

/// Refresh this long before the SDK's expiry time.
const REFRESH_BEFORE: Duration = Duration::from_secs(300);

/// Marks credential failures inside object_store's error text (see `error::classify`).
pub(crate) const CREDENTIALS_FAILED: &str = "trailql: no usable AWS credentials";

/// The AWS SDK configuration for a run, as aws-cli would build it: region from the environment or
/// the profile (us-east-1 otherwise), credentials from the default chain or `opts.credentials`,
/// with `--role-arn` assumed on top. Other AWS APIs (CloudTrail's ListPublicKeys) use this too;
/// each service's endpoint follows the SDK's settings (`AWS_ENDPOINT_URL_<SERVICE>`).
pub async fn sdk_config(opts: &S3Options) -> Result<SdkConfig, S3Error> {
    let mut region = RegionProviderChain::first_try(
        aws_config::environment::region::EnvironmentVariableRegionProvider::new(),
    );
    let mut profile_region = aws_config::profile::ProfileFileRegionProvider::builder();
    if let Some(p) = &opts.profile {
        profile_region = profile_region.profile_name(p);
    }
    region = region
        .or_else(profile_region.build())
        .or_else(aws_config::Region::new("us-east-1"));
    let mut loader = aws_config::defaults(BehaviorVersion::latest()).region(region);
    if let Some(p) = &opts.profile {
        loader = loader.profile_name(p);
    }
    if let Some(p) = &opts.credentials {
        loader = loader.credentials_provider(p.clone());
    }
    let sdk = loader.load().await;
    let Some(role) = &opts.role_arn else {
        return Ok(sdk);
    };
    let Some(chain) = sdk.credentials_provider() else {
        return Err(S3Error::NoCredentials {
            detail: "the AWS SDK found no credentials provider to assume --role-arn with".into(),
        });
    };
    let assume = aws_config::sts::AssumeRoleProvider::builder(role)
        .session_name("trailql")
        .configure(&sdk)
        .build_from_provider(chain)
        .await;
    Ok(sdk
        .into_builder()
        .credentials_provider(SharedCredentialsProvider::new(assume))
        .build())
}

/// The provider for a run, or `None` for unsigned requests (`--no-sign-request`).
pub(crate) async fn provider(opts: &S3Options) -> Result<Option<Arc<SdkCredentials>>, S3Error> {
    if opts.no_sign_request {
        return Ok(None);
    }
    let base = match &opts.credentials {
        // Given keys and no role: no need to load the SDK's configuration.
        Some(p) if opts.role_arn.is_none() => p.clone(),
        _ => sdk_config(opts)
            .await?
            .credentials_provider()
            .ok_or_else(|| S3Error::NoCredentials {
                detail: "the AWS SDK found no credentials provider".into(),
            })?,
    };
    Ok(Some(Arc::new(SdkCredentials {
        provider: base,
        cached: tokio::sync::Mutex::new(None),
    })))
}

/// object_store asks for credentials before each request; the SDK chain is asked only when the
/// cached ones are missing or about to expire.
#[derive(Debug)]
pub(crate) struct SdkCredentials {
    provider: SharedCredentialsProvider,
    cached: tokio::sync::Mutex<Option<(Arc<AwsCredential>, Option<SystemTime>)>>,
}

impl SdkCredentials {
    /// Resolve now (so a missing or rejected profile is reported before any listing).
    pub(crate) async fn check(&self) -> Result<(), S3Error> {
        self.get_credential()
            .await
            .map(|_| ())
            .map_err(|e| S3Error::NoCredentials {
                detail: e
                    .to_string()
                    .replace(&format!("{CREDENTIALS_FAILED}: "), ""),
            })
    }
}

#[async_trait]
impl CredentialProvider for SdkCredentials {
    type Credential = AwsCredential;

    async fn get_credential(&self) -> object_store::Result<Arc<AwsCredential>> {
        let mut cached = self.cached.lock().await;
        if let Some((c, expiry)) = cached.as_ref() {
            let fresh = expiry.is_none_or(|e| e > SystemTime::now() + REFRESH_BEFORE);
            if fresh {
                return Ok(c.clone());
            }
        }
        let creds = self.provider.provide_credentials().await.map_err(|e| {
            object_store::Error::Generic {
                store: "S3",
                source: format!("{CREDENTIALS_FAILED}: {}", full_text(&e)).into(),
            }
        })?;
        let c = Arc::new(AwsCredential {
            key_id: creds.access_key_id().to_string(),
            secret_key: creds.secret_access_key().to_string(),
            token: creds.session_token().map(str::to_string),
        });
        *cached = Some((c.clone(), creds.expiry()));
        Ok(c)
    }
}
