import ArgumentParser
import Foundation
import Media
import Profiles
import Storage

struct TranscodeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "transcode",
        abstract: "Transcode a file into an HLS ladder: OUTDIR/master.m3u8 and everything it names.")

    @Argument(help: "The source video or audio file.") var input: String
    @Argument(help: "Output directory; replaced atomically when the ladder is complete.") var outdir: String
    @Option(help: "Profile name (looked up in the profiles directory) or a path to a .yaml file.")
    var profile = "default"
    @Flag(help: "Print the result as JSON.") var json = false

    func run() async throws {
        let ladder = try loadProfile(profile)
        let destination = URL(fileURLWithPath: outdir).standardizedFileURL
        let staging: URL
        do { staging = try AtomicDirectory.makeStaging(for: destination) } catch {
            printError("reel: cannot create the output directory: \(error)")
            throw ExitCode.failure
        }
        let bar = ProgressBar()
        var onProgress: (@Sendable (TranscodeProgress) -> Void)? = nil
        if bar.isActive { onProgress = { p in bar.show(p) } }
        let result: TranscodeResult
        do {
            result = try await Transcoder.transcode(input: input, into: staging, profile: ladder,
                                                    progress: onProgress)
            bar.clear()
            try AtomicDirectory.publish(staging, to: destination)
        } catch let error as MediaError {
            bar.clear()
            AtomicDirectory.discard(staging)
            throw fail(error)
        } catch {
            bar.clear()
            AtomicDirectory.discard(staging)
            printError("reel: \(error)")
            throw ExitCode.failure
        }
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
            print(String(decoding: try encoder.encode(result), as: UTF8.self))
        } else {
            for r in result.renditions {
                let size = r.width.map { "\($0)x\(r.height ?? 0)" } ?? "audio"
                print(String(format: "  %-6@ %-10@ %6d kb/s avg, %6d kb/s peak, %d segments",
                             r.name, size, r.averageBitrate / 1000, r.peakBitrate / 1000, r.segments))
            }
            print(destination.appendingPathComponent(result.masterPlaylist).path)
        }
    }
}

/// A one-line progress bar on standard error, shown only when it is a terminal.
final class ProgressBar: Sendable {
    let isActive = isatty(STDERR_FILENO) == 1

    func show(_ p: TranscodeProgress) {
        let width = 30
        let filled = Int(p.fraction * Double(width))
        let bar = String(repeating: "#", count: filled) + String(repeating: " ", count: width - filled)
        let line = String(format: "\r[%@] %3d%%  %d frames  %.2fx ", bar, Int(p.fraction * 100), p.frames, p.speed)
        FileHandle.standardError.write(Data(line.utf8))
    }

    func clear() {
        guard isActive else { return }
        FileHandle.standardError.write(Data(("\r" + String(repeating: " ", count: 70) + "\r").utf8))
    }
}
