//! A TCP proxy the tests cut and restore: a database or a search server going down and
//! coming back (the crates.io approach), or one that does not answer yet.

use moviedb_event_store::test_support::mysql_server_url;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::AbortHandle;

/// Forwards 127.0.0.1:<port> to a server until cut, and again once restored.
pub struct ChaosProxy {
    /// The port it listens on.
    pub port: u16,
    upstream: String,
    tasks: Arc<Mutex<Vec<AbortHandle>>>,
}

impl ChaosProxy {
    /// A proxy to the test MySQL server.
    pub async fn start() -> Self {
        let server = mysql_server_url();
        let upstream = server
            .split_once("://")
            .map(|(_, rest)| rest.rsplit_once('@').map_or(rest, |(_, host)| host))
            .expect("a MySQL URL")
            .trim_end_matches('/')
            .to_owned();
        Self::to(upstream).await
    }

    /// A proxy to `upstream` (host:port).
    pub async fn to(upstream: String) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let port = listener.local_addr().expect("address").port();
        let proxy = Self {
            port,
            upstream,
            tasks: Arc::new(Mutex::new(Vec::new())),
        };
        proxy.serve(listener);
        proxy
    }

    /// A proxy to `upstream` on `port` that is down until [`ChaosProxy::restore`]: a server
    /// that does not answer yet.
    pub fn down(port: u16, upstream: String) -> Self {
        Self {
            port,
            upstream,
            tasks: Arc::new(Mutex::new(Vec::new())),
        }
    }

    fn serve(&self, listener: TcpListener) {
        let (upstream, tasks) = (self.upstream.clone(), self.tasks.clone());
        let accept = tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                let upstream = upstream.clone();
                let pipe = tokio::spawn(async move {
                    if let Ok(mut server) = TcpStream::connect(&upstream).await {
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                    }
                });
                tasks.lock().expect("lock").push(pipe.abort_handle());
            }
        });
        self.tasks.lock().expect("lock").push(accept.abort_handle());
    }

    /// Closes every connection and stops listening: the database is "down".
    pub fn cut(&self) {
        for task in self.tasks.lock().expect("lock").drain(..) {
            task.abort();
        }
    }

    /// Listens (again) on its port.
    pub async fn restore(&self) {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            match TcpListener::bind(("127.0.0.1", self.port)).await {
                Ok(listener) => return self.serve(listener),
                Err(e) => {
                    assert!(Instant::now() < deadline, "cannot rebind the proxy: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        }
    }
}
