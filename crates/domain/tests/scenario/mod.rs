//! given/when/then for pure aggregates.

use moviedb_domain::{Aggregate, DomainError};
use std::fmt::Debug;

pub struct Given<A: Aggregate> {
    state: A,
}

pub fn given<A: Aggregate>(events: &[A::Event]) -> Given<A> {
    Given {
        state: A::replay(events),
    }
}

pub struct When<A: Aggregate> {
    result: Result<Vec<A::Event>, DomainError>,
}

impl<A: Aggregate> Given<A> {
    pub fn when(self, command: A::Command) -> When<A> {
        When {
            result: self.state.decide(&command),
        }
    }
}

impl<A: Aggregate> When<A>
where
    A::Event: Debug + PartialEq,
{
    #[track_caller]
    pub fn then_expect_events(self, expected: Vec<A::Event>) {
        match self.result {
            Ok(events) => assert_eq!(events, expected),
            Err(e) => panic!("expected events {expected:?}, got error {e:?}"),
        }
    }

    #[track_caller]
    pub fn then_expect_error(self, expected: DomainError) {
        match self.result {
            Ok(events) => panic!("expected error {expected:?}, got events {events:?}"),
            Err(e) => assert_eq!(e, expected),
        }
    }
}
