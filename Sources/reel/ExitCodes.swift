import ArgumentParser
import Foundation
import Media

/// Exit statuses a script can act on: 65 (EX_DATAERR) means "this input will never work".
enum ExitStatus {
    static let badInput: Int32 = 65
    static let failure: Int32 = 1
}

/// Prints a media error the way a person wants to read it and picks the exit status.
func fail(_ error: MediaError) -> ExitCode {
    printError("reel: \(error.description)")
    return ExitCode(error.isPermanent ? ExitStatus.badInput : ExitStatus.failure)
}

func printError(_ text: String) {
    FileHandle.standardError.write(Data((text + "\n").utf8))
}
