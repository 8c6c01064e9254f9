import ArgumentParser
import Foundation
import Profiles

struct ProfilesCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "profiles", abstract: "Work with rendition profiles.", subcommands: [Check.self])

    struct Check: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Validate profiles; prints file:line:column for every problem.")

        @Argument(help: "Profile files to check (default: every profile in the profiles directory).")
        var files: [String] = []

        func run() throws {
            var targets = files
            if targets.isEmpty {
                guard let dir = ProfileLoader.defaultProfilesDirectory() else {
                    printError("reel: no profiles directory found (set REEL_PROFILES_DIR)")
                    throw ExitCode.failure
                }
                targets = ProfileLoader.availableProfiles(in: dir).map { "\(dir)/\($0).yaml" }
            }
            var failed = false
            for path in targets {
                do {
                    let profile = try ProfileLoader.load(path: path)
                    print("\(path): ok (\(profile.rungs.count) rungs: \(profile.rungs.map(\.name).joined(separator: ", ")))")
                } catch {
                    failed = true
                    printError("\(error)")
                }
            }
            if failed { throw ExitCode.failure }
        }
    }
}
