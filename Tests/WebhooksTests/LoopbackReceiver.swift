import Foundation
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// A tiny HTTP/1.1 receiver on 127.0.0.1 with plain POSIX sockets, one thread per connection, so the
/// sender is tested against a real socket peer. `reply` decides, by the request's index, what it does.
final class LoopbackReceiver: Sendable {
    struct Request: Sendable {
        let method: String
        let target: String
        /// Names lowercased.
        let headers: [String: String]
        let body: [UInt8]
    }

    enum Reply: Sendable {
        case answer(status: Int, headers: [String: String] = [:], body: String = "")
        /// Reads the request and never answers; the connection ends when the client gives up.
        case silent
        /// 200 with a body of `bytes` bytes, written until the client stops reading.
        case huge(bytes: Int)
        /// Answers 200 once `gate` is opened.
        case gated(Gate)
    }

    final class Gate: Sendable {
        private let open = Mutex(false)
        func release() { open.withLock { $0 = true } }
        func wait() { while !open.withLock({ $0 }) { usleep(5_000) } }
    }

    let port: Int
    private let listener: Int32
    private let reply: @Sendable (Int) -> Reply
    private let received = Mutex<[Request]>([])
    private let written = Mutex(0)

    var requests: [Request] { received.withLock { $0 } }
    /// Body bytes written for `.huge` replies.
    var bodyBytesWritten: Int { written.withLock { $0 } }

    init(_ reply: @escaping @Sendable (Int) -> Reply) throws {
        self.reply = reply
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw POSIXError(.EIO) }
        var yes: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &yes, socklen_t(MemoryLayout<Int32>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard bound == 0, listen(fd, 16) == 0 else { close(fd); throw POSIXError(.EADDRINUSE) }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        port = Int(UInt16(bigEndian: address.sin_port))
        listener = fd
        let thread = Thread { [self] in acceptLoop() }
        thread.start()
    }

    /// Stops accepting; connections in progress finish on their own.
    func stop() {
        shutdown(listener, Int32(SHUT_RDWR))
        close(listener)
    }

    private func acceptLoop() {
        while true {
            let connection = accept(listener, nil, nil)
            if connection < 0 { return }
            Thread { [self] in serve(connection) }.start()
        }
    }

    private func serve(_ fd: Int32) {
        defer { close(fd) }
        guard let request = readRequest(fd) else { return }
        let index = received.withLock { list in list.append(request); return list.count - 1 }
        switch reply(index) {
        case .answer(let status, let headers, let body):
            respond(fd, status: status, headers: headers, body: body)
        case .silent:
            var byte: UInt8 = 0
            while recv(fd, &byte, 1, 0) > 0 {}
        case .huge(let total):
            var timeout = timeval(tv_sec: 5, tv_usec: 0)
            setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
            guard sendAll(fd, Array("HTTP/1.1 200 OK\r\nContent-Length: \(total)\r\n\r\n".utf8)) else { return }
            let chunk = [UInt8](repeating: UInt8(ascii: "x"), count: 64 * 1024)
            var sent = 0
            while sent < total {
                let n = chunk.withUnsafeBytes { send(fd, $0.baseAddress, min(chunk.count, total - sent), Int32(MSG_NOSIGNAL)) }
                if n <= 0 { break }
                sent += n
                written.withLock { $0 = sent }
            }
        case .gated(let gate):
            gate.wait()
            respond(fd, status: 200, headers: [:], body: "late")
        }
    }

    private func respond(_ fd: Int32, status: Int, headers: [String: String], body: String) {
        var head = "HTTP/1.1 \(status) Test\r\nContent-Length: \(body.utf8.count)\r\nConnection: close\r\n"
        for (name, value) in headers { head += "\(name): \(value)\r\n" }
        _ = sendAll(fd, Array((head + "\r\n" + body).utf8))
    }

    private func sendAll(_ fd: Int32, _ bytes: [UInt8]) -> Bool {
        var offset = 0
        while offset < bytes.count {
            let n = bytes[offset...].withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if n <= 0 { return false }
            offset += n
        }
        return true
    }

    private func readRequest(_ fd: Int32) -> Request? {
        var data = [UInt8]()
        var buffer = [UInt8](repeating: 0, count: 16 * 1024)
        let separator = Array("\r\n\r\n".utf8)
        var headEnd: Int?
        var contentLength = 0
        while true {
            if headEnd == nil, let end = data.firstRange(of: separator)?.upperBound {
                headEnd = end
                let head = String(decoding: data[..<end], as: UTF8.self)
                for line in head.split(separator: "\r\n") where line.lowercased().hasPrefix("content-length:") {
                    contentLength = Int(line.split(separator: ":")[1].trimmingCharacters(in: .whitespaces)) ?? 0
                }
            }
            if let end = headEnd, data.count >= end + contentLength { break }
            let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n <= 0 { return nil }
            data += buffer[..<n]
        }
        let end = headEnd!
        let lines = String(decoding: data[..<(end - 4)], as: UTF8.self).components(separatedBy: "\r\n")
        let requestLine = lines[0].split(separator: " ")
        var headers: [String: String] = [:]
        for line in lines.dropFirst() {
            guard let colon = line.firstIndex(of: ":") else { continue }
            headers[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
        }
        return Request(method: String(requestLine[0]), target: String(requestLine[1]), headers: headers,
                       body: Array(data[end..<(end + contentLength)]))
    }
}
