import FaceKit
import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL

/// Whether and how image URLs are fetched. Off by default: a server that
/// fetches what clients name can be turned against the network it sits in
/// (SSRF), so even when on, only public addresses are reached unless
/// private ones are allowed as well.
public struct URLFetchPolicy: Sendable {
    public var enabled = false
    /// Also reach loopback, private, link-local, unique-local, multicast and
    /// unspecified addresses.
    public var allowPrivate = false
    /// Largest image fetched; nil: the request body limit.
    public var maxBytes: Int?
    /// Seconds for the whole fetch: name lookup, connection, redirects and body.
    public var timeout = 10.0
    /// Redirects followed, each checked like the first URL.
    public var maxRedirects = 3

    public init() {}
}

/// The kinds of address a URL may resolve to; only `.global` is fetched
/// unless private addresses are allowed.
enum AddressKind: String, Equatable {
    case global, unspecified, loopback, linkLocal = "link-local", privateUse = "private", uniqueLocal = "unique-local"
    case multicast, reserved

    /// IPv4, network byte order in `bytes`.
    static func of(ipv4 b: [UInt8]) -> AddressKind {
        switch (b[0], b[1]) {
        case (0, _): return .unspecified                       // 0.0.0.0/8, "this network"
        case (127, _): return .loopback
        case (10, _), (172, 16...31), (192, 168): return .privateUse
        case (100, 64...127): return .privateUse               // carrier-grade NAT, 100.64.0.0/10
        case (169, 254): return .linkLocal
        case (224...239, _): return .multicast
        case (240...255, _): return .reserved                  // 240.0.0.0/4 and the broadcast address
        case (192, 0) where b[2] == 0: return .reserved        // IETF protocol assignments
        case (198, 18...19): return .reserved                  // benchmarking
        default: return .global
        }
    }

    /// IPv6, 16 bytes. Addresses that carry an IPv4 address (mapped,
    /// compatible, NAT64, 6to4) are judged by that address, so that
    /// ::ffff:127.0.0.1 is loopback.
    static func of(ipv6 b: [UInt8]) -> AddressKind {
        let zeroPrefix = b[0..<10].allSatisfy { $0 == 0 }
        if zeroPrefix && b[10] == 0xFF && b[11] == 0xFF { return of(ipv4: Array(b[12..<16])) }  // ::ffff:a.b.c.d
        if b[0..<15].allSatisfy({ $0 == 0 }) { return b[15] == 1 ? .loopback : .unspecified }   // ::1, ::
        if zeroPrefix && b[10] == 0 && b[11] == 0 { return of(ipv4: Array(b[12..<16])) }        // ::a.b.c.d (deprecated)
        if b[0] == 0x00 && b[1] == 0x64 && b[2] == 0xFF && b[3] == 0x9B { return of(ipv4: Array(b[12..<16])) }  // 64:ff9b::/96
        if b[0] == 0x20 && b[1] == 0x02 { return of(ipv4: Array(b[2..<6])) }                    // 2002::/16, 6to4
        if b[0] == 0xFF { return .multicast }
        if b[0] == 0xFE && (b[1] & 0xC0) == 0x80 { return .linkLocal }                           // fe80::/10
        if b[0] == 0xFE && (b[1] & 0xC0) == 0xC0 { return .privateUse }                          // fec0::/10, site-local
        if (b[0] & 0xFE) == 0xFC { return .uniqueLocal }                                         // fc00::/7
        return .global
    }

    static func of(_ address: SocketAddress) -> AddressKind {
        switch address {
        case .v4(let a):
            var raw = a.address.sin_addr
            return of(ipv4: withUnsafeBytes(of: &raw) { Array($0) })
        case .v6(let a):
            var raw = a.address.sin6_addr
            return of(ipv6: withUnsafeBytes(of: &raw) { Array($0) })
        case .unixDomainSocket:
            return .reserved
        }
    }
}

/// Fetches an image URL under the policy. The host is resolved here, every
/// address it resolves to is judged, and the connection goes to one of
/// those judged addresses (not to the name again), so a DNS answer that
/// changes between the check and the connection (DNS rebinding) cannot
/// reach what the check refused. Each redirect goes through the same path.
struct ImageFetcher: Sendable {
    let policy: URLFetchPolicy
    let maxBytes: Int
    private let tls: NIOSSLContext?

    init(policy: URLFetchPolicy, maxBytes: Int) {
        self.policy = policy
        self.maxBytes = policy.maxBytes ?? maxBytes
        // Loading the trust store costs milliseconds; once, and only when URLs are on.
        self.tls = policy.enabled ? try? NIOSSLContext(configuration: .makeClientConfiguration()) : nil
    }

    func fetch(_ text: String, field: String) async throws(APIError) -> ImageSource {
        let timeout = policy.timeout
        do {
            let data = try await Self.withDeadline(seconds: timeout) { [self] in try await self.follow(text) }
            return .data(data, name: "\(field) (\(text))")
        } catch let failure as FetchFailure {
            throw failure.apiError(field: field, url: text, timeout: timeout, maxBytes: maxBytes)
        } catch let error as APIError {
            throw error
        } catch {
            throw APIError(.badGateway, "'\(field)': cannot fetch \(text): \(error)")
        }
    }

    enum FetchFailure: Error {
        case badURL(String)
        case refused(host: String, address: String, kind: AddressKind)
        case unresolved(host: String)
        case connect(String)
        case status(Int)
        case tooLarge
        case tooManyRedirects
        case timedOut
        case closedEarly

        func apiError(field: String, url: String, timeout: Double, maxBytes: Int) -> APIError {
            let prefix = "'\(field)': \(url)"
            switch self {
            case .badURL(let why): return APIError(.badRequest, "\(prefix) is not a URL this server fetches: \(why)")
            case .refused(let host, let address, let kind):
                let article = "aeiou".contains(kind.rawValue.first!) ? "an" : "a"
                return APIError(.badRequest, "\(prefix): \(host) resolves to \(address), \(article) \(kind.rawValue) address; "
                    + "this server fetches only public addresses (start it with --allow-private-urls to allow this)")
            case .unresolved(let host): return APIError(.badRequest, "\(prefix): cannot resolve the host \(host)")
            case .connect(let why): return APIError(.badGateway, "\(prefix): cannot connect: \(why)")
            case .status(let code): return APIError(.unprocessableContent, "\(prefix) answered HTTP \(code), not an image")
            case .tooLarge: return APIError(.unprocessableContent, "\(prefix) is larger than the limit of \(maxBytes) bytes")
            case .tooManyRedirects: return APIError(.unprocessableContent, "\(prefix) redirects more than the limit allows")
            case .timedOut: return APIError(.gatewayTimeout, "\(prefix) did not answer in full within \(timeout) s")
            case .closedEarly: return APIError(.badGateway, "\(prefix): the connection closed before the image was complete")
            }
        }
    }

    private func follow(_ text: String) async throws -> Data {
        var url = try Target(text)
        var redirects = 0
        while true {
            switch try await get(url) {
            case .body(let data):
                return data
            case .redirect(let location):
                redirects += 1
                guard redirects <= policy.maxRedirects else { throw FetchFailure.tooManyRedirects }
                url = try Target(location, relativeTo: url)
            }
        }
    }

    /// One GET to one judged address.
    private func get(_ target: Target) async throws -> Outcome {
        let addresses = try await resolve(target)
        if !policy.allowPrivate {
            for address in addresses {
                let kind = AddressKind.of(address)
                // Refused when any answer is not public: connecting to the
                // public one while another is private would leave the choice
                // to whoever controls the name.
                if kind != .global { throw FetchFailure.refused(host: target.host, address: address.ipAddress ?? "?", kind: kind) }
            }
        }
        var lastError: any Error = FetchFailure.unresolved(host: target.host)
        for address in addresses {
            do {
                return try await request(target, at: address)
            } catch let error as ChannelError {
                lastError = FetchFailure.connect("\(error)")
            } catch let error as IOError {
                lastError = FetchFailure.connect(error.description)
            } catch let error as NIOConnectionError {
                lastError = FetchFailure.connect("\(error)")
            }
        }
        throw lastError
    }

    private func resolve(_ target: Target) async throws -> [SocketAddress] {
        let host = target.host, port = target.port
        let addresses = try await NIOThreadPool.singleton.runIfActive { () -> [SocketAddress] in
            var hints = addrinfo()
            hints.ai_family = AF_UNSPEC
            hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
            var list: UnsafeMutablePointer<addrinfo>?
            guard getaddrinfo(host, String(port), &hints, &list) == 0, let first = list else { return [] }
            defer { freeaddrinfo(list) }
            var out: [SocketAddress] = []
            var cursor: UnsafeMutablePointer<addrinfo>? = first
            while let entry = cursor {
                if let raw = entry.pointee.ai_addr {
                    switch entry.pointee.ai_family {
                    case AF_INET: out.append(raw.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { SocketAddress($0.pointee, host: host) })
                    case AF_INET6: out.append(raw.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { SocketAddress($0.pointee, host: host) })
                    default: break
                    }
                }
                cursor = entry.pointee.ai_next
            }
            return out
        }
        guard !addresses.isEmpty else { throw FetchFailure.unresolved(host: host) }
        return addresses
    }

    private func request(_ target: Target, at address: SocketAddress) async throws -> Outcome {
        let loop = MultiThreadedEventLoopGroup.singleton.next()
        let promise = loop.makePromise(of: Outcome.self)
        let head = HTTPRequestHead(version: .http1_1, method: .GET, uri: target.requestURI, headers: [
            "Host": target.hostHeader, "User-Agent": "FaceKit/\(FaceKitVersion.string)", "Accept": "image/*", "Connection": "close",
        ])
        let tls: NIOSSLContext?
        if target.secure {
            guard let context = self.tls else { throw FetchFailure.connect("TLS is not available on this server") }
            tls = context
        } else {
            tls = nil
        }
        let limit = maxBytes
        let serverName = target.isIPLiteral ? nil : target.host
        let channel: any Channel
        do {
            channel = try await connect(loop, to: address, tls: tls, serverName: serverName, head: head, limit: limit, promise: promise)
        } catch {
            promise.fail(error)  // never handed to a handler: settled here
            throw error
        }
        // The outer deadline abandons the wait; this one also closes the socket.
        let timer = loop.scheduleTask(in: .nanoseconds(Int64(policy.timeout * 1e9))) {
            promise.fail(FetchFailure.timedOut)
            channel.close(promise: nil)
        }
        defer { timer.cancel() }
        return try await withTaskCancellationHandler {
            try await promise.futureResult.get()
        } onCancel: {
            channel.close(promise: nil)
        }
    }

    private func connect(_ loop: any EventLoop, to address: SocketAddress, tls: NIOSSLContext?, serverName: String?,
                         head: HTTPRequestHead, limit: Int, promise: EventLoopPromise<Outcome>) async throws -> any Channel {
        try await ClientBootstrap(group: loop)
            .connectTimeout(.seconds(Int64(max(1, policy.timeout.rounded(.up)))))
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    if let tls {
                        try channel.pipeline.syncOperations.addHandler(NIOSSLClientHandler(context: tls, serverHostname: serverName))
                    }
                    try channel.pipeline.syncOperations.addHTTPClientHandlers()
                    try channel.pipeline.syncOperations.addHandler(FetchHandler(head: head, maxBytes: limit, promise: promise))
                }
            }
            .connect(to: address).get()
    }

    enum Outcome: Sendable {
        case body(Data)
        case redirect(String)
    }

    /// An http(s) URL taken apart, as far as a GET needs.
    struct Target {
        let secure: Bool
        let host: String
        let port: Int
        let requestURI: String
        let isIPLiteral: Bool

        var hostHeader: String {
            let name = host.contains(":") ? "[\(host)]" : host
            return port == (secure ? 443 : 80) ? name : "\(name):\(port)"
        }

        init(_ text: String, relativeTo base: Target? = nil) throws {
            let parsed: URL?
            if let base {
                let origin = "\(base.secure ? "https" : "http")://\(base.hostHeader)"
                parsed = URL(string: text, relativeTo: URL(string: origin + base.requestURI))?.absoluteURL
            } else {
                parsed = URL(string: text)
            }
            guard let url = parsed, let scheme = url.scheme?.lowercased() else { throw FetchFailure.badURL("cannot parse it") }
            guard scheme == "http" || scheme == "https" else { throw FetchFailure.badURL("only http and https are fetched, not \(scheme)") }
            guard url.user == nil && url.password == nil else { throw FetchFailure.badURL("credentials in URLs are not sent") }
            guard var host = url.host, !host.isEmpty else { throw FetchFailure.badURL("it has no host") }
            if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
            secure = scheme == "https"
            self.host = host
            port = url.port ?? (secure ? 443 : 80)
            guard (1...65535).contains(port) else { throw FetchFailure.badURL("port \(port) is out of range") }
            // As written (percent escapes kept), without the fragment.
            let components = URLComponents(url: url, resolvingAgainstBaseURL: true)
            var path = components?.percentEncodedPath ?? ""
            if path.isEmpty { path = "/" }
            if let query = components?.percentEncodedQuery { path += "?" + query }
            requestURI = path
            isIPLiteral = (try? SocketAddress(ipAddress: host, port: 0)) != nil
        }
    }

    /// The first of the work and the deadline. A name lookup cannot be
    /// interrupted, so the deadline does not wait for it.
    static func withDeadline<T: Sendable>(seconds: Double, _ work: @escaping @Sendable () async throws -> T) async throws -> T {
        let outcome = Once<T>()
        return try await withCheckedThrowingContinuation { continuation in
            outcome.install(continuation)
            let task = Task {
                do { outcome.resolve(.success(try await work())) } catch { outcome.resolve(.failure(error)) }
            }
            let timer = Task {
                try? await Task.sleep(for: .seconds(seconds))
                if !Task.isCancelled {
                    outcome.resolve(.failure(FetchFailure.timedOut))
                    task.cancel()
                }
            }
            outcome.onResolve { timer.cancel() }
        }
    }
}

/// A continuation resumed once, by whichever side comes first.
private final class Once<T: Sendable>: @unchecked Sendable {
    private let lock = NSLock()
    // Guarded by lock.
    private var continuation: CheckedContinuation<T, any Error>?
    private var result: Result<T, any Error>?
    private var callbacks: [@Sendable () -> Void] = []

    func install(_ continuation: CheckedContinuation<T, any Error>) {
        lock.lock()
        self.continuation = continuation
        lock.unlock()
    }

    func onResolve(_ callback: @escaping @Sendable () -> Void) {
        lock.lock()
        if result != nil {
            lock.unlock()
            callback()
            return
        }
        callbacks.append(callback)
        lock.unlock()
    }

    func resolve(_ value: Result<T, any Error>) {
        lock.lock()
        guard result == nil, let continuation else {
            lock.unlock()
            return
        }
        result = value
        self.continuation = nil
        let pending = callbacks
        callbacks = []
        lock.unlock()
        continuation.resume(with: value)
        for callback in pending { callback() }
    }
}

/// Sends the GET once connected, then collects the answer: a redirect's
/// Location, or a 2xx body up to the size limit.
private final class FetchHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPClientResponsePart
    typealias OutboundOut = HTTPClientRequestPart

    private let head: HTTPRequestHead
    private let maxBytes: Int
    private let promise: EventLoopPromise<ImageFetcher.Outcome>
    private var body = ByteBuffer()
    private var done = false

    init(head: HTTPRequestHead, maxBytes: Int, promise: EventLoopPromise<ImageFetcher.Outcome>) {
        self.head = head
        self.maxBytes = maxBytes
        self.promise = promise
    }

    func channelActive(context: ChannelHandlerContext) {
        context.write(wrapOutboundOut(.head(head)), promise: nil)
        context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
        context.fireChannelActive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !done else { return }
        switch unwrapInboundIn(data) {
        case .head(let response):
            let code = Int(response.status.code)
            if (300..<400).contains(code), let location = response.headers.first(name: "location") {
                finish(context, .success(.redirect(location)))
            } else if !(200..<300).contains(code) {
                finish(context, .failure(ImageFetcher.FetchFailure.status(code)))
            } else if let length = response.headers.first(name: "content-length").flatMap(Int.init), length > maxBytes {
                finish(context, .failure(ImageFetcher.FetchFailure.tooLarge))
            }
        case .body(var chunk):
            // Counted as it arrives, so a body without a length (chunked, or
            // until close) is cut off at the limit too.
            guard body.readableBytes + chunk.readableBytes <= maxBytes else {
                finish(context, .failure(ImageFetcher.FetchFailure.tooLarge))
                return
            }
            body.writeBuffer(&chunk)
        case .end:
            finish(context, .success(.body(Data(buffer: body))))
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        finish(context, .failure(ImageFetcher.FetchFailure.connect("\(error)")))
    }

    func channelInactive(context: ChannelHandlerContext) {
        if !done {
            done = true
            promise.fail(ImageFetcher.FetchFailure.closedEarly)
        }
        context.fireChannelInactive()
    }

    private func finish(_ context: ChannelHandlerContext, _ result: Result<ImageFetcher.Outcome, any Error>) {
        guard !done else { return }
        done = true
        promise.completeWith(result)
        context.close(promise: nil)
    }
}
