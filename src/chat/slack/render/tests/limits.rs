//! Long playbooks against Slack's limits: whatever the checklist, the message is valid
//! (50 blocks, 25 elements an actions block, text lengths, unique action ids) and every
//! unticked item keeps a button that names it.

use super::*;
use proptest::prelude::*;

/// The elements of the item buttons of `message`, in order.
fn item_buttons(message: &Value) -> Vec<Element> {
    buttons(message)
        .iter()
        .map(|b| click(b).element)
        .filter(|e| matches!(e, Element::Item(_) | Element::Untick(_)))
        .collect()
}

/// Every unticked item of `card` has a button that decodes back to it.
fn assert_unticked_clickable(card: &Card, message: &Value) {
    let clickable: BTreeSet<usize> =
        item_buttons(message).iter().filter_map(|e| if let Element::Item(i) = e { Some(*i) } else { None }).collect();
    for (index, _) in card.items.iter().enumerate().filter(|(_, i)| !i.is_ticked()) {
        assert!(clickable.contains(&index), "unticked item {} has no button", index + 1);
    }
}

fn tick_every(walk: &mut Walk, nth: usize, items: usize) {
    for i in (0..items).step_by(nth.max(1)) {
        walk.tick(&carol(), &format!("item-{i}"));
    }
}

#[test]
fn a_60_item_step_folds_into_a_valid_message_with_every_item_clickable() {
    let mut walk = crowded(60, 3, 80, 0);
    tick_every(&mut walk, 4, 60);
    let card = first_card(&walk);
    let message = check(&card);
    assert_unticked_clickable(&card, &message);
    assert_eq!(item_buttons(&message).len(), 60, "ticked items keep their Untick button too");
    let body = body(&message);
    assert!(body.contains("🔽 60 items: each has its button below the list, by its number."), "{body}");
    // Listed, numbered, several to a section, with who ticked what.
    assert!(body.contains("✅ 1. 00 xxx"), "{body}");
    assert!(body.contains("⬜ 60. 59 xxx"), "{body}");
    let sections_with_items = blocks(&message).iter().filter(|b| text(&b["text"]["text"]).starts_with("✅ 1.")).count();
    assert_eq!(sections_with_items, 1);
    let labels: Vec<&str> = buttons(&message).iter().map(|b| text(&b["text"]["text"])).collect();
    // Labels are the item's number and text, cut to Slack's 75 characters.
    assert_eq!(labels[0], format!("✓ 1. 00 {}…", "x".repeat(66)));
    assert_eq!(labels[1], format!("2. 01 {}…", "x".repeat(68)));
    insta::assert_json_snapshot!("folded_60_items", message);
}

#[test]
fn a_200_item_step_with_long_texts_and_a_long_title_stays_within_every_limit() {
    let mut walk = crowded(200, 12, 280, 300);
    tick_every(&mut walk, 3, 200);
    let card = first_card(&walk);
    let message = check(&card);
    assert_unticked_clickable(&card, &message);
    let header = text(&blocks(&message)[0]["text"]["text"]);
    assert_eq!(len(header), limit::HEADER_TEXT);
    assert!(header.starts_with("Step 1 — TTT") && header.ends_with('…'), "{header}");
    // 200 items of 280 characters still fit in full, several to a section.
    let body = body(&message);
    assert!(body.contains(&format!("⬜ 200. 199 {}\n", "x".repeat(280))), "{body}");
    // Failure-path buttons are cut to 75 characters, and still confirm first.
    let paths: Vec<&Value> =
        buttons(&message).into_iter().filter(|b| matches!(click(b).element, Element::FailurePath(_))).collect();
    assert_eq!(paths.len(), 12);
    assert!(paths.iter().all(|b| len(text(&b["text"]["text"])) == limit::BUTTON_TEXT));
}

#[test]
fn a_400_item_step_of_long_texts_lists_them_shortened_beside_every_button() {
    let walk = crowded(400, 2, 280, 0);
    let card = first_card(&walk);
    let message = check(&card);
    assert_unticked_clickable(&card, &message);
    let body = body(&message);
    assert!(!body.contains(&"x".repeat(120)), "item texts are shortened to fit");
    assert!(body.contains(&format!("⬜ 1. 00 {}…", "x".repeat(96))), "{body}");
}

#[test]
fn a_closed_long_step_lists_its_items_without_buttons() {
    let mut walk = crowded(200, 2, 280, 0);
    for i in 0..200 {
        walk.tick(&carol(), &format!("item-{i}"));
    }
    walk.approve(&bob());
    let card = first_card(&walk);
    assert!(!card.is_open());
    let message = check(&card);
    assert!(buttons(&message).is_empty());
    assert!(body(&message).contains("✅ 1. 00 xxx"));
}

#[test]
fn a_checklist_too_long_to_list_ends_with_how_many_more() {
    // 1,200 items: every unticked one still gets a button only up to what 50 blocks hold;
    // the listing ends with the count of items it could not show.
    let walk = crowded(1200, 1, 100, 0);
    let card = first_card(&walk);
    let message = message(&card);
    assert_valid_message(&message);
    let body = body(&message);
    assert!(body.contains(" more"), "a closing count");
    let more: usize = body
        .lines()
        .find_map(|l| l.strip_prefix("… and ").and_then(|r| r.strip_suffix(" more")))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("an `… and N more` line"));
    let listed = body.lines().filter(|l| l.starts_with("⬜ ")).count();
    assert_eq!(listed + more, 1200);
    // What got buttons are the first unticked items, in order; the rest are counted.
    let items = item_buttons(&message);
    assert!(items.len() >= 1000, "{} item buttons", items.len());
    let without = 1200 - items.len();
    assert!(body.contains(&format!("🔽 {without} of 1200 items have no button here")), "{body}");
    assert_eq!(items, (0..items.len()).map(Element::Item).collect::<Vec<_>>());
}

#[test]
fn every_item_has_its_own_section_while_they_fit() {
    let walk = crowded(30, 1, 20, 0);
    let card = first_card(&walk);
    let message = check(&card);
    let accessories =
        blocks(&message).iter().filter(|b| b["type"] == "section" && b["accessory"]["type"] == "button").count();
    assert_eq!(accessories, 30);
    assert!(blocks(&message).len() <= limit::BLOCKS);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 40, ..ProptestConfig::default() })]

    #[test]
    fn any_long_playbook_gives_a_valid_message_with_its_unticked_items_clickable(
        items in 0usize..260,
        paths in 0usize..40,
        text_len in 0usize..400,
        title_len in 0usize..320,
        every in 1usize..8,
    ) {
        let mut walk = crowded(items, paths, text_len, title_len);
        tick_every(&mut walk, every, items);
        let card = first_card(&walk);
        let message = check(&card);
        assert_unticked_clickable(&card, &message);
    }
}
