//! The query side's part of the OpenAPI document: every read route, from the annotations on
//! its handlers (the list and search parameters from the very structs that parse them).

use utoipa::OpenApi;

/// The read routes.
#[derive(OpenApi)]
#[openapi(
    paths(
        crate::routes::movies::list,
        crate::routes::movies::detail,
        crate::routes::movies::history,
        crate::routes::search::search,
        crate::routes::search::suggest,
        crate::routes::users::list,
        crate::routes::images::configuration,
        crate::routes::images::image,
        crate::routes::health::live,
        crate::routes::health::ready,
        crate::routes::health::metrics,
    ),
    components(schemas(
        moviedb_wire::Movie,
        moviedb_wire::SearchHit,
        moviedb_wire::Highlight,
        moviedb_wire::schema::User,
        moviedb_wire::schema::Role,
        moviedb_wire::schema::SearchPage,
        moviedb_wire::schema::Facets,
        moviedb_wire::schema::GenreCount,
        moviedb_wire::schema::ScoreBucket,
        moviedb_wire::schema::Suggestions,
        moviedb_wire::schema::Suggestion,
        moviedb_wire::schema::History,
        moviedb_wire::schema::Configuration,
        moviedb_wire::schema::ImagesConfiguration,
        moviedb_wire::schema::Health,
        moviedb_wire::schema::Problem,
        moviedb_wire::schema::FieldError,
    ))
)]
pub struct QueryApi;
