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

/// A set of small ids, as bits.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct IdSet(Vec<u64>);

impl IdSet {
    /// An empty set with room for the ids `0..universe`.
    pub(crate) fn with_universe(universe: usize) -> IdSet {
        IdSet(vec![0; universe.div_ceil(64)])
    }

    pub(crate) fn insert(&mut self, id: usize) {
        let word = id / 64;
        if word >= self.0.len() {
            self.0.resize(word + 1, 0);
        }
        self.0[word] |= 1 << (id % 64);
    }

    pub(crate) fn extend(&mut self, ids: &[usize]) {
        for &id in ids {
            self.insert(id);
        }
    }

    pub(crate) fn contains(&self, id: usize) -> bool {
        self.0
            .get(id / 64)
            .is_some_and(|word| word & (1 << (id % 64)) != 0)
    }

    /// The ids, ascending.
    pub(crate) fn iter(&self) -> impl Iterator<Item = usize> + '_ {
        self.0.iter().enumerate().flat_map(|(at, &word)| {
            let mut word = word;
            std::iter::from_fn(move || {
                (word != 0).then(|| {
                    let bit = word.trailing_zeros() as usize;
                    word &= word - 1;
                    at * 64 + bit
                })
            })
        })
    }
}

/// Distinct names (account ids, permission sets), sorted; a name's id is its position.
#[derive(Debug, Clone, Default)]
pub(crate) struct NameTable {
    sorted: Vec<String>,
}

impl NameTable {
    pub(crate) fn new<'n>(names: impl IntoIterator<Item = &'n String>) -> NameTable {
        let mut sorted: Vec<String> = names.into_iter().cloned().collect();
        sorted.sort_unstable();
        sorted.dedup();
        NameTable { sorted }
    }

    /// The ids of `names`, in their order (ascending for a `BTreeSet`); names not in the table
    /// are left out.
    pub(crate) fn ids_of<'n>(&self, names: impl IntoIterator<Item = &'n String>) -> Box<[usize]> {
        names
            .into_iter()
            .filter_map(|name| self.sorted.binary_search(name).ok())
            .collect()
    }

    pub(crate) fn id(&self, name: &str) -> Option<usize> {
        self.sorted
            .binary_search_by(|candidate| candidate.as_str().cmp(name))
            .ok()
    }

    pub(crate) fn len(&self) -> usize {
        self.sorted.len()
    }

    pub(crate) fn name(&self, id: usize) -> &String {
        &self.sorted[id]
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
    fn id_sets_iterate_ascending() {
        let mut set = IdSet::default();
        set.extend(&[130, 3, 64, 3]);
        assert_eq!(set.iter().collect::<Vec<_>>(), [3, 64, 130]);
        assert!(set.contains(64) && !set.contains(65) && !set.contains(10_000));
        let names: Vec<String> = ["b", "a", "b"].map(String::from).into();
        let table = NameTable::new(&names);
        assert_eq!(&*table.ids_of(&names), [1, 0, 1]);
        assert_eq!(table.name(1), "b");
        assert_eq!((table.id("a"), table.id("c")), (Some(0), None));
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
