//! The payment service against localstripe (a stateful fake of Stripe's API, PyPI package
//! `localstripe`), started by the test on a free port: charges and card changes reach the
//! gateway once per idempotency key, declines come back as 402, and webhooks are verified and
//! applied once.
//! Skips when localstripe is not installed, except under CI=true.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::*;
use serde_json::{json, Value};

const KEY: &str = "sk_test_riff";
const WEBHOOK_SECRET: &str = "whsec_riff_test";

struct LocalStripe {
    child: Child,
    base: String,
}

impl Drop for LocalStripe {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl LocalStripe {
    fn start(test: &str) -> Option<LocalStripe> {
        let installed = Command::new("python3")
            .args(["-c", "import localstripe"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        if installed.map(|s| !s.success()).unwrap_or(true) {
            skip(test, "localstripe is not installed (pip install localstripe)");
            return None;
        }
        // localstripe takes a port number, not a socket: pick a free port, and if another process
        // takes it before localstripe binds (localstripe then exits), try another.
        for _ in 0..5 {
            let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
            let child = Command::new("python3")
                .args(["-m", "localstripe", "--port", &port.to_string(), "--from-scratch"])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("starting localstripe");
            let mut stripe = LocalStripe { child, base: format!("http://127.0.0.1:{port}") };
            let start = Instant::now();
            loop {
                if stripe.list("customers").is_some_and(|customers| customers.is_empty()) {
                    return Some(stripe);
                }
                if stripe.child.try_wait().unwrap().is_some() {
                    break; // the port was taken: try another
                }
                assert!(start.elapsed() < Duration::from_secs(30), "localstripe did not start");
                std::thread::sleep(Duration::from_millis(100));
            }
        }
        panic!("localstripe could not get a free port in five tries");
    }

    /// The gateway's objects of one kind (`what` may carry a query: `payment_methods?type=card`).
    fn list(&self, what: &str) -> Option<Vec<Value>> {
        let sep = if what.contains('?') { '&' } else { '?' };
        let url = format!("{}/v1/{what}{sep}limit=100", self.base);
        let resp = client().get(url).bearer_auth(KEY).send().ok()?;
        let body: Value = resp.json().ok()?;
        body["data"].as_array().cloned()
    }

    fn riff(&self) -> Riff {
        Riff::start_with(
            &repo_manifest(""),
            &[],
            &[
                ("RIFF_VARIABLE_STRIPE_API_BASE", &self.base),
                ("RIFF_VARIABLE_STRIPE_SECRET_KEY", KEY),
                ("RIFF_VARIABLE_STRIPE_WEBHOOK_SECRET", WEBHOOK_SECRET),
            ],
        )
    }
}

fn subscribe(riff: &Riff, token: &str, method: &str, key: Option<&str>) -> (u16, Value) {
    let mut req = client()
        .post(riff.url("/v1/me/subscription"))
        .bearer_auth(token)
        .json(&json!({ "plan": "premium", "payment_method": method }));
    if let Some(k) = key {
        req = req.header("idempotency-key", k);
    }
    let resp = req.send().unwrap();
    (resp.status().as_u16(), resp.json().unwrap_or(Value::Null))
}

#[test]
fn charges_go_through_the_gateway_once_per_key() {
    let Some(stripe) = LocalStripe::start("payment_stripe::charges_go_through_the_gateway_once_per_key")
    else {
        return;
    };
    let riff = stripe.riff();
    let token = Listener::register(&riff, "stripey").token;
    let answers: Vec<(u16, Value)> = std::thread::scope(|s| {
        let handles: Vec<_> =
            (0..100).map(|_| s.spawn(|| subscribe(&riff, &token, "pm_card_visa", Some("one-key")))).collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert_eq!(answers.len(), 100);
    assert_eq!(answers[0].0, 201, "{:?}", answers[0]);
    assert!(answers.iter().all(|a| a == &answers[0]), "100 identical answers");
    let intents = stripe.list("payment_intents").unwrap();
    assert_eq!(intents.len(), 1, "exactly one charge at the gateway: {intents:?}");
    assert_eq!(
        (intents[0]["amount"].as_i64(), intents[0]["status"].as_str()),
        (Some(999), Some("succeeded"))
    );
    let (status, invoices) = Listener::with_token(&riff, &token).send("GET", "/v1/me/invoices", None);
    assert_eq!(status, 200, "{invoices}");
    assert_eq!(invoices["items"].as_array().map(Vec::len), Some(1), "{invoices}");
    assert_eq!(invoices["items"][0]["gateway"], "stripe");
    assert_eq!(stripe.list("customers").unwrap().len(), 1);
}

#[test]
fn free_to_premium_to_cancel_to_resume() {
    let Some(stripe) = LocalStripe::start("payment_stripe::free_to_premium_to_cancel_to_resume") else {
        return;
    };
    let riff = stripe.riff();
    let token = Listener::register(&riff, "lifecycle").token;
    let call = |method: &str, path: &str, body: Option<Value>| -> (u16, Value) {
        let mut req = client().request(method.parse().unwrap(), riff.url(path)).bearer_auth(&token);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().unwrap();
        (resp.status().as_u16(), resp.json().unwrap_or(Value::Null))
    };
    let (status, sub) = call("POST", "/v1/me/subscription", Some(json!({ "plan": "free" })));
    assert_eq!((status, sub["plan"]["id"].as_str()), (201, Some("free")), "{sub}");
    assert!(stripe.list("payment_intents").unwrap().is_empty(), "free costs nothing");
    let (status, sub) = subscribe(&riff, &token, "pm_card_visa", None);
    assert_eq!(
        (status, sub["plan"]["id"].as_str(), sub["status"].as_str()),
        (201, Some("premium"), Some("active"))
    );
    assert_eq!(stripe.list("payment_intents").unwrap().len(), 1);
    let (status, sub) = call("DELETE", "/v1/me/subscription", None);
    assert_eq!((status, sub["cancel_at_period_end"].as_bool()), (200, Some(true)));
    let (status, sub) = call("POST", "/v1/me/subscription/resume", None);
    assert_eq!(
        (status, sub["cancel_at_period_end"].as_bool(), sub["status"].as_str()),
        (200, Some(false), Some("active"))
    );
    let (status, invoices) = call("GET", "/v1/me/invoices", None);
    assert_eq!(status, 200, "{invoices}");
    let paid: Vec<i64> =
        invoices["items"].as_array().unwrap().iter().map(|i| i["amount_paid"].as_i64().unwrap()).collect();
    assert_eq!(paid, [999, 0], "newest first: premium, then free");
}

#[test]
fn a_declined_card_is_402_from_the_gateway() {
    let Some(stripe) = LocalStripe::start("payment_stripe::a_declined_card_is_402_from_the_gateway") else {
        return;
    };
    let riff = stripe.riff();
    let token = Listener::register(&riff, "declined").token;
    let (status, body) = subscribe(&riff, &token, "pm_card_chargeDeclined", None);
    assert_eq!(status, 402, "{body}");
    assert_eq!(body["error"]["code"], "card_declined");
    let resp = client().get(riff.url("/v1/me/subscription")).bearer_auth(&token).send().unwrap();
    assert_eq!(resp.status().as_u16(), 404, "no subscription");
    assert!(stripe.list("payment_intents").unwrap().is_empty(), "nothing charged");
}

#[test]
fn a_card_change_reaches_the_gateway_once_per_key() {
    let Some(stripe) = LocalStripe::start("payment_stripe::a_card_change_reaches_the_gateway_once_per_key")
    else {
        return;
    };
    let riff = stripe.riff();
    let user = Listener::register(&riff, "carded");
    let put = |key: Option<&str>| {
        user.send_keyed(
            "PUT",
            "/v1/me/payment-method",
            Some(json!({ "payment_method": "pm_card_visa" })),
            key,
        )
    };
    let first = put(Some("card-key"));
    assert_eq!((first.0, first.1["gateway"].as_str()), (200, Some("stripe")), "{}", first.1);
    let customers = stripe.list("customers").unwrap();
    assert_eq!(customers.len(), 1, "{customers:?}");
    let customer = customers[0]["id"].as_str().expect("a customer id");
    // Each card the gateway attached to the customer (a test card name makes a new one each time).
    let attached = || stripe.list(&format!("payment_methods?customer={customer}&type=card")).unwrap().len();
    assert_eq!(attached(), 1);
    assert_eq!(put(Some("card-key")), first, "the same key: the first answer");
    assert_eq!(attached(), 1, "the replay attached the card again");
    // Without a key the request runs again: the count sees every attachment.
    assert_eq!(put(None).0, 200);
    assert_eq!(attached(), 2);
    assert_eq!(put(Some("card-key")), first);
    assert_eq!(attached(), 2);
}

fn signed(body: &str, t: u64, secret: &str) -> String {
    use std::fmt::Write;
    let mac = hmac_sha256(secret.as_bytes(), format!("{t}.{body}").as_bytes());
    let mut hex = String::new();
    for b in mac {
        write!(hex, "{b:02x}").unwrap();
    }
    format!("t={t},v1={hex}")
}

#[test]
fn webhooks_are_verified_and_applied_once() {
    let Some(stripe) = LocalStripe::start("payment_stripe::webhooks_are_verified_and_applied_once") else {
        return;
    };
    let riff = stripe.riff();
    let token = Listener::register(&riff, "hooked").token;
    assert_eq!(subscribe(&riff, &token, "pm_card_visa", None).0, 201);
    let customers = stripe.list("customers").unwrap();
    assert_eq!(customers.len(), 1, "{customers:?}");
    let customer = customers[0]["id"].as_str().expect("a customer id").to_string();
    let status = || -> String {
        let resp = client().get(riff.url("/v1/me/subscription")).bearer_auth(&token).send().unwrap();
        assert_eq!(resp.status().as_u16(), 200);
        resp.json::<Value>().unwrap()["status"].as_str().expect("a status").to_string()
    };
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    let send = |body: &str, signature: &str| -> u16 {
        client()
            .post(riff.url("/v1/payments/webhook"))
            .header("stripe-signature", signature)
            .body(body.to_string())
            .send()
            .unwrap()
            .status()
            .as_u16()
    };
    let failed =
        json!({ "id": "evt_1", "type": "invoice.payment_failed", "data": { "object": { "customer": customer } } })
            .to_string();
    assert_eq!(send(&failed, &signed(&failed, now, "wrong secret")), 400, "bad signature");
    assert_eq!(send(&failed, &signed(&failed, now - 600, WEBHOOK_SECRET)), 400, "old timestamp");
    assert_eq!(send(&failed, "garbage"), 400);
    assert_eq!(status(), "active", "refused webhooks changed nothing");

    assert_eq!(send(&failed, &signed(&failed, now, WEBHOOK_SECRET)), 200);
    assert_eq!(status(), "past_due");
    let paid = json!({ "id": "evt_2", "type": "invoice.payment_succeeded", "data": { "object": { "customer": customer } } })
        .to_string();
    assert_eq!(send(&paid, &signed(&paid, now, WEBHOOK_SECRET)), 200);
    assert_eq!(status(), "active");
    // A replay of the first event is acknowledged and not applied again.
    assert_eq!(send(&failed, &signed(&failed, now, WEBHOOK_SECRET)), 200);
    assert_eq!(status(), "active", "the replayed event was applied once only");
}

/// The listener's invoices, newest first.
fn invoices(riff: &Riff, token: &str) -> Vec<Value> {
    let (status, page) = Listener::with_token(riff, token).send("GET", "/v1/me/invoices", None);
    assert_eq!(status, 200, "{page}");
    page["items"].as_array().unwrap().clone()
}

/// A refund goes through Stripe's refund API: localstripe holds it against the payment intent
/// that took the money, and the invoice shows it; refunding more than is left, or twice, is
/// refused and reaches no gateway.
#[test]
fn refunds_show_on_the_invoice_and_at_the_gateway() {
    let Some(stripe) = LocalStripe::start("payment_stripe::refunds_show_on_the_invoice_and_at_the_gateway")
    else {
        return;
    };
    let riff = stripe.riff();
    let token = Listener::register(&riff, "refundee").token;
    let user = Listener::with_token(&riff, &token);
    assert_eq!(subscribe(&riff, &token, "pm_card_visa", None).0, 201);
    let intents = stripe.list("payment_intents").unwrap();
    assert_eq!(intents.len(), 1, "{intents:?}");
    let intent = intents[0]["id"].as_str().unwrap().to_string();
    let invoice = invoices(&riff, &token)[0]["id"].as_str().unwrap().to_string();
    let path = format!("/v1/me/invoices/{invoice}/refund");

    let (status, refund) = user.send("POST", &path, Some(json!({ "amount": 300 })));
    assert_eq!(status, 200, "{refund}");
    let refunds = stripe.list(&format!("refunds?payment_intent={intent}")).unwrap();
    assert_eq!(refunds.len(), 1, "{refunds:?}");
    assert_eq!(refunds[0]["id"], refund["id"], "the gateway's refund: {refunds:?}");
    assert_eq!(
        (refunds[0]["amount"].as_i64(), refunds[0]["status"].as_str()),
        (Some(300), Some("succeeded"))
    );
    assert_eq!(refunds[0]["metadata"]["riff_invoice"], invoice.as_str());
    let shown = &invoices(&riff, &token)[0];
    assert_eq!(shown["amount_refunded"].as_i64(), Some(300), "{shown}");
    assert_eq!(shown["refunds"][0]["id"], refund["id"], "{shown}");

    // More than is left: refused here, nothing sent.
    let (status, body) = user.send("POST", &path, Some(json!({ "amount": 700 })));
    assert_eq!(status, 400, "{body}");
    assert_eq!(stripe.list("refunds").unwrap().len(), 1);
    // The rest, then once more.
    let (status, rest) = user.send("POST", &path, None);
    assert_eq!((status, rest["amount"].as_i64()), (200, Some(699)), "{rest}");
    assert_eq!(user.send("POST", &path, None).0, 409);
    let refunds = stripe.list(&format!("refunds?payment_intent={intent}")).unwrap();
    let mut amounts: Vec<i64> = refunds.iter().map(|r| r["amount"].as_i64().unwrap()).collect();
    amounts.sort();
    assert_eq!(amounts, [300, 699], "{refunds:?}");
    let charges = stripe.list("charges").unwrap();
    assert_eq!(charges.len(), 1, "{charges:?}");
    assert_eq!(
        (charges[0]["amount_refunded"].as_i64(), charges[0]["refunded"].as_bool()),
        (Some(999), Some(true))
    );
    assert_eq!(invoices(&riff, &token)[0]["amount_refunded"].as_i64(), Some(999));
}

/// Twenty identical refund requests at once: one refund at the gateway. Without a key the
/// others are told it is already refunded; with one key all twenty get the first's answer.
#[test]
fn parallel_refunds_refund_once() {
    let Some(stripe) = LocalStripe::start("payment_stripe::parallel_refunds_refund_once") else {
        return;
    };
    let riff = stripe.riff();
    for (name, key) in [("racer", None), ("keyed-racer", Some("refund-key"))] {
        let token = Listener::register(&riff, name).token;
        let user = Listener::with_token(&riff, &token);
        assert_eq!(subscribe(&riff, &token, "pm_card_visa", None).0, 201);
        let invoice = invoices(&riff, &token)[0]["id"].as_str().unwrap().to_string();
        let path = format!("/v1/me/invoices/{invoice}/refund");
        let before = stripe.list("refunds").unwrap().len();
        let answers = all_at_once(20, |_| user.send_keyed("POST", &path, Some(json!({})), key));
        let ok: Vec<&(u16, Value)> = answers.iter().filter(|a| a.0 == 200).collect();
        match key {
            None => {
                assert_eq!(ok.len(), 1, "{answers:?}");
                assert!(answers.iter().all(|a| a.0 == 200 || a.0 == 409), "{answers:?}");
            }
            Some(_) => {
                assert_eq!(ok.len(), 20, "{answers:?}");
                assert!(answers.iter().all(|a| a == &answers[0]), "{answers:?}");
            }
        }
        assert_eq!(ok[0].1["amount"].as_i64(), Some(999));
        assert_eq!(stripe.list("refunds").unwrap().len(), before + 1, "one refund at the gateway");
        let shown = &invoices(&riff, &token)[0];
        assert_eq!(shown["refunds"].as_array().map(Vec::len), Some(1), "{shown}");
    }
}
