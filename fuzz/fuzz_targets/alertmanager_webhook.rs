//! Alertmanager's webhook body (version 4), as `POST /webhooks/alertmanager` reads it
//! before anything is recorded. Reading never panics; a body is taken whole or refused
//! whole; every alert read is firing or resolved, critical only with a configured
//! critical severity, and matched to releases only by the configured labels, with the
//! values the body gave.
#![no_main]

use libfuzzer_sys::fuzz_target;
use secrecy::SecretString;
use shipgate::config::AlertmanagerConfig;
use shipgate::domain::watch::AlertStatus;
use shipgate::http::alertmanager::deliveries;

fuzz_target!(|data: &[u8]| {
    let config = AlertmanagerConfig {
        token: SecretString::from("fuzz-token"),
        match_labels: vec!["service".to_owned(), "env".to_owned()],
        severity_label: "severity".to_owned(),
        critical_severities: vec!["critical".to_owned(), "page".to_owned()],
    };
    let Ok(read) = deliveries(data, &config) else { return };
    // Fields shipgate does not read are skipped unchecked, invalid UTF-8 included; the
    // fields it reads are valid, so a lossy copy shows them as the body gave them.
    let text = String::from_utf8_lossy(data);
    let body: serde_json::Value = serde_json::from_str(&text).expect("a body read whole is JSON");
    let alerts = body["alerts"].as_array().map_or(0, Vec::len);
    assert_eq!(read.len(), alerts, "every alert of the body is read, or none");
    for (delivery, raw) in read.iter().zip(body["alerts"].as_array().into_iter().flatten()) {
        let alert = &delivery.alert;
        assert!(matches!(alert.status, AlertStatus::Firing | AlertStatus::Resolved));
        let severity = alert.severity.as_deref();
        assert_eq!(alert.critical, severity.is_some_and(|s| config.critical_severities.iter().any(|c| c == s)));
        for (label, value) in &delivery.labels {
            assert!(config.match_labels.contains(label), "matched by an unconfigured label {label}");
            assert_eq!(raw["labels"][label].as_str(), Some(value.as_str()), "the value the body gave");
        }
        assert!(!alert.fingerprint.is_empty() || raw["labels"].as_object().is_none_or(|l| l.is_empty()));
    }
});
