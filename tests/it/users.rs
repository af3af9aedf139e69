use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::support::{PASSWORD, TestApp, error_code};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admins_manage_the_users_of_their_company() {
    let app = TestApp::start().await;
    let admin = app.setup_admin().await;

    let response = admin
        .post(
            "/api/v1/users",
            json!({ "email": "member@example.com", "password": PASSWORD, "display_name": "Mem Ber" }),
        )
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let member: Value = response.json().await.unwrap();
    assert_eq!(member["role"], "member");
    assert_eq!(member["company_id"], admin.user["company_id"]);
    let member_id = member["id"].as_str().unwrap().to_owned();

    let duplicate = admin
        .post(
            "/api/v1/users",
            json!({ "email": "MEMBER@example.com", "password": PASSWORD }),
        )
        .await;
    assert_eq!(
        error_code(duplicate).await,
        (StatusCode::CONFLICT, "email_taken".to_owned())
    );

    let listed: Value = admin.get("/api/v1/users").await.json().await.unwrap();
    assert_eq!(listed.as_array().unwrap().len(), 2);

    // Members use the platform but do not manage it.
    let session = app.login("member@example.com", PASSWORD).await;
    let response = session.get("/api/v1/users").await;
    assert_eq!(
        error_code(response).await,
        (StatusCode::FORBIDDEN, "forbidden".to_owned())
    );
    let own: Value = session
        .get(&format!("/api/v1/users/{member_id}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(own["email"], "member@example.com");
    let admin_id = admin.user_id();
    let response = session.get(&format!("/api/v1/users/{admin_id}")).await;
    assert_eq!(
        response.status(),
        StatusCode::NOT_FOUND,
        "RLS hides other users from members"
    );

    let promoted: Value = admin
        .request(Method::PATCH, &format!("/api/v1/users/{member_id}"))
        .json(&json!({ "role": "admin", "display_name": "Boss" }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(promoted["role"], "admin");
    assert_eq!(promoted["display_name"], "Boss");

    let response = admin
        .request(Method::PATCH, &format!("/api/v1/users/{admin_id}"))
        .json(&json!({ "role": "member" }))
        .send()
        .await
        .unwrap();
    assert_eq!(
        error_code(response).await,
        (StatusCode::FORBIDDEN, "forbidden".to_owned())
    );

    // Disabling ends the user's sessions and refuses new logins.
    let response = admin
        .request(Method::PATCH, &format!("/api/v1/users/{member_id}"))
        .json(&json!({ "disabled": true }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(session.get("/api/v1/me").await.status(), StatusCode::UNAUTHORIZED);
    let response = app
        .client()
        .post(app.url("/api/v1/auth/login"))
        .json(&json!({ "email": "member@example.com", "password": PASSWORD }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN);

    let response = admin
        .request(Method::DELETE, &format!("/api/v1/users/{member_id}"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    let response = admin.get(&format!("/api/v1/users/{member_id}")).await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admin_resets_a_password_and_departments_belong_to_the_company() {
    let app = TestApp::start().await;
    let admin = app.setup_admin().await;
    let company_id = admin.user["company_id"].as_str().unwrap().to_owned();

    let response = admin
        .post(
            &format!("/api/v1/companies/{company_id}/departments"),
            json!({ "name": "Sales" }),
        )
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let sales: Value = response.json().await.unwrap();
    let duplicate = admin
        .post(
            &format!("/api/v1/companies/{company_id}/departments"),
            json!({ "name": "Sales" }),
        )
        .await;
    assert_eq!(
        error_code(duplicate).await,
        (StatusCode::CONFLICT, "department_exists".to_owned())
    );

    let member: Value = admin
        .post(
            "/api/v1/users",
            json!({ "email": "m@example.com", "password": PASSWORD, "department_id": sales["id"] }),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(member["department_id"], sales["id"]);

    let id = member["id"].as_str().unwrap();
    let response = admin
        .request(Method::PUT, &format!("/api/v1/users/{id}/password"))
        .json(&json!({ "password": "a brand new password" }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    app.login("m@example.com", "a brand new password").await;

    // A department of another company is refused.
    let other = app.create_user("other-admin@example.com", "Other Co", true).await;
    let other_session = app.login("other-admin@example.com", PASSWORD).await;
    let other_company = other["company_id"].as_str().unwrap();
    let foreign: Value = other_session
        .post(
            &format!("/api/v1/companies/{other_company}/departments"),
            json!({ "name": "Ops" }),
        )
        .await
        .json()
        .await
        .unwrap();
    let response = admin
        .request(Method::PATCH, &format!("/api/v1/users/{id}"))
        .json(&json!({ "department_id": foreign["id"] }))
        .send()
        .await
        .unwrap();
    assert_eq!(
        error_code(response).await,
        (StatusCode::UNPROCESSABLE_ENTITY, "invalid_input".to_owned())
    );
    app.stop().await;
}
