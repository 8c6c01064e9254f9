import Synchronization

/// Where a catalog's tasks wait for news of work within one process: whatever hears that work appeared
/// (the SQLite wake file's watcher, the PostgreSQL listener) rings it, and every task waiting then wakes.
///
/// A ring while nobody waits is kept for the next wait, which then returns at once: a worker whose claim
/// found nothing, and which starts waiting just after work appeared, must not sleep through it.
final class WorkBell: Sendable {
    private struct State {
        var waiters: [UInt64: CheckedContinuation<Bool, Never>] = [:]
        var next: UInt64 = 0
        /// Rung while nobody waited.
        var pending = false
    }

    private let state = Mutex(State())

    /// Wakes every waiting task, or the next one to wait.
    func ring() {
        let woken: [CheckedContinuation<Bool, Never>] = state.withLock { state in
            if state.waiters.isEmpty {
                state.pending = true
                return []
            }
            defer { state.waiters.removeAll() }
            return Array(state.waiters.values)
        }
        for waiter in woken { waiter.resume(returning: true) }
    }

    /// True when rung (or rung since the last wait), false after `timeout` or when the task is cancelled.
    func wait(timeout: Duration) async -> Bool {
        await withTaskGroup(of: Bool.self) { group in
            group.addTask { await self.rung() }
            group.addTask {
                try? await Task.sleep(for: timeout)
                return false
            }
            let first = await group.next() ?? false
            group.cancelAll()
            return first
        }
    }

    /// Until rung (true) or cancelled (false).
    private func rung() async -> Bool {
        let id = state.withLock { state in
            state.next += 1
            return state.next
        }
        return await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                let answer: Bool? = state.withLock { state in
                    if state.pending {
                        state.pending = false
                        return true
                    }
                    // Cancelled before the continuation was registered: the handler found nothing to resume.
                    if Task.isCancelled { return false }
                    state.waiters[id] = continuation
                    return nil
                }
                if let answer { continuation.resume(returning: answer) }
            }
        } onCancel: {
            let waiter = state.withLock { $0.waiters.removeValue(forKey: id) }
            waiter?.resume(returning: false)
        }
    }
}
