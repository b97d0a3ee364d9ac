//! Button and modal `custom_id`s. Read as text: decoding never panics, and an id that
//! decodes is the one id of its target (encoding it gives the same text back). Read as a
//! target built from the bytes: encoding fits Discord's limit and decodes to the same
//! target.
#![no_main]

use libfuzzer_sys::arbitrary::{Result, Unstructured};
use libfuzzer_sys::fuzz_target;
use shipgate::chat::discord::custom_id::{ClickTarget, Element, ModalForm, ModalTarget, MAX_LEN};
use shipgate::domain::card::{EvidenceForm, StepRef};
use shipgate::domain::ReleaseId;

const RELEASE_CHARS: &[u8] = b"abcdef0123456789-ABCXYZ";

fn release(u: &mut Unstructured<'_>) -> Result<ReleaseId> {
    // Mostly ids of the shape shipgate writes, sometimes any text at all.
    if u.ratio(1, 8)? {
        return Ok(ReleaseId::new(u.arbitrary::<String>()?));
    }
    let len = u.int_in_range(1..=40)?;
    let mut id = String::with_capacity(len);
    for _ in 0..len {
        id.push(char::from(*u.choose(RELEASE_CHARS)?));
    }
    Ok(ReleaseId::new(id))
}

fn step(u: &mut Unstructured<'_>) -> Result<StepRef> {
    Ok(if u.ratio(1, 5)? { StepRef::Rollback } else { StepRef::Step(u.arbitrary()?) })
}

fn evidence(u: &mut Unstructured<'_>) -> Result<EvidenceForm> {
    u.choose(&EvidenceForm::ALL).copied()
}

fn element(u: &mut Unstructured<'_>) -> Result<Element> {
    Ok(match u.int_in_range(0..=6)? {
        0 => Element::Item(u.arbitrary()?),
        1 => Element::Untick(u.arbitrary()?),
        2 => Element::Gate,
        3 => Element::Reject,
        4 => Element::FailurePath(u.arbitrary()?),
        5 => Element::Evidence(evidence(u)?),
        _ => Element::ApproveOverride,
    })
}

fn form(u: &mut Unstructured<'_>) -> Result<ModalForm> {
    Ok(match u.int_in_range(0..=2)? {
        0 => ModalForm::Evidence(evidence(u)?),
        1 => ModalForm::RejectReason,
        _ => ModalForm::FailureNote(u.arbitrary()?),
    })
}

fn release_is_writable(release: &ReleaseId) -> bool {
    let id = release.as_str();
    (1..=40).contains(&id.len()) && id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
}

fn roundtrip(data: &[u8]) -> Result<()> {
    let mut u = Unstructured::new(data);
    let click = ClickTarget {
        release: release(&mut u)?,
        step: step(&mut u)?,
        attempt: u.arbitrary()?,
        element: element(&mut u)?,
    };
    match click.encode() {
        Ok(id) => {
            assert!(id.len() <= MAX_LEN, "{click:?} encodes to {} characters: {id}", id.len());
            assert_eq!(ClickTarget::decode(&id).as_ref(), Ok(&click), "{id} does not decode to {click:?}");
        }
        Err(_) => assert!(!release_is_writable(&click.release), "{click:?} does not encode"),
    }
    let modal =
        ModalTarget { release: release(&mut u)?, step: step(&mut u)?, attempt: u.arbitrary()?, form: form(&mut u)? };
    match modal.encode() {
        Ok(id) => {
            assert!(id.len() <= MAX_LEN, "{modal:?} encodes to {} characters: {id}", id.len());
            assert_eq!(ModalTarget::decode(&id).as_ref(), Ok(&modal), "{id} does not decode to {modal:?}");
        }
        Err(_) => assert!(!release_is_writable(&modal.release), "{modal:?} does not encode"),
    }
    Ok(())
}

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(click) = ClickTarget::decode(text) {
            assert_eq!(click.encode().as_deref(), Ok(text), "{text:?} decodes to {click:?}, which encodes otherwise");
        }
        if let Ok(modal) = ModalTarget::decode(text) {
            assert_eq!(modal.encode().as_deref(), Ok(text), "{text:?} decodes to {modal:?}, which encodes otherwise");
        }
    }
    // Running out of bytes midway only ends the round trip early.
    let _ = roundtrip(data);
});
