import Foundation

/// This node's name in a fleet: `$REEL_NODE_NAME` (the `node_name` setting), else the host name. It names
/// the node's workers (lease owners), its upload locks, its autoscaler's status file and its metrics, so
/// two nodes must not share one. Set it where host names are not unique (containers, several nodes on
/// one machine).
public enum NodeName {
    public static var current: String {
        if let name = ProcessInfo.processInfo.environment["REEL_NODE_NAME"], !name.isEmpty { return clean(name) }
        return clean(ProcessInfo.processInfo.hostName)
    }

    /// Safe as a file name and inside `host:pid:nonce` owner names.
    static func clean(_ name: String) -> String {
        let kept = name.unicodeScalars.map { scalar -> Character in
            CharacterSet.alphanumerics.contains(scalar) || "-_.".unicodeScalars.contains(scalar) ? Character(scalar) : "-"
        }
        let cleaned = String(kept.prefix(64))
        return cleaned.isEmpty || cleaned.allSatisfy({ $0 == "." }) ? "node" : cleaned
    }
}
