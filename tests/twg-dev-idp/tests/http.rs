//! Spawned-binary tests: the real server over real HTTP, driven the way twg and its tests will.

mod support;

use std::io::ErrorKind;
use std::thread;
use std::time::{Duration, Instant};

use serde_json::json;
use support::{CLIENT_ID, DEVICE_GRANT, Idp, TEST_SCOPE, wait_for_file};

#[test]
fn announces_url_and_serves_metadata() {
    let dir = std::env::temp_dir().join(format!("twg-dev-idp-ready-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let ready = dir.join("ready");
    let _ = std::fs::remove_file(&ready);
    let idp = Idp::spawn(&["--ready-file", ready.to_str().unwrap()]);
    assert_eq!(wait_for_file(&ready).trim_end(), idp.url);

    let oauth = idp.get("/.well-known/oauth-authorization-server");
    assert_eq!(oauth.status, 200);
    let metadata = oauth.json();
    assert_eq!(metadata["issuer"], idp.url.as_str());
    assert_eq!(
        metadata["token_endpoint"],
        format!("{}/oauth/token", idp.url)
    );
    assert_eq!(
        metadata["device_authorization_endpoint"],
        format!("{}/oauth/device/code", idp.url)
    );
    assert_eq!(
        metadata["accessible_resources_endpoint"],
        format!("{}/oauth/token/accessible-resources", idp.url)
    );
    assert_eq!(
        metadata["grant_types_supported"],
        json!([DEVICE_GRANT, "refresh_token"])
    );
    assert_eq!(
        metadata["token_endpoint_auth_methods_supported"],
        json!(["none"])
    );
    for scope in ["offline_access", "openid", "read:me", "read:jira-work"] {
        assert!(
            metadata["scopes_supported"]
                .as_array()
                .unwrap()
                .contains(&json!(scope))
        );
    }
    assert_eq!(
        idp.get("/.well-known/openid-configuration").json(),
        metadata
    );

    idp.get("/authorize?response_type=code&client_id=twg-dev-client")
        .assert_oauth_error(400, "unsupported_response_type");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn device_flow_through_the_browser_pages() {
    let idp = Idp::spawn(&[]);
    let device = idp.start_device_flow();
    let device_code = device["device_code"].as_str().unwrap();
    let user_code = device["user_code"].as_str().unwrap();
    assert!(device_code.starts_with("dc_") && device_code.len() >= 35);
    assert_eq!(user_code.len(), 9);
    assert_eq!(&user_code[4..5], "-");
    assert_eq!(device["verification_uri"], format!("{}/device", idp.url));
    assert_eq!(
        device["verification_uri_complete"],
        format!("{}/device?user_code={user_code}", idp.url)
    );
    assert_eq!(device["interval"], 5);
    assert_eq!(device["expires_in"], 600);

    idp.poll(device_code)
        .assert_oauth_error(400, "authorization_pending");
    // Polling again at once is faster than the 5 s interval.
    idp.poll(device_code).assert_oauth_error(400, "slow_down");

    let entry = idp.get("/device");
    assert_eq!(entry.status, 200);
    assert!(
        entry
            .body
            .contains("<input id=\"user_code\" name=\"user_code\">")
    );
    assert!(entry.body.contains("id=\"continue\""));

    // People type codes sloppily: lower case, no dash.
    let typed = user_code.replace('-', "").to_lowercase();
    let consent = idp.get(&format!("/device?user_code={typed}"));
    assert_eq!(consent.status, 200, "{}", consent.body);
    assert!(consent.body.contains(user_code));
    assert!(consent.body.contains(CLIENT_ID));
    assert!(consent.body.contains("read:jira-work"));
    assert!(
        consent
            .body
            .contains("<button id=\"approve\" name=\"action\" value=\"approve\">")
    );
    assert!(
        consent
            .body
            .contains("<button id=\"deny\" name=\"action\" value=\"deny\">")
    );

    let result = idp.post_form(
        "/device",
        &[("user_code", user_code), ("action", "approve")],
    );
    assert_eq!(result.status, 200);
    assert!(result.body.contains("Approved"));
    let again = idp.post_form(
        "/device",
        &[("user_code", user_code), ("action", "approve")],
    );
    assert_eq!(again.status, 400);
    let unknown = idp.get("/device?user_code=BBBB-BBBB");
    assert_eq!(unknown.status, 400);
    assert!(unknown.body.contains("not known"));

    let reply = idp.poll(device_code);
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(reply.header("cache-control"), Some("no-store"));
    let tokens = reply.json();
    assert_eq!(tokens["token_type"], "Bearer");
    assert_eq!(tokens["expires_in"], 3600);
    assert_eq!(tokens["scope"], TEST_SCOPE);
    let access_token = tokens["access_token"].as_str().unwrap();
    assert!(access_token.starts_with("at_"));
    assert!(tokens["refresh_token"].as_str().unwrap().starts_with("rt_"));

    // The device code is spent.
    idp.poll(device_code)
        .assert_oauth_error(400, "invalid_grant");

    let resources = idp.get_bearer("/oauth/token/accessible-resources", access_token);
    assert_eq!(resources.status, 200, "{}", resources.body);
    assert_eq!(
        resources.json(),
        json!([{
            "id": "site-1",
            "name": "dev-site",
            "url": "https://dev-site.example.test",
            "scopes": ["read:me", "read:jira-work"],
            "avatarUrl": "",
        }])
    );
    for path in ["/userinfo", "/me"] {
        let me = idp.get_bearer(path, access_token).json();
        assert_eq!(me["name"], "Dev User");
        assert_eq!(me["email"], "dev@example.test");
        assert_eq!(me["sub"], me["account_id"]);
    }

    let counters = idp.counters();
    assert_eq!(counters["device_authorizations"], 1);
    assert_eq!(counters["device_token_polls"], 4);
    assert_eq!(counters["token_requests"], 4);
    assert_eq!(counters["refresh_requests"], 0);
    assert_eq!(counters["resources_requests"], 1);
    assert_eq!(counters["userinfo_requests"], 2);
    let before = idp.post_json("/admin/counters/reset", json!({})).json();
    assert_eq!(before, counters);
    assert_eq!(idp.counters()["token_requests"], 0);
}

#[test]
fn denial_expiry_and_auto_approve() {
    let idp = Idp::spawn(&["--interval", "0"]);
    let denied = idp.start_device_flow();
    let result = idp.post_form(
        "/device",
        &[
            ("user_code", denied["user_code"].as_str().unwrap()),
            ("action", "deny"),
        ],
    );
    assert!(result.body.contains("Denied"));
    idp.poll(denied["device_code"].as_str().unwrap())
        .assert_oauth_error(400, "access_denied");

    let expiring = idp.start_device_flow();
    let expired = idp
        .post_json("/admin/expire-device-codes", json!({}))
        .json();
    assert_eq!(expired["expired"], 2);
    idp.poll(expiring["device_code"].as_str().unwrap())
        .assert_oauth_error(400, "expired_token");
    let late = idp.post_json(
        "/admin/approve",
        json!({ "user_code": expiring["user_code"] }),
    );
    assert_eq!(late.status, 410);
    let unknown = idp.post_json("/admin/deny", json!({ "user_code": "BBBB-BBBB" }));
    assert_eq!(unknown.status, 404);

    // No offline_access, no refresh token.
    idp.post_json("/admin/config", json!({ "auto_approve": true }));
    let device = idp.post_form(
        "/oauth/device/code",
        &[("client_id", CLIENT_ID), ("scope", "read:me")],
    );
    let tokens = idp
        .poll(device.json()["device_code"].as_str().unwrap())
        .json();
    assert!(tokens["access_token"].is_string());
    assert!(tokens.get("refresh_token").is_none());
}

#[test]
fn refresh_rotation_reuse_leeway_and_theft_detection() {
    let idp = Idp::spawn(&["--reuse-leeway", "1"]);
    let first = idp.login();
    let rt1 = first["refresh_token"].as_str().unwrap().to_owned();
    assert_eq!(idp.refresh_state(&rt1), ("current".to_owned(), true));

    let second = idp.refresh(&rt1);
    assert_eq!(second.status, 200, "{}", second.body);
    assert_eq!(second.header("cache-control"), Some("no-store"));
    let second = second.json();
    let rt2 = second["refresh_token"].as_str().unwrap().to_owned();
    assert_ne!(rt1, rt2);
    assert_eq!(second["scope"], TEST_SCOPE);
    assert_eq!(
        idp.refresh_state(&rt1),
        ("rotated_within_leeway".to_owned(), true)
    );
    assert_eq!(idp.refresh_state(&rt2), ("current".to_owned(), true));

    // As if the response carrying rt2 was lost: rt1 is still good within the leeway.
    let third = idp.refresh(&rt1);
    assert_eq!(third.status, 200, "{}", third.body);
    let third = third.json();
    let rt3 = third["refresh_token"].as_str().unwrap().to_owned();
    assert_eq!(idp.refresh_state(&rt3), ("current".to_owned(), true));

    // Past the 1 s leeway a reuse is theft: the grant dies with all its tokens.
    thread::sleep(Duration::from_millis(1100));
    assert_eq!(
        idp.refresh_state(&rt1),
        ("rotated_expired".to_owned(), false)
    );
    assert_eq!(
        idp.refresh_state(&rt3),
        ("current".to_owned(), true),
        "checks spend nothing"
    );
    let description = idp.refresh(&rt1).assert_oauth_error(400, "invalid_grant");
    assert!(description.contains("revoked"), "{description}");
    assert_eq!(idp.refresh_state(&rt3), ("revoked".to_owned(), false));
    idp.refresh(&rt3).assert_oauth_error(400, "invalid_grant");
    for token in [&first, &second, &third] {
        let reply = idp.get_bearer(
            "/oauth/token/accessible-resources",
            token["access_token"].as_str().unwrap(),
        );
        assert_eq!(reply.status, 401);
        assert!(
            reply
                .header("www-authenticate")
                .unwrap()
                .contains("error=\"invalid_token\"")
        );
    }
    let grants = idp.get("/admin/grants").json();
    assert_eq!(
        (
            grants["live_grants"].as_u64(),
            grants["revoked_grants"].as_u64()
        ),
        (Some(0), Some(1))
    );
    assert_eq!(
        idp.refresh_state("rt_unknown"),
        ("unknown".to_owned(), false)
    );

    // The leeway is live-configurable: with 0, any reuse is fatal at once.
    let config = idp.post_json(
        "/admin/config",
        json!({ "reuse_leeway": 0, "access_token_ttl": 120 }),
    );
    assert_eq!(config.json()["reuse_leeway"], 0);
    let fresh = idp.login();
    assert_eq!(fresh["expires_in"], 120);
    let rt = fresh["refresh_token"].as_str().unwrap();
    assert_eq!(idp.refresh(rt).status, 200);
    idp.refresh(rt).assert_oauth_error(400, "invalid_grant");
    assert_eq!(idp.counters()["refresh_requests"], 6);
}

#[test]
fn revocation() {
    let idp = Idp::spawn(&[]);
    let tokens = idp.login();
    let access = tokens["access_token"].as_str().unwrap();
    let refresh = tokens["refresh_token"].as_str().unwrap();

    let revoke = |token: &str, hint: &str| {
        idp.post_form(
            "/oauth/revoke",
            &[
                ("token", token),
                ("token_type_hint", hint),
                ("client_id", CLIENT_ID),
            ],
        )
    };
    assert_eq!(revoke(access, "access_token").status, 200);
    assert_eq!(
        idp.get_bearer("/oauth/token/accessible-resources", access)
            .status,
        401
    );
    let introspected = idp
        .post_form("/oauth/introspect", &[("token", access)])
        .json();
    assert_eq!(introspected, json!({ "active": false }));

    // The grant survives an access-token revocation.
    let refreshed = idp.refresh(refresh).json();
    let new_access = refreshed["access_token"].as_str().unwrap();
    let new_refresh = refreshed["refresh_token"].as_str().unwrap();
    let active = idp
        .post_form("/oauth/introspect", &[("token", new_access)])
        .json();
    assert_eq!(active["active"], true);
    assert_eq!(active["client_id"], CLIENT_ID);

    // Revoking a refresh token takes the whole grant down.
    assert_eq!(revoke(new_refresh, "refresh_token").status, 200);
    assert_eq!(idp.get_bearer("/userinfo", new_access).status, 401);
    idp.refresh(new_refresh)
        .assert_oauth_error(400, "invalid_grant");

    // RFC 7009 §2.2: unknown tokens are fine; a missing one is not.
    assert_eq!(revoke("rt_never_issued", "refresh_token").status, 200);
    idp.post_form("/oauth/revoke", &[("client_id", CLIENT_ID)])
        .assert_oauth_error(400, "invalid_request");
    idp.post_form(
        "/oauth/revoke",
        &[("token", "x"), ("client_id", "stranger")],
    )
    .assert_oauth_error(401, "invalid_client");
    assert_eq!(idp.counters()["revocations"], 5);
}

#[test]
fn malformed_and_unauthorized_requests() {
    let idp = Idp::spawn(&[]);
    let token = |params: &[(&str, &str)]| idp.post_form("/oauth/token", params);

    token(&[("client_id", CLIENT_ID)]).assert_oauth_error(400, "invalid_request");
    token(&[("grant_type", "password"), ("client_id", CLIENT_ID)])
        .assert_oauth_error(400, "unsupported_grant_type");
    token(&[("grant_type", DEVICE_GRANT), ("client_id", CLIENT_ID)])
        .assert_oauth_error(400, "invalid_request");
    token(&[("grant_type", "refresh_token"), ("refresh_token", "rt_x")])
        .assert_oauth_error(401, "invalid_client");
    token(&[
        ("grant_type", "refresh_token"),
        ("refresh_token", "rt_x"),
        ("client_id", CLIENT_ID),
    ])
    .assert_oauth_error(400, "invalid_grant");
    idp.post_form("/oauth/device/code", &[("client_id", "stranger")])
        .assert_oauth_error(401, "invalid_client");

    let raw = |content_type: &str, body: &[u8]| {
        idp.request(
            "POST",
            "/oauth/token",
            &[("Content-Type", content_type)],
            body,
            Duration::from_secs(10),
        )
        .unwrap()
    };
    raw("application/json", b"{\"grant_type\":\"refresh_token\"}")
        .assert_oauth_error(400, "invalid_request");
    raw("application/x-www-form-urlencoded", b"grant_type=\xff\xfe")
        .assert_oauth_error(400, "invalid_request");
    raw(
        "application/x-www-form-urlencoded",
        b"grant_type=refresh_token&grant_type=refresh_token",
    )
    .assert_oauth_error(400, "invalid_request");
    raw("application/x-www-form-urlencoded", b"%%%&&&===")
        .assert_oauth_error(400, "invalid_request");

    let missing = idp.get("/userinfo");
    assert_eq!(missing.status, 401);
    assert!(
        missing
            .header("www-authenticate")
            .unwrap()
            .starts_with("Bearer")
    );
    let invalid = idp.get_bearer("/userinfo", "at_forged");
    assert_eq!(invalid.status, 401);
    assert!(
        invalid
            .header("www-authenticate")
            .unwrap()
            .contains("error=\"invalid_token\"")
    );

    let bad_fault = idp.post_json("/admin/faults", json!({ "mode": "explode" }));
    assert_eq!(bad_fault.status, 400);
    assert_eq!(bad_fault.json()["error"], "invalid_request");
    assert_eq!(idp.counters()["token_requests"], 9);
}

#[test]
fn injected_faults() {
    let idp = Idp::spawn(&[]);
    let tokens = idp.login();
    let mut refresh = tokens["refresh_token"].as_str().unwrap().to_owned();
    let next = |idp: &Idp, refresh: &mut String| {
        let reply = idp.refresh(refresh);
        assert_eq!(reply.status, 200, "{}", reply.body);
        *refresh = reply.json()["refresh_token"].as_str().unwrap().to_owned();
    };

    idp.set_fault(json!({ "mode": "status", "count": 1 }));
    idp.refresh(&refresh)
        .assert_oauth_error(503, "temporarily_unavailable");
    next(&idp, &mut refresh);

    idp.set_fault(json!({ "endpoint": "token", "mode": "status", "status": 500, "count": 1 }));
    idp.refresh(&refresh)
        .assert_oauth_error(500, "server_error");

    idp.set_fault(json!({ "mode": "html", "count": 1 }));
    let html = idp.refresh(&refresh);
    assert_eq!(html.status, 502);
    assert!(
        html.header("content-type")
            .unwrap()
            .starts_with("text/html")
    );

    idp.set_fault(json!({ "mode": "truncated", "count": 1 }));
    let truncated = idp.refresh(&refresh);
    assert_eq!(truncated.status, 200);
    assert!(truncated.body.starts_with("{\"access_token\": \"at_"));
    assert!(serde_json::from_str::<serde_json::Value>(&truncated.body).is_err());

    idp.set_fault(json!({ "mode": "delay", "delay_ms": 300, "count": 1 }));
    let started = Instant::now();
    next(&idp, &mut refresh);
    assert!(started.elapsed() >= Duration::from_millis(300));

    // A hang lasts until the client gives up, and until cleared by hand when count is 0.
    idp.set_fault(json!({ "mode": "hang" }));
    for _ in 0..2 {
        let err = idp
            .try_refresh(&refresh, Duration::from_millis(300))
            .unwrap_err();
        assert!(
            matches!(err.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut),
            "{err}"
        );
    }
    assert_eq!(idp.get("/admin/faults").json()["token"]["mode"], "hang");
    idp.set_fault(json!({ "mode": "none" }));
    assert_eq!(idp.get("/admin/faults").json(), json!({}));
    next(&idp, &mut refresh);

    // The rotation happens, the answer never arrives; the old token still works in the leeway.
    idp.set_fault(json!({ "mode": "drop_after_rotate", "count": 1 }));
    let err = idp
        .try_refresh(&refresh, Duration::from_secs(5))
        .unwrap_err();
    assert!(
        matches!(
            err.kind(),
            ErrorKind::UnexpectedEof | ErrorKind::ConnectionReset | ErrorKind::ConnectionAborted
        ),
        "{err}"
    );
    assert_eq!(
        idp.refresh_state(&refresh),
        ("rotated_within_leeway".to_owned(), true)
    );
    next(&idp, &mut refresh);
    assert_eq!(idp.refresh_state(&refresh), ("current".to_owned(), true));

    // Other endpoints have their own faults.
    idp.set_fault(json!({ "endpoint": "resources", "mode": "status", "status": 429, "count": 1 }));
    let access = tokens["access_token"].as_str().unwrap();
    assert_eq!(
        idp.get_bearer("/oauth/token/accessible-resources", access)
            .status,
        429
    );
    assert_eq!(
        idp.get_bearer("/oauth/token/accessible-resources", access)
            .status,
        200
    );
    idp.set_fault(json!({ "endpoint": "device", "mode": "truncated", "count": 1 }));
    let device = idp.post_form("/oauth/device/code", &[("client_id", CLIENT_ID)]);
    assert!(device.body.starts_with("{\"device_code\": \"dc_"));
    idp.set_fault(json!({ "endpoint": "revoke", "mode": "status", "count": 1 }));
    idp.post_form(
        "/oauth/revoke",
        &[("token", access), ("client_id", CLIENT_ID)],
    )
    .assert_oauth_error(503, "temporarily_unavailable");
    assert_eq!(
        idp.get_bearer("/me", access).status,
        200,
        "revocation was faulted away"
    );

    // Faulted requests are counted like any other.
    let counters = idp.counters();
    assert_eq!(counters["refresh_requests"], 11);
    assert_eq!(counters["resources_requests"], 2);
    assert_eq!(counters["device_authorizations"], 2);
    assert_eq!(counters["revocations"], 1);
}

#[cfg(unix)]
#[test]
fn sigterm_exits_cleanly_even_with_a_hung_request() {
    let mut idp = Idp::spawn(&[]);
    idp.set_fault(json!({ "mode": "hang" }));
    let url = idp.url.clone();
    let hung = {
        let idp_addr = url.strip_prefix("http://").unwrap().to_owned();
        thread::spawn(move || {
            use std::io::{Read, Write};
            let mut stream = std::net::TcpStream::connect(idp_addr).unwrap();
            stream
                .set_read_timeout(Some(Duration::from_secs(20)))
                .unwrap();
            let body = "grant_type=refresh_token&refresh_token=rt_x&client_id=twg-dev-client";
            write!(
                stream,
                "POST /oauth/token HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\
                 Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            )
            .unwrap();
            let mut reply = String::new();
            let _ = stream.read_to_string(&mut reply);
            reply
        })
    };
    // Let the request reach the server before stopping it.
    let deadline = Instant::now() + Duration::from_secs(10);
    while idp.counters()["token_requests"] != 1 {
        assert!(Instant::now() < deadline, "hung request never arrived");
        thread::sleep(Duration::from_millis(20));
    }
    let status = idp.terminate(Duration::from_secs(10));
    assert!(status.success(), "{status:?}");
    let reply = hung.join().unwrap();
    assert!(reply.starts_with("HTTP/1.1 503"), "{reply}");
}
