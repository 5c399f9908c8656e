//! The S3-compatible server moto for the tests that keep posters in a bucket: found through
//! `MOVIEDB_MOTO` (set by `scripts/test`) or in `.tools/` (`scripts/ensure-s3-server`);
//! missing, the test says it was skipped, unless `MOVIEDB_REQUIRE_S3=1` makes that a failure.

use crate::process::free_port;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// A moto server on a free port, stopped when dropped.
pub struct S3Server {
    child: Child,
    /// `http://127.0.0.1:<port>`.
    pub url: String,
}

impl Drop for S3Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn binary() -> Option<PathBuf> {
    let found = std::env::var_os("MOVIEDB_MOTO")
        .map(PathBuf::from)
        .or_else(|| {
            let local = PathBuf::from(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../../.tools/moto/bin/moto_server"
            ));
            local.exists().then_some(local)
        });
    if found.is_none() {
        assert!(
            std::env::var_os("MOVIEDB_REQUIRE_S3").is_none(),
            "MOVIEDB_REQUIRE_S3 is set but there is no moto_server (scripts/ensure-s3-server)"
        );
        eprintln!(
            "SKIPPED: no S3-compatible server (run scripts/ensure-s3-server or scripts/test)"
        );
    }
    found
}

impl S3Server {
    /// Starts one with the bucket `bucket`, or says it was skipped.
    pub async fn start(bucket: &str) -> Option<Self> {
        let port = free_port();
        let child = Command::new(binary()?)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("moto starts");
        let server = Self {
            child,
            url: format!("http://127.0.0.1:{port}"),
        };
        let client = reqwest::Client::new();
        for _ in 0..300 {
            if let Ok(made) = client.put(format!("{}/{bucket}", server.url)).send().await {
                assert!(
                    made.status().is_success(),
                    "bucket {bucket}: {}",
                    made.status()
                );
                return Some(server);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("moto did not answer at {}", server.url);
    }

    /// The environment a moviedb role needs to keep posters in `bucket` here.
    pub fn role_env(&self, bucket: &str) -> Vec<(&'static str, String)> {
        vec![
            ("MOVIEDB_OBJECT_STORE_URL", format!("s3://{bucket}")),
            ("AWS_ENDPOINT_URL", self.url.clone()),
            ("AWS_REGION", "us-east-1".into()),
            ("AWS_ACCESS_KEY_ID", "moviedb-test".into()),
            ("AWS_SECRET_ACCESS_KEY", "moviedb-test-secret".into()),
            ("AWS_ALLOW_HTTP", "true".into()),
        ]
    }
}
