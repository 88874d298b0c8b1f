//! Two-factor authentication and the login brute-force limit, on both databases: enrolment,
//! logins that need a code, recovery codes, the policy, disabling and the operator's reset,
//! lockouts per account and per address and their expiry. Time is passed in (`at`), so
//! lockout expiry and TOTP steps are tested without sleeping; codes are computed with totp-rs
//! as an authenticator app would.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::IpAddr;

use chrono::{DateTime, Duration, Utc};
use domain::audit::AuditFilter;
use domain::login_throttle::ThrottlePolicy;
use domain::testing::TestDb;
use domain::two_factor::{self, TwoFactorPolicy};
use domain::users::{self, LoginPolicy, SessionScope};
use domain::{Actor, DomainError};
use mobile_shared::wire::{LoginRequest, LoginResponse, NewUser, TwoFactorProof};
use mobile_shared::{ErrorCode, Role};
use totp_rs::{Algorithm, Secret, TOTP};
use uuid::Uuid;

domain::backend_matrix!(
    TestDb:
    enrolment_is_confirmed_by_a_code_and_then_logins_need_one,
    recovery_codes_work_once_and_renew,
    the_policy_sends_unenrolled_users_to_enrolment,
    disabling_needs_proof_and_the_operator_resets,
    an_account_locks_after_five_failures_and_unlocks_by_itself,
    an_address_locks_after_its_own_limit,
);

const PASSWORD: &str = "correct horse battery";

/// A fixed instant on a step boundary, so `at + 30 s` is the next step.
fn t0() -> DateTime<Utc> {
    let now = domain::clock::now().timestamp();
    DateTime::from_timestamp(now - now.rem_euclid(30), 0).unwrap()
}

async fn add_user(db: &TestDb, name: &str, role: Role) -> Uuid {
    users::create(
        &db.store,
        &Actor::system(),
        NewUser {
            username: name.into(),
            password: PASSWORD.into(),
            role,
            email: None,
        },
    )
    .await
    .unwrap()
    .id
}

fn actor(id: Uuid, name: &str, role: Role) -> Actor {
    Actor::user(id, name, role, mobile_shared::wire::AuditSource::Api)
}

/// The code an authenticator app shows for `secret` at `at`.
fn code(secret: &str, at: DateTime<Utc>) -> String {
    let bytes = Secret::Encoded(secret.to_owned()).to_bytes().unwrap();
    TOTP::new(Algorithm::SHA1, 6, 0, 30, bytes, None, "test".into())
        .unwrap()
        .generate(at.timestamp() as u64)
}

fn policy() -> LoginPolicy {
    LoginPolicy::with_ttl(Duration::hours(1))
}

async fn login_with(
    db: &TestDb,
    req: LoginRequest,
    client: Option<IpAddr>,
    policy: &LoginPolicy,
    at: DateTime<Utc>,
) -> Result<LoginResponse, DomainError> {
    users::login(&db.store, &req, client, policy, at).await
}

async fn login(
    db: &TestDb,
    name: &str,
    password: &str,
    at: DateTime<Utc>,
) -> Result<LoginResponse, DomainError> {
    login_with(db, LoginRequest::new(name, password), None, &policy(), at).await
}

async fn login_totp(
    db: &TestDb,
    name: &str,
    totp: &str,
    at: DateTime<Utc>,
) -> Result<LoginResponse, DomainError> {
    let req = LoginRequest {
        totp_code: Some(totp.to_owned()),
        ..LoginRequest::new(name, PASSWORD)
    };
    login_with(db, req, None, &policy(), at).await
}

async fn login_recovery(
    db: &TestDb,
    name: &str,
    recovery: &str,
    at: DateTime<Utc>,
) -> Result<LoginResponse, DomainError> {
    let req = LoginRequest {
        recovery_code: Some(recovery.to_owned()),
        ..LoginRequest::new(name, PASSWORD)
    };
    login_with(db, req, None, &policy(), at).await
}

fn code_of<T: std::fmt::Debug>(r: Result<T, DomainError>) -> ErrorCode {
    r.expect_err("expected a refusal").code()
}

/// Enrols `id` (`name`) at `at`: the secret and the recovery codes.
async fn enrol(db: &TestDb, id: Uuid, name: &str, at: DateTime<Utc>) -> (String, Vec<String>) {
    let who = actor(id, name, Role::Technician);
    let started = two_factor::start_enrolment(&db.store, &who, id, name, "ACME", at)
        .await
        .unwrap();
    let codes = two_factor::confirm(&db.store, &who, id, &code(&started.secret, at), at)
        .await
        .unwrap();
    (started.secret, codes.recovery_codes)
}

async fn actions(db: &TestDb, user: Uuid) -> Vec<String> {
    let filter = AuditFilter {
        entity_id: Some(user),
        ..AuditFilter::default()
    };
    let mut actions: Vec<String> = db
        .audit(filter)
        .await
        .into_iter()
        .map(|e| e.action)
        .collect();
    actions.reverse();
    actions
}

async fn enrolment_is_confirmed_by_a_code_and_then_logins_need_one(db: TestDb) {
    let at = t0();
    let id = add_user(&db, "alice", Role::Technician).await;
    let who = actor(id, "alice", Role::Technician);
    let started = two_factor::start_enrolment(&db.store, &who, id, "alice", "ACME", at)
        .await
        .unwrap();
    assert_eq!(started.secret.len(), 32, "160 bits in base32");
    assert!(
        started
            .otpauth_uri
            .starts_with("otpauth://totp/ACME:alice?secret="),
        "{}",
        started.otpauth_uri
    );
    let status = two_factor::status(&db.store, id, Role::Technician, &TwoFactorPolicy::default())
        .await
        .unwrap();
    assert!(status.pending && !status.enabled && !status.required);
    // Not active before it is confirmed: the password alone still logs in.
    login(&db, "alice", PASSWORD, at).await.unwrap();

    // A wrong code confirms nothing.
    let wrong = two_factor::confirm(&db.store, &who, id, "000000", at).await;
    assert!(matches!(wrong, Err(DomainError::Validation(ref f)) if f.contains_key("code")));
    assert!(!two_factor::is_enabled(&db.store, id).await.unwrap());

    let codes = two_factor::confirm(&db.store, &who, id, &code(&started.secret, at), at)
        .await
        .unwrap();
    assert_eq!(codes.recovery_codes.len(), two_factor::RECOVERY_CODES);
    let status = two_factor::status(&db.store, id, Role::Technician, &TwoFactorPolicy::default())
        .await
        .unwrap();
    assert!(status.enabled && !status.pending);
    assert_eq!(status.recovery_codes_left, 10);
    // Only hashes are stored.
    let stored: Vec<(String,)> = db.rows("SELECT code_hash FROM user_recovery_codes").await;
    assert!(stored.iter().all(|(h,)| h.starts_with("$argon2id$")));
    assert!(stored
        .iter()
        .all(|(h,)| codes.recovery_codes.iter().all(|c| !h.contains(c.as_str()))));

    // The password alone is no longer enough, and saying so is not a failure.
    let at = at + Duration::seconds(30);
    assert_eq!(
        code_of(login(&db, "alice", PASSWORD, at).await),
        ErrorCode::TwoFactorRequired
    );
    assert_eq!(db.count("SELECT COUNT(*) FROM login_throttle").await, 0);
    // A wrong code is a failed login.
    assert_eq!(
        code_of(login_totp(&db, "alice", "123456", at).await),
        ErrorCode::InvalidTwoFactorCode
    );
    assert_eq!(
        db.count("SELECT COUNT(*) FROM login_throttle WHERE key = 'user:alice' AND failures = 1")
            .await,
        1
    );
    // A wrong password with a right code is still a wrong password.
    let req = LoginRequest {
        totp_code: Some(code(&started.secret, at)),
        ..LoginRequest::new("alice", "not the password")
    };
    assert_eq!(
        code_of(login_with(&db, req, None, &policy(), at).await),
        ErrorCode::InvalidCredentials
    );
    // The right code logs in and forgets the failures.
    let current = code(&started.secret, at);
    let session = login_totp(&db, "alice", &current, at).await.unwrap();
    assert_eq!(session.user.username, "alice");
    assert!(users::authenticate(&db.store, &session.token)
        .await
        .unwrap()
        .is_some());
    assert_eq!(db.count("SELECT COUNT(*) FROM login_throttle").await, 0);
    // The same code again (replay), or the previous step's, is refused.
    assert_eq!(
        code_of(login_totp(&db, "alice", &current, at).await),
        ErrorCode::InvalidTwoFactorCode
    );
    let previous = code(&started.secret, at - Duration::seconds(30));
    assert_eq!(
        code_of(login_totp(&db, "alice", &previous, at).await),
        ErrorCode::InvalidTwoFactorCode
    );
    // One step of skew: the next step's code works now, and a code two steps away never.
    let next = code(&started.secret, at + Duration::seconds(30));
    login_totp(&db, "alice", &next, at).await.unwrap();
    let far = code(&started.secret, at + Duration::seconds(120));
    assert_eq!(
        code_of(login_totp(&db, "alice", &far, at + Duration::seconds(30)).await),
        ErrorCode::InvalidTwoFactorCode
    );
    // Both codes at once is a malformed request, refused before anything is counted.
    let both = LoginRequest {
        totp_code: Some("1".into()),
        recovery_code: Some("2".into()),
        ..LoginRequest::new("alice", PASSWORD)
    };
    let refused = login_with(&db, both, None, &policy(), at).await;
    assert!(
        matches!(refused, Err(DomainError::Validation(ref f)) if f.contains_key("recovery_code"))
    );

    assert_eq!(
        actions(&db, id).await,
        [
            "user.create",
            "user.two_factor_setup",
            "user.two_factor_enable"
        ]
    );
    // The audit log never holds the secret.
    let audit = db
        .audit(AuditFilter {
            entity_id: Some(id),
            ..AuditFilter::default()
        })
        .await;
    let text = serde_json::to_string(&audit).unwrap();
    assert!(!text.contains(&started.secret));
}

async fn recovery_codes_work_once_and_renew(db: TestDb) {
    let at = t0();
    let id = add_user(&db, "rita", Role::Viewer).await;
    let (secret, codes) = enrol(&db, id, "rita", at).await;
    // A recovery code logs in once; typed in capitals and without its dash it is the same code.
    let typed = codes[0].replace('-', "").to_uppercase();
    login_recovery(&db, "rita", &typed, at).await.unwrap();
    assert_eq!(
        code_of(login_recovery(&db, "rita", &codes[0], at).await),
        ErrorCode::InvalidTwoFactorCode
    );
    // A recovery code is not an authenticator code.
    assert_eq!(
        code_of(login_totp(&db, "rita", &codes[1], at).await),
        ErrorCode::InvalidTwoFactorCode
    );
    let status = two_factor::status(&db.store, id, Role::Viewer, &TwoFactorPolicy::default())
        .await
        .unwrap();
    assert_eq!(status.recovery_codes_left, 9);

    // Renewing needs proof: a wrong password is refused (and counted), the right one renews.
    let who = actor(id, "rita", Role::Viewer);
    let throttle = ThrottlePolicy::default();
    let wrong = TwoFactorProof {
        password: Some("not the password".into()),
        code: None,
    };
    let refused =
        two_factor::renew_recovery_codes(&db.store, &who, id, "rita", &wrong, &throttle, at).await;
    assert!(matches!(refused, Err(DomainError::Validation(ref f)) if f.contains_key("password")));
    let neither = TwoFactorProof::default();
    assert!(
        two_factor::renew_recovery_codes(&db.store, &who, id, "rita", &neither, &throttle, at)
            .await
            .is_err()
    );
    let proof = TwoFactorProof {
        password: Some(PASSWORD.into()),
        code: None,
    };
    let fresh =
        two_factor::renew_recovery_codes(&db.store, &who, id, "rita", &proof, &throttle, at)
            .await
            .unwrap();
    assert_eq!(fresh.recovery_codes.len(), 10);
    assert!(fresh.recovery_codes.iter().all(|c| !codes.contains(c)));
    // Old codes are gone; new ones work.
    assert_eq!(
        code_of(login_recovery(&db, "rita", &codes[1], at).await),
        ErrorCode::InvalidTwoFactorCode
    );
    login_recovery(&db, "rita", &fresh.recovery_codes[3], at)
        .await
        .unwrap();
    // Renewing with an authenticator code works too, but not with the code that confirmed
    // the enrolment (used already).
    let used = TwoFactorProof {
        password: None,
        code: Some(code(&secret, at)),
    };
    let replayed =
        two_factor::renew_recovery_codes(&db.store, &who, id, "rita", &used, &throttle, at).await;
    assert!(matches!(replayed, Err(DomainError::Validation(ref f)) if f.contains_key("code")));
    let later = at + Duration::seconds(30);
    let by_code = TwoFactorProof {
        password: None,
        code: Some(code(&secret, later)),
    };
    two_factor::renew_recovery_codes(&db.store, &who, id, "rita", &by_code, &throttle, later)
        .await
        .unwrap();

    assert_eq!(
        actions(&db, id).await,
        [
            "user.create",
            "user.two_factor_setup",
            "user.two_factor_enable",
            "user.two_factor_recovery_use",
            "user.two_factor_recovery_renew",
            "user.two_factor_recovery_use",
            "user.two_factor_recovery_renew",
        ]
    );
    let used = db
        .audit(AuditFilter {
            action: Some("user.two_factor_recovery_use".into()),
            ..AuditFilter::default()
        })
        .await;
    let lefts: Vec<i64> = used
        .iter()
        .rev()
        .map(|e| {
            e.after.as_ref().unwrap()["recovery_codes_left"]
                .as_i64()
                .unwrap()
        })
        .collect();
    assert_eq!(lefts, [9, 9]);
}

async fn the_policy_sends_unenrolled_users_to_enrolment(db: TestDb) {
    let at = t0();
    let fin = add_user(&db, "fiona", Role::Finance).await;
    add_user(&db, "victor", Role::Viewer).await;
    let policy = LoginPolicy {
        two_factor: TwoFactorPolicy::required_for([Role::Admin, Role::Finance]),
        ..policy()
    };
    // A role outside the policy logs in as before.
    login_with(
        &db,
        LoginRequest::new("victor", PASSWORD),
        None,
        &policy,
        at,
    )
    .await
    .unwrap();
    // A required role without 2FA gets an enrolment session, not a session.
    let refused = login_with(&db, LoginRequest::new("fiona", PASSWORD), None, &policy, at).await;
    let Err(DomainError::Conflict {
        code: ErrorCode::TwoFactorEnrolmentRequired,
        detail: Some(detail),
        ..
    }) = refused
    else {
        panic!("expected two_factor_enrolment_required: {refused:?}");
    };
    let token = detail["enrolment_token"].as_str().unwrap();
    let expires: DateTime<Utc> = detail["expires_at"].as_str().unwrap().parse().unwrap();
    assert_eq!(
        expires,
        at + Duration::minutes(users::ENROLMENT_SESSION_MINUTES)
    );
    // It is no session for the API at large, only for enrolment.
    assert!(users::authenticate(&db.store, token)
        .await
        .unwrap()
        .is_none());
    let (who, scope) = users::authenticate_enrolling(&db.store, token)
        .await
        .unwrap()
        .unwrap();
    assert_eq!((who.id, scope), (fin, SessionScope::TwoFactorEnrolment));
    // A wrong password never gets that far.
    let wrong = login_with(
        &db,
        LoginRequest::new("fiona", "nope-nope-nope"),
        None,
        &policy,
        at,
    )
    .await;
    assert_eq!(code_of(wrong), ErrorCode::InvalidCredentials);

    let (secret, _) = enrol(&db, fin, "fiona", at).await;
    let status = two_factor::status(&db.store, fin, Role::Finance, &policy.two_factor)
        .await
        .unwrap();
    assert!(status.enabled && status.required);
    let later = at + Duration::seconds(30);
    let req = LoginRequest {
        totp_code: Some(code(&secret, later)),
        ..LoginRequest::new("fiona", PASSWORD)
    };
    let session = login_with(&db, req, None, &policy, later).await.unwrap();
    assert!(users::authenticate(&db.store, &session.token)
        .await
        .unwrap()
        .is_some());

    // A required role cannot turn it off, even with the right password.
    let proof = TwoFactorProof {
        password: Some(PASSWORD.into()),
        code: None,
    };
    let off = two_factor::disable(
        &db.store,
        &actor(fin, "fiona", Role::Finance),
        fin,
        "fiona",
        Role::Finance,
        &proof,
        &policy.two_factor,
        &ThrottlePolicy::default(),
        later,
    )
    .await;
    assert_eq!(code_of(off), ErrorCode::TwoFactorRequiredByPolicy);
    assert!(two_factor::is_enabled(&db.store, fin).await.unwrap());
}

async fn disabling_needs_proof_and_the_operator_resets(db: TestDb) {
    let at = t0();
    let id = add_user(&db, "dora", Role::Dispatcher).await;
    let (secret, _) = enrol(&db, id, "dora", at).await;
    let who = actor(id, "dora", Role::Dispatcher);
    let none = TwoFactorPolicy::default();
    let throttle = ThrottlePolicy::default();
    let disable = |proof: TwoFactorProof, at: DateTime<Utc>| {
        let (db, who, none, throttle) = (&db, &who, &none, &throttle);
        async move {
            two_factor::disable(
                &db.store,
                who,
                id,
                "dora",
                Role::Dispatcher,
                &proof,
                none,
                throttle,
                at,
            )
            .await
        }
    };
    let wrong = disable(
        TwoFactorProof {
            password: None,
            code: Some("999999".into()),
        },
        at,
    )
    .await;
    assert!(matches!(wrong, Err(DomainError::Validation(ref f)) if f.contains_key("code")));
    assert!(two_factor::is_enabled(&db.store, id).await.unwrap());
    assert_eq!(
        db.count("SELECT COUNT(*) FROM login_throttle WHERE key = 'user:dora'")
            .await,
        1,
        "a wrong proof counts as a failed login"
    );
    let later = at + Duration::seconds(30);
    disable(
        TwoFactorProof {
            password: None,
            code: Some(code(&secret, later)),
        },
        later,
    )
    .await
    .unwrap();
    assert!(!two_factor::is_enabled(&db.store, id).await.unwrap());
    assert_eq!(
        db.count("SELECT COUNT(*) FROM user_recovery_codes").await,
        0
    );
    login(&db, "dora", PASSWORD, later).await.unwrap();
    // Disabling what is off is a conflict.
    let again = disable(
        TwoFactorProof {
            password: Some(PASSWORD.into()),
            code: None,
        },
        later,
    )
    .await;
    assert_eq!(code_of(again), ErrorCode::IllegalTransition);

    // The operator's reset: the state goes, the account's lock lifts, audited as the CLI.
    let (_, _) = enrol(&db, id, "dora", later).await;
    for _ in 0..5 {
        let _ = login(&db, "dora", "wrong-password", later).await;
    }
    assert_eq!(
        code_of(login(&db, "dora", PASSWORD, later).await),
        ErrorCode::TooManyAttempts
    );
    let live = "SELECT COUNT(*) FROM sessions WHERE revoked_at IS NULL";
    assert!(db.count(live).await > 0, "dora signed in earlier");
    two_factor::reset(&db.store, &Actor::cli(), id)
        .await
        .unwrap();
    assert!(!two_factor::is_enabled(&db.store, id).await.unwrap());
    // The lost phone's sessions end with the reset.
    assert_eq!(db.count(live).await, 0);
    login(&db, "dora", PASSWORD, later).await.unwrap();
    assert!(matches!(
        two_factor::reset(&db.store, &Actor::cli(), Uuid::now_v7()).await,
        Err(DomainError::NotFound { .. })
    ));
    assert_eq!(
        actions(&db, id).await,
        [
            "user.create",
            "user.two_factor_setup",
            "user.two_factor_enable",
            "user.two_factor_disable",
            "user.two_factor_setup",
            "user.two_factor_enable",
            "user.two_factor_reset",
        ]
    );
    let reset = db
        .audit(AuditFilter {
            action: Some("user.two_factor_reset".into()),
            ..AuditFilter::default()
        })
        .await;
    assert_eq!(reset[0].actor, "cli");
}

async fn an_account_locks_after_five_failures_and_unlocks_by_itself(db: TestDb) {
    let at = t0();
    add_user(&db, "bob", Role::Technician).await;
    for i in 0..4 {
        let r = login(&db, "Bob", "wrong-password", at + Duration::seconds(i)).await;
        assert_eq!(code_of(r), ErrorCode::InvalidCredentials, "failure {i}");
    }
    // The fifth failure locks the account for 15 minutes.
    let fifth = login(&db, "bob", "wrong-password", at + Duration::seconds(4)).await;
    assert!(
        matches!(
            fifth,
            Err(DomainError::TooManyAttempts {
                retry_after_secs: 900
            })
        ),
        "{fifth:?}"
    );
    // Locked: even the right password is refused, without being checked.
    let locked = login(&db, "bob", PASSWORD, at + Duration::minutes(5)).await;
    assert!(
        matches!(
            locked,
            Err(DomainError::TooManyAttempts {
                retry_after_secs: 604
            })
        ),
        "{locked:?}"
    );
    // An unknown account locks the same way: nothing tells whether it exists.
    for i in 0..4 {
        let r = login(&db, "ghost", "wrong-password", at + Duration::seconds(i)).await;
        assert_eq!(code_of(r), ErrorCode::InvalidCredentials);
    }
    let ghost = login(&db, "ghost", "wrong-password", at + Duration::seconds(4)).await;
    assert!(matches!(
        ghost,
        Err(DomainError::TooManyAttempts {
            retry_after_secs: 900
        })
    ));
    // Other accounts are not affected.
    add_user(&db, "carol", Role::Technician).await;
    login(&db, "carol", PASSWORD, at + Duration::minutes(5))
        .await
        .unwrap();

    // The lock lifts by itself.
    let after = at + Duration::seconds(4) + Duration::minutes(15);
    login(&db, "bob", PASSWORD, after).await.unwrap();
    // A success forgets the failures: four more do not lock.
    for i in 0..4 {
        let r = login(&db, "bob", "wrong-password", after + Duration::seconds(i)).await;
        assert_eq!(code_of(r), ErrorCode::InvalidCredentials);
    }
    login(&db, "bob", PASSWORD, after + Duration::seconds(5))
        .await
        .unwrap();
    // Failures older than the window do not count.
    let start = after + Duration::minutes(1);
    for i in 0..4 {
        let _ = login(&db, "bob", "wrong-password", start + Duration::seconds(i)).await;
    }
    let late = start + Duration::minutes(16);
    let r = login(&db, "bob", "wrong-password", late).await;
    assert_eq!(code_of(r), ErrorCode::InvalidCredentials);
    login(&db, "bob", PASSWORD, late).await.unwrap();
    // Rows whose window and lock are over are pruned by later failures.
    let _ = login(&db, "someone", "x-wrong-pass", late + Duration::hours(1)).await;
    assert_eq!(db.count("SELECT COUNT(*) FROM login_throttle").await, 1);
}

async fn an_address_locks_after_its_own_limit(db: TestDb) {
    let at = t0();
    add_user(&db, "erin", Role::Technician).await;
    let policy = LoginPolicy {
        throttle: ThrottlePolicy {
            account_max_failures: 100,
            client_max_failures: 3,
            ..ThrottlePolicy::default()
        },
        ..policy()
    };
    let a: IpAddr = "2001:db8:aa:1::10".parse().unwrap();
    let a_sibling: IpAddr = "2001:db8:aa:1::99".parse().unwrap();
    let b: IpAddr = "198.51.100.4".parse().unwrap();
    // Three different accounts guessed from one address lock the address.
    for (i, name) in ["u1", "u2", "u3"].iter().enumerate() {
        let r = login_with(
            &db,
            LoginRequest::new(*name, "wrong-password"),
            Some(a),
            &policy,
            at + Duration::seconds(i as i64),
        )
        .await;
        if i < 2 {
            assert_eq!(code_of(r), ErrorCode::InvalidCredentials);
        } else {
            assert_eq!(code_of(r), ErrorCode::TooManyAttempts);
        }
    }
    // From that address (and its /64) nobody logs in now, not even with the right password.
    for ip in [a, a_sibling] {
        let r = login_with(
            &db,
            LoginRequest::new("erin", PASSWORD),
            Some(ip),
            &policy,
            at,
        )
        .await;
        assert_eq!(code_of(r), ErrorCode::TooManyAttempts, "{ip}");
    }
    // From elsewhere the same account is fine: the account itself is not locked.
    login_with(
        &db,
        LoginRequest::new("erin", PASSWORD),
        Some(b),
        &policy,
        at,
    )
    .await
    .unwrap();
    // A success elsewhere does not reset the address; its lock lifts by itself.
    let later = at + Duration::minutes(15) + Duration::seconds(3);
    login_with(
        &db,
        LoginRequest::new("erin", PASSWORD),
        Some(a),
        &policy,
        later,
    )
    .await
    .unwrap();
}
