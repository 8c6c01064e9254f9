import Foundation
import Logging
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// How the processes of one SQLite catalog tell each other that work appeared: every write that makes a
/// job runnable rewrites `<database>-wake` once it has committed, and a process waiting for work watches
/// that file with inotify, on a thread of its own that blocks in `poll` (never on Swift's cooperative
/// pool). Every process watching the file wakes. Where inotify cannot be set up (not Linux, or the user's
/// inotify instances are all taken — 128 by default, and browsers hold many), a wait ends after at most
/// `fallbackWait` and the next one tries again, so new work is found within seconds whatever the poll.
final class WakeFile: Sendable {
    /// `<database>-wake`, created when first needed.
    let path: String
    private let bell = WorkBell()
    private let logger: Logger
    private let watch = Mutex<Watch>(.idle)

    private enum Watch {
        /// Nobody in this process waited yet.
        case idle
        /// The watching thread runs until this descriptor (the write end of its stop pipe) is closed.
        case watching(stop: Int32)
        /// inotify could not be set up; waits end within `fallbackWait`, and the first one after `retry`
        /// tries again.
        case unavailable(retry: ContinuousClock.Instant)
    }

    /// The longest wait while inotify is unavailable, and how often setting it up is tried again.
    static let fallbackWait = Duration.seconds(5)

    init(databasePath: String, logger: Logger) {
        path = databasePath + "-wake"
        self.logger = logger
    }

    deinit {
        if case let .watching(stop) = watch.withLock({ $0 }) { _ = close(stop) }
    }

    /// Tells every watching process that work appeared (on GRDB's writer queue, after a commit). A failure
    /// costs only time: waiting workers find the work at their next poll.
    func ring() {
        let fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0o666)
        guard fd >= 0 else {
            logger.debug("catalog wake file \(path): \(String(cString: strerror(errno))); waiting workers will poll")
            return
        }
        var byte: UInt8 = 0x2a
        _ = pwrite(fd, &byte, 1, 0)
        _ = close(fd)  // IN_CLOSE_WRITE for every watcher
    }

    /// True when work was announced (see `Catalog.waitForWork`). The first wait of a process starts
    /// watching and returns as soon as it watches.
    func wait(timeout: Duration) async -> Bool {
        let watching = startWatching()
        return await bell.wait(timeout: watching ? timeout : min(timeout, Self.fallbackWait))
    }

    /// Starts the watching thread if it is not running yet; false while inotify is unavailable.
    private func startWatching() -> Bool {
        #if canImport(Glibc)
        let (watching, started): (Bool, Bool) = watch.withLock { watch in
            switch watch {
            case .watching: return (true, false)
            case .unavailable(let retry) where ContinuousClock.now < retry: return (false, false)
            case .idle, .unavailable: break
            }
            let firstTry = if case .idle = watch { true } else { false }
            let inotify = inotify_init1(Int32(IN_NONBLOCK | IN_CLOEXEC))
            var pipeEnds: [Int32] = [-1, -1]
            guard inotify >= 0, pipe(&pipeEnds) == 0 else {
                let reason = String(cString: strerror(errno))
                if inotify >= 0 { _ = close(inotify) }
                if firstTry {
                    logger.warning("catalog wake file \(path): inotify unavailable (\(reason)); idle workers look for new work every \(Self.fallbackWait) until it is")
                }
                watch = .unavailable(retry: .now + Self.fallbackWait)
                return (false, false)
            }
            for end in pipeEnds { _ = fcntl(end, F_SETFD, FD_CLOEXEC) }
            // Watched before the thread starts, so that the ring below comes after the watch is in place.
            let watched = Self.addWatch(inotify, path, logger)
            let (path, bell, logger, stop) = (self.path, self.bell, self.logger, pipeEnds[0])
            let thread = Thread {
                Self.watchLoop(inotify: inotify, watched: watched, stop: stop, path: path, bell: bell, logger: logger)
            }
            thread.name = "reel catalog wake file"
            thread.start()
            if !firstTry { logger.info("catalog wake file \(path): inotify available again") }
            watch = .watching(stop: pipeEnds[1])
            return (true, watched >= 0)
        }
        // Work may have appeared before the watch was in place: the caller should look once more. (If the
        // file could not be watched yet, the thread rings once it can.)
        if started { bell.ring() }
        return watching
        #else
        return false
        #endif
    }

    #if canImport(Glibc)
    private static let mask = UInt32(IN_CLOSE_WRITE | IN_ATTRIB | IN_DELETE_SELF | IN_MOVE_SELF)
    private static let lost = UInt32(IN_DELETE_SELF | IN_MOVE_SELF | IN_IGNORED)

    /// Watches `path` (the file, not its directory, whose WAL changes all the time) until `stop` closes.
    /// If the file goes away it is made again and watched anew, and the bell rings (a ring may have been
    /// missed meanwhile); while that fails, it is tried again every few seconds.
    private static func watchLoop(inotify: Int32, watched: Int32, stop: Int32, path: String, bell: WorkBell, logger: Logger) {
        defer {
            _ = close(inotify)
            _ = close(stop)
        }
        var watched = watched
        let eventSize = MemoryLayout<inotify_event>.size
        var buffer = [UInt8](repeating: 0, count: 64 * eventSize)
        while true {
            var fds = [pollfd(fd: inotify, events: Int16(POLLIN), revents: 0),
                       pollfd(fd: stop, events: Int16(POLLIN), revents: 0)]
            let ready = poll(&fds, 2, watched >= 0 ? -1 : 5000)
            if ready < 0 {
                if errno == EINTR { continue }
                logger.warning("catalog wake file \(path): poll failed (\(String(cString: strerror(errno)))); idle workers poll for new work instead")
                return
            }
            if fds[1].revents != 0 { return }  // the catalog is gone
            if watched < 0 {
                watched = addWatch(inotify, path, logger)
                if watched >= 0 { bell.ring() }
                continue
            }
            guard fds[0].revents & Int16(POLLIN) != 0 else { continue }
            let count = read(inotify, &buffer, buffer.count)
            guard count > 0 else { continue }
            var offset = 0
            var replaced = false
            buffer.withUnsafeBytes { bytes in
                while offset + eventSize <= count {
                    let descriptor = bytes.loadUnaligned(fromByteOffset: offset, as: Int32.self)
                    let events = bytes.loadUnaligned(fromByteOffset: offset + 4, as: UInt32.self)
                    let nameLength = bytes.loadUnaligned(fromByteOffset: offset + 12, as: UInt32.self)
                    if descriptor == watched && events & lost != 0 { replaced = true }
                    offset += eventSize + Int(nameLength)
                }
            }
            if replaced {
                _ = inotify_rm_watch(inotify, watched)
                watched = addWatch(inotify, path, logger)
            }
            bell.ring()
        }
    }

    /// Creates the file if needed and watches it; the watch descriptor, or -1.
    private static func addWatch(_ inotify: Int32, _ path: String, _ logger: Logger) -> Int32 {
        // Opened for reading only: closing it must not wake the other watchers.
        let fd = open(path, O_RDONLY | O_CREAT | O_CLOEXEC, 0o666)
        if fd >= 0 { _ = close(fd) }
        let watched = inotify_add_watch(inotify, path, mask)
        if watched < 0 {
            logger.debug("catalog wake file \(path): cannot watch it (\(String(cString: strerror(errno)))); trying again")
        }
        return watched
    }
    #endif
}
