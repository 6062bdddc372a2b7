import Foundation
import XCTest
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// `facekit serve` as a process: refusals at start, and SIGTERM finishing
/// the request in flight before the exit.
final class ServeCommandTests: XCTestCase {
    /// The binary SwiftPM built next to this test bundle.
    var binary: URL {
        get throws {
            var dir = Bundle(for: Self.self).bundleURL.deletingLastPathComponent()
            if !FileManager.default.fileExists(atPath: dir.appendingPathComponent("facekit").path) {
                dir = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
            }
            let url = dir.appendingPathComponent("facekit")
            guard FileManager.default.fileExists(atPath: url.path) else {
                throw TestFailure("facekit is not built next to the tests (\(url.path)); run swift build first")
            }
            return url
        }
    }

    func start(_ arguments: [String], environment: [String: String] = [:]) throws -> (Process, Pipe) {
        let process = Process()
        process.executableURL = try binary
        // A store of its own, so a test never writes to the user's default one.
        let store = FileManager.default.temporaryDirectory.appendingPathComponent("fk-serve-\(UUID().uuidString).sqlite").path
        process.arguments = ["serve", "--store", store] + arguments
        var env = ProcessInfo.processInfo.environment
        env.removeValue(forKey: "FACEKIT_API_KEYS")
        for (k, v) in environment { env[k] = v }
        process.environment = env
        let errors = Pipe()
        process.standardError = errors
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        return (process, errors)
    }

    func testRefusesToListenBeyondLoopbackWithoutKeys() throws {
        let (process, errors) = try start(["--host", "0.0.0.0", "--port", "0"])
        process.waitUntilExit()
        XCTAssertEqual(process.terminationStatus, 64)
        let message = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        XCTAssertTrue(message.contains("without API keys"), message)
    }

    func testRefusesAnImageRootThatIsNotAFolder() throws {
        let (process, errors) = try start(["--image-root", "/no/such/folder", "--port", "0"])
        process.waitUntilExit()
        XCTAssertEqual(process.terminationStatus, 64)
        let message = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        XCTAssertTrue(message.contains("not an existing folder"), message)
    }

    func testPrivateURLsNeedURLs() throws {
        let (process, errors) = try start(["--allow-private-urls", "--port", "0"])
        process.waitUntilExit()
        XCTAssertEqual(process.terminationStatus, 64)
        let message = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        XCTAssertTrue(message.contains("--allow-private-urls needs --allow-urls"), message)
    }

    func testSIGTERMFinishesTheRequestInFlight() async throws {
        let port = Int.random(in: 20000..<40000)
        let (process, _) = try start(["--port", String(port), "--log-level", "warning"])
        defer { if process.isRunning { process.terminate() } }
        let base = URL(string: "http://127.0.0.1:\(port)")!
        try await waitUntilAsync { (try? await URLSession.shared.data(from: base.appendingPathComponent("health")))?.1 != nil }

        var request = URLRequest(url: base.appendingPathComponent("verify"))
        request.httpMethod = "POST"
        request.setValue("application/json", forHTTPHeaderField: "Content-Type")
        request.httpBody = try JSONSerialization.data(withJSONObject: [
            "img1": try Fixtures.dataURI("img1.jpg"), "img2": try Fixtures.dataURI("img3.jpg"),
        ])
        let inFlight = Task { try await URLSession.shared.data(for: request) }
        try await Task.sleep(for: .milliseconds(150))
        kill(process.processIdentifier, SIGTERM)

        let (data, response) = try await inFlight.value
        XCTAssertEqual((response as? HTTPURLResponse)?.statusCode, 200, String(decoding: data, as: UTF8.self))
        let verified = (try JSONSerialization.jsonObject(with: data) as? [String: Any])?["verified"] as? Bool
        XCTAssertEqual(verified, false)
        process.waitUntilExit()
        XCTAssertEqual(process.terminationStatus, 0)
        XCTAssertEqual(process.terminationReason, .exit)
    }
}

func waitUntilAsync(_ condition: @Sendable () async -> Bool) async throws {
    let deadline = ContinuousClock.now + .seconds(30)
    while !(await condition()) {
        guard ContinuousClock.now < deadline else { throw TestFailure("condition not met within 30 s") }
        try await Task.sleep(for: .milliseconds(50))
    }
}
