//! Property tests for the rules with ranges: scores, popularity, title and genre lengths, and
//! the password policy (checked against an independent statement of it).

use moviedb_domain::movie::*;
use moviedb_domain::user::Password;
use proptest::prelude::*;

fn policy_holds(p: &str) -> bool {
    let n = p.chars().count();
    (8..=128).contains(&n)
        && p.bytes().any(|b| b.is_ascii_lowercase())
        && p.bytes().any(|b| b.is_ascii_uppercase())
        && p.bytes().any(|b| b.is_ascii_digit())
        && p.bytes().any(|b| matches!(b, b'_' | b'@' | b'$'))
        && !p.chars().any(char::is_whitespace)
}

proptest! {
    #[test]
    fn imdb_score_is_accepted_exactly_within_0_and_10(score in -1000.0f64..1000.0) {
        prop_assert_eq!(parse_imdb_score(score).is_ok(), (0.0..=10.0).contains(&score));
    }

    #[test]
    fn popularity_is_accepted_exactly_within_0_and_100(p in -1000.0f64..1000.0) {
        prop_assert_eq!(parse_popularity(p).is_ok(), (0.0..=100.0).contains(&p));
    }

    #[test]
    fn non_finite_numbers_are_refused(x in prop_oneof![Just(f64::NAN), Just(f64::INFINITY), Just(f64::NEG_INFINITY)]) {
        prop_assert!(parse_imdb_score(x).is_err());
        prop_assert!(parse_popularity(x).is_err());
    }

    #[test]
    fn names_are_accepted_up_to_200_characters_after_trimming(core in "[a-zA-Zé ]{0,260}", pad in " {0,5}") {
        let raw = format!("{pad}{core}{pad}");
        let trimmed = raw.trim();
        let expected = !trimmed.is_empty() && trimmed.chars().count() <= 200;
        prop_assert_eq!(parse_name(&raw).is_ok(), expected);
        if let Ok(name) = parse_name(&raw) { prop_assert_eq!(name, trimmed); }
    }

    #[test]
    fn genres_after_dedup_are_between_1_and_10(genres in proptest::collection::vec("[a-dA-D]{1,3}", 0..30)) {
        let distinct: std::collections::HashSet<String> = genres.iter().map(|g| g.to_lowercase()).collect();
        let result = parse_genres(&genres);
        prop_assert_eq!(result.is_ok(), (1..=10).contains(&distinct.len()));
        if let Ok(kept) = result { prop_assert_eq!(kept.len(), distinct.len()); }
    }

    #[test]
    fn the_password_policy_matches_its_statement(p in "[a-zA-Z0-9_@$#! \t]{0,140}") {
        prop_assert_eq!(Password::parse(p.clone()).is_ok(), policy_holds(&p));
    }

    #[test]
    fn passwords_built_to_the_policy_are_accepted(
        body in "[a-z]{1,40}", up in "[A-Z]{1,20}", digit in "[0-9]{1,20}", sym in "[_@$]{1,20}", pad in "[a-z]{4,8}"
    ) {
        let p = format!("{body}{up}{digit}{sym}{pad}");
        prop_assert_eq!(Password::parse(p.clone()).is_ok(), p.chars().count() <= 128);
    }
}
