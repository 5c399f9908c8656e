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

/// The whole catalogue's total is a count kept as movies come and go, not a count of rows: it
/// stays exact through adds, deletes, replayed duplicates, a rebuild by events and one by
/// folded streams, and tables made before the count existed get it from their rows.
pub(crate) async fn the_catalogues_total_is_kept_exact_through_every_way_of_writing(s: Subject) {
    let total = |page: moviedb_read_model::Page<moviedb_read_model::MovieView>| {
        assert!(page.total_exact, "the whole catalogue's total is exact");
        page.total
    };
    let all = MovieQuery::default();
    assert_eq!(total(s.read.movies(&all).await.expect("q")), 0);
    let (h, _) = catalogue();
    // Five added, one deleted.
    s.read.apply(&h.events[..4], None).await.expect("applied");
    assert_eq!(total(s.read.movies(&all).await.expect("q")), 4);
    s.read.apply(&h.events, None).await.expect("applied");
    s.read.apply(&h.events, None).await.expect("replayed");
    assert_eq!(total(s.read.movies(&all).await.expect("q")), 4);

    let shadow = s.read.begin_rebuild().await.expect("shadow");
    shadow.apply(&h.events, None).await.expect("rebuilt");
    s.read.finish_rebuild().await.expect("swapped");
    assert_eq!(total(s.read.movies(&all).await.expect("q")), 4);

    let mut fold = Fold::default();
    for event in &h.events {
        fold.add(event);
    }
    let (streams, rejected) = fold.finish();
    assert!(rejected.is_empty(), "{rejected:?}");
    let shadow = s.read.begin_rebuild().await.expect("shadow");
    shadow.load(&streams).await.expect("loaded");
    s.read.finish_rebuild().await.expect("swapped");
    assert_eq!(total(s.read.movies(&all).await.expect("q")), 4);

    // Tables of an earlier version, without the count: it is made from their rows.
    sqlx::any::install_default_drivers();
    let pool = sqlx::AnyPool::connect(&s.url).await.expect("database");
    sqlx::query("DROP TABLE rm_counts")
        .execute(&pool)
        .await
        .expect("dropped");
    pool.close().await;
    let reopened = SqlReadModels::connect(&s.url).await.expect("reopened");
    assert_eq!(total(reopened.movies(&all).await.expect("q")), 4);
    let (more, _) = catalogue();
    reopened.apply(&more.events, None).await.expect("applied");
    assert_eq!(total(reopened.movies(&all).await.expect("q")), 8);
}

/// A filtered list of more than `COUNT_BOUND` movies reports that many as a lower bound, and
/// every plan the query may take (the filter's index, the genre's rows, the sort's index)
/// gives the pages a plain sort of the matches gives.
pub(crate) async fn a_filtered_total_past_the_bound_is_a_lower_bound_and_pages_stay_right(
    s: Subject,
) {
    let bound = moviedb_read_model::COUNT_BOUND;
    let n = bound + 40;
    let mut h = History::default();
    let mut model = Vec::new();
    for i in 0..n {
        let id = Uuid::now_v7();
        let mut genres = vec!["Drama"];
        if i % 500 == 7 {
            genres.push("War");
        }
        let score = (i % 97) as f64 / 10.0;
        let pop = (i % 89) as f64;
        // Names repeat, so the id breaks ties.
        let name = format!("Movie {:03}", (i * 7919) % 600);
        h.movie(id, &name, "Same Director", &genres, score, pop);
        model.push((id, name.to_lowercase(), genres, score, pop));
    }
    s.read.apply(&h.events, None).await.expect("applied");

    type Model<'a> = (Uuid, String, Vec<&'a str>, f64, f64);
    type Keep = Box<dyn Fn(&Model) -> bool>;
    let cases: Vec<(MovieQuery, Keep)> = vec![
        (
            MovieQuery {
                filter: MovieFilter {
                    genres: Some(GenreFilter::Any(vec!["drama".into()])),
                    ..MovieFilter::default()
                },
                sort: Sort {
                    field: SortField::Name,
                    descending: true,
                },
                page: 3,
                ..MovieQuery::default()
            },
            Box::new(|_| true),
        ),
        (
            MovieQuery {
                filter: MovieFilter {
                    genres: Some(GenreFilter::All(vec!["War".into(), "drama".into()])),
                    ..MovieFilter::default()
                },
                sort: Sort {
                    field: SortField::Name,
                    descending: false,
                },
                per_page: 7,
                page: 2,
                ..MovieQuery::default()
            },
            Box::new(|m| m.2.contains(&"War")),
        ),
        (
            MovieQuery {
                filter: MovieFilter {
                    imdb_score_gte: Some(1.0),
                    ..MovieFilter::default()
                },
                sort: Sort {
                    field: SortField::Popularity,
                    descending: true,
                },
                page: 4,
                ..MovieQuery::default()
            },
            Box::new(|m| m.3 >= 1.0),
        ),
        (
            MovieQuery {
                filter: MovieFilter {
                    imdb_score_gte: Some(9.5),
                    popularity_lte: Some(20.0),
                    genres: Some(GenreFilter::Any(vec!["drama".into(), "war".into()])),
                    ..MovieFilter::default()
                },
                sort: Sort {
                    field: SortField::Name,
                    descending: false,
                },
                page: 2,
                per_page: 5,
                ..MovieQuery::default()
            },
            Box::new(|m| m.3 >= 9.5 && m.4 <= 20.0),
        ),
    ];
    for (query, keep) in cases {
        let mut matches: Vec<_> = model.iter().filter(|m| keep(m)).collect();
        matches.sort_by(|a, b| {
            let key = match query.sort.field {
                SortField::Name => a.1.cmp(&b.1),
                SortField::Popularity => a.4.total_cmp(&b.4),
                _ => unreachable!("the cases sort by name or popularity"),
            };
            let key = if query.sort.descending {
                key.reverse()
            } else {
                key
            };
            key.then_with(|| a.0.to_string().cmp(&b.0.to_string()))
        });
        let want: Vec<Uuid> = matches
            .iter()
            .skip(((query.page - 1) * query.per_page) as usize)
            .take(query.per_page as usize)
            .map(|m| m.0)
            .collect();
        let page = s.read.movies(&query).await.expect("q");
        let got: Vec<Uuid> = page.items.iter().map(|m| m.id).collect();
        assert_eq!(got, want, "{query:?}");
        let count = matches.len() as u64;
        assert_eq!(page.total, count.min(bound), "{query:?}");
        assert_eq!(page.total_exact, count <= bound, "{query:?}");
    }
    let all = s.read.movies(&MovieQuery::default()).await.expect("q");
    assert_eq!((all.total, all.total_exact), (n, true));
}
