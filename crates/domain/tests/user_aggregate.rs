mod scenario;

use chrono::{TimeZone, Utc};
use moviedb_domain::user::*;
use moviedb_domain::{Actor, DomainError, DomainEvent, Role};
use scenario::given;
use uuid::Uuid;

fn at() -> chrono::DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 24, 12, 0, 0)
        .single()
        .expect("valid time")
}

fn input(admin: Option<bool>) -> RegistrationInput {
    RegistrationInput {
        name: Some(" Ada ".into()),
        email: Some("Ada@Example.com".into()),
        password: Some("Secret_123".into()),
        admin,
        role: None,
    }
}

fn register(actor: Actor, admin: Option<bool>) -> UserCommand {
    UserCommand::Register(RegisterUser::parse(input(admin), actor, at()).expect("valid input"))
}

fn registered(role: Role) -> UserEvent {
    UserEvent::Registered(UserRegistered {
        name: "Ada".into(),
        email: "Ada@Example.com".into(),
        role,
        registered_at: at(),
    })
}

fn admin() -> Actor {
    Actor::User {
        id: Uuid::now_v7(),
        role: Role::Admin,
    }
}

#[test]
fn an_anonymous_registration_yields_a_user_registered_event_without_the_password() {
    given::<User>(&[])
        .when(register(Actor::Anonymous, None))
        .then_expect_events(vec![registered(Role::User)]);
    let payload = registered(Role::User).payload().to_string();
    assert!(!payload.contains("Secret_123"), "payload: {payload}");
}

#[test]
fn asking_for_admin_without_being_admin_is_forbidden() {
    given::<User>(&[])
        .when(register(Actor::Anonymous, Some(true)))
        .then_expect_error(DomainError::Forbidden(
            "only an admin can grant the admin role",
        ));
    let user = Actor::User {
        id: Uuid::now_v7(),
        role: Role::User,
    };
    given::<User>(&[])
        .when(register(user, Some(true)))
        .then_expect_error(DomainError::Forbidden(
            "only an admin can grant the admin role",
        ));
}

#[test]
fn an_admin_or_the_operator_can_register_an_admin() {
    given::<User>(&[])
        .when(register(admin(), Some(true)))
        .then_expect_events(vec![registered(Role::Admin)]);
    given::<User>(&[])
        .when(register(Actor::System, Some(true)))
        .then_expect_events(vec![registered(Role::Admin)]);
}

#[test]
fn registering_an_existing_stream_again_is_a_conflict() {
    given::<User>(&[registered(Role::User)])
        .when(register(Actor::Anonymous, None))
        .then_expect_error(DomainError::AlreadyExists);
}

#[test]
fn registration_reports_every_bad_field_at_once() {
    let bad = RegistrationInput {
        name: Some("   ".into()),
        email: Some("not-an-email".into()),
        password: Some("short".into()),
        admin: None,
        role: None,
    };
    let errors = RegisterUser::parse(bad, Actor::Anonymous, at()).expect_err("invalid");
    assert_eq!(errors.fields(), vec!["name", "email", "password"]);
}

#[test]
fn a_missing_field_is_reported_not_defaulted() {
    let errors = RegisterUser::parse(RegistrationInput::default(), Actor::Anonymous, at())
        .expect_err("invalid");
    assert_eq!(errors.fields(), vec!["name", "email", "password"]);
}

#[test]
fn an_admin_changes_another_users_role() {
    let target = Uuid::now_v7();
    given::<User>(&[registered(Role::User)])
        .when(UserCommand::ChangeRole(ChangeRole {
            user_id: target,
            role: Role::Admin,
            actor: admin(),
        }))
        .then_expect_events(vec![UserEvent::RoleChanged(UserRoleChanged {
            role: Role::Admin,
        })]);
}

#[test]
fn changing_a_role_to_the_one_held_records_nothing() {
    given::<User>(&[registered(Role::Admin)])
        .when(UserCommand::ChangeRole(ChangeRole {
            user_id: Uuid::now_v7(),
            role: Role::Admin,
            actor: admin(),
        }))
        .then_expect_events(vec![]);
}

#[test]
fn a_user_cannot_change_roles_even_their_own() {
    let me = Uuid::now_v7();
    given::<User>(&[registered(Role::User)])
        .when(UserCommand::ChangeRole(ChangeRole {
            user_id: me,
            role: Role::Admin,
            actor: Actor::User {
                id: me,
                role: Role::User,
            },
        }))
        .then_expect_error(DomainError::Forbidden("only an admin can change roles"));
}

#[test]
fn an_admin_cannot_change_their_own_role() {
    let me = Uuid::now_v7();
    given::<User>(&[registered(Role::Admin)])
        .when(UserCommand::ChangeRole(ChangeRole {
            user_id: me,
            role: Role::User,
            actor: Actor::User {
                id: me,
                role: Role::Admin,
            },
        }))
        .then_expect_error(DomainError::Forbidden("you cannot change your own role"));
}

#[test]
fn changing_the_role_of_an_unknown_user_is_not_found() {
    given::<User>(&[])
        .when(UserCommand::ChangeRole(ChangeRole {
            user_id: Uuid::now_v7(),
            role: Role::Admin,
            actor: admin(),
        }))
        .then_expect_error(DomainError::NotFound);
}

#[test]
fn the_role_changes_fold_into_state() {
    let state = <User as moviedb_domain::Aggregate>::replay(&[
        registered(Role::User),
        UserEvent::RoleChanged(UserRoleChanged { role: Role::Admin }),
    ]);
    assert_eq!(state.role(), Some(Role::Admin));
}

#[test]
fn user_events_round_trip_through_their_stored_form() {
    for event in [
        registered(Role::User),
        UserEvent::RoleChanged(UserRoleChanged { role: Role::Admin }),
    ] {
        let decoded =
            UserEvent::decode(event.event_type(), event.schema_version(), event.payload())
                .expect("decodes");
        assert_eq!(decoded, event);
    }
    assert!(UserEvent::decode("UserRegistered", 99, serde_json::json!({})).is_err());
    assert!(UserEvent::decode("UserDeleted", 1, serde_json::json!({})).is_err());
}

#[test]
fn email_rules() {
    for ok in [
        "a@b.co",
        "first.last+tag@sub.example.org",
        "  Ada@Example.COM ",
    ] {
        assert!(Email::parse(ok).is_ok(), "{ok} should be valid");
    }
    for bad in [
        "",
        "plain",
        "@example.com",
        "a@",
        "a@b",
        "a..b@example.com",
        "a@-b.com",
        "a b@example.com",
        "a@b.c0m",
    ] {
        assert!(Email::parse(bad).is_err(), "{bad} should be invalid");
    }
    let email = Email::parse("Ada@Example.COM").expect("valid");
    assert_eq!(email.key(), "ada@example.com");
}

#[test]
fn a_password_never_shows_in_debug_output() {
    let password = Password::parse("Secret_123".into()).expect("valid");
    assert!(!format!("{password:?}").contains("Secret_123"));
    let command = RegisterUser::parse(input(None), Actor::Anonymous, at()).expect("valid");
    assert!(!format!("{command:?}").contains("Secret_123"));
    assert!(!format!("{:?}", input(None)).contains("Secret_123"));
}
