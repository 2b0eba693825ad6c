//! CloudTrail's public keys: from `aws cloudtrail list-public-keys --output json`, matched by
//! fingerprint and validity time. `Value` is base64 DER, PKCS#1 `RSAPublicKey` or
//! SubjectPublicKeyInfo (both are seen).

use base64::Engine as _;
use chrono::{DateTime, TimeZone, Utc};
use rsa::pkcs1::DecodeRsaPublicKey;
use rsa::pkcs8::DecodePublicKey;
use rsa::sha2::{Digest as _, Sha256};
use rsa::{Pkcs1v15Sign, RsaPublicKey};
use serde_json::Value;

#[derive(Debug, Clone)]
pub struct PublicKey {
    pub fingerprint: String,
    pub key: RsaPublicKey,
    pub valid_from: Option<DateTime<Utc>>,
    pub valid_to: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Default)]
pub struct PublicKeys {
    pub keys: Vec<PublicKey>,
}

impl PublicKey {
    /// A key as CloudTrail lists it: DER in either form.
    pub fn from_der(
        fingerprint: &str,
        der: &[u8],
        valid_from: Option<DateTime<Utc>>,
        valid_to: Option<DateTime<Utc>>,
    ) -> Result<PublicKey, String> {
        let key = parse_der(der).ok_or(format!(
            "key {fingerprint}: Value is neither a PKCS#1 nor a SubjectPublicKeyInfo RSA key"
        ))?;
        Ok(PublicKey {
            fingerprint: fingerprint.to_string(),
            key,
            valid_from,
            valid_to,
        })
    }
}

/// Parse a DER public key in either form.
pub fn parse_der(der: &[u8]) -> Option<RsaPublicKey> {
    RsaPublicKey::from_pkcs1_der(der)
        .ok()
        .or_else(|| RsaPublicKey::from_public_key_der(der).ok())
}

fn time(v: Option<&Value>) -> Option<DateTime<Utc>> {
    match v? {
        Value::Number(n) => Utc.timestamp_opt(n.as_f64()? as i64, 0).single(),
        Value::String(s) => crate::digest::parse_time(s).or_else(|| {
            s.parse::<f64>()
                .ok()
                .and_then(|f| Utc.timestamp_opt(f as i64, 0).single())
        }),
        _ => None,
    }
}

impl PublicKeys {
    /// Read the JSON that `aws cloudtrail list-public-keys --output json` prints.
    pub fn from_json(text: &str) -> Result<PublicKeys, String> {
        let v: Value = serde_json::from_str(text).map_err(|e| format!("not JSON: {e}"))?;
        let list = v
            .get("PublicKeyList")
            .and_then(Value::as_array)
            .ok_or("no PublicKeyList array (save the output of `aws cloudtrail list-public-keys --output json`)")?;
        let mut keys = Vec::new();
        for (i, k) in list.iter().enumerate() {
            let fp = k
                .get("Fingerprint")
                .and_then(Value::as_str)
                .ok_or(format!("key {i}: no Fingerprint"))?;
            let b64 = k
                .get("Value")
                .and_then(Value::as_str)
                .ok_or(format!("key {i}: no Value"))?;
            let der = base64::engine::general_purpose::STANDARD
                .decode(b64.trim())
                .map_err(|e| format!("key {fp}: Value is not base64: {e}"))?;
            keys.push(PublicKey::from_der(
                fp,
                &der,
                time(k.get("ValidityStartTime")),
                time(k.get("ValidityEndTime")),
            )?);
        }
        Ok(PublicKeys { keys })
    }

    /// The key with this fingerprint valid at `at` (validity is not enforced when unknown).
    pub fn find(&self, fingerprint: &str, at: Option<DateTime<Utc>>) -> Option<&PublicKey> {
        let matching = self
            .keys
            .iter()
            .filter(|k| k.fingerprint.eq_ignore_ascii_case(fingerprint));
        let mut first = None;
        for k in matching {
            first.get_or_insert(k);
            let ok = at.is_none_or(|t| {
                k.valid_from.is_none_or(|f| f <= t) && k.valid_to.is_none_or(|e| t <= e)
            });
            if ok {
                return Some(k);
            }
        }
        first
    }
}

/// Where validation finds the public key for a digest: a saved key list, or CloudTrail's
/// `ListPublicKeys` per region ([`crate::cloudtrail::CloudTrailKeys`]).
pub trait KeyRing: Sync {
    /// Called once before the walk with the regions whose digests will be checked; a ring that
    /// fetches keys does it here, so a failure stops validation before any verdict.
    fn prepare(&self, _regions: &[String]) -> Result<(), String> {
        Ok(())
    }

    /// The key with this fingerprint valid at `at`, for a digest written in `region`.
    fn find(&self, region: &str, fingerprint: &str, at: Option<DateTime<Utc>>)
        -> Option<PublicKey>;

    /// Where the keys came from, when worth telling (keys fetched from an API).
    fn origin(&self) -> Option<String> {
        None
    }

    /// What to tell the user when a fingerprint is not found.
    fn hint(&self) -> &'static str {
        "pass the region's keys with --public-keys"
    }
}

/// A saved list (`--public-keys`): fingerprints are unique, so the region is not needed.
impl KeyRing for PublicKeys {
    fn find(
        &self,
        _region: &str,
        fingerprint: &str,
        at: Option<DateTime<Utc>>,
    ) -> Option<PublicKey> {
        PublicKeys::find(self, fingerprint, at).cloned()
    }
}

/// SHA256withRSA (PKCS#1 v1.5) over `message`; `signature_hex` as CloudTrail writes it.
pub fn verify(key: &RsaPublicKey, message: &[u8], signature_hex: &str) -> bool {
    let Ok(sig) = hex::decode(signature_hex.trim()) else {
        return false;
    };
    let hashed = Sha256::digest(message);
    key.verify(Pkcs1v15Sign::new::<Sha256>(), &hashed, &sig)
        .is_ok()
}
