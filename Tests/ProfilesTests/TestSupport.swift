import Foundation
@testable import Profiles

/// The repository's profiles/ directory, found from this file's path (Tests/ProfilesTests/…).
let profilesDirectory: String = URL(fileURLWithPath: #filePath)
    .deletingLastPathComponent()
    .deletingLastPathComponent()
    .deletingLastPathComponent()
    .appendingPathComponent("profiles")
    .path

func loadShipped(_ name: String) throws -> Profile {
    try ProfileLoader.load(path: "\(profilesDirectory)/\(name).yaml")
}

/// The issues `parse` reports for a YAML text (empty if it parses).
func issues(_ yaml: String, file: String = "test.yaml") -> [ProfileIssue] {
    do {
        _ = try ProfileLoader.parse(yaml: yaml, file: file)
        return []
    } catch {
        return error.issues
    }
}

/// A small valid profile to break in one place per test.
let validYAML = """
    segment_duration: 6
    keyframe_interval: 2
    rungs:
      - name: 360p
        height: 360
        bitrate: 365k
        level: "3.1"
      - name: 720p
        height: 720
        bitrate: 3M
        level: "3.2"
    """
