//! A deterministic single-threaded executor for the workflow's futures. Every port call and
//! every wait in the simulated world is a *point*: the task parks there, and the executor —
//! driven by a seeded random generator — picks which parked point proceeds next, and how
//! (normally, or with a fault). Nothing else can run in between, so an interleaving is a pure
//! function of the seed and can be replayed exactly.

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

use parking_lot::Mutex;
use time::OffsetDateTime;

pub(super) type TaskId = u64;

/// What a point stands for, for the fault model.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    /// A state-store read.
    StoreRead,
    /// A state-store write (a commit, a lease change).
    StoreWrite,
    /// An Identity Center read.
    AwsRead,
    /// An Identity Center or Scheduler change.
    AwsWrite,
    /// A wait on the clock until the given time.
    Sleep(OffsetDateTime),
}

/// How the executor lets a point proceed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Fault {
    Go,
    /// Fails before anything happens (throttled, unavailable).
    Refuse,
    /// Happens, but the answer is lost (the caller sees an outage).
    LoseAnswer,
}

#[derive(Debug)]
struct Point {
    task: TaskId,
    label: &'static str,
    kind: Kind,
    decision: Option<Fault>,
}

#[derive(Debug, Default)]
struct GateState {
    next_point: u64,
    current: Option<TaskId>,
    points: BTreeMap<u64, Point>,
}

/// Where tasks park. Shared by every simulated port.
#[derive(Debug, Default)]
pub(super) struct Gate {
    state: Mutex<GateState>,
}

/// A parked point; resolves to the executor's decision.
pub(super) struct PointFuture<'a> {
    gate: &'a Gate,
    id: Option<u64>,
    label: &'static str,
    kind: Kind,
}

impl Gate {
    pub(super) fn point(&self, label: &'static str, kind: Kind) -> PointFuture<'_> {
        PointFuture {
            gate: self,
            id: None,
            label,
            kind,
        }
    }
}

impl Future for PointFuture<'_> {
    type Output = Fault;

    fn poll(mut self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Fault> {
        let mut state = self.gate.state.lock();
        match self.id {
            None => {
                let id = state.next_point;
                state.next_point += 1;
                let task = state
                    .current
                    .expect("a simulated port was called outside the executor");
                state.points.insert(
                    id,
                    Point {
                        task,
                        label: self.label,
                        kind: self.kind,
                        decision: None,
                    },
                );
                drop(state);
                self.id = Some(id);
                Poll::Pending
            }
            Some(id) => match state.points.get(&id).and_then(|point| point.decision) {
                Some(decision) => {
                    state.points.remove(&id);
                    Poll::Ready(decision)
                }
                None => Poll::Pending,
            },
        }
    }
}

impl Drop for PointFuture<'_> {
    fn drop(&mut self) {
        if let Some(id) = self.id {
            self.gate.state.lock().points.remove(&id);
        }
    }
}

type Task = Pin<Box<dyn Future<Output = ()> + Send>>;

/// A parked point as the scheduler sees it.
#[derive(Debug, Clone, Copy)]
pub(super) struct Parked {
    pub(super) id: u64,
    pub(super) task: TaskId,
    pub(super) label: &'static str,
    pub(super) kind: Kind,
}

/// The tasks and their owners (replicas), polled one step at a time.
pub(super) struct Executor {
    gate: Arc<Gate>,
    tasks: BTreeMap<TaskId, (usize, Task)>,
    next_task: TaskId,
}

impl Executor {
    pub(super) fn new(gate: Arc<Gate>) -> Executor {
        Executor {
            gate,
            tasks: BTreeMap::new(),
            next_task: 0,
        }
    }

    /// Spawns a task owned by `replica` and runs it to its first point.
    pub(super) fn spawn(
        &mut self,
        replica: usize,
        future: impl Future<Output = ()> + Send + 'static,
    ) {
        let id = self.next_task;
        self.next_task += 1;
        self.tasks.insert(id, (replica, Box::pin(future)));
        self.poll(id);
    }

    fn poll(&mut self, id: TaskId) {
        let Some((_, task)) = self.tasks.get_mut(&id) else {
            return;
        };
        self.gate.state.lock().current = Some(id);
        let mut context = Context::from_waker(Waker::noop());
        let done = task.as_mut().poll(&mut context).is_ready();
        self.gate.state.lock().current = None;
        if done {
            self.tasks.remove(&id);
        }
    }

    /// Every parked point, in a stable order.
    pub(super) fn parked(&self) -> Vec<Parked> {
        self.gate
            .state
            .lock()
            .points
            .iter()
            .filter(|(_, point)| point.decision.is_none())
            .map(|(id, point)| Parked {
                id: *id,
                task: point.task,
                label: point.label,
                kind: point.kind,
            })
            .collect()
    }

    /// Lets one point proceed and runs its task to its next point.
    pub(super) fn release(&mut self, point: &Parked, fault: Fault) {
        if let Some(parked) = self.gate.state.lock().points.get_mut(&point.id) {
            parked.decision = Some(fault);
        }
        self.poll(point.task);
    }

    /// Drops every task of `replica` where it stands: a process killed with `kill -9`.
    pub(super) fn crash(&mut self, replica: usize) {
        let doomed: Vec<TaskId> = self
            .tasks
            .iter()
            .filter(|(_, (owner, _))| *owner == replica)
            .map(|(id, _)| *id)
            .collect();
        for id in doomed {
            // Dropping the future drops its points.
            self.tasks.remove(&id);
        }
    }

    pub(super) fn is_idle(&self) -> bool {
        self.tasks.is_empty()
    }

    pub(super) fn tasks_of(&self, replica: usize) -> usize {
        self.tasks
            .values()
            .filter(|(owner, _)| *owner == replica)
            .count()
    }

    /// Tasks that are neither done nor parked at a point: waiting on something outside the
    /// simulation, which would make the run nondeterministic.
    pub(super) fn stuck_tasks(&self) -> Vec<TaskId> {
        let parked: std::collections::BTreeSet<TaskId> =
            self.parked().into_iter().map(|point| point.task).collect();
        self.tasks
            .keys()
            .filter(|id| !parked.contains(id))
            .copied()
            .collect()
    }
}
