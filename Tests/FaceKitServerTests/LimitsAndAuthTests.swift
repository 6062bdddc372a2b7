import FaceKit
import FaceKitServer
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import XCTest

final class AuthTests: XCTestCase {
    let keyed = Fixtures.configuration { $0.apiKeys = APIKeys(["k-one", "k-two-longer"]) }

    func testKeysAreRequiredWhenConfigured() async throws {
        let body = try Body.json(["img": try Fixtures.dataURI("img2.jpg")])
        try await Fixtures.withService(keyed) { client, _ in
            var r = try await client.execute(uri: "/represent", method: .post, headers: Body.jsonHeaders, body: body)
            XCTAssertEqual(r.status, .unauthorized)
            XCTAssertEqual(r.headers[.wwwAuthenticate], "Bearer")
            XCTAssertTrue(r.errorMessage.contains("API key is required"))

            for wrong in ["k-on", "k-onf", "K-ONE", "k-two-longer-still", "k-one,k-two-longer"] {
                var headers = Body.jsonHeaders
                headers[HTTPField.Name("X-API-Key")!] = wrong
                r = try await client.execute(uri: "/represent", method: .post, headers: headers, body: body)
                XCTAssertEqual(r.status, .unauthorized, wrong)
            }

            var headers = Body.jsonHeaders
            headers[HTTPField.Name("X-API-Key")!] = "k-one"
            r = try await client.execute(uri: "/represent", method: .post, headers: headers, body: body)
            XCTAssertEqual(r.status, .ok, r.errorMessage)

            headers = Body.jsonHeaders
            headers[.authorization] = "Bearer k-two-longer"
            r = try await client.execute(uri: "/represent", method: .post, headers: headers, body: body)
            XCTAssertEqual(r.status, .ok, r.errorMessage)

            headers[.authorization] = "Basic k-two-longer"
            r = try await client.execute(uri: "/represent", method: .post, headers: headers, body: body)
            XCTAssertEqual(r.status, .unauthorized)

            r = try await client.execute(uri: "/metrics", method: .get)
            XCTAssertEqual(r.status, .unauthorized)
            for open in ["/health", "/", "/openapi.json"] {
                r = try await client.execute(uri: open, method: .get)
                XCTAssertEqual(r.status, .ok, open)
            }
        }
    }

    func testNonLoopbackNeedsKeys() throws {
        var config = ServerConfiguration()
        config.host = "0.0.0.0"
        XCTAssertThrowsError(try config.validate()) { error in
            XCTAssertTrue("\(error)".contains("without API keys"), "\(error)")
        }
        config.apiKeys = APIKeys.parse(environment: "alpha, beta")
        XCTAssertEqual(config.apiKeys.count, 2)
        XCTAssertNoThrow(try config.validate())
        for host in ["127.0.0.1", "127.1.2.3", "localhost", "::1", "[::1]"] {
            XCTAssertTrue(ServerConfiguration.isLoopback(host), host)
        }
        for host in ["0.0.0.0", "::", "192.168.1.4", "127.0.0.1.example.com", "example.com"] {
            XCTAssertFalse(ServerConfiguration.isLoopback(host), host)
        }
    }

    func testKeysFile() throws {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("facekit-keys-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: file) }
        try "# keys\n\nfirst-key\n  second-key  \n".write(to: file, atomically: true, encoding: .utf8)
        let keys = try APIKeys.load(file: file.path)
        XCTAssertEqual(keys.count, 2)
        XCTAssertTrue(keys.accepts("second-key"))
        XCTAssertFalse(keys.accepts("# keys"))
        try "# nothing\n".write(to: file, atomically: true, encoding: .utf8)
        XCTAssertThrowsError(try APIKeys.load(file: file.path))
    }
}

final class LimitTests: XCTestCase {
    /// One worker, no queue: while a job holds the worker, a request is
    /// refused at once with 503 and Retry-After.
    func testFullQueueAnswers503WithRetryAfter() async throws {
        let config = Fixtures.configuration { $0.workers = 1; $0.queueDepth = 0 }
        let body = try Body.json(["img": try Fixtures.dataURI("img2.jpg")])
        try await Fixtures.withService(config) { client, service in
            let gate = Gate()
            let blocker = Task { try await service.queue.run(timeout: 30) { gate.wait() } }
            try await waitUntil { service.queue.snapshot.running == 1 }
            let r = try await client.execute(uri: "/represent", method: .post, headers: Body.jsonHeaders, body: body)
            XCTAssertEqual(r.status, .serviceUnavailable)
            XCTAssertEqual(r.headers[.retryAfter], "1")
            XCTAssertTrue(r.errorMessage.contains("busy"))
            gate.open()
            try await blocker.value
            let after = try await client.execute(uri: "/represent", method: .post, headers: Body.jsonHeaders, body: body)
            XCTAssertEqual(after.status, .ok, after.errorMessage)
            let metrics = try await client.execute(uri: "/metrics", method: .get)
            XCTAssertTrue(String(buffer: metrics.body).contains(#"facekit_engine_refused_total{reason="queue_full"} 1"#))
        }
    }

    /// A request that waits longer than the timeout gets 504 and leaves the queue.
    func testTimeoutAnswers504() async throws {
        let config = Fixtures.configuration { $0.workers = 1; $0.queueDepth = 4; $0.requestTimeout = 0.3 }
        let body = try Body.json(["img": try Fixtures.dataURI("img2.jpg")])
        try await Fixtures.withService(config) { client, service in
            let gate = Gate()
            let blocker = Task { try? await service.queue.run(timeout: 30) { gate.wait() } }
            try await waitUntil { service.queue.snapshot.running == 1 }
            let r = try await client.execute(uri: "/represent", method: .post, headers: Body.jsonHeaders, body: body)
            XCTAssertEqual(r.status, .gatewayTimeout)
            XCTAssertTrue(r.errorMessage.contains("did not finish within 0.3 s"), r.errorMessage)
            gate.open()
            _ = await blocker.value
        }
    }
}

final class WorkQueueTests: XCTestCase {
    func testConcurrencyIsBoundedAndEveryJobRuns() async throws {
        let queue = WorkQueue(workers: 2, depth: 100)
        defer { queue.shutdown() }
        let counter = Counter()
        try await withThrowingTaskGroup(of: Int.self) { group in
            for i in 0..<40 {
                group.addTask {
                    try await queue.run(timeout: 30) {
                        counter.enter()
                        Thread.sleep(forTimeInterval: 0.005)
                        counter.leave()
                        return i
                    }
                }
            }
            var seen = Set<Int>()
            for try await i in group { seen.insert(i) }
            XCTAssertEqual(seen.count, 40)
        }
        XCTAssertEqual(counter.peak, 2)
        // A job's result is delivered just before its worker counts itself idle.
        try await waitUntil { queue.snapshot.running == 0 }
        XCTAssertEqual(queue.snapshot.queued, 0)
    }

    func testErrorsPassThrough() async throws {
        let queue = WorkQueue(workers: 1, depth: 1)
        defer { queue.shutdown() }
        do {
            _ = try await queue.run(timeout: 5) { () throws -> Int in throw FaceKitError.invalidInput("boom") }
            XCTFail("no error")
        } catch let error as FaceKitError {
            XCTAssertEqual(error, .invalidInput("boom"))
        }
    }

    func testCancelledWaitingJobNeverRuns() async throws {
        let queue = WorkQueue(workers: 1, depth: 4)
        defer { queue.shutdown() }
        let gate = Gate()
        let ran = Counter()
        let blocker = Task { try await queue.run(timeout: 30) { gate.wait() } }
        try await waitUntil { queue.snapshot.running == 1 }
        let waiting = Task { try await queue.run(timeout: 30) { ran.enter() } }
        try await waitUntil { queue.snapshot.queued == 1 }
        waiting.cancel()
        do {
            try await waiting.value
            XCTFail("not cancelled")
        } catch is CancellationError {}
        gate.open()
        try await blocker.value
        try await queue.run(timeout: 30) {}
        XCTAssertEqual(ran.peak, 0)
    }

    func testShutdownRefusesNewWork() async throws {
        let queue = WorkQueue(workers: 1, depth: 1)
        queue.shutdown()
        do {
            try await queue.run(timeout: 1) {}
            XCTFail("ran after shutdown")
        } catch let refusal as WorkQueue.Refusal {
            XCTAssertEqual(refusal, .stopped)
        }
    }
}

final class MultipartTests: XCTestCase {
    /// A browser's multipart body, quoted boundary and all, through the service.
    func testQuotedBoundaryAndTextFields() async throws {
        var raw = Data()
        raw.append(Data("preamble\r\n--XyZ\r\nContent-Disposition: form-data; name=\"img\"; filename=\"img2.jpg\"\r\nContent-Type: image/jpeg\r\n\r\n".utf8))
        raw.append(try Fixtures.bytes("img2.jpg"))
        raw.append(Data("\r\n--XyZ\r\nContent-Disposition: form-data; name=\"detector_backend\"\r\n\r\nyunet\r\n--XyZ--\r\n".utf8))
        let body = raw
        try await Fixtures.withService { client, _ in
            let r = try await client.execute(uri: "/extract", method: .post,
                                             headers: [.contentType: "multipart/form-data; boundary=\"XyZ\""],
                                             body: ByteBuffer(bytes: body))
            XCTAssertEqual(r.status, .ok, r.errorMessage)
            let truncated = try await client.execute(uri: "/extract", method: .post,
                                                     headers: [.contentType: "multipart/form-data; boundary=XyZ"],
                                                     body: ByteBuffer(bytes: body.prefix(300)))
            XCTAssertEqual(truncated.status, .badRequest)
            XCTAssertTrue(truncated.errorMessage.contains("multipart"), truncated.errorMessage)
        }
    }

    func testURLEncodedForm() async throws {
        let base64 = try Fixtures.bytes("img2.jpg").base64EncodedString()
        let allowed = CharacterSet.alphanumerics
        let form = "img=" + base64.addingPercentEncoding(withAllowedCharacters: allowed)! + "&detector_backend=yunet&align=true"
        try await Fixtures.withService { client, _ in
            let r = try await client.execute(uri: "/represent", method: .post,
                                             headers: [.contentType: "application/x-www-form-urlencoded"],
                                             body: ByteBuffer(string: form))
            XCTAssertEqual(r.status, .ok, r.errorMessage)
        }
    }
}

/// Over a real socket: the server binds, answers, and a client that declares
/// a body above the limit is stopped by its Content-Length.
final class LiveTests: XCTestCase {
    func testVerifyOverASocket() async throws {
        let config = Fixtures.configuration { $0.port = 0; $0.apiKeys = APIKeys(["live-key"]) }
        let body = Body.multipart([
            .init(name: "img1", filename: "img1.jpg", data: try Fixtures.bytes("img1.jpg")),
            .init(name: "img2", filename: "img2.jpg", data: try Fixtures.bytes("img2.jpg")),
        ])
        try await Fixtures.withService(config, setup: .live) { client, _ in
            var headers = Body.multipartHeaders
            headers[.authorization] = "Bearer live-key"
            let r = try await client.execute(uri: "/verify", method: .post, headers: headers, body: body)
            XCTAssertEqual(r.status, .ok, r.errorMessage)
            XCTAssertEqual(try r.object()["verified"] as? Bool, true)
            XCTAssertEqual(Set(try r.object().keys), RouteTests.verifyKeys)
        }
    }

    func testOversizedBodyOverASocket() async throws {
        let config = Fixtures.configuration { $0.port = 0; $0.maxBodyBytes = 200_000 }
        let body = Body.multipart([.init(name: "img", filename: "img1.jpg", data: try Fixtures.bytes("img1.jpg"))])
        try await Fixtures.withService(config, setup: .live) { client, _ in
            let r = try await client.execute(uri: "/represent", method: .post, headers: Body.multipartHeaders, body: body)
            XCTAssertEqual(r.status, .contentTooLarge)
            // Refused on its declared length, before the body was read.
            XCTAssertTrue(r.errorMessage.contains("is \(body.readableBytes) bytes"), r.errorMessage)
            let health = try await client.execute(uri: "/health", method: .get)
            XCTAssertEqual(health.status, .ok)
        }
    }
}

// MARK: helpers

/// Blocks a worker thread until opened.
final class Gate: @unchecked Sendable {
    private let condition = NSCondition()
    private var isOpen = false

    func wait() {
        condition.lock()
        while !isOpen { condition.wait() }
        condition.unlock()
    }

    func open() {
        condition.lock()
        isOpen = true
        condition.broadcast()
        condition.unlock()
    }
}

/// Counts how many are inside at once, and the most ever.
final class Counter: @unchecked Sendable {
    private let lock = NSLock()
    private var inside = 0
    private var most = 0

    func enter() {
        lock.lock()
        inside += 1
        most = max(most, inside)
        lock.unlock()
    }

    func leave() {
        lock.lock()
        inside -= 1
        lock.unlock()
    }

    var peak: Int {
        lock.lock()
        defer { lock.unlock() }
        return most
    }
}

func waitUntil(_ condition: @Sendable () -> Bool) async throws {
    let deadline = ContinuousClock.now + .seconds(10)
    while !condition() {
        guard ContinuousClock.now < deadline else { throw TestFailure("condition not met within 10 s") }
        try await Task.sleep(for: .milliseconds(5))
    }
}
