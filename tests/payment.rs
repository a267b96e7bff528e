//! The payment service on the repository's spin.toml with the local test gateway: the
//! subscription lifecycle, a declined card, idempotency keys (100 concurrent requests, one
//! charge), a trap between ledger writes leaving nothing, users kept apart, and streaming
//! limited to a preview on the free plan.

use crate::common::*;
use serde_json::{json, Value};

/// A listener's invoices, newest first.
fn invoices(user: &Listener) -> Vec<Value> {
    let (status, page) = user.send("GET", "/v1/me/invoices", None);
    assert_eq!(status, 200, "{page}");
    page["items"].as_array().unwrap().clone()
}

#[test]
fn subscribe_cancel_resume_with_invoices() {
    let riff = Riff::start(&repo_manifest(""));
    let (status, plans) = get_json(&riff.url("/v1/plans"));
    assert_eq!(status, 200);
    assert_eq!(plans["plans"].as_array().unwrap().len(), 2);

    let ada = Listener::register(&riff, "ada");
    assert_eq!(ada.send_keyed("GET", "/v1/me/subscription", None, None).0, 404);
    let (status, sub) = ada.send_keyed("POST", "/v1/me/subscription", Some(json!({ "plan": "free" })), None);
    assert_eq!(
        (status, sub["plan"]["id"].as_str(), sub["status"].as_str()),
        (201, Some("free"), Some("active"))
    );

    let (status, sub) = ada.send_keyed(
        "POST",
        "/v1/me/subscription",
        Some(json!({ "plan": "premium", "payment_method": "pm_card_visa" })),
        None,
    );
    assert_eq!(status, 201, "{sub}");
    assert_eq!(sub["plan"]["id"], "premium");
    assert_eq!(sub["status"], "active");
    assert_eq!(sub["cancel_at_period_end"], false);
    let invoices = invoices(&ada);
    assert_eq!(invoices.len(), 2);
    assert_eq!(
        (invoices[0]["amount_paid"].as_i64(), invoices[0]["status"].as_str()),
        (Some(999), Some("paid"))
    );
    assert_eq!(invoices[0]["currency"], "eur");

    let (status, sub) = ada.send_keyed("DELETE", "/v1/me/subscription", None, None);
    assert_eq!(
        (status, sub["status"].as_str(), sub["cancel_at_period_end"].as_bool()),
        (200, Some("active"), Some(true))
    );
    assert_eq!(ada.send_keyed("DELETE", "/v1/me/subscription", None, None).0, 409, "already cancelling");
    let (status, sub) = ada.send_keyed("POST", "/v1/me/subscription/resume", None, None);
    assert_eq!((status, sub["cancel_at_period_end"].as_bool()), (200, Some(false)));
    let (status, _) = ada.send_keyed(
        "POST",
        "/v1/me/subscription",
        Some(json!({ "plan": "premium", "payment_method": "pm_card_visa" })),
        None,
    );
    assert_eq!(status, 409, "already premium");
    let (status, method) = ada.send_keyed(
        "PUT",
        "/v1/me/payment-method",
        Some(json!({ "payment_method": "pm_card_mastercard" })),
        None,
    );
    assert_eq!((status, method["card"]["last4"].as_str()), (200, Some("4444")));

    // Bad input.
    for (body, want) in [
        (json!({ "plan": "gold" }), 400),
        (json!({ "plan": "premium" }), 409),
        (json!({ "plan": "premium", "payment_method": "pm_card_visa", "extra": 1 }), 400),
    ] {
        assert_eq!(ada.send_keyed("POST", "/v1/me/subscription", Some(body.clone()), None).0, want, "{body}");
    }
    let anon = client().get(riff.url("/v1/me/subscription")).send().unwrap();
    assert_eq!(anon.status().as_u16(), 401);
}

#[test]
fn a_declined_card_is_402_and_leaves_no_subscription() {
    let riff = Riff::start(&repo_manifest(""));
    let bob = Listener::register(&riff, "bob");
    let (status, body) = bob.send_keyed(
        "POST",
        "/v1/me/subscription",
        Some(json!({ "plan": "premium", "payment_method": "pm_card_chargeDeclined" })),
        None,
    );
    assert_eq!(status, 402, "{body}");
    assert_eq!(body["error"]["code"], "card_declined");
    assert_eq!(body["error"]["type"], "card_error");
    assert_eq!(bob.send_keyed("GET", "/v1/me/subscription", None, None).0, 404);
    assert!(invoices(&bob).is_empty());
}

#[test]
fn one_idempotency_key_means_one_charge() {
    let riff = Riff::start(&repo_manifest(""));
    let cy = Listener::register(&riff, "cyrus");
    let body = json!({ "plan": "premium", "payment_method": "pm_card_visa" });
    let answers: Vec<(u16, Value)> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..100)
            .map(|_| {
                s.spawn(|| cy.send_keyed("POST", "/v1/me/subscription", Some(body.clone()), Some("key-1")))
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert!(answers.iter().all(|a| a == &answers[0]), "100 identical answers");
    assert_eq!(answers[0].0, 201, "{:?}", answers[0]);
    let paid: Vec<Value> = invoices(&cy).into_iter().filter(|i| i["amount_paid"] == 999).collect();
    assert_eq!(paid.len(), 1, "exactly one charge");

    // The same key with other parameters is refused; another key is a new request.
    let (status, err) =
        cy.send_keyed("POST", "/v1/me/subscription", Some(json!({ "plan": "free" })), Some("key-1"));
    assert_eq!(status, 400);
    assert!(err["error"]["message"].as_str().unwrap().contains("idempotency"), "{err}");
    let (status, _) = cy.send_keyed("POST", "/v1/me/subscription", Some(body.clone()), Some("key-2"));
    assert_eq!(status, 409, "a new key runs again, and premium is already active");
    let (status, _) = cy.send_keyed("POST", "/v1/me/subscription", Some(body), Some(&"k".repeat(300)));
    assert_eq!(status, 400, "over-long key");
}

#[test]
fn a_trap_between_ledger_writes_leaves_nothing() {
    let riff = Riff::start_with(
        &repo_manifest(""),
        &[],
        &[("RIFF_VARIABLE_PAYMENT_FAULT_INJECTION", "between-ledger-writes")],
    );
    let dee = Listener::register(&riff, "deedee");
    let (status, _) = dee.send_keyed(
        "POST",
        "/v1/me/subscription",
        Some(json!({ "plan": "premium", "payment_method": "pm_card_visa" })),
        Some("trap-key"),
    );
    assert_eq!(status, 500);
    assert_eq!(dee.send_keyed("GET", "/v1/me/subscription", None, None).0, 404, "no subscription");
    assert!(invoices(&dee).is_empty(), "no invoice");
    // The key was not spent either: the failed request left no answer behind.
    assert!(!riff.log().contains("database is locked"), "{}", riff.log());
}

#[test]
fn users_are_kept_apart_and_free_listeners_hear_previews() {
    let riff = Riff::start_with(&repo_manifest(""), &[], &[("RIFF_VARIABLE_PREVIEW_SECONDS", "1")]);
    let free = Listener::register(&riff, "freeloader");
    let paying = Listener::register(&riff, "patron");
    let (status, _) = paying.send_keyed(
        "POST",
        "/v1/me/subscription",
        Some(json!({ "plan": "premium", "payment_method": "pm_card_visa" })),
        None,
    );
    assert_eq!(status, 201);
    assert_eq!(free.send_keyed("GET", "/v1/me/subscription", None, None).0, 404, "not the other user's");
    assert!(invoices(&free).is_empty());

    let stream = |u: &Listener, range: Option<&str>| {
        let mut req = client().get(riff.url("/v1/tracks/tr01/stream")).bearer_auth(&u.token);
        if let Some(r) = range {
            req = req.header("range", r);
        }
        let resp = req.send().unwrap();
        let preview = resp.headers().get("x-riff-preview-seconds").map(|v| v.to_str().unwrap().to_string());
        (resp.status().as_u16(), preview, resp.bytes().unwrap().len())
    };
    // tr01.wav: 32,044 bytes at 8,000 bytes/s; one second is its 44-byte header + 8,000.
    assert_eq!(stream(&free, None), (200, Some("1".into()), 8_044));
    assert_eq!(stream(&free, Some("bytes=10000-10099")).0, 416, "ranges stop at the preview");
    assert_eq!(stream(&paying, None), (200, None, 32_044));
    assert_eq!(stream(&paying, Some("bytes=10000-10099")), (206, None, 100));
}

#[test]
fn a_period_that_ends_renews_or_falls_past_due() {
    let riff = Riff::start_with(&repo_manifest(""), &[], &[("RIFF_VARIABLE_PAYMENT_PERIOD_SECONDS", "2")]);
    let paying = Listener::register(&riff, "renewer");
    let (status, first) = paying.send_keyed(
        "POST",
        "/v1/me/subscription",
        Some(json!({ "plan": "premium", "payment_method": "pm_card_visa" })),
        None,
    );
    assert_eq!(status, 201, "{first}");
    std::thread::sleep(std::time::Duration::from_millis(2_500));
    let (_, renewed) = paying.send_keyed("GET", "/v1/me/subscription", None, None);
    assert_eq!(renewed["status"], "active", "{renewed}");
    assert!(renewed["current_period_end"].as_u64() > first["current_period_end"].as_u64(), "{renewed}");
    let paid: Vec<i64> = invoices(&paying).iter().map(|i| i["amount_paid"].as_i64().unwrap()).collect();
    assert_eq!(paid, [999, 999], "the renewal was charged once");

    // A card that declines at renewal: past due, an open invoice, previews only.
    let failing = Listener::register(&riff, "lapsing");
    assert_eq!(
        failing
            .send_keyed(
                "POST",
                "/v1/me/subscription",
                Some(json!({ "plan": "premium", "payment_method": "pm_card_visa" })),
                None
            )
            .0,
        201
    );
    assert_eq!(
        failing
            .send_keyed(
                "PUT",
                "/v1/me/payment-method",
                Some(json!({ "payment_method": "pm_card_chargeDeclined" })),
                None
            )
            .0,
        200
    );
    std::thread::sleep(std::time::Duration::from_millis(2_500));
    let stream = client().get(riff.url("/v1/tracks/tr01/stream")).bearer_auth(&failing.token).send().unwrap();
    assert!(stream.headers().contains_key("x-riff-preview-seconds"), "past due hears previews");
    let (_, sub) = failing.send_keyed("GET", "/v1/me/subscription", None, None);
    assert_eq!(sub["status"], "past_due", "{sub}");
    let invoices = invoices(&failing);
    assert_eq!(
        (invoices[0]["status"].as_str(), invoices[0]["amount_paid"].as_i64()),
        (Some("open"), Some(0))
    );
    assert_eq!(invoices.len(), 2);
}
