//! The sizes clients draw, by TMDB's names: `GET /v1/configuration` lists them, a client joins
//! one with the base URL and a movie's `poster_path`.

/// A poster size.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PosterSize {
    /// 92 pixels wide.
    W92,
    /// 154 pixels wide.
    W154,
    /// 185 pixels wide.
    W185,
    /// 342 pixels wide.
    W342,
    /// 500 pixels wide.
    W500,
    /// 780 pixels wide.
    W780,
    /// As uploaded (after the orientation), re-encoded.
    Original,
}

impl PosterSize {
    /// Every size, smallest first.
    pub const ALL: [PosterSize; 7] = [
        PosterSize::W92,
        PosterSize::W154,
        PosterSize::W185,
        PosterSize::W342,
        PosterSize::W500,
        PosterSize::W780,
        PosterSize::Original,
    ];

    /// Its name in URLs (`w342`, `original`).
    pub fn name(self) -> &'static str {
        match self {
            PosterSize::W92 => "w92",
            PosterSize::W154 => "w154",
            PosterSize::W185 => "w185",
            PosterSize::W342 => "w342",
            PosterSize::W500 => "w500",
            PosterSize::W780 => "w780",
            PosterSize::Original => "original",
        }
    }

    /// Its width in pixels; `None` for `original`.
    pub fn width(self) -> Option<u32> {
        match self {
            PosterSize::W92 => Some(92),
            PosterSize::W154 => Some(154),
            PosterSize::W185 => Some(185),
            PosterSize::W342 => Some(342),
            PosterSize::W500 => Some(500),
            PosterSize::W780 => Some(780),
            PosterSize::Original => None,
        }
    }

    /// The size a name in a URL names.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.name() == name)
    }
}

#[cfg(test)]
mod tests {
    use super::PosterSize;

    #[test]
    fn every_name_parses_back_and_nothing_else_does() {
        for size in PosterSize::ALL {
            assert_eq!(PosterSize::parse(size.name()), Some(size));
        }
        for other in ["", "w100", "W92", "original/", "../w92"] {
            assert_eq!(PosterSize::parse(other), None);
        }
    }
}
