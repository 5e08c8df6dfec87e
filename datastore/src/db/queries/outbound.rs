//! Mail templates, webhooks, their deliveries and the outbox dispatcher's place in the event log.

use diesel::prelude::*;

use super::insert_or_ignore;
use crate::db::models::{DeliveryRow, MailTemplateRow, NewDelivery, TaskRow, WebhookRow};
use crate::db::schema::{delivery, mail_template, outbox_cursor, task, webhook};
use crate::db::{DbConnection, now_ms};

pub fn templates(conn: &mut DbConnection, project_id: i64) -> QueryResult<Vec<MailTemplateRow>> {
    mail_template::table
        .filter(mail_template::project_id.eq(project_id))
        .select(MailTemplateRow::as_select())
        .load(conn)
}

pub fn template(conn: &mut DbConnection, project_id: i64, kind: &str) -> QueryResult<Option<MailTemplateRow>> {
    mail_template::table.find((project_id, kind)).select(MailTemplateRow::as_select()).first(conn).optional()
}

/// Stores a project's template of `kind`, in place of the one it had.
pub fn set_template(
    conn: &mut DbConnection,
    project_id: i64,
    kind: &str,
    subject: &str,
    body: &str,
    by: &str,
) -> QueryResult<()> {
    diesel::delete(mail_template::table.find((project_id, kind))).execute(conn)?;
    diesel::insert_into(mail_template::table)
        .values((
            mail_template::project_id.eq(project_id),
            mail_template::kind.eq(kind),
            mail_template::subject.eq(subject),
            mail_template::body.eq(body),
            mail_template::updated_by.eq(by),
            mail_template::updated_at.eq(now_ms()),
        ))
        .execute(conn)?;
    Ok(())
}

/// Removes a project's own template (the default applies again); false if it had none.
pub fn delete_template(conn: &mut DbConnection, project_id: i64, kind: &str) -> QueryResult<bool> {
    Ok(diesel::delete(mail_template::table.find((project_id, kind))).execute(conn)? == 1)
}

pub fn insert_webhook(
    conn: &mut DbConnection,
    project_id: i64,
    url: &str,
    events: &str,
    secret: &str,
    by: &str,
) -> QueryResult<WebhookRow> {
    let id: i64 = diesel::insert_into(webhook::table)
        .values((
            webhook::project_id.eq(project_id),
            webhook::url.eq(url),
            webhook::events.eq(events),
            webhook::secret.eq(secret),
            webhook::created_by.eq(by),
            webhook::created_at.eq(now_ms()),
        ))
        .returning(webhook::id)
        .get_result(conn)?;
    webhook::table.find(id).select(WebhookRow::as_select()).first(conn)
}

/// A project's webhooks that are not deleted, oldest first.
pub fn webhooks(conn: &mut DbConnection, project_id: i64) -> QueryResult<Vec<WebhookRow>> {
    webhook::table
        .filter(webhook::project_id.eq(project_id))
        .filter(webhook::deleted_at.is_null())
        .order(webhook::id)
        .select(WebhookRow::as_select())
        .load(conn)
}

/// A webhook of a project (deleted ones too: their history stays readable).
pub fn webhook(conn: &mut DbConnection, project_id: i64, id: i64) -> QueryResult<Option<WebhookRow>> {
    webhook::table
        .find(id)
        .filter(webhook::project_id.eq(project_id))
        .select(WebhookRow::as_select())
        .first(conn)
        .optional()
}

/// Records where in the audit chain a webhook begins to hear of events.
pub fn set_webhook_seq(conn: &mut DbConnection, id: i64, seq: i64) -> QueryResult<()> {
    diesel::update(webhook::table.find(id)).set(webhook::created_seq.eq(seq)).execute(conn)?;
    Ok(())
}

/// Stops a webhook; its deliveries stay. False if it was deleted already.
pub fn delete_webhook(conn: &mut DbConnection, id: i64) -> QueryResult<bool> {
    let changed = diesel::update(webhook::table.find(id).filter(webhook::deleted_at.is_null()))
        .set(webhook::deleted_at.eq(now_ms()))
        .execute(conn)?;
    Ok(changed == 1)
}

/// Records a delivery; false if one with its dedupe key exists (then nothing is written).
pub fn insert_delivery(conn: &mut DbConnection, new: &NewDelivery) -> QueryResult<bool> {
    Ok(insert_or_ignore!(conn, delivery::table, new)? == 1)
}

pub fn delivery_exists(conn: &mut DbConnection, dedupe: &str) -> QueryResult<bool> {
    diesel::select(diesel::dsl::exists(delivery::table.filter(delivery::dedupe.eq(dedupe)))).get_result(conn)
}

/// A page of a webhook's deliveries with their tasks, newest first, and how many there are.
pub fn deliveries_of_webhook(
    conn: &mut DbConnection,
    webhook_id: i64,
    limit: i64,
    offset: i64,
) -> QueryResult<(Vec<(DeliveryRow, TaskRow)>, i64)> {
    let total = delivery::table.filter(delivery::webhook_id.eq(webhook_id)).count().get_result(conn)?;
    let rows = delivery::table
        .inner_join(task::table)
        .filter(delivery::webhook_id.eq(webhook_id))
        .order(delivery::id.desc())
        .limit(limit)
        .offset(offset)
        .select((DeliveryRow::as_select(), TaskRow::as_select()))
        .load(conn)?;
    Ok((rows, total))
}

/// A release's deliveries of one kind with their tasks, oldest first.
pub fn deliveries_of_release(
    conn: &mut DbConnection,
    release_id: i64,
    kind: &str,
) -> QueryResult<Vec<(DeliveryRow, TaskRow)>> {
    delivery::table
        .inner_join(task::table)
        .filter(delivery::release_id.eq(release_id))
        .filter(delivery::kind.eq(kind))
        .order(delivery::id)
        .select((DeliveryRow::as_select(), TaskRow::as_select()))
        .load(conn)
}

/// The last event the dispatcher handled (not locked: to see whether there is work).
pub fn cursor(conn: &mut DbConnection) -> QueryResult<i64> {
    outbox_cursor::table.find(1).select(outbox_cursor::last_seq).first(conn)
}

/// The last event the dispatcher handled, locked until the transaction ends (a no-op update),
/// so that two datastores never dispatch the same events.
pub fn lock_cursor(conn: &mut DbConnection) -> QueryResult<i64> {
    diesel::update(outbox_cursor::table.find(1))
        .set(outbox_cursor::last_seq.eq(outbox_cursor::last_seq))
        .execute(conn)?;
    outbox_cursor::table.find(1).select(outbox_cursor::last_seq).first(conn)
}

pub fn set_cursor(conn: &mut DbConnection, seq: i64) -> QueryResult<()> {
    diesel::update(outbox_cursor::table.find(1)).set(outbox_cursor::last_seq.eq(seq)).execute(conn)?;
    Ok(())
}
