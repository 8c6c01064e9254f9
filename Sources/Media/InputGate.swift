import CFFmpeg
import Foundation

/// Decides when FFmpeg must give up on an input: the caller cancelled, or the wall-clock deadline passed.
/// Installed as every format context's `interrupt_callback`, so a read that would block (a demuxer
/// waiting for data that never comes) returns `AVERROR_EXIT`; the transcode loop asks it too, between
/// packets. Not Sendable: it lives on the FFmpeg thread with the contexts it guards.
final class InputGate {
    enum Trip: Equatable { case cancelled, deadline }

    private let isCancelled: @Sendable () -> Bool
    private let deadline: Date?
    private let created = Date()
    /// Why the gate closed, once it has.
    private(set) var tripped: Trip?

    init(isCancelled: @escaping @Sendable () -> Bool = { false }, deadline: Date? = nil) {
        self.isCancelled = isCancelled
        self.deadline = deadline
    }

    /// True once FFmpeg should stop; sticky.
    var shouldStop: Bool {
        if tripped != nil { return true }
        if isCancelled() { tripped = .cancelled } else if let deadline, Date() >= deadline { tripped = .deadline }
        return tripped != nil
    }

    /// The callback for `AVFormatContext.interrupt_callback`. The context must not outlive the gate.
    var callback: AVIOInterruptCB {
        AVIOInterruptCB(callback: { opaque in
            guard let opaque else { return 0 }
            return Unmanaged<InputGate>.fromOpaque(opaque).takeUnretainedValue().shouldStop ? 1 : 0
        }, opaque: Unmanaged.passUnretained(self).toOpaque())
    }

    /// Throws the gate's error once it has closed.
    func check(path: String) throws(MediaError) {
        if shouldStop, let error = error(path: path) { throw error }
    }

    /// The error for a tripped gate, or nil when it is still open.
    func error(path: String) -> MediaError? {
        switch tripped {
        case .cancelled: .internalFailure("cancelled")
        case .deadline: .timedOut(path: path, seconds: Int(max(0, deadline?.timeIntervalSince(created) ?? 0).rounded()))
        case nil: nil
        }
    }
}
