//! The one schema both backends share (see migrations/sqlite and
//! migrations/postgres). UUIDs are text, times are UTC `Timestamp`s.

diesel::table! {
    app_secrets (name) {
        name -> Text,
        value -> Text,
        created_at -> Timestamp,
    }
}

diesel::table! {
    cases (id) {
        id -> Text,
        slug -> Text,
        title -> Text,
        summary -> Text,
        subject_name -> Nullable<Text>,
        country -> Nullable<Text>,
        body -> Nullable<Text>,
        status -> Text,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        retention_days -> Nullable<BigInt>,
        ended_at -> Nullable<Timestamp>,
        retention_done_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    petitions (id) {
        id -> Text,
        case_id -> Text,
        slug -> Text,
        title -> Text,
        target -> Text,
        body -> Text,
        goal -> Nullable<BigInt>,
        status -> Text,
        require_confirmation -> Bool,
        confirmed_count -> BigInt,
        pending_count -> BigInt,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        public_min_count -> BigInt,
    }
}

diesel::table! {
    petition_country_counts (petition_id, country) {
        petition_id -> Text,
        country -> Text,
        confirmed -> BigInt,
    }
}

diesel::table! {
    supporters (id) {
        id -> Text,
        email -> Nullable<Text>,
        first_name -> Nullable<Text>,
        last_name -> Nullable<Text>,
        country -> Nullable<Text>,
        postcode -> Nullable<Text>,
        locale -> Nullable<Text>,
        status -> Text,
        email_opt_in -> Bool,
        consent_at -> Nullable<Timestamp>,
        consent_wording -> Nullable<Text>,
        consent_source -> Nullable<Text>,
        unsubscribed_at -> Nullable<Timestamp>,
        bounced_at -> Nullable<Timestamp>,
        erased_at -> Nullable<Timestamp>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        unsubscribe_reason -> Nullable<Text>,
        email_hash -> Nullable<Text>,
        email_domain -> Nullable<Text>,
    }
}

diesel::table! {
    lists (id) {
        id -> Text,
        name -> Text,
        description -> Nullable<Text>,
        created_at -> Timestamp,
    }
}

diesel::table! {
    list_members (list_id, supporter_id) {
        list_id -> Text,
        supporter_id -> Text,
        added_at -> Timestamp,
    }
}

diesel::table! {
    signatures (id) {
        id -> Text,
        petition_id -> Text,
        supporter_id -> Text,
        status -> Text,
        country -> Text,
        postcode -> Nullable<Text>,
        comment -> Nullable<Text>,
        email_opt_in -> Bool,
        ip_hash -> Nullable<Text>,
        confirm_token_hash -> Nullable<Text>,
        confirm_secret_hash -> Nullable<Text>,
        locale -> Nullable<Text>,
        signed_at -> Timestamp,
        confirmed_at -> Nullable<Timestamp>,
        expires_at -> Nullable<Timestamp>,
        first_name -> Nullable<Text>,
        last_name -> Nullable<Text>,
        reminded_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    alerts (id) {
        id -> Text,
        case_id -> Text,
        petition_id -> Nullable<Text>,
        subject -> Text,
        body_markdown -> Text,
        status -> Text,
        recipients -> BigInt,
        created_by -> Nullable<Text>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        send_started_at -> Nullable<Timestamp>,
        finished_at -> Nullable<Timestamp>,
        paused_reason -> Nullable<Text>,
        paused_at -> Nullable<Timestamp>,
        send_at -> Nullable<Timestamp>,
        send_by -> Nullable<Timestamp>,
        created_by_key -> Nullable<Text>,
        updated_by_key -> Nullable<Text>,
        send_requested_by -> Nullable<Text>,
        approved_by -> Nullable<Text>,
        approved_at -> Nullable<Timestamp>,
        locale -> Nullable<Text>,
    }
}

diesel::table! {
    alert_domain_pauses (alert_id, domain) {
        alert_id -> Text,
        domain -> Text,
        reply -> Text,
        since -> Timestamp,
        resume_at -> Timestamp,
    }
}

diesel::table! {
    inbound_reports (id) {
        id -> BigInt,
        received_at -> Timestamp,
        kind -> Text,
        raw -> Binary,
    }
}

diesel::table! {
    alert_lists (alert_id, list_id) {
        alert_id -> Text,
        list_id -> Text,
    }
}

diesel::table! {
    deliveries (id) {
        id -> BigInt,
        kind -> Text,
        alert_id -> Nullable<Text>,
        supporter_id -> Nullable<Text>,
        signature_id -> Nullable<Text>,
        to_email -> Nullable<Text>,
        payload -> Nullable<Text>,
        status -> Text,
        attempts -> Integer,
        next_attempt_at -> Timestamp,
        locked_by -> Nullable<Text>,
        locked_until -> Nullable<Timestamp>,
        last_error -> Nullable<Text>,
        message_id -> Nullable<Text>,
        created_at -> Timestamp,
        sent_at -> Nullable<Timestamp>,
        domain -> Nullable<Text>,
        reply_class -> Nullable<Text>,
    }
}

diesel::table! {
    api_tokens (id) {
        id -> Text,
        name -> Text,
        role -> Text,
        token_hash -> Text,
        created_at -> Timestamp,
        last_used_at -> Nullable<Timestamp>,
        revoked_at -> Nullable<Timestamp>,
        expires_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    users (id) {
        id -> Text,
        email -> Text,
        role -> Text,
        password_hash -> Text,
        failed_logins -> Integer,
        locked_until -> Nullable<Timestamp>,
        last_login_at -> Nullable<Timestamp>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        disabled_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    sessions (id_hash) {
        id_hash -> Text,
        user_id -> Text,
        created_at -> Timestamp,
        expires_at -> Timestamp,
    }
}

diesel::table! {
    sign_in_failures (key_hash) {
        key_hash -> Text,
        address_hash -> Nullable<Text>,
        failures -> Integer,
        window_start -> Timestamp,
        locked_until -> Nullable<Timestamp>,
    }
}

diesel::table! {
    audit_log (id) {
        id -> BigInt,
        at -> Timestamp,
        actor -> Text,
        action -> Text,
        target_type -> Text,
        target_id -> Nullable<Text>,
        detail -> Nullable<Text>,
    }
}

diesel::joinable!(petitions -> cases (case_id));
diesel::joinable!(petition_country_counts -> petitions (petition_id));
diesel::joinable!(list_members -> lists (list_id));
diesel::joinable!(list_members -> supporters (supporter_id));
diesel::joinable!(signatures -> petitions (petition_id));
diesel::joinable!(signatures -> supporters (supporter_id));
diesel::joinable!(alerts -> cases (case_id));
diesel::joinable!(alert_lists -> alerts (alert_id));
diesel::joinable!(alert_lists -> lists (list_id));
diesel::joinable!(deliveries -> supporters (supporter_id));
diesel::joinable!(sessions -> users (user_id));

diesel::allow_tables_to_appear_in_same_query!(
    app_secrets,
    cases,
    petitions,
    petition_country_counts,
    supporters,
    lists,
    list_members,
    signatures,
    alerts,
    alert_lists,
    deliveries,
    api_tokens,
    users,
    sessions,
    sign_in_failures,
    audit_log,
    alert_domain_pauses,
    inbound_reports,
);

diesel::table! {
    erased_emails (email_hash) {
        email_hash -> Text,
    }
}

diesel::table! {
    alert_audience (alert_id, kind, value) {
        alert_id -> Text,
        kind -> Text,
        value -> Text,
    }
}

diesel::table! {
    signature_log (petition_id, seq) {
        petition_id -> Text,
        seq -> BigInt,
        at -> Text,
        kind -> Text,
        signature_id -> Text,
        commitment -> Text,
        prev -> Text,
        hash -> Text,
    }
}

diesel::table! {
    signature_log_heads (petition_id) {
        petition_id -> Text,
        seq -> BigInt,
        hash -> Text,
    }
}

diesel::table! {
    signature_salts (signature_id) {
        signature_id -> Text,
        salt -> Text,
    }
}

diesel::table! {
    petition_snapshots (id) {
        id -> Text,
        petition_id -> Text,
        log_seq -> BigInt,
        confirmed -> BigInt,
        issued_at -> Timestamp,
        key_id -> Text,
        body -> Text,
        signature -> Text,
    }
}

diesel::table! {
    signing_keys (key_id) {
        key_id -> Text,
        public_key -> Text,
        created -> Timestamp,
        retired -> Nullable<Timestamp>,
    }
}

diesel::joinable!(signature_log -> petitions (petition_id));
diesel::joinable!(petition_snapshots -> petitions (petition_id));
diesel::allow_tables_to_appear_in_same_query!(
    signature_log,
    signature_log_heads,
    signature_salts,
    petition_snapshots,
    signing_keys,
    petitions,
);
diesel::allow_tables_to_appear_in_same_query!(signature_log, signatures);
diesel::allow_tables_to_appear_in_same_query!(signature_salts, signatures);
diesel::allow_tables_to_appear_in_same_query!(signature_log, supporters);

diesel::table! {
    /// PostgreSQL only (migration `nodes`): the shared per-IP signing limit,
    /// counted per minute. Written through `db::limits` alone.
    sign_limits (ip_hash, window_start) {
        ip_hash -> Text,
        window_start -> BigInt,
        signatures -> Integer,
    }
}

diesel::table! {
    alert_variants (alert_id, locale) {
        alert_id -> Text,
        locale -> Text,
        subject -> Text,
        body_markdown -> Text,
    }
}

diesel::table! {
    /// The ids of the data keys personal data is sealed under (migration
    /// `at_rest`): never a key. Written through `db::sealing` alone.
    data_keys (key_id) {
        key_id -> Text,
        created_at -> Timestamp,
        retired_at -> Nullable<Timestamp>,
    }
}
