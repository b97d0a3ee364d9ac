//! What a button or a form on a card names, on every chat platform (a Discord
//! `custom_id`, a Slack `action_id` or view `callback_id`): the release, the step attempt
//! and the element clicked — nothing more. Whether the click is allowed, and whether it still
//! applies (a stale attempt, a finished release), is decided from the release and the
//! member's roles on every click; an id that does not decode is refused before that.
//!
//! ```text
//! click    sg1:<release>:<step>:<attempt>:<element>
//! modal    sg1m:<release>:<step>:<attempt>:<form>
//! release  1 to 40 of A-Z a-z 0-9 -          (a UUID is 36)
//! step     s<index> | r                      (0-based step index; r = the rollback procedure)
//! element  i<index>  tick a checklist item   u<index>  untick it
//!          g  gate            x  reject
//!          p<index>  failure path            e<kind> evidence form
//!          o         approve the freeze override
//!          h         run the rollback hook              (the rollback card)
//!          f  a critical flow is broken  b  complete a blind watch   (the monitoring card)
//! form     e<kind> evidence | x reject reason | n<index> failure-path note
//!          f broken-flow note | b blind-watch reason
//! kind     t test result | a artifact | s staging deploy | p production deploy
//! ```
//!
//! Numbers are decimal without leading zeros, so every target has exactly one id. The
//! longest possible id is `sg1m:` + 40 + `:` + `s` and 20 digits + `:` + 10 digits + `:`
//! + `n` and 20 digits = 100 characters, Discord's limit.

use crate::domain::card::{Card, EvidenceForm, StepRef};
use crate::domain::ids::ReleaseId;
use std::fmt::Write;

/// The version prefix of button ids; a new layout gets a new prefix, old cards still decode.
pub const CLICK_PREFIX: &str = "sg1:";
/// The version prefix of modal ids.
pub const MODAL_PREFIX: &str = "sg1m:";
/// The id of the form that starts a release (no card yet, so no release in it).
pub const START_FORM_ID: &str = "sg1start";
/// The longest id: Discord's limit on a `custom_id` (Slack allows 255 for an `action_id`).
pub const MAX_LEN: usize = 100;
const MAX_RELEASE_LEN: usize = 40;

/// The ids of the text inputs inside forms (a Discord modal's `custom_id`s, a Slack
/// view's `block_id`/`action_id`s): the form's own id says which form.
pub mod field {
    pub const SERVICE: &str = "service";
    pub const SUITE: &str = "suite";
    pub const PASSED: &str = "passed";
    pub const FAILED: &str = "failed";
    pub const VERSION: &str = "version";
    pub const GIT_SHA: &str = "sha";
    pub const DIGEST: &str = "digest";
    pub const SIZE_BYTES: &str = "size";
    pub const OUTCOME: &str = "outcome";
    pub const HEALTH: &str = "health";
    pub const STRATEGY: &str = "strategy";
    pub const REASON: &str = "reason";
    pub const NOTE: &str = "note";
}

/// A button clicked on a card.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClickTarget {
    pub release: ReleaseId,
    pub step: StepRef,
    /// The attempt of the step the card showed: a click on an older attempt is stale.
    pub attempt: u32,
    pub element: Element,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Element {
    /// A checklist item, by its 0-based index in the step, shown unticked: ticks it.
    Item(usize),
    /// A checklist item shown ticked: unticks it. The button says which way the person
    /// meant, so a click on a card that is behind (another surface ticked the item since)
    /// never undoes what they wanted; it only brings the card up to date.
    Untick(usize),
    /// The gate: approves it.
    Gate,
    /// Rejects the gate: opens the reason form, then takes the gate's reject path.
    Reject,
    /// A failure path, by its 0-based index in the step.
    FailurePath(usize),
    /// Opens an evidence form.
    Evidence(EvidenceForm),
    /// Approves the pending freeze override.
    ApproveOverride,
    /// On the rollback card: run the configured rollback hook.
    RunHook,
    /// On the monitoring card: a critical user flow is broken (opens the note form).
    BrokenFlow,
    /// On the monitoring card: complete a watch that could not see some metrics (opens
    /// the reason form).
    AcceptBlind,
}

impl Element {
    /// The form a click on this element opens, if any. A failure path opens its note
    /// form; the app may skip it for a path that needs no note.
    pub fn modal(self) -> Option<ModalForm> {
        match self {
            Element::Reject => Some(ModalForm::RejectReason),
            Element::FailurePath(index) => Some(ModalForm::FailureNote(index)),
            Element::Evidence(kind) => Some(ModalForm::Evidence(kind)),
            Element::BrokenFlow => Some(ModalForm::BrokenFlow),
            Element::AcceptBlind => Some(ModalForm::BlindReason),
            Element::Item(_) | Element::Untick(_) | Element::Gate | Element::ApproveOverride | Element::RunHook => None,
        }
    }
}

/// A modal submitted from a card.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModalTarget {
    pub release: ReleaseId,
    pub step: StepRef,
    pub attempt: u32,
    pub form: ModalForm,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ModalForm {
    Evidence(EvidenceForm),
    /// Why the gate is rejected.
    RejectReason,
    /// The note for the failure path with this 0-based index.
    FailureNote(usize),
    /// Which critical flow is broken, and how.
    BrokenFlow,
    /// Why completing a blind watch is fine.
    BlindReason,
}

/// Why a `custom_id` was refused. Ids arrive from Discord but are only as trustworthy as
/// whoever crafted the interaction, so every part is checked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CustomIdError {
    #[error("this control was not made by shipgate, or by a version it no longer reads")]
    NotOurs,
    #[error("the control's id is longer than {MAX_LEN} characters")]
    TooLong,
    #[error("the control's id does not have the five parts shipgate writes")]
    WrongShape,
    #[error(
        "the control's id names a release id shipgate does not write: 1 to {MAX_RELEASE_LEN} letters, digits or '-'"
    )]
    BadRelease,
    #[error("the control's id has a malformed {0}")]
    Malformed(&'static str),
}

impl ClickTarget {
    /// The target of `element` on `card`.
    pub fn on(card: &Card, element: Element) -> ClickTarget {
        ClickTarget { release: card.release_id.clone(), step: card.step, attempt: card.attempt, element }
    }

    /// Fails only for a release id shipgate never generates (it makes UUIDs).
    pub fn encode(&self) -> Result<String, CustomIdError> {
        let mut id = encode_head(CLICK_PREFIX, &self.release, self.step, self.attempt)?;
        match self.element {
            Element::Item(index) => write_number(&mut id, 'i', index),
            Element::Untick(index) => write_number(&mut id, 'u', index),
            Element::Gate => id.push('g'),
            Element::Reject => id.push('x'),
            Element::FailurePath(index) => write_number(&mut id, 'p', index),
            Element::Evidence(kind) => {
                id.push('e');
                id.push(kind_code(kind));
            }
            Element::ApproveOverride => id.push('o'),
            Element::RunHook => id.push('h'),
            Element::BrokenFlow => id.push('f'),
            Element::AcceptBlind => id.push('b'),
        }
        Ok(id)
    }

    pub fn decode(id: &str) -> Result<ClickTarget, CustomIdError> {
        let (release, step, attempt, element) = decode_head(CLICK_PREFIX, id)?;
        let element = match split_code(element) {
            ('i', rest) => Element::Item(number(rest, "item")?),
            ('u', rest) => Element::Untick(number(rest, "item")?),
            ('g', "") => Element::Gate,
            ('x', "") => Element::Reject,
            ('p', rest) => Element::FailurePath(number(rest, "failure path")?),
            ('e', rest) => Element::Evidence(kind(rest)?),
            ('o', "") => Element::ApproveOverride,
            ('h', "") => Element::RunHook,
            ('f', "") => Element::BrokenFlow,
            ('b', "") => Element::AcceptBlind,
            _ => return Err(CustomIdError::Malformed("element")),
        };
        Ok(ClickTarget { release, step, attempt, element })
    }
}

impl ModalTarget {
    /// The target of `form` opened from `card`.
    pub fn on(card: &Card, form: ModalForm) -> ModalTarget {
        ModalTarget { release: card.release_id.clone(), step: card.step, attempt: card.attempt, form }
    }

    /// Fails only for a release id shipgate never generates (it makes UUIDs).
    pub fn encode(&self) -> Result<String, CustomIdError> {
        let mut id = encode_head(MODAL_PREFIX, &self.release, self.step, self.attempt)?;
        match self.form {
            ModalForm::Evidence(kind) => {
                id.push('e');
                id.push(kind_code(kind));
            }
            ModalForm::RejectReason => id.push('x'),
            ModalForm::FailureNote(index) => write_number(&mut id, 'n', index),
            ModalForm::BrokenFlow => id.push('f'),
            ModalForm::BlindReason => id.push('b'),
        }
        Ok(id)
    }

    pub fn decode(id: &str) -> Result<ModalTarget, CustomIdError> {
        let (release, step, attempt, form) = decode_head(MODAL_PREFIX, id)?;
        let form = match split_code(form) {
            ('e', rest) => ModalForm::Evidence(kind(rest)?),
            ('x', "") => ModalForm::RejectReason,
            ('n', rest) => ModalForm::FailureNote(number(rest, "failure path")?),
            ('f', "") => ModalForm::BrokenFlow,
            ('b', "") => ModalForm::BlindReason,
            _ => return Err(CustomIdError::Malformed("form")),
        };
        Ok(ModalTarget { release, step, attempt, form })
    }
}

/// `<prefix><release>:<step>:<attempt>:`, ready for the element.
fn encode_head(prefix: &str, release: &ReleaseId, step: StepRef, attempt: u32) -> Result<String, CustomIdError> {
    if !release_ok(release.as_str()) {
        return Err(CustomIdError::BadRelease);
    }
    let mut id = String::with_capacity(MAX_LEN);
    id.push_str(prefix);
    id.push_str(release.as_str());
    id.push(':');
    match step {
        StepRef::Step(index) => write_number(&mut id, 's', index),
        StepRef::Rollback => id.push('r'),
    }
    // Writing to a String cannot fail.
    let _ = write!(id, ":{attempt}:");
    Ok(id)
}

fn write_number(id: &mut String, code: char, n: usize) {
    id.push(code);
    // Writing to a String cannot fail.
    let _ = write!(id, "{n}");
}

fn decode_head<'a>(prefix: &str, id: &'a str) -> Result<(ReleaseId, StepRef, u32, &'a str), CustomIdError> {
    if id.len() > MAX_LEN {
        return Err(CustomIdError::TooLong);
    }
    let rest = id.strip_prefix(prefix).ok_or(CustomIdError::NotOurs)?;
    let mut parts = rest.split(':');
    let (Some(release), Some(step), Some(attempt), Some(element), None) =
        (parts.next(), parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(CustomIdError::WrongShape);
    };
    if !release_ok(release) {
        return Err(CustomIdError::BadRelease);
    }
    let step = match split_code(step) {
        ('r', "") => StepRef::Rollback,
        ('s', rest) => StepRef::Step(number(rest, "step")?),
        _ => return Err(CustomIdError::Malformed("step")),
    };
    let attempt = number(attempt, "attempt")?;
    Ok((ReleaseId::new(release), step, attempt, element))
}

fn release_ok(release: &str) -> bool {
    (1..=MAX_RELEASE_LEN).contains(&release.len()) && release.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
}

/// The one-letter code and what follows it; `('\0', "")` for an empty part.
fn split_code(part: &str) -> (char, &str) {
    let mut chars = part.chars();
    match chars.next() {
        Some(code) => (code, chars.as_str()),
        None => ('\0', ""),
    }
}

/// A canonical decimal: digits only, no sign, no leading zero.
fn number<T: std::str::FromStr>(text: &str, what: &'static str) -> Result<T, CustomIdError> {
    let canonical =
        !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) && (text == "0" || !text.starts_with('0'));
    if !canonical {
        return Err(CustomIdError::Malformed(what));
    }
    text.parse().map_err(|_| CustomIdError::Malformed(what))
}

fn kind_code(kind: EvidenceForm) -> char {
    match kind {
        EvidenceForm::TestResult => 't',
        EvidenceForm::Artifact => 'a',
        EvidenceForm::StagingDeploy => 's',
        EvidenceForm::ProductionDeploy => 'p',
    }
}

fn kind(code: &str) -> Result<EvidenceForm, CustomIdError> {
    match code {
        "t" => Ok(EvidenceForm::TestResult),
        "a" => Ok(EvidenceForm::Artifact),
        "s" => Ok(EvidenceForm::StagingDeploy),
        "p" => Ok(EvidenceForm::ProductionDeploy),
        _ => Err(CustomIdError::Malformed("evidence form")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const RELEASE: &str = "0193a5f2-7c4e-7b1a-9d3e-5f6a7b8c9d0e";

    fn click(step: StepRef, attempt: u32, element: Element) -> ClickTarget {
        ClickTarget { release: ReleaseId::new(RELEASE), step, attempt, element }
    }

    fn encoded(target: &ClickTarget) -> String {
        target.encode().unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn ids_are_short_and_readable() {
        assert_eq!(
            encoded(&click(StepRef::Step(0), 1, Element::Item(3))),
            "sg1:0193a5f2-7c4e-7b1a-9d3e-5f6a7b8c9d0e:s0:1:i3"
        );
        assert_eq!(encoded(&click(StepRef::Rollback, 1, Element::Gate)), format!("sg1:{RELEASE}:r:1:g"));
        assert_eq!(
            encoded(&click(StepRef::Step(5), 2, Element::Evidence(EvidenceForm::ProductionDeploy))),
            format!("sg1:{RELEASE}:s5:2:ep")
        );
        let modal = ModalTarget {
            release: ReleaseId::new(RELEASE),
            step: StepRef::Step(1),
            attempt: 3,
            form: ModalForm::FailureNote(1),
        };
        assert_eq!(modal.encode(), Ok(format!("sg1m:{RELEASE}:s1:3:n1")));
    }

    #[test]
    fn the_longest_ids_fit_discord() {
        let release = ReleaseId::new("a".repeat(MAX_RELEASE_LEN));
        let click = ClickTarget {
            release: release.clone(),
            step: StepRef::Step(usize::MAX),
            attempt: u32::MAX,
            element: Element::FailurePath(usize::MAX),
        };
        let modal = ModalTarget {
            release,
            step: StepRef::Step(usize::MAX),
            attempt: u32::MAX,
            form: ModalForm::FailureNote(usize::MAX),
        };
        for id in [click.encode(), modal.encode()] {
            let id = id.unwrap_or_else(|e| panic!("{e}"));
            assert!(id.len() <= MAX_LEN, "{} characters: {id}", id.len());
        }
        assert_eq!(ClickTarget::decode(&encoded(&click)), Ok(click));
    }

    #[test]
    fn release_ids_shipgate_never_writes_are_refused_both_ways() {
        for bad in ["", "r:1", "a b", &"a".repeat(41), "rélease"] {
            let target = ClickTarget { release: ReleaseId::new(bad), ..click(StepRef::Step(0), 1, Element::Gate) };
            assert_eq!(target.encode(), Err(CustomIdError::BadRelease), "{bad:?}");
        }
        assert_eq!(ClickTarget::decode("sg1:a%20b:s0:1:g"), Err(CustomIdError::BadRelease));
    }

    #[test]
    fn malformed_ids_are_refused_with_the_part_named() {
        let cases = [
            ("", CustomIdError::NotOurs),
            ("sg2:r1:s0:1:g", CustomIdError::NotOurs),
            ("sg1m:r1:s0:1:x", CustomIdError::NotOurs),
            ("sg1:r1:s0:1", CustomIdError::WrongShape),
            ("sg1:r1:s0:1:g:extra", CustomIdError::WrongShape),
            ("sg1:r1:x0:1:g", CustomIdError::Malformed("step")),
            ("sg1:r1:s:1:g", CustomIdError::Malformed("step")),
            ("sg1:r1:s01:1:g", CustomIdError::Malformed("step")),
            ("sg1:r1:s+1:1:g", CustomIdError::Malformed("step")),
            ("sg1:r1:r1:1:g", CustomIdError::Malformed("step")),
            ("sg1:r1:s0:-1:g", CustomIdError::Malformed("attempt")),
            ("sg1:r1:s0:4294967296:g", CustomIdError::Malformed("attempt")),
            ("sg1:r1:s0:1:gg", CustomIdError::Malformed("element")),
            ("sg1:r1:s0:1:", CustomIdError::Malformed("element")),
            ("sg1:r1:s0:1:i", CustomIdError::Malformed("item")),
            ("sg1:r1:s0:1:ez", CustomIdError::Malformed("evidence form")),
            ("sg1:r1:s0:1:p99999999999999999999999", CustomIdError::Malformed("failure path")),
        ];
        for (id, error) in cases {
            assert_eq!(ClickTarget::decode(id), Err(error), "{id:?}");
        }
        assert_eq!(ClickTarget::decode(&format!("sg1:{}", "a".repeat(100))), Err(CustomIdError::TooLong));
        assert_eq!(ModalTarget::decode("sg1m:r1:s0:1:o"), Err(CustomIdError::Malformed("form")));
        assert_eq!(ModalTarget::decode("sg1:r1:s0:1:x"), Err(CustomIdError::NotOurs));
    }

    #[test]
    fn a_click_names_the_form_it_opens() {
        assert_eq!(Element::Reject.modal(), Some(ModalForm::RejectReason));
        assert_eq!(Element::FailurePath(2).modal(), Some(ModalForm::FailureNote(2)));
        assert_eq!(
            Element::Evidence(EvidenceForm::Artifact).modal(),
            Some(ModalForm::Evidence(EvidenceForm::Artifact))
        );
        assert_eq!(Element::Gate.modal(), None);
    }

    fn release_id() -> impl Strategy<Value = ReleaseId> {
        prop_oneof![
            any::<u128>().prop_map(|n| ReleaseId::new(uuid::Uuid::from_u128(n).to_string())),
            "[A-Za-z0-9-]{1,40}".prop_map(ReleaseId::new),
        ]
    }

    fn step() -> impl Strategy<Value = StepRef> {
        prop_oneof![any::<usize>().prop_map(StepRef::Step), Just(StepRef::Rollback)]
    }

    fn evidence_form() -> impl Strategy<Value = EvidenceForm> {
        proptest::sample::select(EvidenceForm::ALL.to_vec())
    }

    fn element() -> impl Strategy<Value = Element> {
        prop_oneof![
            any::<usize>().prop_map(Element::Item),
            any::<usize>().prop_map(Element::Untick),
            Just(Element::Gate),
            Just(Element::Reject),
            any::<usize>().prop_map(Element::FailurePath),
            evidence_form().prop_map(Element::Evidence),
            Just(Element::ApproveOverride),
            Just(Element::RunHook),
        ]
    }

    fn form() -> impl Strategy<Value = ModalForm> {
        prop_oneof![
            evidence_form().prop_map(ModalForm::Evidence),
            Just(ModalForm::RejectReason),
            any::<usize>().prop_map(ModalForm::FailureNote),
        ]
    }

    proptest! {
        #[test]
        fn clicks_round_trip_within_discords_limit(release in release_id(), step in step(), attempt in any::<u32>(), element in element()) {
            let target = ClickTarget { release, step, attempt, element };
            let id = target.encode().map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert!(id.len() <= MAX_LEN, "{} characters: {}", id.len(), id);
            prop_assert_eq!(ClickTarget::decode(&id), Ok(target));
            prop_assert!(ModalTarget::decode(&id).is_err(), "a button id is not a modal id");
        }

        #[test]
        fn modals_round_trip_within_discords_limit(release in release_id(), step in step(), attempt in any::<u32>(), form in form()) {
            let target = ModalTarget { release, step, attempt, form };
            let id = target.encode().map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert!(id.len() <= MAX_LEN, "{} characters: {}", id.len(), id);
            prop_assert_eq!(ModalTarget::decode(&id), Ok(target));
            prop_assert!(ClickTarget::decode(&id).is_err(), "a modal id is not a button id");
        }

        #[test]
        fn any_string_decodes_without_panicking(id in any::<String>()) {
            let _ = ClickTarget::decode(&id);
            let _ = ModalTarget::decode(&id);
        }

        /// Strings close to real ids: whatever decodes is exactly what encoding gives back.
        #[test]
        fn whatever_decodes_is_canonical(id in "sg1m?:[a-z0-9:-]{0,12}:[sr0-9+]{0,4}:[0-9-]{0,4}:[igxpeotasnz0-9]{0,4}") {
            if let Ok(target) = ClickTarget::decode(&id) {
                prop_assert_eq!(target.encode(), Ok(id.clone()));
            }
            if let Ok(target) = ModalTarget::decode(&id) {
                prop_assert_eq!(target.encode(), Ok(id));
            }
        }
    }
}
