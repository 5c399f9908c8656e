//! The limit for reads: bare axum serving the same JSON shapes from memory, with the same
//! build profile, in its own process (`bench_http --baseline PORT MOVIES`).

use crate::catalogue::{Kind, MovieJson};
use crate::server::{free_port, wait_ready, Guard};
use anyhow::Context;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::json;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;

struct Catalogue {
    movies: Vec<MovieJson>,
    by_id: HashMap<uuid::Uuid, usize>,
}

#[derive(Deserialize)]
struct Paging {
    page: Option<u32>,
    per_page: Option<u32>,
}

/// Serves `movies` generated movies on `port` until killed.
pub async fn serve(port: u16, movies: u64, kind: Kind) -> anyhow::Result<()> {
    let movies: Vec<MovieJson> = (0..movies).map(|n| MovieJson::generated(kind, n)).collect();
    let by_id = movies.iter().enumerate().map(|(i, m)| (m.id, i)).collect();
    let state = Arc::new(Catalogue { movies, by_id });
    let app = Router::new()
        .route("/v1/movies", get(list))
        .route("/v1/movies/ids", get(ids))
        .route("/v1/movies/{id}", get(detail))
        .with_state(state);
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    axum::serve(listener, app).await?;
    Ok(())
}

async fn ids(State(c): State<Arc<Catalogue>>) -> Json<Vec<uuid::Uuid>> {
    Json(c.movies.iter().map(|m| m.id).collect())
}

async fn detail(State(c): State<Arc<Catalogue>>, Path(id): Path<String>) -> Response {
    let Ok(id) = uuid::Uuid::parse_str(&id) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    match c.by_id.get(&id) {
        Some(&i) => Json(&c.movies[i]).into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

async fn list(State(c): State<Arc<Catalogue>>, Query(p): Query<Paging>) -> Response {
    let per_page = p.per_page.unwrap_or(20).clamp(1, 100) as usize;
    let page = p.page.unwrap_or(1).max(1) as usize;
    let items: Vec<&MovieJson> = c
        .movies
        .iter()
        .skip((page - 1) * per_page)
        .take(per_page)
        .collect();
    let total = c.movies.len();
    Json(json!({
        "items": items,
        "page": page,
        "per_page": per_page,
        "total": total,
        "total_pages": total.div_ceil(per_page),
    }))
    .into_response()
}

/// The baseline: this example again, as `--baseline PORT`.
pub struct Baseline {
    _process: Guard,
    pub addr: SocketAddr,
}

impl Baseline {
    pub fn start(movies: u64, kind: Kind) -> anyhow::Result<Self> {
        let port = free_port()?;
        let kind = clap::ValueEnum::to_possible_value(&kind).context("a named catalogue")?;
        let child = std::process::Command::new(std::env::current_exe()?)
            .args([
                "--baseline",
                &port.to_string(),
                "--movies",
                &movies.to_string(),
                "--catalogue",
                kind.get_name(),
            ])
            .spawn()?;
        Ok(Self {
            _process: Guard(child),
            addr: format!("127.0.0.1:{port}").parse()?,
        })
    }

    pub fn host(&self) -> String {
        self.addr.to_string()
    }

    pub async fn ids(&self) -> anyhow::Result<Vec<String>> {
        let client = reqwest::Client::new();
        let url = format!("http://{}/v1/movies/ids", self.addr);
        wait_ready(&client, &url).await?;
        Ok(client.get(url).send().await?.json().await?)
    }
}
