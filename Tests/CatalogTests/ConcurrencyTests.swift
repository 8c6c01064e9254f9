import Foundation
import Logging
import Testing
@testable import Catalog

/// Every claim any worker made, for checking afterwards.
actor ClaimLog {
    struct Entry { let owner: String; let claimedAt: Date; let lease: Lease }
    private(set) var entries: [Int64: [Entry]] = [:]
    private(set) var completions: [Int64: Int] = [:]

    func claimed(_ claim: ClaimedJob) {
        entries[claim.job.id, default: []].append(Entry(owner: claim.lease.owner, claimedAt: claim.job.updatedAt, lease: claim.lease))
    }

    func completed(_ id: Int64) { completions[id, default: 0] += 1 }
}

@Suite("Many workers, one database")
struct ConcurrencyTests {
    /// `instances` catalogs on one database (as separate processes would have), `workers` tasks spread
    /// over them, each looping claim → complete until the queue is empty.
    private func drain(_ backend: Backend, jobs total: Int, workers: Int, instances: Int, rollbackJournal: Bool = false) async throws {
        let fixture = try await CatalogFixture.make(backend, forceRollbackJournal: rollbackJournal, realTime: true)
        let catalogs = try await fixture.instances(instances)
        if backend == .sqlite { #expect(try fixture.sqlite.journalMode == (rollbackJournal ? "delete" : "wal")) }

        // 20 videos × 10 chunks, mixed priorities.
        let perVideo = 10
        for v in 0..<(total / perVideo) {
            _ = try await catalogs[v % instances].createVideo(
                NewVideo(title: "v\(v)", originalPath: "originals/v\(v)", sizeBytes: 1),
                jobs: (0..<perVideo).map { NewJob(kind: .videoChunk, priority: $0 % 3, payload: #"{"i":\#($0)}"#) })
        }

        let log = ClaimLog()
        let started = Date()
        try await withThrowingTaskGroup(of: Int.self) { group in
            for w in 0..<workers {
                let catalog = catalogs[w % instances]
                group.addTask {
                    var done = 0
                    while let claim = try await catalog.claim(owner: "worker-\(w)", leaseDuration: 30, kinds: nil) {
                        await log.claimed(claim)
                        if done % 3 == 0 {
                            _ = try await catalog.heartbeat(claim.lease, leaseDuration: 30, progress: 0.5)
                        }
                        try await catalog.complete(claim.lease, outcome: JobOutcome())
                        await log.completed(claim.job.id)
                        done += 1
                    }
                    return done
                }
            }
            var perWorker: [Int] = []
            for try await done in group { perWorker.append(done) }
            #expect(perWorker.reduce(0, +) == total)
            #expect(perWorker.filter { $0 > 0 }.count > 1, "the work was shared: \(perWorker)")
        }
        let elapsed = Date().timeIntervalSince(started)
        print("drained \(total) jobs with \(workers) workers over \(instances) instances (\(backend)\(rollbackJournal ? ", rollback journal" : "")) in \(String(format: "%.2f", elapsed)) s")

        let entries = await log.entries
        let completions = await log.completions
        #expect(entries.count == total)
        #expect(entries.values.allSatisfy { $0.count == 1 }, "no job was claimed twice")
        #expect(completions.count == total && completions.values.allSatisfy { $0 == 1 })
        let depth = try await catalogs[1 % instances].queueDepth()
        #expect(depth[.succeeded] == total)
        #expect(depth.filter { $0.key != .succeeded }.values.allSatisfy { $0 == 0 })
        let jobs = try await catalogs[0].jobs(videoId: nil, states: nil, limit: total + 10)
        #expect(jobs.allSatisfy { $0.attempt == 1 && $0.state == .succeeded })
    }

    @Test(arguments: Backend.available) func eightWorkersDrainTwoHundredJobsOnceEach(_ backend: Backend) async throws {
        try await drain(backend, jobs: 200, workers: 8, instances: 4)
    }

    @Test func eightWorkersDrainTwoHundredJobsOnceEachWithARollbackJournal() async throws {
        try await drain(.sqlite, jobs: 200, workers: 8, instances: 4, rollbackJournal: true)
    }

    /// Workers that die holding jobs: their jobs come back after the lease expires, are never claimed
    /// twice while a lease is valid, and every job still succeeds exactly once.
    @Test(arguments: Backend.available) func jobsOfDeadWorkersAreReclaimedAfterTheirLease(_ backend: Backend) async throws {
        let fixture = try await CatalogFixture.make(backend, realTime: true)
        let catalogs = try await fixture.instances(3)
        let total = 60
        for v in 0..<6 {
            _ = try await catalogs[0].createVideo(NewVideo(title: "v\(v)", originalPath: "o", sizeBytes: 1),
                                                  jobs: (0..<10).map { _ in NewJob(kind: .videoChunk, maxAttempts: 3) })
        }
        let log = ClaimLog()
        // The crashed workers held short leases (long enough that the ten claims below finish before the
        // first one expires, even on a machine starved by the process-heavy suites running beside this
        // one: 10 s was seen to be too short); the healthy ones take long leases so that a slow machine
        // cannot make them lose theirs.
        let lease: TimeInterval = 20

        // Two workers "crash": each claims 5 jobs and walks away.
        for crashed in 0..<2 {
            for _ in 0..<5 {
                let claim = try #require(try await catalogs[crashed].claim(owner: "crashed-\(crashed)", leaseDuration: lease, kinds: nil))
                await log.claimed(claim)
            }
        }
        try await withThrowingTaskGroup(of: Void.self) { group in
            for w in 0..<6 {
                let catalog = catalogs[w % 3]
                group.addTask {
                    while true {
                        if let claim = try await catalog.claim(owner: "worker-\(w)", leaseDuration: 120, kinds: nil) {
                            await log.claimed(claim)
                            try await catalog.complete(claim.lease, outcome: JobOutcome())
                            await log.completed(claim.job.id)
                        } else if try await catalog.queueDepth()[.succeeded] == total {
                            return
                        } else {
                            try await Task.sleep(for: .milliseconds(20))
                        }
                    }
                }
            }
            try await group.waitForAll()
        }

        let entries = await log.entries
        let completions = await log.completions
        #expect(completions.count == total && completions.values.allSatisfy { $0 == 1 }, "each job succeeded once")
        let reclaimed = entries.values.filter { $0.count > 1 }
        #expect(reclaimed.count == 10, "the crashed workers' jobs")
        for claims in entries.values where claims.count > 1 {
            for (earlier, later) in zip(claims, claims.dropFirst()) {
                #expect(later.claimedAt > earlier.lease.expiresAt, "claimed again only after the lease expired")
                #expect(later.lease.attempt == earlier.lease.attempt + 1)
            }
        }
        let jobs = try await catalogs[2].jobs(videoId: nil, states: nil, limit: 100)
        #expect(jobs.allSatisfy { $0.state == .succeeded })
        #expect(jobs.filter { $0.attempt == 2 }.count == 10)
        #expect(jobs.filter { $0.attempt == 2 }.allSatisfy { $0.lastError?.contains("crashed-") == true })
    }
}
