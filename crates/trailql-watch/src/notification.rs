//! The bodies of delivery notifications an SQS queue receives: CloudTrail's SNS message
//! (`{"s3Bucket": …, "s3ObjectKey": […]}`) inside the SNS envelope, S3 event notifications
//! (`{"Records": [{"s3": {"bucket": {"name"}, "object": {"key"}}}]}`, keys URL-encoded with `+`
//! for a space), either one raw or inside an SNS envelope, and `s3:TestEvent`.

use serde_json::Value;

/// What one message says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Notice {
    /// Objects delivered: (bucket, key).
    Objects(Vec<(String, String)>),
    /// S3's test message when a notification is configured: nothing to do.
    Test,
}

/// Read a message body; why not, when it is none of the shapes above.
pub fn parse(body: &str) -> Result<Notice, String> {
    let v: Value = serde_json::from_str(body)
        .map_err(|e| format!("not JSON ({e}); expected an SNS or S3 notification"))?;
    // The SNS envelope: the notification is the text of `Message`.
    if v.get("Type").and_then(Value::as_str) == Some("Notification") {
        let inner = v
            .get("Message")
            .and_then(Value::as_str)
            .ok_or("an SNS envelope without a Message")?;
        return parse(inner);
    }
    if v.get("Event").and_then(Value::as_str) == Some("s3:TestEvent") {
        return Ok(Notice::Test);
    }
    if let Some(bucket) = v.get("s3Bucket").and_then(Value::as_str) {
        let keys = v
            .get("s3ObjectKey")
            .and_then(Value::as_array)
            .ok_or("a CloudTrail notification without s3ObjectKey")?;
        return Ok(Notice::Objects(
            keys.iter()
                .filter_map(Value::as_str)
                .map(|k| (bucket.to_string(), k.to_string()))
                .collect(),
        ));
    }
    if let Some(records) = v.get("Records").and_then(Value::as_array) {
        let mut out = Vec::new();
        for r in records {
            let s3 = r.get("s3").ok_or("an S3 event record without s3")?;
            let bucket = s3
                .pointer("/bucket/name")
                .and_then(Value::as_str)
                .ok_or("an S3 event record without s3.bucket.name")?;
            let key = s3
                .pointer("/object/key")
                .and_then(Value::as_str)
                .ok_or("an S3 event record without s3.object.key")?;
            let name = r.get("eventName").and_then(Value::as_str).unwrap_or("");
            if name.starts_with("ObjectRemoved") {
                continue;
            }
            out.push((bucket.to_string(), url_decode(key)?));
        }
        return Ok(Notice::Objects(out));
    }
    Err("neither a CloudTrail (s3Bucket, s3ObjectKey) nor an S3 event notification".to_string())
}

/// S3 event keys are URL-encoded, with `+` for a space.
fn url_decode(s: &str) -> Result<String, String> {
    trailql_layout::form_decode(s)
        .ok_or_else(|| format!("a bad %-escape in the key {s:?} (or not UTF-8 once decoded)"))
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "AWSLogs/111122223333/CloudTrail/us-east-1/2024/08/01/111122223333_CloudTrail_us-east-1_20240801T1005Z_abc.json.gz";

    #[test]
    fn cloudtrail_sns_messages() {
        let inner =
            serde_json::json!({"s3Bucket": "trail", "s3ObjectKey": [KEY, "k2"]}).to_string();
        let envelope =
            serde_json::json!({"Type": "Notification", "MessageId": "1", "Message": inner})
                .to_string();
        assert_eq!(
            parse(&envelope).unwrap(),
            Notice::Objects(vec![
                ("trail".into(), KEY.into()),
                ("trail".into(), "k2".into())
            ])
        );
        assert_eq!(parse(&inner).unwrap(), parse(&envelope).unwrap());
    }

    #[test]
    fn s3_event_records_with_encoded_keys() {
        let body = serde_json::json!({"Records": [
            {"eventName": "ObjectCreated:Put", "s3": {"bucket": {"name": "trail"}, "object": {"key": "a%3Db/c+d.json.gz", "size": 10}}},
            {"eventName": "ObjectRemoved:Delete", "s3": {"bucket": {"name": "trail"}, "object": {"key": "gone"}}}
        ]})
        .to_string();
        assert_eq!(
            parse(&body).unwrap(),
            Notice::Objects(vec![("trail".into(), "a=b/c d.json.gz".into())])
        );
        let wrapped = serde_json::json!({"Type": "Notification", "Message": body}).to_string();
        assert_eq!(parse(&wrapped).unwrap(), parse(&body).unwrap());
    }

    #[test]
    fn test_events_and_strangers() {
        assert_eq!(
            parse(r#"{"Service":"Amazon S3","Event":"s3:TestEvent","Bucket":"trail"}"#).unwrap(),
            Notice::Test
        );
        assert!(parse("hello").unwrap_err().contains("not JSON"));
        assert!(parse(r#"{"x":1}"#).unwrap_err().contains("neither"));
        assert!(
            parse(r#"{"Records":[{"s3":{"bucket":{"name":"b"},"object":{"key":"%zz"}}}]}"#)
                .unwrap_err()
                .contains("%-escape")
        );
    }
}
