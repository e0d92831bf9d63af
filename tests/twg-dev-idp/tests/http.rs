//! Spawned-binary tests: the real server over real HTTP, driven the way twg and its tests will.

mod support;

use std::io::ErrorKind;
use std::thread;
use std::time::{Duration, Instant};

use serde_json::json;
use support::{
    Auth, CHALLENGE, CLIENT_ID, CONF_ID, CONF_SECRET, DEVICE_GRANT, Idp, REDIRECT_URI, TEST_SCOPE,
    VERIFIER, authorize_path, basic_auth, basic_auth_raw, conf_client_arg, consent_request_id,
    wait_for_file,
};

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
        metadata["authorization_endpoint"],
        format!("{}/authorize", idp.url)
    );
    assert_eq!(
        metadata["grant_types_supported"],
        json!(["authorization_code", DEVICE_GRANT, "refresh_token"])
    );
    assert_eq!(metadata["response_types_supported"], json!(["code"]));
    assert_eq!(
        metadata["code_challenge_methods_supported"],
        json!(["S256"])
    );
    assert_eq!(
        metadata["authorization_response_iss_parameter_supported"],
        true
    );
    for endpoint in ["token", "revocation", "introspection"] {
        assert_eq!(
            metadata[format!("{endpoint}_endpoint_auth_methods_supported")],
            json!(["none", "client_secret_basic", "client_secret_post"])
        );
    }
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

    // The public client has no redirect URI to send anything to.
    let public = idp.get("/authorize?response_type=code&client_id=twg-dev-client");
    assert_eq!(public.status, 400);
    assert!(public.body.contains("invalid_client"), "{}", public.body);
    assert_eq!(public.header("location"), None);
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

#[test]
fn code_flow_with_client_secret_post() {
    let idp = Idp::spawn(&["--confidential-client", &conf_client_arg()]);
    let page = idp.get(&authorize_path(&[]));
    assert_eq!(page.status, 200, "{}", page.body);
    assert_eq!(page.header("cache-control"), Some("no-store"));
    assert!(
        page.body
            .contains("<strong id=\"client_id\">twg conf+/1</strong>")
    );
    assert!(page.body.contains("<li>read:jira-work</li>"));
    assert!(
        page.body
            .contains("<form method=\"post\" action=\"/authorize\">")
    );
    assert!(
        page.body
            .contains("<button id=\"approve\" name=\"decision\" value=\"approve\">")
    );
    assert!(
        page.body
            .contains("<button id=\"deny\" name=\"decision\" value=\"deny\">")
    );
    assert_eq!(
        idp.get("/admin/grants").json()["pending_authorization_requests"],
        1
    );
    let approved = idp.post_form(
        "/authorize",
        &[
            ("request_id", &consent_request_id(&page.body)),
            ("decision", "approve"),
        ],
    );
    assert_eq!(approved.status, 303, "{}", approved.body);
    let params = approved.redirect_params(REDIRECT_URI);
    assert_eq!(params["state"], "st-1");
    assert_eq!(params["iss"], idp.url);
    let code = &params["code"];
    assert!(code.starts_with("ac_"));

    let reply = idp.exchange_code(Auth::Post(CONF_SECRET), code, Some(VERIFIER));
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(reply.header("cache-control"), Some("no-store"));
    let tokens = reply.json();
    assert_eq!(tokens["token_type"], "Bearer");
    assert_eq!(tokens["scope"], TEST_SCOPE);
    let access = tokens["access_token"].as_str().unwrap();
    let refresh = tokens["refresh_token"].as_str().unwrap();
    assert_eq!(idp.get_bearer("/me", access).status, 200);

    // A confidential client's refresh token needs the secret, every time.
    let refresh_with = |auth| {
        idp.token_as(
            "/oauth/token",
            auth,
            &[("grant_type", "refresh_token"), ("refresh_token", refresh)],
        )
    };
    refresh_with(Auth::NoSecret).assert_oauth_error(401, "invalid_client");
    let wrong = refresh_with(Auth::Post("s3cr:t/+"));
    wrong.assert_oauth_error(401, "invalid_client");
    assert_eq!(idp.refresh_state(refresh), ("current".to_owned(), true));
    // Nor can the public client use it, with or without the confidential id.
    idp.refresh(refresh)
        .assert_oauth_error(400, "invalid_grant");
    let rotated = refresh_with(Auth::Post(CONF_SECRET));
    assert_eq!(rotated.status, 200, "{}", rotated.body);
    assert_eq!(
        idp.refresh_state(refresh),
        ("rotated_within_leeway".to_owned(), true)
    );

    // Introspection and revocation authenticate the same way.
    let new_access = rotated.json()["access_token"].as_str().unwrap().to_owned();
    let introspect = |auth| idp.token_as("/oauth/introspect", auth, &[("token", &new_access)]);
    introspect(Auth::NoSecret).assert_oauth_error(401, "invalid_client");
    let active = introspect(Auth::Post(CONF_SECRET)).json();
    assert_eq!(active["active"], true);
    assert_eq!(active["client_id"], CONF_ID);
    idp.token_as("/oauth/revoke", Auth::NoSecret, &[("token", &new_access)])
        .assert_oauth_error(401, "invalid_client");
    let revoked = idp.token_as(
        "/oauth/revoke",
        Auth::Post(CONF_SECRET),
        &[("token", &new_access)],
    );
    assert_eq!(revoked.status, 200, "{}", revoked.body);
    assert_eq!(idp.get_bearer("/me", &new_access).status, 401);
    // The device grant wants the secret too.
    idp.token_as("/oauth/device/code", Auth::NoSecret, &[])
        .assert_oauth_error(401, "invalid_client");

    let counters = idp.counters();
    assert_eq!(counters["authorization_requests"], 1);
    assert_eq!(counters["authorization_code_requests"], 1);
    assert_eq!(counters["refresh_requests"], 4);
    assert_eq!(counters["client_secret_post_requests"], 3);
    assert_eq!(counters["client_secret_basic_requests"], 0);
    let log = idp.token_requests();
    let summary: Vec<_> = log
        .iter()
        .map(|r| {
            (
                r["grant_type"].as_str().unwrap(),
                r["client_auth"].as_str().unwrap(),
                r["outcome"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            ("authorization_code", "client_secret_post", "issued"),
            ("refresh_token", "none", "invalid_client"),
            ("refresh_token", "client_secret_post", "invalid_client"),
            ("refresh_token", "none", "invalid_grant"),
            ("refresh_token", "client_secret_post", "issued"),
        ]
    );
    assert_eq!(log[0]["client_id"], CONF_ID);
    assert_eq!(log[3]["client_id"], CLIENT_ID);
    idp.post_json("/admin/counters/reset", json!({}));
    assert!(idp.token_requests().is_empty());
}

#[test]
fn code_flow_with_client_secret_basic() {
    let idp = Idp::spawn(&["--confidential-client", &conf_client_arg()]);
    let code = idp.authorization_code();
    let reply = idp.exchange_code(Auth::Basic(CONF_SECRET), &code, Some(VERIFIER));
    assert_eq!(reply.status, 200, "{}", reply.body);
    let refresh = reply.json()["refresh_token"].as_str().unwrap().to_owned();
    let refresh_params = [
        ("grant_type", "refresh_token"),
        ("refresh_token", refresh.as_str()),
    ];

    // A wrong secret in a Basic header is answered with a Basic challenge.
    let wrong = idp.token_as("/oauth/token", Auth::Basic("nope"), &refresh_params);
    wrong.assert_oauth_error(401, "invalid_client");
    assert!(
        wrong
            .header("www-authenticate")
            .unwrap()
            .starts_with("Basic")
    );
    // Credentials that were not form-encoded first do not decode to the real ones.
    let raw = basic_auth_raw(&format!("{CONF_ID}:{CONF_SECRET}"));
    idp.post_form_with("/oauth/token", &[("Authorization", &raw)], &refresh_params)
        .assert_oauth_error(401, "invalid_client");
    // Two methods at once is a malformed request, even when both are right.
    let both = basic_auth(CONF_ID, CONF_SECRET);
    let mut with_secret = refresh_params.to_vec();
    with_secret.extend([("client_id", CONF_ID), ("client_secret", CONF_SECRET)]);
    idp.post_form_with("/oauth/token", &[("Authorization", &both)], &with_secret)
        .assert_oauth_error(400, "invalid_request");
    assert_eq!(idp.refresh_state(&refresh), ("current".to_owned(), true));

    let rotated = idp.token_as("/oauth/token", Auth::Basic(CONF_SECRET), &refresh_params);
    assert_eq!(rotated.status, 200, "{}", rotated.body);
    let log = idp.token_requests();
    let last = log.last().unwrap();
    assert_eq!(last["grant_type"], "refresh_token");
    assert_eq!(last["client_auth"], "client_secret_basic");
    assert_eq!(last["client_id"], CONF_ID);
    assert_eq!(last["outcome"], "issued");
    // Unreadable credentials (a broken escape, two methods) have no method to report.
    for unreadable in &log[2..4] {
        assert_eq!(unreadable["client_auth"], json!(null));
    }
    assert_eq!(log[2]["outcome"], "invalid_client");
    assert_eq!(log[3]["outcome"], "invalid_request");
    let counters = idp.counters();
    assert_eq!(counters["client_secret_basic_requests"], 3);
    assert_eq!(counters["client_secret_post_requests"], 0);
}

#[test]
fn pkce_and_code_replay() {
    let idp = Idp::spawn(&["--confidential-client", &conf_client_arg()]);
    let code = idp.authorization_code();
    let wrong_verifier = VERIFIER.replace('d', "e");
    let exchange = |verifier| idp.exchange_code(Auth::Post(CONF_SECRET), &code, verifier);
    let description = exchange(Some(&wrong_verifier)).assert_oauth_error(400, "invalid_grant");
    assert!(description.contains("code_verifier"), "{description}");
    exchange(None).assert_oauth_error(400, "invalid_grant");
    // The code is bound to its redirect URI, which the token request must repeat.
    let with_redirect = |redirect: Option<&str>| {
        let mut params = vec![
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("code_verifier", VERIFIER),
        ];
        params.extend(redirect.map(|r| ("redirect_uri", r)));
        idp.token_as("/oauth/token", Auth::Post(CONF_SECRET), &params)
    };
    with_redirect(Some("http://127.0.0.1:9/callback/")).assert_oauth_error(400, "invalid_grant");
    with_redirect(None).assert_oauth_error(400, "invalid_request");
    // And to its client: a bad secret fails authentication before the code is looked at.
    idp.exchange_code(Auth::Post("wrong"), &code, Some(VERIFIER))
        .assert_oauth_error(401, "invalid_client");

    // Refusals do not spend the code; the right verifier still works.
    let first = exchange(Some(VERIFIER));
    assert_eq!(first.status, 200, "{}", first.body);
    let first = first.json();
    let access = first["access_token"].as_str().unwrap();
    let refresh = first["refresh_token"].as_str().unwrap();
    assert_eq!(idp.get_bearer("/me", access).status, 200);

    // A replay is refused and takes down everything the code bought.
    let description = exchange(Some(VERIFIER)).assert_oauth_error(400, "invalid_grant");
    assert!(description.contains("revoked"), "{description}");
    assert_eq!(idp.get_bearer("/me", access).status, 401);
    assert_eq!(idp.refresh_state(refresh), ("revoked".to_owned(), false));
    let grants = idp.get("/admin/grants").json();
    assert_eq!(grants["revoked_grants"], 1);
    assert_eq!(grants["live_grants"], 0);

    // Codes are short-lived: with a 0 s lifetime, a fresh one is already expired.
    idp.post_json("/admin/config", json!({ "auth_code_ttl": 0 }));
    let late = idp.authorization_code();
    let description = idp
        .exchange_code(Auth::Post(CONF_SECRET), &late, Some(VERIFIER))
        .assert_oauth_error(400, "invalid_grant");
    assert!(description.contains("expired"), "{description}");
    assert_eq!(idp.counters()["authorization_code_requests"], 8);
}

#[test]
fn authorize_refusals_and_denial() {
    let idp = Idp::spawn(&["--confidential-client", &conf_client_arg()]);

    // An untrusted redirect URI or client gets a page, never a redirect.
    for path in [
        authorize_path(&[("redirect_uri", Some("http://127.0.0.1:9/callback/"))]),
        authorize_path(&[("redirect_uri", Some("http://evil.example.test/callback"))]),
        authorize_path(&[("redirect_uri", None)]),
        authorize_path(&[("client_id", Some("stranger"))]),
        authorize_path(&[("client_id", Some(CLIENT_ID))]),
    ] {
        let page = idp.get(&path);
        assert_eq!(page.status, 400, "{path}: {}", page.body);
        assert_eq!(page.header("location"), None);
        assert!(
            page.header("content-type")
                .unwrap()
                .starts_with("text/html")
        );
        assert!(page.body.contains("id=\"error\""), "{}", page.body);
        assert!(!page.body.contains("id=\"approve\""));
    }

    // Everything else goes back to the client, with its state and our iss.
    let refused = |overrides: &[(&str, Option<&str>)]| {
        let reply = idp.get(&authorize_path(overrides));
        assert_eq!(reply.status, 303, "{}", reply.body);
        let params = reply.redirect_params(REDIRECT_URI);
        assert_eq!(params["state"], "st-1");
        assert_eq!(params["iss"], idp.url);
        assert!(!params.contains_key("code"));
        params["error"].clone()
    };
    assert_eq!(
        refused(&[("code_challenge_method", Some("plain"))]),
        "invalid_request"
    );
    assert_eq!(
        refused(&[("code_challenge_method", None)]),
        "invalid_request"
    );
    assert_eq!(refused(&[("code_challenge", None)]), "invalid_request");
    assert_eq!(
        refused(&[
            ("code_challenge", Some(VERIFIER)),
            ("code_challenge_method", Some("plain"))
        ]),
        "invalid_request"
    );
    assert_eq!(
        refused(&[("response_type", Some("token"))]),
        "unsupported_response_type"
    );
    assert_eq!(
        refused(&[("scope", Some("read:me \\bad"))]),
        "invalid_scope"
    );

    // The user says no.
    let denied = idp.consent(&authorize_path(&[]), "deny");
    assert_eq!(denied["error"], "access_denied");
    assert_eq!(denied["state"], "st-1");
    assert_eq!(denied["iss"], idp.url);
    assert!(!denied.contains_key("code"));

    // A consent form answers once; a made-up request id answers nothing.
    let page = idp.get(&authorize_path(&[("state", None)]));
    let request_id = consent_request_id(&page.body);
    let approve = [("request_id", request_id.as_str()), ("decision", "approve")];
    let approved = idp
        .post_form("/authorize", &approve)
        .redirect_params(REDIRECT_URI);
    assert!(
        !approved.contains_key("state"),
        "no state sent, none echoed"
    );
    let again = idp.post_form("/authorize", &approve);
    assert_eq!(again.status, 400);
    assert_eq!(again.header("location"), None);
    let forged = idp.post_form(
        "/authorize",
        &[("request_id", "ar_forged"), ("decision", "approve")],
    );
    assert_eq!(forged.status, 400);
    assert_eq!(idp.counters()["authorization_requests"], 13);
}

#[test]
fn confidential_clients_can_be_registered_live() {
    let idp = Idp::spawn(&[]);
    let client = json!({
        "client_id": CONF_ID,
        "client_secret": CONF_SECRET,
        "redirect_uri": REDIRECT_URI,
    });
    let config = idp.post_json(
        "/admin/config",
        json!({ "confidential_clients": [client], "auth_code_ttl": 30 }),
    );
    assert_eq!(config.status, 200, "{}", config.body);
    let config = config.json();
    assert_eq!(
        config["confidential_clients"],
        json!([{ "client_id": CONF_ID, "redirect_uri": REDIRECT_URI }])
    );
    assert_eq!(config["auth_code_ttl"], 30);
    assert!(
        !config.to_string().contains(CONF_SECRET),
        "secrets stay out of the config"
    );
    let code = idp.authorization_code();
    let reply = idp.exchange_code(Auth::Basic(CONF_SECRET), &code, Some(VERIFIER));
    assert_eq!(reply.status, 200, "{}", reply.body);

    for bad in [
        json!([client, client]),
        json!([{ "client_id": "x", "client_secret": "", "redirect_uri": REDIRECT_URI }]),
        json!([{ "client_id": "x", "client_secret": "s", "redirect_uri": "relative/cb" }]),
    ] {
        let reply = idp.post_json("/admin/config", json!({ "confidential_clients": bad }));
        assert_eq!(reply.status, 400, "{}", reply.body);
    }
    assert_eq!(
        idp.get("/admin/config").json()["confidential_clients"][0]["client_id"],
        CONF_ID
    );
    // The challenge constant really is S256 of the verifier.
    assert_eq!(twg_dev_idp::pkce::s256_challenge(VERIFIER), CHALLENGE);
}
