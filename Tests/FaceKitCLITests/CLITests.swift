import Foundation
import XCTest

/// End-to-end tests through the real `facekit` binary: output, JSON and exit codes.
final class CLITests: XCTestCase {
    static let dataset: URL = {
        if let env = ProcessInfo.processInfo.environment["FACEKIT_DATASET"] { return URL(fileURLWithPath: env) }
        return URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("shared/data/deepface-dataset")
    }()

    /// The binary SwiftPM built next to this test bundle.
    static let binary: URL = {
        var dir = Bundle(for: CLITests.self).bundleURL.deletingLastPathComponent()
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

    /// Runs the binary; `environment` is added to this process's own.
    func facekit(_ arguments: [String], environment: [String: String] = [:]) throws -> Run {
        let process = Process()
        process.executableURL = Self.binary
        process.arguments = arguments
        if !environment.isEmpty {
            process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        }
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        // Read both pipes before waiting, so a full pipe cannot block the child.
        let outData = out.fileHandleForReading.readDataToEndOfFile()
        let errData = err.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return Run(status: process.terminationStatus, stdout: String(decoding: outData, as: UTF8.self),
                   stderr: String(decoding: errData, as: UTF8.self))
    }

    func image(_ name: String) -> String { Self.dataset.appendingPathComponent(name).path }

    func json(_ run: Run) throws -> Any {
        try JSONSerialization.jsonObject(with: Data(run.stdout.utf8))
    }

    func testVerifyJSONHasDeepfaceKeys() throws {
        let run = try facekit(["verify", image("img1.jpg"), image("img2.jpg"), "--model", "SFace", "--detector", "yunet", "--json"])
        XCTAssertEqual(run.status, 0, run.stderr)
        let object = try XCTUnwrap(try json(run) as? [String: Any])
        for key in ["verified", "distance", "threshold", "confidence", "model", "detector_backend", "similarity_metric",
                    "facial_areas", "time", "similarity"] {
            XCTAssertNotNil(object[key], "missing \(key)")
        }
        XCTAssertEqual(object["verified"] as? Bool, true)
        XCTAssertEqual(object["model"] as? String, "SFace")
        XCTAssertEqual(object["threshold"] as? Double, 0.593)
        let areas = try XCTUnwrap(object["facial_areas"] as? [String: [String: Any]])
        for img in ["img1", "img2"] {
            let area = try XCTUnwrap(areas[img])
            for key in ["x", "y", "w", "h", "left_eye", "right_eye"] { XCTAssertNotNil(area[key], "\(img).\(key)") }
            XCTAssertEqual((area["left_eye"] as? [Double])?.count, 2)
        }
    }

    func testDifferentPeopleAreNotVerified() throws {
        let run = try facekit(["verify", image("img3.jpg"), image("img1.jpg"), "--json"])
        XCTAssertEqual(run.status, 0, run.stderr)
        let object = try XCTUnwrap(try json(run) as? [String: Any])
        XCTAssertEqual(object["verified"] as? Bool, false)
    }

    func testBaseAgainstManyWithTwoModelsPrintsATable() throws {
        let run = try facekit(["verify", image("img1.jpg"), image("img2.jpg"), image("img3.jpg"), "--model", "SFace,Dlib"])
        XCTAssertEqual(run.status, 0, run.stderr)
        let lines = run.stdout.split(separator: "\n")
        XCTAssertTrue(lines.contains { $0.hasPrefix("image") && $0.contains("distance") && $0.contains("similarity") && $0.contains("match") })
        XCTAssertEqual(lines.filter { $0.contains("img2.jpg") }.count, 2)
        XCTAssertTrue(lines.contains { $0.contains("img2.jpg") && $0.contains("SFace") && $0.hasSuffix("yes") })
        XCTAssertTrue(lines.contains { $0.contains("img3.jpg") && $0.contains("SFace") && $0.hasSuffix("no") })

        let jsonRun = try facekit(["verify", image("img1.jpg"), image("img2.jpg"), image("img3.jpg"), "--model", "SFace,Dlib", "--json"])
        let rows = try XCTUnwrap(try json(jsonRun) as? [[String: Any]])
        XCTAssertEqual(rows.count, 4)
        XCTAssertEqual(Set(rows.compactMap { $0["model"] as? String }), ["SFace", "Dlib"])
        XCTAssertTrue(rows.allSatisfy { $0["img1_path"] as? String == image("img1.jpg") })
    }

    func testRepresentAndExtract() throws {
        let rep = try facekit(["represent", image("couple.jpg"), "--json"])
        XCTAssertEqual(rep.status, 0, rep.stderr)
        let faces = try XCTUnwrap(try json(rep) as? [[String: Any]])
        XCTAssertEqual(faces.count, 2)
        XCTAssertEqual((faces[0]["embedding"] as? [Double])?.count, 128)
        XCTAssertNotNil(faces[0]["facial_area"])
        XCTAssertNotNil(faces[0]["face_confidence"])

        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("facekit-extract-\(UUID().uuidString)")
        let ext = try facekit(["extract", image("couple.jpg"), "--output", dir.path, "--json"])
        XCTAssertEqual(ext.status, 0, ext.stderr)
        let extracted = try XCTUnwrap(try json(ext) as? [[String: Any]])
        XCTAssertEqual(extracted.count, 2)
        for name in ["face_1.png", "face_2.png", "annotated.jpg"] {
            let size = (try FileManager.default.attributesOfItem(atPath: dir.appendingPathComponent(name).path)[.size] as? Int) ?? 0
            XCTAssertGreaterThan(size, 1000, name)
        }
    }

    func testEvaluatePrintsScores() throws {
        let run = try facekit(["evaluate", "--pairs", image("master.csv"), "--model", "SFace", "--detectors", "yunet", "--json"])
        XCTAssertEqual(run.status, 0, run.stderr)
        let reports = try XCTUnwrap(try json(run) as? [[String: Any]])
        XCTAssertEqual(reports.first?["pairs"] as? Int, 300)
        XCTAssertGreaterThanOrEqual(reports.first?["accuracy"] as? Double ?? 0, 99.33)
    }

    func testBadInputsGiveClearErrorsAndExitCodes() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("facekit-bad-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let text = dir.appendingPathComponent("notes.jpg")
        try Data("this is not an image".utf8).write(to: text)
        let empty = dir.appendingPathComponent("empty.jpg")
        try Data().write(to: empty)
        let jpeg = try Data(contentsOf: URL(fileURLWithPath: image("img1.jpg")))
        let truncated = dir.appendingPathComponent("truncated.jpg")
        try jpeg.prefix(jpeg.count / 3).write(to: truncated)
        let bomb = dir.appendingPathComponent("bomb.png")
        try PNGBomb.make(side: 30000).write(to: bomb)
        let noFace = dir.appendingPathComponent("grey.png")
        try PNGBomb.grey(width: 200, height: 150).write(to: noFace)

        let cases: [([String], Int32, String)] = [
            (["verify", "/no/such/file.jpg", image("img1.jpg")], 66, "not found"),
            (["verify", text.path, image("img1.jpg")], 65, "not a supported image"),
            (["verify", empty.path, image("img1.jpg")], 65, "empty"),
            (["verify", truncated.path, image("img1.jpg")], 65, "truncated"),
            (["verify", bomb.path, image("img1.jpg")], 65, "30000x30000"),
            (["verify", noFace.path, image("img1.jpg")], 65, "no face detected"),
            (["verify", image("img1.jpg"), image("img2.jpg"), "--model", "NoSuchNet"], 64, "unknown model"),
            (["verify", image("img1.jpg"), image("img2.jpg"), "--detector", "retina"], 64, "unknown detector"),
            (["verify", image("img1.jpg"), image("img2.jpg"), "--metric", "manhattan"], 64, "unknown distance metric"),
            (["verify", image("img1.jpg")], 64, "at least two images"),
        ]
        for (arguments, status, message) in cases {
            let run = try facekit(arguments)
            XCTAssertEqual(run.status, status, "\(arguments): \(run.stderr)")
            XCTAssertTrue(run.stderr.lowercased().contains(message.lowercased()), "\(arguments): stderr was \(run.stderr)")
            XCTAssertFalse(run.stderr.contains("Fatal error"), "\(arguments) crashed")
        }
    }

    func testMissingModelsNameTheCommandThatFetchesThem() throws {
        let home = FileManager.default.temporaryDirectory.appendingPathComponent("facekit-home-\(UUID().uuidString)")
        let run = try facekit(["verify", image("img1.jpg"), image("img2.jpg")], environment: ["FACEKIT_HOME": home.path])
        XCTAssertEqual(run.status, 69)
        XCTAssertTrue(run.stderr.contains("facekit models pull"), run.stderr)
    }
}

extension CLITests {
    /// The seed's comparison: every model whose file is here runs, and each
    /// missing one is named with its file and the command that fetches it.
    func testSeveralModelsRunWhatIsPresentAndNameWhatIsMissing() throws {
        let home = FileManager.default.temporaryDirectory.appendingPathComponent("facekit-home-\(UUID().uuidString)")
        let models = home.appendingPathComponent("models")
        try FileManager.default.createDirectory(at: models, withIntermediateDirectories: true)
        let real = URL(fileURLWithPath: ProcessInfo.processInfo.environment["FACEKIT_HOME"]
            ?? FileManager.default.homeDirectoryForCurrentUser.appendingPathComponent(".facekit").path).appendingPathComponent("models")
        for file in ["face_recognition_sface_2021dec.onnx", "face_detection_yunet_2023mar.onnx"] {
            try FileManager.default.createSymbolicLink(at: models.appendingPathComponent(file),
                                                       withDestinationURL: real.appendingPathComponent(file))
        }
        let run = try facekit(["verify", image("img1.jpg"), image("img2.jpg"), "--model", "VGG-Face,Facenet,SFace", "--detector", "yunet"],
                              environment: ["FACEKIT_HOME": home.path])
        XCTAssertTrue(run.stdout.contains("SFace"), run.stdout)
        XCTAssertTrue(run.stdout.contains("same person"), run.stdout)
        XCTAssertTrue(run.stderr.contains("vgg_face_weights.onnx"), run.stderr)
        XCTAssertTrue(run.stderr.contains("facenet_weights.onnx"), run.stderr)
        XCTAssertTrue(run.stderr.contains("facekit models import"), run.stderr)
        XCTAssertEqual(run.status, 69, "missing files are reported in the exit status too")
    }

    func testWeightsFlagChecksItsArguments() throws {
        let h5 = FileManager.default.temporaryDirectory.appendingPathComponent("facenet-\(UUID().uuidString).h5")
        try Data([0x89, 0x48, 0x44, 0x46, 0x0d, 0x0a, 0x1a, 0x0a]).write(to: h5)
        var run = try facekit(["represent", image("img1.jpg"), "--model", "Facenet", "--weights", h5.path, "--detector", "skip"])
        XCTAssertEqual(run.status, 69, run.stderr)
        XCTAssertTrue(run.stderr.contains("Facenet") && run.stderr.contains(".h5"), run.stderr)
        run = try facekit(["verify", image("img1.jpg"), image("img2.jpg"), "--model", "Facenet,SFace", "--weights", h5.path])
        XCTAssertEqual(run.status, 65, run.stderr)
        XCTAssertTrue(run.stderr.contains("one model"), run.stderr)
        run = try facekit(["represent", image("img1.jpg"), "--model", "Facenet", "--weights", "/nonexistent/x.onnx"])
        XCTAssertEqual(run.status, 69, run.stderr)
        XCTAssertTrue(run.stderr.contains("/nonexistent/x.onnx"), run.stderr)
        run = try facekit(["represent", image("img1.jpg"), "--normalization", "Bogus"])
        XCTAssertEqual(run.status, 65, run.stderr)
        XCTAssertTrue(run.stderr.contains("VGGFace2"), run.stderr)
    }

    func testAnalyzePrintsEveryFaceAndWritesAnAnnotatedImage() throws {
        let out = FileManager.default.temporaryDirectory.appendingPathComponent("facekit-analyze-\(UUID().uuidString).png")
        let run = try facekit(["analyze", image("couple.jpg"), "--detector", "yunet", "--json", "--output", out.path])
        XCTAssertEqual(run.status, 0, run.stderr)
        let faces = try XCTUnwrap(try json(run) as? [[String: Any]])
        XCTAssertEqual(faces.count, 2)
        for face in faces {
            for key in ["region", "face_confidence", "age", "gender", "dominant_gender", "emotion", "dominant_emotion", "models"] {
                XCTAssertNotNil(face[key], "missing \(key)")
            }
            // Either deepface's race model ran, or the output says why not.
            XCTAssertTrue(face["dominant_race"] != nil || (face["unavailable"] as? [String: String])?["race"] != nil)
        }
        if (faces[0]["unavailable"] as? [String: String])?["race"] != nil {
            XCTAssertTrue(run.stderr.contains("warning: race not analysed"), run.stderr)
        }
        let written = try Data(contentsOf: out)
        XCTAssertEqual(Array(written.prefix(4)), [0x89, 0x50, 0x4E, 0x47])

        let readable = try facekit(["analyze", image("selfie-many-people.jpg"), "--detector", "yunet", "--actions", "age,gender,emotion"])
        XCTAssertEqual(readable.status, 0, readable.stderr)
        XCTAssertTrue(readable.stdout.hasPrefix("4 face(s)"), readable.stdout)
        XCTAssertEqual(readable.stdout.components(separatedBy: "  gender: ").count - 1, 4, readable.stdout)
        XCTAssertTrue(readable.stdout.contains("[gender_net]") || readable.stdout.contains("[deepface]"), readable.stdout)
    }

    func testAnalyzeBadInputsGiveClearErrors() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("facekit-analyze-bad-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let noFace = dir.appendingPathComponent("grey.png")
        try PNGBomb.grey(width: 200, height: 150).write(to: noFace)
        let cases: [([String], Int32, String)] = [
            (["analyze", image("img1.jpg"), "--actions", "age,smile"], 64, "unknown action 'smile'"),
            (["analyze", image("img1.jpg"), "--actions", "age", "--age-model", "fer"], 64, "unknown model 'fer'"),
            (["analyze", "/no/such/file.jpg"], 66, "not found"),
            (["analyze", noFace.path, "--actions", "emotion"], 65, "no face detected"),
            (["analyze", image("img1.jpg"), image("img2.jpg"), "--output", dir.appendingPathComponent("x.png").path], 65, "one image"),
        ]
        for (arguments, status, message) in cases {
            let run = try facekit(arguments)
            XCTAssertEqual(run.status, status, "\(arguments): \(run.stderr)")
            XCTAssertTrue(run.stderr.contains(message), "\(arguments): stderr was \(run.stderr)")
        }

        // No model files at all: the error names the missing file and the command.
        let home = dir.appendingPathComponent("home")
        let run = try facekit(["analyze", image("img1.jpg"), "--actions", "gender"], environment: ["FACEKIT_HOME": home.path])
        XCTAssertEqual(run.status, 69)
        XCTAssertTrue(run.stderr.contains("deploy_gender.prototxt") && run.stderr.contains("facekit models pull gender_net"), run.stderr)
    }
}

/// PNG files for the CLI cases, written with the same tricks as the library
/// tests' ImageFiles (kept separate: the two test targets share no code).
enum PNGBomb {
    static func grey(width: Int, height: Int) -> Data {
        var raw = Data()
        for _ in 0..<height { raw.append(0); raw.append(Data(repeating: 127, count: width)) }
        var z = Data([0x78, 0x01])
        var offset = 0
        repeat {
            let n = min(65535, raw.count - offset)
            z.append(offset + n >= raw.count ? 1 : 0)
            z.append(contentsOf: [UInt8(n & 0xFF), UInt8(n >> 8), UInt8(~n & 0xFF), UInt8((~n >> 8) & 0xFF)])
            z.append(raw.subdata(in: offset..<offset + n))
            offset += n
        } while offset < raw.count
        var a: UInt32 = 1, b: UInt32 = 0
        for byte in raw { a = (a + UInt32(byte)) % 65521; b = (b + a) % 65521 }
        z.append(contentsOf: withUnsafeBytes(of: (b << 16 | a).bigEndian, Array.init))
        return file(width: width, height: height, zlib: z)
    }

    /// Only the header matters to a decoder deciding whether to allocate: a
    /// 30000x30000 IHDR with a little zlib data behind it.
    static func make(side: Int) -> Data {
        file(width: side, height: side, zlib: Data([0x78, 0x01, 0x03, 0x00, 0x00, 0x00, 0x00, 0x01]))
    }

    static func file(width: Int, height: Int, zlib: Data) -> Data {
        var out = Data([0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A])
        var ihdr = Data()
        ihdr.append(contentsOf: withUnsafeBytes(of: UInt32(width).bigEndian, Array.init))
        ihdr.append(contentsOf: withUnsafeBytes(of: UInt32(height).bigEndian, Array.init))
        ihdr.append(contentsOf: [8, 0, 0, 0, 0])
        out.append(chunk("IHDR", ihdr))
        out.append(chunk("IDAT", zlib))
        out.append(chunk("IEND", Data()))
        return out
    }

    static func chunk(_ type: String, _ body: Data) -> Data {
        var out = Data(withUnsafeBytes(of: UInt32(body.count).bigEndian, Array.init))
        let typed = Data(type.utf8) + body
        out.append(typed)
        var c: UInt32 = 0xFFFF_FFFF
        for byte in typed {
            c ^= UInt32(byte)
            for _ in 0..<8 { c = c & 1 != 0 ? 0xEDB88320 ^ (c >> 1) : c >> 1 }
        }
        out.append(contentsOf: withUnsafeBytes(of: (c ^ 0xFFFF_FFFF).bigEndian, Array.init))
        return out
    }
}
