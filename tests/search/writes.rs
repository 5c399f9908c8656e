//! Writes to the index: versions win, rebuilds swap, events recorded once.

use super::*;

#[tokio::test]
async fn the_same_write_twice_or_an_older_one_later_leaves_the_index_as_it_was() {
    for (adapter, movies) in catalogues().await {
        let index = adapter.index.as_ref();
        eprintln!("adapter: {}", adapter.name);
        let psycho = movies[2].clone();
        let mut renamed = psycho.clone();
        renamed.name = "Psycho (1960)".into();
        renamed.version = 2;
        let report = index
            .apply(vec![
                IndexOp::Upsert(renamed.clone()),
                IndexOp::Upsert(renamed.clone()),
            ])
            .await
            .expect("applied");
        assert_eq!((report.applied, report.stale), (1, 1));
        let late = index
            .apply(vec![IndexOp::Upsert(psycho.clone())])
            .await
            .expect("applied");
        assert_eq!((late.applied, late.stale), (0, 1));
        let found = index
            .search(&SearchRequest {
                q: Some("psycho".into()),
                ..SearchRequest::default()
            })
            .await
            .expect("search");
        assert_eq!(names(&found), ["Psycho (1960)"]);
        index
            .apply(vec![IndexOp::Delete {
                id: psycho.id,
                version: 3,
            }])
            .await
            .expect("deleted");
        let resurrect = index
            .apply(vec![IndexOp::Upsert(renamed)])
            .await
            .expect("applied");
        assert_eq!(
            resurrect.stale, 1,
            "a late write never brings a deleted movie back"
        );
        assert_eq!(
            index
                .search(&SearchRequest {
                    q: Some("psycho".into()),
                    ..SearchRequest::default()
                })
                .await
                .expect("search")
                .total,
            0
        );
        assert_eq!(
            index
                .versions(&[psycho.id])
                .await
                .expect("versions")
                .get(&psycho.id),
            Some(&3)
        );
    }
}

#[tokio::test]
async fn versions_are_reported_for_live_and_deleted_movies_and_absent_for_unknown_ones() {
    for (adapter, movies) in catalogues().await {
        let index = adapter.index.as_ref();
        eprintln!("adapter: {}", adapter.name);
        index
            .apply(vec![IndexOp::Delete {
                id: movies[0].id,
                version: 2,
            }])
            .await
            .expect("deleted");
        let unknown = Uuid::now_v7();
        let versions = index
            .versions(&[movies[0].id, movies[1].id, unknown])
            .await
            .expect("versions");
        assert_eq!(versions.get(&movies[0].id), Some(&2));
        assert_eq!(versions.get(&movies[1].id), Some(&1));
        assert_eq!(versions.get(&unknown), None);
        assert!(index.versions(&[]).await.expect("versions").is_empty());
    }
}

#[tokio::test]
async fn a_rebuild_is_invisible_until_it_is_swapped_in_and_then_replaces_the_old_index() {
    for (adapter, movies) in catalogues().await {
        let index = adapter.index.as_ref();
        eprintln!("adapter: {}", adapter.name);
        let shadow = index.begin_rebuild().await.expect("begin");
        let mut kept = movies[3].clone();
        kept.name = "Vertigo (restored)".into();
        kept.version = 4;
        shadow
            .apply(vec![IndexOp::Upsert(kept.clone())])
            .await
            .expect("applied to the shadow");
        let all = SearchRequest::default();
        assert_eq!(index.search(&all).await.expect("search").total, 6);
        index.finish_rebuild().await.expect("swap");
        let after = index.search(&all).await.expect("search");
        assert_eq!(names(&after), ["Vertigo (restored)"]);
        assert_eq!(
            index
                .versions(&[kept.id])
                .await
                .expect("versions")
                .get(&kept.id),
            Some(&4)
        );
        // Writes go to the new index too.
        let report = index
            .apply(vec![IndexOp::Upsert(movies[0].clone())])
            .await
            .expect("applied after the swap");
        assert_eq!(report.applied, 1);
        assert_eq!(index.search(&all).await.expect("search").total, 2);
        assert!(
            index.finish_rebuild().await.is_err(),
            "nothing left to swap"
        );
    }
}

#[tokio::test]
async fn recording_the_same_events_twice_is_accepted() {
    for adapter in adapters().await {
        eprintln!("adapter: {}", adapter.name);
        let event = EventDocument {
            event_id: Uuid::now_v7(),
            event_type: "MovieAdded".into(),
            stream_type: "movie".into(),
            stream_id: Uuid::now_v7(),
            version: 1,
            recorded_at: chrono::Utc::now(),
            actor_id: Some(Uuid::now_v7()),
            actor_kind: None,
            movie: Some(serde_json::json!({ "name": "Psycho", "genres": ["Horror"] })),
        };
        adapter
            .index
            .record(std::slice::from_ref(&event))
            .await
            .expect("recorded");
        adapter
            .index
            .record(&[event])
            .await
            .expect("recorded again");
        adapter.index.ping().await.expect("ping");
    }
}

#[tokio::test]
async fn a_poster_path_is_kept_with_its_movie_and_shown_with_its_hits() {
    for (adapter, movies) in catalogues().await {
        let index = adapter.index.as_ref();
        eprintln!("adapter: {}", adapter.name);
        let mut psycho = movies[2].clone();
        psycho.version = 2;
        psycho.poster_path = Some(format!("/{}.jpg", "ab".repeat(16)));
        index
            .apply(vec![IndexOp::Upsert(psycho.clone())])
            .await
            .expect("applied");
        let found = index
            .search(&SearchRequest {
                q: Some("psycho".into()),
                ..SearchRequest::default()
            })
            .await
            .expect("search");
        assert_eq!(found.hits.len(), 1);
        assert_eq!(found.hits[0].movie.poster_path, psycho.poster_path);
        let others = index
            .search(&SearchRequest {
                q: Some("godfather".into()),
                ..SearchRequest::default()
            })
            .await
            .expect("search");
        assert_eq!(others.hits[0].movie.poster_path, None);
    }
}
