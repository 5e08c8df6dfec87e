// One schema for both backends: every column type here means the same on SQLite and PostgreSQL.
// Written by hand from migrations/*/up.sql (the two are checked against each other in tests).

diesel::table! {
    committee (id) {
        id -> BigInt,
        name -> Text,
        display_name -> Text,
        podling -> Bool,
        retired -> Bool,
        created_at -> BigInt,
    }
}

diesel::table! {
    project (id) {
        id -> BigInt,
        name -> Text,
        committee_id -> BigInt,
        display_name -> Text,
        policy -> Text,
        created_at -> BigInt,
    }
}

diesel::table! {
    product (id) {
        id -> BigInt,
        project_id -> BigInt,
        name -> Text,
        display_name -> Text,
        created_at -> BigInt,
        policy_override -> Nullable<Text>,
    }
}

diesel::table! {
    users (id) {
        id -> BigInt,
        uid -> Text,
        name -> Nullable<Text>,
        email -> Nullable<Text>,
        is_admin -> Bool,
        password_hash -> Nullable<Text>,
        created_at -> BigInt,
        foundation_member -> Bool,
        visitor -> Bool,
        consented_at -> Nullable<BigInt>,
        consent_version -> Nullable<Text>,
        withdrawn_at -> Nullable<BigInt>,
    }
}

diesel::table! {
    invitation (id) {
        id -> BigInt,
        user_id -> BigInt,
        secret_hash -> Text,
        created_by -> Text,
        created_at -> BigInt,
        expires_at -> BigInt,
        used_at -> Nullable<BigInt>,
    }
}

diesel::table! {
    upload_session (id) {
        id -> Text,
        release_id -> BigInt,
        user_id -> BigInt,
        path -> Text,
        size -> BigInt,
        expected_sha512 -> Nullable<Text>,
        received -> BigInt,
        created_at -> BigInt,
        updated_at -> BigInt,
    }
}

diesel::table! {
    trusted_publisher (id) {
        id -> BigInt,
        project_id -> BigInt,
        issuer -> Text,
        audience -> Text,
        claims -> Text,
        actions -> Text,
        created_by -> Text,
        created_at -> BigInt,
        deleted_at -> Nullable<BigInt>,
    }
}

diesel::table! {
    oidc_token_used (token_sha256) {
        token_sha256 -> Text,
        expires_at -> BigInt,
    }
}

diesel::table! {
    membership (user_id, committee_id, role) {
        user_id -> BigInt,
        committee_id -> BigInt,
        role -> Text,
        created_at -> BigInt,
    }
}

diesel::table! {
    signing_key (fingerprint) {
        fingerprint -> Text,
        key_id -> Text,
        algorithm -> Text,
        bits -> Nullable<Integer>,
        key_created_at -> BigInt,
        expires_at -> Nullable<BigInt>,
        revoked -> Bool,
        primary_uid -> Nullable<Text>,
        uids -> Text,
        armored -> Text,
        owner_id -> Nullable<BigInt>,
        added_at -> BigInt,
        updated_at -> BigInt,
        armored_sha256 -> Text,
    }
}

diesel::table! {
    committee_key (committee_id, fingerprint) {
        committee_id -> BigInt,
        fingerprint -> Text,
        added_at -> BigInt,
    }
}

diesel::table! {
    release (id) {
        id -> BigInt,
        product_id -> BigInt,
        version -> Text,
        phase -> Text,
        revision -> BigInt,
        created_by -> Nullable<BigInt>,
        created_at -> BigInt,
        updated_at -> BigInt,
        vote_policy -> Nullable<Text>,
        vote_revision -> Nullable<BigInt>,
        vote_started_at -> Nullable<BigInt>,
        vote_closes_at -> Nullable<BigInt>,
        released_at -> Nullable<BigInt>,
        revoked_at -> Nullable<BigInt>,
        revoked_reason -> Nullable<Text>,
        manifest_digest -> Nullable<Text>,
        vote_round -> BigInt,
        vote_expedited_reason -> Nullable<Text>,
        vote_outcome -> Nullable<Text>,
        vote_resolved_at -> Nullable<BigInt>,
        vote_resolution -> Nullable<Text>,
        published_revision -> Nullable<BigInt>,
        published_digest -> Nullable<Text>,
        archived_at -> Nullable<BigInt>,
        policy_override -> Nullable<Text>,
        vote_stage -> Nullable<Text>,
    }
}

diesel::table! {
    blob (sha256) {
        sha256 -> Text,
        sha512 -> Text,
        size -> BigInt,
        created_at -> BigInt,
    }
}

diesel::table! {
    revision (id) {
        id -> BigInt,
        release_id -> BigInt,
        seq -> BigInt,
        created_by -> Nullable<BigInt>,
        created_at -> BigInt,
        description -> Text,
    }
}

diesel::table! {
    revision_file (revision_id, path) {
        revision_id -> BigInt,
        path -> Text,
        blob_sha256 -> Text,
    }
}

diesel::table! {
    runner (id) {
        id -> BigInt,
        name -> Text,
        token_hash -> Text,
        capabilities -> Text,
        version -> Nullable<Text>,
        last_seen_at -> Nullable<BigInt>,
        disabled -> Bool,
        created_at -> BigInt,
        capacity -> Nullable<BigInt>,
    }
}

diesel::table! {
    task (id) {
        id -> BigInt,
        kind -> Text,
        release_id -> Nullable<BigInt>,
        revision_seq -> Nullable<BigInt>,
        checker_version -> Nullable<Text>,
        path -> Text,
        args -> Text,
        inputs -> Text,
        inputs_hash -> Text,
        policy_hash -> Text,
        status -> Text,
        priority -> Integer,
        attempt -> Integer,
        max_attempts -> Integer,
        not_before -> BigInt,
        runner_id -> Nullable<BigInt>,
        lease_token -> Nullable<Text>,
        lease_expires_at -> Nullable<BigInt>,
        progress -> Nullable<Text>,
        error -> Nullable<Text>,
        created_at -> BigInt,
        started_at -> Nullable<BigInt>,
        finished_at -> Nullable<BigInt>,
    }
}

diesel::table! {
    task_log (task_id, seq) {
        task_id -> BigInt,
        seq -> Integer,
        text -> Text,
        at -> BigInt,
    }
}

diesel::table! {
    schedule (name) {
        name -> Text,
        interval_secs -> BigInt,
        next_run_at -> BigInt,
        last_started_at -> Nullable<BigInt>,
        last_finished_at -> Nullable<BigInt>,
        last_outcome -> Nullable<Text>,
        last_detail -> Nullable<Text>,
        runs -> BigInt,
    }
}

diesel::table! {
    task_blob (task_id, lease_token, sha256) {
        task_id -> BigInt,
        lease_token -> Text,
        sha256 -> Text,
        created_at -> BigInt,
    }
}

diesel::table! {
    check_result (id) {
        id -> BigInt,
        task_id -> Nullable<BigInt>,
        checker -> Text,
        checker_version -> Text,
        inputs_hash -> Text,
        policy_hash -> Text,
        ordinal -> Integer,
        path -> Text,
        member -> Nullable<Text>,
        status -> Text,
        message -> Text,
        data -> Nullable<Text>,
        created_at -> BigInt,
    }
}

diesel::table! {
    key_use (fingerprint, release_id, path) {
        fingerprint -> Text,
        release_id -> BigInt,
        path -> Text,
        seen_at -> BigInt,
    }
}

diesel::table! {
    waiver (id) {
        id -> BigInt,
        project_id -> BigInt,
        checker -> Text,
        path_glob -> Text,
        reason -> Text,
        author_id -> Nullable<BigInt>,
        release_id -> Nullable<BigInt>,
        revision_seq -> Nullable<BigInt>,
        created_at -> BigInt,
        revoked_at -> Nullable<BigInt>,
        rule -> Nullable<Text>,
    }
}

diesel::table! {
    vote (id) {
        id -> BigInt,
        release_id -> BigInt,
        revision_seq -> BigInt,
        voter_id -> Nullable<BigInt>,
        voter -> Text,
        value -> Integer,
        binding -> Bool,
        comment -> Nullable<Text>,
        source -> Text,
        created_at -> BigInt,
        round -> BigInt,
        signature -> Nullable<Text>,
        signed_by -> Nullable<Text>,
    }
}

diesel::table! {
    cve (id) {
        id -> BigInt,
        name -> Text,
        project_id -> BigInt,
        title -> Text,
        description -> Nullable<Text>,
        severity -> Nullable<Text>,
        cvss_vector -> Nullable<Text>,
        advisory_url -> Nullable<Text>,
        published_at -> Nullable<BigInt>,
        created_by -> Text,
        created_at -> BigInt,
        updated_at -> BigInt,
    }
}

diesel::table! {
    cve_release (cve_id, release_id, relation) {
        cve_id -> BigInt,
        release_id -> BigInt,
        relation -> Text,
    }
}

diesel::table! {
    distribution (id) {
        id -> BigInt,
        release_id -> BigInt,
        channel -> Text,
        url -> Text,
        status -> Text,
        detail -> Nullable<Text>,
        checked_at -> Nullable<BigInt>,
        created_by -> Text,
        created_at -> BigInt,
        updated_at -> BigInt,
    }
}

diesel::table! {
    event (id) {
        id -> BigInt,
        at -> BigInt,
        actor -> Text,
        action -> Text,
        target -> Text,
        release_id -> Nullable<BigInt>,
        details -> Text,
        seq -> Nullable<BigInt>,
        prev_hash -> Nullable<Text>,
        hash -> Nullable<Text>,
    }
}

diesel::table! {
    api_token (id) {
        id -> BigInt,
        user_id -> BigInt,
        label -> Text,
        token_hash -> Text,
        created_at -> BigInt,
        last_used_at -> Nullable<BigInt>,
        expires_at -> Nullable<BigInt>,
    }
}

diesel::table! {
    audit_head (id) {
        id -> BigInt,
        seq -> BigInt,
        hash -> Text,
    }
}

diesel::table! {
    audit_checkpoint (id) {
        id -> BigInt,
        seq -> BigInt,
        hash -> Text,
        signed_at -> BigInt,
        public_key -> Text,
        signature -> Text,
    }
}

diesel::table! {
    server_secret (name) {
        name -> Text,
        value -> Text,
        created_at -> BigInt,
    }
}

diesel::joinable!(project -> committee (committee_id));
diesel::joinable!(product -> project (project_id));
diesel::joinable!(membership -> users (user_id));
diesel::joinable!(invitation -> users (user_id));
diesel::joinable!(upload_session -> release (release_id));
diesel::joinable!(upload_session -> users (user_id));
diesel::joinable!(trusted_publisher -> project (project_id));
diesel::joinable!(membership -> committee (committee_id));
diesel::joinable!(signing_key -> users (owner_id));
diesel::joinable!(committee_key -> committee (committee_id));
diesel::joinable!(committee_key -> signing_key (fingerprint));
diesel::joinable!(release -> product (product_id));
diesel::joinable!(release -> users (created_by));
diesel::joinable!(revision -> release (release_id));
diesel::joinable!(revision -> users (created_by));
diesel::joinable!(revision_file -> revision (revision_id));
diesel::joinable!(revision_file -> blob (blob_sha256));
diesel::joinable!(task -> release (release_id));
diesel::joinable!(task -> runner (runner_id));
diesel::joinable!(task_log -> task (task_id));
diesel::joinable!(task_blob -> task (task_id));
diesel::joinable!(check_result -> task (task_id));
diesel::joinable!(key_use -> signing_key (fingerprint));
diesel::joinable!(key_use -> release (release_id));
diesel::table! {
    mail_template (project_id, kind) {
        project_id -> BigInt,
        kind -> Text,
        subject -> Text,
        body -> Text,
        updated_by -> Text,
        updated_at -> BigInt,
    }
}

diesel::table! {
    webhook (id) {
        id -> BigInt,
        project_id -> BigInt,
        url -> Text,
        events -> Text,
        secret -> Text,
        created_by -> Text,
        created_at -> BigInt,
        created_seq -> BigInt,
        deleted_at -> Nullable<BigInt>,
    }
}

diesel::table! {
    delivery (id) {
        id -> BigInt,
        dedupe -> Text,
        kind -> Text,
        event_seq -> BigInt,
        action -> Text,
        webhook_id -> Nullable<BigInt>,
        release_id -> Nullable<BigInt>,
        task_id -> BigInt,
        recipient -> Text,
        subject -> Text,
        message_id -> Text,
        created_at -> BigInt,
    }
}

diesel::table! {
    outbox_cursor (id) {
        id -> Integer,
        last_seq -> BigInt,
    }
}

diesel::table! {
    web_session (id) {
        id -> BigInt,
        user_id -> BigInt,
        secret_hash -> Text,
        csrf_token -> Text,
        created_at -> BigInt,
        last_seen_at -> BigInt,
        revoked_at -> Nullable<BigInt>,
        address -> Nullable<Text>,
    }
}

diesel::table! {
    login_failure (id) {
        id -> BigInt,
        uid -> Text,
        address -> Text,
        at -> BigInt,
    }
}

diesel::joinable!(waiver -> project (project_id));
diesel::joinable!(waiver -> users (author_id));
diesel::joinable!(waiver -> release (release_id));
diesel::joinable!(vote -> release (release_id));
diesel::joinable!(vote -> users (voter_id));
diesel::joinable!(cve -> project (project_id));
diesel::joinable!(cve_release -> cve (cve_id));
diesel::joinable!(cve_release -> release (release_id));
diesel::joinable!(distribution -> release (release_id));
diesel::joinable!(event -> release (release_id));
diesel::joinable!(api_token -> users (user_id));
diesel::joinable!(mail_template -> project (project_id));
diesel::joinable!(webhook -> project (project_id));
diesel::joinable!(delivery -> webhook (webhook_id));
diesel::joinable!(delivery -> task (task_id));
diesel::joinable!(web_session -> users (user_id));

diesel::allow_tables_to_appear_in_same_query!(
    committee,
    project,
    product,
    users,
    membership,
    signing_key,
    committee_key,
    release,
    blob,
    revision,
    revision_file,
    runner,
    task,
    task_log,
    task_blob,
    schedule,
    check_result,
    key_use,
    waiver,
    vote,
    cve,
    cve_release,
    distribution,
    event,
    api_token,
    audit_head,
    audit_checkpoint,
    server_secret,
    mail_template,
    webhook,
    delivery,
    outbox_cursor,
    web_session,
    login_failure,
    invitation,
    upload_session,
    trusted_publisher,
    oidc_token_used,
);
