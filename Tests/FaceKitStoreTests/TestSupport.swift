import Foundation
import XCTest

enum Fixtures {
    static let dataset: URL = {
        if let env = ProcessInfo.processInfo.environment["FACEKIT_DATASET"] { return URL(fileURLWithPath: env) }
        return URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("shared/data/deepface-dataset")
    }()

    /// img1, 2, 4, 5, 6, 7, 10 and 11 show one person (master.csv).
    static let samePerson: Set<String> = ["img1.jpg", "img2.jpg", "img4.jpg", "img5.jpg", "img6.jpg", "img7.jpg", "img10.jpg", "img11.jpg"]
    static let subset = (1...12).map { "img\($0).jpg" }

    static func image(_ name: String) -> String { dataset.appendingPathComponent(name).path }

    /// A fresh folder holding copies of the given dataset images.
    static func folder(with names: [String]) throws -> URL {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("fk-find-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        for name in names {
            try FileManager.default.copyItem(at: dataset.appendingPathComponent(name), to: dir.appendingPathComponent(name))
        }
        return dir
    }

    /// The `facekit` binary SwiftPM built next to the test bundle.
    static let binary: URL = {
        var dir = Bundle(for: FindCommandTests.self).bundleURL.deletingLastPathComponent()
        if !FileManager.default.fileExists(atPath: dir.appendingPathComponent("facekit").path) {
            dir = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        }
        return dir.appendingPathComponent("facekit")
    }()

    struct Run {
        let status: Int32
        let stdout: String
        let stderr: String
    }

    static func start(_ arguments: [String], environment: [String: String] = [:]) throws -> (Process, Pipe, Pipe) {
        let process = Process()
        process.executableURL = binary
        process.arguments = arguments
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        return (process, out, err)
    }

    static func finish(_ started: (Process, Pipe, Pipe)) -> Run {
        let (process, out, err) = started
        // Read both pipes before waiting, so a full pipe cannot block the child.
        let outData = out.fileHandleForReading.readDataToEndOfFile()
        let errData = err.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return Run(status: process.terminationStatus, stdout: String(decoding: outData, as: UTF8.self),
                   stderr: String(decoding: errData, as: UTF8.self))
    }

    static func facekit(_ arguments: [String]) throws -> Run {
        finish(try start(arguments))
    }
}

/// A test case with its own scratch folder, `directory`: made before each
/// test, removed after.
class ScratchFolderTestCase: XCTestCase {
    var directory: URL!

    override func setUpWithError() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("fk-\(type(of: self))-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(at: directory)
    }
}
