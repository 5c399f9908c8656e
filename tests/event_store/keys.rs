//! What an append writes beside its events: unique keys, credentials, idempotency records.

use super::*;

pub(crate) async fn a_unique_key_is_reserved_with_the_events_and_refused_to_another_stream(
    s: Subject,
) {
    let (first, second) = (Uuid::now_v7(), Uuid::now_v7());
    let key = UniqueKey::new("email", "ada@example.com");
    let mut req = append(first, 0, vec![event(1)]);
    req.reserve.push(key.clone());
    s.store.append(req).await.expect("first");
    assert_eq!(s.store.key_owner(&key).await.expect("owner"), Some(first));

    let mut req = append(second, 0, vec![event(1)]);
    req.reserve.push(key.clone());
    match s.store.append(req).await {
        Err(AppendError::KeyTaken { kind, owner }) => {
            assert_eq!((kind.as_str(), owner), ("email", first))
        }
        other => panic!("expected KeyTaken, got {other:?}"),
    }
    assert!(s.store.read_stream(second).await.expect("read").is_empty());
}

pub(crate) async fn a_released_key_can_be_claimed_again(s: Subject) {
    let (first, second) = (Uuid::now_v7(), Uuid::now_v7());
    let key = UniqueKey::new("movie_title", "oz\u{1f}fleming");
    let mut req = append(first, 0, vec![event(1)]);
    req.reserve.push(key.clone());
    s.store.append(req).await.expect("claim");
    let mut req = append(first, 1, vec![event(2)]);
    req.release.push(key.clone());
    s.store.append(req).await.expect("release");
    assert_eq!(s.store.key_owner(&key).await.expect("owner"), None);
    let mut req = append(second, 0, vec![event(1)]);
    req.reserve.push(key.clone());
    s.store.append(req).await.expect("claim again");
    assert_eq!(s.store.key_owner(&key).await.expect("owner"), Some(second));
}

pub(crate) async fn credentials_are_written_with_the_events_and_only_once_per_email(s: Subject) {
    let user = Uuid::now_v7();
    let credentials = Credentials {
        user_id: user,
        email: "ada@example.com".into(),
        password_hash: "$argon2id$stub".into(),
    };
    let mut req = AppendRequest::new("user", user, 0, vec![event(1)]);
    req.credentials = Some(credentials.clone());
    s.store.append(req).await.expect("register");
    assert_eq!(
        s.store
            .credentials_by_email("ada@example.com")
            .await
            .expect("lookup"),
        Some(credentials.clone())
    );
    assert_eq!(
        s.store
            .credentials_by_email("bob@example.com")
            .await
            .expect("lookup"),
        None
    );

    // Same e-mail again, without a reservation: the credentials table itself refuses it,
    // and the events of that append are rolled back with it.
    let other = Uuid::now_v7();
    let mut req = AppendRequest::new("user", other, 0, vec![event(1)]);
    req.credentials = Some(Credentials {
        user_id: other,
        ..credentials
    });
    assert!(matches!(
        s.store.append(req).await,
        Err(AppendError::KeyTaken { .. })
    ));
    assert!(s.store.read_stream(other).await.expect("read").is_empty());
}

pub(crate) async fn an_idempotency_record_is_kept_with_the_append_and_never_overwritten(
    s: Subject,
) {
    let record = IdempotencyRecord {
        scope: "user-1".into(),
        key: "key-1".into(),
        request_hash: "a".repeat(64),
        response: json!({"status": 201, "body": {"id": "x"}}),
    };
    let stream = Uuid::now_v7();
    let mut req = append(stream, 0, vec![event(1)]);
    req.idempotency = Some(record.clone());
    s.store.append(req).await.expect("first");
    assert_eq!(
        s.store
            .idempotency_record("user-1", "key-1")
            .await
            .expect("get"),
        Some(record.clone())
    );
    assert_eq!(
        s.store
            .idempotency_record("user-2", "key-1")
            .await
            .expect("get"),
        None
    );

    let mut again = append(Uuid::now_v7(), 0, vec![event(2)]);
    again.idempotency = Some(IdempotencyRecord {
        response: json!({"status": 500}),
        ..record.clone()
    });
    assert!(matches!(
        s.store.append(again).await,
        Err(AppendError::IdempotencyKeyUsed)
    ));
    assert!(matches!(
        s.store.save_idempotency_record(record.clone()).await,
        Err(AppendError::IdempotencyKeyUsed)
    ));
    assert_eq!(
        s.store.read_all(0, 10).await.expect("all").len(),
        1,
        "the refused append wrote nothing"
    );
    assert_eq!(
        s.store
            .idempotency_record("user-1", "key-1")
            .await
            .expect("get"),
        Some(record)
    );
}

/// Keys stored under an older rule are re-derived in place; one whose new form is already
/// held stays as it was, and running it again changes nothing.
pub(crate) async fn rekey_rewrites_old_keys_and_keeps_clashes(s: Subject) {
    let reserve = |key: &str| {
        let mut request = append(Uuid::now_v7(), 0, vec![event(1)]);
        request.reserve.push(UniqueKey::new("movie_title", key));
        request
    };
    let (plain, hidden, wide) = (
        reserve("inception\u{1f}nolan"),
        reserve("incep\u{200b}tion\u{1f}nolan"),
        reserve("ｍｅｍｅｎｔｏ\u{1f}nolan"),
    );
    let (plain_id, hidden_id, wide_id) = (plain.stream_id, hidden.stream_id, wide.stream_id);
    for request in [plain, hidden, wide] {
        s.store.append(request).await.expect("append");
    }
    let done = s
        .store
        .rekey("movie_title", moviedb_domain::text::text_key)
        .await
        .expect("rekey");
    assert_eq!((done.changed, done.clashes), (1, 1));
    let owner = |key: &'static str| {
        let store = s.store.clone();
        async move {
            store
                .key_owner(&UniqueKey::new("movie_title", key))
                .await
                .expect("owner")
        }
    };
    assert_eq!(owner("memento\u{1f}nolan").await, Some(wide_id));
    assert_eq!(owner("inception\u{1f}nolan").await, Some(plain_id));
    assert_eq!(owner("incep\u{200b}tion\u{1f}nolan").await, Some(hidden_id));
    let again = s
        .store
        .rekey("movie_title", moviedb_domain::text::text_key)
        .await
        .expect("rekey");
    assert_eq!((again.changed, again.clashes), (0, 1));
}

/// Many guarded appends (an admin's movie adds) race for one key: exactly one wins, and every
/// other is told the winner's stream. On MySQL the guard is read before the key is tried, and
/// that read must not hide an owner that committed while the loser waited for the key: the
/// answer named no owner (the nil id) there before the owner was read with a locking read.
pub(crate) async fn every_loser_of_a_race_for_a_key_is_told_the_winner(s: Subject) {
    let admin = Uuid::now_v7();
    s.store
        .append(AppendRequest::new("user", admin, 0, vec![event(1)]))
        .await
        .expect("an admin stream");
    for round in 0..4 {
        let key = UniqueKey::new("movie_title", format!("race {round}\u{1f}someone"));
        let streams: Vec<Uuid> = (0..24).map(|_| Uuid::now_v7()).collect();
        let answers = join_all(streams.iter().map(|stream| {
            let store = s.store.clone();
            let mut request = guarded(*stream, admin, 1);
            request.reserve.push(key.clone());
            async move { store.append(request).await }
        }))
        .await;
        let winners: Vec<Uuid> = streams
            .iter()
            .zip(&answers)
            .filter(|(_, answer)| answer.is_ok())
            .map(|(stream, _)| *stream)
            .collect();
        assert_eq!(winners.len(), 1, "one append wins the key: {answers:?}");
        for answer in &answers {
            match answer {
                Ok(_) => {}
                Err(AppendError::KeyTaken { kind, owner }) => {
                    assert_eq!((kind.as_str(), *owner), ("movie_title", winners[0]))
                }
                other => panic!("expected the key taken by {}, got {other:?}", winners[0]),
            }
        }
        assert_eq!(
            s.store.key_owner(&key).await.expect("owner"),
            Some(winners[0])
        );
    }
}
