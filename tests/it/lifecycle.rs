use reqwest::StatusCode;

use crate::support::{ADMIN_EMAIL, Options, PASSWORD, TestApp, settings_for};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn data_and_certificate_survive_a_restart() {
    let mut app = TestApp::start().await;
    app.setup_admin().await;
    let cert_path = app.data_dir.join("tls/self-signed.crt");
    let cert = std::fs::read(&cert_path).unwrap();
    app.restart().await;
    assert_eq!(
        std::fs::read(&cert_path).unwrap(),
        cert,
        "the self-signed certificate is reused"
    );
    let session = app.login(ADMIN_EMAIL, PASSWORD).await;
    assert_eq!(session.get("/api/v1/me").await.status(), StatusCode::OK);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_platform_on_the_same_data_dir_is_refused() {
    let app = TestApp::start().await;
    let settings = settings_for(&app.data_dir, &Options::default(), None);
    let err = agentbox::app::start(settings)
        .await
        .expect_err("second start refused");
    assert!(
        err.to_string().contains("in use by another agentbox process"),
        "{err}"
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operator_certificates_are_served_and_bad_ones_refused() {
    let dir = tempfile::tempdir().unwrap();
    let certified = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    std::fs::write(&cert, certified.cert.pem()).unwrap();
    std::fs::write(&key, certified.key_pair.serialize_pem()).unwrap();
    let env = vec![
        ("AGENTBOX_TLS".to_owned(), "files".to_owned()),
        ("AGENTBOX_TLS_CERT".to_owned(), cert.display().to_string()),
        ("AGENTBOX_TLS_KEY".to_owned(), key.display().to_string()),
    ];
    let app = TestApp::start_with(Options {
        extra_env: env.clone(),
        ..Options::default()
    })
    .await;
    assert_eq!(
        app.client()
            .get(app.url("/health"))
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::OK
    );
    app.stop().await;

    std::fs::write(&key, "not a key").unwrap();
    let options = Options {
        extra_env: env,
        ..Options::default()
    };
    let settings = settings_for(&dir.path().join("data"), &options, None);
    let err = agentbox::app::start(settings)
        .await
        .expect_err("a broken key is refused");
    assert_eq!(err.exit_code(), 2, "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_lets_in_flight_requests_finish() {
    let app = TestApp::start().await;
    app.setup_admin().await;
    let client = app.client();
    // Open the (HTTP/2) connection first, so the login below is in flight at once.
    client.get(app.url("/health")).send().await.unwrap();
    // A login spends tens of milliseconds hashing: start one, then stop while it runs.
    let login = tokio::spawn({
        let url = app.url("/api/v1/auth/login");
        async move {
            client
                .post(url)
                .json(&serde_json::json!({ "email": ADMIN_EMAIL, "password": PASSWORD }))
                .send()
                .await
                .map(|r| r.status())
        }
    });
    tokio::time::sleep(std::time::Duration::from_millis(15)).await;
    let stopped = tokio::time::timeout(std::time::Duration::from_secs(15), app.stop()).await;
    assert!(stopped.is_ok(), "shutdown finishes within the grace period");
    assert_eq!(login.await.unwrap().unwrap(), StatusCode::OK);
}

/// With a drain time, a stopping replica keeps serving while `/ready` says 503 (`draining`), so
/// a load balancer takes it out before it refuses connections; then it stops as before.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopping_platform_drains_ready_says_503_while_requests_are_still_served() {
    let app = TestApp::start_with(Options {
        extra_env: vec![("AGENTBOX_SERVER_DRAIN_SECS".into(), "2".into())],
        ..Options::default()
    })
    .await;
    let client = app.client();
    let ready = client.get(app.url("/ready")).send().await.unwrap();
    assert_eq!(ready.status(), StatusCode::OK);
    app.running().shutdown_token().cancel();
    let ready = client.get(app.url("/ready")).send().await.unwrap();
    assert_eq!(ready.status(), StatusCode::SERVICE_UNAVAILABLE);
    let body: serde_json::Value = ready.json().await.unwrap();
    assert_eq!(body["draining"], true, "{body}");
    let setup = client.get(app.url("/api/v1/auth/setup")).send().await.unwrap();
    assert_eq!(
        setup.status(),
        StatusCode::OK,
        "requests are still served while draining"
    );
    let stopped = tokio::time::timeout(std::time::Duration::from_secs(15), app.stop()).await;
    assert!(stopped.is_ok(), "it stops after the drain time");
}
