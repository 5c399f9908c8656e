//! The OpenAPI 3.1 document of the whole API, put together from the two sides' annotated
//! handlers (`moviedb_command_api::openapi`, `moviedb_query_api::openapi`), plus what holds
//! for every route: the original app's routes as aliases of their `/v1` twins, the problem
//! answers the stack may give, the two ways of sending a token, and the documentation routes.
//!
//! `moviedb openapi` prints it; `docs/openapi.json` is that output, which the query API serves
//! at `/openapi.json` (and `/docs` renders). `tests/binary/openapi.rs` fails when the file is stale,
//! or when a route and the document disagree.

use moviedb_command_api::openapi::CommandApi;
use moviedb_query_api::openapi::QueryApi;
use utoipa::openapi::path::{Operation, PathItem};
use utoipa::openapi::security::{ApiKey, ApiKeyValue, Http, HttpAuthScheme, SecurityScheme};
use utoipa::openapi::{Content, Header, OpenApi, Ref, RefOr, Response};
use utoipa::OpenApi as _;

/// The original app's routes, and the `/v1` route each one answers as (same handler, same
/// shapes). The original routes end with `/`, as the app's clients call them; both forms work.
pub const ORIGINAL_ROUTES: [(&str, &str); 5] = [
    ("/api/movies_curd/", "/v1/movies"),
    ("/single_movies/{id}", "/v1/movies/{id}"),
    ("/api/register/", "/v1/users"),
    ("/api/login_user/", "/v1/sessions"),
    ("/api/user_list/", "/v1/users"),
];

/// Methods the original routes take (the `/v1` twins may take more: `PATCH`, role changes).
const ORIGINAL_METHODS: [(&str, &[&str]); 5] = [
    ("/api/movies_curd/", &["get", "post"]),
    ("/single_movies/{id}", &["get", "put", "delete"]),
    ("/api/register/", &["post"]),
    ("/api/login_user/", &["post"]),
    ("/api/user_list/", &["get"]),
];

/// The whole document.
pub fn document() -> OpenApi {
    let mut doc = QueryApi::openapi();
    doc.merge(CommandApi::openapi());
    doc.info.title = "moviedb".into();
    doc.info.version = env!("CARGO_PKG_VERSION").into();
    doc.info.description = Some(
        "An IMDB-like movie catalogue, event-sourced with CQRS. Writes answer with an `ETag` \
         (the resource's version) and a `Consistency-Token`: send the token with a read to see \
         the write. Errors are RFC 9457 `application/problem+json`. Send a token from \
         `POST /v1/sessions` as `x-access-token` (the original app's header) or \
         `Authorization: Bearer`."
            .into(),
    );
    let components = doc.components.get_or_insert_with(Default::default);
    components.add_security_scheme(
        "bearer",
        SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)),
    );
    components.add_security_scheme(
        "access_token",
        SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::new("x-access-token"))),
    );
    add_original_routes(&mut doc);
    add_documentation_routes(&mut doc);
    for (path, item) in doc.paths.paths.iter_mut() {
        for (method, operation) in operations(item) {
            add_problems(path, method, operation);
        }
    }
    doc
}

/// The document as the query API serves it.
pub fn json() -> String {
    document()
        .to_pretty_json()
        .unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"))
}

fn operations(item: &mut PathItem) -> Vec<(&'static str, &mut Operation)> {
    [
        ("get", item.get.as_mut()),
        ("put", item.put.as_mut()),
        ("post", item.post.as_mut()),
        ("delete", item.delete.as_mut()),
        ("patch", item.patch.as_mut()),
        ("head", item.head.as_mut()),
    ]
    .into_iter()
    .filter_map(|(m, o)| o.map(|o| (m, o)))
    .collect()
}

fn add_original_routes(doc: &mut OpenApi) {
    for (original, v1) in ORIGINAL_ROUTES {
        let Some(twin) = doc.paths.paths.get(v1).cloned() else {
            continue;
        };
        let methods = ORIGINAL_METHODS
            .iter()
            .find(|(p, _)| *p == original)
            .map_or(&[][..], |(_, m)| *m);
        let mut item = doc.paths.paths.remove(original).unwrap_or_default();
        let copy = |from: &Option<Operation>, to: &mut Option<Operation>, method: &str| {
            if !methods.contains(&method) {
                return;
            }
            if let Some(operation) = from {
                let mut operation = operation.clone();
                operation.operation_id = operation.operation_id.map(|id| format!("{id}Original"));
                operation.tags = Some(vec!["original app".into()]);
                operation.summary = operation
                    .summary
                    .map(|s| format!("{s} (the original app's route; as {v1})"));
                *to = Some(operation);
            }
        };
        copy(&twin.get, &mut item.get, "get");
        copy(&twin.post, &mut item.post, "post");
        copy(&twin.put, &mut item.put, "put");
        copy(&twin.delete, &mut item.delete, "delete");
        doc.paths.paths.insert(original.into(), item);
    }
}

fn add_documentation_routes(doc: &mut OpenApi) {
    let page = |summary: &str, operation_id: &str, content_type: &str| {
        let mut operation = Operation::new();
        operation.summary = Some(summary.into());
        operation.operation_id = Some(operation_id.into());
        operation.tags = Some(vec!["documentation".into()]);
        operation.security = Some(vec![Default::default()]);
        operation.responses.responses.insert(
            "200".into(),
            RefOr::T(
                Response::builder()
                    .description(summary)
                    .content(
                        content_type,
                        Content::new(None::<RefOr<utoipa::openapi::Schema>>),
                    )
                    .build(),
            ),
        );
        let mut item = PathItem::default();
        item.get = Some(operation);
        item
    };
    doc.paths.paths.insert(
        "/".into(),
        page("The browse-and-search page", "page", "text/html"),
    );
    doc.paths.paths.insert(
        "/openapi.json".into(),
        page("This document", "openApi", "application/json"),
    );
    doc.paths.paths.insert(
        "/docs".into(),
        page(
            "The API's documentation, in the browser",
            "docs",
            "text/html",
        ),
    );
}

/// The problem answers a route may give besides its own: every route can meet a malformed
/// request, a missing route or method, a timeout, an unavailable dependency and a bug; writes
/// can also meet the body limit, a wrong content type, invalid fields, conflicts and the
/// throttle; routes that need a token, a missing or bad one.
fn add_problems(path: &str, method: &str, operation: &mut Operation) {
    let write = method != "get" && method != "head";
    let secured = operation
        .security
        .as_ref()
        .is_some_and(|s| s.iter().any(|r| r != &Default::default()));
    let mut statuses: Vec<(&str, &str)> = vec![
        ("400", "A malformed request: a bad header, query parameter or token"),
        ("404", "No such resource, or no such route"),
        ("405", "The route does not take this method"),
        ("408", "The request took too long to arrive"),
        ("429", "Too many requests; retry after `Retry-After` seconds"),
        ("500", "A bug; the detail is in the server's log"),
        ("503", "A dependency is down, the projections have not caught up with the Consistency-Token, or the server is at capacity; retry after `Retry-After` seconds"),
    ];
    if write {
        statuses.extend([
            ("409", "A conflict: the name + director or e-mail is taken, the resource changed meanwhile, or the Idempotency-Key is in use"),
            ("412", "`If-Match` names another version"),
            ("413", "The body is over the limit"),
            ("415", "The body is not `application/json`"),
            ("422", "Invalid fields, each named"),
        ]);
    }
    if secured || write || path.ends_with("/history") {
        statuses.extend([
            ("401", "No token, or an invalid or expired one"),
            ("403", "The caller may not do this"),
        ]);
    }
    let problem = Content::new(Some(Ref::from_schema_name("Problem")));
    for (status, description) in statuses {
        operation
            .responses
            .responses
            .entry(status.into())
            .or_insert_with(|| {
                let mut response = Response::builder()
                    .description(description)
                    .content("application/problem+json", problem.clone());
                if status == "503" || status == "429" {
                    response = response.header(
                        "retry-after",
                        Header::new(
                            utoipa::openapi::ObjectBuilder::new()
                                .schema_type(utoipa::openapi::schema::Type::Integer),
                        ),
                    );
                }
                RefOr::T(response.build())
            });
    }
}
