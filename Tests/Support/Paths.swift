import Foundation

/// Where the repository's fixtures, profiles and built binaries are, seen from the tests.
public enum Paths {
    /// Tests/Support/Paths.swift → the repository root.
    public static let repository = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    public static func fixture(_ name: String) -> String { repository.appendingPathComponent("Fixtures/\(name)").path }
    public static func profile(_ name: String) -> String { repository.appendingPathComponent("profiles/\(name).yaml").path }
    public static let hostileInputs = repository.appendingPathComponent("scripts/hostile-inputs").path
    public static let checkHLS = repository.appendingPathComponent("scripts/check-hls.py").path

    /// The `reel` binary built next to the test bundle (or `$REEL_BIN`).
    public static var reel: String {
        if let bin = ProcessInfo.processInfo.environment["REEL_BIN"] { return bin }
        let testBinary = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
        var dir = testBinary.deletingLastPathComponent()
        for _ in 0..<4 {
            let candidate = dir.appendingPathComponent("reel").path
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
            dir = dir.deletingLastPathComponent()
        }
        return repository.appendingPathComponent(".build/debug/reel").path
    }

    /// A fresh temporary directory, removed by the caller.
    public static func temporaryDirectory(_ label: String) throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("reel-test-\(label)-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }
}
