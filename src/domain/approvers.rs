//! Who could approve a gate, as configured: which API clients and which chat groups hold
//! which roles. The engine names them when it refuses an approval (so the person refused
//! knows whom to ask), and a release's start warns when a gate of its playbook can be
//! approved by nobody but the person who started it (so the team learns it at Step 1, not
//! at the gate into production).

use super::actor::{Actor, Platform};
use super::ids::RoleName;
use super::playbook::{Gate, Playbook};
use std::collections::BTreeMap;

/// One holder of a role, as config names it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Holder {
    /// An API client, by its name: one identity.
    Client(String),
    /// A chat group (a Discord role, or every member of the server when no role is
    /// mapped): any number of people, so it may always hold someone else.
    Group(String),
}

impl Holder {
    fn is(&self, actor: &Actor) -> bool {
        matches!(self, Holder::Client(name) if actor.platform == Platform::Api && &actor.user_id == name)
    }
}

/// The configured holders of every role. Empty when nothing is known (the engine's own
/// tests, a config with no clients): then nothing is named and nothing is warned about.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RoleHolders {
    by_role: BTreeMap<RoleName, Vec<Holder>>,
    /// Holders of every role (a chat server whose members all hold every role).
    of_every_role: Vec<Holder>,
    /// Every holder there is: what a gate that names no role accepts.
    everyone: Vec<Holder>,
}

impl RoleHolders {
    /// Records that `holder` holds `role`.
    pub fn add(&mut self, role: RoleName, holder: Holder) {
        if !self.everyone.contains(&holder) {
            self.everyone.push(holder.clone());
        }
        let holders = self.by_role.entry(role).or_default();
        if !holders.contains(&holder) {
            holders.push(holder);
        }
    }

    /// Records that `holder` holds every role.
    pub fn add_to_every_role(&mut self, holder: Holder) {
        if !self.everyone.contains(&holder) {
            self.everyone.push(holder.clone());
        }
        if !self.of_every_role.contains(&holder) {
            self.of_every_role.push(holder);
        }
    }

    pub fn is_empty(&self) -> bool {
        self.everyone.is_empty()
    }

    /// Who holds one of `roles`; every holder when `roles` is empty (a gate open to all).
    pub fn holding(&self, roles: &[RoleName]) -> Vec<&Holder> {
        let mut found: Vec<&Holder> = if roles.is_empty() {
            self.everyone.iter().collect()
        } else {
            roles.iter().filter_map(|r| self.by_role.get(r)).flatten().chain(&self.of_every_role).collect()
        };
        found.sort();
        found.dedup();
        found
    }

    /// Who, other than `actor`, holds one of `roles`.
    pub fn others_holding(&self, roles: &[RoleName], actor: &Actor) -> Vec<&Holder> {
        self.holding(roles).into_iter().filter(|h| !h.is(actor)).collect()
    }

    /// Whether `gate` can collect its approvals without `starter`, when the starter may
    /// not approve it: enough distinct other clients, or a group (which may hold anyone).
    fn others_can_approve(&self, gate: &Gate, starter: &Actor) -> bool {
        let others = self.others_holding(&gate.roles, starter);
        others.iter().any(|h| matches!(h, Holder::Group(_))) || others.len() >= gate.approvals as usize
    }

    /// The gates of `playbook` that nobody but `starter` could approve, in words, one line
    /// each. Empty when the holders are unknown.
    pub fn gates_only_the_starter_could_approve(&self, playbook: &Playbook, starter: &Actor) -> Vec<String> {
        if self.is_empty() {
            return Vec::new();
        }
        let gates = playbook
            .steps
            .iter()
            .enumerate()
            .map(|(i, s)| (format!("Step {} ({})", i + 1, s.title), &s.gate))
            .chain(std::iter::once((playbook.rollback.title.clone(), &playbook.rollback.gate)));
        gates
            .filter(|(_, gate)| gate.approvals > 0 && !gate.starter_may_approve)
            .filter(|(_, gate)| !self.others_can_approve(gate, starter))
            .map(|(what, gate)| {
                format!(
                    "the gate of {what} needs {} approval{} from someone other than {} with {}, and {}",
                    gate.approvals,
                    if gate.approvals == 1 { "" } else { "s" },
                    starter.display_name,
                    roles_in_words(&gate.roles),
                    self.who_else(&gate.roles, starter)
                )
            })
            .collect()
    }

    /// Who else could approve a gate open to `roles`, in words: for a refusal or a warning.
    pub fn who_else(&self, roles: &[RoleName], actor: &Actor) -> String {
        let others = self.others_holding(roles, actor);
        if others.is_empty() {
            return format!(
                "no one else holds {}: give another API client the role in [api] (or map a chat role to it), \
                 or abort the release",
                roles_in_words(roles)
            );
        }
        let verb = if others.len() == 1 { "holds" } else { "hold" };
        format!("{} {verb} {}", describe(&others), roles_in_words(roles))
    }
}

fn roles_in_words(roles: &[RoleName]) -> String {
    match roles {
        [] => "any role".to_owned(),
        [one] => format!("the role {one}"),
        many => format!("one of the roles {}", many.iter().map(RoleName::as_str).collect::<Vec<_>>().join(", ")),
    }
}

/// `API clients rm-bot and deployer, Discord role 1500…`.
fn describe(holders: &[&Holder]) -> String {
    let clients: Vec<&str> =
        holders.iter().filter_map(|h| if let Holder::Client(name) = h { Some(name.as_str()) } else { None }).collect();
    let groups: Vec<&str> =
        holders.iter().filter_map(|h| if let Holder::Group(name) = h { Some(name.as_str()) } else { None }).collect();
    let mut parts = Vec::new();
    match clients.as_slice() {
        [] => {}
        [one] => parts.push(format!("API client {one}")),
        many => parts.push(format!("API clients {}", many.join(", "))),
    }
    parts.extend(groups.iter().map(|g| (*g).to_owned()));
    parts.join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client(name: &str, roles: &[&str]) -> Actor {
        Actor::new(Platform::Api, name, name).with_roles(roles.iter().copied())
    }

    fn holders(entries: &[(&str, &[&str])]) -> RoleHolders {
        let mut holders = RoleHolders::default();
        for (name, roles) in entries {
            for role in *roles {
                holders.add(RoleName::new(*role), Holder::Client((*name).to_owned()));
            }
        }
        holders
    }

    #[test]
    fn a_lone_release_manager_client_is_warned_that_its_gates_need_someone_else() {
        let playbook = Playbook::ship_to_production();
        let holders = holders(&[("release-bot", &["release-manager", "engineer"]), ("ci", &["engineer"])]);
        let warnings =
            holders.gates_only_the_starter_could_approve(&playbook, &client("release-bot", &["release-manager"]));
        assert!(!warnings.is_empty());
        assert!(warnings.iter().any(|w| w.contains("Step 5 (")), "{warnings:?}");
        assert!(warnings[0].contains("no one else holds the role release-manager"), "{warnings:?}");
        // Started by CI, the release manager client can approve: no warning.
        assert_eq!(
            holders.gates_only_the_starter_could_approve(&playbook, &client("ci", &["engineer"])),
            [] as [String; 0]
        );
    }

    #[test]
    fn a_second_release_manager_or_a_chat_role_ends_the_dead_end() {
        let playbook = Playbook::ship_to_production();
        let starter = client("release-bot", &["release-manager"]);
        let two = holders(&[("release-bot", &["release-manager"]), ("dana", &["release-manager"])]);
        assert_eq!(two.gates_only_the_starter_could_approve(&playbook, &starter), [] as [String; 0]);
        let mut chat = holders(&[("release-bot", &["release-manager"])]);
        chat.add(RoleName::new("release-manager"), Holder::Group("Discord role 1500".into()));
        assert_eq!(chat.gates_only_the_starter_could_approve(&playbook, &starter), [] as [String; 0]);
        let mut everyone = holders(&[("release-bot", &["release-manager"])]);
        everyone.add_to_every_role(Holder::Group("every member of the Discord server".into()));
        assert_eq!(everyone.gates_only_the_starter_could_approve(&playbook, &starter), [] as [String; 0]);
    }

    #[test]
    fn a_gate_needing_two_others_counts_distinct_clients() {
        let mut playbook = Playbook::ship_to_production();
        for step in &mut playbook.steps {
            if step.gate.approvals > 0 {
                step.gate.approvals = 2;
                step.gate.starter_may_approve = false;
            }
        }
        let starter = client("a", &["release-manager"]);
        let one_other = holders(&[("a", &["release-manager"]), ("b", &["release-manager"])]);
        let warnings = one_other.gates_only_the_starter_could_approve(&playbook, &starter);
        assert!(
            warnings.iter().any(|w| w.contains("needs 2 approvals") && w.contains("API client b holds the role")),
            "{warnings:?}"
        );
        let two_others =
            holders(&[("a", &["release-manager"]), ("b", &["release-manager"]), ("c", &["release-manager"])]);
        assert_eq!(two_others.gates_only_the_starter_could_approve(&playbook, &starter), [] as [String; 0]);
    }

    #[test]
    fn nothing_is_named_or_warned_when_the_holders_are_unknown() {
        let none = RoleHolders::default();
        let starter = client("a", &["release-manager"]);
        assert!(none.gates_only_the_starter_could_approve(&Playbook::ship_to_production(), &starter).is_empty());
    }

    #[test]
    fn who_else_names_the_clients_and_groups_holding_the_roles_but_not_the_asker() {
        let mut h = holders(&[("a", &["release-manager"]), ("b", &["release-manager"]), ("ci", &["engineer"])]);
        h.add(RoleName::new("release-manager"), Holder::Group("Discord role 1500".into()));
        let roles = [RoleName::new("release-manager")];
        assert_eq!(
            h.who_else(&roles, &client("a", &[])),
            "API client b, Discord role 1500 hold the role release-manager"
        );
        // A chat person is never one of the API clients.
        let chat = Actor::new(Platform::Discord, "a", "a");
        assert_eq!(h.who_else(&roles, &chat), "API clients a, b, Discord role 1500 hold the role release-manager");
    }
}
