//! Effective access, computed by labgate from direct memberships, the group tree and shares
//! rather than read from GitLab's `members/all`, so every grant carries the path it comes by and
//! the sync needs only the direct listings.
//!
//! GitLab's rules, as applied here:
//! - a direct member of a group has the same role in every subgroup and project below it
//!   (inherited), except at Minimal Access, which stays on the group it was given on;
//! - when a group or project is shared with (invites) a group, that group's members, direct or
//!   inherited from its ancestors, get their role there capped at the share's level, and a
//!   shared group passes this on to its subgroups and projects; shares do not chain;
//! - expired memberships and shares grant nothing;
//! - where several paths reach the same resource, the highest level wins.

use std::collections::{BTreeMap, HashMap, HashSet};

use time::Date;

use super::model::{
    AccessLevel, GitLabGroupId, GitLabProjectId, GitLabUserId, Group, Membership, Project, Resource, Role,
    Share, earliest, in_force,
};

/// How a grant reaches its resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum GrantPath {
    /// A membership on the resource itself.
    Direct,
    /// A membership on `via`, an ancestor group of the resource.
    Inherited { via: GitLabGroupId },
    /// Membership of `via`, a group the resource (or an ancestor of it, `shared_at`) was shared
    /// with, capped at the share's level.
    Shared {
        via: GitLabGroupId,
        shared_at: Resource,
        capped_at: AccessLevel,
    },
}

impl GrantPath {
    pub fn kind(self) -> GrantPathKind {
        match self {
            GrantPath::Direct => GrantPathKind::Direct,
            GrantPath::Inherited { .. } => GrantPathKind::Inherited,
            GrantPath::Shared { .. } => GrantPathKind::Shared,
        }
    }

    /// When levels tie, the most specific path explains the grant best: a direct membership is
    /// what removing access would have to touch first.
    fn preference(self) -> u8 {
        match self {
            GrantPath::Direct => 2,
            GrantPath::Inherited { .. } => 1,
            GrantPath::Shared { .. } => 0,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum GrantPathKind {
    Direct,
    Inherited,
    Shared,
}

impl GrantPathKind {
    pub fn as_str(self) -> &'static str {
        match self {
            GrantPathKind::Direct => "direct",
            GrantPathKind::Inherited => "inherited",
            GrantPathKind::Shared => "shared",
        }
    }

    pub fn parse(text: &str) -> Option<GrantPathKind> {
        match text {
            "direct" => Some(GrantPathKind::Direct),
            "inherited" => Some(GrantPathKind::Inherited),
            "shared" => Some(GrantPathKind::Shared),
            _ => None,
        }
    }
}

/// One account's access to one resource by one path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    pub account: GitLabUserId,
    pub resource: Resource,
    pub role: Role,
    pub path: GrantPath,
    /// When this path stops granting: the earlier of the membership's and the share's expiry.
    pub expires_at: Option<Date>,
}

/// The group tree and its projects, indexed for walking up and down.
#[derive(Debug, Clone, Default)]
pub struct Hierarchy {
    groups: HashMap<GitLabGroupId, Group>,
    children: HashMap<GitLabGroupId, Vec<GitLabGroupId>>,
    projects_of: HashMap<GitLabGroupId, Vec<GitLabProjectId>>,
    projects: HashMap<GitLabProjectId, Project>,
}

impl Hierarchy {
    /// Builds the tree. A parent that is not among `groups` (outside the synced scope) is
    /// treated as absent, so a partial view still forms a forest.
    pub fn new(
        groups: impl IntoIterator<Item = Group>,
        projects: impl IntoIterator<Item = Project>,
    ) -> Hierarchy {
        let groups: HashMap<GitLabGroupId, Group> = groups.into_iter().map(|g| (g.id, g)).collect();
        let mut children: HashMap<GitLabGroupId, Vec<GitLabGroupId>> = HashMap::new();
        for group in groups.values() {
            if let Some(parent) = group.parent.filter(|p| groups.contains_key(p)) {
                children.entry(parent).or_default().push(group.id);
            }
        }
        let projects: HashMap<GitLabProjectId, Project> = projects.into_iter().map(|p| (p.id, p)).collect();
        let mut projects_of: HashMap<GitLabGroupId, Vec<GitLabProjectId>> = HashMap::new();
        for project in projects.values() {
            if let Some(group) = project.group.filter(|g| groups.contains_key(g)) {
                projects_of.entry(group).or_default().push(project.id);
            }
        }
        for list in children.values_mut() {
            list.sort_unstable();
        }
        for list in projects_of.values_mut() {
            list.sort_unstable();
        }
        Hierarchy {
            groups,
            children,
            projects_of,
            projects,
        }
    }

    pub fn group(&self, id: GitLabGroupId) -> Option<&Group> {
        self.groups.get(&id)
    }

    pub fn project(&self, id: GitLabProjectId) -> Option<&Project> {
        self.projects.get(&id)
    }

    /// Every group, in no particular order.
    pub fn groups(&self) -> impl Iterator<Item = &Group> {
        self.groups.values()
    }

    /// Every project, in no particular order.
    pub fn projects(&self) -> impl Iterator<Item = &Project> {
        self.projects.values()
    }

    pub fn contains(&self, resource: Resource) -> bool {
        match resource {
            Resource::Group(id) => self.groups.contains_key(&id),
            Resource::Project(id) => self.projects.contains_key(&id),
        }
    }

    /// The group's ancestors, nearest first. Stops at a cycle, which GitLab cannot produce but
    /// a corrupt snapshot could.
    pub fn ancestors(&self, id: GitLabGroupId) -> Vec<GitLabGroupId> {
        let mut found = Vec::new();
        let mut current = self.groups.get(&id).and_then(|g| g.parent);
        while let Some(parent) = current.filter(|p| self.groups.contains_key(p)) {
            if parent == id || found.contains(&parent) {
                break;
            }
            found.push(parent);
            current = self.groups.get(&parent).and_then(|g| g.parent);
        }
        found
    }

    /// Every subgroup and project below `id` (not `id` itself), depth first.
    pub fn descendants(&self, id: GitLabGroupId) -> Vec<Resource> {
        let mut found = Vec::new();
        let mut seen = vec![id];
        let mut stack = vec![id];
        while let Some(group) = stack.pop() {
            for project in self.projects_of.get(&group).into_iter().flatten() {
                found.push(Resource::Project(*project));
            }
            for child in self.children.get(&group).into_iter().flatten() {
                if !seen.contains(child) {
                    seen.push(*child);
                    found.push(Resource::Group(*child));
                    stack.push(*child);
                }
            }
        }
        found
    }

    /// The resource and everything below it.
    fn subtree(&self, resource: Resource) -> Vec<Resource> {
        let mut all = vec![resource];
        if let Resource::Group(id) = resource {
            all.extend(self.descendants(id));
        }
        all
    }
}

/// What computing one account's grants looks up again and again, prepared once per snapshot:
/// each group's subtree and depth, and the shares in force, indexed by the group they invite.
/// Grants are computed an account (or a resource) at a time when they are read, so a snapshot's
/// grants, tens of millions on a large instance, are never stored nor held together.
pub struct GrantCalculator {
    hierarchy: Hierarchy,
    today: Date,
    /// Every subgroup and project below each group, depth first.
    below: HashMap<GitLabGroupId, Vec<Resource>>,
    /// How many ancestors each group has: a nearer granting group explains a grant better.
    depth: HashMap<GitLabGroupId, usize>,
    /// Shares in force on resources of the hierarchy, in the order given, with what each reaches.
    shares: Vec<(Share, Vec<Resource>)>,
    /// Indexes into `shares` by the invited group.
    shares_with: HashMap<GitLabGroupId, Vec<usize>>,
}

impl GrantCalculator {
    pub fn new(hierarchy: Hierarchy, shares: &[Share], today: Date) -> GrantCalculator {
        let below = hierarchy
            .groups
            .keys()
            .map(|id| (*id, hierarchy.descendants(*id)))
            .collect();
        let depth = hierarchy
            .groups
            .keys()
            .map(|id| (*id, hierarchy.ancestors(*id).len()))
            .collect();
        let shares: Vec<(Share, Vec<Resource>)> = shares
            .iter()
            .filter(|share| in_force(share.expires_at, today) && hierarchy.contains(share.resource))
            .map(|share| (share.clone(), hierarchy.subtree(share.resource)))
            .collect();
        let mut shares_with: HashMap<GitLabGroupId, Vec<usize>> = HashMap::new();
        for (index, (share, _)) in shares.iter().enumerate() {
            shares_with.entry(share.shared_with).or_default().push(index);
        }
        GrantCalculator {
            hierarchy,
            today,
            below,
            depth,
            shares,
            shares_with,
        }
    }

    /// The group tree and projects grants are computed over.
    pub fn hierarchy(&self) -> &Hierarchy {
        &self.hierarchy
    }

    /// The day whose memberships and shares are in force.
    pub fn today(&self) -> Date {
        self.today
    }

    fn below(&self, group: GitLabGroupId) -> &[Resource] {
        self.below.get(&group).map_or(&[], Vec::as_slice)
    }

    /// Every path by which one account reaches each resource, from its memberships (all of the
    /// same account, in the order given), in force on the calculator's day. Memberships on
    /// resources outside the hierarchy are ignored.
    pub fn account_paths(&self, memberships: &[&Membership]) -> Vec<Grant> {
        let mut grants = Vec::new();
        self.visit_paths(memberships, None, |grant| grants.push(grant));
        grants
    }

    /// Calls `visit` with every path by which one account reaches `only` (every resource when
    /// `None`).
    fn visit_paths(&self, memberships: &[&Membership], only: Option<Resource>, mut visit: impl FnMut(Grant)) {
        let wanted = |resource: Resource| only.is_none_or(|only| only == resource);
        // The groups the account is a member of as shares see it: directly, or inherited.
        let mut member_of: Vec<(GitLabGroupId, &Role, Option<Date>)> = Vec::new();
        for membership in memberships
            .iter()
            .filter(|m| in_force(m.expires_at, self.today) && self.hierarchy.contains(m.resource))
        {
            if wanted(membership.resource) {
                visit(Grant {
                    account: membership.account,
                    resource: membership.resource,
                    role: membership.role.clone(),
                    path: GrantPath::Direct,
                    expires_at: membership.expires_at,
                });
            }
            let Resource::Group(group) = membership.resource else {
                continue;
            };
            member_of.push((group, &membership.role, membership.expires_at));
            if !membership.role.level.propagates() {
                continue;
            }
            for below in self.below(group) {
                if wanted(*below) {
                    visit(Grant {
                        account: membership.account,
                        resource: *below,
                        role: membership.role.clone(),
                        path: GrantPath::Inherited { via: group },
                        expires_at: membership.expires_at,
                    });
                }
                if let Resource::Group(subgroup) = *below {
                    member_of.push((subgroup, &membership.role, membership.expires_at));
                }
            }
        }
        let Some(account) = memberships.first().map(|m| m.account) else {
            return;
        };
        // The shares that invite any of those groups, in the order they were given.
        let mut invited: Vec<usize> = member_of
            .iter()
            .filter_map(|(group, _, _)| self.shares_with.get(group))
            .flatten()
            .copied()
            .collect();
        invited.sort_unstable();
        invited.dedup();
        for (share, reached) in invited.into_iter().filter_map(|index| self.shares.get(index)) {
            for (_, role, member_expiry) in member_of
                .iter()
                .filter(|(group, role, _)| *group == share.shared_with && role.level.propagates())
            {
                let capped = role.capped(share.cap);
                let expires_at = earliest(*member_expiry, share.expires_at);
                for resource in reached.iter().filter(|resource| wanted(**resource)) {
                    visit(Grant {
                        account,
                        resource: *resource,
                        role: capped.clone(),
                        path: GrantPath::Shared {
                            via: share.shared_with,
                            shared_at: share.resource,
                            capped_at: share.cap,
                        },
                        expires_at,
                    });
                }
            }
        }
    }

    /// One account's effective access to each resource: the highest level over all paths, with
    /// the path that gives it, in resource order.
    pub fn account_grants(&self, memberships: &[&Membership]) -> Vec<Grant> {
        let mut best: BTreeMap<Resource, Grant> = BTreeMap::new();
        self.visit_paths(memberships, None, |grant| match best.get(&grant.resource) {
            Some(current) if !self.outranks(&grant, current) => {}
            _ => {
                best.insert(grant.resource, grant);
            }
        });
        best.into_values().collect()
    }

    /// One account's effective access to one resource, if it has any.
    pub fn account_grant_on(&self, memberships: &[&Membership], resource: Resource) -> Option<Grant> {
        let mut best: Option<Grant> = None;
        self.visit_paths(memberships, Some(resource), |grant| match &best {
            Some(current) if !self.outranks(&grant, current) => {}
            _ => best = Some(grant),
        });
        best
    }

    /// How many resources one account reaches: the number of its effective grants, without
    /// choosing each one's best path.
    pub fn account_grant_count(&self, memberships: &[&Membership]) -> u64 {
        let mut reached: HashSet<Resource> = HashSet::new();
        self.visit_paths(memberships, None, |grant| {
            reached.insert(grant.resource);
        });
        reached.len() as u64
    }

    /// The groups and projects whose direct memberships can give access to `resource`: the
    /// resource, its ancestors, and for each share in force that reaches it, the invited group
    /// and that group's ancestors. Nothing when the resource is not in the hierarchy.
    pub fn reaching(&self, resource: Resource) -> Vec<Resource> {
        if !self.hierarchy.contains(resource) {
            return Vec::new();
        }
        let with_ancestors = |group: GitLabGroupId| {
            std::iter::once(group)
                .chain(self.hierarchy.ancestors(group))
                .map(Resource::Group)
        };
        let mut found = vec![resource];
        match resource {
            Resource::Group(group) => {
                found.extend(self.hierarchy.ancestors(group).into_iter().map(Resource::Group))
            }
            Resource::Project(project) => {
                if let Some(group) = self
                    .hierarchy
                    .project(project)
                    .and_then(|project| project.group)
                    .filter(|group| self.hierarchy.contains(Resource::Group(*group)))
                {
                    found.extend(with_ancestors(group));
                }
            }
        }
        for (share, reached) in &self.shares {
            if reached.contains(&resource) {
                found.extend(with_ancestors(share.shared_with));
            }
        }
        found.sort_unstable();
        found.dedup();
        found
    }

    /// Whether `candidate` should replace `current` as the grant shown for a pair: a higher
    /// level, then a more specific path, then the nearer granting group, then a later expiry.
    fn outranks(&self, candidate: &Grant, current: &Grant) -> bool {
        let rank = |grant: &Grant| {
            let depth = match grant.path {
                GrantPath::Direct => usize::MAX,
                GrantPath::Inherited { via } | GrantPath::Shared { via, .. } => {
                    self.depth.get(&via).copied().unwrap_or(0)
                }
            };
            (
                grant.role.level,
                grant.path.preference(),
                depth,
                grant.expires_at.is_none(),
                grant.expires_at,
            )
        };
        rank(candidate) > rank(current)
    }
}

/// Memberships by account, in account order, each account's in the order given.
pub fn by_account(memberships: &[Membership]) -> BTreeMap<GitLabUserId, Vec<&Membership>> {
    let mut accounts: BTreeMap<GitLabUserId, Vec<&Membership>> = BTreeMap::new();
    for membership in memberships {
        accounts.entry(membership.account).or_default().push(membership);
    }
    accounts
}

/// Each account's effective access to each resource: the highest level over all paths, with
/// the path that gives it. Ordered by account, then resource.
pub fn effective_grants(
    hierarchy: Hierarchy,
    memberships: &[Membership],
    shares: &[Share],
    today: Date,
) -> Vec<Grant> {
    let calculator = GrantCalculator::new(hierarchy, shares, today);
    by_account(memberships)
        .values()
        .flat_map(|memberships| calculator.account_grants(memberships))
        .collect()
}

#[cfg(test)]
mod tests {
    use time::macros::date;

    use super::*;
    use crate::access::model::CustomRole;

    const TODAY: Date = date!(2026 - 12 - 02);

    fn group(id: u64, parent: Option<u64>, path: &str) -> Group {
        Group {
            id: GitLabGroupId(id),
            parent: parent.map(GitLabGroupId),
            full_path: path.into(),
            name: path.rsplit('/').next().unwrap_or(path).into(),
            visibility: crate::access::model::Visibility::Private,
        }
    }

    fn project(id: u64, group: u64, path: &str) -> Project {
        Project {
            id: GitLabProjectId(id),
            group: Some(GitLabGroupId(group)),
            full_path: path.into(),
            name: path.rsplit('/').next().unwrap_or(path).into(),
            visibility: crate::access::model::Visibility::Private,
        }
    }

    fn member(user: u64, resource: Resource, level: AccessLevel) -> Membership {
        Membership {
            account: GitLabUserId(user),
            resource,
            role: Role::level(level),
            expires_at: None,
        }
    }

    fn g(id: u64) -> Resource {
        Resource::Group(GitLabGroupId(id))
    }

    fn p(id: u64) -> Resource {
        Resource::Project(GitLabProjectId(id))
    }

    /// acme(1) ─ platform(2) ─ api(20 project); acme ─ website(10 project);
    /// partners(3) ─ partners/ops(4); contractors(5).
    fn tree() -> Hierarchy {
        Hierarchy::new(
            [
                group(1, None, "acme"),
                group(2, Some(1), "acme/platform"),
                group(3, None, "partners"),
                group(4, Some(3), "partners/ops"),
                group(5, None, "contractors"),
            ],
            [
                project(10, 1, "acme/website"),
                project(20, 2, "acme/platform/api"),
            ],
        )
    }

    fn grant_of(grants: &[Grant], user: u64, resource: Resource) -> Option<&Grant> {
        grants
            .iter()
            .find(|grant| grant.account == GitLabUserId(user) && grant.resource == resource)
    }

    #[test]
    fn a_group_membership_is_inherited_by_every_subgroup_and_project() {
        let grants = effective_grants(tree(), &[member(7, g(1), AccessLevel::MAINTAINER)], &[], TODAY);
        assert_eq!(grants.len(), 4);
        assert_eq!(grant_of(&grants, 7, g(1)).unwrap().path, GrantPath::Direct);
        for below in [g(2), p(10), p(20)] {
            let grant = grant_of(&grants, 7, below).unwrap();
            assert_eq!(
                grant.path,
                GrantPath::Inherited {
                    via: GitLabGroupId(1)
                }
            );
            assert_eq!(grant.role.level, AccessLevel::MAINTAINER);
        }
        assert!(grant_of(&grants, 7, g(3)).is_none());
    }

    #[test]
    fn a_member_of_a_subgroup_only_gets_that_subtree_and_is_still_an_account_with_access() {
        let grants = effective_grants(tree(), &[member(8, g(2), AccessLevel::DEVELOPER)], &[], TODAY);
        assert_eq!(
            grants.iter().map(|grant| grant.resource).collect::<Vec<_>>(),
            vec![g(2), p(20)]
        );
        assert!(grants.iter().all(|grant| grant.account == GitLabUserId(8)));
        assert!(grant_of(&grants, 8, g(1)).is_none());
        assert!(grant_of(&grants, 8, p(10)).is_none());
    }

    #[test]
    fn the_highest_level_wins_across_paths_and_a_direct_grant_wins_a_tie() {
        let memberships = [
            member(7, g(1), AccessLevel::REPORTER),
            member(7, p(20), AccessLevel::MAINTAINER),
            member(9, g(1), AccessLevel::DEVELOPER),
            member(9, g(2), AccessLevel::DEVELOPER),
        ];
        let grants = effective_grants(tree(), &memberships, &[], TODAY);
        let api = grant_of(&grants, 7, p(20)).unwrap();
        assert_eq!(
            (api.role.level, api.path),
            (AccessLevel::MAINTAINER, GrantPath::Direct)
        );
        let platform = grant_of(&grants, 7, g(2)).unwrap();
        assert_eq!(platform.role.level, AccessLevel::REPORTER);
        assert_eq!(grant_of(&grants, 9, g(2)).unwrap().path, GrantPath::Direct);
        // Two inherited paths at the same level: the nearer group explains it.
        let api_for_9 = grant_of(&grants, 9, p(20)).unwrap();
        assert_eq!(
            api_for_9.path,
            GrantPath::Inherited {
                via: GitLabGroupId(2)
            }
        );
        // A lower direct level does not hide a higher inherited one.
        let lower_direct = [
            member(7, g(1), AccessLevel::OWNER),
            member(7, g(2), AccessLevel::GUEST),
        ];
        let grants = effective_grants(tree(), &lower_direct, &[], TODAY);
        let platform = grant_of(&grants, 7, g(2)).unwrap();
        assert_eq!(
            (platform.role.level, platform.path),
            (
                AccessLevel::OWNER,
                GrantPath::Inherited {
                    via: GitLabGroupId(1)
                }
            )
        );
    }

    #[test]
    fn a_group_share_caps_levels_and_reaches_the_shared_groups_subtree() {
        let memberships = [
            member(7, g(3), AccessLevel::OWNER),
            member(8, g(3), AccessLevel::GUEST),
            member(9, g(4), AccessLevel::MAINTAINER),
        ];
        let shares = [Share {
            resource: g(1),
            shared_with: GitLabGroupId(3),
            cap: AccessLevel::DEVELOPER,
            expires_at: None,
        }];
        let grants = effective_grants(tree(), &memberships, &shares, TODAY);
        let shared = GrantPath::Shared {
            via: GitLabGroupId(3),
            shared_at: g(1),
            capped_at: AccessLevel::DEVELOPER,
        };
        for resource in [g(1), g(2), p(10), p(20)] {
            let owner = grant_of(&grants, 7, resource).unwrap();
            assert_eq!((owner.role.level, owner.path), (AccessLevel::DEVELOPER, shared));
            let guest = grant_of(&grants, 8, resource).unwrap();
            assert_eq!(
                guest.role.level,
                AccessLevel::GUEST,
                "below the cap, the member's own level"
            );
        }
        // Members of the invited group's subgroup are not members of the invited group.
        assert!(grant_of(&grants, 9, g(1)).is_none());
        assert_eq!(grant_of(&grants, 9, g(4)).unwrap().path, GrantPath::Direct);
    }

    #[test]
    fn inherited_members_of_the_invited_group_are_reached_by_the_share() {
        let memberships = [member(7, g(3), AccessLevel::MAINTAINER)];
        let shares = [Share {
            resource: p(20),
            shared_with: GitLabGroupId(4),
            cap: AccessLevel::REPORTER,
            expires_at: None,
        }];
        let grants = effective_grants(tree(), &memberships, &shares, TODAY);
        let api = grant_of(&grants, 7, p(20)).unwrap();
        assert_eq!(api.role.level, AccessLevel::REPORTER);
        assert_eq!(
            api.path,
            GrantPath::Shared {
                via: GitLabGroupId(4),
                shared_at: p(20),
                capped_at: AccessLevel::REPORTER
            }
        );
        assert!(
            grant_of(&grants, 7, g(2)).is_none(),
            "a project share reaches only the project"
        );
    }

    #[test]
    fn shares_do_not_chain() {
        let memberships = [member(7, g(5), AccessLevel::OWNER)];
        let shares = [
            Share {
                resource: g(3),
                shared_with: GitLabGroupId(5),
                cap: AccessLevel::MAINTAINER,
                expires_at: None,
            },
            Share {
                resource: g(1),
                shared_with: GitLabGroupId(3),
                cap: AccessLevel::MAINTAINER,
                expires_at: None,
            },
        ];
        let grants = effective_grants(tree(), &memberships, &shares, TODAY);
        assert!(grant_of(&grants, 7, g(3)).is_some());
        assert!(grant_of(&grants, 7, g(1)).is_none());
    }

    #[test]
    fn expired_memberships_and_shares_grant_nothing_and_expiry_is_carried() {
        let soon = date!(2026 - 12 - 10);
        let mut expired = member(7, g(1), AccessLevel::OWNER);
        expired.expires_at = Some(TODAY);
        let mut expiring = member(8, g(3), AccessLevel::OWNER);
        expiring.expires_at = Some(date!(2027 - 01 - 31));
        let shares = [
            Share {
                resource: g(1),
                shared_with: GitLabGroupId(3),
                cap: AccessLevel::DEVELOPER,
                expires_at: Some(soon),
            },
            Share {
                resource: g(5),
                shared_with: GitLabGroupId(3),
                cap: AccessLevel::DEVELOPER,
                expires_at: Some(date!(2026 - 11 - 30)),
            },
        ];
        let grants = effective_grants(tree(), &[expired, expiring], &shares, TODAY);
        assert!(grants.iter().all(|grant| grant.account == GitLabUserId(8)));
        assert_eq!(
            grant_of(&grants, 8, g(3)).unwrap().expires_at,
            Some(date!(2027 - 01 - 31))
        );
        assert_eq!(grant_of(&grants, 8, p(20)).unwrap().expires_at, Some(soon));
        assert!(grant_of(&grants, 8, g(5)).is_none(), "the share expired");
    }

    #[test]
    fn minimal_access_stays_on_its_group() {
        let memberships = [
            member(7, g(1), AccessLevel::MINIMAL_ACCESS),
            member(8, g(3), AccessLevel::MINIMAL_ACCESS),
        ];
        let shares = [Share {
            resource: g(5),
            shared_with: GitLabGroupId(3),
            cap: AccessLevel::OWNER,
            expires_at: None,
        }];
        let grants = effective_grants(tree(), &memberships, &shares, TODAY);
        assert_eq!(
            grants
                .iter()
                .map(|grant| (grant.account.0, grant.resource))
                .collect::<Vec<_>>(),
            vec![(7, g(1)), (8, g(3))]
        );
    }

    #[test]
    fn planner_and_custom_roles_are_inherited_and_a_cap_below_the_base_drops_the_custom_role() {
        let auditor = Role {
            level: AccessLevel::DEVELOPER,
            custom: Some(CustomRole {
                id: 3,
                name: "Auditor".into(),
            }),
        };
        let memberships = [
            Membership {
                account: GitLabUserId(7),
                resource: g(3),
                role: auditor.clone(),
                expires_at: None,
            },
            member(8, g(1), AccessLevel::PLANNER),
        ];
        let shares = [Share {
            resource: p(10),
            shared_with: GitLabGroupId(3),
            cap: AccessLevel::REPORTER,
            expires_at: None,
        }];
        let grants = effective_grants(tree(), &memberships, &shares, TODAY);
        assert_eq!(grant_of(&grants, 7, g(4)).unwrap().role, auditor);
        assert_eq!(
            grant_of(&grants, 7, p(10)).unwrap().role,
            Role::level(AccessLevel::REPORTER)
        );
        assert_eq!(
            grant_of(&grants, 8, p(20)).unwrap().role.level,
            AccessLevel::PLANNER
        );
    }

    #[test]
    fn account_paths_lists_each_route_and_ignores_resources_outside_the_scope() {
        let memberships = [
            member(7, g(1), AccessLevel::REPORTER),
            member(7, g(2), AccessLevel::REPORTER),
            member(7, g(99), AccessLevel::OWNER),
        ];
        let tree = tree();
        let calculator = GrantCalculator::new(tree, &[], TODAY);
        let paths = calculator.account_paths(&memberships.iter().collect::<Vec<_>>());
        let to_api: Vec<GrantPath> = paths
            .iter()
            .filter(|grant| grant.resource == p(20))
            .map(|grant| grant.path)
            .collect();
        assert_eq!(to_api.len(), 2);
        assert!(to_api.contains(&GrantPath::Inherited {
            via: GitLabGroupId(1)
        }));
        assert!(to_api.contains(&GrantPath::Inherited {
            via: GitLabGroupId(2)
        }));
        assert!(paths.iter().all(|grant| grant.resource != g(99)));
    }

    #[test]
    fn a_partial_tree_and_a_cycle_do_not_loop() {
        let hierarchy = Hierarchy::new(
            [
                group(1, Some(2), "a"),
                group(2, Some(1), "b"),
                group(3, Some(42), "orphan"),
            ],
            [],
        );
        assert_eq!(hierarchy.ancestors(GitLabGroupId(1)), vec![GitLabGroupId(2)]);
        assert_eq!(hierarchy.descendants(GitLabGroupId(1)), vec![g(2)]);
        assert!(hierarchy.ancestors(GitLabGroupId(3)).is_empty());
        let grants = effective_grants(hierarchy, &[member(7, g(1), AccessLevel::GUEST)], &[], TODAY);
        assert_eq!(grants.len(), 2);
    }

    #[test]
    fn a_resources_grants_from_the_memberships_reaching_it_match_each_accounts_grants() {
        let mut expiring = member(8, g(4), AccessLevel::OWNER);
        expiring.expires_at = Some(date!(2027 - 02 - 01));
        let memberships = [
            member(7, g(1), AccessLevel::REPORTER),
            member(7, p(20), AccessLevel::MAINTAINER),
            member(7, g(3), AccessLevel::OWNER),
            expiring,
            member(9, g(5), AccessLevel::DEVELOPER),
            member(9, g(2), AccessLevel::MINIMAL_ACCESS),
            member(10, g(3), AccessLevel::MINIMAL_ACCESS),
        ];
        let shares = [
            Share {
                resource: g(2),
                shared_with: GitLabGroupId(3),
                cap: AccessLevel::DEVELOPER,
                expires_at: None,
            },
            Share {
                resource: p(10),
                shared_with: GitLabGroupId(5),
                cap: AccessLevel::GUEST,
                expires_at: Some(date!(2027 - 01 - 01)),
            },
        ];
        let calculator = GrantCalculator::new(tree(), &shares, TODAY);
        let accounts = by_account(&memberships);
        for resource in [g(1), g(2), g(3), g(4), g(5), p(10), p(20)] {
            let reaching = calculator.reaching(resource);
            for (account, own) in &accounts {
                let expected = calculator
                    .account_grants(own)
                    .into_iter()
                    .find(|grant| grant.resource == resource);
                let relevant: Vec<&Membership> = own
                    .iter()
                    .copied()
                    .filter(|m| reaching.contains(&m.resource))
                    .collect();
                assert_eq!(
                    calculator.account_grant_on(&relevant, resource),
                    expected,
                    "account {account:?} on {resource:?}"
                );
            }
        }
        for own in accounts.values() {
            assert_eq!(
                calculator.account_grant_count(own),
                calculator.account_grants(own).len() as u64
            );
        }
        // The share of 2 with 3 brings 3's members to api (20) through platform.
        let reaching_api = calculator.reaching(p(20));
        assert_eq!(reaching_api, vec![g(1), g(2), g(3), p(20)]);
        assert!(calculator.reaching(g(99)).is_empty());
    }

    #[test]
    fn path_kinds_round_trip() {
        for kind in [
            GrantPathKind::Direct,
            GrantPathKind::Inherited,
            GrantPathKind::Shared,
        ] {
            assert_eq!(GrantPathKind::parse(kind.as_str()), Some(kind));
        }
        assert_eq!(GrantPathKind::parse("owner"), None);
    }
}
