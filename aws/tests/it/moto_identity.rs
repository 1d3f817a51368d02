//! Every `IdentityCenter` method against a private moto server.

use std::collections::BTreeSet;
use std::time::Duration;

use liftgate_gateway::config::UserAttribute;
use liftgate_gateway::ports::{AccountInfo, DirectoryUser, GroupInfo, IdentityCenter, NamedUser};
use liftgate_testkit::moto::{MANAGEMENT_ACCOUNT_ID, MotoServer};

use crate::support::{email, identity_on};

fn user(user_id: &str, secondary_domain_used: bool) -> DirectoryUser {
    DirectoryUser {
        user_id: user_id.to_owned(),
        secondary_domain_used,
    }
}

#[tokio::test]
async fn users_are_found_by_email_whatever_its_case_and_through_fallback_domains() {
    let moto = MotoServer::start();
    let seed = moto.seed().await;
    let alice = seed.user("alice", "alice@corp.com", "Alice Example").await;
    let bob = seed.user("bob", "bob@new.corp.com", "Bob Example").await;
    let dana = seed
        .user("dana", "Dana.Mixed@Corp.com", "Dana Example")
        .await;

    let plain = identity_on(&moto, &seed, |_, _| {}).await;
    assert_eq!(
        plain.find_user(&email("Alice@CORP.com")).await.unwrap(),
        Some(user(&alice, false))
    );
    assert_eq!(
        plain.find_user(&email("bob@corp.com")).await.unwrap(),
        None,
        "fallback domains are off by default"
    );
    assert_eq!(
        plain.find_user(&email("nobody@corp.com")).await.unwrap(),
        None
    );
    // An address is tried as given before it is lower-cased.
    assert_eq!(
        plain
            .find_user_by_address("Dana.Mixed@Corp.com")
            .await
            .unwrap(),
        Some(user(&dana, false))
    );
    assert_eq!(
        plain.find_user_by_address("ALICE@corp.com").await.unwrap(),
        Some(user(&alice, false))
    );

    let with_fallback = identity_on(&moto, &seed, |config, _| {
        config.fallback_email_domains =
            vec!["@old.corp.com".to_owned(), "@new.corp.com".to_owned()];
    })
    .await;
    assert_eq!(
        with_fallback
            .find_user(&email("alice@corp.com"))
            .await
            .unwrap(),
        Some(user(&alice, false))
    );
    assert_eq!(
        with_fallback
            .find_user(&email("Bob@Corp.com"))
            .await
            .unwrap(),
        Some(user(&bob, true))
    );
    assert_eq!(
        with_fallback
            .find_user(&email("nobody@corp.com"))
            .await
            .unwrap(),
        None
    );
}

#[tokio::test]
async fn users_can_be_matched_by_user_name_and_found_users_are_cached() {
    let moto = MotoServer::start();
    let seed = moto.seed().await;
    let carol = seed
        .user(
            "carol@corp.com",
            "carol.personal@example.org",
            "Carol Example",
        )
        .await;

    let by_email = identity_on(&moto, &seed, |_, _| {}).await;
    assert_eq!(
        by_email.find_user(&email("carol@corp.com")).await.unwrap(),
        None
    );

    let by_user_name = identity_on(&moto, &seed, |config, _| {
        config.user_attribute = UserAttribute::UserName
    })
    .await;
    assert_eq!(
        by_user_name
            .find_user(&email("carol@corp.com"))
            .await
            .unwrap(),
        Some(user(&carol, false))
    );

    // Cached: still found after the user left the directory, until the cache expires.
    seed.identity_store
        .delete_user()
        .identity_store_id(&seed.identity_store_id)
        .user_id(&carol)
        .send()
        .await
        .unwrap();
    assert_eq!(
        by_user_name
            .find_user(&email("carol@corp.com"))
            .await
            .unwrap(),
        Some(user(&carol, false))
    );
    let uncached = identity_on(&moto, &seed, |config, tuning| {
        config.user_attribute = UserAttribute::UserName;
        tuning.directory_cache_ttl = Duration::ZERO;
    })
    .await;
    assert_eq!(
        uncached.find_user(&email("carol@corp.com")).await.unwrap(),
        None
    );
}

#[tokio::test]
async fn a_role_session_name_finds_its_user_and_the_address_find_user_takes() {
    let moto = MotoServer::start();
    let seed = moto.seed().await;
    let erin = seed.user("erin", "Erin@Corp.com", "Erin Example").await;
    let frank = seed
        .user(
            "frank@corp.com",
            "frank.personal@example.org",
            "Frank Example",
        )
        .await;

    // Chat identities are emails: the session name's user is known by their primary email.
    let by_email = identity_on(&moto, &seed, |_, _| {}).await;
    assert_eq!(
        by_email.find_user_by_user_name("erin").await.unwrap(),
        Some(NamedUser {
            user_id: erin.clone(),
            email: Some(email("erin@corp.com")),
        })
    );
    assert_eq!(by_email.find_user_by_user_name("Erin").await.unwrap(), None);
    assert_eq!(
        by_email.find_user_by_user_name("nobody").await.unwrap(),
        None
    );

    // Directories whose user names are the addresses: the user name itself.
    let by_user_name = identity_on(&moto, &seed, |config, _| {
        config.user_attribute = UserAttribute::UserName
    })
    .await;
    assert_eq!(
        by_user_name
            .find_user_by_user_name("frank@corp.com")
            .await
            .unwrap(),
        Some(NamedUser {
            user_id: frank,
            email: Some(email("frank@corp.com")),
        })
    );
    assert_eq!(
        by_user_name.find_user_by_user_name("erin").await.unwrap(),
        Some(NamedUser {
            user_id: erin,
            email: None,
        }),
        "a user name that is not an address names nobody the gateway can request for"
    );
}

#[tokio::test]
async fn member_groups_reports_memberships_among_the_candidates_only() {
    let moto = MotoServer::start();
    let seed = moto.seed().await;
    let alice = seed.user("alice", "alice@corp.com", "Alice Example").await;
    let ops = seed.group("Ops").await;
    let dev = seed.group("Dev").await;
    let audit = seed.group("Audit").await;
    seed.membership(&ops, &alice).await;
    seed.membership(&audit, &alice).await;
    let identity = identity_on(&moto, &seed, |_, _| {}).await;

    let candidates: BTreeSet<String> = [
        ops.clone(),
        dev.clone(),
        "00000000-0000-0000-0000-000000000000".to_owned(),
    ]
    .into();
    assert_eq!(
        identity.member_groups(&alice, &candidates).await.unwrap(),
        BTreeSet::from([ops.clone()])
    );

    // More candidates than one IsMemberInGroups call takes.
    let mut many: BTreeSet<String> = (0..150)
        .map(|n| format!("00000000-0000-0000-0000-{n:012}"))
        .collect();
    many.insert(audit.clone());
    many.insert(ops.clone());
    assert_eq!(
        identity.member_groups(&alice, &many).await.unwrap(),
        BTreeSet::from([ops, audit])
    );
    assert!(
        identity
            .member_groups(&alice, &BTreeSet::new())
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn accounts_are_listed_across_pages_and_described() {
    let moto = MotoServer::start();
    let seed = moto.seed().await;
    let accounts = seed
        .organization(&["Prod", "Dev", "Staging", "Sandbox", "Audit"])
        .await;
    let identity = identity_on(&moto, &seed, |_, tuning| tuning.page_size = Some(2)).await;

    let listed = identity.list_accounts().await.unwrap();
    assert_eq!(
        listed.len(),
        6,
        "five members and the management account: {listed:?}"
    );
    for account in &accounts {
        assert!(
            listed.contains(&AccountInfo {
                id: account.id.as_str().into(),
                name: account.name.as_str().into()
            }),
            "{account:?}"
        );
    }
    assert!(
        listed
            .iter()
            .any(|account| &*account.id == MANAGEMENT_ACCOUNT_ID)
    );
    let names: Vec<&str> = listed.iter().map(|account| &*account.name).collect();
    assert_eq!(
        names,
        ["Audit", "Dev", "master", "Prod", "Sandbox", "Staging"],
        "sorted by name"
    );

    let prod = &accounts[0];
    assert_eq!(
        identity.describe_account(&prod.id).await.unwrap(),
        Some(AccountInfo {
            id: prod.id.as_str().into(),
            name: "Prod".into()
        })
    );
    assert_eq!(
        identity.describe_account("999999999999").await.unwrap(),
        None
    );
}

#[tokio::test]
async fn permission_sets_resolve_by_name_and_a_miss_reloads_at_most_once_per_interval() {
    let moto = MotoServer::start();
    let seed = moto.seed().await;
    let admin = seed.permission_set("Admin").await;
    let read_only = seed.permission_set("ReadOnly").await;
    let throttled = identity_on(&moto, &seed, |_, tuning| tuning.page_size = Some(1)).await;
    let eager = identity_on(&moto, &seed, |_, tuning| {
        tuning.catalog_min_refresh_interval = Duration::ZERO
    })
    .await;

    assert_eq!(
        throttled.permission_set_arn("Admin").await.unwrap(),
        Some(admin.clone())
    );
    assert_eq!(
        throttled.permission_set_arn("ReadOnly").await.unwrap(),
        Some(read_only)
    );
    assert_eq!(
        throttled.list_permission_sets().await.unwrap(),
        ["Admin", "ReadOnly"]
    );
    assert_eq!(
        eager.permission_set_arn("Admin").await.unwrap(),
        Some(admin)
    );

    let late = seed.permission_set("Late").await;
    // Loaded moments ago: the miss does not reload yet.
    assert_eq!(throttled.permission_set_arn("Late").await.unwrap(), None);
    // Without the minimum interval the miss reloads and finds it.
    assert_eq!(eager.permission_set_arn("Late").await.unwrap(), Some(late));
    assert_eq!(
        eager.list_permission_sets().await.unwrap(),
        ["Admin", "Late", "ReadOnly"]
    );
    assert_eq!(eager.permission_set_arn("Unknown").await.unwrap(), None);
}

#[tokio::test]
async fn groups_are_described_and_unknown_ones_are_none() {
    let moto = MotoServer::start();
    let seed = moto.seed().await;
    let ops = seed.group("Ops").await;
    let identity = identity_on(&moto, &seed, |_, _| {}).await;
    assert_eq!(
        identity.describe_group(&ops).await.unwrap(),
        Some(GroupInfo {
            id: ops.clone(),
            name: "Ops".to_owned()
        })
    );
    assert_eq!(
        identity
            .describe_group("00000000-0000-0000-0000-000000000000")
            .await
            .unwrap(),
        None
    );
}

#[tokio::test]
async fn assignments_are_created_found_and_deleted_idempotently() {
    let moto = MotoServer::start();
    let seed = moto.seed().await;
    let accounts = seed.organization(&["Prod"]).await;
    let prod = &accounts[0].id;
    let admin = seed.permission_set("Admin").await;
    let alice = seed.user("alice", "alice@corp.com", "Alice Example").await;
    // Other principals on the same account and permission set, over several pages.
    for name in ["bob", "carol", "dave"] {
        let other = seed
            .user(
                name,
                &format!("{name}@corp.com"),
                &format!("{name} Example"),
            )
            .await;
        seed.assignment(prod, &admin, &other).await;
    }
    let identity = identity_on(&moto, &seed, |_, tuning| tuning.page_size = Some(1)).await;

    assert!(
        !identity
            .assignment_exists(prod, &admin, &alice)
            .await
            .unwrap()
    );
    let created = identity
        .create_assignment(prod, &admin, &alice)
        .await
        .unwrap();
    assert!(created.request_id.is_some());
    assert!(
        identity
            .assignment_exists(prod, &admin, &alice)
            .await
            .unwrap()
    );
    assert_eq!(seed.user_assignment_count(prod, &admin, &alice).await, 1);

    let deleted = identity
        .delete_assignment(prod, &admin, &alice)
        .await
        .unwrap();
    assert!(deleted.request_id.is_some());
    assert!(
        !identity
            .assignment_exists(prod, &admin, &alice)
            .await
            .unwrap()
    );
    assert_eq!(seed.user_assignment_count(prod, &admin, &alice).await, 0);

    let again = identity
        .delete_assignment(prod, &admin, &alice)
        .await
        .unwrap();
    assert_eq!(
        again.request_id, None,
        "deleting what is gone succeeds without a request"
    );
    // The other principals kept theirs.
    let rows = seed
        .sso_admin
        .list_account_assignments()
        .instance_arn(&seed.instance_arn)
        .account_id(prod)
        .permission_set_arn(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(rows.account_assignments().len(), 3);
}

#[tokio::test]
async fn memberships_are_found_added_and_removed_idempotently() {
    let moto = MotoServer::start();
    let seed = moto.seed().await;
    let alice = seed.user("alice", "alice@corp.com", "Alice Example").await;
    let ops = seed.group("Ops").await;
    let identity = identity_on(&moto, &seed, |_, _| {}).await;

    assert_eq!(identity.find_membership(&ops, &alice).await.unwrap(), None);
    let membership = identity.add_membership(&ops, &alice).await.unwrap();
    assert_eq!(
        identity.find_membership(&ops, &alice).await.unwrap(),
        Some(membership.clone())
    );
    assert_eq!(seed.membership_count(&ops, &alice).await, 1);

    identity.delete_membership(&membership).await.unwrap();
    assert_eq!(identity.find_membership(&ops, &alice).await.unwrap(), None);
    assert_eq!(seed.membership_count(&ops, &alice).await, 0);
    identity.delete_membership(&membership).await.unwrap();
}
