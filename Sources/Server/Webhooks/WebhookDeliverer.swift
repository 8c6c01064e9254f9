import Catalog
import Foundation
import Logging
import ServiceLifecycle
import Storage
import Synchronization
import Webhooks

/// Sends the deliveries the catalog holds (issue 13). Every `reel serve` runs one; they share the work
/// through leases, so a delivery survives a restart or a host going away (its lease runs out and another
/// host's deliverer takes it). Up to `concurrency` deliveries are in flight at once, each bounded by the
/// sender's timeouts, so a slow receiver holds one slot, not the others. The catalog hands out a video's
/// deliveries to an endpoint one at a time, oldest first.
struct WebhookDeliverer: Service {
    struct Settings: Sendable {
        var sender: WebhookSender.Options
        var backoff: WebhookBackoff
        var concurrency = 8
        var poll: Duration = .seconds(1)
        /// Longer than the sender's timeout plus a margin, so a running attempt is never taken over.
        var lease: TimeInterval
    }

    let catalog: any Catalog
    let settings: Settings
    let logger: Logger
    let owner = "\(NodeName.current):\(getpid()):webhooks"

    func run() async throws {
        let sender = WebhookSender(options: settings.sender)
        let inFlight = InFlight()
        await cancelWhenGracefulShutdown {
            await withDiscardingTaskGroup { group in
                while !Task.isCancelled {
                    let free = settings.concurrency - inFlight.count
                    var claimed: [ClaimedDelivery] = []
                    if free > 0 {
                        do {
                            claimed = try await catalog.claimDeliveries(owner: owner, leaseDuration: settings.lease, limit: free)
                        } catch {
                            logger.warning("webhooks: cannot claim deliveries: \(error)")
                        }
                    }
                    for item in claimed {
                        inFlight.add(1)
                        group.addTask {
                            await deliver(item, sender: sender)
                            inFlight.add(-1)
                        }
                    }
                    if claimed.isEmpty { try? await Task.sleep(for: settings.poll) }
                }
            }
        }
        try? await sender.shutdown()
    }

    func deliver(_ item: ClaimedDelivery, sender: WebhookSender) async {
        let delivery = item.delivery
        let outcome: DeliveryOutcome
        do {
            let destination = try WebhookDestination(item.webhook.url)
            let attempt = WebhookDelivery(id: "\(delivery.id)", event: delivery.event.rawValue, destination: destination,
                                          body: Array(delivery.payload.utf8), secret: item.webhook.secret)
            outcome = decide(await sender.send(attempt), delivery: delivery)
        } catch {
            outcome = .failed(status: nil, error: "the endpoint's URL is not usable: \(error)")
        }
        do {
            if try await !catalog.finishDelivery(id: delivery.id, owner: owner, outcome: outcome) {
                logger.notice("webhook delivery \(delivery.id): the lease ran out before the attempt ended; another sender has it")
            }
        } catch {
            logger.warning("webhook delivery \(delivery.id): could not record the attempt: \(error)")
        }
    }

    /// The sender's answer as the catalog records it: delivered, tried again after the backoff, or failed.
    func decide(_ outcome: WebhookOutcome, delivery: DeliveryRecord, now: Date = Date()) -> DeliveryOutcome {
        switch outcome {
        case .delivered(let status, _, _):
            return .delivered(status: status)
        case .gone:
            return .failed(status: 410, error: "the receiver answered 410 Gone")
        case .failed(let failure):
            guard failure.retryable else { return .failed(status: failure.status, error: failure.message) }
            let elapsed = Duration.seconds(now.timeIntervalSince(delivery.createdAt))
            guard let wait = settings.backoff.delay(beforeRetry: delivery.attempts, elapsed: elapsed,
                                                     random: Double.random(in: 0..<1)) else {
                return .failed(status: failure.status, error: "gave up after \(delivery.attempts) attempts: \(failure.message)")
            }
            let seconds = Double(wait.components.seconds) + Double(wait.components.attoseconds) / 1e18
            return .retry(at: now.addingTimeInterval(seconds), status: failure.status, error: failure.message)
        }
    }
}

/// Deliveries being sent right now by this deliverer (the free slots are what it claims).
final class InFlight: Sendable {
    private let value = Mutex(0)
    var count: Int { value.withLock { $0 } }
    func add(_ n: Int) { value.withLock { $0 += n } }
}
