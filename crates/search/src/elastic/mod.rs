//! The Elasticsearch adapter, on the official `elasticsearch` crate.
//!
//! Readers and writers go through the alias `movies`, which points at one concrete index
//! `movies-<generation>`; a rebuild fills a new one and moves the alias in one atomic step.
//! Writes carry the stream version with `version_type=external`, so Elasticsearch itself
//! refuses a duplicate or late write (409). Live writes use `refresh=wait_for`: when the
//! projector acknowledges a batch, a search sees it, which is what lets the `Consistency-Token`
//! cover search. Every event is also recorded in `movie-events` for Kibana.

pub mod body;
pub mod parse;

use crate::analysis::ANALYSIS;
use crate::{
    EventDocument, IndexOp, IndexReport, SearchError, SearchIndex, SearchRequest, SearchResponse,
    Suggestion,
};
use async_trait::async_trait;
use elasticsearch::http::response::Response;
use elasticsearch::http::transport::Transport;
use elasticsearch::indices::{
    IndicesCreateParts, IndicesDeleteParts, IndicesGetAliasParts, IndicesGetMappingParts,
    IndicesPutIndexTemplateParts, IndicesPutMappingParts, IndicesRefreshParts,
};
use elasticsearch::params::Refresh;
use elasticsearch::{BulkParts, Elasticsearch, MgetParts, SearchParts};
use serde_json::Value;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use uuid::Uuid;

/// The index template of the movie indices, as installed (and kept in the repository for
/// operators and Kibana).
pub const MOVIES_TEMPLATE: &str =
    include_str!("../../../../deploy/elasticsearch/movies.index-template.json");
/// The index template of `movie-events`.
pub const EVENTS_TEMPLATE: &str =
    include_str!("../../../../deploy/elasticsearch/movie-events.index-template.json");

/// Names of the indices, with an optional prefix (tests give each run its own).
#[derive(Debug, Clone)]
pub struct IndexNames {
    /// The alias readers and writers use: `<prefix>movies`.
    pub alias: String,
    /// The analysts' index: `<prefix>movie-events`.
    pub events: String,
}

impl IndexNames {
    /// Names under `prefix` (empty in production).
    pub fn new(prefix: &str) -> Self {
        Self {
            alias: format!("{prefix}movies"),
            events: format!("{prefix}movie-events"),
        }
    }

    fn pattern(&self) -> String {
        format!("{}-*", self.alias)
    }

    fn generation(&self) -> String {
        format!("{}-{}", self.alias, Uuid::now_v7().simple())
    }
}

/// A template from the repository, its index pattern set to `pattern`.
pub fn template(source: &str, pattern: &str) -> Result<Value, SearchError> {
    let mut template: Value = serde_json::from_str(source)
        .map_err(|e| SearchError::Index(format!("index template: {e}")))?;
    template["index_patterns"] = serde_json::json!([pattern]);
    Ok(template)
}

/// Elasticsearch behind the alias `movies`.
#[derive(Clone)]
pub struct ElasticIndex {
    client: Elasticsearch,
    names: Arc<IndexNames>,
    /// Where this handle writes and reads: the alias, or a rebuild's new index.
    target: String,
    refresh: Refresh,
    rebuilding: Arc<Mutex<Option<String>>>,
}

fn unavailable(e: elasticsearch::Error) -> SearchError {
    SearchError::Unavailable(e.to_string())
}

async fn answer(
    response: Result<Response, elasticsearch::Error>,
) -> Result<(u16, Value), SearchError> {
    let response = response.map_err(unavailable)?;
    let status = response.status_code().as_u16();
    let text = response.text().await.map_err(unavailable)?;
    let body = if text.trim().is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).map_err(|e| {
            SearchError::Unavailable(format!("Elasticsearch answered {status} with no JSON: {e}"))
        })?
    };
    Ok((status, body))
}

fn already_exists(status: u16, body: &Value) -> bool {
    status == 400
        && body.pointer("/error/type").and_then(Value::as_str)
            == Some("resource_already_exists_exception")
}

impl ElasticIndex {
    /// Connects to `url` and makes sure the templates, a movie index with its alias, and the
    /// events index exist.
    pub async fn connect(url: &str, prefix: &str) -> Result<Self, SearchError> {
        // The URL may carry a password: it is not repeated in the error.
        let transport = Transport::single_node(url)
            .map_err(|e| SearchError::Index(format!("the Elasticsearch URL: {e}")))?;
        let index = Self {
            client: Elasticsearch::new(transport),
            names: Arc::new(IndexNames::new(prefix)),
            target: format!("{prefix}movies"),
            refresh: Refresh::WaitFor,
            rebuilding: Arc::new(Mutex::new(None)),
        };
        index.ensure().await?;
        Ok(index)
    }

    async fn ensure(&self) -> Result<(), SearchError> {
        let names = &self.names;
        for (name, source, pattern) in [
            (names.alias.clone(), MOVIES_TEMPLATE, names.pattern()),
            (names.events.clone(), EVENTS_TEMPLATE, names.events.clone()),
        ] {
            let (status, body) = answer(
                self.client
                    .indices()
                    .put_index_template(IndicesPutIndexTemplateParts::Name(&name))
                    .body(template(source, &pattern)?)
                    .send()
                    .await,
            )
            .await?;
            parse::ok(status, &body)?;
        }
        // A fixed name for the generation this build's analysis makes, so services starting
        // together race to create the same index: one wins, the others find it there.
        let first = format!("{}-{ANALYSIS}", names.alias);
        let live = self.alias_targets().await?;
        if live.is_empty() {
            // Made with the alias in the same request: the alias never points at two indices.
            self.create_index(&first, Some(body::first_index_body(&names.alias)))
                .await?;
        } else if !self.analysed_as_now(&live).await? {
            // Written with another analysis (an older template): replaced by an empty
            // generation, which the projector fills from the read models at start, as
            // tantivy's is after a schema change. The alias moves in one step.
            tracing::warn!(index.old = ?live, index.new = %first,
                "the search index was written with another text analysis; replacing it");
            self.create_index(&first, None).await?;
            self.swap_alias(&first).await?;
            let old: Vec<&str> = live
                .iter()
                .map(String::as_str)
                .filter(|i| *i != first)
                .collect();
            self.delete_indices(&old).await?;
        } else {
            // Fields added since the live index was made (its mapping is strict): adding a
            // field to a mapping is allowed and idempotent, so no rebuild is needed.
            let (status, body) = answer(
                self.client
                    .indices()
                    .put_mapping(IndicesPutMappingParts::Index(&[&names.alias]))
                    .body(body::added_fields())
                    .send()
                    .await,
            )
            .await?;
            parse::ok(status, &body)?;
        }
        self.create_index(&names.events, None).await?;
        Ok(())
    }

    async fn alias_targets(&self) -> Result<Vec<String>, SearchError> {
        let (status, body) = answer(
            self.client
                .indices()
                .get_alias(IndicesGetAliasParts::Name(&[&self.names.alias]))
                .send()
                .await,
        )
        .await?;
        parse::alias_targets(status, &body)
    }

    /// Whether the indices the alias points at were made with this build's analysis
    /// (`_meta.analysis` of their mapping).
    async fn analysed_as_now(&self, indices: &[String]) -> Result<bool, SearchError> {
        let names: Vec<&str> = indices.iter().map(String::as_str).collect();
        let (status, body) = answer(
            self.client
                .indices()
                .get_mapping(IndicesGetMappingParts::Index(&names))
                .send()
                .await,
        )
        .await?;
        parse::ok(status, &body)?;
        Ok(parse::analyses(&body)
            .iter()
            .all(|a| a.as_deref() == Some(ANALYSIS)))
    }

    /// Deletes `indices`; one already gone (another service got there first) is fine.
    async fn delete_indices(&self, indices: &[&str]) -> Result<(), SearchError> {
        if indices.is_empty() {
            return Ok(());
        }
        let (status, body) = answer(
            self.client
                .indices()
                .delete(IndicesDeleteParts::Index(indices))
                .ignore_unavailable(true)
                .send()
                .await,
        )
        .await?;
        parse::ok(status, &body)
    }

    /// Creates index `name` (with `body`: its aliases); one already there, made by another
    /// service starting at the same time, is fine.
    async fn create_index(&self, name: &str, body: Option<Value>) -> Result<(), SearchError> {
        let indices = self.client.indices();
        let create = indices.create(IndicesCreateParts::Index(name));
        let sent = match body {
            Some(body) => create.body(body).send().await,
            None => create.send().await,
        };
        let (status, body) = answer(sent).await?;
        if already_exists(status, &body) {
            return Ok(());
        }
        parse::ok(status, &body)
    }

    async fn swap_alias(&self, index: &str) -> Result<(), SearchError> {
        let (status, body) = answer(
            self.client
                .indices()
                .update_aliases()
                .body(body::alias_swap_body(
                    &self.names.alias,
                    index,
                    &self.names.pattern(),
                ))
                .send()
                .await,
        )
        .await?;
        parse::ok(status, &body)
    }

    async fn bulk(&self, index: &str, lines: Vec<Value>) -> Result<IndexReport, SearchError> {
        if lines.is_empty() {
            return Ok(IndexReport::default());
        }
        let (status, body) = answer(
            self.client
                .bulk(BulkParts::Index(index))
                .refresh(self.refresh)
                .body(
                    lines
                        .into_iter()
                        .map(Into::into)
                        .collect::<Vec<elasticsearch::http::request::JsonBody<Value>>>(),
                )
                .send()
                .await,
        )
        .await?;
        parse::bulk(status, &body)
    }

    async fn search_raw(&self, body: Value) -> Result<(u16, Value), SearchError> {
        answer(
            self.client
                .search(SearchParts::Index(&[&self.target]))
                .body(body)
                .send()
                .await,
        )
        .await
    }
}

#[async_trait]
impl SearchIndex for ElasticIndex {
    async fn apply(&self, ops: Vec<IndexOp>) -> Result<IndexReport, SearchError> {
        self.bulk(&self.target, body::index_lines(&ops)).await
    }

    async fn search(&self, request: &SearchRequest) -> Result<SearchResponse, SearchError> {
        let (status, body) = self.search_raw(body::search_body(request)).await?;
        let words = request.q.as_deref().map(crate::words).unwrap_or_default();
        parse::search(status, &body, &words)
    }

    async fn suggest(&self, prefix: &str, limit: usize) -> Result<Vec<Suggestion>, SearchError> {
        let Some(request) = body::suggest_body(prefix, limit) else {
            return Ok(Vec::new());
        };
        let (status, body) = self.search_raw(request).await?;
        parse::suggest(status, &body)
    }

    async fn versions(&self, ids: &[Uuid]) -> Result<HashMap<Uuid, u64>, SearchError> {
        if ids.is_empty() {
            return Ok(HashMap::new());
        }
        let (status, body) = answer(
            self.client
                .mget(MgetParts::Index(&self.target))
                // From the last refresh, not the translog: a version seen here is searchable,
                // so a read that waited for it finds the write (a realtime get sees it first).
                .realtime(false)
                .body(body::mget_body(ids))
                .send()
                .await,
        )
        .await?;
        parse::versions(status, &body)
    }

    async fn refresh(&self) -> Result<(), SearchError> {
        // Live writes are acknowledged with refresh=wait_for: nothing is left to refresh.
        Ok(())
    }

    async fn record(&self, events: &[EventDocument]) -> Result<(), SearchError> {
        self.bulk(&self.names.events, body::event_lines(events))
            .await
            .map(|_| ())
    }

    async fn begin_rebuild(&self) -> Result<Arc<dyn SearchIndex>, SearchError> {
        let index = self.names.generation();
        self.create_index(&index, None).await?;
        *self
            .rebuilding
            .lock()
            .map_err(|_| SearchError::Index("rebuild state poisoned".into()))? =
            Some(index.clone());
        Ok(Arc::new(Self {
            target: index,
            // A rebuild refreshes once, before the swap, not after every batch.
            refresh: Refresh::False,
            rebuilding: Arc::new(Mutex::new(None)),
            ..self.clone()
        }))
    }

    async fn finish_rebuild(&self) -> Result<(), SearchError> {
        let index = self
            .rebuilding
            .lock()
            .map_err(|_| SearchError::Index("rebuild state poisoned".into()))?
            .take()
            .ok_or_else(|| SearchError::Index("finish_rebuild without begin_rebuild".into()))?;
        let (status, body) = answer(
            self.client
                .indices()
                .refresh(IndicesRefreshParts::Index(&[&index]))
                .send()
                .await,
        )
        .await?;
        parse::ok(status, &body)?;
        let old = self.alias_targets().await?;
        self.swap_alias(&index).await?;
        let old: Vec<&str> = old
            .iter()
            .map(String::as_str)
            .filter(|i| *i != index)
            .collect();
        self.delete_indices(&old).await
    }

    async fn ping(&self) -> Result<(), SearchError> {
        let (status, body) = answer(self.client.ping().send().await).await?;
        parse::ok(status, &body)
    }
}
