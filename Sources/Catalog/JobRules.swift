import Foundation

/// Rules about jobs that every backend applies the same way.
enum JobRules {
    static func validate(_ job: NewJob) throws {
        guard job.maxAttempts >= 1 else {
            throw CatalogError.invalid("a \(job.kind.rawValue) job needs maxAttempts ≥ 1, not \(job.maxAttempts)")
        }
    }

    /// Only a job that ended without succeeding (failed, dead or cancelled) can be retried by hand.
    static func checkRetryable(_ job: JobRecord) throws {
        switch job.state {
        case .failed, .dead, .cancelled:
            return
        case .succeeded:
            throw CatalogError.invalid("job \(job.id) already succeeded; only failed, dead or cancelled jobs can be retried")
        case .waiting, .queued, .running:
            throw CatalogError.invalid("job \(job.id) is \(job.state.rawValue); only failed, dead or cancelled jobs can be retried")
        }
    }

    /// Only a job that has not ended (waiting, queued or running) can be cancelled by hand.
    static func checkCancellable(_ job: JobRecord) throws {
        switch job.state {
        case .waiting, .queued, .running:
            return
        case .succeeded, .failed, .dead, .cancelled:
            throw CatalogError.invalid("job \(job.id) is \(job.state.rawValue); only waiting, queued or running jobs can be cancelled")
        }
    }

    /// The `lastError` of a job an operator cancelled.
    static func cancelledReason(_ job: JobRecord) -> String {
        "job \(job.id) (\(job.kind.rawValue)) was cancelled by an operator"
    }

    /// Why a running job is handed out again: its worker stopped renewing the lease.
    static func reclaimedReason(_ job: JobRecord) -> String {
        "attempt \(job.attempt): the worker holding it (\(job.leaseOwner ?? "unknown")) stopped responding"
    }

    /// Why a job whose lease expired on its last allowed attempt is dead.
    static func abandonedReason(_ job: JobRecord) -> String {
        "the worker holding it stopped responding \(job.attempt) times"
    }

    /// The `lastError` of a job that gave up after its last attempt.
    static func gaveUpReason(_ job: JobRecord, error: String) -> String {
        "gave up after \(job.attempt) attempts: \(error)"
    }

    /// What a waiting ancestor records when a job it waits for ends without succeeding.
    static func ancestorReason(_ job: JobRecord, ended state: JobState) -> String {
        "job \(job.id) (\(job.kind.rawValue)) it waits for ended \(state.rawValue)"
    }
}

extension APIKeyRecord {
    /// A short public id for a new key (the secret is separate and only its hash is stored).
    static func newId() -> String { String(UUID().uuidString.lowercased().prefix(8)) }
}

extension VideoRecord {
    /// A completing job's changes. A failed video stays failed (only a retry revives it); `ready` stamps
    /// `readyAt` (and `playableAt` if still unset) and sets progress to 1; published segments only rise.
    mutating func apply(_ update: VideoUpdate, now: Date) {
        if let state = update.state, !(self.state == .failed && state != .failed) {
            self.state = state
            if state == .ready {
                readyAt = readyAt ?? now
                playableAt = playableAt ?? now
                progress = 1
            }
        }
        if let probe = update.probeJSON { probeJSON = probe }
        if let duration = update.durationSeconds { durationSeconds = duration }
        if let segments = update.publishedSegments { publishedSegments = max(publishedSegments, segments) }
        if update.markPlayable { playableAt = playableAt ?? now }
        if let error = update.error { self.error = error }
        updatedAt = now
    }
}
