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

/// riff with the repository's spin.toml plus a renewal run every second, a billing period of
/// `period` seconds and the dunning schedule `retries` (seconds after the first decline).
fn renewing_riff(period: &str, retries: &str) -> Riff {
    let every_second = "[[trigger.cron]]\ncomponent = \"payment\"\ncron_expression = \"* * * * * *\"\n";
    Riff::start_with(
        &repo_manifest(every_second),
        &[],
        &[("RIFF_VARIABLE_PAYMENT_PERIOD_SECONDS", period), ("RIFF_VARIABLE_PAYMENT_RETRY_SECONDS", retries)],
    )
}

/// Whether streaming a track gives this listener the whole of it (premium) or a preview.
fn streams_whole_tracks(user: &Listener) -> bool {
    let stream = user.request("GET", "/v1/tracks/tr01/stream").send().unwrap();
    assert_eq!(stream.status().as_u16(), 200);
    !stream.headers().contains_key("x-riff-preview-seconds")
}

/// The outcomes of an invoice's payment attempts, oldest first.
fn outcomes(invoice: &Value) -> Vec<String> {
    invoice["attempts"]
        .as_array()
        .unwrap_or_else(|| panic!("no attempts in {invoice}"))
        .iter()
        .map(|a| a["outcome"].as_str().unwrap().to_string())
        .collect()
}

/// Subscribe with a working card, then make the card decline so the first renewal is declined.
fn subscribed_with_a_failing_card(riff: &Riff, name: &str) -> Listener {
    let user = Listener::register(riff, name);
    let (status, sub) = user.send("POST", SUBSCRIPTION, Some(premium("pm_card_visa")));
    assert_eq!(status, 201, "{sub}");
    let (status, method) = user.send("PUT", PAYMENT_METHOD, Some(card("pm_card_chargeDeclined")));
    assert_eq!(status, 200, "{method}");
    user
}

/// Dunning: a declined renewal makes the subscription past due with an open invoice; a retry
/// on the schedule, once the listener fixed their card, pays that same invoice and restores
/// premium with a new period.
#[test]
fn a_declined_renewal_is_retried_until_it_is_paid() {
    // Periods of 4 s; retries 2 s and 4 s after the decline, and a last one a minute after it.
    let riff = renewing_riff("4", "2,4,60");
    let user = subscribed_with_a_failing_card(&riff, "dunned");
    let mut sub = Value::Null;
    eventually(
        "the declined renewal",
        Duration::from_secs(60),
        || riff.log(),
        || {
            sub = subscription(&user);
            sub["status"] == "past_due"
        },
    );
    assert!(!streams_whole_tracks(&user), "past due hears previews");
    let open = invoices(&user)[0].clone();
    assert_eq!((open["status"].as_str(), open["amount_paid"].as_i64()), (Some("open"), Some(0)), "{open}");
    assert_eq!(outcomes(&open)[0], "declined", "{open}");
    assert!(open["attempts"][0]["message"].as_str().is_some_and(|m| m.contains("declined")), "{open}");
    assert!(number(&open, "next_payment_attempt") > number(&open, "created"), "a retry is planned: {open}");

    // The listener fixes the card; a retry (the run, or a request after the retry is due) pays.
    let (status, method) = user.send("PUT", PAYMENT_METHOD, Some(card("pm_card_visa")));
    assert_eq!(status, 200, "{method}");
    eventually(
        "a paid retry",
        Duration::from_secs(90),
        || riff.log(),
        || {
            sub = subscription(&user);
            sub["status"] == "active"
        },
    );
    assert!(streams_whole_tracks(&user), "premium again");
    let all = invoices(&user);
    let paid = all.iter().find(|i| i["id"] == open["id"]).expect("the same invoice");
    assert_eq!((paid["status"].as_str(), paid["amount_paid"].as_i64()), (Some("paid"), Some(999)), "{paid}");
    let seen = outcomes(paid);
    assert!(seen.len() >= 2, "{paid}");
    assert_eq!(seen.last().map(String::as_str), Some("succeeded"), "{paid}");
    assert!(seen[..seen.len() - 1].iter().all(|o| o == "declined"), "{paid}");
    assert_eq!(paid["attempt_count"].as_u64(), Some(seen.len() as u64));
    assert!(paid["next_payment_attempt"].is_null(), "{paid}");
    // The new period starts when the retry was paid.
    assert_eq!(number(&sub, "current_period_start"), number(paid, "period_start"), "{sub} {paid}");
    assert!(number(&sub, "current_period_end") > number(&open, "created"), "{sub}");
}

/// Dunning that fails: after the last declined retry the run cancels the subscription and the
/// invoice becomes uncollectible; the listener is back on previews and may subscribe again.
#[test]
fn a_renewal_declined_to_the_last_retry_is_canceled() {
    let riff = renewing_riff("2", "1,2,3");
    let user = subscribed_with_a_failing_card(&riff, "lapsed");
    // No request until the run has given up (the log says so).
    assert!(
        riff.wait_for_log_within(Duration::from_secs(60), "1 canceled after the last retry"),
        "{}",
        riff.log()
    );
    let sub = subscription(&user);
    assert_eq!(sub["status"], "canceled", "{sub}");
    assert!(!streams_whole_tracks(&user), "canceled hears previews");
    let all = invoices(&user);
    let failed = &all[0];
    assert_eq!(failed["status"], "uncollectible", "{failed}");
    assert_eq!(outcomes(failed), ["declined"; 4], "the renewal and three retries: {failed}");
    assert!(failed["next_payment_attempt"].is_null(), "{failed}");
    // Each retry came on the schedule: no earlier than its offset after the first decline.
    let first = failed["attempts"][0]["created"].as_u64().unwrap();
    for (i, offset) in [1, 2, 3].iter().enumerate() {
        let at = failed["attempts"][i + 1]["created"].as_u64().unwrap();
        assert!(at >= first + offset, "retry {} at {at}, first decline at {first}: {failed}", i + 1);
    }
    // Nothing more happens to it, and a working card subscribes anew.
    let (status, again) = user.send("POST", SUBSCRIPTION, Some(premium("pm_card_visa")));
    assert_eq!((status, again["status"].as_str()), (201, Some("active")), "{again}");
}

/// Cancel at the period's end: premium until then, after it the run ends the subscription
/// instead of charging it.
#[test]
fn a_cancellation_ends_the_subscription_at_the_period_end_without_a_charge() {
    let riff = renewing_riff("6", "");
    let user = Listener::register(&riff, "leaving");
    let (status, first) = user.send("POST", SUBSCRIPTION, Some(premium("pm_card_visa")));
    assert_eq!(status, 201, "{first}");
    let (status, cancelled) = user.send("DELETE", SUBSCRIPTION, None);
    assert_eq!(
        (status, cancelled["status"].as_str(), cancelled["cancel_at_period_end"].as_bool()),
        (200, Some("active"), Some(true)),
        "{cancelled}"
    );
    let whole = streams_whole_tracks(&user);
    // Asked after the stream: the period had not ended when the stream was served.
    let sub = subscription(&user);
    assert_eq!(sub["status"], "active", "the period ended before the check (a very slow machine): {sub}");
    assert!(whole, "premium until the period ends");
    assert!(
        riff.wait_for_log_within(Duration::from_secs(60), "1 ended at the period's end"),
        "{}",
        riff.log()
    );
    let sub = subscription(&user);
    assert_eq!(sub["status"], "canceled", "{sub}");
    assert!(!streams_whole_tracks(&user));
    let all = invoices(&user);
    assert_eq!(all.len(), 1, "no renewal was charged: {all:?}");
    assert_eq!(user.send("POST", RESUME, None).0, 409, "too late to resume");
}

/// Refunds on the local test gateway: the listener's own paid invoice, within the window, for
/// at most what is left; the answers for everything else.
#[test]
fn refunds_are_checked_and_recorded() {
    let riff = Riff::start(&repo_manifest(""));
    let payer = Listener::register(&riff, "refunder");
    let other = Listener::register(&riff, "nosy");
    assert_eq!(payer.send("POST", SUBSCRIPTION, Some(premium("pm_card_visa"))).0, 201);
    assert_eq!(other.send("POST", SUBSCRIPTION, Some(json!({ "plan": "free" }))).0, 201);
    let invoice = invoices(&payer)[0]["id"].as_str().unwrap().to_string();
    let free_invoice = invoices(&other)[0]["id"].as_str().unwrap().to_string();
    let path = format!("/v1/me/invoices/{invoice}/refund");
    for (body, want) in [
        (json!({ "amount": 0 }), 400),
        (json!({ "amount": -5 }), 400),
        (json!({ "amount": 1.5 }), 400),
        (json!({ "amount": "100" }), 400),
        (json!({ "amount": 1000 }), 400),
        (json!({ "amount": 100, "tip": 1 }), 400),
        (json!({ "reason": "bored" }), 400),
    ] {
        let (status, answer) = payer.send("POST", &path, Some(body.clone()));
        assert_eq!(status, want, "{body}: {answer}");
        assert!(answer["error"]["message"].is_string(), "{answer}");
    }
    let (status, answer) = payer.send("POST", &path, Some(json!({ "amount": 1000 })));
    assert!(answer["error"]["message"].as_str().unwrap().contains("999"), "{status} {answer}");
    // Another listener's invoice does not exist for them; a free invoice took nothing.
    assert_eq!(other.send("POST", &path, None).0, 404);
    assert_eq!(payer.send("POST", "/v1/me/invoices/in_nope/refund", None).0, 404);
    assert_eq!(other.send("POST", &format!("/v1/me/invoices/{free_invoice}/refund"), None).0, 409);
    let anon = client().post(riff.url(&path)).send().unwrap();
    assert_eq!(anon.status().as_u16(), 401);

    let (status, refund) =
        payer.send("POST", &path, Some(json!({ "amount": 400, "reason": "requested_by_customer" })));
    assert_eq!(status, 200, "{refund}");
    assert_eq!((refund["amount"].as_i64(), refund["invoice"].as_str()), (Some(400), Some(invoice.as_str())));
    assert!(streams_whole_tracks(&payer), "a partial refund leaves premium");
    let (status, rest) = payer.send("POST", &path, None);
    assert_eq!((status, rest["amount"].as_i64()), (200, Some(599)), "{rest}");
    let (status, again) = payer.send("POST", &path, None);
    assert_eq!(status, 409, "{again}");
    assert!(again["error"]["message"].as_str().unwrap().contains("already refunded"), "{again}");
    let shown = &invoices(&payer)[0];
    assert_eq!(shown["amount_refunded"].as_i64(), Some(999), "{shown}");
    let amounts: Vec<i64> =
        shown["refunds"].as_array().unwrap().iter().map(|r| r["amount"].as_i64().unwrap()).collect();
    assert_eq!(amounts, [400, 599], "{shown}");
    assert_eq!(shown["refunds"][0]["reason"], "requested_by_customer");
    // Refunded in full: the period it paid for ends now.
    assert_eq!(subscription(&payer)["status"], "canceled");
    assert!(!streams_whole_tracks(&payer));
}
