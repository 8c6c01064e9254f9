import Foundation
import Testing
import ReelTestSupport

/// Pieces of one video may be encoded by different workers on different machines: the same piece must
/// give the same bytes whatever the machine, or a re-encoded piece would not match its neighbours.
@Suite("Encoded segments do not depend on the machine", .serialized)
struct DeterminismTests {
    @Test("one CPU or all of them: byte-identical segments on every rung",
          .enabled(if: ProcessInfo.processInfo.activeProcessorCount > 1, "needs a machine with more than one CPU"))
    func sameBytesWhateverTheCores() throws {
        let root = try Paths.temporaryDirectory("determinism")
        defer { try? FileManager.default.removeItem(at: root) }
        let source = Paths.fixture("landscape.mp4")
        let oneCPU = root.appendingPathComponent("one-cpu")
        let allCPUs = root.appendingPathComponent("all-cpus")
        // x264 and FFmpeg count the CPUs they may run on through the affinity mask.
        let a = try Tool.run("taskset", ["-c", "0", Paths.reel, "transcode", source, oneCPU.path, "--profile", Paths.profile("small")])
        #expect(a.status == 0, "\(a.stderr)")
        let b = try Tool.run(Paths.reel, ["transcode", source, allCPUs.path, "--profile", Paths.profile("small")])
        #expect(b.status == 0, "\(b.stderr)")

        let rungs = ["234p", "360p", "540p"]
        for rung in rungs {
            let files = try FileManager.default.contentsOfDirectory(atPath: oneCPU.appendingPathComponent(rung).path)
                .filter { $0.hasSuffix(".m4s") || $0 == "init.mp4" }.sorted()
            #expect(files.count > 1, "\(rung): \(files)")
            #expect(try FileManager.default.contentsOfDirectory(atPath: allCPUs.appendingPathComponent(rung).path)
                .filter { $0.hasSuffix(".m4s") || $0 == "init.mp4" }.sorted() == files)
            for file in files {
                let x = try Data(contentsOf: oneCPU.appendingPathComponent("\(rung)/\(file)"))
                let y = try Data(contentsOf: allCPUs.appendingPathComponent("\(rung)/\(file)"))
                #expect(x == y, "\(rung)/\(file) differs between one CPU and \(ProcessInfo.processInfo.activeProcessorCount)")
            }
        }
    }
}
