//! Small dense ids for what the index folds together: the approver emails of a configuration,
//! numbered in their sort order, so that unions of approver lists are unions of integers and
//! come out already in the order `Evaluation::approvers` needs.

use crate::Email;

/// Every approver email of one configuration, sorted; an email's id is its position.
#[derive(Debug, Clone, Default)]
pub(crate) struct EmailTable {
    sorted: Vec<Email>,
    ids: foldhash::HashMap<Email, usize>,
}

impl EmailTable {
    pub(crate) fn new<'e>(emails: impl IntoIterator<Item = &'e Email>) -> EmailTable {
        let mut sorted: Vec<Email> = emails.into_iter().cloned().collect();
        sorted.sort_unstable();
        sorted.dedup();
        let ids = sorted
            .iter()
            .enumerate()
            .map(|(id, email)| (email.clone(), id))
            .collect();
        EmailTable { sorted, ids }
    }

    /// The id of `email`, or `None` when no statement names it.
    pub(crate) fn id(&self, email: &Email) -> Option<usize> {
        self.ids.get(email).copied()
    }

    /// The ids of `emails`, ascending. Every one is in the table (it was built from them).
    pub(crate) fn ids_of(&self, emails: &[Email]) -> Box<[usize]> {
        let mut ids: Vec<usize> = emails.iter().filter_map(|email| self.id(email)).collect();
        ids.sort_unstable();
        ids.dedup();
        ids.into_boxed_slice()
    }

    pub(crate) fn email(&self, id: usize) -> &Email {
        &self.sorted[id]
    }

    pub(crate) fn len(&self) -> usize {
        self.sorted.len()
    }
}

/// Calls `emit` with every id of `lists` (each ascending) and of `extra` (any order), once
/// each, ascending, leaving out `exclude`. A single list is walked as it is; several are merged
/// through a bit set, which costs one pass over the ids plus `universe / 64` words however the
/// lists overlap (and no allocation up to 4,096 ids).
pub(crate) fn union(
    lists: &[&[usize]],
    extra: impl Iterator<Item = usize> + Clone,
    universe: usize,
    exclude: Option<usize>,
    mut emit: impl FnMut(usize),
) {
    let mut non_empty = lists.iter().filter(|ids| !ids.is_empty());
    let first = non_empty.next();
    let more = non_empty.next().is_some() || extra.clone().next().is_some();
    match first {
        None if !more => return,
        Some(only) if !more => {
            for &id in *only {
                if Some(id) != exclude {
                    emit(id);
                }
            }
            return;
        }
        _ => {}
    }
    let mut stack = [0u64; 64];
    let mut heap = Vec::new();
    let length = universe.div_ceil(64);
    let words: &mut [u64] = if length <= stack.len() {
        &mut stack[..length]
    } else {
        heap.resize(length, 0);
        &mut heap
    };
    for id in lists
        .iter()
        .flat_map(|ids| ids.iter().copied())
        .chain(extra)
    {
        words[id / 64] |= 1 << (id % 64);
    }
    if let Some(id) = exclude
        && id < universe
    {
        words[id / 64] &= !(1 << (id % 64));
    }
    for (at, &word) in words.iter().enumerate() {
        let mut word = word;
        while word != 0 {
            emit(at * 64 + word.trailing_zeros() as usize);
            word &= word - 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn collect(
        lists: &[&[usize]],
        extra: &[usize],
        universe: usize,
        exclude: Option<usize>,
    ) -> Vec<usize> {
        let mut ids = Vec::new();
        union(lists, extra.iter().copied(), universe, exclude, |id| {
            ids.push(id)
        });
        ids
    }

    #[test]
    fn unions_are_ascending_distinct_and_leave_out_the_excluded_id() {
        assert_eq!(collect(&[], &[], 10, None), Vec::<usize>::new());
        assert_eq!(collect(&[&[], &[1, 4, 7]], &[], 10, Some(4)), [1, 7]);
        assert_eq!(collect(&[], &[9, 2, 9], 10, None), [2, 9]);
        assert_eq!(
            collect(
                &[&[1, 4, 70], &[], &[0, 4, 65, 129]],
                &[3, 1],
                130,
                Some(65)
            ),
            [0, 1, 3, 4, 70, 129]
        );
        let large: Vec<usize> = (0..10_000).step_by(7).collect();
        assert_eq!(
            collect(&[&large, &[1]], &[], 10_000, Some(0)).len(),
            large.len()
        );
    }

    #[test]
    fn email_ids_follow_the_sort_order() {
        let emails: Vec<Email> = ["carol@corp.com", "alice@corp.com", "carol@corp.com"]
            .iter()
            .map(|text| Email::parse(text).unwrap())
            .collect();
        let table = EmailTable::new(&emails);
        assert_eq!(table.len(), 2);
        assert_eq!(table.id(&emails[1]), Some(0));
        assert_eq!(table.email(1), &emails[0]);
        assert_eq!(&*table.ids_of(&emails), [0, 1]);
        assert_eq!(table.id(&Email::parse("bob@corp.com").unwrap()), None);
    }
}
