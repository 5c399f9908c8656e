//! The shutdown future takes over SIGTERM and SIGINT as soon as it is made, before it is
//! ever polled: a service builds it before it logs that it listens, and a supervisor may
//! signal the moment it reads that line. (A test binary of its own: it signals itself.)

use std::time::Duration;

fn signal_self(name: &str) {
    let sent = std::process::Command::new("kill")
        .args([&format!("-{name}"), &std::process::id().to_string()])
        .status()
        .expect("kill runs");
    assert!(sent.success(), "kill -{name} failed");
}

#[tokio::test]
async fn a_signal_sent_before_the_first_poll_ends_the_wait_instead_of_the_process() {
    for name in ["TERM", "INT"] {
        let stop = moviedb_service_kit::shutdown_signal();
        // Without the handlers in place already, the default action would end this process
        // here, failing the test binary.
        signal_self(name);
        tokio::time::sleep(Duration::from_millis(50)).await;
        tokio::time::timeout(Duration::from_secs(10), stop)
            .await
            .unwrap_or_else(|_| panic!("SIG{name} delivered before the first poll was not seen"));
    }
}
