//! Rebuilds and movie histories.

use super::*;

pub(crate) async fn a_rebuild_swaps_in_tables_equal_to_the_live_ones(s: Subject) {
    let (h, ids) = catalogue();
    s.read.apply(&h.events, None).await.expect("applied");
    let live = s.read.dump().await.expect("dump");
    let shadow = s.read.begin_rebuild().await.expect("shadow");
    shadow.apply(&h.events[..4], None).await.expect("partial");
    // Readers still see the live tables while the shadow fills.
    assert!(s.read.movie(ids[4]).await.expect("read").is_some());
    shadow.apply(&h.events, None).await.expect("rest");
    s.read.finish_rebuild().await.expect("swap");
    assert_eq!(s.read.dump().await.expect("dump"), live);
    // And again: a second rebuild works on the tables the first one swapped in.
    let shadow = s.read.begin_rebuild().await.expect("shadow");
    shadow.apply(&h.events, None).await.expect("all");
    s.read.finish_rebuild().await.expect("swap");
    assert_eq!(s.read.dump().await.expect("dump"), live);
    let more = s
        .read
        .movies(&MovieQuery {
            filter: MovieFilter {
                director: Some("Alfred Hitchcock".into()),
                ..MovieFilter::default()
            },
            ..MovieQuery::default()
        })
        .await
        .expect("q");
    assert_eq!(more.total, 2);
}

/// A read database that a rebuild filled (it loads the read models, not the histories) gets
/// its movies' histories from the event store when a projector starts; what is already there
/// is not written twice, and a user's stream is no movie's history.
pub(crate) async fn histories_a_rebuilt_read_database_lacks_are_filled_from_the_event_store(
    s: Subject,
) {
    let dir = tempfile::tempdir().expect("temp dir");
    let store =
        SqliteEventStore::connect(&format!("sqlite://{}", dir.path().join("e.db").display()))
            .await
            .expect("store");
    let (h, ids) = catalogue();
    let mut by_stream: Vec<Vec<&StoredEvent>> = Vec::new();
    for event in &h.events {
        match by_stream
            .iter_mut()
            .find(|s| s[0].stream_id == event.stream_id)
        {
            Some(stream) => stream.push(event),
            None => by_stream.push(vec![event]),
        }
    }
    for stream in by_stream {
        for event in stream {
            let new = NewEvent {
                event_id: event.event_id,
                event_type: event.event_type.clone(),
                schema_version: 1,
                payload: event.payload.clone(),
                metadata: json!({}),
            };
            store
                .append(AppendRequest::new(
                    &event.stream_type,
                    event.stream_id,
                    event.version - 1,
                    vec![new],
                ))
                .await
                .expect("append");
        }
    }
    // The read models as a rebuild leaves them: loaded from the fold, histories empty.
    let mut fold = Fold::default();
    for event in &h.events {
        fold.add(event);
    }
    let (streams, _) = fold.finish();
    s.read.load(&streams).await.expect("loaded");
    assert!(s
        .read
        .movie_history(ids[2])
        .await
        .expect("history")
        .is_empty());

    let projector = Projector::new(s.read.clone(), Arc::new(store));
    let behind = moviedb_projector::history::backfill(&projector)
        .await
        .expect("backfilled");
    assert_eq!(behind, 5, "every movie, the deleted one too");
    for id in ids {
        let versions: Vec<u64> = s
            .read
            .movie_history(id)
            .await
            .expect("history")
            .iter()
            .map(|e| e.version)
            .collect();
        let want: Vec<u64> = h
            .events
            .iter()
            .filter(|e| e.stream_id == id)
            .map(|e| e.version)
            .collect();
        assert_eq!(versions, want);
    }
    assert_eq!(
        moviedb_projector::history::backfill(&projector)
            .await
            .expect("again"),
        0,
        "nothing is behind any more"
    );
}

/// The history the query side serves: every event of a movie's stream, in version order,
/// deleted movies too, never doubled by a duplicate delivery; a rebuild leaves it whole, and
/// writing it again from the log (what a rebuild does for rows a lost database lacks) adds
/// nothing twice.
pub(crate) async fn a_movies_history_holds_each_event_once_through_duplicates_and_rebuilds(
    s: Subject,
) {
    let (h, ids) = catalogue();
    s.read.apply(&h.events, None).await.expect("applied");
    s.read.apply(&h.events, None).await.expect("duplicates");
    let of = |id: Uuid| -> Vec<(u64, String, Value)> {
        h.events
            .iter()
            .filter(|e| e.stream_id == id)
            .map(|e| (e.version, e.event_type.clone(), e.payload.clone()))
            .collect()
    };
    let read = |history: Vec<moviedb_read_model::HistoryEntry>| -> Vec<(u64, String, Value)> {
        history
            .into_iter()
            .map(|e| (e.version, e.event_type, e.payload))
            .collect()
    };
    let before = read(s.read.movie_history(ids[2]).await.expect("history"));
    assert_eq!(before, of(ids[2]));
    assert_eq!(before.len(), 2, "added, then updated");
    let deleted = read(s.read.movie_history(ids[3]).await.expect("history"));
    assert_eq!(deleted, of(ids[3]), "a deleted movie keeps its history");
    let user = h.events.last().expect("events").stream_id;
    assert!(
        s.read
            .movie_history(user)
            .await
            .expect("history")
            .is_empty(),
        "a user's stream is no movie's history"
    );
    let heads = s.read.history_heads().await.expect("heads");
    assert_eq!(
        (heads.get(&ids[2]), heads.get(&ids[3])),
        (Some(&2), Some(&2))
    );
    assert_eq!(heads.get(&user), None);

    let shadow = s.read.begin_rebuild().await.expect("shadow");
    shadow.apply(&h.events, None).await.expect("all");
    s.read.finish_rebuild().await.expect("swap");
    let all: Vec<&StoredEvent> = h.events.iter().collect();
    s.read.record_history(&all).await.expect("again");
    for id in ids {
        assert_eq!(
            read(s.read.movie_history(id).await.expect("history")),
            of(id)
        );
    }
}

/// Histories whose text is more than one MySQL packet holds (16 MB here) are written whole,
/// every byte as it was: quotes, backslashes, NUL-free control characters and characters
/// outside the BMP included. The newest-applied checkpoint only ever goes forward.
pub(crate) async fn histories_larger_than_a_packet_are_written_whole_and_exact(s: Subject) {
    let tricky = "it's \"quoted\" \\ back\\slashed; -- not a comment */ \n\t é 東京 🎬 ";
    let filler: String = tricky.repeat(6_000 / tricky.len() + 1);
    let ids: Vec<Uuid> = (0..70).map(|_| Uuid::now_v7()).collect();
    let mut h = History::default();
    for (n, id) in ids.iter().enumerate() {
        h.movie(*id, &format!("{tricky}{n}"), tricky, &["Drama"], 5.5, 0.25);
        for k in 0..20 {
            h.push(
                "movie",
                *id,
                "MovieUpdated",
                json!({ "note": format!("{k}:{filler}") }),
            );
        }
    }
    let all: Vec<&StoredEvent> = h.events.iter().collect();
    let bytes: usize = h.events.iter().map(|e| e.payload.to_string().len()).sum();
    assert!(bytes > 8 << 20, "as hexadecimal, more than 16 MB: {bytes}");
    s.read.record_history(&all).await.expect("histories");
    for (n, id) in ids.iter().enumerate().step_by(7) {
        let history = s.read.movie_history(*id).await.expect("history");
        let want: Vec<(u64, &Value)> = h
            .events
            .iter()
            .filter(|e| e.stream_id == *id)
            .map(|e| (e.version, &e.payload))
            .collect();
        let got: Vec<(u64, &Value)> = history.iter().map(|e| (e.version, &e.payload)).collect();
        assert_eq!(got, want, "movie {n}");
    }

    // The adds, applied, keep their text too; and a batch recorded earlier than the newest
    // one applied does not move the checkpoint back.
    let adds: Vec<StoredEvent> = h
        .events
        .iter()
        .filter(|e| e.version == 1)
        .cloned()
        .collect();
    let (older, newer) = adds.split_at(35);
    s.read.apply(newer, None).await.expect("applied");
    let newest = s
        .read
        .checkpoint(moviedb_read_model::NEWEST_APPLIED)
        .await
        .expect("checkpoint")
        .expect("set by the batch");
    assert_eq!(
        newest,
        newer
            .iter()
            .map(|e| e.recorded_at.timestamp_micros())
            .max()
            .expect("events")
    );
    s.read.apply(older, None).await.expect("applied");
    assert_eq!(
        s.read
            .checkpoint(moviedb_read_model::NEWEST_APPLIED)
            .await
            .expect("checkpoint"),
        Some(newest),
        "an older batch never takes the checkpoint back"
    );
    for n in [0, 34, 35, 69] {
        let movie = s.read.movie(ids[n]).await.expect("read").expect("present");
        assert_eq!(movie.name, format!("{tricky}{n}"));
        assert_eq!(movie.director, tricky);
        assert_eq!((movie.imdb_score, movie.popularity), (5.5, 0.25));
    }
}
