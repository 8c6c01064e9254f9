import ArgumentParser
import Foundation
import Profiles

struct ProfilesCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "profiles", abstract: "Work with rendition profiles.", subcommands: [Check.self])

    struct Check: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Validate profiles; prints file:line:column for every problem.")

        @Argument(help: "Profile files or a devices.yaml to check (default: the profiles directory's profiles and devices.yaml).")
        var files: [String] = []

        func run() throws {
            var targets = files
            if targets.isEmpty {
                guard let dir = ProfileLoader.defaultProfilesDirectory() else {
                    printError("reel: no profiles directory found (set REEL_PROFILES_DIR)")
                    throw ExitCode.failure
                }
                // devices.yaml sits next to the profiles but is not a ladder.
                let deviceRules = "\(dir)/\(DeviceRules.fileName)"
                targets = ProfileLoader.availableProfiles(in: dir)
                    .map { "\(dir)/\($0).yaml" }
                    .filter { $0 != deviceRules }
                if FileManager.default.fileExists(atPath: deviceRules) { targets.append(deviceRules) }
            }
            var failed = false
            for path in targets {
                do {
                    if URL(fileURLWithPath: path).lastPathComponent == DeviceRules.fileName {
                        print("\(path): ok (\(summary(try DeviceRules.load(from: URL(fileURLWithPath: path)))))")
                    } else {
                        let profile = try ProfileLoader.load(path: path)
                        print("\(path): ok (\(profile.rungs.count) rungs: \(profile.rungs.map(\.name).joined(separator: ", ")))")
                    }
                } catch {
                    failed = true
                    printError("\(error)")
                }
            }
            if failed { throw ExitCode.failure }
        }

        /// "4 device classes, first match wins: tv, phone, tablet, desktop; Save-Data: at most 360p, 800k"
        private func summary(_ rules: DeviceRules) -> String {
            var text = "\(rules.classes.count) device classes, first match wins: "
                + (rules.classes.isEmpty ? "none" : rules.classes.map(\.name).joined(separator: ", "))
            if let saveData = rules.saveData {
                let caps = [saveData.maxHeight.map { "\($0)p" }, saveData.maxBandwidth.map(Bitrate.format)].compactMap { $0 }
                text += "; Save-Data: " + (caps.isEmpty ? "lowest variant first" : "at most \(caps.joined(separator: ", "))")
            }
            return text
        }
    }
}
