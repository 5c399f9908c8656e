//! The command side's part of the OpenAPI document: every write route, from the annotations on
//! its handlers. The whole document (with the query side's part, the original app's routes and
//! the error answers every route may give) is put together by the `moviedb` crate.

use utoipa::OpenApi;

/// The write routes.
#[derive(OpenApi)]
#[openapi(
    paths(
        crate::routes::movies::create,
        crate::routes::movies::replace,
        crate::routes::movies::patch,
        crate::routes::movies::delete,
        crate::routes::posters::upload,
        crate::routes::posters::remove,
        crate::routes::users::register,
        crate::routes::users::change_role,
        crate::routes::sessions::login,
    ),
    components(schemas(
        moviedb_wire::Movie,
        moviedb_wire::schema::MovieInput,
        moviedb_wire::schema::MovieOrMovies,
        moviedb_wire::schema::BulkResult,
        moviedb_wire::schema::Registration,
        moviedb_wire::schema::Registered,
        moviedb_wire::schema::Role,
        moviedb_wire::schema::RoleChange,
        moviedb_wire::schema::RoleChanged,
        moviedb_wire::schema::Deleted,
        moviedb_wire::schema::Login,
        moviedb_wire::schema::Session,
    ))
)]
pub struct CommandApi;
