import Foundation
import Testing
@testable import Webhooks

/// The sender against a real receiver on 127.0.0.1 (loopback allowed, as an operator would for a local
/// receiver). The timeout is 1 s only so that the test of a silent receiver ends soon.
@Suite struct WebhookSenderTests {
    static let options = WebhookSender.Options(policy: WebhookAddressPolicy(allowLoopback: true),
                                               connectTimeout: .seconds(1), timeout: .seconds(1))
    let body = Array(#"{"event":"video.ready","video":{"id":"v1"}}"#.utf8)
    let secret = "whsec_sendertest"

    func delivery(to receiver: LoopbackReceiver, path: String = "/hook", host: String = "127.0.0.1") throws -> WebhookDelivery {
        WebhookDelivery(id: "dlv_1", event: "video.ready",
                        destination: try WebhookDestination("http://\(host):\(receiver.port)\(path)"),
                        body: body, secret: secret)
    }

    @Test func deliversWithHeadersAndAVerifiableSignature() async throws {
        let receiver = try LoopbackReceiver { _ in .answer(status: 200, body: "thanks") }
        defer { receiver.stop() }
        let outcome = try await WebhookSender.withSender(options: Self.options) { sender in
            await sender.send(try delivery(to: receiver, path: "/hook?x=1"))
        }
        guard case .delivered(let status, _, let response) = outcome else {
            Issue.record("not delivered: \(outcome)")
            return
        }
        #expect(status == 200 && response == "thanks")
        let request = try #require(receiver.requests.first)
        #expect(receiver.requests.count == 1)
        #expect(request.method == "POST" && request.target == "/hook?x=1")
        #expect(request.headers["host"] == "127.0.0.1:\(receiver.port)")
        #expect(request.headers["content-type"] == "application/json")
        #expect(request.headers["user-agent"] == "Reel-Webhooks/1")
        #expect(request.headers["reel-event"] == "video.ready")
        #expect(request.headers["reel-delivery"] == "dlv_1")
        #expect(request.body == body)
        let signature = try #require(request.headers["reel-signature"])
        try WebhookSignature.verify(header: signature, body: request.body, secret: secret)
    }

    @Test func serverErrorsAreRetryable() async throws {
        let receiver = try LoopbackReceiver { _ in .answer(status: 500, body: "boom") }
        defer { receiver.stop() }
        let outcome = try await WebhookSender.withSender(options: Self.options) { await $0.send(try delivery(to: receiver)) }
        guard case .failed(let failure) = outcome else { Issue.record("\(outcome)"); return }
        #expect(failure.kind == .status(500) && failure.retryable && failure.response == "boom")
        #expect(failure.message == "the receiver answered 500 Internal Server Error")
    }

    @Test func clientErrorsAreReportedAndStillRetried() async throws {
        let receiver = try LoopbackReceiver { index in .answer(status: index == 0 ? 404 : 429) }
        defer { receiver.stop() }
        let (first, second) = try await WebhookSender.withSender(options: Self.options) { sender in
            (await sender.send(try delivery(to: receiver)), await sender.send(try delivery(to: receiver)))
        }
        guard case .failed(let notFound) = first, case .failed(let tooMany) = second else {
            Issue.record("\(first) \(second)"); return
        }
        #expect(notFound.status == 404 && notFound.retryable && notFound.message.contains("retried in case the receiver is fixed"))
        #expect(tooMany.status == 429 && tooMany.retryable)
    }

    @Test func aReceiverThatFailsTwiceGetsTheThirdAttempt() async throws {
        let receiver = try LoopbackReceiver { index in index < 2 ? .answer(status: 503) : .answer(status: 204) }
        defer { receiver.stop() }
        let outcomes = try await WebhookSender.withSender(options: Self.options) { sender in
            var outcomes: [WebhookOutcome] = []
            for _ in 0..<3 { outcomes.append(await sender.send(try delivery(to: receiver))) }
            return outcomes
        }
        #expect(outcomes.map(\.isDelivered) == [false, false, true])
        #expect(receiver.requests.map { $0.headers["reel-delivery"] } == ["dlv_1", "dlv_1", "dlv_1"])
    }

    @Test func goneIsReportedDistinctly() async throws {
        let receiver = try LoopbackReceiver { _ in .answer(status: 410, body: "unsubscribed") }
        defer { receiver.stop() }
        let outcome = try await WebhookSender.withSender(options: Self.options) { await $0.send(try delivery(to: receiver)) }
        guard case .gone(_, let response) = outcome else { Issue.record("\(outcome)"); return }
        #expect(response == "unsubscribed")
    }

    @Test func aSilentReceiverTimesOut() async throws {
        let receiver = try LoopbackReceiver { _ in .silent }
        defer { receiver.stop() }
        let outcome = try await WebhookSender.withSender(options: Self.options) { await $0.send(try delivery(to: receiver)) }
        guard case .failed(let failure) = outcome else { Issue.record("\(outcome)"); return }
        #expect(failure.kind == .timeout && failure.retryable)
        #expect(receiver.requests.count == 1)
    }

    @Test func redirectsAreNotFollowed() async throws {
        let target = try LoopbackReceiver { _ in .answer(status: 200) }
        defer { target.stop() }
        let location = "http://127.0.0.1:\(target.port)/internal"
        let receiver = try LoopbackReceiver { _ in .answer(status: 302, headers: ["Location": location]) }
        defer { receiver.stop() }
        let outcome = try await WebhookSender.withSender(options: Self.options) { await $0.send(try delivery(to: receiver)) }
        guard case .failed(let failure) = outcome else { Issue.record("\(outcome)"); return }
        #expect(failure.kind == .redirect(302, location: location) && failure.retryable)
        #expect(failure.message.contains("redirects are not followed"))
        #expect(target.requests.isEmpty)
    }

    @Test func aHugeAnswerIsNotReadWhole() async throws {
        let total = 256 * 1024 * 1024
        let receiver = try LoopbackReceiver { _ in .huge(bytes: total) }
        defer { receiver.stop() }
        let options = WebhookSender.Options(policy: WebhookAddressPolicy(allowLoopback: true), timeout: .seconds(30))
        let outcome = try await WebhookSender.withSender(options: options) { await $0.send(try delivery(to: receiver)) }
        guard case .delivered(200, _, let response) = outcome else { Issue.record("\(outcome)"); return }
        #expect(response.utf8.count == 4096)
        // The receiver stops when the connection closes, long before the whole body is out.
        for _ in 0..<500 where receiver.bodyBytesWritten == 0 { try await Task.sleep(for: .milliseconds(10)) }
        #expect(receiver.bodyBytesWritten < total)
    }

    @Test func loopbackByNameIsRefusedUnlessAllowed() async throws {
        let receiver = try LoopbackReceiver { _ in .answer(status: 200) }
        defer { receiver.stop() }
        let refused = try await WebhookSender.withSender(options: .init(connectTimeout: .seconds(1), timeout: .seconds(1))) {
            await $0.send(try delivery(to: receiver, host: "localhost"))
        }
        guard case .failed(let failure) = refused, case .refused(let refusal) = failure.kind else {
            Issue.record("\(refused)"); return
        }
        #expect(!failure.retryable && refusal.scope == .loopback)
        #expect(failure.message.hasPrefix("webhooks may not reach ") && failure.message.contains("(localhost resolves to it) (loopback)"))
        #expect(receiver.requests.isEmpty)

        let allowed = try await WebhookSender.withSender(options: Self.options) {
            await $0.send(try delivery(to: receiver, host: "localhost"))
        }
        // localhost may resolve to ::1 first, where this receiver does not listen: then a connection failure.
        if !allowed.isDelivered {
            guard case .failed(let other) = allowed else { Issue.record("\(allowed)"); return }
            #expect(other.kind == .connection)
        } else {
            #expect(receiver.requests.first?.headers["host"] == "localhost:\(receiver.port)")
        }
    }

    @Test func oddNumericFormsAreResolvedAndChecked() async throws {
        // getaddrinfo reads 2130706433 as 127.0.0.1; the check must see what the connection would reach.
        let outcome = try await WebhookSender.withSender(options: .init(connectTimeout: .seconds(1), timeout: .seconds(1))) {
            await $0.send(WebhookDelivery(id: "d", event: "video.ready", destination: try WebhookDestination("http://2130706433:9/"),
                                          body: [], secret: "s"))
        }
        guard case .failed(let failure) = outcome, case .refused(let refusal) = failure.kind else { Issue.record("\(outcome)"); return }
        #expect(refusal.address == IPAddress("127.0.0.1"))
    }

    @Test func aSlowReceiverDoesNotHoldUpOthers() async throws {
        let gate = LoopbackReceiver.Gate()
        let slow = try LoopbackReceiver { _ in .gated(gate) }
        defer { slow.stop() }
        let fast = try LoopbackReceiver { _ in .answer(status: 200) }
        defer { fast.stop() }
        let options = WebhookSender.Options(policy: WebhookAddressPolicy(allowLoopback: true), timeout: .seconds(60))
        try await WebhookSender.withSender(options: options) { sender in
            let slowDelivery = try delivery(to: slow)
            let pending = Task { await sender.send(slowDelivery) }
            for _ in 0..<500 where slow.requests.isEmpty { try await Task.sleep(for: .milliseconds(10)) }
            #expect(slow.requests.count == 1)
            // The slow receiver is still holding its answer; the other delivery goes through meanwhile.
            let other = await sender.send(try delivery(to: fast))
            #expect(other.isDelivered)
            gate.release()
            #expect(await pending.value.isDelivered)
        }
    }
}
