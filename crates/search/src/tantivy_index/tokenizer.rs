//! The search analysis ([`crate::analysis`]) as a tantivy tokenizer, for the name and the
//! director.

use crate::analysis::{terms, ANALYSIS};
use tantivy::tokenizer::{Token, TokenStream, Tokenizer};

/// The name the schema gives the tokenizer: the analysis's own, so an index written with
/// another analysis has another schema and is replaced (see `TantivyIndex::open`).
pub(super) const TOKENIZER: &str = ANALYSIS;

/// Splits a text into [`crate::analysis::terms`].
#[derive(Clone, Default)]
pub(super) struct AnalysisTokenizer;

/// The terms of one text, handed out one by one.
pub(super) struct Terms {
    rest: std::vec::IntoIter<Token>,
    current: Token,
}

impl Tokenizer for AnalysisTokenizer {
    type TokenStream<'a> = Terms;

    fn token_stream<'a>(&'a mut self, text: &'a str) -> Terms {
        let tokens: Vec<Token> = terms(text)
            .into_iter()
            .map(|t| Token {
                offset_from: t.offsets.start,
                offset_to: t.offsets.end,
                position: t.position,
                text: t.text,
                position_length: 1,
            })
            .collect();
        Terms {
            rest: tokens.into_iter(),
            current: Token::default(),
        }
    }
}

impl TokenStream for Terms {
    fn advance(&mut self) -> bool {
        match self.rest.next() {
            Some(token) => {
                self.current = token;
                true
            }
            None => false,
        }
    }

    fn token(&self) -> &Token {
        &self.current
    }

    fn token_mut(&mut self) -> &mut Token {
        &mut self.current
    }
}
