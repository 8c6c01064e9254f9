import Foundation

/// The outcome of classifying a request: the class and the limits the master playlist gets.
public struct DeviceDecision: Sendable, Equatable {
    /// The class name for `Reel-Device-Class`; `DeviceRules.unknownClassName` when nothing matched.
    public var className: String
    /// No variant taller than this (short side of the picture); nil = no cap.
    public var maxHeight: Int?
    /// No variant whose BANDWIDTH is above this, bits per second; nil = no cap.
    public var maxBandwidth: Int?
    /// Which variant the tailored master lists first.
    public var start: StartVariant
    /// True when `Save-Data: on` was asked for and the rules' `save_data` caps were applied.
    public var saveData: Bool

    public init(className: String, maxHeight: Int? = nil, maxBandwidth: Int? = nil,
                start: StartVariant = .asWritten, saveData: Bool = false) {
        self.className = className
        self.maxHeight = maxHeight
        self.maxBandwidth = maxBandwidth
        self.start = start
        self.saveData = saveData
    }

    /// The full ladder as written: what unknown clients get.
    public static let untouched = DeviceDecision(className: DeviceRules.unknownClassName)

    /// True when tailoring leaves the master byte-identical.
    public var leavesMasterUntouched: Bool {
        maxHeight == nil && maxBandwidth == nil && start == .asWritten
    }
}

/// Players start with the first variant of a master, so its choice matters most.
public enum StartVariant: Sendable, Equatable {
    /// Keep the variants in the master's own order.
    case asWritten
    /// The tallest variant not above this height first, the others by ascending bandwidth.
    case closest(toHeight: Int)
    /// All variants by ascending bandwidth (the cheapest first).
    case lowest
}

/// `?device=` named a class the rules do not have; the server answers 400 with `description`.
public struct UnknownDeviceClassError: Error, Sendable, Equatable, CustomStringConvertible, LocalizedError {
    public var requested: String
    /// Every name `?device=` accepts.
    public var known: [String]

    public init(requested: String, known: [String]) {
        self.requested = requested
        self.known = known
    }

    public var description: String {
        "unknown device class '\(requested)'; use one of: \(known.joined(separator: ", "))"
    }

    public var errorDescription: String? { description }
}
