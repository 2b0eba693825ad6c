//! Test support shared by trailql's crates: a real S3-compatible server on loopback (moto, from
//! PyPI, started per test), a proxy in front of it that injects faults and logs every request,
//! and a tiny HTTP/1.1 client to load data (moto accepts unsigned requests until auth is on).
//!
//! Nothing here is a mock of the S3 client: the code under test talks HTTP to a real server.

mod cloudtrail;
mod http;
pub mod lookup;
mod moto;
pub mod peak;
mod proxy;
pub mod signed;
pub mod webhook;

pub use cloudtrail::{CloudTrailServer, KeysCall};
pub use http::{request, Response};
pub use moto::{MotoServer, TEST_REGION};
pub use proxy::{Fault, FaultProxy, Seen};
pub use webhook::{Mode, WebhookReceiver};
