import Foundation
import Logging
import NIOCore
import NIOSSL
import Synchronization

/// The server's certificate and key (PEM files, `tls_certificate` / `tls_key`), read again on SIGHUP or
/// when either file changes, without dropping a connection: every TLS handshake asks for the current pair
/// (NIOSSL's context callback), so connections made before a reload keep the certificate they began with
/// and new ones get the new one. A pair that cannot be read or does not belong together is refused and
/// the old one stays, with a log line saying why.
public final class CertificateStore: Sendable {
    public struct Files: Sendable, Equatable {
        public var certificate: String
        public var key: String
        public init(certificate: String, key: String) { self.certificate = certificate; self.key = key }
    }

    struct Pair: Sendable {
        var chain: [NIOSSLCertificate]
        var key: NIOSSLPrivateKey
        /// Modification times and sizes of both files when they were read.
        var stamp: [Int64]
    }

    public let files: Files
    private let current: Mutex<Pair>
    private let logger: Logger

    /// Reads the pair; throws a sentence when it cannot be used.
    public init(files: Files, logger: Logger) throws {
        self.files = files
        self.logger = logger
        current = Mutex(try Self.read(files))
    }

    static func stamp(_ files: Files) -> [Int64] {
        [files.certificate, files.key].flatMap { path -> [Int64] in
            var info = stat()
            guard stat(path, &info) == 0 else { return [-1, -1] }
            return [Int64(info.st_mtim.tv_sec) * 1_000_000_000 + Int64(info.st_mtim.tv_nsec), Int64(info.st_size)]
        }
    }

    static func read(_ files: Files) throws -> Pair {
        let stamp = stamp(files)
        let chain: [NIOSSLCertificate]
        let key: NIOSSLPrivateKey
        do { chain = try NIOSSLCertificate.fromPEMFile(files.certificate) } catch {
            throw TLSSetupError("cannot read the certificate chain \(files.certificate): \(error)")
        }
        guard !chain.isEmpty else { throw TLSSetupError("\(files.certificate) holds no PEM certificate") }
        do { key = try NIOSSLPrivateKey(file: files.key, format: .pem) } catch {
            throw TLSSetupError("cannot read the private key \(files.key): \(error)")
        }
        // A context checks that the key belongs to the certificate (BoringSSL's SSL_CTX_check_private_key).
        do {
            _ = try NIOSSLContext(configuration: .makeServerConfiguration(
                certificateChain: chain.map { .certificate($0) }, privateKey: .privateKey(key)))
        } catch {
            throw TLSSetupError("the key \(files.key) does not go with the certificate \(files.certificate): \(error)")
        }
        return Pair(chain: chain, key: key, stamp: stamp)
    }

    /// Reads the files again when `force` (SIGHUP) or when they changed since the last read.
    /// True when a new pair is in use.
    @discardableResult
    public func reload(force: Bool) -> Bool {
        let before = current.withLock { $0.stamp }
        let now = Self.stamp(files)
        guard force || now != before else { return false }
        do {
            let pair = try Self.read(files)
            current.withLock { $0 = pair }
            logger.notice("TLS certificate loaded", metadata: ["certificate": "\(files.certificate)",
                                                              "expires": "\(Self.expiry(pair.chain[0]))"])
            return true
        } catch {
            // Keep the stamp taken before the read, so a broken pair is not retried on every check, and a pair
            // whose second file lands after that read is (its change shows at the next check).
            current.withLock { $0.stamp = now }
            logger.error("TLS certificate not reloaded; the previous one stays in use: \(error)")
            return false
        }
    }

    /// The server's TLS configuration: TLS 1.2 and later, ALPN h2 then http/1.1, and the current pair on
    /// every handshake.
    public func serverConfiguration() -> TLSConfiguration {
        let pair = current.withLock { $0 }
        var configuration = TLSConfiguration.makeServerConfiguration(
            certificateChain: pair.chain.map { .certificate($0) }, privateKey: .privateKey(pair.key))
        configuration.minimumTLSVersion = .tlsv12
        configuration.applicationProtocols = ["h2", "http/1.1"]
        configuration.sslContextCallback = { [self] _, promise in
            let pair = current.withLock { $0 }
            var override = NIOSSLContextConfigurationOverride()
            override.certificateChain = pair.chain.map { .certificate($0) }
            override.privateKey = .privateKey(pair.key)
            promise.succeed(override)
        }
        return configuration
    }

    static func expiry(_ certificate: NIOSSLCertificate) -> String {
        let date = Date(timeIntervalSince1970: TimeInterval(certificate.notValidAfter))
        return ISO8601DateFormatter().string(from: date)
    }
}

public struct TLSSetupError: Error, CustomStringConvertible {
    public let description: String
    init(_ description: String) { self.description = description }
}
