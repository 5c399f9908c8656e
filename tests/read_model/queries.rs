//! Reading: filters, sorts and pages, roles.

use super::*;

pub(crate) async fn filters_sort_and_pages_as_documented(s: Subject) {
    let (h, _) = catalogue();
    s.read.apply(&h.events, None).await.expect("applied");
    let q = |f: fn(&mut MovieQuery)| {
        let mut query = MovieQuery::default();
        f(&mut query);
        query
    };
    let all_of = s
        .read
        .movies(&q(|q| {
            q.filter.genres = Some(GenreFilter::All(vec!["drama".into(), " WAR".into()]))
        }))
        .await
        .expect("q");
    assert_eq!(names(&all_of), vec!["Paths of Glory"]);
    let any_of = s
        .read
        .movies(&q(|q| {
            q.filter.genres = Some(GenreFilter::Any(vec!["War".into(), "Horror".into()]));
            q.sort = Sort {
                field: SortField::Name,
                descending: false,
            };
        }))
        .await
        .expect("q");
    assert_eq!(names(&any_of), vec!["Paths of Glory", "Psycho"]);
    let scores = s
        .read
        .movies(&q(|q| {
            q.filter.imdb_score_gte = Some(8.4);
            q.filter.imdb_score_lte = Some(8.6);
            q.sort = Sort {
                field: SortField::ImdbScore,
                descending: true,
            };
        }))
        .await
        .expect("q");
    assert_eq!(names(&scores), vec!["Paths of Glory", "Psycho"]);
    let popular = s
        .read
        .movies(&q(|q| {
            q.filter.popularity_gte = Some(84.0);
            q.filter.popularity_lte = Some(90.0);
        }))
        .await
        .expect("q");
    assert_eq!(names(&popular), vec!["Psycho", "Paths of Glory"]);
    let director = s
        .read
        .movies(&q(|q| q.filter.director = Some("alfred HITCHCOCK".into())))
        .await
        .expect("q");
    assert_eq!(names(&director), vec!["Psycho", "Vertigo"]);
    let contains = s
        .read
        .movies(&q(|q| q.name_contains = Some("GOD".into())))
        .await
        .expect("q");
    assert_eq!(names(&contains), vec!["The Godfather"]);
    // `%` is a character here, not a wildcard; the movie with it was deleted.
    let percent = s
        .read
        .movies(&q(|q| q.name_contains = Some("%".into())))
        .await
        .expect("q");
    assert_eq!(percent.total, 0);
    let page = s
        .read
        .movies(&q(|q| {
            q.sort = Sort {
                field: SortField::Name,
                descending: true,
            };
            q.per_page = 3;
            q.page = 2;
        }))
        .await
        .expect("q");
    assert_eq!(page.total, 4);
    assert_eq!(names(&page), vec!["Paths of Glory"]);
}

pub(crate) async fn equal_sort_keys_are_broken_by_id_so_pages_never_overlap(s: Subject) {
    let mut h = History::default();
    let ids: Vec<Uuid> = (0..7).map(|_| Uuid::now_v7()).collect();
    for (n, id) in ids.iter().enumerate() {
        h.movie(
            *id,
            &format!("Same {n}"),
            "Same Director",
            &["Drama"],
            7.0,
            70.0,
        );
    }
    s.read.apply(&h.events, None).await.expect("applied");
    let mut seen = Vec::new();
    for page in 1..=3 {
        let query = MovieQuery {
            sort: Sort {
                field: SortField::ImdbScore,
                descending: true,
            },
            per_page: 3,
            page,
            ..MovieQuery::default()
        };
        seen.extend(
            s.read
                .movies(&query)
                .await
                .expect("q")
                .items
                .into_iter()
                .map(|m| m.id),
        );
    }
    assert_eq!(seen, ids, "ties come in id order, each exactly once");
}

/// Admin checks on the query side read the users projection: the role a change made, once
/// applied; nothing for a stream that is not a user.
pub(crate) async fn the_query_side_reads_a_users_role_as_projected(s: Subject) {
    let (h, ids) = catalogue();
    let user = h.events.last().expect("events").stream_id;
    // Registered as a user, then made an admin.
    let registered = h.events.len() - 1;
    s.read
        .apply(&h.events[..registered], None)
        .await
        .expect("registered");
    assert_eq!(
        s.read.user_role(user).await.expect("role"),
        Some(moviedb_domain::Role::User)
    );
    s.read.apply(&h.events, None).await.expect("promoted");
    assert_eq!(
        s.read.user_role(user).await.expect("role"),
        Some(moviedb_domain::Role::Admin)
    );
    assert_eq!(s.read.user_role(ids[0]).await.expect("role"), None);
    assert_eq!(s.read.user_role(Uuid::now_v7()).await.expect("role"), None);
}
