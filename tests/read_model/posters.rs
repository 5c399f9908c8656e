//! Posters in the read models: a movie's `poster_path` follows its poster events, an edit
//! keeps it, a rebuild restores it, and tables made before posters gain the column.

use super::*;

fn poster(digit: char) -> Value {
    json!({ "hash": digit.to_string().repeat(32), "width": 1000, "height": 1500,
            "content_type": "image/jpeg" })
}

fn path(digit: char) -> Option<String> {
    Some(format!("/{}.jpg", digit.to_string().repeat(32)))
}

fn with_posters() -> (History, [Uuid; 2]) {
    let ids = [Uuid::now_v7(), Uuid::now_v7()];
    let mut h = History::default();
    h.movie(ids[0], "Metropolis", "Fritz Lang", &["Sci-Fi"], 8.3, 80.0);
    h.push("movie", ids[0], "MoviePosterSet", poster('a'));
    h.movie(ids[1], "Nosferatu", "F. W. Murnau", &["Horror"], 7.9, 70.0);
    h.push("movie", ids[1], "MoviePosterSet", poster('b'));
    h.push(
        "movie",
        ids[0],
        "MovieUpdated",
        json!({ "imdb_score": 8.4 }),
    );
    h.push("movie", ids[1], "MoviePosterSet", poster('c'));
    h.push("movie", ids[1], "MoviePosterRemoved", json!({}));
    (h, ids)
}

pub(crate) async fn a_poster_path_follows_its_events_and_a_rebuild_restores_it(s: Subject) {
    let (h, ids) = with_posters();
    let report = s.read.apply(&h.events, None).await.expect("applied");
    assert_eq!((report.applied, report.skipped), (7, 0));
    let metropolis = s.read.movie(ids[0]).await.expect("read").expect("there");
    assert_eq!(metropolis.poster_path, path('a'));
    assert_eq!((metropolis.imdb_score, metropolis.version), (8.4, 3));
    let nosferatu = s.read.movie(ids[1]).await.expect("read").expect("there");
    assert_eq!((nosferatu.poster_path, nosferatu.version), (None, 4));
    let page = s.read.movies(&MovieQuery::default()).await.expect("page");
    let listed: Vec<_> = page.items.iter().map(|m| m.poster_path.clone()).collect();
    assert!(
        listed.contains(&path('a')) && listed.contains(&None),
        "{listed:?}"
    );

    // Event by event, again: nothing changes.
    let live = s.read.dump().await.expect("dump");
    for event in &h.events {
        s.read
            .apply(std::slice::from_ref(event), None)
            .await
            .expect("applied");
    }
    assert_eq!(s.read.dump().await.expect("dump"), live);

    let mut fold = Fold::default();
    for event in &h.events {
        fold.add(event);
    }
    let (streams, rejected) = fold.finish();
    assert!(rejected.is_empty(), "{rejected:?}");
    let shadow = s.read.begin_rebuild().await.expect("shadow");
    shadow.load(&streams).await.expect("loaded");
    s.read.finish_rebuild().await.expect("swap");
    assert_eq!(s.read.dump().await.expect("dump"), live);
    let metropolis = s.read.movie(ids[0]).await.expect("read").expect("there");
    assert_eq!(metropolis.poster_path, path('a'));
}

pub(crate) async fn a_movies_table_made_before_posters_gains_the_column(s: Subject) {
    let (h, ids) = with_posters();
    sqlx::any::install_default_drivers();
    let pool = sqlx::AnyPool::connect(&s.url).await.expect("connects");
    sqlx::query("ALTER TABLE rm_movies DROP COLUMN poster")
        .execute(&pool)
        .await
        .expect("the column dropped, as a table made before posters");
    pool.close().await;
    let reopened = SqlReadModels::connect(&s.url).await.expect("reopens");
    let report = reopened.apply(&h.events, None).await.expect("applied");
    assert_eq!(report.applied, 7);
    let metropolis = reopened.movie(ids[0]).await.expect("read").expect("there");
    assert_eq!(metropolis.poster_path, path('a'));
}
