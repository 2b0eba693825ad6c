//! object_store's reqwest client, wrapped to count every HTTP request S3 sees (retries
//! included) by kind, and the error responses that cause retries.

use std::sync::Arc;

use async_trait::async_trait;
use object_store::client::{
    ClientOptions, HttpClient, HttpConnector, HttpError, HttpRequest, HttpResponse, HttpService,
    ReqwestConnector,
};

use crate::stats::S3Stats;

#[derive(Debug)]
pub(crate) struct CountingConnector {
    pub stats: Arc<S3Stats>,
}

impl HttpConnector for CountingConnector {
    fn connect(&self, options: &ClientOptions) -> object_store::Result<HttpClient> {
        let inner = ReqwestConnector::default().connect(options)?;
        Ok(HttpClient::new(Counting {
            inner,
            stats: self.stats.clone(),
        }))
    }
}

#[derive(Debug)]
struct Counting {
    inner: HttpClient,
    stats: Arc<S3Stats>,
}

#[async_trait]
impl HttpService for Counting {
    async fn call(&self, req: HttpRequest) -> Result<HttpResponse, HttpError> {
        let s = &self.stats;
        let is_list = req
            .uri()
            .query()
            .is_some_and(|q| q.split('&').any(|p| p == "list-type=2"));
        let counter = match req.method().as_str() {
            "GET" if is_list => &s.list_requests,
            "GET" => &s.get_requests,
            "HEAD" => &s.head_requests,
            _ => &s.other_requests,
        };
        s.add(counter, 1);
        let result = self.inner.execute(req).await;
        match &result {
            Ok(r) if r.status().is_server_error() || r.status().as_u16() == 429 => {
                s.add(&s.server_errors, 1)
            }
            Err(_) => s.add(&s.server_errors, 1),
            _ => {}
        }
        result
    }
}
