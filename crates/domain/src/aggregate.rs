//! The shape every aggregate has.

/// A pure, synchronous aggregate: state folded from events, commands decided against it.
pub trait Aggregate: Default + Clone {
    /// What callers ask for.
    type Command;
    /// What happened (past tense).
    type Event;

    /// The stream type this aggregate's events are stored under (`user`, `movie`).
    const STREAM_TYPE: &'static str;

    /// Decide what happens when `command` meets the current state. Never does I/O.
    fn decide(&self, command: &Self::Command) -> Result<Vec<Self::Event>, crate::DomainError>;

    /// Fold one event into the state.
    fn evolve(self, event: &Self::Event) -> Self;

    /// Fold a whole stream.
    fn replay<'a>(events: impl IntoIterator<Item = &'a Self::Event>) -> Self
    where
        Self::Event: 'a,
    {
        events.into_iter().fold(Self::default(), Self::evolve)
    }
}
