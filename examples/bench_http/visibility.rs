//! Write -> visible, the harness's freshness rows: how soon a write is seen by a plain read or
//! a search that polls, and what a read or search carrying its Consistency-Token costs.

use crate::server::Moviedb;
use anyhow::{bail, Context};
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The `Consistency-Token` a write answered with.
fn consistency_of(response: &reqwest::Response) -> Option<String> {
    response
        .headers()
        .get("consistency-token")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

impl Moviedb {
    /// Write -> visible: edits a movie, then (a) polls a plain GET until it shows the edit,
    /// (b) reads it once with the write's Consistency-Token. Milliseconds from the write's
    /// answer, `rounds` of each.
    pub async fn visibility(
        &self,
        token: &str,
        ids: &Arc<Vec<String>>,
        rounds: usize,
    ) -> anyhow::Result<(Vec<u64>, Vec<u64>)> {
        let (mut plain, mut with_token) = (Vec::new(), Vec::new());
        for round in 0..rounds * 2 {
            let id = &ids[(round * 104_729) % ids.len()];
            let r = self
                .client
                .patch(self.url(&format!("/v1/movies/{id}")))
                .bearer_auth(token)
                .json(&json!({ "imdb_score": (round % 100) as f64 / 10.0 + 0.05 }))
                .send()
                .await?;
            let consistency = consistency_of(&r);
            let answer: Value = r.json().await?;
            let Some(version) = answer["version"].as_u64() else {
                bail!("an edit answered without a version: {answer}");
            };
            let acknowledged = Instant::now();
            if round % 2 == 0 {
                loop {
                    let seen: Value = self
                        .client
                        .get(self.url(&format!("/v1/movies/{id}")))
                        .send()
                        .await?
                        .json()
                        .await?;
                    if seen["version"].as_u64() >= Some(version) {
                        break;
                    }
                    if acknowledged.elapsed() > Duration::from_secs(30) {
                        bail!("edit of {id} not visible after 30 s");
                    }
                }
                plain.push(acknowledged.elapsed().as_micros() as u64);
            } else {
                let r = self
                    .client
                    .get(self.url(&format!("/v1/movies/{id}")))
                    .header(
                        "consistency-token",
                        consistency.context("no Consistency-Token")?,
                    )
                    .send()
                    .await?;
                let seen: Value = r.json().await?;
                if seen["version"].as_u64() < Some(version) {
                    bail!("a read with the token was stale: {seen}");
                }
                with_token.push(acknowledged.elapsed().as_micros() as u64);
            }
        }
        Ok((plain, with_token))
    }
    /// Add -> searchable: adds a movie with a name of its own, then (a) polls a search for it
    /// until it is among the hits, (b) searches once with the add's Consistency-Token, which
    /// must find it. Milliseconds from the add's answer, `rounds` of each.
    pub async fn searchable(
        &self,
        token: &str,
        rounds: usize,
    ) -> anyhow::Result<(Vec<u64>, Vec<u64>)> {
        let (mut plain, mut with_token) = (Vec::new(), Vec::new());
        let run = std::process::id();
        for round in 0..rounds * 2 {
            let tag = format!("zq{run}x{round:05}");
            let r = self
                .client
                .post(self.url("/v1/movies"))
                .bearer_auth(token)
                .json(
                    &json!({ "name": format!("Searchable {tag}"), "director": "Bench",
                    "genre": ["Drama"], "imdb_score": 5.0, "99popularity": 5.0 }),
                )
                .send()
                .await?;
            let consistency = consistency_of(&r);
            let answer: Value = r.json().await?;
            let Some(id) = answer["id"].as_str().map(str::to_owned) else {
                bail!("an add answered without an id: {answer}");
            };
            let acknowledged = Instant::now();
            let search = self.url(&format!("/v1/movies/search?q={tag}&per_page=100"));
            let found = |page: &Value| {
                page["items"]
                    .as_array()
                    .is_some_and(|items| items.iter().any(|m| m["id"] == id.as_str()))
            };
            if round % 2 == 0 {
                loop {
                    let page: Value = self.client.get(&search).send().await?.json().await?;
                    if found(&page) {
                        break;
                    }
                    if acknowledged.elapsed() > Duration::from_secs(30) {
                        bail!("add of {id} not searchable after 30 s");
                    }
                }
                plain.push(acknowledged.elapsed().as_micros() as u64);
            } else {
                let page: Value = self
                    .client
                    .get(&search)
                    .header(
                        "consistency-token",
                        consistency.context("no Consistency-Token")?,
                    )
                    .send()
                    .await?
                    .json()
                    .await?;
                if !found(&page) {
                    bail!("a search with the add's token missed it: {page}");
                }
                with_token.push(acknowledged.elapsed().as_micros() as u64);
            }
        }
        Ok((plain, with_token))
    }
}
