//! The index schema: its fields, and a movie as a tantivy document.

use super::tokenizer::{AnalysisTokenizer, TOKENIZER};
use super::Inner;
use crate::IndexOp;
use tantivy::schema::{
    Field, IndexRecordOption, Schema, TextFieldIndexing, TextOptions, FAST, INDEXED, STORED, STRING,
};
use tantivy::{Index, TantivyDocument, Term};

#[derive(Clone, Copy)]
pub(super) struct Fields {
    pub(super) id: Field,
    pub(super) id_hi: Field,
    pub(super) id_lo: Field,
    pub(super) name: Field,
    pub(super) director: Field,
    pub(super) name_key: Field,
    /// The name's words, lower-case, joined by single spaces: a column whose sorted terms
    /// make "the name starts with this prefix" a run of ordinals (see `TopSuggestions`).
    pub(super) name_words: Field,
    /// Every run of the name's words to its end ([`crate::analysis::completions`]): an
    /// autocomplete prefix is a prefix of one of these terms, with no limit on how many
    /// names share its words.
    pub(super) name_completions: Field,
    pub(super) director_key: Field,
    pub(super) genre: Field,
    pub(super) imdb_score: Field,
    pub(super) popularity: Field,
    pub(super) version: Field,
    pub(super) live: Field,
    pub(super) source: Field,
}

/// A text field split by the search analysis. No positions: no query reads them (phrases
/// and autocomplete go through `name_completions`).
fn analysed() -> TextOptions {
    TextOptions::default().set_indexing_options(
        TextFieldIndexing::default()
            .set_tokenizer(TOKENIZER)
            .set_index_option(IndexRecordOption::WithFreqs),
    )
}

/// Makes the tokenizer the schema names known to `index` (every index opened or made).
pub(super) fn register_tokenizer(index: &Index) {
    index.tokenizers().register(TOKENIZER, AnalysisTokenizer);
}

pub(super) fn schema() -> (Schema, Fields) {
    let mut b = Schema::builder();
    let fields = Fields {
        id: b.add_text_field("id", STRING | STORED),
        id_hi: b.add_u64_field("id_hi", FAST),
        id_lo: b.add_u64_field("id_lo", FAST),
        name: b.add_text_field("name", analysed()),
        director: b.add_text_field("director", analysed()),
        name_key: b.add_text_field("name_key", STRING | FAST),
        name_words: b.add_text_field("name_words", FAST),
        name_completions: b.add_text_field("name_completions", STRING),
        director_key: b.add_text_field("director_key", STRING),
        genre: b.add_text_field("genre", STRING | FAST),
        // Columns only: ranges and versions are read from them on the hits, and a term
        // dictionary per numeric field cost every commit and merge (a fresh one per field).
        imdb_score: b.add_f64_field("imdb_score", FAST),
        popularity: b.add_f64_field("popularity", FAST),
        version: b.add_u64_field("version", FAST),
        live: b.add_u64_field("live", INDEXED),
        source: b.add_text_field("source", STORED),
    };
    (b.build(), fields)
}

impl Inner {
    pub(super) fn term(&self, field: Field, text: &str) -> Term {
        Term::from_field_text(field, text)
    }

    pub(super) fn document(&self, op: &IndexOp) -> TantivyDocument {
        let f = self.f;
        let mut doc = TantivyDocument::default();
        doc.add_text(f.id, op.id().to_string());
        let (hi, lo) = op.id().as_u64_pair();
        doc.add_u64(f.id_hi, hi);
        doc.add_u64(f.id_lo, lo);
        doc.add_u64(f.version, op.version());
        match op {
            IndexOp::Upsert(movie) => {
                doc.add_u64(f.live, 1);
                doc.add_text(f.name, &movie.name);
                doc.add_text(f.director, &movie.director);
                doc.add_text(f.name_key, movie.name.to_lowercase());
                let words = crate::words(&movie.name);
                doc.add_text(f.name_words, words.join(" "));
                for completion in crate::analysis::completions(&words) {
                    doc.add_text(f.name_completions, completion);
                }
                doc.add_text(f.director_key, movie.director.trim().to_lowercase());
                for genre in &movie.genres {
                    doc.add_text(f.genre, genre.trim().to_lowercase());
                }
                doc.add_f64(f.imdb_score, movie.imdb_score);
                doc.add_f64(f.popularity, movie.popularity);
                doc.add_text(f.source, serde_json::to_string(movie).unwrap_or_default());
            }
            // A tombstone: found by id, never by a search.
            IndexOp::Delete { .. } => doc.add_u64(f.live, 0),
        }
        doc
    }
}
