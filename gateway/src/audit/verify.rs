//! `liftgate audit verify` (docs/reference.md §7): checks a sink's copy of the chain and its
//! checkpoints, and names every object that breaks it. Sources (a directory, an S3 prefix)
//! read the objects and turn each record into a [`Link`] in parallel; [`verify`] then checks
//! the links in `seq` order against each other and against the checkpoints.

use std::collections::BTreeMap;
use std::fmt;

use time::OffsetDateTime;

use super::chain::{GENESIS_HASH, hash_of_body};
use super::checkpoint::{Checkpoint, PublicKey};

/// What verification needs of one record, parsed and hashed where it was read.
#[derive(Debug, Clone)]
pub struct Link {
    /// The file path or S3 key.
    pub object: String,
    pub seq: u64,
    pub prev_hash: String,
    pub hash: String,
    /// Whether `hash` is the hash of the record's content.
    pub content_matches: bool,
    /// Epoch milliseconds (`timestamp`).
    pub timestamp: i64,
    /// Where the record's own id and time say it belongs (`YYYY/MM/DD/UUID.json`), if they
    /// can be read.
    pub expected_key: Option<String>,
}

/// One checkpoint object as read.
#[derive(Debug, Clone)]
pub struct CheckpointObject {
    pub object: String,
    pub body: Vec<u8>,
}

/// What a source read: every record (as a link, or why it is not one) and every checkpoint.
pub type ChainObjects = (Vec<Result<Link, Finding>>, Vec<CheckpointObject>);

/// One way the log fails to be what the chain and the checkpoints say.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Finding {
    /// Not a chained record (not JSON, or without `seq`/`prev_hash`/`hash`).
    Unreadable {
        object: String,
        reason: String,
    },
    /// The content does not hash to its `hash`: the record was changed.
    Changed {
        object: String,
        seq: u64,
    },
    /// The record is stored under another name than its id and date give.
    Misplaced {
        object: String,
        seq: u64,
        expected: String,
    },
    /// Two objects claim one position.
    Duplicate {
        seq: u64,
        object: String,
        other: String,
    },
    /// Positions missing between two records: deleted.
    Gap {
        first_missing: u64,
        last_missing: u64,
        after: Option<String>,
        before: String,
    },
    /// `prev_hash` is not the hash of the record before: reordered or inserted.
    BrokenLink {
        object: String,
        seq: u64,
    },
    /// A checkpoint says records up to `seq` exist; the log ends earlier.
    Truncated {
        checkpoint: String,
        seq: u64,
        last_present: Option<u64>,
    },
    /// A checkpoint's `last_hash` is not the hash of the record at its position: the chain
    /// was rewritten from there.
    Rewritten {
        checkpoint: String,
        seq: u64,
    },
    /// The signature is not the key's over the checkpoint's content.
    Forged {
        checkpoint: String,
    },
    /// Checkpoint numbers missing.
    MissingCheckpoints {
        first_missing: u64,
        last_missing: u64,
        before: String,
    },
    /// `previous_signature` is not the signature of the checkpoint before.
    CheckpointLinkBroken {
        checkpoint: String,
    },
    UnreadableCheckpoint {
        checkpoint: String,
        reason: String,
    },
    /// Records exist that no checkpoint vouches for, and none exists at all.
    NoCheckpoint,
    /// No public key was given: the checkpoints' signatures were not checked.
    SignaturesNotChecked,
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Finding::Unreadable { object, reason } => {
                write!(f, "unreadable record {object}: {reason}")
            }
            Finding::Changed { object, seq } => write!(
                f,
                "changed record: {object} (seq {seq}) does not hash to its hash"
            ),
            Finding::Misplaced {
                object,
                seq,
                expected,
            } => write!(
                f,
                "moved record: {object} (seq {seq}) belongs at {expected}"
            ),
            Finding::Duplicate { seq, object, other } => write!(
                f,
                "inserted record: seq {seq} is claimed by both {other} and {object}"
            ),
            Finding::Gap {
                first_missing,
                last_missing,
                after,
                before,
            } => {
                let range = if first_missing == last_missing {
                    format!("seq {first_missing} is")
                } else {
                    format!("seq {first_missing}..={last_missing} are")
                };
                match after {
                    Some(after) => write!(
                        f,
                        "deleted records: {range} missing between {after} and {before}"
                    ),
                    None => write!(f, "deleted records: {range} missing before {before}"),
                }
            }
            Finding::BrokenLink { object, seq } => write!(
                f,
                "reordered or inserted record: {object} (seq {seq}) does not follow the record before it"
            ),
            Finding::Truncated {
                checkpoint,
                seq,
                last_present,
            } => match last_present {
                Some(last) => write!(
                    f,
                    "truncated log: checkpoint {checkpoint} covers records up to seq {seq}, the log ends at seq {last}"
                ),
                None => write!(
                    f,
                    "truncated log: checkpoint {checkpoint} covers records up to seq {seq}, the log has none"
                ),
            },
            Finding::Rewritten { checkpoint, seq } => write!(
                f,
                "rewritten chain: the record at seq {seq} is not the one checkpoint {checkpoint} signed"
            ),
            Finding::Forged { checkpoint } => write!(
                f,
                "forged checkpoint: {checkpoint} is not signed by the given key"
            ),
            Finding::MissingCheckpoints {
                first_missing,
                last_missing,
                before,
            } => write!(
                f,
                "missing checkpoint: number {first_missing}..={last_missing} before {before}"
            ),
            Finding::CheckpointLinkBroken { checkpoint } => write!(
                f,
                "replaced checkpoint: {checkpoint} does not carry the signature of the checkpoint before it"
            ),
            Finding::UnreadableCheckpoint { checkpoint, reason } => {
                write!(f, "unreadable checkpoint {checkpoint}: {reason}")
            }
            Finding::NoCheckpoint => write!(
                f,
                "no checkpoint: nothing vouches for the chain's tail (is audit.signing_key set?)"
            ),
            Finding::SignaturesNotChecked => write!(
                f,
                "checkpoint signatures not checked: pass --public-key (liftgate audit public-key prints it)"
            ),
        }
    }
}

/// What to verify.
#[derive(Debug, Clone, Default)]
pub struct VerifyOptions {
    pub public_key: Option<PublicKey>,
    /// Only the chain from the first record at or after this time (and the checkpoints from
    /// then on); the first record's `prev_hash` is taken as given.
    pub since: Option<OffsetDateTime>,
}

/// The outcome: what was checked and everything found.
#[derive(Debug, Clone, Default)]
pub struct Report {
    pub records: usize,
    pub checkpoints: usize,
    pub first_seq: Option<u64>,
    pub last_seq: Option<u64>,
    /// The position the last valid checkpoint covers.
    pub checkpointed_seq: Option<u64>,
    pub findings: Vec<Finding>,
}

impl Report {
    pub fn is_clean(&self) -> bool {
        self.findings.is_empty()
    }
}

fn text<'a>(body: &'a serde_json::Value, field: &str) -> Option<&'a str> {
    body.get(field).and_then(serde_json::Value::as_str)
}

/// Parses and hashes one record object.
///
/// # Errors
/// [`Finding::Unreadable`] when it is not a chained record.
pub fn parse_record(object: String, bytes: &[u8]) -> Result<Link, Finding> {
    let unreadable = |object: String, reason: &str| Finding::Unreadable {
        object,
        reason: reason.to_owned(),
    };
    let body: serde_json::Value = match serde_json::from_slice(bytes) {
        Ok(body) => body,
        Err(_) => return Err(unreadable(object, "not JSON")),
    };
    let (Some(seq), Some(prev_hash), Some(hash)) = (
        body.get("seq").and_then(serde_json::Value::as_u64),
        text(&body, "prev_hash"),
        text(&body, "hash"),
    ) else {
        return Err(unreadable(
            object,
            "no seq, prev_hash and hash (not chained)",
        ));
    };
    let timestamp = body
        .get("timestamp")
        .and_then(serde_json::Value::as_i64)
        .unwrap_or(i64::MIN);
    let expected_key = text(&body, "record_id").and_then(|id| {
        let at =
            OffsetDateTime::from_unix_timestamp_nanos(i128::from(timestamp) * 1_000_000).ok()?;
        let date = at.date();
        Some(format!(
            "{:04}/{:02}/{:02}/{id}.json",
            date.year(),
            u8::from(date.month()),
            date.day()
        ))
    });
    let content_matches = hash_of_body(&body) == hash;
    Ok(Link {
        object,
        seq,
        prev_hash: prev_hash.to_owned(),
        hash: hash.to_owned(),
        content_matches,
        timestamp,
        expected_key,
    })
}

/// Checks the links (in any order) and the checkpoints.
pub fn verify(
    parsed: Vec<Result<Link, Finding>>,
    checkpoints: Vec<CheckpointObject>,
    options: &VerifyOptions,
) -> Report {
    let mut report = Report::default();
    let mut links = Vec::with_capacity(parsed.len());
    for item in parsed {
        match item {
            Ok(link) => links.push(link),
            Err(finding) => report.findings.push(finding),
        }
    }
    links.sort_unstable_by(|a, b| a.seq.cmp(&b.seq).then_with(|| a.object.cmp(&b.object)));
    let since_ms = options
        .since
        .map(|since| (since.unix_timestamp_nanos() / 1_000_000) as i64);
    if let Some(since_ms) = since_ms {
        // The chain from the first record at or after `since`, in chain order.
        let start = links
            .iter()
            .filter(|link| link.timestamp >= since_ms)
            .map(|link| link.seq)
            .min();
        links.retain(|link| start.is_some_and(|start| link.seq >= start));
    }
    report.records = links.len();
    report.first_seq = links.first().map(|link| link.seq);
    report.last_seq = links.last().map(|link| link.seq);
    check_links(&links, since_ms.is_some(), &mut report.findings);
    check_checkpoints(&links, checkpoints, options, since_ms, &mut report);
    report
}

fn check_links(links: &[Link], partial: bool, findings: &mut Vec<Finding>) {
    let mut previous: Option<&Link> = None;
    for link in links {
        if !link.content_matches {
            findings.push(Finding::Changed {
                object: link.object.clone(),
                seq: link.seq,
            });
        }
        if let Some(expected) = &link.expected_key
            && !link.object.ends_with(expected.as_str())
        {
            findings.push(Finding::Misplaced {
                object: link.object.clone(),
                seq: link.seq,
                expected: expected.clone(),
            });
        }
        match previous {
            Some(before) if before.seq == link.seq => {
                findings.push(Finding::Duplicate {
                    seq: link.seq,
                    object: link.object.clone(),
                    other: before.object.clone(),
                });
                // The first claimant stays the chain's link.
                continue;
            }
            Some(before) if before.seq + 1 != link.seq => findings.push(Finding::Gap {
                first_missing: before.seq + 1,
                last_missing: link.seq - 1,
                after: Some(before.object.clone()),
                before: link.object.clone(),
            }),
            Some(before) if before.hash != link.prev_hash => findings.push(Finding::BrokenLink {
                object: link.object.clone(),
                seq: link.seq,
            }),
            Some(_) => {}
            None if partial => {}
            None if link.seq != 1 => findings.push(Finding::Gap {
                first_missing: 1,
                last_missing: link.seq - 1,
                after: None,
                before: link.object.clone(),
            }),
            None if link.prev_hash != GENESIS_HASH => findings.push(Finding::BrokenLink {
                object: link.object.clone(),
                seq: link.seq,
            }),
            None => {}
        }
        previous = Some(link);
    }
}

fn check_checkpoints(
    links: &[Link],
    objects: Vec<CheckpointObject>,
    options: &VerifyOptions,
    since_ms: Option<i64>,
    report: &mut Report,
) {
    let findings = &mut report.findings;
    let mut parsed: Vec<(String, Checkpoint, serde_json::Value)> = Vec::new();
    for object in objects {
        let reason = match serde_json::from_slice::<serde_json::Value>(&object.body) {
            Ok(body) => match serde_json::from_value::<Checkpoint>(body.clone()) {
                Ok(checkpoint) => {
                    parsed.push((object.object, checkpoint, body));
                    continue;
                }
                Err(error) => error.to_string(),
            },
            Err(_) => "not JSON".to_owned(),
        };
        findings.push(Finding::UnreadableCheckpoint {
            checkpoint: object.object,
            reason,
        });
    }
    if let Some(since_ms) = since_ms {
        parsed.retain(|(_, checkpoint, _)| {
            (checkpoint.time.unix_timestamp_nanos() / 1_000_000) as i64 >= since_ms
        });
    }
    parsed.sort_by(|a, b| a.1.number.cmp(&b.1.number).then_with(|| a.0.cmp(&b.0)));
    report.checkpoints = parsed.len();
    if options.public_key.is_none() && !parsed.is_empty() {
        findings.push(Finding::SignaturesNotChecked);
    }
    if parsed.is_empty() && !links.is_empty() {
        findings.push(Finding::NoCheckpoint);
    }
    let by_seq: BTreeMap<u64, &Link> = links.iter().rev().map(|link| (link.seq, link)).collect();
    let first_seq = links.first().map(|link| link.seq);
    let last_seq = links.last().map(|link| link.seq);
    let mut previous: Option<&(String, Checkpoint, serde_json::Value)> = None;
    for entry in &parsed {
        let (object, checkpoint, body) = entry;
        if let Some(key) = &options.public_key
            && !key.verifies(body)
        {
            findings.push(Finding::Forged {
                checkpoint: object.clone(),
            });
            // Nothing a forged checkpoint says is evidence of anything.
            continue;
        }
        match previous {
            Some((_, before, _)) if before.number == checkpoint.number => {
                findings.push(Finding::Forged {
                    checkpoint: object.clone(),
                });
                continue;
            }
            Some((_, before, _)) if before.number + 1 != checkpoint.number => {
                findings.push(Finding::MissingCheckpoints {
                    first_missing: before.number + 1,
                    last_missing: checkpoint.number - 1,
                    before: object.clone(),
                });
            }
            Some((_, before, _))
                if checkpoint.previous_signature.as_deref() != Some(before.signature.as_str())
                    || checkpoint.seq < before.seq =>
            {
                findings.push(Finding::CheckpointLinkBroken {
                    checkpoint: object.clone(),
                });
            }
            Some(_) => {}
            None if since_ms.is_none() && checkpoint.number != 1 => {
                findings.push(Finding::MissingCheckpoints {
                    first_missing: 1,
                    last_missing: checkpoint.number - 1,
                    before: object.clone(),
                });
            }
            None if since_ms.is_none() && checkpoint.previous_signature.is_some() => {
                findings.push(Finding::CheckpointLinkBroken {
                    checkpoint: object.clone(),
                });
            }
            None => {}
        }
        previous = Some(entry);
        // Positions before the verified part of the chain cannot be compared.
        if checkpoint.seq == 0 || first_seq.is_some_and(|first| checkpoint.seq < first) {
            continue;
        }
        match by_seq.get(&checkpoint.seq) {
            Some(link) if link.hash == checkpoint.last_hash => {}
            Some(_) => findings.push(Finding::Rewritten {
                checkpoint: object.clone(),
                seq: checkpoint.seq,
            }),
            None if last_seq.is_none_or(|last| last < checkpoint.seq) => {
                findings.push(Finding::Truncated {
                    checkpoint: object.clone(),
                    seq: checkpoint.seq,
                    last_present: last_seq,
                });
            }
            // Missing inside the chain: already reported as a gap.
            None => {}
        }
        if checkpoint.record_count != checkpoint.seq {
            findings.push(Finding::CheckpointLinkBroken {
                checkpoint: object.clone(),
            });
        }
        report.checkpointed_seq = Some(checkpoint.seq);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::{AuditRecord, ChainHead, object_key};
    use crate::domain::{Channel, RequestEvent, RequestStatus};
    use crate::testing::sample_request;

    fn chain(count: i64) -> Vec<(String, Vec<u8>)> {
        let start = OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap();
        let request = sample_request(RequestStatus::Pending, start);
        let mut head = ChainHead::default();
        (0..count)
            .map(|day| {
                let mut record = AuditRecord::for_request(
                    start + time::Duration::days(day),
                    RequestEvent::Requested,
                    Channel::Webhook,
                    &request,
                    None,
                    None,
                    None,
                );
                head.append(&mut record).unwrap();
                (
                    object_key(&record),
                    serde_json::to_vec(&record.fields).unwrap(),
                )
            })
            .collect()
    }

    fn links(objects: &[(String, Vec<u8>)]) -> Vec<Result<Link, Finding>> {
        objects
            .iter()
            .map(|(name, body)| parse_record(name.clone(), body))
            .collect()
    }

    #[test]
    fn since_checks_the_chain_from_the_first_record_at_that_time() {
        let objects = chain(5);
        let since =
            OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap() + time::Duration::days(2);
        let tail = &objects[2..];
        let report = verify(
            links(tail),
            Vec::new(),
            &VerifyOptions {
                public_key: None,
                since: Some(since),
            },
        );
        assert_eq!(report.records, 3);
        assert_eq!(report.findings, vec![Finding::NoCheckpoint]);
        // Without --since the missing head is a gap.
        let report = verify(links(tail), Vec::new(), &VerifyOptions::default());
        assert!(report.findings.contains(&Finding::Gap {
            first_missing: 1,
            last_missing: 2,
            after: None,
            before: tail[0].0.clone(),
        }));
    }

    #[test]
    fn a_record_that_is_not_chained_is_named() {
        let report = verify(
            vec![parse_record("x.json".to_owned(), b"{\"reason\": \"r\"}")],
            Vec::new(),
            &VerifyOptions::default(),
        );
        assert!(
            matches!(&report.findings[0], Finding::Unreadable { object, .. } if object == "x.json")
        );
    }
}
