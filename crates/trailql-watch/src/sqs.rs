//! An SQS queue of delivery notifications (`--sqs URL`), read with the AWS SDK: long polls
//! of up to ten messages, each deleted only once the files it names are processed and recorded
//! in the state (a message received and then lost to a kill comes back after its visibility
//! timeout, and its files, already recorded, are skipped).

use aws_sdk_sqs::error::DisplayErrorContext;
use aws_sdk_sqs::Client;
use trailql_s3::S3Options;

/// A queue to read.
#[derive(Debug, Clone)]
pub struct Queue {
    client: Client,
    url: String,
}

/// One message received.
#[derive(Debug, Clone)]
pub struct Message {
    pub id: String,
    pub body: String,
    receipt: String,
}

/// The region in a queue URL (`https://sqs.REGION.amazonaws.com/ACCOUNT/NAME`).
fn region_of(url: &str) -> Option<String> {
    let host = url.split("://").nth(1)?.split('/').next()?;
    let mut parts = host.split('.');
    (parts.next()? == "sqs")
        .then(|| parts.next().map(str::to_string))
        .flatten()
}

impl Queue {
    /// The queue at `url`, with the credentials and endpoint settings of the S3 sources
    /// (`--profile`, `--role-arn`, `--endpoint-url`; `AWS_ENDPOINT_URL_SQS` also works).
    pub async fn connect(url: &str, opts: &S3Options) -> anyhow::Result<Queue> {
        let sdk = trailql_s3::sdk_config(opts)
            .await
            .map_err(|e| anyhow::anyhow!("--sqs: {e}"))?;
        let mut conf = aws_sdk_sqs::config::Builder::from(&sdk);
        if let Some(e) = &opts.endpoint_url {
            conf = conf.endpoint_url(e);
        }
        if let Some(r) = region_of(url) {
            conf = conf.region(aws_sdk_sqs::config::Region::new(r));
        }
        Ok(Queue {
            client: Client::from_conf(conf.build()),
            url: url.to_string(),
        })
    }

    /// Wait up to `wait_secs` (at most 20) for messages.
    pub async fn receive(&self, wait_secs: i32) -> Result<Vec<Message>, String> {
        let out = self
            .client
            .receive_message()
            .queue_url(&self.url)
            .max_number_of_messages(10)
            .wait_time_seconds(wait_secs.clamp(0, 20))
            .send()
            .await
            .map_err(|e| {
                format!(
                    "--sqs: cannot receive messages: {}",
                    DisplayErrorContext(&e)
                )
            })?;
        Ok(out
            .messages
            .unwrap_or_default()
            .into_iter()
            .filter_map(|m| {
                Some(Message {
                    id: m.message_id.unwrap_or_default(),
                    body: m.body?,
                    receipt: m.receipt_handle?,
                })
            })
            .collect())
    }

    /// The message is done with: it will not be received again.
    pub async fn delete(&self, m: &Message) -> Result<(), String> {
        self.client
            .delete_message()
            .queue_url(&self.url)
            .receipt_handle(&m.receipt)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| {
                format!(
                    "--sqs: cannot delete message {}: {}",
                    m.id,
                    DisplayErrorContext(&e)
                )
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regions_of_queue_urls() {
        assert_eq!(
            region_of("https://sqs.eu-west-1.amazonaws.com/111122223333/trail").as_deref(),
            Some("eu-west-1")
        );
        assert_eq!(region_of("http://127.0.0.1:5000/123/q"), None);
    }
}
