//! One text analysis on both engines: titles with apostrophes, dots, middle dots, diacritics
//! and superscripts are found as users type them, in search and autocomplete; autocomplete has
//! no cap on how many names share a word; an Elasticsearch index made with another analysis is
//! replaced.

use crate::{adapters, doc};
use moviedb_search::analysis::ANALYSIS;
use moviedb_search::elastic::MOVIES_TEMPLATE;
use moviedb_search::{ElasticIndex, IndexOp, MovieDocument, SearchIndex, SearchRequest};
use serde_json::{json, Value};

fn titles() -> Vec<MovieDocument> {
    vec![
        doc(
            "Schindler's List",
            "Steven Spielberg",
            &["Drama"],
            9.0,
            90.0,
        ),
        doc(
            "E.T. the Extra-Terrestrial",
            "Steven Spielberg",
            &["Family"],
            7.9,
            79.0,
        ),
        doc("WALL·E", "Andrew Stanton", &["Animation"], 8.4, 84.0),
        doc(
            "Singin' in the Rain",
            "Stanley Donen",
            &["Musical"],
            8.3,
            83.0,
        ),
        doc("Dr. Strangelove", "Stanley Kubrick", &["Comedy"], 8.4, 84.0),
        doc("Amélie", "Jean-Pierre Jeunet", &["Comedy"], 8.3, 83.0),
        doc("Alien³", "David Fincher", &["Horror"], 6.4, 64.0),
        doc("The Wall", "Alan Parker", &["Musical"], 8.0, 80.0),
    ]
}

async fn search(index: &dyn SearchIndex, q: &str) -> Vec<String> {
    let found = index
        .search(&SearchRequest {
            q: Some(q.into()),
            ..SearchRequest::default()
        })
        .await
        .unwrap_or_else(|e| panic!("search {q:?}: {e}"));
    found.hits.into_iter().map(|h| h.movie.name).collect()
}

async fn suggested(index: &dyn SearchIndex, prefix: &str) -> Vec<String> {
    index
        .suggest(prefix, 5)
        .await
        .unwrap_or_else(|e| panic!("suggest {prefix:?}: {e}"))
        .into_iter()
        .map(|s| s.name)
        .collect()
}

#[tokio::test]
async fn punctuation_diacritics_and_superscripts_are_found_as_typed() {
    for adapter in adapters().await {
        let index = adapter.index.as_ref();
        eprintln!("adapter: {}", adapter.name);
        index
            .apply(titles().into_iter().map(IndexOp::Upsert).collect())
            .await
            .expect("indexed");
        for (q, film) in [
            ("Schindler's List", "Schindler's List"),
            ("schindlers list", "Schindler's List"),
            ("schindler", "Schindler's List"),
            ("E.T. the Extra-Terrestrial", "E.T. the Extra-Terrestrial"),
            ("e.t.", "E.T. the Extra-Terrestrial"),
            ("extra terrestrial", "E.T. the Extra-Terrestrial"),
            ("WALL·E", "WALL·E"),
            ("wall-e", "WALL·E"),
            ("Singin' in the Rain", "Singin' in the Rain"),
            ("singin in the rain", "Singin' in the Rain"),
            ("Dr. Strangelove", "Dr. Strangelove"),
            ("dr strangelove", "Dr. Strangelove"),
            ("amelie", "Amélie"),
            ("Amélie", "Amélie"),
            ("AMÉLIE", "Amélie"),
            ("alien 3", "Alien³"),
            ("Alien³", "Alien³"),
            ("alien3", "Alien³"),
        ] {
            let found = search(index, q).await;
            assert_eq!(
                found.first().map(String::as_str),
                Some(film),
                "{}: {q:?} found {found:?}",
                adapter.name
            );
        }
        // "wall-e" is two words, both required: "The Wall" has no "e".
        assert_eq!(
            search(index, "wall-e").await,
            ["WALL·E"],
            "{}",
            adapter.name
        );
        for (prefix, film) in [
            ("schindler's l", "Schindler's List"),
            ("schindler s", "Schindler's List"),
            ("e.t", "E.T. the Extra-Terrestrial"),
            ("wall·", "WALL·E"),
            ("wall-e", "WALL·E"),
            ("singin' in", "Singin' in the Rain"),
            ("dr. str", "Dr. Strangelove"),
            ("amé", "Amélie"),
            ("ame", "Amélie"),
            ("alien³", "Alien³"),
            ("alien 3", "Alien³"),
        ] {
            let names = suggested(index, prefix).await;
            assert_eq!(
                names.first().map(String::as_str),
                Some(film),
                "{}: suggest {prefix:?} gave {names:?}",
                adapter.name
            );
        }
    }
}

#[tokio::test]
async fn autocomplete_finds_a_name_among_thousands_that_share_its_first_words() {
    // 5 000 names that start with "The Godf", every one sorting before "godfather": a phrase
    // prefix query expands "godf" to the first 50 such words and never reaches it.
    let letters: Vec<char> = ('a'..='s').collect();
    let mut movies: Vec<MovieDocument> = (0..5_000usize)
        .map(|n| {
            let word: String = [n / 361 % 19, n / 19 % 19, n % 19]
                .iter()
                .map(|&i| letters[i])
                .collect();
            doc(
                &format!("The Godfa{word} {n}"),
                "Someone",
                &["Drama"],
                5.0,
                10.0,
            )
        })
        .collect();
    movies.push(doc(
        "The Godfather",
        "Francis Ford Coppola",
        &["Crime"],
        9.2,
        92.0,
    ));
    for adapter in adapters().await {
        let index = adapter.index.as_ref();
        eprintln!("adapter: {}", adapter.name);
        let report = index
            .apply(movies.iter().cloned().map(IndexOp::Upsert).collect())
            .await
            .expect("indexed");
        assert_eq!(report.applied, 5_001, "{}", adapter.name);
        let names = suggested(index, "the godf").await;
        assert_eq!(
            names.first().map(String::as_str),
            Some("The Godfather"),
            "{}: {names:?}",
            adapter.name
        );
        let found = index
            .search(&SearchRequest {
                q: Some("the godf".into()),
                ..SearchRequest::default()
            })
            .await
            .expect("search");
        assert_eq!(found.total, 5_001, "{}", adapter.name);
    }
}

#[test]
fn the_template_records_the_analysis_the_code_applies() {
    let template: Value = serde_json::from_str(MOVIES_TEMPLATE).expect("template");
    assert_eq!(
        template["template"]["mappings"]["_meta"]["analysis"],
        json!(ANALYSIS),
        "change both together: a new analysis needs a new index generation"
    );
}

#[tokio::test]
async fn an_index_made_with_another_analysis_is_replaced_by_a_new_generation() {
    let Some(url) = crate::search_server::shared_url() else {
        return;
    };
    let prefix = format!("moviedb-test-{}-", uuid::Uuid::now_v7().simple());
    let http = reqwest::Client::new();
    // What an older moviedb made: `movies-0` behind the alias, with no analysis recorded
    // (no template matches this prefix yet, so the server makes its mapping from the document).
    let old = format!("{prefix}movies-0");
    let made = http
        .put(format!("{url}/{old}"))
        .json(&json!({ "aliases": { format!("{prefix}movies"): { "is_write_index": true } } }))
        .send()
        .await
        .expect("create");
    assert!(made.status().is_success(), "{:?}", made.text().await);
    let index = ElasticIndex::connect(&url, &prefix).await.expect("connect");
    let aliases: Value = http
        .get(format!("{url}/_alias/{prefix}movies"))
        .send()
        .await
        .expect("aliases")
        .json()
        .await
        .expect("json");
    let targets: Vec<&String> = aliases.as_object().expect("object").keys().collect();
    assert_eq!(targets, [&format!("{prefix}movies-{ANALYSIS}")]);
    let gone = http
        .head(format!("{url}/{old}"))
        .send()
        .await
        .expect("head");
    assert_eq!(gone.status().as_u16(), 404, "the old generation is deleted");
    // A second service starting against the new generation changes nothing.
    ElasticIndex::connect(&url, &prefix)
        .await
        .expect("connect again");
    index
        .apply(vec![IndexOp::Upsert(titles().remove(0))])
        .await
        .expect("indexed");
    assert_eq!(search(&index, "schindlers").await, ["Schindler's List"]);
}
