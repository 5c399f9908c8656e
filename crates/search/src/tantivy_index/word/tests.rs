//! A word's query scores each document as the boolean query of its four clauses (near and
//! exact, in each field) that it replaces.

use super::automaton::FirstLetterFixed;
use super::Word;
use crate::tantivy_index::schema::{register_tokenizer, schema};
use std::sync::Arc;
use tantivy::collector::TopDocs;
use tantivy::query::{
    AutomatonWeight, BooleanQuery, BoostQuery, EnableScoring, Occur, Query, TermQuery, Weight,
};
use tantivy::schema::{Field, IndexRecordOption};
use tantivy::{DocAddress, Index, Score, Term};

/// The near terms of a word by tantivy's own automaton weight (a bit set, every document
/// scored the boost), as the reference.
#[derive(Clone, Debug)]
struct NearRef(Field, Word);

impl Query for NearRef {
    fn weight(&self, _: EnableScoring<'_>) -> tantivy::Result<Box<dyn Weight>> {
        let automaton: Arc<FirstLetterFixed> = Arc::new(self.1.automaton());
        Ok(Box::new(AutomatonWeight::<FirstLetterFixed>::new(
            self.0, automaton,
        )))
    }
}

/// The scores of a word's query equal those of the boolean query of its four clauses
/// (near and exact in each field) it replaces, document by document, over two segments.
#[test]
fn a_word_scores_as_the_union_of_its_clauses() {
    let (schema, f) = schema();
    let index = Index::create_in_ram(schema);
    register_tokenizer(&index);
    let mut writer: tantivy::IndexWriter = index.writer(15_000_000).expect("writer");
    let films = [
        ("The Birds", "Alfred Hitchcock"),
        ("Then Came the Thing", "John Carpenter"),
        ("The The", "Theo Angelopoulos"),
        ("Vertigo", "Alfred Hitchcock"),
        ("Vertical Limit", "Martin Campbell"),
        ("Psycho", "Hitchcok Alfred"),
        ("Other", "Nobody"),
    ];
    for (n, &(name, director)) in films.iter().enumerate() {
        let mut doc = tantivy::TantivyDocument::default();
        doc.add_text(f.name, name);
        doc.add_text(f.director, director);
        writer.add_document(doc).expect("added");
        if n == 3 {
            writer.commit().expect("committed");
        }
    }
    writer.commit().expect("committed");
    let searcher = index.reader().expect("reader").searcher();
    let scores = |query: &dyn Query| {
        let mut found: Vec<(DocAddress, Score)> = searcher
            .search(query, &TopDocs::with_limit(100))
            .expect("searched")
            .into_iter()
            .map(|(score, address)| (address, score))
            .collect();
        found.sort_by_key(|(address, _)| *address);
        found
    };
    let fields = vec![(f.name, 3.0, 6.0), (f.director, 1.0, 2.0)];
    for (word, typos, prefix) in [
        ("the", 0, false),
        ("the", 0, true),
        ("th", 0, true),
        ("hitchcok", 2, false),
        ("vertigo", 1, true),
        ("vert", 0, true),
        ("alfred", 1, false),
        ("zzz", 0, true),
    ] {
        let word_query = Word {
            word: word.into(),
            typos,
            prefix,
            fields: fields.clone(),
        };
        let clauses: Vec<(Occur, Box<dyn Query>)> = fields
            .iter()
            .flat_map(|&(field, near, exact)| {
                let near_only = NearRef(
                    field,
                    Word {
                        word: word.into(),
                        typos,
                        prefix,
                        fields: vec![],
                    },
                );
                let term = TermQuery::new(
                    Term::from_field_text(field, word),
                    IndexRecordOption::WithFreqs,
                );
                [
                    (
                        Occur::Should,
                        Box::new(BoostQuery::new(Box::new(near_only), near)) as Box<dyn Query>,
                    ),
                    (
                        Occur::Should,
                        Box::new(BoostQuery::new(Box::new(term), exact)),
                    ),
                ]
            })
            .collect();
        let ours = scores(&word_query);
        let theirs = scores(&BooleanQuery::new(clauses));
        assert_eq!(ours.len(), theirs.len(), "{word}");
        assert!(!ours.is_empty() || word == "zzz", "{word} found nothing");
        for ((a, x), (b, y)) in ours.iter().zip(&theirs) {
            assert_eq!(a, b, "{word}");
            assert!((x - y).abs() < 1e-4, "{word}: {x} against {y}");
        }
    }
}
