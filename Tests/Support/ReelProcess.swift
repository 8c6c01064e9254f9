import Foundation

/// A `reel` subcommand running in the background (a worker, say), with its output in a log file.
public final class ReelProcess {
    public let process = Process()
    public let logURL: URL
    private let log: FileHandle

    public init(_ arguments: [String], label: String) throws {
        logURL = FileManager.default.temporaryDirectory.appendingPathComponent("reel-\(label)-\(UUID().uuidString.prefix(6)).log")
        FileManager.default.createFile(atPath: logURL.path, contents: nil)
        log = try FileHandle(forWritingTo: logURL)
        process.executableURL = URL(fileURLWithPath: Paths.reel)
        process.arguments = arguments
        process.standardOutput = log
        process.standardError = log
        process.standardInput = FileHandle.nullDevice
        try process.run()
    }

    deinit {
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        try? log.close()
        try? FileManager.default.removeItem(at: logURL)
    }

    public var pid: Int32 { process.processIdentifier }
    public var output: String { (try? String(contentsOf: logURL, encoding: .utf8)) ?? "" }

    public func signal(_ signo: Int32) { kill(process.processIdentifier, signo) }

    /// Waits for the process to exit; kills it and returns nil after `timeout`.
    public func wait(timeout: TimeInterval) async -> Int32? {
        let deadline = Date().addingTimeInterval(timeout)
        while process.isRunning && Date() < deadline { try? await Task.sleep(nanoseconds: 50_000_000) }
        if process.isRunning {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
            return nil
        }
        return process.terminationStatus
    }
}

/// Polls `condition` every 100 ms until it holds or `timeout` passes.
public func eventually(timeout: TimeInterval, _ condition: () async throws -> Bool) async rethrows -> Bool {
    let deadline = Date().addingTimeInterval(timeout)
    while Date() < deadline {
        if try await condition() { return true }
        try? await Task.sleep(nanoseconds: 100_000_000)
    }
    return try await condition()
}
