import Foundation

/// A `postgres://` (or `postgresql://`) catalog URL, in libpq's shape so operators can reuse what they
/// know: `postgres://user:password@host:port/database?sslmode=verify-full&sslrootcert=/etc/ssl/rds.pem`.
///
/// Query parameters Reel reads (others are refused, so that a typo is not silently ignored):
/// - `sslmode`: `disable`, `prefer` (libpq's default), `require` (encrypt, no certificate check),
///   `verify-ca` (certificate chain, not the name) or `verify-full` (chain and host name).
/// - `sslrootcert`: PEM file of the certificate authorities to trust (default: the system's).
/// - `pool_size`: the most connections this process opens (default 10).
/// - `connect_timeout`: seconds to wait for a connection (default 10).
/// - `host`: a directory holding the server's Unix socket, instead of a host name.
/// - `application_name`: shown in `pg_stat_activity` (default `reel`).
public struct PostgresURL: Sendable, Equatable, CustomStringConvertible {
    public enum SSLMode: String, Sendable, CaseIterable {
        case disable, prefer, require
        case verifyCA = "verify-ca"
        case verifyFull = "verify-full"
    }

    public var host: String
    public var port: Int
    /// A Unix socket directory (`?host=/run/postgresql`): connects to `<dir>/.s.PGSQL.<port>`.
    public var socketDirectory: String?
    public var user: String
    public var password: String?
    public var database: String
    public var sslMode: SSLMode
    public var sslRootCert: String?
    public var poolSize: Int
    public var connectTimeout: Int
    public var applicationName: String

    public static func isPostgres(_ url: String) -> Bool {
        let lowered = url.lowercased()
        return lowered.hasPrefix("postgres://") || lowered.hasPrefix("postgresql://")
    }

    public init(_ string: String) throws {
        func invalid(_ why: String) -> CatalogError {
            CatalogError.invalid("catalog URL \(PostgresURL.redacted(string)): \(why)")
        }
        guard Self.isPostgres(string), let components = URLComponents(string: string) else {
            throw invalid("expected postgres://user[:password]@host[:port]/database")
        }
        user = components.percentEncodedUser?.removingPercentEncoding ?? "reel"
        password = components.percentEncodedPassword?.removingPercentEncoding
        host = components.host ?? ""
        port = components.port ?? 5432
        guard (1...65535).contains(port) else { throw invalid("port \(port) is out of range") }
        let path = components.path.hasPrefix("/") ? String(components.path.dropFirst()) : components.path
        database = path.isEmpty ? user : (path.removingPercentEncoding ?? path)
        sslMode = .prefer
        poolSize = 10
        connectTimeout = 10
        applicationName = "reel"
        for item in components.queryItems ?? [] {
            let value = item.value ?? ""
            switch item.name {
            case "sslmode":
                guard let mode = SSLMode(rawValue: value) else {
                    throw invalid("sslmode \(value) is not one of \(SSLMode.allCases.map(\.rawValue).joined(separator: ", "))")
                }
                sslMode = mode
            case "sslrootcert":
                sslRootCert = value
            case "pool_size":
                guard let size = Int(value), (1...500).contains(size) else { throw invalid("pool_size must be 1…500, not \(value)") }
                poolSize = size
            case "connect_timeout":
                guard let seconds = Int(value), (1...600).contains(seconds) else {
                    throw invalid("connect_timeout must be 1…600 seconds, not \(value)")
                }
                connectTimeout = seconds
            case "host":
                socketDirectory = value
            case "application_name":
                applicationName = value
            default:
                throw invalid("unknown parameter \(item.name) (known: sslmode, sslrootcert, pool_size, connect_timeout, host, application_name)")
            }
        }
        if socketDirectory == nil, host.isEmpty { throw invalid("no host (or ?host=/socket/directory)") }
        if socketDirectory != nil, sslMode == .require || sslMode == .verifyCA || sslMode == .verifyFull {
            throw invalid("sslmode \(sslMode.rawValue) needs a TCP host, not a Unix socket")
        }
    }

    /// The URL without its password, for logs and errors.
    public var description: String {
        let place = socketDirectory.map { "\($0)/.s.PGSQL.\(port)" } ?? "\(host):\(port)"
        return "postgres://\(user)@\(place)/\(database)"
    }

    /// `string` with any password replaced by `***`. Read by hand, not as a URL: a password with characters
    /// a URL must escape (`#`, `/`, `@`, a space) makes the string unreadable as one, and it must not show
    /// then either. Everything from the first `:` after the scheme to the last `@` goes (more, rather
    /// than less, when a query parameter holds an `@`).
    public static func redacted(_ string: String) -> String {
        guard let scheme = string.range(of: "://"),
              let at = string.range(of: "@", options: .backwards, range: scheme.upperBound..<string.endIndex),
              let colon = string.range(of: ":", range: scheme.upperBound..<at.lowerBound)
        else { return string }
        return String(string[..<colon.upperBound]) + "***" + String(string[at.lowerBound...])
    }
}
