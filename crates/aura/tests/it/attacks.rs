//! The standing attack suite (NFR-S1-S3): every route of the JSON API, read from its OpenAPI
//! document so that a route added later is attacked too, is called for records of workspace
//! acme by everyone who must not reach them. Each may get only 401, 403 or 404, never a byte of
//! the records; lists and searches of others never hold them; and afterwards the records are as
//! they were. The pages get the same by crawling: every page and form an admin reaches from the
//! home page is checked for planted markup (stored XSS) and, where it names a record, called
//! by another workspace's admin and a rep who does not own it.

use aura_platform::demo::DEMO_PASSWORD;
use jsonwebtoken::{EncodingKey, Header};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::helpers::{
    id, submit_login, Api, Member, TestApp, TEST_JWT_SECRET, TEST_PLATFORM_API_KEY,
};
use aura_platform::db::testing::TestDatabase;
use aura_web::rate_limit::RateLimiter;

/// Text planted in acme's records; no answer to an attacker may contain it. One marker per
/// kind of record, since a rep of acme may see the organization but not another rep's contact.
const ORGANIZATION_MARK: &str = "zqxorganization";
const CONTACT_MARK: &str = "zqxcontact";
const ACTIVITY_MARK: &str = "zqxactivity";
const FIELD_MARK: &str = "zqxfield";
const DEAL_MARK: &str = "zqxdeal";
const PROCESS_MARK: &str = "zqxprocess";
const PRODUCT_MARK: &str = "zqxproduct";
const FOLLOW_UP_MARK: &str = "zqxfollowup";
const ALL_MARKS: [&str; 8] = [
    ORGANIZATION_MARK,
    CONTACT_MARK,
    ACTIVITY_MARK,
    FIELD_MARK,
    DEAL_MARK,
    PROCESS_MARK,
    PRODUCT_MARK,
    FOLLOW_UP_MARK,
];

/// acme's records under attack, created by their owner (acme's `rep`) and admin.
struct Victim {
    organization: String,
    contact: String,
    activity: String,
    field: String,
    deal: String,
    /// A sales process of acme's, and a stage of it.
    process: String,
    stage: String,
    /// A product of acme's catalog, and a line of it on the deal.
    product: String,
    line: String,
    /// A follow-up of the rep's on the contact.
    follow_up: String,
    /// A finished workspace export of acme's (an admin's: the admin reads it).
    export: String,
    /// Whom the writes try to give acme's contact to: globex's admin.
    thief: uuid::Uuid,
}

impl Victim {
    /// The record a route's path parameter names, by the collection before it.
    fn id_for(&self, collection: &str) -> String {
        match collection {
            "organizations" => self.organization.clone(),
            "contacts" => self.contact.clone(),
            "activities" => self.activity.clone(),
            "custom-fields" => self.field.clone(),
            "deals" => self.deal.clone(),
            "processes" => self.process.clone(),
            "stages" => self.stage.clone(),
            "products" => self.product.clone(),
            "follow-ups" => self.follow_up.clone(),
            "exports" => self.export.clone(),
            // Signups belong to no workspace: any id will do, the caller is the point.
            "signups" => uuid::Uuid::new_v4().to_string(),
            other => panic!(
                "the attack suite has no record for `{other}`: create one in acme in `plant` and \
                 name it here"
            ),
        }
    }
}

/// One way of calling: a host and an `Authorization` header (or none).
struct Caller {
    name: &'static str,
    slug: &'static str,
    token: Option<String>,
    /// A member of acme itself (a rep who does not own the records): what applies to them.
    same_workspace: bool,
}

/// A route of the OpenAPI document.
struct Route {
    method: Method,
    path: String,
    /// Its required query parameters, filled in (`?entity=organization`), or "".
    query: String,
}

impl Route {
    /// The collection whose record the route's parameter names, if it takes one.
    fn collection(&self) -> Option<&str> {
        let segments: Vec<&str> = self.path.split('/').collect();
        let at = segments.iter().position(|s| s.starts_with('{'))?;
        Some(segments[at - 1])
    }

    fn is_platform(&self) -> bool {
        self.path.starts_with("/api/v1/platform/")
    }
}

async fn routes(app: &TestApp) -> Vec<Route> {
    let document: Value = app
        .client
        .get(app.url("/api/v1/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let mut routes = Vec::new();
    for (path, operations) in document["paths"].as_object().expect("paths") {
        for (method, operation) in operations.as_object().unwrap() {
            let required = operation["parameters"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|p| p["in"] == "query" && p["required"] == true);
            let query: Vec<String> = required
                .map(|p| match p["name"].as_str().unwrap() {
                    "entity" => "entity=organization".to_owned(),
                    other => panic!("the attack suite has no value for the query `{other}`"),
                })
                .collect();
            routes.push(Route {
                method: method.to_uppercase().parse().unwrap(),
                path: path.clone(),
                query: if query.is_empty() {
                    String::new()
                } else {
                    format!("?{}", query.join("&"))
                },
            });
        }
    }
    assert!(routes.len() >= 20, "the document lists the API's routes");
    routes
}

async fn token(app: &TestApp, slug: &str, who: &str) -> String {
    Api::sign_in(app, slug, who).await.token
}

/// A body that would pass validation on every write route that names a record in its path,
/// so that a refusal comes from who is asking, not from what was sent.
fn plausible_body() -> Value {
    json!({
        "version": 1,
        "name": "Taken over",
        "first_name": "Taken",
        "kind": "call",
        "description": "Taken over",
        "outcome": "open",
        "stage_ids": [],
        "sku": "TAKEN-1",
        "product_id": uuid::Uuid::new_v4().to_string(),
        "quantity": "1",
        "list_price": "1.00",
        "reason": "Taken over",
        "due_at": chrono::Utc::now().to_rfc3339(),
    })
}

/// For the routes that create records or act on several: one naming acme's records, to link
/// to them or take them over.
fn reaching_body(victim: &Victim) -> Value {
    json!({
        "version": 1,
        "name": "Taken over",
        "first_name": "Taken",
        "kind": "call",
        "description": "Taken over",
        "entity": "contact",
        "label": "Taken over",
        "organization_id": victim.organization,
        "parent_id": victim.organization,
        "ids": [victim.contact],
        "assigned_to": victim.thief,
        "subject": "Taken over",
        "due_at": chrono::Utc::now().to_rfc3339(),
        "contact_id": victim.contact,
        "owner_id": victim.thief,
    })
}

async fn call(
    app: &TestApp,
    caller: &Caller,
    route: &Route,
    path: &str,
    body: Option<&Value>,
) -> (StatusCode, String) {
    let url = if route.is_platform() {
        app.url(path)
    } else {
        app.workspace_url(caller.slug, path)
    };
    let mut request = app.client.request(route.method.clone(), url);
    if let Some(token) = &caller.token {
        request = request.bearer_auth(token);
    }
    if let Some(body) = body {
        request = request.json(body);
    }
    let response = request.send().await.unwrap();
    (
        response.status(),
        response.text().await.unwrap().to_lowercase(),
    )
}

/// Posts `body` to acme's `path` and returns the new record's id.
async fn created(app: &TestApp, token: &str, path: &str, body: Value) -> String {
    let api = Api {
        app,
        slug: "acme",
        token: token.to_owned(),
    };
    id(&api.created(path, body).await)
}

/// Creates acme's records, as their owner. The demo workspaces have no sales process yet:
/// acme gets one for the deal.
async fn plant(
    app: &TestApp,
    db: &TestDatabase,
    rep: &str,
    admin: &str,
    thief: uuid::Uuid,
) -> Victim {
    crate::helpers::seed_process(db, "acme", "Sales").await;
    let organization = created(
        app,
        rep,
        "/api/v1/organizations",
        json!({ "name": format!("{ORGANIZATION_MARK} Holdings") }),
    )
    .await;
    let contact = created(
        app,
        rep,
        "/api/v1/contacts",
        json!({ "first_name": CONTACT_MARK, "last_name": "Target",
                "email": format!("{CONTACT_MARK}@victim.example"),
                "organization_id": organization }),
    )
    .await;
    let activity = created(
        app,
        rep,
        &format!("/api/v1/contacts/{contact}/activities"),
        json!({ "kind": "call", "description": format!("{ACTIVITY_MARK}: the secret price") }),
    )
    .await;
    let field = created(
        app,
        admin,
        "/api/v1/custom-fields",
        json!({ "entity": "organization", "label": format!("{FIELD_MARK} score"), "kind": "text" }),
    )
    .await;
    let deal = created(
        app,
        rep,
        "/api/v1/deals",
        json!({ "name": format!("{DEAL_MARK} renewal"), "amount": "99000",
                "organization_id": organization,
                "contacts": [{ "contact_id": contact, "role": "decision_maker" }] }),
    )
    .await;
    let process = created(
        app,
        admin,
        "/api/v1/processes",
        json!({ "name": format!("{PROCESS_MARK} pipeline") }),
    )
    .await;
    let stage = created(
        app,
        admin,
        &format!("/api/v1/processes/{process}/stages"),
        json!({ "name": format!("{PROCESS_MARK} stage"), "outcome": "open" }),
    )
    .await;
    let product = created(
        app,
        admin,
        "/api/v1/products",
        json!({ "sku": "ZQX-1", "name": format!("{PRODUCT_MARK} appliance"),
                "list_price": "1000.00", "unit_cost": "400", "max_discount_percent": "10" }),
    )
    .await;
    // The line's override reason carries the deal's mark: it is the deal's to show.
    let lines = app
        .client
        .post(app.workspace_url("acme", &format!("/api/v1/deals/{deal}/lines")))
        .bearer_auth(rep)
        .json(
            &json!({ "product_id": product, "quantity": "3", "unit_price": "950",
                       "override_reason": format!("{DEAL_MARK} loyalty") }),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(lines.status(), StatusCode::CREATED);
    let lines: Value = lines.json().await.unwrap();
    let line = lines["items"][0]["id"].as_str().unwrap().to_owned();
    let follow_up = created(
        app,
        rep,
        "/api/v1/follow-ups",
        json!({ "kind": "call", "subject": format!("{FOLLOW_UP_MARK}: call back"),
                "due_at": chrono::Utc::now().to_rfc3339(), "contact_id": contact,
                "deal_id": deal }),
    )
    .await;
    let export: uuid::Uuid = sqlx::query_scalar(
        "with export as (
             insert into exports (tenant_id, format, status, requested_by, finished_at,
                                  expires_at, bytes)
             select t.id, 'csv', 'done', u.id, now(), now() + interval '1 day', 2
             from tenants t, users u where t.slug = 'acme' and u.email = 'admin@acme.example'
             returning tenant_id, id)
         insert into export_chunks (tenant_id, export_id, seq, data)
         select tenant_id, id, 0, 'PK' from export returning export_id",
    )
    .fetch_one(&db.owner)
    .await
    .unwrap();
    Victim {
        export: export.to_string(),
        organization,
        contact,
        activity,
        field,
        deal,
        process,
        stage,
        product,
        line,
        follow_up,
        thief,
    }
}

/// A token signed with the server's key for any claims: what a thief of the key could make,
/// and the base of the expired and misdirected tokens below.
fn signed(claims: &Value, key: &[u8]) -> String {
    jsonwebtoken::encode(&Header::default(), claims, &EncodingKey::from_secret(key)).unwrap()
}

fn claims(user: uuid::Uuid, tenant: uuid::Uuid, expires_in: i64) -> Value {
    let now = chrono::Utc::now().timestamp();
    json!({ "sub": user, "tenant_id": tenant, "role": "admin", "iat": now - 10,
            "exp": now + expires_in, "iss": "aura" })
}

/// A real token with its payload's tenant changed and the signature kept.
fn with_tenant(token: &str, tenant: uuid::Uuid) -> String {
    use base64::Engine;
    let engine = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let parts: Vec<&str> = token.split('.').collect();
    let mut payload: Value = serde_json::from_slice(&engine.decode(parts[1]).unwrap()).unwrap();
    payload["tenant_id"] = json!(tenant);
    let payload = engine.encode(serde_json::to_vec(&payload).unwrap());
    format!("{}.{payload}.{}", parts[0], parts[2])
}

/// Checks every route against `caller`: a route naming one of acme's records is refused (or,
/// for a member of acme, refused where ownership applies), and no answer holds a mark the
/// caller may not see.
/// The route's path naming acme's record where it takes one, with its required query.
fn path_for(route: &Route, victim: &Victim) -> String {
    let path = match route.collection() {
        Some(collection) => {
            let at = route.path.find('{').unwrap();
            let end = route.path[at..].find('}').unwrap() + at;
            format!(
                "{}{}{}",
                &route.path[..at],
                victim.id_for(collection),
                &route.path[end + 1..]
            )
        }
        None => route.path.clone(),
    };
    // A second record in the path: the victim contact (a deal's contact link), the deal's line,
    // or the victim process's stage (a board column).
    let path = path
        .replace("{contact_id}", &victim.contact)
        .replace("{line_id}", &victim.line)
        .replace("{stage_id}", &victim.stage);
    path + &route.query
}

async fn attack(app: &TestApp, routes: &[Route], victim: &Victim, caller: &Caller) {
    let hidden: &[&str] = if caller.same_workspace {
        &[CONTACT_MARK, ACTIVITY_MARK, DEAL_MARK, FOLLOW_UP_MARK]
    } else {
        &ALL_MARKS
    };
    let (plausible, reaching) = (plausible_body(), reaching_body(victim));
    for route in routes {
        let writes = route.method != Method::GET;
        if caller.same_workspace
            && writes
            && route.collection() != Some("contacts")
            && route.collection() != Some("activities")
            && route.collection() != Some("deals")
            && route.collection() != Some("follow-ups")
        {
            // A rep of acme may change organizations and create records: not an attack.
            continue;
        }
        let path = path_for(route, victim);
        let body = if route.collection().is_some() {
            &plausible
        } else {
            &reaching
        };
        let sent = writes.then_some(body);
        let (status, text) = call(app, caller, route, &path, sent).await;
        let what = format!("{} {} {path} as {}", route.method, route.path, caller.name);
        assert!(!status.is_server_error(), "{what}: {status}");
        for mark in hidden {
            assert!(!text.contains(mark), "{what} leaked `{mark}`: {text}");
        }
        let owned = matches!(
            route.collection(),
            Some("contacts" | "activities" | "deals" | "follow-ups")
        );
        let refused = [
            StatusCode::UNAUTHORIZED,
            StatusCode::FORBIDDEN,
            StatusCode::NOT_FOUND,
        ];
        if route.collection().is_some() && (!caller.same_workspace || owned) {
            assert!(refused.contains(&status), "{what}: {status} {text}");
        }
        // Lists and searches, for mark-bearing text.
        if route.method == Method::GET && route.collection().is_none() {
            for mark in hidden {
                let search = format!(
                    "{path}{}search={mark}",
                    if route.query.is_empty() { '?' } else { '&' }
                );
                let (_, text) = call(app, caller, route, &search, None).await;
                assert!(!text.contains(mark), "{what} searching `{mark}`: {text}");
            }
        }
    }
}

/// The records as their owner sees them: unchanged by any attack.
async fn assert_untouched(app: &TestApp, rep: &str, admin: &str, victim: &Victim) {
    let get = |token: &str, path: String| {
        let request = app
            .client
            .get(app.workspace_url("acme", &path))
            .bearer_auth(token);
        async move {
            let response = request.send().await.unwrap();
            assert_eq!(response.status(), StatusCode::OK, "{path}");
            response.json::<Value>().await.unwrap()
        }
    };
    let organization = get(
        rep,
        format!("/api/v1/organizations/{}", victim.organization),
    )
    .await;
    assert_eq!(
        (
            organization["version"].as_i64(),
            organization["deleted_at"].is_null()
        ),
        (Some(1), true)
    );
    let contact = get(rep, format!("/api/v1/contacts/{}", victim.contact)).await;
    assert_eq!(
        (
            contact["version"].as_i64(),
            contact["deleted_at"].is_null(),
            contact["first_name"].as_str()
        ),
        (Some(1), true, Some(CONTACT_MARK))
    );
    let timeline = get(
        rep,
        format!("/api/v1/contacts/{}/activities", victim.contact),
    )
    .await;
    assert_eq!(
        timeline["items"][0]["id"].as_str(),
        Some(victim.activity.as_str())
    );
    let follow_up = get(rep, format!("/api/v1/follow-ups/{}", victim.follow_up)).await;
    assert_eq!(
        (
            follow_up["done_at"].is_null(),
            follow_up["owner_name"].as_str(),
            follow_up["subject"].as_str()
        ),
        (
            true,
            Some("Rita Rep"),
            Some(format!("{FOLLOW_UP_MARK}: call back").as_str())
        )
    );
    let deal = get(rep, format!("/api/v1/deals/{}", victim.deal)).await;
    // Version 2: adding the line set the deal's amount (3 x 950).
    assert_eq!(
        (
            deal["version"].as_i64(),
            deal["deleted_at"].is_null(),
            deal["assigned_to_name"].is_string(),
            deal["contacts"].as_array().map(Vec::len),
            deal["amount"].as_str()
        ),
        (Some(2), true, true, Some(1), Some("2850.00"))
    );
    let lines = get(rep, format!("/api/v1/deals/{}/lines", victim.deal)).await;
    assert_eq!(
        (
            lines["items"][0]["id"].as_str(),
            lines["items"][0]["version"].as_i64(),
            lines["items"][0]["quantity"].as_i64(),
            lines["items"].as_array().map(Vec::len)
        ),
        (Some(victim.line.as_str()), Some(1), Some(3), Some(1))
    );
    let product = get(admin, format!("/api/v1/products/{}", victim.product)).await;
    assert_eq!(
        (
            product["version"].as_i64(),
            product["sku"].as_str(),
            product["list_price"].as_str()
        ),
        (Some(1), Some("ZQX-1"), Some("1000.00"))
    );
    let fields = get(
        admin,
        "/api/v1/custom-fields?entity=organization".to_owned(),
    )
    .await;
    assert!(fields.to_string().contains(&victim.field), "{fields}");
    let process = get(admin, format!("/api/v1/processes/{}", victim.process)).await;
    assert_eq!(
        (process["version"].as_i64(), process["name"].as_str()),
        (Some(1), Some(format!("{PROCESS_MARK} pipeline").as_str()))
    );
    assert!(
        process["stages"].to_string().contains(&victim.stage),
        "{process}"
    );
}

#[tokio::test]
async fn no_one_outside_a_record_reaches_it_through_any_api_route() {
    // Each attacker calls every route, more than the 100 requests a minute a member may make:
    // the limiter is not under test here (rate_limit.rs tests it), the routes are.
    let (app, db) = TestApp::builder()
        .limiter(RateLimiter::local().with_limit(10_000))
        .demo()
        .spawn()
        .await;
    let routes = routes(&app).await;
    // The document is the list: every deal route is in it, and so attacked.
    for deal_route in [
        "/api/v1/deals",
        "/api/v1/deals/{id}",
        "/api/v1/deals/{id}/stage",
        "/api/v1/deals/{id}/contacts/{contact_id}",
        "/api/v1/deals/{id}/history",
        "/api/v1/deals/{id}/activities",
        "/api/v1/deals/reassign",
        "/api/v1/deals/{id}/lines",
        "/api/v1/deals/{id}/lines/{line_id}",
        "/api/v1/deals/{id}/line-history",
        "/api/v1/products",
        "/api/v1/products/{id}",
        "/api/v1/products/{id}/blueprint",
        "/api/v1/products/{id}/price-history",
        "/api/v1/processes/{id}/board",
        "/api/v1/processes/{id}/board/stages/{stage_id}",
        "/api/v1/processes/{id}/snapshot",
        "/api/v1/follow-ups",
        "/api/v1/follow-ups/{id}",
        "/api/v1/follow-ups/{id}/complete",
        "/api/v1/follow-ups/{id}/reschedule",
    ] {
        assert!(routes.iter().any(|r| r.path == deal_route), "{deal_route}");
    }
    let id = |sql: &'static str| {
        let owner = db.owner.clone();
        async move {
            sqlx::query_scalar::<_, uuid::Uuid>(sql)
                .fetch_one(&owner)
                .await
                .unwrap()
        }
    };
    let globex_admin_id = id("select id from users where email = 'admin@globex.example'").await;
    let rep = token(&app, "acme", "rep").await;
    let admin = token(&app, "acme", "admin").await;
    let victim = plant(&app, &db, &rep, &admin, globex_admin_id).await;

    // The ids are real: their owner reaches every record route that reads.
    for route in routes
        .iter()
        .filter(|r| r.method == Method::GET && !r.is_platform())
    {
        if route.collection().is_some() {
            let path = path_for(route, &victim);
            // Exports are an admin's records, the rest the rep's.
            let owner = Caller {
                name: "the owner",
                slug: "acme",
                token: Some(if route.collection() == Some("exports") {
                    admin.clone()
                } else {
                    rep.clone()
                }),
                same_workspace: true,
            };
            let (status, _) = call(&app, &owner, route, &path, None).await;
            assert_eq!(status, StatusCode::OK, "{path}");
        }
    }

    let acme = id("select id from tenants where slug = 'acme'").await;
    let rep_id = id("select id from users where email = 'rep@acme.example'").await;
    let prospect = id("insert into users (email, display_name, password_hash)
         values ('prospect@nowhere.example', 'Prospect', 'x') returning id")
    .await;
    let globex_admin = token(&app, "globex", "admin").await;
    let manager = token(&app, "acme", "manager").await;
    sqlx::query(
        "update tenant_members set deactivated_at = now()
         where user_id = (select id from users where email = 'manager@acme.example')",
    )
    .execute(&db.owner)
    .await
    .unwrap();

    let callers = [
        Caller {
            name: "globex's admin on globex",
            slug: "globex",
            token: Some(globex_admin.clone()),
            same_workspace: false,
        },
        Caller {
            name: "globex's admin on acme",
            slug: "acme",
            token: Some(globex_admin.clone()),
            same_workspace: false,
        },
        Caller {
            name: "a rep of acme who does not own them",
            slug: "acme",
            token: Some(token(&app, "acme", "rep2").await),
            same_workspace: true,
        },
        Caller {
            name: "nobody",
            slug: "acme",
            token: None,
            same_workspace: false,
        },
        Caller {
            name: "an expired token",
            slug: "acme",
            token: Some(signed(&claims(rep_id, acme, -5), TEST_JWT_SECRET)),
            same_workspace: false,
        },
        Caller {
            name: "a token signed with another key",
            slug: "acme",
            token: Some(signed(
                &claims(rep_id, acme, 600),
                b"another key of at least thirty-two bytes",
            )),
            same_workspace: false,
        },
        Caller {
            name: "globex's token with acme as its tenant",
            slug: "acme",
            token: Some(with_tenant(&globex_admin, acme)),
            same_workspace: false,
        },
        Caller {
            name: "globex's admin with a validly signed acme token",
            slug: "acme",
            token: Some(signed(&claims(globex_admin_id, acme, 600), TEST_JWT_SECRET)),
            same_workspace: false,
        },
        Caller {
            name: "a deactivated manager of acme",
            slug: "acme",
            token: Some(manager),
            same_workspace: false,
        },
        Caller {
            name: "a user without a workspace",
            slug: "acme",
            token: Some(signed(&claims(prospect, acme, 600), TEST_JWT_SECRET)),
            same_workspace: false,
        },
    ];
    for caller in &callers {
        attack(&app, &routes, &victim, caller).await;
    }
    assert_untouched(&app, &rep, &admin, &victim).await;

    // Each refused attempt at a record by a caller the server knows is in acme's trail, written
    // apart from the refused request, and counted for monitoring (F5.6).
    // The entry names the record, who reached for it and why; nothing else of the attempt
    // (not the caller's workspace, not the text of their request).
    let refusals: Vec<(String, Option<uuid::Uuid>, uuid::Uuid, serde_json::Value)> =
        sqlx::query_as(
            "select after->>'reason', entity_id, actor_user_id, after - 'reason' from audit_log
             where action = 'access.refused' and tenant_id = $1 order by id",
        )
        .bind(acme)
        .fetch_all(&db.owner)
        .await
        .unwrap();
    let rep2_id = id("select id from users where email = 'rep2@acme.example'").await;
    let by = |reason: &str, actor: uuid::Uuid| {
        refusals
            .iter()
            .filter(|(r, _, a, _)| r == reason && *a == actor)
            .count()
    };
    assert!(by("other_workspace", globex_admin_id) >= 10, "{refusals:?}");
    assert!(
        by("other_workspace_token", globex_admin_id) >= 10,
        "globex's token on acme's host: {refusals:?}"
    );
    assert!(by("not_owner", rep2_id) >= 5, "{refusals:?}");
    assert!(
        refusals
            .iter()
            .any(|(_, entity, _, _)| entity.map(|e| e.to_string()) == Some(victim.contact.clone())),
        "{refusals:?}"
    );
    assert!(
        refusals
            .iter()
            .all(|(_, _, _, rest)| rest == &serde_json::json!({})),
        "{refusals:?}"
    );
    let metrics = |key: Option<&str>| {
        let mut request = app.client.get(app.url("/metrics"));
        if let Some(key) = key {
            request = request.bearer_auth(key);
        }
        async move {
            let response = request.send().await.unwrap();
            (response.status(), response.text().await.unwrap())
        }
    };
    assert_eq!(metrics(None).await.0, StatusCode::UNAUTHORIZED);
    let (status, text) = metrics(Some(TEST_PLATFORM_API_KEY)).await;
    assert_eq!(status, StatusCode::OK);
    let counted = |reason: &str| {
        text.lines()
            .find_map(|line| {
                line.strip_prefix(&format!(
                    "aura_refused_access_total{{reason=\"{reason}\"}} "
                ))
            })
            .and_then(|n| n.parse::<usize>().ok())
            .unwrap_or(0)
    };
    assert_eq!(
        (counted("other_workspace"), counted("not_owner")),
        (
            by("other_workspace", globex_admin_id) + by("other_workspace_token", globex_admin_id),
            by("not_owner", rep2_id)
        ),
        "{text}"
    );

    // acme's admin reads them in the audit log.
    let browser = Member::sign_in(&app, "acme", "admin@acme.example").await;
    // Every page of it ("Older entries"): the refusals outnumber a page.
    let mut trail = String::new();
    let mut query = "action=access.refused".to_owned();
    loop {
        let page = browser
            .get(app.workspace_url("acme", &format!("/audit?{query}")))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        trail.push_str(&page);
        let Some(at) = page.find("<a href=\"/audit?") else {
            break;
        };
        let rest = &page[at + "<a href=\"/audit?".len()..];
        query = rest[..rest.find('"').unwrap()].replace("&amp;", "&");
    }
    assert!(trail.contains("Someone outside this workspace"), "{trail}");
    assert!(trail.contains("not_owner") && trail.contains("other_workspace_token"));
    let globex = id("select id from tenants where slug = 'globex'").await;
    assert!(
        !trail.contains(&globex.to_string()) && !trail.contains("/api/v1/"),
        "another workspace's id or an attacker's request on acme's page: {trail}"
    );

    // Last, since it shuts acme: its own admin, once the workspace is suspended.
    sqlx::query("update tenants set status = 'suspended' where slug = 'acme'")
        .execute(&db.owner)
        .await
        .unwrap();
    let suspended = Caller {
        name: "acme's admin, acme suspended",
        slug: "acme",
        token: Some(admin.clone()),
        same_workspace: false,
    };
    attack(&app, &routes, &victim, &suspended).await;
}

/// Markup planted in every text a member can write; no page may carry it unescaped.
const SCRIPT: &str = "<script>alert('zqxss')</script>";
const BREAKOUT: &str = "\"><img src=x onerror=alert('zqxss')>";

/// A same-site path, without its fragment, or none.
fn same_site(url: &str) -> Option<String> {
    let url = url.split('#').next()?.replace("&amp;", "&");
    (url.starts_with('/') && !url.starts_with("//") && !url.starts_with("/assets/")).then_some(url)
}

/// The value of `attribute` in an HTML tag's text.
fn attribute<'a>(tag: &'a str, attribute: &str) -> Option<&'a str> {
    tag.split(&format!(" {attribute}=\""))
        .nth(1)?
        .split('"')
        .next()
}

/// A page's same-site links (anchors, htmx URLs, forms sent by GET) and the actions of its
/// forms sent by POST.
fn urls_in(html: &str) -> (Vec<String>, Vec<String>) {
    let (mut links, mut posts) = (Vec::new(), Vec::new());
    for tag in html
        .split('<')
        .map(|rest| rest.split('>').next().unwrap_or_default())
    {
        if tag.starts_with("form ") {
            let posted = attribute(tag, "method").is_some_and(|m| m.eq_ignore_ascii_case("post"));
            if let Some(url) = attribute(tag, "action").and_then(same_site) {
                if posted {
                    posts.push(url)
                } else {
                    links.push(url)
                }
            }
        } else {
            for name in ["href", "hx-get"] {
                if let Some(url) = attribute(tag, name).and_then(same_site) {
                    links.push(url);
                }
            }
        }
    }
    (links, posts)
}

/// The pages a member reaches by following links from the home page (at most `limit`), and
/// the actions of the forms on them that post.
async fn crawl(
    app: &TestApp,
    browser: &reqwest::Client,
    limit: usize,
) -> (Vec<(String, String)>, Vec<String>) {
    let mut queue = vec!["/".to_owned()];
    let mut seen = std::collections::HashSet::new();
    let (mut pages, mut actions) = (Vec::new(), Vec::new());
    while let Some(path) = queue.pop() {
        if pages.len() >= limit || !seen.insert(path.clone()) {
            continue;
        }
        let response = browser
            .get(app.workspace_url("acme", &path))
            .send()
            .await
            .unwrap();
        assert!(!response.status().is_server_error(), "{path}");
        // A download (the snapshot's CSV) is not a page: it must come as an attachment of a
        // type that is not HTML, so a browser never renders what it holds; its path is kept
        // for the other workspaces' attempts below.
        let kind = response.headers().get("content-type").cloned();
        let kind = kind.and_then(|v| v.to_str().ok().map(str::to_owned));
        if !kind.as_deref().unwrap_or_default().starts_with("text/html") {
            let disposition = response.headers().get("content-disposition");
            assert!(
                disposition
                    .is_some_and(|d| d.to_str().unwrap_or_default().starts_with("attachment")),
                "{path} ({kind:?}) is neither a page nor an attachment"
            );
            pages.push((path, String::new()));
            continue;
        }
        let html = response.text().await.unwrap();
        let (links, posts) = urls_in(&html);
        for link in links {
            queue.insert(0, link);
        }
        actions.extend(posts);
        pages.push((path, html));
    }
    actions.sort();
    actions.dedup();
    (pages, actions)
}

#[tokio::test]
async fn pages_escape_what_members_write_and_refuse_other_workspaces() {
    // The crawl and the posts after it are more than a member's 100 requests a minute; the
    // limiter is not under test here.
    let (app, db) = TestApp::builder()
        .limiter(RateLimiter::local().with_limit(10_000))
        .demo()
        .spawn()
        .await;
    let rep = token(&app, "acme", "rep").await;
    let admin = token(&app, "acme", "admin").await;
    let organization = created(
        &app,
        &rep,
        "/api/v1/organizations",
        json!({ "name": format!("{ORGANIZATION_MARK} {SCRIPT}"), "industry": BREAKOUT,
                "location": SCRIPT }),
    )
    .await;
    created(
        &app,
        &admin,
        "/api/v1/custom-fields",
        json!({ "entity": "contact", "label": format!("Notes {SCRIPT}"), "kind": "text" }),
    )
    .await;
    let key = "notes_script_alert_zqxss_script";
    let contact = created(
        &app,
        &rep,
        "/api/v1/contacts",
        json!({ "first_name": format!("{CONTACT_MARK} {SCRIPT}"), "last_name": BREAKOUT,
                "title": SCRIPT, "organization_id": organization,
                "custom_fields": { key: BREAKOUT } }),
    )
    .await;
    created(
        &app,
        &rep,
        &format!("/api/v1/contacts/{contact}/activities"),
        json!({ "kind": "note", "description": format!("{ACTIVITY_MARK} {SCRIPT} {BREAKOUT}") }),
    )
    .await;

    // Sales processes, stages and deals: an admin's names, and a rep's deal in that process.
    let process = created(
        &app,
        &admin,
        "/api/v1/processes",
        json!({ "name": format!("Pipeline {SCRIPT}"), "description": BREAKOUT }),
    )
    .await;
    created(
        &app,
        &admin,
        &format!("/api/v1/processes/{process}/stages"),
        json!({ "name": format!("Stage {BREAKOUT}"), "outcome": "open", "win_probability": 40 }),
    )
    .await;
    let deal = created(
        &app,
        &rep,
        "/api/v1/deals",
        json!({ "name": format!("Deal {SCRIPT}"), "notes": BREAKOUT, "process_id": process,
                "organization_id": organization, "lost_reason": null,
                "contacts": [{ "contact_id": contact, "role": "decision_maker" }] }),
    )
    .await;
    created(
        &app,
        &rep,
        &format!("/api/v1/deals/{deal}/activities"),
        json!({ "kind": "call", "description": format!("{SCRIPT} {BREAKOUT}") }),
    )
    .await;

    // The catalog: an admin's product (name, SKU, description, category, a custom field) and
    // a rep's line on the deal with an overridden price and its reason (F12, F13).
    created(
        &app,
        &admin,
        "/api/v1/custom-fields",
        json!({ "entity": "product", "label": format!("Spec {SCRIPT}"), "kind": "text" }),
    )
    .await;
    let product = created(
        &app,
        &admin,
        "/api/v1/products",
        json!({ "sku": SCRIPT, "name": format!("{PRODUCT_MARK} {SCRIPT}"),
                "description": BREAKOUT, "category": format!("Cat {BREAKOUT}"),
                "list_price": "100", "max_discount_percent": "50",
                "custom_fields": { "spec_script_alert_zqxss_script": BREAKOUT } }),
    )
    .await;
    let line = app
        .client
        .post(app.workspace_url("acme", &format!("/api/v1/deals/{deal}/lines")))
        .bearer_auth(&rep)
        .json(
            &json!({ "product_id": product, "quantity": "1", "unit_price": "90",
                       "override_reason": format!("{SCRIPT} {BREAKOUT}") }),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(line.status(), StatusCode::CREATED);

    // What members write elsewhere: their names (at sign-up or on joining) and the workspace's.
    for (statement, text) in [
        (
            "update users set display_name = $1 where email = 'rep@acme.example'",
            format!("Rita {SCRIPT}"),
        ),
        (
            "update tenants set name = $1 where slug = 'acme'",
            format!("Acme {BREAKOUT}"),
        ),
    ] {
        sqlx::query(statement)
            .bind(text)
            .execute(&db.owner)
            .await
            .unwrap();
    }

    // Every page an admin reaches from home: the markup shows as text, never as markup.
    let browser = Member::sign_in(&app, "acme", "admin@acme.example").await;
    let (pages, actions) = crawl(&app, &browser, 150).await;
    for (path, html) in &pages {
        assert!(
            !html.contains("<script>alert"),
            "{path} runs planted script: {html}"
        );
        assert!(
            !html.contains("<img src=x"),
            "{path} renders planted markup: {html}"
        );
    }
    // Every page and partial that shows the product or the line, crawled or not: the deal's
    // lines (htmx and plain), the catalog, its search, the pickers, the new-deal form.
    for (path, htmx) in [
        (format!("/products/{product}"), false),
        ("/products?q=zqx".to_owned(), false),
        ("/products".to_owned(), false),
        (format!("/deals/{deal}/lines"), true),
        (format!("/deals/{deal}/lines"), false),
        (format!("/deals/{deal}/lines/products?q=zqx"), true),
        ("/deals/new".to_owned(), false),
        ("/deals/product-options?line_q_0=zqx".to_owned(), true),
    ] {
        let mut request = browser.get(app.workspace_url("acme", &path));
        if htmx {
            request = request.header("HX-Request", "true");
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{path}");
        let html = response.text().await.unwrap();
        assert!(
            html.contains("zqxss"),
            "{path} shows the planted text: {html}"
        );
        assert!(
            !html.contains("<script>alert") && !html.contains("<img src=x"),
            "{path} renders planted markup: {html}"
        );
    }
    let shown: Vec<&str> = pages
        .iter()
        .filter(|(_, html)| html.contains("zqxss"))
        .map(|(path, _)| path.as_str())
        .collect();
    for needed in [
        format!("/contacts/{contact}"),
        format!("/organizations/{organization}"),
        format!("/deals/{deal}"),
        format!("/settings/processes/{process}"),
        format!("/processes/{process}/snapshot"),
    ] {
        assert!(
            shown.contains(&needed.as_str()),
            "the crawl reached {needed}: {shown:?}"
        );
    }

    // Every form the crawl found refuses a post without the session's CSRF token.
    for action in &actions {
        let response = browser
            .post(app.workspace_url("acme", action))
            .form(&[
                ("first_name", "Forged"),
                ("name", "Forged"),
                ("version", "1"),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(
            response.status(),
            StatusCode::FORBIDDEN,
            "POST {action} without a CSRF token"
        );
    }

    // The pages and forms naming acme's records, found by the crawl, as globex's admin (with
    // a session and token of their own) and as a rep of acme who does not own the contact.
    let (thief, thief_csrf) =
        crate::helpers::signed_in_to(&app, "globex", "admin@globex.example", DEMO_PASSWORD).await;
    let (rep2, rep2_csrf) =
        crate::helpers::signed_in_to(&app, "acme", "rep2@acme.example", DEMO_PASSWORD).await;
    // Any URL naming a record of acme (a contact, an organization, an activity, a custom field,
    // a member): in its path it must be refused, in its query it filters a list to nothing.
    let has_id = |text: &str| {
        text.split(['/', '?', '=', '&'])
            .any(|part| part.parse::<uuid::Uuid>().is_ok())
    };
    let in_path = |url: &str| has_id(url.split('?').next().unwrap());
    let record_pages: Vec<&String> = pages
        .iter()
        .map(|(path, _)| path)
        .filter(|p| has_id(p))
        .collect();
    let record_actions: Vec<&String> = actions.iter().filter(|a| has_id(a)).collect();
    assert!(
        record_pages.len() >= 8 && record_actions.len() >= 12,
        "the crawl found acme's records: {record_pages:?} {record_actions:?}"
    );
    // Globex's own lists, searches and pickers, found by the same crawl: never acme's records.
    let lists = pages.iter().map(|(path, _)| path).filter(|p| !has_id(p));
    // "zqx" starts every mark: it would find each of acme's records, and is not one itself.
    let searches = [
        "/contacts?q=zqx".to_owned(),
        "/organizations?q=zqx".to_owned(),
        "/organizations/options?q=zqx".to_owned(),
    ];
    for (path, mark) in searches
        .iter()
        .zip([CONTACT_MARK, ORGANIZATION_MARK, ORGANIZATION_MARK])
    {
        let found = browser
            .get(app.workspace_url("acme", path))
            .send()
            .await
            .unwrap();
        let html = found.text().await.unwrap().to_lowercase();
        assert!(html.contains(mark), "acme's own {path} finds {mark}");
    }
    for path in lists.cloned().chain(searches) {
        let response = thief
            .get(app.workspace_url("globex", &path))
            .send()
            .await
            .unwrap();
        assert!(!response.status().is_server_error(), "{path}");
        let html = response.text().await.unwrap().to_lowercase();
        for mark in ALL_MARKS {
            assert!(!html.contains(mark), "globex's {path} holds acme's {mark}");
        }
    }
    let refused = [StatusCode::FORBIDDEN, StatusCode::NOT_FOUND];
    for (who, browser, slug, csrf, hidden) in [
        (
            "globex's admin",
            &thief,
            "globex",
            &thief_csrf,
            &ALL_MARKS[..],
        ),
        (
            "acme's other rep",
            &rep2,
            "acme",
            &rep2_csrf,
            &[CONTACT_MARK, ACTIVITY_MARK][..],
        ),
    ] {
        // A rep of acme may reach acme's organizations; not another rep's contact.
        let attacked = |url: &&&String| slug == "globex" || url.contains(&contact);
        for path in record_pages.iter().filter(attacked) {
            let response = browser
                .get(app.workspace_url(slug, path))
                .send()
                .await
                .unwrap();
            let status = response.status();
            let html = response.text().await.unwrap().to_lowercase();
            if in_path(path) {
                assert!(refused.contains(&status), "GET {path} as {who}: {status}");
            } else {
                assert_eq!(status, StatusCode::OK, "GET {path} as {who}");
            }
            for mark in hidden {
                assert!(!html.contains(mark), "GET {path} as {who} leaked {mark}");
            }
        }
        for action in record_actions.iter().filter(attacked) {
            let response = browser
                .post(app.workspace_url(slug, action))
                .form(&[
                    ("csrf_token", csrf.as_str()),
                    ("first_name", "Taken"),
                    ("version", "1"),
                    ("kind", "call"),
                    ("description", "Taken"),
                    ("name", "Taken"),
                    ("role", "admin"),
                ])
                .send()
                .await
                .unwrap();
            let status = response.status();
            let html = response.text().await.unwrap().to_lowercase();
            if in_path(action) {
                assert!(
                    refused.contains(&status),
                    "POST {action} as {who}: {status}"
                );
            }
            for mark in hidden {
                assert!(!html.contains(mark), "POST {action} as {who} leaked {mark}");
            }
        }
    }
    // Nothing of acme changed: not the records, not its members.
    let (changed, members): (i64, i64) = sqlx::query_as(
        "select (select count(*) from contacts where version <> 1 or deleted_at is not null)
                + (select count(*) from organizations where version <> 1 or deleted_at is not null),
                (select count(*) from tenant_members m join tenants t on t.id = m.tenant_id
                 where t.slug = 'acme' and m.deactivated_at is null and m.role <> 'admin')",
    )
    .fetch_one(&db.owner)
    .await
    .unwrap();
    assert_eq!(changed, 0, "every record as it was made");
    assert_eq!(members, 3, "acme's manager and reps are untouched");
}

/// `value` with a NUL character in every string.
fn with_nul(value: &Value) -> Value {
    match value {
        Value::String(text) => Value::String(format!("{text}\u{0}x")),
        Value::Array(items) => Value::Array(items.iter().map(with_nul).collect()),
        Value::Object(fields) => Value::Object(
            fields
                .iter()
                .map(|(key, value)| (key.clone(), with_nul(value)))
                .collect(),
        ),
        other => other.clone(),
    }
}

/// `path` with `parameters` added to its query.
fn with_query(path: &str, parameters: &str) -> String {
    let separator = if path.contains('?') { '&' } else { '?' };
    format!("{path}{separator}{parameters}")
}

/// PostgreSQL's text cannot hold a NUL character: one that reached a query would fail it with
/// a 500. Sent in every body and search of every API route, in every page's query and every
/// form an admin reaches, and in the sign-in forms and token request before anyone signs in,
/// it is refused with a 422 that names the field: a problem document for the API, a page for
/// the pages.
#[tokio::test]
async fn nul_characters_are_refused_by_name_everywhere_and_never_reach_the_database() {
    let (app, db) = TestApp::builder().demo().spawn().await;
    let routes = routes(&app).await;
    let thief: uuid::Uuid =
        sqlx::query_scalar("select id from users where email = 'admin@globex.example'")
            .fetch_one(&db.owner)
            .await
            .unwrap();
    let rep = token(&app, "acme", "rep").await;
    let admin = token(&app, "acme", "admin").await;
    let victim = plant(&app, &db, &rep, &admin, thief).await;
    let is_page = |response: &reqwest::Response| {
        response.headers()[reqwest::header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    };

    // Before anyone signs in.
    let response = app
        .client
        .post(app.workspace_url("acme", "/api/v1/auth/token"))
        .json(&json!({ "email": "admin@acme.example\u{0}", "password": DEMO_PASSWORD }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let problem: Value = response.json().await.unwrap();
    assert_eq!(problem["field"], "email", "{problem}");
    for login in [app.url("/login"), app.workspace_url("acme", "/login")] {
        let browser = app.browser();
        let response =
            submit_login(&browser, &login, "admin@acme.example\u{0}", DEMO_PASSWORD).await;
        assert_eq!(
            response.status(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "{login}"
        );
        assert!(is_page(&response), "{login}");
        let html = response.text().await.unwrap();
        assert!(html.contains("“email” contains a NUL character"), "{html}");
    }

    // Every API route, as acme's admin: its body, and the search of its query.
    let caller = Caller {
        name: "acme's admin",
        slug: "acme",
        token: Some(admin.clone()),
        same_workspace: true,
    };
    let body = with_nul(&reaching_body(&victim));
    for route in &routes {
        let path = path_for(route, &victim);
        let what = format!("{} {path}", route.method);
        if route.method != Method::GET {
            let (status, text) = call(&app, &caller, route, &path, Some(&body)).await;
            assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{what}: {text}");
            assert!(text.contains("nul character"), "{what}: {text}");
        }
        for query in ["search=zqx%00", "q=%00", "%00=1"] {
            let (status, text) = call(&app, &caller, route, &with_query(&path, query), None).await;
            assert_eq!(
                status,
                StatusCode::UNPROCESSABLE_ENTITY,
                "{what}?{query}: {text}"
            );
        }
    }

    // Every page and form an admin reaches: an error page, never JSON, never a 500.
    let browser = Member::sign_in(&app, "acme", "admin@acme.example").await;
    let (pages, actions) = crawl(&app, &browser, 150).await;
    assert!(
        pages.len() >= 10 && actions.len() >= 10,
        "the crawl found the pages"
    );
    for (path, _) in &pages {
        let response = browser
            .get(app.workspace_url("acme", &with_query(path, "q=zqx%00")))
            .send()
            .await
            .unwrap();
        assert_eq!(
            response.status(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "{path}"
        );
        assert!(is_page(&response), "{path}");
    }
    for action in &actions {
        let response = browser
            .post(app.workspace_url("acme", action))
            .form(&[
                ("csrf_token", browser.csrf.as_str()),
                ("first_name", "Ann\u{0}"),
                ("name", "Acme\u{0}"),
                ("description", "\u{0}"),
                ("code", "\u{0}"),
                ("version", "1"),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(
            response.status(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "POST {action}"
        );
        assert!(is_page(&response), "POST {action}");
        let html = response.text().await.unwrap();
        assert!(
            html.contains("“first_name” contains a NUL"),
            "POST {action}: {html}"
        );
    }
}
