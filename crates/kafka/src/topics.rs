//! Topic names, and creating the topics when missing.

use moviedb_domain::movie::Movie;
use moviedb_domain::user::User;
use moviedb_domain::Aggregate;
use moviedb_service_kit::KafkaConfig;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::ClientConfig;
use std::time::Duration;

/// The topic of a stream type: `<prefix>.movie-events`, `<prefix>.user-events`.
pub fn topic_for(prefix: &str, stream_type: &str) -> String {
    format!("{prefix}.{stream_type}-events")
}

/// Every topic moviedb uses.
pub fn topics(prefix: &str) -> Vec<String> {
    [Movie::STREAM_TYPE, User::STREAM_TYPE]
        .iter()
        .map(|t| topic_for(prefix, t))
        .collect()
}

/// Creates the topics that do not exist yet, with the configured partitions.
pub async fn ensure_topics(config: &KafkaConfig) -> anyhow::Result<()> {
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", &config.brokers)
        .create()?;
    let names = topics(&config.topic_prefix);
    let new: Vec<NewTopic<'_>> = names
        .iter()
        .map(|name| NewTopic::new(name, config.partitions, TopicReplication::Fixed(1)))
        .collect();
    let options = AdminOptions::new().operation_timeout(Some(Duration::from_secs(10)));
    for result in admin.create_topics(&new, &options).await? {
        match result {
            Ok(name) => {
                tracing::info!(topic = %name, partitions = config.partitions, "topic created")
            }
            Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
            Err((name, code)) => anyhow::bail!("cannot create topic {name}: {code}"),
        }
    }
    Ok(())
}
