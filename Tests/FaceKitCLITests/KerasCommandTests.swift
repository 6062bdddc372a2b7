import Foundation
import XCTest

/// `facekit keras`: the entry the Keras conformance script drives.
extension CLITests {
    private var ferFile: String {
        let home = ProcessInfo.processInfo.environment["FACEKIT_HOME"].map { URL(fileURLWithPath: $0) }
            ?? FileManager.default.homeDirectoryForCurrentUser.appendingPathComponent(".facekit")
        return home.appendingPathComponent("models/emotion_model.hdf5").path
    }

    private func scratch(_ name: String) -> URL {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("facekit-cli-keras-\(UUID().uuidString)")
        try? FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        return dir.appendingPathComponent(name)
    }

    func testKerasCommandRunsFerOnRawInputs() throws {
        XCTAssertTrue(FileManager.default.fileExists(atPath: ferFile), "run: facekit models pull emotion_model.hdf5")
        // Two samples: mid-grey and a left-to-right ramp, in [-1, 1].
        var samples = [Float](repeating: 0, count: 64 * 64)
        samples += (0..<64 * 64).map { Float($0 % 64) / 31.5 - 1 }
        let input = scratch("input.bin"), output = scratch("output.bin")
        try samples.withUnsafeBufferPointer { Data(buffer: $0) }.write(to: input)
        // The architecture comes from fer's file name.
        let run = try facekit(["keras", "--weights", ferFile, "--input", input.path, "--output", output.path, "--repeats", "1"])
        XCTAssertEqual(run.status, 0, run.stderr)
        let report = try XCTUnwrap(try json(run) as? [String: Double])
        XCTAssertEqual(report["samples"], 2)
        XCTAssertNotNil(report["ms_per_sample"])
        let out = try Data(contentsOf: output).withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
        XCTAssertEqual(out.count, 14)
        XCTAssertEqual(out[0..<7].reduce(0, +), 1, accuracy: 1e-4)
        XCTAssertEqual(out[7..<14].reduce(0, +), 1, accuracy: 1e-4)
        XCTAssertNotEqual(Array(out[0..<7]), Array(out[7..<14]))
    }

    func testKerasCommandRefusesBadFilesAndNames() throws {
        let bad = scratch("broken.h5")
        try Data("not hdf5".utf8).write(to: bad)
        let broken = try facekit(["keras", "--architecture", "fer-emotion", "--weights", bad.path])
        XCTAssertEqual(broken.status, 69, broken.stderr)
        XCTAssertTrue(broken.stderr.contains(bad.path), broken.stderr)

        let unknown = try facekit(["keras", "--architecture", "NoSuchNet", "--weights", ferFile])
        XCTAssertEqual(unknown.status, 64, unknown.stderr)

        let unnamed = try facekit(["keras", "--weights", bad.path])
        XCTAssertEqual(unnamed.status, 65, unnamed.stderr)
        XCTAssertTrue(unnamed.stderr.contains("--architecture"), unnamed.stderr)

        let short = scratch("short.bin")
        try Data(count: 10).write(to: short)
        let wrongSize = try facekit(["keras", "--weights", ferFile, "--input", short.path])
        XCTAssertEqual(wrongSize.status, 65, wrongSize.stderr)
    }
}
