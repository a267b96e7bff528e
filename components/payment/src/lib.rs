//! The payment service: plans, a listener's subscription, invoices, and a ledger.
//!
//! | route | answer |
//! | --- | --- |
//! | `GET /v1/plans` | `{"plans": [...]}` |
//! | `POST /v1/me/subscription` `{plan, payment_method}` | 201 subscription; 402 when the card is declined |
//! | `GET /v1/me/subscription` | the subscription (404 without one) |
//! | `DELETE /v1/me/subscription` | cancel at the period's end |
//! | `POST /v1/me/subscription/resume` | undo a pending cancellation |
//! | `PUT /v1/me/payment-method` `{payment_method}` | change the card |
//! | `GET /v1/me/invoices?limit=&offset=` | paging object of invoices, newest first, each with its payment attempts and refunds |
//! | `POST /v1/me/invoices/{id}/refund` `{amount?, reason?}` | 200 refund (see [`refund`] for who, how much and when) |
//!
//! Renewals, dunning and cancellations at the period's end run on the cron trigger
//! (`handle-cron-event` → [`renew_all_due`]); see [`billing`] for the schedule and states.
//!
//! Money must never be lost or taken twice, so: every change — subscription, invoice, ledger
//! entries — is written in one SQL transaction (`riff:platform/sql`), and nothing is written
//! before the gateway has taken the payment; every mutating request honours an
//! `Idempotency-Key` as Stripe does: its first answer is stored with the key in the same
//! transaction and replayed for 24 hours, the same key with other parameters is refused, and
//! concurrent requests with one key run one after another (the transaction takes the write
//! lock), so only the first charges. It exports `riff:music/payment` (`entitlement`), which the
//! catalog asks before streaming.

pub mod billing;
pub mod gateway;
pub mod idempotency;
pub mod model;
pub mod refund;
pub mod webhook;

use riff_guest::model::Page;
use riff_guest::router::{Route, Router};
use riff_guest::{bearer_token, json_body, paging, query_pairs, ApiError, ApiResult};
use serde::Deserialize;
use serde_json::Value;
use spin_sdk::http::{Request, Response};

use billing::{period_ms, AfterDecline, Due, Plan, Status, Subscription, CURRENCY};
use gateway::Gateway;
use model::{
    value, AttemptObject, DeclineBody, InvoiceObject, PaymentMethodObject, PlanObject, Plans, RefundObject,
    SubscriptionObject,
};
use refund::RefundBody;

mod bindings {
    wit_bindgen::generate!({
        path: ["../../wit/music", "../../wit/platform", "../../wit/deps/spin-cron@2.0.0"],
        inline: "
            package riff:payment-component;
            world payment {
                import riff:music/auth@0.1.0;
                import riff:platform/sql@0.1.0;
                export riff:music/payment@0.1.0;
                include fermyon:spin-cron/spin-cron@2.0.0;
            }
        ",
        world: "riff:payment-component/payment",
        generate_all,
    });
}

use bindings::exports::riff::music::payment as wit;
use bindings::riff::music::{auth, types};
use bindings::riff::platform::sql::{self, Transaction, Value as SqlValue};

riff_guest::service_error_fn!(types);

const DATABASE: &str = "payment";

const SCHEMA: &[&str] = &[
    "CREATE TABLE IF NOT EXISTS subscriptions (user_id TEXT PRIMARY KEY, id TEXT NOT NULL, plan TEXT NOT NULL, status TEXT NOT NULL, period_start INTEGER NOT NULL, period_end INTEGER NOT NULL, cancel_at_period_end INTEGER NOT NULL DEFAULT 0, created INTEGER NOT NULL)",
    "CREATE TABLE IF NOT EXISTS payment_methods (user_id TEXT PRIMARY KEY, method TEXT NOT NULL, brand TEXT NOT NULL, last4 TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS invoices (id TEXT PRIMARY KEY, user_id TEXT NOT NULL, subscription TEXT NOT NULL, amount_due INTEGER NOT NULL, amount_paid INTEGER NOT NULL, currency TEXT NOT NULL, status TEXT NOT NULL, created INTEGER NOT NULL, period_start INTEGER NOT NULL, period_end INTEGER NOT NULL, charge TEXT, gateway TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS customers (user_id TEXT NOT NULL, gateway TEXT NOT NULL, customer TEXT NOT NULL, PRIMARY KEY (user_id, gateway))",
    "CREATE TABLE IF NOT EXISTS webhook_events (id TEXT PRIMARY KEY, type TEXT NOT NULL, received INTEGER NOT NULL)",
    "CREATE INDEX IF NOT EXISTS invoices_user ON invoices (user_id, created)",
    "CREATE TABLE IF NOT EXISTS ledger (seq INTEGER PRIMARY KEY AUTOINCREMENT, user_id TEXT NOT NULL, kind TEXT NOT NULL, amount INTEGER NOT NULL, currency TEXT NOT NULL, reference TEXT NOT NULL, created INTEGER NOT NULL)",
    "CREATE TABLE IF NOT EXISTS idempotency (user_id TEXT NOT NULL, key TEXT NOT NULL, request_hash TEXT NOT NULL, status INTEGER NOT NULL, body TEXT NOT NULL, created INTEGER NOT NULL, PRIMARY KEY (user_id, key))",
    // Every attempt to take an invoice's payment; the key refuses a second attempt with a number.
    "CREATE TABLE IF NOT EXISTS invoice_attempts (invoice_id TEXT NOT NULL, attempt INTEGER NOT NULL, created INTEGER NOT NULL, outcome TEXT NOT NULL, charge TEXT, message TEXT, PRIMARY KEY (invoice_id, attempt))",
    "CREATE TABLE IF NOT EXISTS refunds (id TEXT PRIMARY KEY, invoice_id TEXT NOT NULL, user_id TEXT NOT NULL, amount INTEGER NOT NULL, currency TEXT NOT NULL, reason TEXT, created INTEGER NOT NULL)",
    "CREATE INDEX IF NOT EXISTS refunds_invoice ON refunds (invoice_id)",
];

#[cfg_attr(target_arch = "wasm32", spin_sdk::http_component)]
#[cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]
async fn handle(req: Request) -> Response {
    route(&req).await.unwrap_or_else(|e| {
        if e.status == 402 {
            json_out(402, &value(&DeclineBody::new(&e.message)), false)
        } else {
            Response::from(e)
        }
    })
}

pub(crate) fn json_out(status: u16, body: &Value, replayed: bool) -> Response {
    let mut b = Response::builder();
    b.status(status).header("content-type", "application/json");
    if replayed {
        b.header("idempotent-replayed", "true");
    }
    b.body(serde_json::to_vec(body).unwrap_or_default()).build()
}

enum Endpoint {
    Webhook,
    Plans,
    Subscription,
    Subscribe,
    Cancel,
    Resume,
    SetMethod,
    Invoices,
    Refund,
}

static ROUTER: Router<Endpoint> = Router::new(&[
    Route::new(&["POST"], "/v1/payments/webhook", Endpoint::Webhook),
    Route::new(&["GET"], "/v1/plans", Endpoint::Plans),
    Route::new(&["GET"], "/v1/me/subscription", Endpoint::Subscription),
    Route::new(&["POST"], "/v1/me/subscription", Endpoint::Subscribe),
    Route::new(&["DELETE"], "/v1/me/subscription", Endpoint::Cancel),
    Route::new(&["POST"], "/v1/me/subscription/resume", Endpoint::Resume),
    Route::new(&["PUT"], "/v1/me/payment-method", Endpoint::SetMethod),
    Route::new(&["GET"], "/v1/me/invoices", Endpoint::Invoices),
    Route::new(&["POST"], "/v1/me/invoices/{id}/refund", Endpoint::Refund),
]);

async fn route(req: &Request) -> ApiResult<Response> {
    let found = ROUTER.resolve(req.method(), req.path())?;
    let endpoint = found.handler;
    // The gateway's webhook and the plans need no listener.
    match endpoint {
        Endpoint::Webhook => return webhook::receive(req),
        Endpoint::Plans => {
            let plans = Plans { plans: vec![PlanObject::from(Plan::Free), PlanObject::from(Plan::Premium)] };
            return Ok(json_out(200, &value(&plans), false));
        }
        _ => {}
    }
    let user = auth::verify_token(&bearer_token(req)?).map_err(service_error)?.user_id;
    match endpoint {
        Endpoint::Webhook | Endpoint::Plans => unreachable!("answered above"),
        Endpoint::Subscription => {
            let tx = Tx::begin()?;
            renew_if_due(&tx, &user, &Gateway::configured()).await?;
            let sub = load_subscription(&tx, &user)?.ok_or_else(|| ApiError::not_found("no subscription"))?;
            tx.commit()?;
            Ok(json_out(200, &value(&SubscriptionObject::at(&sub, now())), false))
        }
        Endpoint::Invoices => invoices(&user, &query_pairs(req.query())).await,
        Endpoint::Subscribe => idempotent(&user, req, Op::Subscribe(json_body(req)?)).await,
        Endpoint::Cancel => idempotent(&user, req, Op::Cancel).await,
        Endpoint::Resume => idempotent(&user, req, Op::Resume).await,
        Endpoint::SetMethod => {
            let body: MethodBody = json_body(req)?;
            idempotent(&user, req, Op::SetMethod(body.payment_method)).await
        }
        Endpoint::Refund => {
            let body: RefundBody =
                if req.body().is_empty() { RefundBody::default() } else { json_body(req)? };
            idempotent(&user, req, Op::Refund(found.params.get("id").to_string(), body)).await
        }
    }
}

/// A mutating request, run by [`idempotent`].
enum Op {
    Subscribe(SubscribeBody),
    Cancel,
    Resume,
    SetMethod(String),
    Refund(String, RefundBody),
}

async fn perform(tx: &Tx, user: &str, op: Op) -> ApiResult<(u16, Value)> {
    let gateway = Gateway::configured();
    renew_if_due(tx, user, &gateway).await?;
    match op {
        Op::Subscribe(body) => subscribe(tx, user, &body, &gateway).await,
        Op::Cancel => change(tx, user, billing::cancel),
        Op::Resume => change(tx, user, billing::resume),
        Op::SetMethod(method) => set_payment_method(tx, user, &method, &gateway).await,
        Op::Refund(invoice, body) => refund_invoice(tx, user, &invoice, &body, &gateway).await,
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SubscribeBody {
    plan: String,
    payment_method: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MethodBody {
    payment_method: String,
}

fn now() -> u64 {
    riff_guest::time::now_ms()
}

// ---------------------------------------------------------------------------------------------
// SQL, always inside a transaction.

pub(crate) struct Tx(Transaction);

fn sql_error(e: sql::Error) -> ApiError {
    match e {
        sql::Error::Conflict(m) => ApiError::new(409, format!("try again: {m}")),
        other => ApiError::internal(format!("payment database: {other:?}")),
    }
}

impl Tx {
    /// Begin a transaction, with the tables in place.
    pub(crate) fn begin() -> ApiResult<Tx> {
        let tx = Tx(Transaction::begin(DATABASE).map_err(sql_error)?);
        for statement in SCHEMA {
            tx.exec(statement, &[])?;
        }
        Ok(tx)
    }

    pub(crate) fn exec(&self, statement: &str, params: &[SqlValue]) -> ApiResult<sql::RowSet> {
        self.0.execute(statement, params).map_err(sql_error)
    }

    pub(crate) fn commit(self) -> ApiResult<()> {
        self.0.commit().map_err(sql_error)
    }
}

pub(crate) fn text(s: &str) -> SqlValue {
    SqlValue::Text(s.to_string())
}

pub(crate) fn int(n: u64) -> SqlValue {
    SqlValue::Integer(n as i64)
}

pub(crate) fn get_text(row: &[SqlValue], i: usize) -> String {
    match row.get(i) {
        Some(SqlValue::Text(s)) => s.clone(),
        _ => String::new(),
    }
}

fn get_int(row: &[SqlValue], i: usize) -> i64 {
    match row.get(i) {
        Some(SqlValue::Integer(n)) => *n,
        _ => 0,
    }
}

fn load_subscription(tx: &Tx, user: &str) -> ApiResult<Option<Subscription>> {
    let rows = tx.exec(
        "SELECT id, plan, status, period_start, period_end, cancel_at_period_end, created FROM subscriptions WHERE user_id = ?",
        &[text(user)],
    )?;
    Ok(rows.rows.first().map(|r| Subscription {
        id: get_text(r, 0),
        plan: Plan::parse(&get_text(r, 1)).unwrap_or(Plan::Free),
        status: Status::parse(&get_text(r, 2)),
        period_start: get_int(r, 3) as u64,
        period_end: get_int(r, 4) as u64,
        cancel_at_period_end: get_int(r, 5) != 0,
        created: get_int(r, 6) as u64,
    }))
}

fn save_subscription(tx: &Tx, user: &str, s: &Subscription) -> ApiResult<()> {
    tx.exec(
        "INSERT INTO subscriptions (user_id, id, plan, status, period_start, period_end, cancel_at_period_end, created)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT (user_id) DO UPDATE SET id = excluded.id, plan = excluded.plan, status = excluded.status,
         period_start = excluded.period_start, period_end = excluded.period_end,
         cancel_at_period_end = excluded.cancel_at_period_end, created = excluded.created",
        &[
            text(user),
            text(&s.id),
            text(s.plan.id()),
            text(s.status.as_str()),
            int(s.period_start),
            int(s.period_end),
            int(s.cancel_at_period_end as u64),
            int(s.created),
        ],
    )?;
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Operations. Each checks, then charges, then writes: a refusal writes nothing.

async fn subscribe(tx: &Tx, user: &str, body: &SubscribeBody, gateway: &Gateway) -> ApiResult<(u16, Value)> {
    let plan = Plan::parse(&body.plan)?;
    let at = now();
    if let Some(current) = load_subscription(tx, user)? {
        if current.entitles(at) == Plan::Premium {
            return Err(ApiError::conflict(
                "already subscribed to premium: cancel it (DELETE /v1/me/subscription) to go back to free",
            ));
        }
        if plan == Plan::Free && current.status_at(at) == Status::Active {
            return Err(ApiError::conflict("already subscribed to free"));
        }
    }
    let sub_id = format!("sub_{}", riff_guest::new_id()?);
    let invoice_id = format!("in_{}", riff_guest::new_id()?);
    let (method, charge) = match (plan, body.payment_method.as_deref()) {
        (Plan::Premium, None) => return Err(ApiError::bad_request("premium needs a payment_method")),
        (Plan::Free, None) => (None, None),
        (_, Some(m)) => {
            let customer = customer(tx, user, gateway).await?;
            let card = gateway.attach(&customer, m).await?;
            let charge = match plan.amount() {
                0 => None,
                amount => Some(gateway.charge(&customer, m, amount, &invoice_id, &invoice_id).await?),
            };
            (Some((m, card)), charge)
        }
    };
    // The gateway took the money (or none was due): record everything, in this transaction.
    let sub = Subscription {
        id: sub_id.clone(),
        plan,
        status: Status::Active,
        period_start: at,
        period_end: at + period_ms(),
        cancel_at_period_end: false,
        created: at,
    };
    save_subscription(tx, user, &sub)?;
    if let Some((m, card)) = &method {
        save_method(tx, user, m, card)?;
    }
    tx.exec(
        "INSERT INTO invoices (id, user_id, subscription, amount_due, amount_paid, currency, status, created, period_start, period_end, charge, gateway)
         VALUES (?, ?, ?, ?, ?, ?, 'paid', ?, ?, ?, ?, ?)",
        &[
            text(&invoice_id),
            text(user),
            text(&sub_id),
            SqlValue::Integer(plan.amount()),
            SqlValue::Integer(plan.amount()),
            text(CURRENCY),
            int(at),
            int(sub.period_start),
            int(sub.period_end),
            charge.as_deref().map_or(SqlValue::Null, text),
            text(gateway.name()),
        ],
    )?;
    fault_point("between-ledger-writes");
    if let Some(charge) = &charge {
        attempt(tx, &invoice_id, 1, at, Ok(charge))?;
        ledger(tx, user, "charge", plan.amount(), charge, at)?;
    }
    ledger(tx, user, "invoice", plan.amount(), &invoice_id, at)?;
    Ok((201, value(&SubscriptionObject::at(&sub, at))))
}

/// What the renewal of one subscription did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Renewal {
    /// Nothing was due.
    Nothing,
    /// Charged for a new period (at the period's end, or by a retry in dunning).
    Paid,
    /// Declined: `past_due` (a first decline, or a retry that was declined again).
    Declined,
    /// Set to cancel: ended at the period's end without a charge.
    Ended,
    /// The last retry was declined: canceled.
    GaveUp,
}

/// Renew a premium subscription whose period has ended, or retry a `past_due` one whose next
/// attempt is due, or end one that was set to cancel (see [`billing::due`]). Paid: a new period,
/// a paid invoice and ledger entries. Declined: `past_due` and an open invoice, retried on the
/// dunning schedule ([`billing::after_decline`]); previews only until a payment succeeds.
///
/// The renewal run ([`renew_all_due`], on the cron trigger) does this for every subscription due;
/// a billing request or a stream that comes first does it itself, inside its own transaction, so
/// no listener is ever served on an unpaid period. Transactions on the database run one at a
/// time, so two runs never both charge; each write is still conditional on the state this
/// function read (see [`transition`]), and the gateway's idempotency key names the period and
/// the attempt, so that even a replica that raced past both would be answered the first charge.
async fn renew_if_due(tx: &Tx, user: &str, gateway: &Gateway) -> ApiResult<Renewal> {
    let at = now();
    let Some(sub) = load_subscription(tx, user)? else { return Ok(Renewal::Nothing) };
    match billing::due(&sub, at) {
        Due::Nothing => Ok(Renewal::Nothing),
        Due::End => {
            transition(tx, user, &sub, &Subscription { status: Status::Canceled, ..sub.clone() })?;
            tx.exec(
                "UPDATE invoices SET status = 'void' WHERE user_id = ? AND subscription = ? AND status = 'open'",
                &[text(user), text(&sub.id)],
            )?;
            Ok(Renewal::Ended)
        }
        Due::Renew => renew(tx, user, &sub, gateway, at).await,
        Due::Dunning => retry(tx, user, &sub, gateway, at).await,
    }
}

/// Write `next` over `current` only if the stored subscription is still `current` (its id,
/// status and period): a check-then-write that a concurrent change makes fail (409) instead of
/// being overwritten.
fn transition(tx: &Tx, user: &str, current: &Subscription, next: &Subscription) -> ApiResult<()> {
    let changed = tx.exec(
        "UPDATE subscriptions SET status = ?, period_start = ?, period_end = ?, cancel_at_period_end = ?
         WHERE user_id = ? AND id = ? AND status = ? AND period_end = ? RETURNING user_id",
        &[
            text(next.status.as_str()),
            int(next.period_start),
            int(next.period_end),
            int(next.cancel_at_period_end as u64),
            text(user),
            text(&current.id),
            text(current.status.as_str()),
            int(current.period_end),
        ],
    )?;
    if changed.rows.is_empty() {
        return Err(changed_meanwhile("subscription"));
    }
    Ok(())
}

/// A conditional write found the row changed since it was read. A 503, so that the
/// transaction is rolled back (not stored as an idempotent answer) and the caller may retry.
fn changed_meanwhile(what: &str) -> ApiError {
    ApiError::new(503, format!("the {what} changed meanwhile: try again"))
}

/// Record attempt `n` at taking `invoice`'s payment: the charge, or the decline's message.
fn attempt(tx: &Tx, invoice: &str, n: usize, at: u64, outcome: Result<&str, &str>) -> ApiResult<()> {
    let (kind, charge, message) = match outcome {
        Ok(charge) => ("succeeded", text(charge), SqlValue::Null),
        Err(message) => ("declined", SqlValue::Null, text(message)),
    };
    tx.exec(
        "INSERT INTO invoice_attempts (invoice_id, attempt, created, outcome, charge, message) VALUES (?, ?, ?, ?, ?, ?)",
        &[text(invoice), int(n as u64), int(at), text(kind), charge, message],
    )?;
    Ok(())
}

/// The stored payment method and the gateway's customer, to charge a renewal.
async fn payer(tx: &Tx, user: &str, gateway: &Gateway) -> ApiResult<(String, String)> {
    let method = tx.exec("SELECT method FROM payment_methods WHERE user_id = ?", &[text(user)])?;
    let method = method.rows.first().map(|r| get_text(r, 0)).unwrap_or_default();
    Ok((method, customer(tx, user, gateway).await?))
}

/// The gateway's idempotency key for attempt `n` at renewing `sub`'s period.
fn renewal_key(sub: &Subscription, n: usize) -> String {
    format!("{}-renewal-{}-{n}", sub.id, sub.period_end)
}

/// The period ended: charge for the next one.
async fn renew(tx: &Tx, user: &str, sub: &Subscription, gateway: &Gateway, at: u64) -> ApiResult<Renewal> {
    let (method, customer) = payer(tx, user, gateway).await?;
    let invoice_id = format!("in_{}", riff_guest::new_id()?);
    // The new period follows the old one, or starts now when the old one ended long ago.
    let start = if at - sub.period_end < period_ms() { sub.period_end } else { at };
    let amount = Plan::Premium.amount();
    let charge = gateway.charge(&customer, &method, amount, &invoice_id, &renewal_key(sub, 1)).await;
    let (next, paid, status, charge_id, outcome) = match &charge {
        Ok(id) => (
            Subscription { period_start: start, period_end: start + period_ms(), ..sub.clone() },
            amount,
            "paid",
            Some(id.as_str()),
            Renewal::Paid,
        ),
        Err(e) if e.status == 402 => {
            (Subscription { status: Status::PastDue, ..sub.clone() }, 0, "open", None, Renewal::Declined)
        }
        Err(e) => return Err(e.clone()),
    };
    transition(tx, user, sub, &next)?;
    tx.exec(
        "INSERT INTO invoices (id, user_id, subscription, amount_due, amount_paid, currency, status, created, period_start, period_end, charge, gateway)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        &[
            text(&invoice_id),
            text(user),
            text(&sub.id),
            SqlValue::Integer(amount),
            SqlValue::Integer(paid),
            text(CURRENCY),
            text(status),
            int(at),
            int(start),
            int(start + period_ms()),
            charge_id.map_or(SqlValue::Null, text),
            text(gateway.name()),
        ],
    )?;
    attempt(tx, &invoice_id, 1, at, charge.as_deref().map_err(|e| e.message.as_str()))?;
    if let Some(id) = charge_id {
        ledger(tx, user, "charge", paid, id, at)?;
    }
    ledger(tx, user, "invoice", amount, &invoice_id, at)?;
    Ok(outcome)
}

/// `past_due`: retry the open invoice when its next attempt is due. Paid: `active` with a new
/// period from now; declined again: the next retry, or, after the last, `canceled`.
async fn retry(tx: &Tx, user: &str, sub: &Subscription, gateway: &Gateway, at: u64) -> ApiResult<Renewal> {
    let open = tx.exec(
        "SELECT id FROM invoices WHERE user_id = ? AND subscription = ? AND status = 'open' ORDER BY created DESC LIMIT 1",
        &[text(user), text(&sub.id)],
    )?;
    // Past due without an open invoice (the gateway's webhook said so): nothing to retry here.
    let Some(invoice_id) = open.rows.first().map(|r| get_text(r, 0)) else { return Ok(Renewal::Nothing) };
    let attempts = tx.exec(
        "SELECT MIN(created), COUNT(*) FROM invoice_attempts WHERE invoice_id = ?",
        &[text(&invoice_id)],
    )?;
    let made = attempts.rows.first().map_or(0, |r| get_int(r, 1) as usize);
    // An open invoice from before attempts were recorded counts from now.
    let first = if made == 0 { at } else { attempts.rows.first().map_or(at, |r| get_int(r, 0) as u64) };
    let schedule = billing::retry_schedule_ms()?;
    let n = made + 1;
    match billing::after_decline(&schedule, first, made) {
        AfterDecline::RetryAt(when) if at < when => return Ok(Renewal::Nothing),
        AfterDecline::RetryAt(_) => {}
        // A schedule shortened since the last decline: no retry is left.
        AfterDecline::GiveUp if made > 0 => return give_up(tx, user, sub, &invoice_id),
        AfterDecline::GiveUp => {}
    }
    let (method, customer) = payer(tx, user, gateway).await?;
    let amount = Plan::Premium.amount();
    match gateway.charge(&customer, &method, amount, &invoice_id, &renewal_key(sub, n)).await {
        Ok(charge) => {
            let next = Subscription {
                status: Status::Active,
                period_start: at,
                period_end: at + period_ms(),
                ..sub.clone()
            };
            transition(tx, user, sub, &next)?;
            let paid = tx.exec(
                "UPDATE invoices SET status = 'paid', amount_paid = ?, charge = ?, period_start = ?, period_end = ?
                 WHERE id = ? AND status = 'open' RETURNING id",
                &[SqlValue::Integer(amount), text(&charge), int(next.period_start), int(next.period_end), text(&invoice_id)],
            )?;
            if paid.rows.is_empty() {
                return Err(changed_meanwhile("invoice"));
            }
            attempt(tx, &invoice_id, n, at, Ok(&charge))?;
            ledger(tx, user, "charge", amount, &charge, at)?;
            Ok(Renewal::Paid)
        }
        Err(e) if e.status == 402 => {
            attempt(tx, &invoice_id, n, at, Err(&e.message))?;
            match billing::after_decline(&schedule, first, n) {
                AfterDecline::RetryAt(_) => Ok(Renewal::Declined),
                AfterDecline::GiveUp => give_up(tx, user, sub, &invoice_id),
            }
        }
        Err(e) => Err(e),
    }
}

/// The last retry was declined: the subscription is canceled, its invoice uncollectible.
fn give_up(tx: &Tx, user: &str, sub: &Subscription, invoice_id: &str) -> ApiResult<Renewal> {
    transition(tx, user, sub, &Subscription { status: Status::Canceled, ..sub.clone() })?;
    tx.exec(
        "UPDATE invoices SET status = 'uncollectible' WHERE id = ? AND status = 'open'",
        &[text(invoice_id)],
    )?;
    Ok(Renewal::GaveUp)
}

fn ledger(tx: &Tx, user: &str, kind: &str, amount: i64, reference: &str, at: u64) -> ApiResult<()> {
    tx.exec(
        "INSERT INTO ledger (user_id, kind, amount, currency, reference, created) VALUES (?, ?, ?, ?, ?, ?)",
        &[text(user), text(kind), SqlValue::Integer(amount), text(CURRENCY), text(reference), int(at)],
    )?;
    Ok(())
}

/// A test hook: with the variable `fault_injection` set to `point`, trap here. Off unless an
/// operator sets it; the tests use it to show a failure mid-write leaves nothing behind.
fn fault_point(point: &str) {
    if spin_sdk::variables::get("fault_injection").is_ok_and(|v| v == point) {
        panic!("fault injected at {point}");
    }
}

fn change(
    tx: &Tx,
    user: &str,
    apply: fn(&Subscription, u64) -> ApiResult<Subscription>,
) -> ApiResult<(u16, Value)> {
    let at = now();
    let current = load_subscription(tx, user)?.ok_or_else(|| ApiError::not_found("no subscription"))?;
    let next = apply(&current, at)?;
    save_subscription(tx, user, &next)?;
    Ok((200, value(&SubscriptionObject::at(&next, at))))
}

/// This user's customer at the gateway, created (and recorded) on first need.
async fn customer(tx: &Tx, user: &str, gateway: &Gateway) -> ApiResult<String> {
    let rows = tx.exec(
        "SELECT customer FROM customers WHERE user_id = ? AND gateway = ?",
        &[text(user), text(gateway.name())],
    )?;
    if let Some(row) = rows.rows.first() {
        return Ok(get_text(row, 0));
    }
    let id = gateway.create_customer(user).await?;
    tx.exec(
        "INSERT INTO customers (user_id, gateway, customer) VALUES (?, ?, ?)",
        &[text(user), text(gateway.name()), text(&id)],
    )?;
    Ok(id)
}

fn save_method(tx: &Tx, user: &str, method: &str, card: &gateway::Card) -> ApiResult<()> {
    tx.exec(
        "INSERT INTO payment_methods (user_id, method, brand, last4) VALUES (?, ?, ?, ?)
         ON CONFLICT (user_id) DO UPDATE SET method = excluded.method, brand = excluded.brand, last4 = excluded.last4",
        &[text(user), text(method), text(&card.brand), text(&card.last4)],
    )?;
    Ok(())
}

async fn set_payment_method(tx: &Tx, user: &str, method: &str, gateway: &Gateway) -> ApiResult<(u16, Value)> {
    let customer = customer(tx, user, gateway).await?;
    let card = gateway.attach(&customer, method).await?;
    save_method(tx, user, method, &card)?;
    let body = PaymentMethodObject {
        card,
        gateway: gateway.name(),
        id: method.to_string(),
        object: "payment_method",
        kind: "card",
    };
    Ok((200, value(&body)))
}

async fn invoices(user: &str, query: &[(String, String)]) -> ApiResult<Response> {
    let (limit, offset) = paging(query, 20)?;
    let tx = Tx::begin()?;
    renew_if_due(&tx, user, &Gateway::configured()).await?;
    let total = tx.exec("SELECT COUNT(*) FROM invoices WHERE user_id = ?", &[text(user)])?;
    let total = total.rows.first().map(|r| get_int(r, 0)).unwrap_or(0) as u64;
    let rows = tx.exec(
        "SELECT id, subscription, amount_due, amount_paid, currency, status, created, period_start, period_end, gateway
         FROM invoices WHERE user_id = ? ORDER BY created DESC, id LIMIT ? OFFSET ?",
        &[text(user), int(limit as u64), int(offset as u64)],
    )?;
    let page = "SELECT id FROM invoices WHERE user_id = ? ORDER BY created DESC, id LIMIT ? OFFSET ?";
    let page_params = [text(user), int(limit as u64), int(offset as u64)];
    let attempts = tx.exec(
        &format!(
            "SELECT invoice_id, attempt, created, outcome, message FROM invoice_attempts
             WHERE invoice_id IN ({page}) ORDER BY invoice_id, attempt"
        ),
        &page_params,
    )?;
    let refunds = tx.exec(
        &format!(
            "SELECT invoice_id, id, amount, currency, reason, created FROM refunds
             WHERE invoice_id IN ({page}) ORDER BY invoice_id, created, id"
        ),
        &page_params,
    )?;
    tx.commit()?;
    let schedule = billing::retry_schedule_ms()?;
    let items: Vec<InvoiceObject> = rows
        .rows
        .iter()
        .map(|r| {
            let id = get_text(r, 0);
            let attempts: Vec<AttemptObject> = attempts
                .rows
                .iter()
                .filter(|a| get_text(a, 0) == id)
                .map(|a| AttemptObject {
                    attempt: get_int(a, 1),
                    created: get_int(a, 2) / 1000,
                    message: match a.get(4) {
                        Some(SqlValue::Text(m)) => Some(m.clone()),
                        _ => None,
                    },
                    outcome: get_text(a, 3),
                })
                .collect();
            let refunds: Vec<RefundObject> =
                refunds.rows.iter().filter(|f| get_text(f, 0) == id).map(|f| refund_object(&id, f)).collect();
            let status = get_text(r, 5);
            let next_payment_attempt = match (status.as_str(), attempts.first()) {
                ("open", Some(first)) => {
                    let declined = attempts.iter().filter(|a| a.outcome == "declined").count();
                    // Times are in ms in the schedule, seconds in the answer.
                    billing::next_attempt(&schedule, first.created as u64 * 1000, declined)
                        .map(|t| t.div_ceil(1000) as i64)
                }
                _ => None,
            };
            InvoiceObject {
                amount_due: get_int(r, 2),
                amount_paid: get_int(r, 3),
                amount_refunded: refunds.iter().map(|f| f.amount).sum(),
                attempt_count: attempts.len(),
                attempts,
                created: get_int(r, 6) / 1000,
                currency: get_text(r, 4),
                gateway: get_text(r, 9),
                id,
                next_payment_attempt,
                object: "invoice",
                period_end: get_int(r, 8) / 1000,
                period_start: get_int(r, 7) / 1000,
                refunds,
                status,
                subscription: get_text(r, 1),
            }
        })
        .collect();
    Ok(json_out(200, &value(&Page::new("/v1/me/invoices", items, limit, offset, total)), false))
}

/// A refund row (`invoice_id, id, amount, currency, reason, created`) as the API shows it.
fn refund_object(invoice: &str, row: &[SqlValue]) -> RefundObject {
    RefundObject {
        amount: get_int(row, 2),
        created: get_int(row, 5) / 1000,
        currency: get_text(row, 3),
        id: get_text(row, 1),
        invoice: invoice.to_string(),
        object: "refund",
        reason: match row.get(4) {
            Some(SqlValue::Text(r)) => Some(r.clone()),
            _ => None,
        },
        status: "succeeded",
    }
}

/// `POST /v1/me/invoices/{id}/refund`: check ([`refund::check`]), refund at the gateway, record
/// the refund and a ledger entry, and end the subscription when its current period's payment
/// was refunded in full. All in the caller's transaction, so a second refund waits for the
/// first and then sees it.
async fn refund_invoice(
    tx: &Tx,
    user: &str,
    invoice_id: &str,
    body: &RefundBody,
    gateway: &Gateway,
) -> ApiResult<(u16, Value)> {
    let at = now();
    let rows = tx.exec(
        "SELECT status, amount_paid, charge, currency, created, subscription, period_end, gateway FROM invoices WHERE id = ? AND user_id = ?",
        &[text(invoice_id), text(user)],
    )?;
    // Another listener's invoice is answered as one that does not exist.
    let row = rows.rows.first().ok_or_else(|| ApiError::not_found(format!("no invoice {invoice_id:?}")))?;
    if get_text(row, 7) != gateway.name() {
        return Err(ApiError::conflict(format!(
            "this invoice was paid through the {} gateway, which is not the one configured now",
            get_text(row, 7)
        )));
    }
    let refunded =
        tx.exec("SELECT COALESCE(SUM(amount), 0) FROM refunds WHERE invoice_id = ?", &[text(invoice_id)])?;
    let paid_at = tx.exec(
        "SELECT MAX(created) FROM invoice_attempts WHERE invoice_id = ? AND outcome = 'succeeded'",
        &[text(invoice_id)],
    )?;
    let charge = match row.get(2) {
        Some(SqlValue::Text(c)) => Some(c.clone()),
        _ => None,
    };
    let paid = refund::Paid {
        status: get_text(row, 0),
        amount_paid: get_int(row, 1),
        amount_refunded: refunded.rows.first().map_or(0, |r| get_int(r, 0)),
        // Invoices paid before attempts were recorded were paid when they were created.
        paid_at: match paid_at.rows.first().map(|r| get_int(r, 0)) {
            Some(t) if t > 0 => t as u64,
            _ => get_int(row, 4) as u64,
        },
        charge,
    };
    let amount = refund::check(&paid, body, at, refund::window_ms()?)?;
    let charge = paid.charge.as_deref().unwrap_or_default();
    // The key names the state this refund starts from: a repeat of it is the same refund.
    let key = format!("refund-{invoice_id}-{}-{amount}", paid.amount_refunded);
    let refund_id = gateway.refund(charge, amount, invoice_id, &key).await?;
    let currency = get_text(row, 3);
    tx.exec(
        "INSERT INTO refunds (id, invoice_id, user_id, amount, currency, reason, created) VALUES (?, ?, ?, ?, ?, ?, ?)",
        &[
            text(&refund_id),
            text(invoice_id),
            text(user),
            SqlValue::Integer(amount),
            text(&currency),
            body.reason.as_deref().map_or(SqlValue::Null, text),
            int(at),
        ],
    )?;
    ledger(tx, user, "refund", -amount, &refund_id, at)?;
    if paid.amount_refunded + amount == paid.amount_paid {
        // Refunded in full: the period it paid for ends now, if it is the current one.
        if let Some(sub) = load_subscription(tx, user)? {
            let pays_current = sub.id == get_text(row, 5) && sub.period_end == get_int(row, 6) as u64;
            if pays_current && sub.status == Status::Active && sub.plan == Plan::Premium {
                transition(tx, user, &sub, &Subscription { status: Status::Canceled, ..sub.clone() })?;
            }
        }
    }
    let row = [
        text(invoice_id),
        text(&refund_id),
        SqlValue::Integer(amount),
        text(&currency),
        body.reason.as_deref().map_or(SqlValue::Null, text),
        int(at),
    ];
    Ok((200, value(&refund_object(invoice_id, &row))))
}

/// Run a mutating request under its `Idempotency-Key` (if it has one), in one transaction.
async fn idempotent(user: &str, req: &Request, op: Op) -> ApiResult<Response> {
    let key = idempotency::key(req)?;
    let hash = idempotency::request_hash(req);
    let tx = Tx::begin()?;
    if let Some(key) = &key {
        let stored = tx.exec(
            "SELECT request_hash, status, body FROM idempotency WHERE user_id = ? AND key = ? AND created > ?",
            &[text(user), text(key), int(now().saturating_sub(idempotency::KEEP_MS))],
        )?;
        if let Some(row) = stored.rows.first() {
            tx.commit()?;
            if get_text(row, 0) != hash {
                return Err(ApiError::bad_request(idempotency::MISMATCH));
            }
            let body: Value = serde_json::from_str(&get_text(row, 2)).unwrap_or(Value::Null);
            return Ok(json_out(get_int(row, 1) as u16, &body, true));
        }
    }
    // A refusal (4xx) is an answer too: stored and replayed, as Stripe does.
    let (status, body) = match perform(&tx, user, op).await {
        Ok(answer) => answer,
        Err(e) if e.status == 402 => (402, value(&DeclineBody::new(&e.message))),
        Err(e) if e.status < 500 => (e.status, value(&e.body())),
        Err(e) => return Err(e),
    };
    if let Some(key) = &key {
        tx.exec(
            "INSERT OR REPLACE INTO idempotency (user_id, key, request_hash, status, body, created) VALUES (?, ?, ?, ?, ?, ?)",
            &[text(user), text(key), text(&hash), int(status as u64), text(&body.to_string()), int(now())],
        )?;
    }
    tx.commit()?;
    Ok(json_out(status, &body, false))
}

struct Service;

impl wit::Guest for Service {
    fn entitlement(user_id: String) -> Result<wit::Plan, types::Error> {
        let internal = |e: ApiError| types::Error::Internal(e.message);
        let tx = Tx::begin().map_err(internal)?;
        // A period that ended is renewed (charged) at the first use after it.
        spin_sdk::http::run(renew_if_due(&tx, &user_id, &Gateway::configured())).map_err(internal)?;
        let sub = load_subscription(&tx, &user_id).map_err(internal)?;
        tx.commit().map_err(internal)?;
        Ok(match sub.map(|s| s.entitles(now())) {
            Some(Plan::Premium) => wit::Plan::Premium,
            _ => wit::Plan::Free,
        })
    }
}

/// What one renewal run did.
#[derive(Debug, Default)]
struct RunReport {
    /// Charged, or declined into (or further into) dunning.
    settled: usize,
    /// Set to cancel, ended without a charge.
    ended: usize,
    /// Canceled after the last declined retry.
    gave_up: usize,
    /// Errors (logged; tried again at the next run).
    failed: usize,
}

/// The renewal run: every premium subscription whose period ended, and every `past_due` one,
/// is looked at in a transaction of its own; `renew_if_due` checks again inside it, so a request
/// or another run that came first leaves nothing to do.
fn renew_all_due() -> ApiResult<RunReport> {
    let candidates = {
        let tx = Tx::begin()?;
        let rows = tx.exec(
            "SELECT user_id FROM subscriptions WHERE plan = ? AND ((status = ? AND period_end <= ?) OR status = ?)",
            &[
                text(Plan::Premium.id()),
                text(Status::Active.as_str()),
                int(now()),
                text(Status::PastDue.as_str()),
            ],
        )?;
        tx.commit()?;
        rows.rows.iter().map(|r| get_text(r, 0)).collect::<Vec<_>>()
    };
    let gateway = Gateway::configured();
    let mut report = RunReport::default();
    for user in &candidates {
        let once = || -> ApiResult<Renewal> {
            let tx = Tx::begin()?;
            let renewal = spin_sdk::http::run(renew_if_due(&tx, user, &gateway))?;
            tx.commit()?;
            Ok(renewal)
        };
        match once() {
            Ok(Renewal::Nothing) => {}
            Ok(Renewal::Paid | Renewal::Declined) => report.settled += 1,
            Ok(Renewal::Ended) => report.ended += 1,
            Ok(Renewal::GaveUp) => report.gave_up += 1,
            Err(e) => {
                report.failed += 1;
                eprintln!("renewal of {user} failed: {}", e.message);
            }
        }
    }
    Ok(report)
}

impl bindings::Guest for Service {
    /// `[[trigger.cron]]`: the renewal run.
    fn handle_cron_event(metadata: bindings::Metadata) -> Result<(), bindings::Error> {
        let r = renew_all_due().map_err(|e| bindings::Error::Other(e.message))?;
        if r.settled + r.ended + r.gave_up + r.failed > 0 {
            println!(
                "renewals at {}: {} settled (paid or past due), {} ended at the period's end, {} canceled after the last retry, {} failed",
                metadata.timestamp, r.settled, r.ended, r.gave_up, r.failed
            );
        }
        Ok(())
    }
}

bindings::export!(Service with_types_in bindings);
