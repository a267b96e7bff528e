//! The payment service on the repository's spin.toml with the local test gateway: the
//! subscription lifecycle, a declined card, renewals, users kept apart, streaming limited to a
//! preview on the free plan, and `Idempotency-Key` on every mutating route (subscribe, cancel,
//! resume, change the card): one key is one answer and one effect, keys are each listener's own,
//! and a request that failed half-way (a trap between ledger writes, an unreachable gateway)
//! does not spend its key.

use crate::common::*;
use serde_json::{json, Value};
use std::time::Duration;

const SUBSCRIPTION: &str = "/v1/me/subscription";
const RESUME: &str = "/v1/me/subscription/resume";
const PAYMENT_METHOD: &str = "/v1/me/payment-method";

fn premium(card: &str) -> Value {
    json!({ "plan": "premium", "payment_method": card })
}

fn card(card: &str) -> Value {
    json!({ "payment_method": card })
}

/// A listener's subscription (200).
fn subscription(user: &Listener) -> Value {
    let (status, sub) = user.send("GET", SUBSCRIPTION, None);
    assert_eq!(status, 200, "{sub}");
    sub
}

/// A number field of a JSON answer; a missing one fails.
fn number(body: &Value, field: &str) -> u64 {
    body[field].as_u64().unwrap_or_else(|| panic!("no {field} in {body}"))
}

/// Assert a 400 that names idempotency (the key was used with other parameters).
fn assert_key_mismatch((status, body): (u16, Value)) {
    assert_eq!(status, 400, "{body}");
    assert!(body["error"]["message"].as_str().is_some_and(|m| m.contains("idempotency")), "{body}");
}

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
    let declined =
        bob.send_keyed("POST", SUBSCRIPTION, Some(premium("pm_card_chargeDeclined")), Some("bob-1"));
    let (status, body) = &declined;
    assert_eq!(*status, 402, "{body}");
    assert_eq!(body["error"]["code"], "card_declined");
    assert_eq!(body["error"]["type"], "card_error");
    assert_eq!(bob.send("GET", SUBSCRIPTION, None).0, 404);
    assert!(invoices(&bob).is_empty());
    // A decline is a complete answer, not a failure half-way: like Stripe, the key keeps it
    // (README: the first answer is replayed), and cannot be reused for another card.
    let again = bob.send_keyed("POST", SUBSCRIPTION, Some(premium("pm_card_chargeDeclined")), Some("bob-1"));
    assert_eq!(again, declined);
    assert_key_mismatch(bob.send_keyed("POST", SUBSCRIPTION, Some(premium("pm_card_visa")), Some("bob-1")));
    assert_eq!(bob.send("GET", SUBSCRIPTION, None).0, 404);
    // A working card under a new key subscribes, charged once.
    let (status, sub) = bob.send_keyed("POST", SUBSCRIPTION, Some(premium("pm_card_visa")), Some("bob-2"));
    assert_eq!(status, 201, "{sub}");
    let paid = invoices(&bob);
    assert_eq!(paid.len(), 1, "{paid:?}");
    assert_eq!((paid[0]["amount_paid"].as_i64(), paid[0]["status"].as_str()), (Some(999), Some("paid")));
}

#[test]
fn one_idempotency_key_means_one_charge() {
    let riff = Riff::start(&repo_manifest(""));
    let cy = Listener::register(&riff, "cyrus");
    let body = premium("pm_card_visa");
    let answers =
        all_at_once(100, |_| cy.send_keyed("POST", SUBSCRIPTION, Some(body.clone()), Some("key-1")));
    assert_eq!(answers.len(), 100);
    assert_eq!(answers[0].0, 201, "{:?}", answers[0]);
    assert!(answers.iter().all(|a| a == &answers[0]), "100 identical answers");
    let paid: Vec<Value> = invoices(&cy).into_iter().filter(|i| i["amount_paid"] == 999).collect();
    assert_eq!(paid.len(), 1, "exactly one charge");

    // The same key with other parameters is refused; another key is a new request.
    assert_key_mismatch(cy.send_keyed("POST", SUBSCRIPTION, Some(json!({ "plan": "free" })), Some("key-1")));
    let (status, _) = cy.send_keyed("POST", SUBSCRIPTION, Some(body.clone()), Some("key-2"));
    assert_eq!(status, 409, "a new key runs again, and premium is already active");
    let (status, _) = cy.send_keyed("POST", SUBSCRIPTION, Some(body), Some(&"k".repeat(300)));
    assert_eq!(status, 400, "over-long key");
}

/// Cancel, resume and a card change: the same key twice is the first answer again, and a
/// replay changes nothing even after the state has moved on. Without the key each of these
/// requests runs again (and, for cancel and resume, is refused the second time).
#[test]
fn cancel_resume_and_card_changes_answer_once_per_key() {
    let riff = Riff::start(&repo_manifest(""));
    let eva = Listener::register(&riff, "eva");
    let (status, sub) = eva.send("POST", SUBSCRIPTION, Some(premium("pm_card_visa")));
    assert_eq!(status, 201, "{sub}");
    let cancel = |key: Option<&str>| eva.send_keyed("DELETE", SUBSCRIPTION, None, key);
    let resume = |key: Option<&str>| eva.send_keyed("POST", RESUME, None, key);
    let cancelling = |want: bool| {
        assert_eq!(subscription(&eva)["cancel_at_period_end"].as_bool(), Some(want), "cancel_at_period_end");
    };

    let first = cancel(Some("cancel-1"));
    assert_eq!((first.0, first.1["cancel_at_period_end"].as_bool()), (200, Some(true)), "{}", first.1);
    assert_eq!(cancel(Some("cancel-1")), first, "the same key: the first answer");
    assert_eq!(cancel(None).0, 409, "without a key it runs again: already cancelling");
    assert_eq!(resume(None).0, 200);
    assert_eq!(cancel(Some("cancel-1")), first, "still the first answer");
    cancelling(false); // the replay did not cancel again

    assert_eq!(cancel(None).0, 200);
    let first = resume(Some("resume-1"));
    assert_eq!((first.0, first.1["cancel_at_period_end"].as_bool()), (200, Some(false)), "{}", first.1);
    assert_eq!(resume(Some("resume-1")), first, "the same key: the first answer");
    assert_eq!(resume(None).0, 409, "without a key it runs again: nothing to resume");
    assert_eq!(cancel(None).0, 200);
    assert_eq!(resume(Some("resume-1")), first, "still the first answer");
    cancelling(true); // the replay did not resume again

    // A card change (its one effect at the gateway is counted in payment_stripe).
    let put =
        |method: &str, key: Option<&str>| eva.send_keyed("PUT", PAYMENT_METHOD, Some(card(method)), key);
    let first = put("pm_card_mastercard", Some("card-1"));
    assert_eq!((first.0, first.1["card"]["last4"].as_str()), (200, Some("4444")), "{}", first.1);
    assert_eq!(put("pm_card_mastercard", Some("card-1")), first);
    assert_key_mismatch(put("pm_card_visa", Some("card-1")));

    // A key belongs to one request: used on another route it is refused, and nothing runs.
    assert_key_mismatch(resume(Some("cancel-1")));
    assert_key_mismatch(eva.send_keyed("DELETE", SUBSCRIPTION, None, Some("resume-1")));
    cancelling(true);
}

/// Two listeners sending the same key each get their own answer: never the other's replayed.
#[test]
fn one_key_used_by_two_listeners_answers_each_their_own() {
    let riff = Riff::start(&repo_manifest(""));
    let ann = Listener::register(&riff, "ann");
    let ben = Listener::register(&riff, "ben");
    let cat = Listener::register(&riff, "cat"); // never subscribes

    let mut ids = Vec::new();
    for user in [&ann, &ben] {
        let (status, sub) =
            user.send_keyed("POST", SUBSCRIPTION, Some(premium("pm_card_visa")), Some("same-sub"));
        assert_eq!(status, 201, "{}: {sub}", user.name);
        let id = sub["id"].as_str().expect("a subscription id").to_string();
        assert_eq!(subscription(user)["id"].as_str(), Some(id.as_str()), "{}", user.name);
        let paid = invoices(user);
        assert_eq!(paid.len(), 1, "{}: {paid:?}", user.name);
        ids.push(id);
    }
    assert_ne!(ids[0], ids[1], "ben was answered ann's subscription");

    for (path, method, key, want_cancelling) in
        [(SUBSCRIPTION, "DELETE", "same-cancel", true), (RESUME, "POST", "same-resume", false)]
    {
        for (user, id) in [(&ann, &ids[0]), (&ben, &ids[1])] {
            let (status, sub) = user.send_keyed(method, path, None, Some(key));
            assert_eq!(
                (status, sub["id"].as_str(), sub["cancel_at_period_end"].as_bool()),
                (200, Some(id.as_str()), Some(want_cancelling)),
                "{method} {path} by {}: {sub}",
                user.name
            );
        }
        // Cat has nothing to cancel or resume, whatever ann and ben got under this key.
        let (status, body) = cat.send_keyed(method, path, None, Some(key));
        assert_eq!(status, 404, "{method} {path} by cat: {body}");
        assert!(body.get("id").is_none(), "{body}");
    }

    let (status, a) = ann.send_keyed("PUT", PAYMENT_METHOD, Some(card("pm_card_visa")), Some("same-card"));
    assert_eq!((status, a["card"]["last4"].as_str()), (200, Some("4242")), "{a}");
    let (status, b) =
        ben.send_keyed("PUT", PAYMENT_METHOD, Some(card("pm_card_mastercard")), Some("same-card"));
    assert_eq!(
        (status, b["card"]["last4"].as_str()),
        (200, Some("4444")),
        "not ann's card, nor a mismatch: {b}"
    );
    assert_eq!(cat.send("GET", SUBSCRIPTION, None).0, 404);
    assert!(invoices(&cat).is_empty());
}

#[test]
fn a_trap_between_ledger_writes_leaves_nothing_and_does_not_spend_the_key() {
    let riff = Riff::start_with(
        &repo_manifest(""),
        &[],
        &[("RIFF_VARIABLE_PAYMENT_FAULT_INJECTION", "between-ledger-writes")],
    );
    let dee = Listener::register(&riff, "deedee");
    let (status, body) =
        dee.send_keyed("POST", SUBSCRIPTION, Some(premium("pm_card_visa")), Some("trap-key"));
    assert_eq!(status, 500, "{body}");
    assert_eq!(dee.send("GET", SUBSCRIPTION, None).0, 404, "no subscription");
    assert!(invoices(&dee).is_empty(), "no invoice");
    assert!(!riff.log().contains("database is locked"), "{}", riff.log());

    // The cause removed (riff restarted on the same state without the fault), the same key runs
    // the request: the failed attempt left no answer behind.
    let riff = Riff::start_in(riff.stop(), &[], &[]);
    let dee = Listener::with_token(&riff, &dee.token);
    let retried = dee.send_keyed("POST", SUBSCRIPTION, Some(premium("pm_card_visa")), Some("trap-key"));
    assert_eq!(retried.0, 201, "{}", retried.1);
    assert_eq!(
        dee.send_keyed("POST", SUBSCRIPTION, Some(premium("pm_card_visa")), Some("trap-key")),
        retried
    );
    assert_eq!(subscription(&dee)["id"], retried.1["id"]);
    let paid = invoices(&dee);
    assert_eq!(paid.len(), 1, "charged once: {paid:?}");
    assert_eq!(paid[0]["amount_paid"].as_i64(), Some(999));
}

/// A request that fails half-way because the gateway cannot be reached (a 5xx, nothing written)
/// does not spend its key: once the gateway is back, the same key runs the request. Covers
/// subscribe, a card change, and a cancel whose renewal (due first) could not be charged.
/// (Resume never reaches the gateway: a subscription set to cancel is not renewed.)
#[test]
fn a_request_the_gateway_failed_does_not_spend_its_key() {
    let period = [("RIFF_VARIABLE_PAYMENT_PERIOD_SECONDS", "1")];
    let riff = Riff::start_with(&repo_manifest(""), &[], &period);
    let cass = Listener::register(&riff, "cass");
    let (status, first) = cass.send("POST", SUBSCRIPTION, Some(premium("pm_card_visa")));
    assert_eq!(status, 201, "{first}");
    let xena = Listener::register(&riff, "xena");
    let will = Listener::register(&riff, "will");

    // The same state, with a gateway nobody answers at (port 1 is not served).
    let down = [
        period[0],
        ("RIFF_VARIABLE_STRIPE_SECRET_KEY", "sk_test_unreachable"),
        ("RIFF_VARIABLE_STRIPE_API_BASE", "http://127.0.0.1:1"),
    ];
    let riff = Riff::start_in(riff.stop(), &[], &down);
    let [cass, xena, will] = [&cass, &xena, &will].map(|u| Listener::with_token(&riff, &u.token));
    // Once cass's period has ended (the API said when), every request first tries to renew it.
    eventually(
        "a request after the period's end to try the renewal",
        Duration::from_secs(60),
        || riff.log(),
        || {
            let (status, sub) = cass.send("GET", SUBSCRIPTION, None);
            assert!(
                status == 502 || (status == 200 && sub["current_period_end"] == first["current_period_end"]),
                "{status} {sub}"
            );
            status == 502
        },
    );
    let gateway_down = |(status, body): (u16, Value)| {
        assert_eq!(status, 502, "{body}");
        assert!(body["error"]["message"].as_str().is_some_and(|m| m.contains("gateway")), "{body}");
    };
    gateway_down(cass.send_keyed("DELETE", SUBSCRIPTION, None, Some("cancel-k")));
    gateway_down(xena.send_keyed("PUT", PAYMENT_METHOD, Some(card("pm_card_visa")), Some("card-k")));
    gateway_down(will.send_keyed("POST", SUBSCRIPTION, Some(premium("pm_card_visa")), Some("sub-k")));
    assert_eq!(will.send("GET", SUBSCRIPTION, None).0, 404, "nothing was written");
    assert!(invoices(&will).is_empty());

    // The gateway is back (the local one): each key runs its request now, once.
    let riff = Riff::start_in(riff.stop(), &[], &period);
    let [cass, xena, will] = [&cass, &xena, &will].map(|u| Listener::with_token(&riff, &u.token));
    let cancelled = cass.send_keyed("DELETE", SUBSCRIPTION, None, Some("cancel-k"));
    let (status, sub) = &cancelled;
    assert_eq!((*status, sub["cancel_at_period_end"].as_bool()), (200, Some(true)), "{sub}");
    assert!(number(sub, "current_period_end") > number(&first, "current_period_end"), "renewed first: {sub}");
    assert_eq!(cass.send_keyed("DELETE", SUBSCRIPTION, None, Some("cancel-k")), cancelled);
    let paid: Vec<Option<i64>> = invoices(&cass).iter().map(|i| i["amount_paid"].as_i64()).collect();
    assert_eq!(paid, [Some(999), Some(999)], "the subscription and its one renewal");

    let (status, method) = xena.send_keyed("PUT", PAYMENT_METHOD, Some(card("pm_card_visa")), Some("card-k"));
    assert_eq!((status, method["card"]["last4"].as_str()), (200, Some("4242")), "{method}");

    let (status, sub) = will.send_keyed("POST", SUBSCRIPTION, Some(premium("pm_card_visa")), Some("sub-k"));
    assert_eq!((status, sub["status"].as_str()), (201, Some("active")), "{sub}");
    assert_eq!(invoices(&will).len(), 1);
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

/// Seconds since the epoch.
fn unix_now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs()
}

#[test]
fn a_period_that_ends_renews_or_falls_past_due() {
    let riff = Riff::start_with(&repo_manifest(""), &[], &[("RIFF_VARIABLE_PAYMENT_PERIOD_SECONDS", "2")]);
    let paying = Listener::register(&riff, "renewer");
    let (status, first) = paying.send("POST", SUBSCRIPTION, Some(premium("pm_card_visa")));
    assert_eq!(status, 201, "{first}");
    let end = number(&first, "current_period_end");
    // Wait, without asking riff, until the period the API reported has ended; then the first
    // request renews it. Here that is a cancellation, so no later request can renew it again.
    eventually("the first period to end", Duration::from_secs(30), String::new, || unix_now() > end);
    let (status, renewed) = paying.send("DELETE", SUBSCRIPTION, None);
    assert_eq!(status, 200, "{renewed}");
    assert_eq!(renewed["status"], "active", "{renewed}");
    assert!(number(&renewed, "current_period_start") >= end, "a new period: {renewed}");
    assert!(number(&renewed, "current_period_end") > end, "a new period: {renewed}");
    let paid: Vec<Option<i64>> = invoices(&paying).iter().map(|i| i["amount_paid"].as_i64()).collect();
    assert_eq!(paid, [Some(999), Some(999)], "the renewal was charged once");

    // A card that declines at renewal: past due, an open invoice, previews only.
    let failing = Listener::register(&riff, "lapsing");
    let (status, first) = failing.send("POST", SUBSCRIPTION, Some(premium("pm_card_visa")));
    assert_eq!(status, 201, "{first}");
    let end = number(&first, "current_period_end");
    eventually("the first period to end", Duration::from_secs(30), String::new, || unix_now() > end);
    // Changing the card is the first request after the period's end: it renews with the
    // working card first, then stores the declining one for the next renewal.
    let (status, method) = failing.send("PUT", PAYMENT_METHOD, Some(card("pm_card_chargeDeclined")));
    assert_eq!(status, 200, "{method}");
    let end = number(&subscription(&failing), "current_period_end");
    // Polling renews when the second period ends: declined, so past due (and never renewed again).
    let mut sub = Value::Null;
    eventually(
        "the declined renewal",
        Duration::from_secs(30),
        || riff.log(),
        || {
            sub = subscription(&failing);
            sub["status"] != "active"
        },
    );
    assert_eq!(sub["status"], "past_due", "{sub}");
    assert_eq!(number(&sub, "current_period_end"), end, "a declined renewal starts no period: {sub}");
    let stream = client().get(riff.url("/v1/tracks/tr01/stream")).bearer_auth(&failing.token).send().unwrap();
    assert_eq!(stream.status().as_u16(), 200);
    assert!(stream.headers().contains_key("x-riff-preview-seconds"), "past due hears previews");
    let invoices = invoices(&failing);
    let seen: Vec<(Option<&str>, Option<i64>)> =
        invoices.iter().map(|i| (i["status"].as_str(), i["amount_paid"].as_i64())).collect();
    assert_eq!(
        seen,
        [(Some("open"), Some(0)), (Some("paid"), Some(999)), (Some("paid"), Some(999))],
        "newest first: the declined renewal, the renewal, the subscription"
    );
}

/// The renewal run (`[[trigger.cron]]`, here every second on top of spin.toml's minutely one)
/// renews a subscription whose period ended without any request.
#[test]
fn renewals_run_on_schedule_without_a_request() {
    let every_second = "[[trigger.cron]]\ncomponent = \"payment\"\ncron_expression = \"* * * * * *\"\n";
    let riff =
        Riff::start_with(&repo_manifest(every_second), &[], &[("RIFF_VARIABLE_PAYMENT_PERIOD_SECONDS", "2")]);
    let paying = Listener::register(&riff, "scheduled");
    let (status, first) = paying.send("POST", SUBSCRIPTION, Some(premium("pm_card_visa")));
    assert_eq!(status, 201, "{first}");
    let end = number(&first, "current_period_end");
    // No request to the payment service until the run has renewed it (the log says so).
    assert!(riff.wait_for_log("1 settled (paid or past due)"), "{}", riff.log());
    let sub = subscription(&paying);
    assert_eq!(sub["status"], "active", "{sub}");
    assert!(number(&sub, "current_period_start") >= end, "renewed before this request: {sub}");
    let paid: Vec<Option<i64>> = invoices(&paying).iter().map(|i| i["amount_paid"].as_i64()).collect();
    assert!(paid.len() >= 2 && paid.iter().all(|p| *p == Some(999)), "renewals paid: {paid:?}");
}
