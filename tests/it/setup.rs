//! First-run setup with and without sample data: the setup state lists the companies a first
//! admin may join (only while no user exists), the first admin lands in the first sample
//! company unless they name another, and `agentbox user create`'s company choice.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support::{ADMIN_EMAIL, Options, PASSWORD, TestApp, error_code};
use agentbox::domain::Role;
use agentbox::service::ServiceError;
use agentbox::service::companies::CompanyChoice;
use agentbox::service::users::CreateUser;

const SAMPLE: [&str; 3] = ["Acme Manufacturing", "Globex Retail", "Initech Software"];

async fn with_sample_data() -> TestApp {
    TestApp::start_with(Options {
        sample_data: true,
        ..Options::default()
    })
    .await
}

async fn setup_state(app: &TestApp) -> Value {
    let response = app
        .client()
        .get(app.url("/api/v1/auth/setup"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    response.json().await.unwrap()
}

async fn setup(app: &TestApp, body: Value) -> crate::support::Session {
    let client = app.client();
    let response = client
        .post(app.url("/api/v1/auth/setup"))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    let signed_in: Value = response.json().await.unwrap();
    crate::support::Session::from_sign_in(app, client, &signed_in)
}

async fn json(response: reqwest::Response) -> Value {
    assert_eq!(response.status(), StatusCode::OK);
    response.json().await.unwrap()
}

fn member(email: &str) -> CreateUser {
    CreateUser {
        email: email.to_owned(),
        password: PASSWORD.to_owned(),
        display_name: None,
        role: Role::Member,
        department_id: None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn setup_with_sample_data_joins_the_first_sample_company_and_sees_its_kpis() {
    let app = with_sample_data().await;
    let state = setup_state(&app).await;
    assert_eq!(state["setup_needed"], true);
    let companies = state["companies"].as_array().unwrap();
    let names: Vec<&str> = companies.iter().map(|c| c["name"].as_str().unwrap()).collect();
    assert_eq!(
        names, SAMPLE,
        "sample companies first, the default first: {state}"
    );
    for company in companies {
        assert_eq!(company["sample"], true);
        assert_eq!(company["kpis"], 12, "{company}");
    }

    // No company named: the first admin joins the first sample company.
    let admin = setup(&app, json!({ "email": ADMIN_EMAIL, "password": PASSWORD })).await;
    let kpis = json(admin.get("/api/v1/kpis").await).await;
    assert_eq!(kpis.as_array().unwrap().len(), 12, "{kpis}");
    let overview = json(admin.get("/api/v1/kpis/overview").await).await;
    assert_eq!(
        overview,
        json!({ "company": "Acme Manufacturing", "kpis": 12, "sample_companies": SAMPLE })
    );
    let report = json(admin.get("/api/v1/kpis/performance?period=last_quarter").await).await;
    assert!(!report["rows"].as_array().unwrap().is_empty(), "{report}");

    // Once set up, the setup state lists nothing, to anyone.
    let state = setup_state(&app).await;
    assert_eq!(state, json!({ "setup_needed": false, "companies": [] }));
    let again = app
        .client()
        .post(app.url("/api/v1/auth/setup"))
        .json(&json!({ "email": "late@example.com", "password": PASSWORD, "company": "Globex Retail" }))
        .send()
        .await
        .unwrap();
    assert_eq!(
        error_code(again).await,
        (StatusCode::CONFLICT, "already_set_up".to_owned())
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn setup_joins_a_named_company_in_any_case_or_creates_a_new_one() {
    let app = with_sample_data().await;
    let admin = setup(
        &app,
        json!({ "email": ADMIN_EMAIL, "password": PASSWORD, "company": "  globex retail " }),
    )
    .await;
    let overview = json(admin.get("/api/v1/kpis/overview").await).await;
    assert_eq!(overview["company"], "Globex Retail");
    assert_eq!(overview["kpis"], 12);

    // The CLI's default, after setup, is the first admin's company.
    let services = app.services();
    let (user, company) = services
        .users
        .create_from_cli(member("m1@example.com"), CompanyChoice::Default)
        .await
        .unwrap();
    assert_eq!(company.name, "Globex Retail");
    assert_eq!(user.company_id, Some(company.id));
    // A name that matches no company is refused while companies exist, and says which exist.
    let err = services
        .users
        .create_from_cli(
            member("m2@example.com"),
            CompanyChoice::Existing("Acme Manufactoring".into()),
        )
        .await
        .unwrap_err();
    let ServiceError::InvalidInput { field, message } = err else {
        panic!("{err:?}")
    };
    assert_eq!(field, "company");
    assert!(
        message.contains("\"Acme Manufacturing\"") && message.contains("--create-company"),
        "{message}"
    );
    // Asked for, it is made.
    let (_, company) = services
        .users
        .create_from_cli(
            member("m3@example.com"),
            CompanyChoice::ExistingOrNew("Zeta Labs".into()),
        )
        .await
        .unwrap();
    assert_eq!(company.name, "Zeta Labs");
    let member = app.login("m3@example.com", PASSWORD).await;
    let overview = json(member.get("/api/v1/kpis/overview").await).await;
    assert_eq!(
        overview,
        json!({ "company": "Zeta Labs", "kpis": 0, "sample_companies": SAMPLE })
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn setup_with_sample_data_may_start_a_new_company() {
    let app = with_sample_data().await;
    // Before anyone exists, the CLI's default is the first sample company too.
    let (_, company) = app
        .services()
        .users
        .create_from_cli(member("early@example.com"), CompanyChoice::Default)
        .await
        .unwrap();
    assert_eq!(company.name, "Acme Manufacturing");
    app.stop().await;

    let app = with_sample_data().await;
    let admin = setup(
        &app,
        json!({ "email": ADMIN_EMAIL, "password": PASSWORD, "company": "Umbrella Health" }),
    )
    .await;
    let overview = json(admin.get("/api/v1/kpis/overview").await).await;
    assert_eq!(
        overview,
        json!({ "company": "Umbrella Health", "kpis": 0, "sample_companies": SAMPLE })
    );
    assert_eq!(json(admin.get("/api/v1/kpis").await).await, json!([]));
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn setup_without_sample_data_lists_no_company_and_makes_one() {
    let app = TestApp::start().await;
    assert_eq!(
        setup_state(&app).await,
        json!({ "setup_needed": true, "companies": [] })
    );
    let response = app
        .client()
        .post(app.url("/api/v1/auth/setup"))
        .json(&json!({ "email": ADMIN_EMAIL, "password": PASSWORD, "company": "   " }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let body: Value = response.json().await.unwrap();
    assert_eq!(
        (body["code"].as_str(), body["field"].as_str()),
        (Some("invalid_input"), Some("company"))
    );

    let admin = setup(&app, json!({ "email": ADMIN_EMAIL, "password": PASSWORD })).await;
    let overview = json(admin.get("/api/v1/kpis/overview").await).await;
    assert_eq!(
        overview,
        json!({ "company": "My Company", "kpis": 0, "sample_companies": [] })
    );
    app.stop().await;
}
