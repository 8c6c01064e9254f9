import Testing
@testable import Webhooks

@Suite struct WebhookBackoffTests {
    @Test func defaultScheduleWithoutJitter() {
        let waits = WebhookBackoff().schedule()
        let minutes = 60, hours = 3600
        #expect(waits == [30, 1 * minutes, 2 * minutes, 4 * minutes, 8 * minutes, 16 * minutes, 32 * minutes, 64 * minutes]
            .map { Duration.seconds($0) } + Array(repeating: .seconds(2 * hours), count: 10))
        // 19 attempts in all (the first and 18 retries), the last 22 h 7 min 30 s after the first.
        #expect(waits.count + 1 == 19)
        #expect(waits.reduce(.zero, +) == .seconds(22 * hours + 7 * minutes + 30))
    }

    @Test func jitterOnlyShortensAndTheDayStillBounds() {
        let backoff = WebhookBackoff()
        let plain = backoff.schedule()
        let jittered = backoff.schedule(random: { 0.999 })
        #expect(jittered.count > plain.count)
        #expect(jittered.reduce(.zero, +) <= .seconds(24 * 3600))
        for (index, wait) in jittered.enumerated() {
            let full = min(Duration.seconds(30) * (1 << min(index, 20)), .seconds(7200))
            #expect(wait <= full && wait >= full * 0.8)
        }
    }

    @Test func givesUpPastTheSpan() {
        let backoff = WebhookBackoff()
        #expect(backoff.delay(beforeRetry: 1, elapsed: .seconds(86_390), random: 0) == nil)
        #expect(backoff.delay(beforeRetry: 1, elapsed: .seconds(86_370), random: 0) == .seconds(30))
        #expect(backoff.delay(beforeRetry: 200, elapsed: .zero, random: 0) == .seconds(7200))
        #expect(WebhookBackoff(base: .seconds(1), cap: .seconds(4), span: .seconds(10), jitter: 0).schedule()
                == [.seconds(1), .seconds(2), .seconds(4)])
    }
}
