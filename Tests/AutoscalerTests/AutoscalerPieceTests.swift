import Catalog
import Foundation
import Testing
@testable import Autoscaler

@Suite("Autoscaler pieces")
struct AutoscalerPieceTests {
    @Test func procStatLines() throws {
        let reading = try CPUSampler.parse("cpu  100 5 50 800 20 3 2 0 0 0")
        #expect(reading.total == 980)
        #expect(reading.busy == 160)  // idle 800 and iowait 20 are not busy
        let later = try CPUSampler.parse("cpu  200 5 100 850 20 3 2 0 0 0")
        #expect(CPUSampler.utilisation(from: reading, to: later) == 75)  // 150 busy of 200
        #expect(CPUSampler.utilisation(from: reading, to: reading) == nil)
        #expect(throws: CPUSamplerError.self) { try CPUSampler.parse("intr 12345") }
        // The real file parses and moves forward.
        let sampler = CPUSampler()
        let a = try sampler.read()
        #expect(a.total > 0)
    }

    @Test func windowAveragesOnlyOnceItSpansHalfItsLength() {
        var window = CPUWindow(length: 10)
        window.add(100, at: 0)
        #expect(window.average(at: 0) == nil)
        window.add(50, at: 5)
        #expect(window.average(at: 5) == 75)
        window.add(0, at: 16)  // the first two samples fall out of the window
        #expect(window.average(at: 16) == nil)
        window.add(20, at: 21)
        #expect(window.average(at: 21) == 10)
    }

    @Test func systemdShowOutput() {
        let output = """
            Id=reel-worker@1.service
            ActiveState=active
            MainPID=4242
            ActiveEnterTimestampMonotonic=90000000

            Id=reel-worker@2.service
            ActiveState=inactive
            MainPID=0
            ActiveEnterTimestampMonotonic=0

            Id=reel-worker@3.service
            ActiveState=activating
            MainPID=0
            ActiveEnterTimestampMonotonic=95000000
            """
        let now = Date(timeIntervalSince1970: 1_000_000)
        let workers = SystemdDriver.parseShow(output, now: now, uptime: 100)
        #expect(workers.map(\.id) == ["reel-worker@1.service", "reel-worker@3.service"])
        #expect(workers[0].pid == 4242 && workers[1].pid == nil)
        #expect(workers[0].started == now.addingTimeInterval(-10))
        #expect(SystemdDriver.failedUnits(output + "\n\nId=reel-worker@4.service\nActiveState=failed\nMainPID=0") == ["reel-worker@4.service"])
    }

    @Test func leaseOwnersOnThisHost() {
        let owners = ["vm:100:abcd", "other:200:abcd", "vm:x:y", "vm:300:ef01", "vm"]
        #expect(Autoscaler.pidsOnThisHost(owners: owners, host: "vm") == [100, 300])
    }
}
