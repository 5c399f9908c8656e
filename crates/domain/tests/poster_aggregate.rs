//! A movie's poster: set by an admin on a live movie, the same one again changes nothing,
//! removed only when there is one, kept through edits; the events' stored shape.

mod scenario;

use moviedb_domain::movie::*;
use moviedb_domain::{Actor, DomainError, DomainEvent, Role};
use scenario::given;
use serde_json::json;
use uuid::Uuid;

fn admin() -> Actor {
    Actor::User {
        id: Uuid::now_v7(),
        role: Role::Admin,
    }
}

fn oz() -> MovieFields {
    MovieFields {
        name: "The Wizard of Oz".into(),
        director: "Victor Fleming".into(),
        genres: vec!["Adventure".into(), "Family".into()],
        imdb_score: 8.3,
        popularity: 83.0,
    }
}

fn poster(hash_digit: char) -> Poster {
    Poster {
        hash: std::iter::repeat_n(hash_digit, POSTER_HASH_CHARS).collect(),
        width: 1000,
        height: 1500,
        content_type: "image/jpeg".into(),
    }
}

#[test]
fn an_admin_sets_a_poster_and_the_same_poster_again_changes_nothing() {
    given::<Movie>(&[MovieEvent::Added(oz())])
        .when(MovieCommand::SetPoster {
            poster: poster('a'),
            actor: admin(),
        })
        .then_expect_events(vec![MovieEvent::PosterSet(poster('a'))]);
    given::<Movie>(&[MovieEvent::Added(oz()), MovieEvent::PosterSet(poster('a'))])
        .when(MovieCommand::SetPoster {
            poster: poster('a'),
            actor: admin(),
        })
        .then_expect_events(vec![]);
    given::<Movie>(&[MovieEvent::Added(oz()), MovieEvent::PosterSet(poster('a'))])
        .when(MovieCommand::SetPoster {
            poster: poster('b'),
            actor: admin(),
        })
        .then_expect_events(vec![MovieEvent::PosterSet(poster('b'))]);
}

#[test]
fn removing_a_poster_is_an_event_only_when_there_is_one() {
    given::<Movie>(&[MovieEvent::Added(oz()), MovieEvent::PosterSet(poster('a'))])
        .when(MovieCommand::RemovePoster { actor: admin() })
        .then_expect_events(vec![MovieEvent::PosterRemoved(MoviePosterRemoved {})]);
    given::<Movie>(&[
        MovieEvent::Added(oz()),
        MovieEvent::PosterSet(poster('a')),
        MovieEvent::PosterRemoved(MoviePosterRemoved {}),
    ])
    .when(MovieCommand::RemovePoster { actor: admin() })
    .then_expect_events(vec![]);
}

#[test]
fn posters_need_an_admin_and_a_live_movie() {
    let user = Actor::User {
        id: Uuid::now_v7(),
        role: Role::User,
    };
    given::<Movie>(&[MovieEvent::Added(oz())])
        .when(MovieCommand::SetPoster {
            poster: poster('a'),
            actor: user,
        })
        .then_expect_error(DomainError::Forbidden(
            "only an admin can add, edit or delete movies",
        ));
    given::<Movie>(&[MovieEvent::Added(oz()), MovieEvent::PosterSet(poster('a'))])
        .when(MovieCommand::RemovePoster {
            actor: Actor::Anonymous,
        })
        .then_expect_error(DomainError::Forbidden(
            "only an admin can add, edit or delete movies",
        ));
    for gone in [
        vec![],
        vec![
            MovieEvent::Added(oz()),
            MovieEvent::Deleted(MovieDeleted {}),
        ],
    ] {
        given::<Movie>(&gone)
            .when(MovieCommand::SetPoster {
                poster: poster('a'),
                actor: admin(),
            })
            .then_expect_error(DomainError::NotFound);
        given::<Movie>(&gone)
            .when(MovieCommand::RemovePoster { actor: admin() })
            .then_expect_error(DomainError::NotFound);
    }
}

#[test]
fn an_edit_keeps_the_poster_and_the_poster_events_round_trip_through_their_stored_shape() {
    let state = [
        MovieEvent::Added(oz()),
        MovieEvent::PosterSet(poster('c')),
        MovieEvent::Updated(MoviePatch {
            imdb_score: Some(9.0),
            ..Default::default()
        }),
    ]
    .iter()
    .fold(Movie::New, |state, event| {
        moviedb_domain::Aggregate::evolve(state, event)
    });
    assert_eq!(state.poster(), Some(&poster('c')));
    assert_eq!(state.fields().map(|f| f.imdb_score), Some(9.0));
    assert_eq!(
        poster('c').path(),
        format!("/{}.jpg", "c".repeat(POSTER_HASH_CHARS))
    );
    for event in [
        MovieEvent::PosterSet(poster('d')),
        MovieEvent::PosterRemoved(MoviePosterRemoved {}),
    ] {
        let decoded =
            MovieEvent::decode(event.event_type(), event.schema_version(), event.payload())
                .expect("decodes");
        assert_eq!(decoded, event);
    }
    assert_eq!(
        MovieEvent::PosterSet(poster('e')).payload(),
        json!({ "hash": "e".repeat(32), "width": 1000, "height": 1500, "content_type": "image/jpeg" })
    );
    assert!(is_poster_hash(&"0123456789abcdef".repeat(2)));
    assert!(!is_poster_hash("../../etc/passwd"));
    assert!(!is_poster_hash(&"A".repeat(32)));
}
