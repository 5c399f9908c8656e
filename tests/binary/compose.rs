//! What of `docker-compose.yml` can be checked without a Docker engine, beyond its schema
//! (`scripts/lint-compose`): the MySQL health checks fail when the server refuses the
//! password (run against this machine's MariaDB), the replica is not made super-read-only on
//! the command line, Kafka writes to its volume, and the ports the docs name are
//! published. What only Docker can show (the images' entrypoints, MySQL 8.4 replication) was
//! checked against their documentation; see docs/operating.md.

use std::process::Command;

fn compose() -> &'static str {
    include_str!("../../docker-compose.yml")
}

/// The lines of `service`'s block: from its name to the next line indented by two spaces.
fn service(name: &str) -> Vec<&'static str> {
    let header = format!("  {name}:");
    compose()
        .lines()
        .skip_while(|l| *l != header)
        .skip(1)
        .take_while(|l| l.is_empty() || l.starts_with("   ") || l.starts_with("  #"))
        .filter(|l| !l.trim_start().starts_with('#'))
        .collect()
}

/// The `CMD-SHELL` health check of `name`, as the container's shell gets it.
fn health_check(name: &str) -> String {
    let line = service(name)
        .into_iter()
        .find(|l| l.trim_start().starts_with("test: [\"CMD-SHELL\""))
        .unwrap_or_else(|| panic!("{name} has no CMD-SHELL health check"));
    let parts: Vec<String> =
        serde_json::from_str(line.trim_start().trim_start_matches("test: ")).expect("a list");
    parts[1].replace("$$", "$")
}

/// Runs a health check's shell command against this machine's MariaDB, with the root
/// password `password` in the environment as the container would have it.
fn run(check: &str, password: &str) -> bool {
    Command::new("sh")
        .args(["-c", check])
        .env("MYSQL_ROOT_PASSWORD", password)
        .status()
        .expect("sh runs")
        .success()
}

fn mariadb_here() -> bool {
    let found = Command::new("mysql")
        .args(["-h", "127.0.0.1", "-uroot", "-e", "SELECT 1"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !found {
        assert!(
            std::env::var("MOVIEDB_REQUIRE_REPLICA").is_err(),
            "MOVIEDB_REQUIRE_REPLICA is set but no MariaDB answers on 127.0.0.1:3306"
        );
        eprintln!("SKIPPED: no MariaDB on 127.0.0.1:3306 with the mysql client");
    }
    found
}

#[test]
fn the_mysql_health_checks_fail_when_the_server_refuses_the_password() {
    if !mariadb_here() {
        return;
    }
    // `mysqladmin ping` passes on "Access denied": the trap the checks must not fall into.
    assert!(
        run(
            "mysqladmin ping -h 127.0.0.1 -uroot -pwrong --silent",
            "wrong"
        ),
        "mysqladmin ping is expected to pass on a refused password (that is why it is not used)"
    );
    let primary = health_check("mysql");
    assert!(
        run(&primary, ""),
        "the primary's check passes on a server that lets root in"
    );
    assert!(
        !run(&primary, "not-the-password"),
        "a refused password fails it"
    );
    let replica = health_check("mysql-replica");
    assert!(
        !run(&replica, "not-the-password"),
        "a refused password fails it"
    );
    // MariaDB here is no replica and not super-read-only (MySQL's variable; MariaDB has
    // none, nor MySQL's replication_connection_status): the check must fail on it.
    assert!(
        !run(&replica, ""),
        "a server that is not a running replica fails it"
    );
}

#[test]
fn the_replica_turns_super_read_only_after_its_initialisation() {
    let replica = service("mysql-replica").join("\n");
    assert!(replica.contains("image: mysql:"), "the replica service");
    assert!(
        !replica.contains("super-read-only"),
        "on the command line it reaches the image's initialisation server, which then \
         refuses its own CREATE USER"
    );
    let script = include_str!("../../deploy/mysql/replicate.sh");
    let last = script
        .trim_end()
        .rsplit(';')
        .find(|s| !s.trim().trim_end_matches('"').is_empty())
        .expect("statements");
    assert!(
        last.contains("SET PERSIST super_read_only = ON"),
        "super_read_only is the last thing initialisation does, and kept: {last}"
    );
}

#[test]
fn kafka_writes_to_its_volume_and_the_readme_names_only_published_ports() {
    let kafka = service("kafka").join("\n");
    let dirs = kafka
        .lines()
        .find_map(|l| l.trim().strip_prefix("KAFKA_LOG_DIRS: "))
        .expect("KAFKA_LOG_DIRS set: the image's default is /tmp/kraft-combined-logs");
    assert!(
        kafka.contains(&format!("- kafka-data:{dirs}")),
        "the volume is mounted where Kafka writes ({dirs})"
    );
    let docs = [
        include_str!("../../README.md"),
        include_str!("../../docs/operating.md"),
    ];
    for port in ["9000", "9001", "9200", "5601"] {
        if docs
            .iter()
            .any(|doc| doc.contains(&format!("localhost:{port}")))
        {
            assert!(
                compose().contains(&format!("'127.0.0.1:{port}:")),
                "the docs send readers to localhost:{port}, which compose does not publish"
            );
        }
    }
}
