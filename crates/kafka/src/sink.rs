//! The relay's producer: `acks=all`, one request in flight; an event counts as published only once the
//! broker acknowledged it.

use anyhow::Context;
use async_trait::async_trait;
use futures::future::join_all;
use moviedb_event_store::feed::Sink;
use moviedb_event_store::StoredEvent;
use moviedb_service_kit::KafkaConfig;
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::ClientConfig;

/// Publishes events to their topics.
pub struct KafkaSink {
    producer: FutureProducer,
    prefix: String,
}

impl KafkaSink {
    /// A producer for `config.brokers`.
    pub fn new(config: &KafkaConfig) -> anyhow::Result<Self> {
        let producer = ClientConfig::new()
            .set("bootstrap.servers", &config.brokers)
            // Not the idempotent producer: tansu 0.6 panics in its idempotence bookkeeping
            // once producers have been killed and restarted, and duplicates cost nothing here
            // (the relay is at least once anyway: a crash between a publish and the outbox
            // delete publishes again, and the projector skips versions it has applied). One
            // request in flight per broker keeps a stream's events in order through retries.
            .set("enable.idempotence", "false")
            .set("max.in.flight.requests.per.connection", "1")
            .set("acks", "all")
            // Give up on a batch after 15 s: its outbox rows stay and it is sent again.
            .set("message.timeout.ms", "15000")
            .set("linger.ms", "1")
            .create()
            .context("creating the Kafka producer")?;
        Ok(Self {
            producer,
            prefix: config.topic_prefix.clone(),
        })
    }
}

#[async_trait]
impl Sink for KafkaSink {
    async fn publish(&self, events: &[StoredEvent]) -> anyhow::Result<()> {
        let mut deliveries = Vec::with_capacity(events.len());
        for event in events {
            let topic = crate::topic_for(&self.prefix, &event.stream_type);
            let key = event.stream_id.to_string();
            let value = serde_json::to_vec(event)?;
            let schema_version = event.schema_version.to_string();
            let event_id = event.event_id.to_string();
            let headers = OwnedHeaders::new()
                .insert(Header {
                    key: "event_type",
                    value: Some(event.event_type.as_str()),
                })
                .insert(Header {
                    key: "schema_version",
                    value: Some(schema_version.as_str()),
                })
                .insert(Header {
                    key: "event_id",
                    value: Some(event_id.as_str()),
                });
            let record = FutureRecord::to(&topic)
                .key(&key)
                .payload(&value)
                .headers(headers);
            // Queued in order; one request in flight per broker keeps that order per partition.
            let delivery = self
                .producer
                .send_result(record)
                .map_err(|(e, _)| anyhow::anyhow!("queueing event {}: {e}", event.event_id))?;
            deliveries.push(delivery);
        }
        for (event, delivery) in events.iter().zip(join_all(deliveries).await) {
            match delivery {
                Ok(Ok(_)) => {}
                Ok(Err((e, _))) => anyhow::bail!("event {} not acknowledged: {e}", event.event_id),
                Err(_) => anyhow::bail!("event {}: the producer went away", event.event_id),
            }
        }
        Ok(())
    }
}
