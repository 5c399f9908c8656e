//! The cache in front of the read models.

use super::*;

/// An edit through the cache drops the list pages that filter or sort on a field it changed;
/// a page that only shows the edited movie stays, with the movie as edited; the others stay
/// as they were. Movies added behind the cache's back (no writer of the serving process does
/// that) show which pages were kept.
pub(crate) async fn an_edit_drops_only_the_cached_list_pages_it_can_change(s: Subject) {
    let (h, ids) = catalogue();
    let cached = CachedReadModels::spawn(s.read.clone());
    // The Godfather (popularity 92), Psycho (85), Paths of Glory (84).
    cached.apply(&h.events[..3], None).await.expect("added");
    let by_popularity = MovieQuery {
        sort: Sort {
            field: SortField::Popularity,
            descending: true,
        },
        ..MovieQuery::default()
    };
    let hitchcock = MovieQuery {
        filter: MovieFilter {
            director: Some("Alfred Hitchcock".into()),
            ..MovieFilter::default()
        },
        ..MovieQuery::default()
    };
    let first_by_name = MovieQuery {
        sort: Sort {
            field: SortField::Name,
            descending: false,
        },
        per_page: 1,
        ..MovieQuery::default()
    };
    for (query, total) in [(&by_popularity, 3), (&hitchcock, 1), (&first_by_name, 3)] {
        assert_eq!(cached.movies(query).await.expect("list").total, total);
    }
    for added in [&h.events[3], &h.events[5]] {
        s.read
            .apply(std::slice::from_ref(added), None)
            .await
            .expect("100% Wolf and Vertigo, behind the cache");
    }
    let edit = |stream: Uuid, version: u64, payload: Value| {
        let mut event = h.events[0].clone();
        event.stream_id = stream;
        event.version = version;
        event.event_id = Uuid::now_v7();
        event.event_type = "MovieUpdated".into();
        event.payload = payload;
        event
    };

    // Psycho's popularity: lists sorted by popularity are read again; lists showing Psycho
    // show it as edited.
    cached
        .apply(&[edit(ids[1], 2, json!({ "popularity": 99.0 }))], None)
        .await
        .expect("edited");
    let list = cached.movies(&by_popularity).await.expect("list");
    assert_eq!(
        (list.total, list.items[0].id, list.items[0].popularity),
        (5, ids[1], 99.0),
        "a list sorted by the edited field is read again"
    );
    let list = cached.movies(&hitchcock).await.expect("list");
    assert_eq!(
        (list.total, list.items[0].popularity, list.items[0].version),
        (1, 99.0, 2),
        "a list showing the edited movie stayed in memory, with the movie as edited"
    );
    let list = cached.movies(&first_by_name).await.expect("list");
    assert_eq!(
        (list.total, list.items[0].id),
        (3, ids[2]),
        "a list by name not showing Psycho stayed in memory"
    );

    // A rename: lists sorted by name change.
    cached
        .apply(&[edit(ids[2], 2, json!({ "name": "A Path" }))], None)
        .await
        .expect("renamed");
    let list = cached.movies(&first_by_name).await.expect("list");
    assert_eq!(
        (list.total, list.items[0].id),
        (5, ids[3]),
        "a list sorted by name is read again after a rename"
    );
}

/// Reads from memory stay exact: a write through the cache is seen at once, and a rebuild
/// swapped in by another handle on the same database (as `moviedb rebuild` run beside the
/// service) is seen within a second.
pub(crate) async fn the_cache_follows_writes_through_it_and_a_rebuild_made_elsewhere(s: Subject) {
    let (h, ids) = catalogue();
    let cached = CachedReadModels::spawn(s.read.clone());
    cached.apply(&h.events[..1], None).await.expect("added");
    let godfather = |read: Arc<dyn ReadModels>| async move {
        read.movie(ids[0]).await.expect("read").expect("present")
    };
    assert_eq!(godfather(cached.clone()).await.imdb_score, 9.2);
    let list = cached.movies(&MovieQuery::default()).await.expect("list");
    assert_eq!(list.items[0].imdb_score, 9.2);

    let mut edit = h.events[0].clone();
    edit.version = 2;
    edit.event_id = Uuid::now_v7();
    edit.event_type = "MovieUpdated".into();
    edit.payload = json!({ "imdb_score": 9.9 });
    cached.apply(&[edit], None).await.expect("edited");
    assert_eq!(godfather(cached.clone()).await.imdb_score, 9.9);
    let list = cached.movies(&MovieQuery::default()).await.expect("list");
    assert_eq!((list.total, list.items[0].imdb_score), (1, 9.9));

    let elsewhere = SqlReadModels::connect(&s.url)
        .await
        .expect("a second handle");
    let shadow = elsewhere.begin_rebuild().await.expect("shadow");
    shadow.apply(&h.events, None).await.expect("replayed");
    elsewhere.finish_rebuild().await.expect("swap");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while godfather(cached.clone()).await.imdb_score != 9.2 {
        assert!(
            std::time::Instant::now() < deadline,
            "the cache never noticed the rebuild"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let list = cached.movies(&MovieQuery::default()).await.expect("list");
    assert_eq!(list.total, 4, "the list is the rebuilt one too");
}

/// The projector writes through the cache: a movie it applied is read from memory from the
/// first read (a catalogue loaded by the serving process never goes to the database for its
/// details). An edit made behind the cache's back shows it: the cache still answers with the
/// movie as the projector wrote it, until a write through the cache replaces it.
pub(crate) async fn movies_written_through_the_cache_are_read_from_memory_at_once(s: Subject) {
    let (h, ids) = catalogue();
    let cached = CachedReadModels::spawn(s.read.clone());
    cached.apply(&h.events[..2], None).await.expect("added");
    let edit = |version: u64, score: f64| {
        let mut event = h.events[0].clone();
        event.version = version;
        event.event_id = Uuid::now_v7();
        event.event_type = "MovieUpdated".into();
        event.payload = json!({ "imdb_score": score });
        event
    };
    s.read
        .apply(&[edit(2, 9.9)], None)
        .await
        .expect("edited behind the cache");
    let read = |id: Uuid| {
        let cached = cached.clone();
        async move { cached.movie(id).await.expect("read").expect("present") }
    };
    let godfather = read(ids[0]).await;
    assert_eq!(
        (godfather.imdb_score, godfather.version),
        (9.2, 1),
        "the first read came from memory, as the projector wrote it"
    );
    assert_eq!(read(ids[1]).await.name, "Psycho");
    cached
        .apply(&[edit(3, 8.8)], None)
        .await
        .expect("edited through the cache");
    let godfather = read(ids[0]).await;
    assert_eq!((godfather.imdb_score, godfather.version), (8.8, 3));
}

/// A read with a `Consistency-Token` asks how many of its streams the read models have not
/// reached. Through the cache, a movie in memory at or past the version wanted is there; the
/// rest is asked of the database: a version past the movie's entry (an edit made behind the
/// cache's back shows it), a stream whose version moved past its row (a dead-lettered event),
/// a user, a stream never applied. None of them is reported reached before it is, or waited
/// on after it is.
pub(crate) async fn a_tokens_streams_are_reached_from_memory_or_the_database(s: Subject) {
    let (h, ids) = catalogue();
    let cached = CachedReadModels::spawn(s.read.clone());
    let registered = h
        .events
        .iter()
        .find(|e| e.event_type == "UserRegistered")
        .expect("a user")
        .clone();
    let user = registered.stream_id;
    cached
        .apply(&[h.events[0].clone(), registered], None)
        .await
        .expect("The Godfather and Ann");
    let behind = |wanted: Vec<(Uuid, u64)>| {
        let cached = cached.clone();
        async move { cached.behind(&wanted).await.expect("asked") }
    };
    assert_eq!(behind(vec![(ids[0], 1), (user, 1)]).await, 0);
    assert_eq!(
        behind(vec![(ids[0], 2)]).await,
        1,
        "past the movie's version"
    );
    assert_eq!(behind(vec![(user, 2)]).await, 1, "past the user's version");
    assert_eq!(behind(vec![(ids[1], 1)]).await, 1, "a movie never applied");
    assert_eq!(
        behind(vec![(ids[0], 1), (ids[0], 2), (ids[1], 1), (user, 1)]).await,
        2,
        "each stream counted once it is behind"
    );

    // The Godfather's version as a read through the cache finds it.
    let godfather = || {
        let cached = cached.clone();
        async move { cached.movie(ids[0]).await.expect("read").map(|m| m.version) }
    };
    let event = |version: u64, event_type: &str, payload: Value| {
        let mut event = h.events[0].clone();
        event.version = version;
        event.event_id = Uuid::now_v7();
        event.event_type = event_type.into();
        event.payload = payload;
        event
    };
    s.read
        .apply(
            &[event(2, "MovieUpdated", json!({ "imdb_score": 9.9 }))],
            None,
        )
        .await
        .expect("edited behind the cache");
    assert_eq!(
        godfather().await,
        Some(1),
        "memory still holds the movie at version 1"
    );
    assert_eq!(
        behind(vec![(ids[0], 2)]).await,
        0,
        "the database has version 2"
    );

    cached
        .dead_letter(
            &event(3, "MovieRenamedLater", json!({})),
            "cannot be applied",
        )
        .await
        .expect("dead-lettered");
    assert_eq!(
        godfather().await,
        Some(2),
        "the movie's row stays at version 2"
    );
    assert_eq!(
        behind(vec![(ids[0], 3)]).await,
        0,
        "the stream is at version 3 although its movie is at 2"
    );
    assert_eq!(behind(vec![(ids[0], 4)]).await, 1);
}
