//! KPIs through the REST API and through the analyst's tools, on the sample data: a member
//! sees their own company's KPIs only, "which departments missed their revenue target last
//! quarter?" gets the answer the sample data's header states, and `sql_query` stays read-only,
//! inside the company and within its time limit.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use agentbox::domain::Identity;
use agentbox::engine::ToolCall;
use agentbox::service::tools::{ToolContext, ToolError, ToolRegistry, kpi};
use agentbox::store::{Actor, DatabaseKind};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support::{Options, PASSWORD, Session, TestApp, error_code};

const ACME: &str = "Acme Manufacturing";
const GLOBEX: &str = "Globex Retail";
const INITECH: &str = "Initech Software";

async fn sample_app() -> TestApp {
    TestApp::start_with(Options {
        sample_data: true,
        ..Options::default()
    })
    .await
}

/// A signed-in member of `company`, and the identity tools run with.
async fn member(app: &TestApp, email: &str, company: &str) -> (Session, Identity) {
    app.create_user(email, company, false).await;
    let session = app.login(email, PASSWORD).await;
    let key = session.api_key("tools", &["read"]).await;
    let identity = app
        .services()
        .auth
        .authenticate_api_key(&key)
        .await
        .unwrap()
        .expect("the key signs in");
    (session, identity)
}

struct Tools {
    registry: ToolRegistry,
    context: ToolContext,
}

impl Tools {
    fn new(app: &TestApp, caller: Identity) -> Self {
        let registry = ToolRegistry::default();
        kpi::register(&registry, app.store().clone());
        Self {
            registry,
            context: ToolContext {
                caller,
                agent: "analyst".into(),
            },
        }
    }

    async fn call(&self, name: &str, arguments: Value) -> Result<Value, ToolError> {
        let allowed: Vec<String> = ["list_kpis", "kpi_values", "kpi_vs_target", "sql_query"]
            .map(str::to_owned)
            .to_vec();
        let call = ToolCall {
            id: "call-1".into(),
            name: name.into(),
            arguments,
        };
        self.registry
            .call(&self.context, &allowed, &call, Duration::from_mins(1))
            .await
    }

    async fn sql(&self, query: &str) -> Result<Value, ToolError> {
        self.call("sql_query", json!({ "query": query })).await
    }
}

/// The ids of a company's KPIs, read as the platform itself.
async fn kpi_ids(app: &TestApp, company: &str) -> BTreeSet<String> {
    app.store()
        .query_json_as(
            Actor::System,
            format!(
                "select k.id from kpis k join companies c on c.id = k.company_id where c.name = '{company}'"
            ),
            1000,
        )
        .await
        .unwrap()
        .iter()
        .map(|row| row["id"].as_str().unwrap().to_owned())
        .collect()
}

fn ids_of(list: &Value) -> BTreeSet<String> {
    list.as_array()
        .unwrap()
        .iter()
        .map(|kpi| kpi["id"].as_str().unwrap().to_owned())
        .collect()
}

fn names(list: &Value) -> BTreeSet<String> {
    list.as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_sees_only_their_companys_kpis_through_the_api_and_the_tools() {
    let app = sample_app().await;
    let (session, identity) = member(&app, "analyst@acme.example", ACME).await;
    let acme = kpi_ids(&app, ACME).await;
    let globex = kpi_ids(&app, GLOBEX).await;
    assert_eq!(acme.len(), 12);

    // REST
    let response = session.get("/api/v1/kpis").await;
    assert_eq!(response.status(), StatusCode::OK);
    let listed: Value = response.json().await.unwrap();
    assert_eq!(ids_of(&listed), acme);
    let revenue_sales = listed
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["name"] == "Revenue" && k["department"] == "Sales")
        .expect("Sales revenue is listed");
    assert_eq!(revenue_sales["aggregation"], "sum");
    assert!(revenue_sales["last_period"].is_string());
    let margin = listed
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["name"] == "Gross Margin")
        .unwrap();
    assert_eq!(margin["department"], Value::Null, "company-wide KPI");
    let sales: Value = session
        .get("/api/v1/kpis?department=sales")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(sales.as_array().unwrap().len(), 1);
    let foreign = globex.iter().next().unwrap();
    let response = session.get(&format!("/api/v1/kpis/{foreign}/values")).await;
    assert_eq!(
        error_code(response).await,
        (StatusCode::NOT_FOUND, "not_found".into())
    );
    let mine = acme.iter().next().unwrap();
    let response = session
        .get(&format!("/api/v1/kpis/{mine}/values?period=last_12_months"))
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let series: Value = response.json().await.unwrap();
    assert_eq!(series["kpi"]["id"], mine.as_str());
    assert_eq!(series["points"].as_array().unwrap().len(), 12);
    let performance: Value = session
        .get("/api/v1/kpis/performance?period=last_12_months")
        .await
        .json()
        .await
        .unwrap();
    let rows = performance["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 12);
    assert!(rows.iter().all(|r| acme.contains(r["kpi_id"].as_str().unwrap())));

    // Tools, with the caller's identity
    let tools = Tools::new(&app, identity);
    let listed = tools.call("list_kpis", json!({})).await.unwrap();
    assert_eq!(listed["count"], 12);
    assert_eq!(ids_of(&listed["kpis"]), acme);
    let err = tools
        .call("kpi_values", json!({ "kpi": foreign }))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, ToolError::Failed(m) if m.contains("no KPI named")),
        "{err}"
    );
    let err = tools
        .call("kpi_vs_target", json!({ "kpi": "Bookings" }))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, ToolError::Failed(m) if m.contains("known KPIs") && m.contains("Revenue")),
        "{err}"
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kpi_vs_target_names_the_departments_that_missed_revenue_last_quarter() {
    let app = sample_app().await;
    // As stated in the header of src/store/sample_data.sql.
    let expected = [
        (
            ACME,
            vec!["Marketing", "Operations"],
            vec!["Engineering", "Finance", "Sales"],
        ),
        (
            GLOBEX,
            vec!["Finance", "Sales", "Store Operations"],
            vec!["E-commerce", "Marketing"],
        ),
        (
            INITECH,
            vec!["Engineering", "Marketing"],
            vec!["Customer Success", "Finance", "Sales"],
        ),
    ];
    for (i, (company, missed, met)) in expected.into_iter().enumerate() {
        let (session, identity) = member(&app, &format!("member{i}@example.com"), company).await;
        let tools = Tools::new(&app, identity);
        let answer = tools
            .call(
                "kpi_vs_target",
                json!({ "kpi": "Revenue", "period": "last_quarter" }),
            )
            .await
            .unwrap();
        let missed: BTreeSet<String> = missed.into_iter().map(str::to_owned).collect();
        let met: BTreeSet<String> = met.into_iter().map(str::to_owned).collect();
        assert_eq!(names(&answer["missed"]), missed, "{company}: {answer}");
        assert_eq!(names(&answer["met"]), met, "{company}: {answer}");
        assert_eq!(answer["rows"].as_array().unwrap().len(), 5);
        assert!(
            answer["rows"]
                .as_array()
                .unwrap()
                .iter()
                .all(|r| r["months"] == 3)
        );
        let label = answer["period"]["label"].as_str().unwrap();
        assert!(label.contains("-Q"), "a calendar quarter: {label}");
        assert!(
            answer["answer"]
                .as_str()
                .unwrap()
                .starts_with(&format!("{} of 5 missed", missed.len()))
        );

        // The dashboard's endpoint agrees.
        let report: Value = session
            .get("/api/v1/kpis/performance?period=last_quarter&kpi=revenue")
            .await
            .json()
            .await
            .unwrap();
        let from_api: BTreeSet<String> = report["rows"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| r["met"] == false)
            .map(|r| r["department"].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(from_api, missed, "{company}");
        assert_eq!(report["label"], label);
    }
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kpi_values_roll_months_up_by_the_kpis_aggregation() {
    let app = sample_app().await;
    let (session, identity) = member(&app, "analyst@acme.example", ACME).await;
    let tools = Tools::new(&app, identity);

    let answer = tools
        .call(
            "kpi_values",
            json!({ "kpi": "Revenue", "department": "Sales", "period": "last_year", "granularity": "quarter" }),
        )
        .await
        .unwrap();
    let series = answer["series"].as_array().unwrap();
    assert_eq!(series.len(), 1);
    let points = series[0]["points"].as_array().unwrap();
    assert_eq!(points.len(), 4, "{answer}");
    // Sum: the quarter is the sum of its months, as the database computes it.
    let sums = app
        .store()
        .query_json_as(
            Actor::System,
            format!(
                "select to_char(v.period, 'YYYY-\"Q\"Q') as quarter, sum(v.value)::float8 as total
                   from kpi_values v join kpis k on k.id = v.kpi_id
                   join departments d on d.id = k.department_id
                   join companies c on c.id = k.company_id
                  where c.name = '{ACME}' and d.name = 'Sales' and k.name = 'Revenue'
                    and v.period >= '{}'::date and v.period <= '{}'::date
                  group by 1 order by 1",
                answer["period"]["from"].as_str().unwrap(),
                answer["period"]["to"].as_str().unwrap(),
            ),
            10,
        )
        .await
        .unwrap();
    for (point, sum) in points.iter().zip(&sums) {
        assert_eq!(point["period"], sum["quarter"]);
        let (value, total) = (point["value"].as_f64().unwrap(), sum["total"].as_f64().unwrap());
        assert!((value - total).abs() < 0.01, "{point} vs {sum}");
        assert!(point.get("months_with_data").is_none(), "a full quarter");
    }

    // Last: a headcount quarter is its last month; the REST series agrees with the tool.
    let headcount = tools
        .call(
            "kpi_values",
            json!({ "kpi": "headcount", "period": "last_year", "granularity": "quarter" }),
        )
        .await
        .unwrap();
    let quarters = headcount["series"][0]["points"].as_array().unwrap().clone();
    let monthly = tools
        .call("kpi_values", json!({ "kpi": "Headcount", "period": "last_year" }))
        .await
        .unwrap();
    let months = monthly["series"][0]["points"].as_array().unwrap();
    assert_eq!(months.len(), 12);
    assert_eq!(quarters[3]["value"], months[11]["value"], "Q4 = December");
    assert_eq!(quarters[0]["value"], months[2]["value"], "Q1 = March");

    let list: Value = session
        .get("/api/v1/kpis?name=headcount")
        .await
        .json()
        .await
        .unwrap();
    let id = list[0]["id"].as_str().unwrap();
    let from = monthly["period"]["from"].as_str().unwrap();
    let to = monthly["period"]["to"].as_str().unwrap();
    let response = session
        .get(&format!(
            "/api/v1/kpis/{id}/values?from={from}&to={to}&granularity=quarter"
        ))
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let rest: Value = response.json().await.unwrap();
    let rest_values: Vec<&Value> = rest["points"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| &p["value"])
        .collect();
    let tool_values: Vec<&Value> = quarters.iter().map(|p| &p["value"]).collect();
    assert_eq!(rest_values, tool_values);
    assert_eq!(rest["granularity"], "quarter");
    app.stop().await;
}

fn refused(result: Result<Value, ToolError>) -> String {
    match result {
        Err(ToolError::InvalidArguments(message)) => message,
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sql_query_is_read_only_and_stays_inside_the_company() {
    let app = sample_app().await;
    let (_, identity) = member(&app, "analyst@acme.example", ACME).await;
    let tools = Tools::new(&app, identity);
    let globex_company = app
        .store()
        .query_json_as(
            Actor::System,
            format!("select id from companies where name = '{GLOBEX}'"),
            1,
        )
        .await
        .unwrap()[0]["id"]
        .as_str()
        .unwrap()
        .to_owned();

    let answer = tools
        .sql("-- how many KPIs?\nselect count(*) as n, count(distinct company_id) as companies from kpis;")
        .await
        .unwrap();
    assert_eq!(answer["rows"], json!([{ "n": 12, "companies": 1 }]));
    let answer = tools
        .sql(&format!(
            "select * from kpis where company_id = '{globex_company}'"
        ))
        .await
        .unwrap();
    assert_eq!(answer["row_count"], 0, "another company's KPIs are invisible");
    let answer = tools
        .sql("select d.name, sum(v.value) as total from kpi_values v join kpis k on k.id = v.kpi_id join departments d on d.id = k.department_id where k.name = 'Revenue' group by d.name order by d.name")
        .await
        .unwrap();
    assert_eq!(answer["row_count"], 5);

    // Writes, DDL, several statements: refused before they run, with the reason.
    assert!(
        refused(
            tools
                .sql("insert into kpis (company_id, name) values (gen_random_uuid(), 'x')")
                .await
        )
        .contains("read-only: INSERT")
    );
    assert!(refused(tools.sql("UPDATE kpi_values SET value = 0").await).contains("read-only: UPDATE"));
    assert!(refused(tools.sql("drop table kpi_values").await).contains("DROP statements are refused"));
    assert!(refused(tools.sql("select 1; delete from kpi_values").await).contains("one statement"));
    assert!(
        refused(
            tools
                .sql("with gone as (delete from kpi_values returning 1) select count(*) from gone")
                .await
        )
        .contains("read-only")
    );
    // The claims and the role cannot be changed from inside the query.
    assert!(refused(tools.sql("select set_config('role', 'none', true)").await).contains("not allowed"));
    assert!(
        refused(
            tools
                .sql("select query_to_xml('select * from auth.users', true, false, '')")
                .await
        )
        .contains("not allowed")
    );

    // Other tables are refused by name before they reach the grants.
    let err = tools.sql("select email from auth.users").await.unwrap_err();
    assert!(
        matches!(&err, ToolError::InvalidArguments(m) if m.contains("reads only the KPI tables")),
        "{err}"
    );
    // The database's own message for a mistake.
    let err = tools.sql("select nme from kpis").await.unwrap_err();
    assert!(
        matches!(&err, ToolError::Failed(m) if m.contains("nme") && m.contains("does not exist")),
        "{err}"
    );
    // Broken SQL: the checker's parser says where it stopped.
    let err = tools.sql("select name from kpis where").await.unwrap_err();
    assert!(
        matches!(&err, ToolError::InvalidArguments(m) if m.contains("could not read the query")),
        "{err}"
    );

    // The row cap says when it cut.
    let answer = tools.sql("select period from kpi_values").await.unwrap();
    assert_eq!(answer["row_count"], 200);
    assert!(answer["note"].as_str().unwrap().contains("first 200 rows"));
    // Wide rows are cut to what fits in a tool result, still as JSON.
    let answer = tools.sql("select * from kpi_values").await.unwrap();
    let shown = answer["row_count"].as_u64().unwrap();
    assert!(shown > 10 && shown < 200, "{shown}");
    assert!(
        answer["note"]
            .as_str()
            .unwrap()
            .contains("of more than 200 rows fit")
    );

    // Nothing was written, and the connection is still good.
    let count = app
        .store()
        .query_json_as(
            Actor::System,
            "select count(*) as n from kpi_values where value = 0".into(),
            1,
        )
        .await
        .unwrap();
    assert_eq!(count[0]["n"], 0);
    assert_eq!(tools.call("list_kpis", json!({})).await.unwrap()["count"], 12);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_query_ends_at_the_timeout_with_a_clear_error() {
    let app = sample_app().await;
    let (_, identity) = member(&app, "analyst@acme.example", ACME).await;
    let tools = Tools::new(&app, identity);
    let started = Instant::now();
    let err = tools.sql("select pg_sleep(30)").await.unwrap_err();
    match app.store().kind() {
        DatabaseKind::External => {
            assert!(
                matches!(&err, ToolError::Failed(m) if m.contains("longer than 5 seconds")),
                "{err}"
            );
            assert!(
                started.elapsed() < Duration::from_secs(15),
                "{:?}",
                started.elapsed()
            );
        }
        // The embedded server cannot stop a running statement: it refuses to start this one.
        DatabaseKind::Embedded => {
            assert!(
                matches!(&err, ToolError::InvalidArguments(m) if m.contains("cannot stop a statement")),
                "{err}"
            );
        }
    }
    // The next query runs normally.
    let answer = tools.sql("select 1 as one").await.unwrap();
    assert_eq!(answer["rows"], json!([{ "one": 1 }]));
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_kpi_requests_get_4xx_codes() {
    let app = sample_app().await;
    let (session, _) = member(&app, "analyst@acme.example", ACME).await;
    let list: Value = session.get("/api/v1/kpis").await.json().await.unwrap();
    let id = list[0]["id"].as_str().unwrap();
    let unprocessable = (StatusCode::UNPROCESSABLE_ENTITY, "invalid_input".to_owned());
    for path in [
        format!("/api/v1/kpis/{id}/values?from=yesterday"),
        format!("/api/v1/kpis/{id}/values?to=2025-02-30"),
        format!("/api/v1/kpis/{id}/values?from=2026-01-01&to=2025-01-01"),
        format!("/api/v1/kpis/{id}/values?from=1990-01-01&to=2026-01-01"),
        format!("/api/v1/kpis/{id}/values?granularity=week"),
        format!("/api/v1/kpis/{id}/values?period=last_week"),
        "/api/v1/kpis/performance?period=last_week".to_owned(),
        "/api/v1/kpis/performance?period=last_year&from=2025-01-01".to_owned(),
        format!("/api/v1/kpis?name={}", "x".repeat(201)),
    ] {
        assert_eq!(
            error_code(session.get(&path).await).await,
            unprocessable,
            "{path}"
        );
    }
    assert_eq!(
        error_code(session.get("/api/v1/kpis/not-a-uuid/values").await).await,
        (StatusCode::BAD_REQUEST, "invalid_path".into())
    );
    assert_eq!(
        error_code(session.get("/api/v1/kpis?bogus=1").await).await,
        (StatusCode::BAD_REQUEST, "invalid_query".into())
    );
    assert_eq!(
        error_code(
            session
                .get(&format!("/api/v1/kpis/{}/values", uuid::Uuid::new_v4()))
                .await
        )
        .await,
        (StatusCode::NOT_FOUND, "not_found".into())
    );
    let anonymous = app.client().get(app.url("/api/v1/kpis")).send().await.unwrap();
    assert_eq!(error_code(anonymous).await.0, StatusCode::UNAUTHORIZED);
    // An unknown KPI name is an empty report, not an error.
    let report: Value = session
        .get("/api/v1/kpis/performance?kpi=Bookings")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(report["rows"], json!([]));
    app.stop().await;
}
