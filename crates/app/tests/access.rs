//! The one authorization table: every kind of caller × every project action × a private and a
//! public project, asked of [`App::authorize`] on a real store. The JSON APIs, the web UI and
//! every other edge decide through this one function, so this table is theirs: the API's
//! callers (anonymous, personal and project tokens, a session's cookie) and the UI's visitors
//! (a session, anonymous) are rows of it. The admin CLI acts as the operator and is not a
//! caller: it authorizes nobody.
//!
//! The expected outcomes are written out by hand, not computed from `circlet_core::scope`, so a
//! change to the rules must change this table too.

use circlet_app::tokens::{Actor, AskedLimits, TokenPolicy, issue_personal, issue_project};
use circlet_app::{App, AppConfig, AppError, Caller};
use circlet_core::scope::{Action, ProjectScope};
use circlet_core::token::TokenName;
use circlet_core::{ProjectSlug, Role, Vcs};
use circlet_store::testkit::{TestDb, new_project, new_user};
use circlet_store::{BackendKind, Project, Store, User};
use circlet_testkit::both_backends;

/// What `authorize` answered, in one letter: Allow, Login required, Not found, Forbidden.
fn letter(outcome: &Result<circlet_app::access::ProjectAccess, AppError>) -> char {
    match outcome {
        Ok(_) => 'A',
        Err(AppError::LoginRequired) => 'L',
        Err(AppError::NotFound(m)) if m == "Project not found" => 'N',
        Err(AppError::Forbidden { .. }) => 'F',
        Err(other) => panic!("unexpected outcome: {other:?}"),
    }
}

/// The callers, in the order of the table's columns.
const CALLERS: [&str; 13] = [
    "anonymous",
    "outsider",
    "reader",
    "writer",
    "admin",
    "site-admin",
    "writer's personal token",
    "status token",
    "view-builds token",
    "all token",
    "other project's all token",
    "site-admin's token limited to read on gh/acme",
    "admin's token limited to gh/acme/other",
];

/// Rows: (action, private project, public project), one letter per caller above. On a public
/// project every token reads what anyone may (a credential never has less than none).
#[rustfmt::skip]
const TABLE: [(Action, &str, &str); 8] = [
    //                            private       public
    (Action::ReadStatus,          "NNAAAAAAFANAN", "AAAAAAAAAAAAA"),
    (Action::ReadBuilds,          "NNAAAAAFFANAN", "AAAAAAAAAAAAA"),
    (Action::ReadArtifacts,       "NNAAAAAFAANAN", "AAAAAAAAAAAAA"),
    (Action::ViewProject,         "NNAAAAAFFANAN", "AAAAAAAAAAAAA"),
    (Action::Trigger,             "NNFAAAAFFFNFN", "LFFAAAAFFFFFF"),
    (Action::ManageEnvVars,       "NNFFAAFFFFNFN", "LFFFAAFFFFFFF"),
    (Action::ManageProjectTokens, "NNFFAAFFFFNFN", "LFFFAAFFFFFFF"),
    (Action::ManageProject,       "NNFFAAFFFFNFN", "LFFFAAFFFFFFF"),
];

async fn user(store: &Store, login: &str, site_admin: bool) -> User {
    store
        .users()
        .create(&new_user(login, site_admin))
        .await
        .unwrap()
}

async fn project(store: &Store, owner: &User, slug: &str, public: bool) -> Project {
    let new = new_project(slug, public);
    store.projects().create(&new, owner.id).await.unwrap()
}

async fn project_token(store: &Store, project: &Project, scope: ProjectScope) -> Caller {
    let label = TokenName::parse(scope.as_str(), "label").unwrap();
    let (_, token) = issue_project(store, project, scope, &label, None, &Actor::default())
        .await
        .unwrap();
    Caller::Project { token }
}

/// Asks the whole table of one project (`public` or not) and checks every cell.
async fn table_holds(store: Store, public: bool) {
    let app = App::new(store.clone(), AppConfig::new("http://circlet.test"));
    let admin = user(&store, "ada", false).await;
    let here = project(&store, &admin, "gh/acme/here", public).await;
    let other = project(&store, &admin, "gh/acme/other", false).await;
    let reader = user(&store, "rita", false).await;
    let writer = user(&store, "will", false).await;
    for (u, role) in [(&reader, Role::Read), (&writer, Role::Write)] {
        store
            .projects()
            .set_member(here.id, u.id, role)
            .await
            .unwrap();
    }
    let policy = TokenPolicy {
        max_lifetime_days: None,
        personal_cap: 500,
    };
    let name = TokenName::parse("cli", "name").unwrap();
    let (_, personal) = issue_personal(
        &store,
        &policy,
        &writer,
        &name,
        None,
        &Default::default(),
        &Actor::default(),
    )
    .await
    .unwrap();
    let root = user(&store, "root", true).await;
    let limited = async |owner: &User, limits| {
        let (_, token) = issue_personal(
            &store,
            &policy,
            owner,
            &name,
            None,
            &limits,
            &Actor::default(),
        )
        .await
        .unwrap();
        Caller::Personal {
            user: owner.clone(),
            token,
        }
    };
    let root_read_acme = limited(
        &root,
        AskedLimits {
            organization: Some((Vcs::GitHub, "acme".into())),
            ceiling: Some(Role::Read),
            ..Default::default()
        },
    )
    .await;
    let admin_other = limited(
        &admin,
        AskedLimits {
            projects: vec![other.slug.clone()],
            ..Default::default()
        },
    )
    .await;
    let callers = [
        Caller::Anonymous,
        Caller::Session(user(&store, "otto", false).await),
        Caller::Session(reader),
        Caller::Session(writer.clone()),
        Caller::Session(admin),
        Caller::Session(root.clone()),
        Caller::Personal {
            user: writer,
            token: personal,
        },
        project_token(&store, &here, ProjectScope::Status).await,
        project_token(&store, &here, ProjectScope::ViewBuilds).await,
        project_token(&store, &here, ProjectScope::All).await,
        project_token(&store, &other, ProjectScope::All).await,
        root_read_acme,
        admin_other,
    ];
    let mut wrong = Vec::new();
    for (action, private_row, public_row) in TABLE {
        let row = if public { public_row } else { private_row };
        for ((caller, label), want) in callers.iter().zip(CALLERS).zip(row.chars()) {
            let got = app.authorize(caller, &here.slug, action).await;
            if letter(&got) != want {
                wrong.push(format!(
                    "{action:?} by {label}: {} (wanted {want})",
                    letter(&got)
                ));
            }
            // A user refused is told the role that would allow it; a token has no role.
            if let Err(AppError::Forbidden { needed }) = &got {
                let expected = caller.user().map(|_| action.required_role());
                assert_eq!(*needed, expected, "{action:?} by {label}");
            }
        }
    }
    assert!(wrong.is_empty(), "public: {public}\n{}", wrong.join("\n"));
}

async fn on_a_private_project(store: Store) {
    table_holds(store, false).await;
}

async fn on_a_public_project(store: Store) {
    table_holds(store, true).await;
}

/// An absent project is not found, whoever asks, for every action.
async fn an_absent_project_is_not_found_for_everyone(store: Store) {
    let app = App::new(store.clone(), AppConfig::new("http://circlet.test"));
    let root = user(&store, "root", true).await;
    let missing = ProjectSlug::parse("gh/acme/missing").unwrap();
    for caller in [Caller::Anonymous, Caller::Session(root)] {
        for action in Action::ALL {
            let got = app.authorize(&caller, &missing, action).await;
            assert_eq!(letter(&got), 'N', "{action:?} by {caller:?}");
        }
    }
}

/// A member removed is refused at once: the decision is not remembered past a membership change.
async fn a_removed_member_loses_access_at_once(store: Store) {
    let app = App::new(store.clone(), AppConfig::new("http://circlet.test"));
    let admin = user(&store, "ada", false).await;
    let here = project(&store, &admin, "gh/acme/here", false).await;
    let rita = user(&store, "rita", false).await;
    store
        .projects()
        .set_member(here.id, rita.id, Role::Read)
        .await
        .unwrap();
    let caller = Caller::Session(rita.clone());
    let before = app.authorize(&caller, &here.slug, Action::ReadBuilds).await;
    assert_eq!(letter(&before), 'A');
    store
        .projects()
        .remove_member(here.id, rita.id)
        .await
        .unwrap();
    let after = app.authorize(&caller, &here.slug, Action::ReadBuilds).await;
    assert_eq!(letter(&after), 'N');
}

async fn run<F, Fut>(kind: BackendKind, case: F)
where
    F: FnOnce(Store) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let db = TestDb::new(kind).await;
    let store = db.store().await;
    case(store.clone()).await;
    store.close().await;
}

both_backends!(
    run = run;
    on_a_private_project,
    on_a_public_project,
    an_absent_project_is_not_found_for_everyone,
    a_removed_member_loses_access_at_once,
);
